// The tokenizer of one model folder: encode / decode over tokenizer.json (via @huggingface/tokenizers),
// special tokens and end-of-sequence ids as tokenizer_config.json and generation_config.json say.
import { join } from 'node:path';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { ByteLevelDecode } from './byte-level-decode.ts';
import { renderChatTemplate, type RenderChatOptions, type SpecialTokenTexts } from './chat-template.ts';
import {
  TokenizerFileError,
  readModelTokenizerFiles,
  type ChatTemplateSource,
  type ModelTokenizerFiles,
} from './model-files.ts';
import type { TextTokenizer } from './text-tokenizer.ts';
import { maxBytesPerToken } from './token-byte-bound.ts';
import { applyTransformersRebuild } from './transformers-compat.ts';
import {
  applyTemplate,
  longestFirst,
  readPostTemplate,
  specialCount,
  type ModelInput,
  type PostTemplate,
} from './model-input.ts';

export interface ModelInputOptions {
  /** The most tokens the model takes, special tokens included. */
  maxLength?: number;
  /** Cut content tokens (longest side first for a pair) to fit maxLength; otherwise inputs keep their length. */
  truncate?: boolean;
}

export interface EncodeOptions {
  /** Add BOS/EOS as the tokenizer config says (default true). Pass false for text that already has them, e.g. a rendered chat. */
  addSpecialTokens?: boolean;
}

export interface DecodeOptions {
  /** Leave out special tokens such as <s> and </s> (default true). */
  skipSpecialTokens?: boolean;
}

export class Tokenizer implements TextTokenizer {
  readonly vocabSize: number;
  readonly bosTokenId: number | null;
  readonly eosTokenId: number | null;
  /** Every id that ends generation: the config's eos_token and generation_config's eos_token_id (one or a list). */
  readonly eosTokenIds: readonly number[];
  readonly specialTokens: SpecialTokenTexts;
  readonly chatTemplate: ChatTemplateSource | null;
  /** The most bytes of text one token can stand for; null when no sound bound exists (see token-byte-bound.ts). */
  readonly maxBytesPerToken: number | null;

  private readonly hf: HfTokenizer;
  /** The fast path of decode() for byte-level BPE tokenizers; null: the library decodes. */
  private readonly byteLevel: ByteLevelDecode | null;
  /** null: the post-processor in tokenizer.json decides; otherwise tokenizer_config.json's explicit flags. */
  private readonly explicitSpecials: { addBos: boolean; addEos: boolean } | null;
  /** How special tokens wrap one text or a pair (tokenizer.json's post-processor, or the explicit flags). */
  private readonly template: PostTemplate;

  private constructor(files: ModelTokenizerFiles, dir: string) {
    const tokenizerPath = join(dir, 'tokenizer.json');
    const configPath = join(dir, 'tokenizer_config.json');
    const config = files.tokenizerConfig;
    const json = applyTransformersRebuild(files.tokenizerJson, config);
    try {
      // The Rust tokenizers (the golden reference) never clean up spaces; the JS library does unless told.
      this.hf = new HfTokenizer(json, {
        ...config,
        clean_up_tokenization_spaces: config.clean_up_tokenization_spaces ?? false,
      });
    } catch (err) {
      throw new TokenizerFileError(tokenizerPath, `cannot build a tokenizer from it (${(err as Error).message})`);
    }

    // Space clean-up is the library's business: those tokenizers keep its decode.
    this.byteLevel =
      ByteLevelDecode.handles(json) && config.clean_up_tokenization_spaces !== true
        ? new ByteLevelDecode({
            idToToken: (id) => this.hf.id_to_token(id),
            addedTokens: json.added_tokens.map((t) => t.content),
            specialTokens: [
              ...json.added_tokens.filter((t) => t.special === true).map((t) => t.content),
              ...(config.additional_special_tokens ?? []),
            ],
          })
        : null;

    const vocab = this.hf.get_vocab(true);
    this.vocabSize = largestId(vocab.values()) + 1;
    this.maxBytesPerToken = maxBytesPerToken(json, vocab.keys());
    this.specialTokens = {
      bos: config.bos_token ?? null,
      eos: config.eos_token ?? null,
      unk: config.unk_token ?? null,
      pad: config.pad_token ?? null,
    };

    const idOf = (field: string, token: string | null): number | null => {
      if (token === null) return null;
      const id = this.hf.token_to_id(token);
      if (id === undefined) {
        throw new TokenizerFileError(configPath, `${field} "${token}" is not a token of tokenizer.json`);
      }
      return id;
    };
    const generation = files.generationConfig;
    const generationEos = generation?.eos_token_id ?? [];
    const generationEosIds = Array.isArray(generationEos) ? generationEos : [generationEos];

    this.bosTokenId = idOf('bos_token', this.specialTokens.bos) ?? generation?.bos_token_id ?? null;
    const configEos = idOf('eos_token', this.specialTokens.eos);
    this.eosTokenId = configEos ?? generationEosIds[0] ?? null;
    this.eosTokenIds = [...new Set([...(configEos === null ? [] : [configEos]), ...generationEosIds])];

    this.explicitSpecials =
      config.add_bos_token === undefined ? null : { addBos: config.add_bos_token, addEos: config.add_eos_token ?? false };
    this.chatTemplate = files.chatTemplate;
    this.template = this.resolveTemplate(json.post_processor);
  }

  private resolveTemplate(postProcessor: unknown): PostTemplate {
    if (this.explicitSpecials === null) {
      return (
        readPostTemplate(postProcessor, this.hf) ?? {
          single: [{ sequence: 'A', typeId: 0 }],
          pair: [{ sequence: 'A', typeId: 0 }, { sequence: 'B', typeId: 1 }],
        }
      );
    }
    const { addBos, addEos } = this.explicitSpecials;
    const bos = addBos && this.bosTokenId !== null ? [this.bosTokenId] : [];
    const eos = addEos && this.eosTokenId !== null ? [this.eosTokenId] : [];
    return {
      single: [{ special: bos, typeId: 0 }, { sequence: 'A', typeId: 0 }, { special: eos, typeId: 0 }],
      pair: [
        { special: bos, typeId: 0 }, { sequence: 'A', typeId: 0 }, { special: eos, typeId: 0 },
        { special: bos, typeId: 1 }, { sequence: 'B', typeId: 1 }, { special: eos, typeId: 1 },
      ],
    };
  }

  /**
   * The ids an embedding model (one text) or a cross-encoder (a pair) is fed: content tokens,
   * truncated when asked as the tokenizers library does, wrapped in the special tokens with
   * their token type ids.
   */
  encodeInput(text: string, pair: string | null = null, options: ModelInputOptions = {}): ModelInput {
    const a = this.hf.encode(text, { add_special_tokens: false }).ids;
    const b = pair === null ? null : this.hf.encode(pair, { add_special_tokens: false }).ids;
    const pieces = b === null ? this.template.single : this.template.pair;
    const specials = specialCount(pieces);
    const untruncatedLength = a.length + (b?.length ?? 0) + specials;
    let [n1, n2] = [a.length, b?.length ?? 0];
    const max = options.maxLength;
    if (options.truncate && max !== undefined && untruncatedLength > max) {
      [n1, n2] = longestFirst(n1, n2, Math.max(0, max - specials));
    }
    const { ids, typeIds } = applyTemplate(pieces, a.slice(0, n1), b === null ? null : b.slice(0, n2));
    return { ids, typeIds, untruncatedLength, truncated: ids.length < untruncatedLength };
  }

  /** Loads tokenizer.json, tokenizer_config.json and (when present) generation_config.json from a model folder. */
  static fromDir(dir: string): Tokenizer {
    return new Tokenizer(readModelTokenizerFiles(dir), dir);
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    const addSpecialTokens = options.addSpecialTokens ?? true;
    if (!addSpecialTokens || this.explicitSpecials === null) {
      return this.hf.encode(text, { add_special_tokens: addSpecialTokens }).ids;
    }
    const ids = this.hf.encode(text, { add_special_tokens: false }).ids;
    const { addBos, addEos } = this.explicitSpecials;
    if (addBos && this.bosTokenId !== null) ids.unshift(this.bosTokenId);
    if (addEos && this.eosTokenId !== null) ids.push(this.eosTokenId);
    return ids;
  }

  /**
   * A lower bound on the tokens `text` encodes to, from its byte length alone (0 when the tokenizer has
   * no sound bound): cheap where encode() is not, so a prompt that cannot fit is refused before encoding.
   */
  minTokens(text: string): number {
    return this.maxBytesPerToken === null ? 0 : Math.ceil(Buffer.byteLength(text, 'utf8') / this.maxBytesPerToken);
  }

  decode(ids: readonly number[], options: DecodeOptions = {}): string {
    if (this.byteLevel) return this.byteLevel.decode(ids, options.skipSpecialTokens ?? true);
    // Ids past the vocabulary (models often pad their embedding) decode to nothing, as in the Rust library.
    const known = ids.filter((id) => this.hf.id_to_token(id) !== undefined);
    if (known.length === 0) return '';
    return this.hf.decode(known, { skip_special_tokens: options.skipSpecialTokens ?? true });
  }

  tokenToId(token: string): number | undefined {
    return this.hf.token_to_id(token);
  }

  idToToken(id: number): string | undefined {
    return this.hf.id_to_token(id);
  }

  /**
   * Renders chat messages to a prompt with options.template or the model's chat template. The result
   * usually holds BOS already: encode it with { addSpecialTokens: false }.
   */
  renderChat(messages: unknown, options: RenderChatOptions = {}): string {
    return renderChatTemplate(this.chatTemplate, this.specialTokens, messages, options);
  }
}

// A loop, not Math.max(...ids): vocabularies of 150k entries overflow the argument limit.
function largestId(ids: Iterable<number>): number {
  let largest = -1;
  for (const id of ids) if (id > largest) largest = id;
  return largest;
}
