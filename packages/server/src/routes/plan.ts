// POST /api/plan: the memory plan of a launch body (per GPU weights, activations, CUDA graphs, KV
// cache; where each replica would go; or why it cannot fit and what would), nothing written.
import { Router } from 'express';
import { LaunchRequestSchema, type PlanResponse } from '@pagoda/protocol';
import type { Auth } from '../auth.ts';
import { parseBody } from '../http-error.ts';
import type { Platform } from '../platform.ts';

export function planRoutes(p: Platform, auth: Auth): Router {
  const r = Router();
  r.post('/api/plan', auth.require('admin'), async (req, res) => {
    const body = parseBody(LaunchRequestSchema, req.body);
    const { model, placement } = await p.launcher.plan(body);
    res.json({
      model_name: model.family.model_name,
      model_engine: model.engine,
      fits: placement.ok,
      device: placement.ok ? (placement.cpu ? 'cpu' : 'gpu') : null,
      message: placement.message,
      problem_details: placement.ok ? [] : placement.problem_details,
      replicas: placement.ok ? placement.replicas.map((x) => ({ worker: x.worker, gpu_idx: x.gpuIndices, bytes_per_device: x.bytes })) : [],
      plan: placement.plan,
    } satisfies PlanResponse);
  });
  return r;
}
