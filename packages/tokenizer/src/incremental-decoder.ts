// Streaming detokenization: turns generated ids, a few at a time, into text that is safe to emit.
// Decodes a short window (already-emitted prefix + new ids) and emits what the new ids added, so
// decoder rules that look at neighbours (SentencePiece's leading-space strip, byte fallback) stay right.
import type { TextTokenizer } from './text-tokenizer.ts';

export interface IncrementalDecoderOptions {
  /** Leave out special tokens (default true), as Tokenizer.decode does. */
  skipSpecialTokens?: boolean;
  /**
   * The prompt the generated ids continue. Its last tokens serve as context, so a first generated
   * "▁upon" after "Once" streams as " upon" (without context it would be a sequence start: "upon").
   */
  promptIds?: readonly number[];
}

/** How many prompt tokens give enough context for the first generated token (vLLM uses 5 too). */
const PROMPT_CONTEXT_TOKENS = 5;
const REPLACEMENT_CHAR = '\uFFFD';

export class IncrementalDecoder {
  private readonly ids: number[];
  /** ids[prefixStart, readStart) is context already emitted; ids[readStart..] is not emitted yet. */
  private prefixStart: number;
  private readStart: number;
  private readonly skipSpecialTokens: boolean;

  constructor(
    private readonly tokenizer: Pick<TextTokenizer, 'decode'>,
    options: IncrementalDecoderOptions = {},
  ) {
    this.skipSpecialTokens = options.skipSpecialTokens ?? true;
    const context = (options.promptIds ?? []).slice(-PROMPT_CONTEXT_TOKENS);
    this.ids = [...context];
    this.prefixStart = 0;
    this.readStart = context.length;
  }

  /** Adds generated ids; returns the new text that can be shown (possibly ''). */
  push(ids: Iterable<number>): string {
    for (const id of ids) this.ids.push(id);
    return this.emit(false);
  }

  /** Returns whatever is still held back (an unfinished multi-byte character decodes as U+FFFD here). */
  flush(): string {
    return this.emit(true);
  }

  private emit(final: boolean): string {
    if (this.readStart === this.ids.length) return '';
    const prefixText = this.decode(this.ids.slice(this.prefixStart, this.readStart));
    const fullText = this.decode(this.ids.slice(this.prefixStart));
    // A trailing U+FFFD is a character whose remaining bytes are still to come: hold it back.
    if (!final && (fullText.length <= prefixText.length || fullText.endsWith(REPLACEMENT_CHAR))) return '';

    const newText = fullText.slice(prefixText.length);
    // Keep the old context when the new ids showed nothing (e.g. only skipped special tokens): a window
    // that decodes to nothing would make the next token look like a sequence start and lose its space.
    if (newText.length > 0) this.prefixStart = this.readStart;
    this.readStart = this.ids.length;
    this.trimConsumed();
    return newText;
  }

  /** Drops ids before the window so a long generation does not grow memory. */
  private trimConsumed(): void {
    if (this.prefixStart === 0) return;
    this.ids.splice(0, this.prefixStart);
    this.readStart -= this.prefixStart;
    this.prefixStart = 0;
  }

  private decode(ids: number[]): string {
    return this.tokenizer.decode(ids, { skipSpecialTokens: this.skipSpecialTokens });
  }
}
