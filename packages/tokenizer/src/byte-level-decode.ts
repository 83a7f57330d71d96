// Decoding for byte-level BPE tokenizers (GPT-2's scheme: Llama 3, Qwen2, Mistral Nemo, ...) with the
// per-token work done once at load. @huggingface/tokenizers 0.2 scans every added token for every token
// it decodes (special-token skipping and its ByteLevel decoder), about 15 µs a token with Llama 3's 256
// added tokens; a streaming runner decodes each generated token twice, so that scan was the runner's
// largest cost per token. Same output as the library's decode (checked against it by tests).

/** GPT-2's byte-to-character table: printable bytes stand for themselves, the rest from U+0100 on. */
function unicodeToBytes(): Map<string, number> {
  const map = new Map<string, number>();
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    map.set(String.fromCodePoint(printable ? b : 256 + extra++), b);
  }
  return map;
}

export interface ByteLevelSource {
  /** The token text of an id (added tokens included), undefined past the vocabulary. */
  idToToken(id: number): string | undefined;
  /** Contents of every added token (decoded as they are, not as bytes). */
  addedTokens: Iterable<string>;
  /** Contents that skipSpecialTokens leaves out (special added tokens and additional_special_tokens). */
  specialTokens: Iterable<string>;
}

export class ByteLevelDecode {
  /** Per id: its bytes, the text of an added token, or null past the vocabulary; filled on first use. */
  private readonly pieces = new Map<number, Uint8Array | string | null>();
  private readonly special = new Set<number>();
  private readonly added: Set<string>;
  private readonly specialTexts: Set<string>;
  private readonly bytes = unicodeToBytes();
  private readonly utf8 = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
  private buffer = new Uint8Array(256);

  constructor(private readonly source: ByteLevelSource) {
    this.added = new Set(source.addedTokens);
    this.specialTexts = new Set(source.specialTokens);
  }

  /** True for a tokenizer.json whose decoder is ByteLevel alone (a Sequence or other decoders keep the library's path). */
  static handles(tokenizerJson: { decoder?: unknown }): boolean {
    const d = tokenizerJson.decoder as { type?: unknown } | null | undefined;
    return d?.type === 'ByteLevel';
  }

  decode(ids: readonly number[], skipSpecialTokens: boolean): string {
    let text = '';
    let length = 0;
    for (const id of ids) {
      const piece = this.piece(id);
      if (piece === null || (skipSpecialTokens && this.special.has(id))) continue;
      if (typeof piece === 'string') {
        // An added token is a text of its own: the bytes before it are decoded on their own, as the library does.
        if (length > 0) text += this.utf8.decode(this.buffer.subarray(0, length));
        length = 0;
        text += piece;
        continue;
      }
      if (length + piece.length > this.buffer.length) {
        const grown = new Uint8Array(Math.max(this.buffer.length * 2, length + piece.length));
        grown.set(this.buffer.subarray(0, length));
        this.buffer = grown;
      }
      this.buffer.set(piece, length);
      length += piece.length;
    }
    if (length > 0) text += this.utf8.decode(this.buffer.subarray(0, length));
    return text;
  }

  private piece(id: number): Uint8Array | string | null {
    const cached = this.pieces.get(id);
    if (cached !== undefined) return cached;
    const token = this.source.idToToken(id);
    let piece: Uint8Array | string | null = null;
    if (token !== undefined) {
      if (this.specialTexts.has(token)) this.special.add(id);
      // A character outside the byte table becomes byte 0, as in the library.
      piece = this.added.has(token) ? token : Uint8Array.from(Array.from(token, (c) => this.bytes.get(c) ?? 0));
    }
    this.pieces.set(id, piece);
    return piece;
  }
}
