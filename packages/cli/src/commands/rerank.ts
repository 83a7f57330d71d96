// `pagoda rerank <model_uid> --query Q DOC...`: ranks documents against a query with a launched rerank
// model through the server's /v1/rerank, best first, with each score and the document's position.
import {
  clientFrom,
  CONNECTION_FLAGS,
  CONNECTION_HELP,
  countFlag,
  managementCommand,
  modelArgument,
  UsageError,
} from '../command-options.ts';
import { formatTable } from '../format/table.ts';
import { abbreviate, fixed4, textInputs } from '../text-inputs.ts';

const USAGE = `usage: pagoda rerank <model_uid> --query TEXT DOC... [--top-n N] [--json]

Scores each DOC against the query with a launched rerank model and prints them best first, with the
score and the document's position (INDEX, from 0) among those given. Without DOC arguments: one
document per line of standard input (when it is not a terminal).
  -q, --query TEXT       the query (required)
  -n, --top-n N          only the best N documents
  --json                 print the results as the server gives them (index, relevance_score)
${CONNECTION_HELP}
`;

const FLAGS = {
  ...CONNECTION_FLAGS,
  model: { type: 'string' },
  query: { type: 'string', short: 'q' },
  'top-n': { type: 'string', short: 'n' },
  json: { type: 'boolean' },
} as const;

export const run = managementCommand(
  'rerank',
  USAGE,
  FLAGS,
  async ({ values, positionals }, io) => {
    const { model, rest } = modelArgument(
      values,
      positionals,
      'name the rerank model uid (see `pagoda list`)',
    );
    const query = values.query;
    if (query === undefined) throw new UsageError('give the query with --query');
    if (query.trim() === '') throw new UsageError('the query is empty');
    const topN = countFlag(values['top-n'], 'top-n');
    const documents = await textInputs(rest, io, 'document');
    const results = await clientFrom(values, io).rerank(model, query, documents, { top_n: topN });
    if (values.json) {
      io.out(`${JSON.stringify(results)}\n`);
      return 0;
    }
    io.out(
      formatTable(
        ['RANK', 'SCORE', 'INDEX', 'DOCUMENT'],
        results.map((r, i) => [
          i + 1,
          fixed4(r.relevance_score),
          r.index,
          abbreviate(documents[r.index] ?? '', 70),
        ]),
      ),
    );
    return 0;
  },
);
