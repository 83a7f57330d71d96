// Chat templates: validates chat messages and renders them to a prompt string with @huggingface/jinja,
// with the variables transformers' apply_chat_template provides (messages, add_generation_prompt, tools, bos_token, ...).
import { Template } from '@huggingface/jinja';
import { z } from 'zod';
import type { ChatTemplateSource } from './model-files.ts';
import type { SpecialTokenTexts } from './tokenizer.ts';
import { DEFAULT_TEMPLATE_LIMITS, withTemplateBudget, type TemplateLimits } from './template-budget.ts';

const textPartSchema = z.object({ type: z.literal('text'), text: z.string() });

/** One chat message. Extra fields (tool_calls, tool_call_id, name, ...) pass through to the template. */
export const chatMessageSchema = z.looseObject({
  role: z.enum(['system', 'user', 'assistant', 'tool']),
  content: z.union([z.string(), z.array(textPartSchema)]).nullish(),
});
export type ChatMessage = z.infer<typeof chatMessageSchema>;
export const chatMessagesSchema = z.array(chatMessageSchema).min(1, 'a chat needs at least one message');

export interface RenderChatOptions {
  /** Append the opening of an assistant turn (default false, as in transformers). */
  addGenerationPrompt?: boolean;
  /** Template text, or the name of one of the model's named templates; default: the model's own. */
  template?: string;
  /** Tool (function) definitions, visible to the template as `tools`. */
  tools?: unknown[];
  /**
   * How a list of text parts reaches the template: 'string' joins them with newlines (what text-only
   * templates expect, default); 'parts' passes the list as given.
   */
  contentFormat?: 'string' | 'parts';
  /** More template variables (vLLM's chat_template_kwargs, e.g. enable_thinking). */
  extraVars?: Record<string, unknown>;
  /** What one render may cost (steps, time, string and list sizes); default DEFAULT_TEMPLATE_LIMITS. */
  limits?: TemplateLimits;
}

/** The chat cannot be rendered: no template, bad messages, or the template raised an error. */
export class ChatTemplateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ChatTemplateError';
  }
}

// Parsing a long template costs more than rendering it; models keep one or two templates.
const parsedTemplates = new Map<string, Template>();
const PARSED_TEMPLATES_KEPT = 32;

function parseTemplate(text: string): Template {
  const cached = parsedTemplates.get(text);
  if (cached) return cached;
  let template: Template;
  try {
    template = new Template(text);
  } catch (err) {
    throw new ChatTemplateError(`the chat template does not parse: ${(err as Error).message}`);
  }
  if (parsedTemplates.size >= PARSED_TEMPLATES_KEPT) parsedTemplates.clear();
  parsedTemplates.set(text, template);
  return template;
}

/** Picks the template text as transformers does: an explicit one, else "tool_use" when tools are given, else "default". */
export function selectTemplate(
  source: ChatTemplateSource | null,
  requested: string | undefined,
  hasTools: boolean,
): string {
  const named = Array.isArray(source) ? new Map(source.map((t) => [t.name, t.template])) : null;
  if (requested !== undefined) return named?.get(requested) ?? requested;
  if (source === null) throw new ChatTemplateError('this model has no chat template; pass --chat-template');
  if (named === null) return source as string;
  const chosen = (hasTools ? named.get('tool_use') : undefined) ?? named.get('default');
  if (chosen === undefined) {
    throw new ChatTemplateError(
      `this model has named chat templates (${[...named.keys()].join(', ')}) but none called "default"; ` +
        'pass one of those names or a template with --chat-template',
    );
  }
  return chosen;
}

function validateMessages(messages: unknown): ChatMessage[] {
  const result = chatMessagesSchema.safeParse(messages);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => `messages.${issue.path.join('.')}: ${issue.message}`);
  throw new ChatTemplateError(`invalid chat messages: ${problems.join('; ')}`);
}

function withContentFormat(message: ChatMessage, format: 'string' | 'parts'): ChatMessage {
  if (format === 'parts' || !Array.isArray(message.content)) return message;
  return { ...message, content: message.content.map((part) => part.text).join('\n') };
}

/** Renders messages with a chat template source (the model's, or options.template). */
export function renderChatTemplate(
  source: ChatTemplateSource | null,
  specialTokens: SpecialTokenTexts,
  messages: unknown,
  options: RenderChatOptions = {},
): string {
  const valid = validateMessages(messages).map((m) => withContentFormat(m, options.contentFormat ?? 'string'));
  const template = parseTemplate(selectTemplate(source, options.template, (options.tools?.length ?? 0) > 0));

  const limits = options.limits ?? DEFAULT_TEMPLATE_LIMITS;
  const variables: Record<string, unknown> = {
    ...options.extraVars,
    messages: valid,
    add_generation_prompt: options.addGenerationPrompt ?? false,
    // transformers passes tools=None when there are none; templates test `tools is not none`.
    tools: options.tools ?? null,
  };
  // Like transformers, only the special tokens the model defines become variables.
  for (const [name, text] of Object.entries(specialTokens)) if (text !== null) variables[`${name}_token`] = text;

  try {
    return withTemplateBudget(limits, () => template.render(variables));
  } catch (err) {
    // raise_exception(...) in a template lands here with the template's own message.
    throw new ChatTemplateError(`the chat template failed: ${(err as Error).message}`);
  }
}
