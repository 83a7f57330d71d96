// The launchable models as the Launch page shows them: each family with the engines that run it.
import type { EnginesOf, ModelFamilyView } from '@pagoda/protocol';
import { api } from './client.ts';

export interface CatalogEntry {
  family: ModelFamilyView;
  engines: EnginesOf;
}

export async function loadCatalog(): Promise<CatalogEntry[]> {
  const list = await api.registrations();
  return Promise.all(
    list.map(async (r) => ({
      family: await api.registration(r.model_name),
      engines: await api.engines(r.model_name),
    })),
  );
}
