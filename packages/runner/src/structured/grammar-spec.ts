// What a request asks the output to match, from whichever field asked for it: OpenAI's response_format,
// vLLM's structured_outputs and guided_* fields, or a tool_choice that needs a tool call. Names the
// field so a grammar the compiler refuses is a 400 about that field.
import type { ResponseFormat, StructuredOutputs } from '@pagoda/protocol';
import { badRequest } from '../api-error.ts';

export type GrammarSpec =
  | { kind: 'json_schema'; schema: Record<string, unknown>; param: string }
  | { kind: 'regex'; pattern: string; param: string }
  | { kind: 'choice'; choices: string[]; param: string }
  | { kind: 'ebnf'; grammar: string; param: string };

/** The structured-output fields chat and completions share. */
export interface StructuredFields {
  response_format?: ResponseFormat | null;
  structured_outputs?: StructuredOutputs | null;
  guided_json?: Record<string, unknown> | string | null;
  guided_regex?: string | null;
  guided_choice?: string[] | null;
  guided_grammar?: string | null;
}

/** An object any JSON object matches: what json_object asks for. */
export const ANY_OBJECT_SCHEMA = { type: 'object' } as const;

function jsonSchemaOf(
  value: Record<string, unknown> | string,
  param: string,
): Record<string, unknown> {
  if (typeof value !== 'string') return value;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch (err) {
    throw badRequest(`${param} is not valid JSON: ${(err as Error).message}`, param);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw badRequest(`${param} must be a JSON schema object`, param);
  return parsed as Record<string, unknown>;
}

/** Every constraint the request sets, each with the field it came from. */
function specsOf(req: StructuredFields): GrammarSpec[] {
  const specs: GrammarSpec[] = [];
  const rf = req.response_format;
  if (rf?.type === 'json_object')
    specs.push({ kind: 'json_schema', schema: { ...ANY_OBJECT_SCHEMA }, param: 'response_format' });
  if (rf?.type === 'json_schema') {
    const param = 'response_format.json_schema.schema';
    if (!rf.json_schema.schema) throw badRequest(`${param} is required for json_schema`, param);
    specs.push({ kind: 'json_schema', schema: rf.json_schema.schema, param });
  }
  const so = req.structured_outputs;
  if (so) {
    if (so.json != null)
      specs.push({
        kind: 'json_schema',
        schema: jsonSchemaOf(so.json, 'structured_outputs.json'),
        param: 'structured_outputs.json',
      });
    if (so.regex != null)
      specs.push({ kind: 'regex', pattern: so.regex, param: 'structured_outputs.regex' });
    if (so.choice != null)
      specs.push({ kind: 'choice', choices: so.choice, param: 'structured_outputs.choice' });
    if (so.grammar != null)
      specs.push({ kind: 'ebnf', grammar: so.grammar, param: 'structured_outputs.grammar' });
    if (so.json_object)
      specs.push({
        kind: 'json_schema',
        schema: { ...ANY_OBJECT_SCHEMA },
        param: 'structured_outputs.json_object',
      });
  }
  if (req.guided_json != null)
    specs.push({
      kind: 'json_schema',
      schema: jsonSchemaOf(req.guided_json, 'guided_json'),
      param: 'guided_json',
    });
  if (req.guided_regex != null)
    specs.push({ kind: 'regex', pattern: req.guided_regex, param: 'guided_regex' });
  if (req.guided_choice != null)
    specs.push({ kind: 'choice', choices: req.guided_choice, param: 'guided_choice' });
  if (req.guided_grammar != null)
    specs.push({ kind: 'ebnf', grammar: req.guided_grammar, param: 'guided_grammar' });
  return specs;
}

/** The one constraint the request sets, or null; two at once is a 400 naming both. */
export function grammarSpec(req: StructuredFields): GrammarSpec | null {
  const specs = specsOf(req);
  if (specs.length > 1)
    throw badRequest(
      `only one structured-output constraint may be set per request; got ${specs.map((s) => s.param).join(' and ')}`,
      specs[1]!.param,
    );
  return specs[0] ?? null;
}
