// What a serving backend needs of a tokenizer: tokenizer.json's Tokenizer is one; a GGUF model's own
// vocabulary (llama.cpp) is another.
import type { RenderChatOptions } from './chat-template.ts';
import type { ChatTemplateSource } from './model-files.ts';

export interface TextTokenizer {
  readonly vocabSize: number;
  readonly chatTemplate: ChatTemplateSource | null;
  /** The most UTF-8 bytes one token can stand for (null: no bound known). */
  readonly maxBytesPerToken: number | null;
  /** A lower bound on the tokens `text` encodes to, from its byte length alone. */
  minTokens(text: string): number;
  encode(text: string, options?: { addSpecialTokens?: boolean }): number[];
  decode(ids: readonly number[], options?: { skipSpecialTokens?: boolean }): string;
  idToToken(id: number): string | undefined;
  renderChat(messages: unknown, options?: RenderChatOptions): string;
}
