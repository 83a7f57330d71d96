// `pagoda list`: the launched models, their engines and how many replicas are ready.
import { parseArgs } from 'node:util';
import {
  clientFrom,
  CONNECTION_FLAGS,
  CONNECTION_HELP,
  processIo,
  runCommand,
  UsageError,
  type CliIo,
} from '../cli-io.ts';
import { formatTable } from '../format/table.ts';

const USAGE = `usage: pagoda list [--json]

Lists launched models.
${CONNECTION_HELP}
`;

export async function run(argv: string[], io: CliIo = processIo): Promise<number> {
  return runCommand('list', USAGE, io, async () => {
    const { values, positionals } = parseArgs({
      args: argv,
      options: { ...CONNECTION_FLAGS, json: { type: 'boolean' } },
      strict: true,
      allowPositionals: true,
    });
    if (values.help) {
      io.out(USAGE);
      return 0;
    }
    if (positionals.length > 0)
      throw new UsageError(`list takes no arguments; got ${positionals.join(' ')}`);
    const models = await clientFrom(values, io).listModels();
    if (values.json) {
      io.out(`${JSON.stringify(models, null, 2)}\n`);
      return 0;
    }
    if (models.length === 0) {
      io.out('No models are launched. Start one with `pagoda launch <model_name>`.\n');
      return 0;
    }
    const rows = models.map((m) => {
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
    });
    io.out(
      formatTable(
        ['UID', 'MODEL', 'ENGINE', 'FORMAT', 'SIZE (B)', 'QUANT', 'READY', 'STATUS'],
        rows,
      ),
    );
    return 0;
  });
}
