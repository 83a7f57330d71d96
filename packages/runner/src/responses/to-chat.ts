// A Responses API request as the chat completion that produces it: instructions and input items
// become messages (function calls and their outputs as tool calls and tool messages), tools and
// text.format their chat counterparts. The backend then runs it as any chat.
import type { ChatCompletionRequest, ChatMessage, ResponsesRequest } from '@pagoda/protocol';

export function chatRequestOf(req: ResponsesRequest): ChatCompletionRequest {
  const chat: ChatCompletionRequest = { messages: messagesOf(req), stream: true };
  if (req.model != null) chat.model = req.model;
  if (req.max_output_tokens != null) chat.max_tokens = req.max_output_tokens;
  if (req.temperature != null) chat.temperature = req.temperature;
  if (req.top_p != null) chat.top_p = req.top_p;
  if (req.seed != null) chat.seed = req.seed;
  if (req.user != null) chat.user = req.user;
  if (req.parallel_tool_calls != null) chat.parallel_tool_calls = req.parallel_tool_calls;
  if (req.reasoning?.effort != null) chat.reasoning_effort = req.reasoning.effort;
  if (req.tools?.length)
    chat.tools = req.tools.map(({ name, description, parameters, strict }) => ({
      type: 'function' as const,
      function: { name, description, parameters, strict },
    }));
  const choice = req.tool_choice;
  if (choice != null)
    chat.tool_choice =
      typeof choice === 'string' ? choice : { type: 'function', function: { name: choice.name } };
  const format = req.text?.format;
  if (format?.type === 'json_object') chat.response_format = { type: 'json_object' };
  if (format?.type === 'json_schema')
    chat.response_format = {
      type: 'json_schema',
      json_schema: {
        name: format.name,
        schema: format.schema,
        ...(format.description !== undefined ? { description: format.description } : {}),
        ...(format.strict != null ? { strict: format.strict } : {}),
      },
    };
  if (wantsLogprobs(req)) {
    chat.logprobs = true;
    chat.top_logprobs = req.top_logprobs ?? 0;
  }
  // the usage chunk at the end is what the response's usage comes from
  chat.stream_options = { include_usage: true };
  return chat;
}

/** Instructions first, then each input item; consecutive function calls share one assistant turn. */
function messagesOf(req: ResponsesRequest): ChatMessage[] {
  const out: ChatMessage[] = [];
  if (req.instructions) out.push({ role: 'system', content: req.instructions });
  if (typeof req.input === 'string') {
    out.push({ role: 'user', content: req.input });
    return out;
  }
  for (const item of req.input) {
    if (item.type === 'reasoning') continue;
    if (item.type === 'function_call') {
      const call = { id: item.call_id, type: 'function' as const, function: { name: item.name, arguments: item.arguments } };
      const last = out.at(-1);
      if (last?.role === 'assistant' && last.tool_calls) last.tool_calls.push(call);
      else out.push({ role: 'assistant', content: null, tool_calls: [call] });
      continue;
    }
    if (item.type === 'function_call_output') {
      out.push({ role: 'tool', tool_call_id: item.call_id, content: item.output });
      continue;
    }
    const text = typeof item.content === 'string' ? item.content : item.content.join('');
    out.push({ role: item.role === 'developer' ? 'system' : item.role, content: text });
  }
  return out;
}

/** Output logprobs: asked for with include "message.output_text.logprobs" or top_logprobs. */
export function wantsLogprobs(req: ResponsesRequest): boolean {
  return req.include?.includes('message.output_text.logprobs') === true || req.top_logprobs != null;
}
