// The llamacpp backend: GGUF models through llama.cpp in this process (node-llama-cpp's prebuilt
// binary), behind the same OpenAI layer as the builtin engine, so chat templates, stop strings,
// streaming, usage and errors behave alike. (--backend-executable still spawns a llama-server.)
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { ggufModelSummary, readGgufHeader } from '@pagoda/gguf';
import type { BackendStats } from '../backend.ts';
import { cpuThreads } from '../serve-options.ts';
import { BuiltinBackend, type OpenedModel } from './builtin.ts';
import { GgufTokenizer, ggufVocabSize } from './gguf-tokenizer.ts';
import { LlamaEngine } from './llama-engine.ts';
import { ApiError } from '../api-error.ts';
import {
  ModelGrammars,
  type GrammarVocabulary,
} from '../structured/grammar-compiler.ts';
import type { Token } from 'node-llama-cpp';
import { UNSUPPORTED } from './llamacpp.ts';

/** llama-server's default context when none is asked for: a long-context GGUF must not fill memory. */
const DEFAULT_CONTEXT = 4096;
/** llama-server's default number of parallel sequences. */
const DEFAULT_SEQUENCES = 4;

export class LlamaCppBackend extends BuiltinBackend {
  override readonly kind = 'llamacpp' as const;
  private llama: LlamaEngine | null = null;
  private vocabulary: GrammarVocabulary | null = null;

  /** Structured output over the GGUF's own vocabulary; its end-of-generation tokens end an output. */
  protected override loadGrammars(vocabSize: number): Promise<ModelGrammars> {
    if (!this.llama || !this.vocabulary) throw new ApiError(503, 'the model is not loaded');
    const { eos, eot } = this.llama.model.tokens;
    const stops = [eos, eot].filter((t): t is Token => t !== null) as number[];
    return ModelGrammars.fromVocabulary(this.vocabulary, vocabSize, stops);
  }

  protected override async open(): Promise<OpenedModel> {
    const o = this.opts;
    const given = UNSUPPORTED.filter(
      ([key]) => o[key] !== undefined && key !== 'enable_prefix_caching',
    ).map(([, flag]) => flag);
    if (given.length > 0)
      throw new Error(
        `the llamacpp backend does not support ${given.join(', ')}; leave ${given.length > 1 ? 'them' : 'it'} out (llama.cpp takes these from the GGUF file or decides them itself)`,
      );
    if (!o.model.toLowerCase().endsWith('.gguf'))
      throw new Error(`the llamacpp backend serves a GGUF file; '${o.model}' is not a .gguf path`);
    if (!existsSync(o.model)) throw new Error(`the GGUF file ${o.model} does not exist`);
    const header = readGgufHeader(o.model);
    const summary = ggufModelSummary(header);
    const maxModelLen = o.max_model_len ?? Math.min(summary.context_length, DEFAULT_CONTEXT);
    if (maxModelLen > summary.context_length)
      throw new Error(
        `--max-model-len ${maxModelLen} exceeds the model's context length (${summary.context_length}, llama.context_length in the GGUF); lower it`,
      );
    const onCpu = o.device === 'cpu';
    this.llama = await LlamaEngine.load({
      modelPath: o.model,
      gpuLayers: onCpu ? 0 : 'max',
      maxModelLen,
      maxNumSeqs: o.max_num_seqs ?? DEFAULT_SEQUENCES,
      batchSize: o.max_num_batched_tokens,
      threads: cpuThreads(o.cpu_threads, availableParallelism()),
      kvCacheType: onCpu ? 'F32' : 'F16',
      seed: o.seed,
      vocabSize: ggufVocabSize(header),
    });
    const tokenizer = new GgufTokenizer(this.llama.model, header);
    this.vocabulary = tokenizer.grammarVocabulary;
    this.log.info(
      { ...summary, chat_template: summary.chat_template !== null, max_model_len: maxModelLen },
      'GGUF model loaded',
    );
    return { engine: this.llama, tokenizer, vocabSize: tokenizer.vocabSize };
  }

  override async stats(): Promise<BackendStats | null> {
    return this.llama?.backendStats() ?? null;
  }
}
