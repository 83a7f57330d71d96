// One model's grammar compiler: xgrammar's TokenizerInfo built from the checkpoint's tokenizer.json
// (its vocabulary, how tokens encode bytes, the stop tokens) and a GrammarCompiler over it, with the
// compiled grammars of recent requests kept so a repeated schema compiles once.
// Why xgrammar: it is the grammar engine vLLM and SGLang use (JSON schema, regex, EBNF, structural
// tags), precomputes the context-independent part of every mask, and its npm build runs in Node.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CompiledGrammar, GrammarCompiler, TokenizerInfo } from '@mlc-ai/web-xgrammar';
import { badRequest } from '../api-error.ts';
import { checkJsonSchema } from './schema-check.ts';
import type { GrammarSpec } from './grammar-spec.ts';
import { GrammarError, xgrammar, xgrammarCall } from './xgrammar-module.ts';

const CACHE_SIZE = 64;

interface TokenizerJson {
  model?: { vocab?: Record<string, number> | Array<[string, number]> };
  added_tokens?: Array<{ id: number; content: string }>;
  decoder?: unknown;
  normalizer?: unknown;
  pre_tokenizer?: unknown;
}

/** How xgrammar should read the vocabulary's token strings. */
export function vocabType(tj: TokenizerJson): { type: string; prependSpace: boolean } {
  const text = JSON.stringify([
    tj.decoder ?? null,
    tj.normalizer ?? null,
    tj.pre_tokenizer ?? null,
  ]);
  const type = text.includes('"ByteFallback"')
    ? 'byte_fallback'
    : text.includes('"ByteLevel"')
      ? 'byte_level'
      : 'raw';
  const prependSpace =
    /"Prepend"[^}]*"prepend":"▁"/.test(text) || /"prepend_scheme":"(always|first)"/.test(text);
  return { type, prependSpace };
}

/** Token strings by id, up to vocabSize (ids the tokenizer lacks are empty strings). */
export function vocabStrings(tj: TokenizerJson, vocabSize: number): string[] {
  const out: string[] = [];
  const vocab = tj.model?.vocab ?? {};
  const entries = Array.isArray(vocab)
    ? vocab.map(([t], i) => [t, i] as [string, number])
    : Object.entries(vocab);
  for (const [t, id] of entries) out[id] = t;
  for (const a of tj.added_tokens ?? []) out[a.id] = a.content;
  const size = Math.max(vocabSize, out.length);
  for (let i = 0; i < size; i++) out[i] ??= '';
  return out;
}

/** GPT-2's byte-level alphabet back to bytes: printable bytes stand for themselves, the rest moved up past 255. */
function byteLevelDecoder(): Map<string, number> {
  const direct: number[] = [];
  for (let b = 33; b <= 126; b++) direct.push(b);
  for (let b = 161; b <= 172; b++) direct.push(b);
  for (let b = 174; b <= 255; b++) direct.push(b);
  const map = new Map<string, number>();
  let shifted = 0;
  for (let b = 0; b < 256; b++) {
    if (direct.includes(b)) map.set(String.fromCharCode(b), b);
    else map.set(String.fromCharCode(256 + shifted++), b);
  }
  return map;
}

/** Each token's text as it reads in the output (ASCII-exact; other bytes are approximated). */
export function decodedVocab(vocab: string[], type: string): string[] {
  const bytes = type === 'byte_level' ? byteLevelDecoder() : null;
  return vocab.map((token) => {
    if (type === 'byte_fallback') {
      const hex = /^<0x([0-9A-Fa-f]{2})>$/.exec(token);
      return hex ? String.fromCharCode(parseInt(hex[1]!, 16)) : token.replace(/\u2581/g, ' ');
    }
    if (bytes) return [...token].map((c) => String.fromCharCode(bytes.get(c) ?? 63)).join('');
    return token;
  });
}

/**
 * Tokens by their text's first character, longest first: finding the longest token that starts a
 * forced string (closing with xgrammar's jump-forward string) looks at a few candidates only.
 */
export function tokensByFirstChar(texts: string[]): Map<string, number[]> {
  const map = new Map<string, number[]>();
  texts.forEach((text, id) => {
    if (text.length === 0) return;
    const list = map.get(text[0]!) ?? [];
    list.push(id);
    map.set(text[0]!, list);
  });
  for (const list of map.values()) list.sort((a, b) => texts[b]!.length - texts[a]!.length);
  return map;
}

/** A choice list as EBNF: each string a literal, JSON escaping (which xgrammar's EBNF reads). */
export function choiceGrammar(choices: string[]): string {
  return `root ::= ${choices.map((c) => JSON.stringify(c)).join(' | ')}`;
}

/** The one-character texts the closing order prefers, best first (see closingOrder). */
const CLOSING_CHARS = ['"', '}', ']', ','];

/**
 * Token ids in the order a constrained output that is running out of max_tokens takes them: the
 * stop tokens, then the single characters that end a JSON string, object, array or member, then
 * every other single-character token. Taking the first one the grammar allows, step by step,
 * closes what is open in a few tokens, so the output still matches its grammar when cut short.
 */
export function closingOrder(vocab: string[], type: string, stopIds: number[]): number[] {
  const byChar = new Map<string, number>();
  vocab.forEach((token, id) => {
    const hex = type === 'byte_fallback' ? /^<0x([0-9A-Fa-f]{2})>$/.exec(token) : null;
    const ch = hex ? String.fromCharCode(parseInt(hex[1]!, 16)) : token;
    if (ch.length === 1 && ch >= '!' && ch <= '~' && (!byChar.has(ch) || !hex)) byChar.set(ch, id);
  });
  const order = [...stopIds];
  for (const ch of CLOSING_CHARS) if (byChar.has(ch)) order.push(byChar.get(ch)!);
  // Then punctuation before digits before letters: a pattern's repeated class ([a-z]+, \d+) is left
  // for the separator or terminator after it as soon as the grammar allows one.
  const rank = (ch: string) => (/[0-9]/.test(ch) ? 1 : /[A-Za-z]/.test(ch) ? 2 : 0);
  const rest = [...byChar].filter(([ch]) => !CLOSING_CHARS.includes(ch));
  rest.sort((a, b) => rank(a[0]) - rank(b[0]) || a[1] - b[1]);
  for (const [, id] of rest) order.push(id);
  return order;
}

/** A vocabulary as xgrammar reads it: token strings by id, how they encode bytes, a leading space. */
export interface GrammarVocabulary {
  vocab: string[];
  /** 'byte_fallback' (SentencePiece: "▁", "<0x41>"), 'byte_level' (GPT-2 alphabet) or 'raw'. */
  type: string;
  prependSpace: boolean;
}

/** What closing an output needs of the vocabulary (see GrammarConstraint). */
export interface ClosingTokens {
  /** closingOrder() */
  order: number[];
  /** decodedVocab() */
  texts: string[];
  /** tokensByFirstChar() */
  byFirstChar: Map<string, number[]>;
}

export class ModelGrammars {
  private readonly cache = new Map<string, CompiledGrammar>();

  private constructor(
    private readonly compiler: GrammarCompiler,
    private readonly info: TokenizerInfo,
    /** Words of one token bitmask. */
    readonly maskWords: number,
    /** How a constrained output closes in its last tokens (GrammarConstraint). */
    readonly closing: ClosingTokens,
  ) {}

  /** Reads modelDir/tokenizer.json; vocabSize is the model's (logit rows), stopIds its EOS ids. */
  static async load(
    modelDir: string,
    vocabSize: number,
    stopIds: number[],
  ): Promise<ModelGrammars> {
    const tj = JSON.parse(readFileSync(join(modelDir, 'tokenizer.json'), 'utf8')) as TokenizerJson;
    return ModelGrammars.fromVocabulary({ ...vocabType(tj), vocab: vocabStrings(tj, vocabSize) }, vocabSize, stopIds);
  }

  /** From the token strings themselves (a GGUF's tokenizer.ggml.tokens), read as `type` says. */
  static async fromVocabulary(
    { vocab, type, prependSpace }: GrammarVocabulary,
    vocabSize: number,
    stopIds: number[],
  ): Promise<ModelGrammars> {
    const xg = xgrammar();
    const info = await xgrammarCall(() =>
      xg.TokenizerInfo.createTokenizerInfo(vocab, type, prependSpace, vocabSize, stopIds),
    );
    const compiler = await xgrammarCall(() => xg.GrammarCompiler.createGrammarCompiler(info));
    const texts = decodedVocab(vocab, type);
    return new ModelGrammars(compiler, info, Math.ceil(vocabSize / 32), {
      order: closingOrder(vocab, type, stopIds),
      texts,
      byFirstChar: tokensByFirstChar(texts),
    });
  }

  /** The compiled grammar for a request's constraint; a grammar xgrammar refuses is a 400 on its field. */
  async compile(spec: GrammarSpec): Promise<CompiledGrammar> {
    if (spec.kind === 'json_schema') checkJsonSchema(spec.schema, spec.param);
    const key = JSON.stringify(
      spec.kind === 'json_schema' ? [spec.kind, spec.schema] : [spec.kind, specText(spec)],
    );
    const hit = this.cache.get(key);
    if (hit) {
      this.cache.delete(key); // most recently used last
      this.cache.set(key, hit);
      return hit;
    }
    let compiled: CompiledGrammar;
    try {
      compiled = await xgrammarCall(() => this.compileUncached(spec));
    } catch (err) {
      if (err instanceof GrammarError)
        throw badRequest(
          `${spec.param}: ${describe(spec)} is not usable: ${err.message}`,
          spec.param,
        );
      throw err;
    }
    this.cache.set(key, compiled);
    if (this.cache.size > CACHE_SIZE) {
      const [oldest, grammar] = this.cache.entries().next().value!;
      this.cache.delete(oldest);
      grammar.dispose();
    }
    return compiled;
  }

  private compileUncached(spec: GrammarSpec): Promise<CompiledGrammar> {
    switch (spec.kind) {
      case 'json_schema':
        // Compact JSON (no free whitespace): a model cannot wander in whitespace, and any JSON
        // parser reads it. strict: only the properties the schema names.
        return this.compiler.compileJSONSchema(
          JSON.stringify(spec.schema),
          false,
          -1,
          [',', ':'],
          true,
        );
      case 'regex':
        return this.compiler.compileStructuralTag({
          type: 'structural_tag',
          format: { type: 'regex', pattern: spec.pattern },
        });
      case 'choice':
        return this.compiler.compileGrammar(choiceGrammar(spec.choices));
      case 'ebnf':
        return this.compiler.compileGrammar(spec.grammar);
    }
  }

  dispose(): void {
    for (const g of this.cache.values()) g.dispose();
    this.cache.clear();
    this.compiler.dispose();
    this.info.dispose();
  }
}

function specText(spec: GrammarSpec): string {
  switch (spec.kind) {
    case 'regex':
      return spec.pattern;
    case 'choice':
      return JSON.stringify(spec.choices);
    case 'ebnf':
      return spec.grammar;
    case 'json_schema':
      return JSON.stringify(spec.schema);
  }
}

function describe(spec: GrammarSpec): string {
  switch (spec.kind) {
    case 'json_schema':
      return 'the JSON schema';
    case 'regex':
      return 'the regular expression';
    case 'choice':
      return 'the choice list';
    case 'ebnf':
      return 'the grammar';
  }
}
