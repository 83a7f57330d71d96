// @pagoda/tokenizer: tokenizer.json encode/decode, streaming detokenization and chat templates.
export { Tokenizer, type ModelInputOptions, type EncodeOptions, type DecodeOptions, type SpecialTokenTexts } from './tokenizer.ts';
export type { TextTokenizer } from './text-tokenizer.ts';
export { BackgroundEncoder, BACKGROUND_ENCODE_MIN_CHARS } from './background-encoder.ts';
export { IncrementalDecoder, type IncrementalDecoderOptions } from './incremental-decoder.ts';
export {
  ChatTemplateError,
  chatMessageSchema,
  chatMessagesSchema,
  renderChatTemplate,
  selectTemplate,
  type ChatMessage,
  type RenderChatOptions,
} from './chat-template.ts';
export { TokenizerFileError, readModelTokenizerFiles, type ChatTemplateSource } from './model-files.ts';
export type { ModelInput } from './model-input.ts';
