// Embedding models the builtin engine runs (BERT / XLM-R encoders, Qwen3 as an embedder), with their
// published shapes: dimensions = hidden size, max_tokens = the position table's reach.
import type { ArchNumbersInput, SupportedArchitecture } from '../architecture.ts';
import type { ModelFamilyInput } from '../family.ts';
import { checkpoint } from './specs.ts';

function encoder(
  architecture: SupportedArchitecture,
  layers: number,
  hidden: number,
  heads: number,
  vocab: number,
  maxPosition: number,
): ArchNumbersInput {
  return {
    architecture,
    num_hidden_layers: layers,
    hidden_size: hidden,
    num_attention_heads: heads,
    num_key_value_heads: heads,
    head_dim: hidden / heads,
    intermediate_size: 4 * hidden,
    vocab_size: vocab,
    max_position_embeddings: maxPosition,
    tie_word_embeddings: true,
    dtype: 'float32',
  };
}

const BERT_VOCAB = 30_522;
const XLMR_VOCAB = 250_002;

/** The published facts of one embedding or rerank model. */
interface RetrievalModel {
  name: string;
  repo: string;
  size: number;
  arch: ArchNumbersInput;
  maxTokens: number;
  description: string;
  lang: string[];
}

/** A retrieval model's family: one unquantized checkpoint; generating nothing, it has no stops. */
function retrievalFamily(type: 'embedding' | 'rerank', m: RetrievalModel): ModelFamilyInput {
  return {
    model_name: m.name,
    model_type: type,
    model_family: m.name,
    model_description: m.description,
    model_lang: m.lang,
    model_ability: [type === 'embedding' ? 'embed' : 'rerank'],
    context_length: m.maxTokens,
    max_tokens: m.maxTokens,
    chat_template: null,
    stop: [],
    stop_token_ids: [],
    model_specs: [checkpoint(m.size, m.repo, m.arch)],
  };
}

function embedding(
  name: string,
  repo: string,
  size: number,
  arch: ArchNumbersInput,
  maxTokens: number,
  description: string,
  lang: string[] = ['en'],
): ModelFamilyInput {
  const model = { name, repo, size, arch, maxTokens, description, lang };
  return { ...retrievalFamily('embedding', model), dimensions: arch.hidden_size };
}

export const EMBEDDING_FAMILIES: ModelFamilyInput[] = [
  embedding('bge-m3', 'BAAI/bge-m3', 0.568, encoder('XLMRobertaModel', 24, 1024, 16, XLMR_VOCAB, 8194), 8192,
    'BGE-M3: multilingual dense retrieval over 100+ languages, inputs up to 8192 tokens (CLS pooling, normalized).', ['en', 'zh', 'multilingual']),
  embedding('bge-large-en-v1.5', 'BAAI/bge-large-en-v1.5', 0.335, encoder('BertModel', 24, 1024, 16, BERT_VOCAB, 512), 512,
    'BGE large English v1.5 (CLS pooling, normalized).'),
  embedding('bge-base-en-v1.5', 'BAAI/bge-base-en-v1.5', 0.109, encoder('BertModel', 12, 768, 12, BERT_VOCAB, 512), 512,
    'BGE base English v1.5 (CLS pooling, normalized).'),
  embedding('bge-small-en-v1.5', 'BAAI/bge-small-en-v1.5', 0.033, encoder('BertModel', 12, 384, 12, BERT_VOCAB, 512), 512,
    'BGE small English v1.5 (CLS pooling, normalized).'),
  embedding('gte-large', 'thenlper/gte-large', 0.335, encoder('BertModel', 24, 1024, 16, BERT_VOCAB, 512), 512,
    'GTE large: general text embeddings (mean pooling).'),
  embedding('gte-base', 'thenlper/gte-base', 0.109, encoder('BertModel', 12, 768, 12, BERT_VOCAB, 512), 512,
    'GTE base: general text embeddings (mean pooling).'),
  embedding('e5-large-v2', 'intfloat/e5-large-v2', 0.335, encoder('BertModel', 24, 1024, 16, BERT_VOCAB, 512), 512,
    "E5 large v2 (mean pooling; prefix inputs with 'query: ' or 'passage: ')."),
  embedding('multilingual-e5-large', 'intfloat/multilingual-e5-large', 0.56, encoder('XLMRobertaModel', 24, 1024, 16, XLMR_VOCAB, 514), 512,
    "Multilingual E5 large (mean pooling; prefix inputs with 'query: ' or 'passage: ').", ['en', 'zh', 'multilingual']),
  embedding(
    'Qwen3-Embedding-0.6B',
    'Qwen/Qwen3-Embedding-0.6B',
    0.6,
    {
      architecture: 'Qwen3Model',
      num_hidden_layers: 28,
      hidden_size: 1024,
      num_attention_heads: 16,
      num_key_value_heads: 8,
      head_dim: 128,
      intermediate_size: 3072,
      vocab_size: 151_669,
      max_position_embeddings: 32_768,
      tie_word_embeddings: true,
      dtype: 'bfloat16',
      qk_norm: true,
    },
    32_768,
    'Qwen3-Embedding 0.6B: a decoder used as an embedder (last-token pooling, normalized), 100+ languages.',
    ['en', 'zh', 'multilingual'],
  ),
];

function reranker(name: string, repo: string, size: number, arch: ArchNumbersInput, maxTokens: number, description: string, lang: string[]): ModelFamilyInput {
  return retrievalFamily('rerank', { name, repo, size, arch, maxTokens, description, lang });
}

export const RERANK_FAMILIES: ModelFamilyInput[] = [
  reranker('bge-reranker-v2-m3', 'BAAI/bge-reranker-v2-m3', 0.568,
    encoder('XLMRobertaForSequenceClassification', 24, 1024, 16, XLMR_VOCAB, 8194), 8192,
    'BGE reranker v2 M3: multilingual cross-encoder on bge-m3 (sigmoid of one logit).', ['en', 'zh', 'multilingual']),
  reranker('bge-reranker-large', 'BAAI/bge-reranker-large', 0.56,
    encoder('XLMRobertaForSequenceClassification', 24, 1024, 16, XLMR_VOCAB, 514), 512,
    'BGE reranker large: English and Chinese cross-encoder.', ['en', 'zh']),
  reranker('bge-reranker-base', 'BAAI/bge-reranker-base', 0.278,
    encoder('XLMRobertaForSequenceClassification', 12, 768, 12, XLMR_VOCAB, 514), 512,
    'BGE reranker base: English and Chinese cross-encoder.', ['en', 'zh']),
  reranker('ms-marco-MiniLM-L-6-v2', 'cross-encoder/ms-marco-MiniLM-L-6-v2', 0.023,
    { ...encoder('BertForSequenceClassification', 6, 384, 12, BERT_VOCAB, 512), intermediate_size: 1536 }, 512,
    'MS MARCO MiniLM-L-6 cross-encoder for passage reranking.', ['en']),
];
