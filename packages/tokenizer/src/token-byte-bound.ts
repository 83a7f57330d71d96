// A sound upper bound on how many bytes of input text one token can stand for, so a prompt that cannot
// fit the context can be refused from its byte length alone, before the (slow) tokenization. Sound
// means: the prompt has at least ceil(bytes / bound) tokens. It exists only for tokenizers that never
// fold unbounded text into one token: BPE that is byte-level or has byte_fallback (no <unk> runs), with
// normalizers and pre-tokenizers that drop nothing. Any other tokenizer gets null: no early refusal.
import type { TokenizerJson } from './model-files.ts';

interface Step {
  type?: unknown;
  normalizers?: unknown;
  pretokenizers?: unknown;
  pattern?: unknown;
  content?: unknown;
  behavior?: unknown;
}

const utf8 = (s: string) => Buffer.byteLength(s, 'utf8');

/**
 * How many times shorter a normalizer can make text (in UTF-8 bytes); null when it can drop text. NFC
 * composes up to three code points into one (Hangul L+V+T: 9 bytes to 3); NFKC maps 4-byte mathematical
 * letters to 1-byte ASCII; Lowercase maps the 3-byte Kelvin sign to 'k'.
 */
function normalizerShrink(n: Step | null): number | null {
  if (n === null || n === undefined) return 1;
  switch (n.type) {
    case 'Prepend':
      return 1;
    case 'Replace': {
      const pattern = (n.pattern as { String?: unknown } | undefined)?.String;
      if (typeof pattern !== 'string' || typeof n.content !== 'string') return null; // a regex can match anything
      return utf8(n.content) >= utf8(pattern) ? 1 : null;
    }
    case 'NFC':
    case 'NFD':
      return 3;
    case 'NFKC':
    case 'NFKD':
      return 4;
    case 'Lowercase':
      return 3;
    case 'Sequence': {
      let factor = 1;
      for (const inner of (n.normalizers as Step[] | undefined) ?? []) {
        const f = normalizerShrink(inner);
        if (f === null) return null;
        factor *= f;
      }
      return factor;
    }
    default:
      return null; // Strip, StripAccents, BertNormalizer, Precompiled, ...: can drop text
  }
}

/** Whether a pre-tokenizer keeps every byte (splits, never removes); byte-level is reported too. */
function preTokenizerKeeps(p: Step | null, found: { byteLevel: boolean }): boolean {
  if (p === null || p === undefined) return true;
  switch (p.type) {
    case 'ByteLevel':
      found.byteLevel = true;
      return true;
    case 'Metaspace':
    case 'Digits':
    case 'UnicodeScripts':
      return true;
    case 'Split':
    case 'Punctuation':
      return typeof p.behavior !== 'string' || p.behavior.toLowerCase() !== 'removed';
    case 'Sequence':
      return ((p.pretokenizers as Step[] | undefined) ?? []).every((inner) => preTokenizerKeeps(inner, found));
    default:
      return false; // Whitespace, WhitespaceSplit, BertPreTokenizer, ...: drop whitespace
  }
}

/**
 * The most input bytes one token can stand for, or null when no sound bound exists. `vocab` is every
 * token string (added tokens included).
 */
export function maxBytesPerToken(json: TokenizerJson, vocab: Iterable<string>): number | null {
  const model = json.model as Step & { byte_fallback?: unknown };
  if (model.type !== 'BPE' && !(model.type === undefined && 'merges' in model)) return null;
  const shrink = normalizerShrink(json.normalizer as Step | null);
  const found = { byteLevel: false };
  if (shrink === null || !preTokenizerKeeps(json.pre_tokenizer as Step | null, found)) return null;
  if (!found.byteLevel && model.byte_fallback !== true) return null;
  let longest = 1;
  // byte-level vocabularies spell each byte as one character; others are plain UTF-8 text
  const size = found.byteLevel ? (t: string) => Math.max([...t].length, utf8(t)) : utf8;
  for (const token of vocab) longest = Math.max(longest, size(token));
  for (const added of json.added_tokens) longest = Math.max(longest, utf8(added.content));
  return longest * shrink;
}
