// `pagoda embed <model_uid> TEXT...`: embeds texts with a launched embedding model through the server's
// /v1/embeddings; shows each vector's size and norm and, for two texts or more, their cosine similarities.
import { cosine, vectorNorm } from '@pagoda/client';
import type { CliIo } from '../cli-io.ts';
import {
  clientFrom,
  CONNECTION_FLAGS,
  CONNECTION_HELP,
  countFlag,
  managementCommand,
  modelArgument,
} from '../command-options.ts';
import { formatTable } from '../format/table.ts';
import { abbreviate, fixed4, textInputs } from '../text-inputs.ts';

const USAGE = `usage: pagoda embed <model_uid> TEXT... [--dimensions N] [--json]

Embeds each TEXT with a launched embedding model. Without TEXT arguments: one text per line of
standard input (when it is not a terminal). Prints each vector's dimensions and norm and, for two
texts or more, the matrix of their cosine similarities.
  --dimensions N         shorter vectors, where the model allows it (Matryoshka models)
  --json                 print the embeddings (the response's data: index and vector per text)
${CONNECTION_HELP}
`;

const FLAGS = {
  ...CONNECTION_FLAGS,
  model: { type: 'string' },
  dimensions: { type: 'string' },
  json: { type: 'boolean' },
} as const;


function printHuman(io: CliIo, texts: readonly string[], vectors: readonly number[][]): void {
  io.out(
    formatTable(
      ['#', 'DIMS', 'NORM', 'TEXT'],
      vectors.map((v, i) => [i, v.length, fixed4(vectorNorm(v)), abbreviate(texts[i]!, 60)]),
    ),
  );
  if (vectors.length < 2) return;
  // Rows and columns by the texts' numbers in the table above: the texts themselves do not fit a header.
  const ids = vectors.map((_, i) => `#${i}`);
  io.out('\ncosine similarity:\n');
  io.out(
    formatTable(
      ['', ...ids],
      vectors.map((a, i) => [ids[i]!, ...vectors.map((b) => fixed4(cosine(a, b)))]),
    ),
  );
}

export const run = managementCommand('embed', USAGE, FLAGS, async ({ values, positionals }, io) => {
  const { model, rest } = modelArgument(
    values,
    positionals,
    'name the embedding model uid (see `pagoda list`)',
  );
  const dimensions = countFlag(values.dimensions, 'dimensions');
  const texts = await textInputs(rest, io, 'text');
  const { vectors } = await clientFrom(values, io).embed(model, texts, { dimensions });
  if (values.json) {
    const data = vectors.map((embedding, index) => ({ object: 'embedding', index, embedding }));
    io.out(`${JSON.stringify(data)}\n`);
  } else printHuman(io, texts, vectors);
  return 0;
});
