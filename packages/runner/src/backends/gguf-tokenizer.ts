// A GGUF model's own vocabulary as the OpenAI layer's tokenizer: llama.cpp encodes and decodes (so ids
// match what llama.cpp generates); the token strings, special tokens and chat template come from the
// GGUF header, and chat templates render with the same Jinja renderer as tokenizer.json models.
import { ggufNumber, ggufString, type GgufHeader } from '@pagoda/gguf';
import {
  renderChatTemplate,
  type RenderChatOptions,
  type SpecialTokenTexts,
  type TextTokenizer,
} from '@pagoda/tokenizer';
import type { LlamaModel, Token } from 'node-llama-cpp';
import type { GrammarVocabulary } from '../structured/grammar-compiler.ts';

export class GgufTokenizer implements TextTokenizer {
  readonly vocabSize: number;
  readonly chatTemplate: string | null;
  readonly maxBytesPerToken: number;
  private readonly tokens: string[];
  private readonly specialTokens: SpecialTokenTexts;
  private readonly addBos: boolean;
  private readonly bosId: number | undefined;
  /** The vocabulary as structured output's grammar compiler reads it. */
  readonly grammarVocabulary: GrammarVocabulary;

  constructor(
    private readonly model: LlamaModel,
    header: GgufHeader,
  ) {
    const tokens = header.metadata.get('tokenizer.ggml.tokens');
    this.tokens = Array.isArray(tokens) ? tokens.map(String) : [];
    this.vocabSize = ggufVocabSize(header);
    // A token's piece is never shorter in UTF-8 than the text it stands for ("▁" is 3 bytes for one
    // space, "<0x41>" 6 for one byte), so the longest piece bounds the bytes per token soundly.
    let longest = 1;
    for (const t of this.tokens) longest = Math.max(longest, Buffer.byteLength(t, 'utf8'));
    this.maxBytesPerToken = longest;
    const template = header.metadata.get('tokenizer.chat_template');
    this.chatTemplate = typeof template === 'string' ? template : null;
    const text = (key: string): string | null => {
      const id = ggufNumber(header, `tokenizer.ggml.${key}_token_id`);
      return id === undefined ? null : (this.tokens[id] ?? null);
    };
    this.specialTokens = {
      bos: text('bos'),
      eos: text('eos'),
      unk: text('unknown'),
      pad: text('padding'),
    };
    this.bosId = ggufNumber(header, 'tokenizer.ggml.bos_token_id');
    const addBos = header.metadata.get('tokenizer.ggml.add_bos_token');
    this.addBos = typeof addBos === 'boolean' ? addBos : this.bosId !== undefined;
    this.grammarVocabulary = grammarVocabularyOf(header, this.tokens);
  }

  /** Special tokens written in the text (a rendered chat's "<|im_start|>") are parsed as such, as tokenizer.json does. */
  encode(text: string, options: { addSpecialTokens?: boolean } = {}): number[] {
    const ids = this.model.tokenize(text, true) as number[];
    if ((options.addSpecialTokens ?? true) && this.addBos && this.bosId !== undefined)
      ids.unshift(this.bosId);
    return ids;
  }

  decode(ids: readonly number[], options: { skipSpecialTokens?: boolean } = {}): string {
    const known = ids.filter((id) => id >= 0 && id < this.vocabSize);
    return this.model.detokenize(known as Token[], !(options.skipSpecialTokens ?? true));
  }

  minTokens(text: string): number {
    return Math.ceil(Buffer.byteLength(text, 'utf8') / this.maxBytesPerToken);
  }

  idToToken(id: number): string | undefined {
    return this.tokens[id];
  }

  renderChat(messages: unknown, options: RenderChatOptions = {}): string {
    return renderChatTemplate(this.chatTemplate, this.specialTokens, messages, options);
  }
}

/** How many tokens the GGUF's vocabulary holds (tokenizer.ggml.tokens); none is an error. */
export function ggufVocabSize(header: GgufHeader): number {
  const tokens = header.metadata.get('tokenizer.ggml.tokens');
  const n = Array.isArray(tokens) ? tokens.length : 0;
  if (n === 0) throw new Error('the GGUF file has no tokenizer.ggml.tokens (no vocabulary)');
  return n;
}

/**
 * How llama.cpp's tokenizer families spell tokens: 'llama' is SentencePiece ("▁" for a space,
 * "<0x0A>" byte pieces; a space is put before the text unless add_space_prefix is false), 'gpt2'
 * is byte-level BPE; any other family is read as plain text.
 */
export function grammarVocabularyOf(header: GgufHeader, tokens: string[]): GrammarVocabulary {
  const family = ggufString(header, 'tokenizer.ggml.model');
  if (family === 'llama') {
    const prefix = header.metadata.get('tokenizer.ggml.add_space_prefix');
    return { vocab: tokens, type: 'byte_fallback', prependSpace: prefix !== false };
  }
  if (family === 'gpt2') return { vocab: tokens, type: 'byte_level', prependSpace: false };
  return { vocab: tokens, type: 'raw', prependSpace: false };
}
