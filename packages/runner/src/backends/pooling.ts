// The builtin engine's pooling backend: an embedding or rerank checkpoint in this process
// (packages/engine's PoolingEngine, packages/tokenizer's encodeInput). It answers the pooling
// routes; generation routes get a 400 naming the routes it serves.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EngineOptions, PoolingEngine } from '@pagoda/engine';
import type {
  ChatCompletionChunk,
  CompletionChunk,
  DetokenizeRequest,
  DetokenizeResponse,
  TokenizeRequest,
  TokenizeResponse,
} from '@pagoda/protocol';
import { Tokenizer } from '@pagoda/tokenizer';
import type { Logger } from 'pino';
import { ApiError, badRequest } from '../api-error.ts';
import type { Backend, BackendInfo, BackendStats, PoolingService, PoolingTokens } from '../backend.ts';
import { resolveModelPath } from '../model-path.ts';
import type { ServeOptions } from '../serve-options.ts';
import { BackendLifecycle } from './backend-lifecycle.ts';
import { baseEngineOptions, definedOptions } from './engine-options.ts';
import { PoolingBatcher } from './pooling-batcher.ts';
import { checkTokenIds } from './request-params.ts';

/** Architectures the builtin engine serves as embedding or rerank models. */
export const POOLING_ARCHITECTURES: Record<string, 'embed' | 'score'> = {
  BertModel: 'embed',
  XLMRobertaModel: 'embed',
  Qwen3Model: 'embed',
  BertForSequenceClassification: 'score',
  XLMRobertaForSequenceClassification: 'score',
};

/** The pooling task config.json's architecture implies, or null for a generative model. */
export function poolingTaskOf(modelPath: string): 'embed' | 'score' | null {
  try {
    const file = modelPath.endsWith('.json') ? modelPath : join(modelPath, 'config.json');
    const config = JSON.parse(readFileSync(file, 'utf8')) as { architectures?: unknown };
    const arch = Array.isArray(config.architectures) ? config.architectures[0] : undefined;
    return typeof arch === 'string' ? (POOLING_ARCHITECTURES[arch] ?? null) : null;
  } catch {
    return null; // the generative backend reports a missing or bad config.json itself
  }
}

function readMatryoshka(dir: string): readonly number[] | 'any' | null {
  try {
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as {
      is_matryoshka?: unknown;
      matryoshka_dimensions?: unknown;
    };
    if (Array.isArray(config.matryoshka_dimensions)) return config.matryoshka_dimensions.filter((d) => typeof d === 'number');
    return config.is_matryoshka === true ? 'any' : null;
  } catch {
    return null;
  }
}

export type PoolingEngineLoader = (options: EngineOptions) => Promise<PoolingEngine>;

const loadRealPoolingEngine: PoolingEngineLoader = async (options) => {
  const { PoolingEngine: Engine } = await import('@pagoda/engine');
  return Engine.load(options);
};

export class PoolingBackend extends BackendLifecycle implements Backend, PoolingService {
  readonly kind = 'builtin' as const;
  private engine: PoolingEngine | null = null;
  private tokenizer: Tokenizer | null = null;
  private vocabSize = 0;
  task: 'embed' | 'score' = 'embed';
  maxInputTokens = 0;
  dimensions = 0;
  normalized = false;
  matryoshkaDimensions: readonly number[] | 'any' | null = null;

  constructor(
    private readonly opts: ServeOptions,
    private readonly log: Logger,
    private readonly loadEngine: PoolingEngineLoader = loadRealPoolingEngine,
  ) {
    super();
  }

  get pooling(): PoolingService | undefined {
    return this.current === 'ready' ? this : undefined;
  }

  info(): BackendInfo {
    return { root: this.opts.model, max_model_len: this.maxInputTokens || null };
  }

  async load(): Promise<void> {
    try {
      const o = this.opts;
      const model = resolveModelPath(o.model);
      const dir = model.endsWith('.json') ? join(model, '..') : model;
      this.tokenizer = Tokenizer.fromDir(dir);
      this.vocabSize = this.tokenizer.vocabSize;
      this.engine = await this.loadEngine(definedOptions(baseEngineOptions(o, model)));
      const info = this.engine.info;
      this.task = info.task;
      this.maxInputTokens = info.max_input_tokens;
      this.dimensions = info.hidden_size;
      this.normalized = info.normalize;
      this.matryoshkaDimensions = readMatryoshka(dir);
      this.current = 'ready';
      this.log.info(
        { architecture: info.architecture, task: info.task, pooling: info.pooling, device: info.device },
        'pooling model loaded',
      );
    } catch (err) {
      this.fail((err as Error).message);
      throw err;
    }
  }

  private ready(): { engine: PoolingEngine; tokenizer: Tokenizer } {
    if (!this.engine || !this.tokenizer) throw new ApiError(503, 'the model is not loaded');
    return { engine: this.engine, tokenizer: this.tokenizer };
  }

  private generationRefused(route: string): never {
    const serves = this.task === 'embed' ? '/v1/embeddings and /score' : '/v1/rerank and /score';
    throw badRequest(
      `this model is ${this.task === 'embed' ? 'an embedding' : 'a rerank'} model: it serves ${serves}, not ${route}`,
      'model',
    );
  }

  // Generators so the refusal surfaces before the first chunk, as the generation routes expect.
  // eslint-disable-next-line require-yield
  async *chat(): AsyncIterable<ChatCompletionChunk> {
    this.generationRefused('/v1/chat/completions');
  }
  // eslint-disable-next-line require-yield
  async *completions(): AsyncIterable<CompletionChunk> {
    this.generationRefused('/v1/completions');
  }

  encodeInput(text: string, pair: string | null, limit: number | null): PoolingTokens {
    const { tokenizer } = this.ready();
    const input = tokenizer.encodeInput(text, pair, {
      maxLength: limit ?? this.maxInputTokens,
      truncate: limit !== null,
    });
    return { ids: input.ids, typeIds: input.typeIds };
  }

  // Concurrent requests share engine calls (and so forwards): see pooling-batcher.ts.
  private readonly embedBatcher = new PoolingBatcher<PoolingTokens, Float32Array>((inputs) => {
    const { engine } = this.ready();
    return engine.embed(inputs.map((i) => ({ token_ids: i.ids, token_type_ids: i.typeIds })));
  });
  private readonly scoreBatcher = new PoolingBatcher<PoolingTokens, number>((inputs) => {
    const { engine } = this.ready();
    return engine.score(inputs.map((i) => ({ token_ids: i.ids, token_type_ids: i.typeIds })));
  });

  /** Engine calls made for embed and score requests so far (fewer than requests when they overlap). */
  get engineCalls(): number {
    return this.embedBatcher.calls + this.scoreBatcher.calls;
  }

  async embed(inputs: PoolingTokens[]): Promise<Float32Array[]> {
    this.ready();
    return this.call(() => this.embedBatcher.run(inputs));
  }

  async score(inputs: PoolingTokens[]): Promise<number[]> {
    this.ready();
    return this.call(() => this.scoreBatcher.run(inputs));
  }

  private async call<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      // The engine refuses what a client sent (ids, lengths) with a message that names it.
      if ((err as Error).name === 'InvalidRequestError') throw badRequest((err as Error).message, 'input');
      throw err;
    }
  }

  async tokenize(req: TokenizeRequest): Promise<TokenizeResponse> {
    const { tokenizer } = this.ready();
    if (req.prompt === undefined) throw badRequest('this model takes a prompt, not chat messages', 'messages');
    const tokens =
      req.add_special_tokens === false ? tokenizer.encode(req.prompt, { addSpecialTokens: false }) : tokenizer.encodeInput(req.prompt).ids;
    return { count: tokens.length, max_model_len: this.maxInputTokens, tokens };
  }

  async detokenize(req: DetokenizeRequest): Promise<DetokenizeResponse> {
    const { tokenizer } = this.ready();
    checkTokenIds(req.tokens, this.vocabSize, 'tokens');
    return { prompt: tokenizer.decode(req.tokens) };
  }

  async stats(): Promise<BackendStats | null> {
    return null;
  }

  async shutdown(): Promise<void> {
    this.current = 'stopped';
    this.engine?.close();
    this.engine = null;
  }
}
