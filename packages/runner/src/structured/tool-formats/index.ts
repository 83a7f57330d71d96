// The tool-call formats by vLLM's --tool-call-parser names.
import { hermesFormat } from './hermes.ts';
import { llama3JsonFormat } from './llama3-json.ts';
import { mistralFormat } from './mistral.ts';
import type { ToolCallFormat } from './tool-call-format.ts';

export const TOOL_CALL_FORMATS: Record<'hermes' | 'llama3_json' | 'mistral', ToolCallFormat> = {
  hermes: hermesFormat,
  llama3_json: llama3JsonFormat,
  mistral: mistralFormat,
};
export type { ParsedToolCall, ToolCallFormat, ToolCallSplit } from './tool-call-format.ts';
