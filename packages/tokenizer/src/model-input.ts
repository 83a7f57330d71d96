// Model inputs for embedding and cross-encoder models: content ids of one text or a pair,
// truncated as the Rust tokenizers library truncates (longest_first, from the right, special
// tokens kept), then wrapped by tokenizer.json's post-processor template with its type ids.
import type { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';

/** One piece of a post-processor template: special token ids, or the A / B sequence. */
export type TemplatePiece = { special: number[]; typeId: number } | { sequence: 'A' | 'B'; typeId: number };

export interface PostTemplate {
  single: TemplatePiece[];
  pair: TemplatePiece[];
}

export interface ModelInput {
  ids: number[];
  typeIds: number[];
  /** Length with special tokens before truncation. */
  untruncatedLength: number;
  truncated: boolean;
}

interface SpecialRef {
  id?: string;
  type_id?: number;
}

function asRecord(value: unknown): Record<string, unknown> | null {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
}

/** The post-processor of a tokenizer.json as a template; null when it adds nothing. */
export function readPostTemplate(postProcessor: unknown, hf: HfTokenizer): PostTemplate | null {
  const p = asRecord(postProcessor);
  if (!p) return null;
  const idOf = (token: unknown): number[] => {
    if (Array.isArray(token) && typeof token[1] === 'number') return [token[1]];
    const id = typeof token === 'string' ? hf.token_to_id(token) : undefined;
    return id === undefined ? [] : [id];
  };
  switch (p.type) {
    case 'TemplateProcessing': {
      const specials = asRecord(p.special_tokens) ?? {};
      const pieces = (list: unknown): TemplatePiece[] =>
        (Array.isArray(list) ? list : []).map((item: Record<string, SpecialRef>) => {
          if (item.SpecialToken) {
            const entry = asRecord(specials[item.SpecialToken.id ?? '']);
            const ids = Array.isArray(entry?.ids) ? (entry.ids as number[]) : idOf(item.SpecialToken.id);
            return { special: ids, typeId: item.SpecialToken.type_id ?? 0 };
          }
          return { sequence: item.Sequence?.id === 'B' ? 'B' : 'A', typeId: item.Sequence?.type_id ?? 0 };
        });
      return { single: pieces(p.single), pair: pieces(p.pair) };
    }
    case 'BertProcessing': {
      const cls = idOf(p.cls), sep = idOf(p.sep);
      return {
        single: [{ special: cls, typeId: 0 }, { sequence: 'A', typeId: 0 }, { special: sep, typeId: 0 }],
        pair: [
          { special: cls, typeId: 0 }, { sequence: 'A', typeId: 0 }, { special: sep, typeId: 0 },
          { sequence: 'B', typeId: 1 }, { special: sep, typeId: 1 },
        ],
      };
    }
    case 'RobertaProcessing': {
      const cls = idOf(p.cls), sep = idOf(p.sep);
      return {
        single: [{ special: cls, typeId: 0 }, { sequence: 'A', typeId: 0 }, { special: sep, typeId: 0 }],
        pair: [
          { special: cls, typeId: 0 }, { sequence: 'A', typeId: 0 }, { special: [...sep, ...sep], typeId: 0 },
          { sequence: 'B', typeId: 0 }, { special: sep, typeId: 0 },
        ],
      };
    }
    case 'Sequence': {
      for (const inner of Array.isArray(p.processors) ? p.processors : []) {
        const t = readPostTemplate(inner, hf);
        if (t) return t;
      }
      return null;
    }
    default:
      return null;
  }
}

export function specialCount(pieces: TemplatePiece[]): number {
  return pieces.reduce((n, piece) => n + ('special' in piece ? piece.special.length : 0), 0);
}

/**
 * Content lengths after the tokenizers library's longest_first truncation to `max` content
 * tokens: the longer side is cut first; when both are long each keeps half.
 */
export function longestFirst(n1: number, n2: number, max: number): [number, number] {
  if (n1 + n2 <= max) return [n1, n2];
  const swap = n1 > n2;
  let a = swap ? n2 : n1;
  let b = a > max ? a : Math.max(a, max - a);
  if (a + b > max) {
    a = Math.floor(max / 2);
    b = a + (max % 2);
  }
  const [r1, r2] = swap ? [b, a] : [a, b];
  return [Math.min(r1, n1), Math.min(r2, n2)];
}

/** Wraps content ids in the template: ids and token type ids. */
export function applyTemplate(pieces: TemplatePiece[], a: number[], b: number[] | null): { ids: number[]; typeIds: number[] } {
  const ids: number[] = [];
  const typeIds: number[] = [];
  for (const piece of pieces) {
    const part = 'special' in piece ? piece.special : piece.sequence === 'A' ? a : (b ?? []);
    for (const id of part) {
      ids.push(id);
      typeIds.push(piece.typeId);
    }
  }
  return { ids, typeIds };
}
