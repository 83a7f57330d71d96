// Applies on load what transformers 5 does when it builds a tokenizer class from tokenizer.json, so our
// ids equal what a transformers (and vLLM) user gets. Only LlamaTokenizer's SentencePiece rebuild so far.
import type { TokenizerConfig, TokenizerJson } from './model-files.ts';

const LLAMA_CLASSES = new Set(['LlamaTokenizer', 'LlamaTokenizerFast', 'CodeLlamaTokenizer', 'CodeLlamaTokenizerFast']);
const METASPACE = '\u2581';

/** True for a SentencePiece-style tokenizer.json (spaces spelled '▁'); byte-level ones must not be rebuilt. */
function usesMetaspace(json: TokenizerJson): boolean {
  const text = JSON.stringify([json.normalizer, json.pre_tokenizer, json.decoder]);
  return text.includes(METASPACE) || text.includes('Metaspace');
}

/**
 * transformers 5's LlamaTokenizer keeps only vocab and merges of tokenizer.json and sets: no normalizer,
 * a Metaspace pre-tokenizer (prepend '▁' unless the piece starts with one: "always" when legacy, else
 * only the first piece), and the matching decoder. Older tokenizer.json files instead carry a normalizer
 * that prepends '▁' unconditionally, so " " would become two '▁' tokens instead of one.
 */
export function applyTransformersRebuild(json: TokenizerJson, config: TokenizerConfig): TokenizerJson {
  const tokenizerClass = typeof config.tokenizer_class === 'string' ? config.tokenizer_class : '';
  if (!LLAMA_CLASSES.has(tokenizerClass) || json.model.type !== 'BPE' || !usesMetaspace(json)) return json;

  const addPrefixSpace = typeof config.add_prefix_space === 'boolean' ? config.add_prefix_space : true;
  const legacy = typeof config.legacy === 'boolean' ? config.legacy : false;
  const prependScheme = !addPrefixSpace ? 'never' : legacy ? 'always' : 'first';

  const decoders: object[] = [
    { type: 'Replace', pattern: { String: METASPACE }, content: ' ' },
    { type: 'ByteFallback' },
    { type: 'Fuse' },
  ];
  if (addPrefixSpace) decoders.push({ type: 'Strip', content: ' ', start: 1, stop: 0 });

  return {
    ...json,
    normalizer: null,
    pre_tokenizer: { type: 'Metaspace', replacement: METASPACE, prepend_scheme: prependScheme, split: false },
    decoder: { type: 'Sequence', decoders },
  };
}
