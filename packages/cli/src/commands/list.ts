// `pagoda list`: the launched models, their engines and how many replicas are ready.
import {
  clientFrom,
  CONNECTION_FLAGS,
  CONNECTION_HELP,
  managementCommand,
  noPositionals,
} from '../command_options.ts';
import { printListing } from '../list_output.ts';

const USAGE = `usage: pagoda list [--json]

Lists launched models.
${CONNECTION_HELP}
`;

export const run = managementCommand(
  'list',
  USAGE,
  { ...CONNECTION_FLAGS, json: { type: 'boolean' } },
  async ({ values, positionals }, io) => {
    noPositionals('list', positionals);
    return printListing(io, await clientFrom(values, io).listModels(), {
      json: values.json,
      empty: 'No models are launched. Start one with `pagoda launch <model_name>`.\n',
      headers: ['UID', 'MODEL', 'ENGINE', 'FORMAT', 'SIZE (B)', 'QUANT', 'READY', 'STATUS'],
      row: (m) => {
        const ready = (m.replicas ?? []).filter((r) => r.status === 'ready').length;
        return [
          m.model_uid,
          m.model_name,
          m.model_engine,
          m.model_format,
          m.model_size_in_billions,
          m.quantization,
          `${ready}/${m.replica}`,
          m.status,
        ];
      },
    });
  },
);
