// What a chat request's tools and tool_choice mean for generation: "none" (plain text), "auto" (free
// text, parsed for calls with the model's --tool-call-parser), "required" and a named function (the
// output is forced by a grammar: a JSON list of {name, parameters}, or the one function's arguments).
import type { FunctionTool, ToolChoice } from '@pagoda/protocol';
import { badRequest } from '../api-error.ts';
import type { GrammarSpec } from './grammar-spec.ts';
import { checkJsonSchema } from './schema-check.ts';
import { TOOL_CALL_FORMATS, type ToolCallFormat } from './tool-formats/index.ts';

export type ToolMode =
  | { kind: 'none' }
  | { kind: 'auto'; format: ToolCallFormat }
  | { kind: 'required' }
  | { kind: 'named'; name: string };

export interface ToolSettings {
  toolCallParser?: keyof typeof TOOL_CALL_FORMATS;
  enableAutoToolChoice?: boolean;
}

export interface ToolPlan {
  mode: ToolMode;
  /** The grammar that enforces required / named; null otherwise. */
  spec: GrammarSpec | null;
  /** Each tool's parameters with the field that holds them (compiled on their own to name a bad one). */
  parameterSpecs: GrammarSpec[];
}

const ANY_OBJECT = { type: 'object' };

export function toolPlan(
  tools: FunctionTool[] | null | undefined,
  choice: ToolChoice | null | undefined,
  parallel: boolean | null | undefined,
  settings: ToolSettings,
): ToolPlan {
  const list = tools ?? [];
  const parameterSpecs: GrammarSpec[] = [];
  const seen = new Set<string>();
  list.forEach((t, i) => {
    const at = `tools.${i}.function.parameters`;
    if (seen.has(t.function.name))
      throw badRequest(
        `tools.${i}.function.name: '${t.function.name}' is declared twice`,
        `tools.${i}.function.name`,
      );
    seen.add(t.function.name);
    const params = t.function.parameters ?? ANY_OBJECT;
    checkJsonSchema(params, at);
    if (params.type !== undefined && params.type !== 'object')
      throw badRequest(
        `${at}: a function's parameters must be an object schema (type 'object')`,
        at,
      );
    parameterSpecs.push({ kind: 'json_schema', schema: params, param: at });
  });
  const effective = choice ?? (list.length > 0 ? 'auto' : 'none');
  if (effective !== 'none' && list.length === 0)
    throw badRequest(
      'tool_choice needs tools: give the functions the model may call',
      'tool_choice',
    );
  if (effective === 'none') return { mode: { kind: 'none' }, spec: null, parameterSpecs };
  if (effective === 'auto') {
    if (!settings.enableAutoToolChoice || !settings.toolCallParser)
      throw badRequest(
        '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set on the server; use tool_choice "required" or a named function, or leave tools out',
        'tool_choice',
      );
    return {
      mode: { kind: 'auto', format: TOOL_CALL_FORMATS[settings.toolCallParser] },
      spec: null,
      parameterSpecs,
    };
  }
  if (effective === 'required') {
    const item = {
      anyOf: list.map((t) => ({
        type: 'object',
        properties: {
          name: { type: 'string', enum: [t.function.name] },
          parameters: t.function.parameters ?? ANY_OBJECT,
        },
        required: ['name', 'parameters'],
      })),
    };
    const schema: Record<string, unknown> = { type: 'array', minItems: 1, items: item };
    if (parallel === false) schema.maxItems = 1;
    return {
      mode: { kind: 'required' },
      spec: { kind: 'json_schema', schema, param: 'tools' },
      parameterSpecs,
    };
  }
  const at = list.findIndex((t) => t.function.name === effective.function.name);
  if (at < 0)
    throw badRequest(
      `tool_choice.function.name: '${effective.function.name}' is not among the tools`,
      'tool_choice.function.name',
    );
  return {
    mode: { kind: 'named', name: effective.function.name },
    spec: parameterSpecs[at]!,
    parameterSpecs,
  };
}
