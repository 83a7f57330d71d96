// The builtin backend: Pagoda's own engine (packages/engine) and tokenizer (packages/tokenizer) in this
// process. Turns OpenAI requests into engine requests and engine deltas into OpenAI chunks.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EngineOptions, EngineStats, ModelInfo } from '@pagoda/engine';
import {
  stopList,
  type ChatCompletionChunk,
  type ChatCompletionRequest,
  type ChatMessage,
  type CompletionChunk,
  type CompletionRequest,
  type DetokenizeRequest,
  type DetokenizeResponse,
  type TokenizeRequest,
  type TokenizeResponse,
  type Usage,
  type StreamOptions,
} from '@pagoda/protocol';
import { BackgroundEncoder, Tokenizer, type TextTokenizer } from '@pagoda/tokenizer';
import type { Logger } from 'pino';
import { ApiError, badRequest } from '../api-error.ts';
import type {
  Backend,
  BackendInfo,
  BackendStats,
  GenerateContext,
} from '../backend.ts';
import { resolveModelPath } from '../model-path.ts';
import type { ServeOptions } from '../serve-options.ts';
import { BackendLifecycle } from './backend-lifecycle.ts';
import { generationDefaults, type GenerationDefaults } from './generation-defaults.ts';
import { TokenFilter, tokenFilterSpec, type TokenFilterSpec } from './token-filter.ts';
import {
  chatLogprobs,
  completionLogprobs,
  echoedCompletionLogprobs,
  promptLogprobsOf,
} from './logprobs-format.ts';
import { ChunkStream, DeferredStream } from './chunk-stream.ts';
import { baseEngineOptions, definedOptions } from './engine-options.ts';
import { backendStatsOf } from './engine-stats.ts';
import {
  PromptSet,
  type EngineLike,
  type OutputEvent,
  type PromptRun,
  type PromptUsage,
} from './prompt-outputs.ts';
import {
  chatMaxTokens,
  checkTokenIds,
  resolveMaxTokens,
  samplingParams,
  truncatePrompt,
} from './request-params.ts';
import { TOKEN_ID_NAMES, TokenTexts, type TokenNames } from './token-text.ts';
import { ChatOutput, type ChatDeltaParts } from '../structured/chat-output.ts';
import { GrammarConstraint } from '../structured/grammar-constraint.ts';
import { ModelGrammars } from '../structured/grammar-compiler.ts';
import { grammarSpec, type GrammarSpec } from '../structured/grammar-spec.ts';
import { toolPlan } from '../structured/tool-choice.ts';

/** The fix for a chat request to a model without a chat template, where `pagoda serve` runs alone. */
const STANDALONE_CHAT_TEMPLATE_ADVICE =
  "start the server with --chat-template <file or text>, pass 'chat_template' in the request, or use /v1/completions";

/** The fields every chunk of one response repeats. */
interface ChunkHeader<O extends string> {
  id: string;
  object: O;
  created: number;
  model: string;
}

/** The last chunk of a stream: no choices, the token counts. */
type UsageChunk<O extends string> = ChunkHeader<O> & { choices: never[]; usage: Usage };

/** What the backend uses of packages/engine's Engine. */
export interface EngineHandle extends EngineLike {
  stats(): EngineStats | Promise<EngineStats>;
  /** EOS ids for the grammar compiler's stop tokens (absent in test doubles: config.json's are used). */
  modelInfo?(): ModelInfo;
  close(): void | Promise<void>;
}

/** What open() hands to the OpenAI layer. */
export interface OpenedModel {
  engine: EngineHandle;
  tokenizer: TextTokenizer;
  /** Encodes long prompts off the event loop (tokenizer.json models); without one, encoding runs inline. */
  encoder?: BackgroundEncoder;
  /** The checkpoint folder (tokenizer.json, config.json) where there is one: grammars are compiled from it. */
  dir?: string;
  vocabSize: number;
}

export type EngineLoader = (options: EngineOptions) => Promise<EngineHandle>;

/** packages/engine, imported on first use so other backends never load the native addon. */
const loadRealEngine: EngineLoader = async (options) => {
  const { Engine } = (await import('@pagoda/engine')) as unknown as {
    Engine: { load(options: EngineOptions): Promise<EngineHandle> };
  };
  return Engine.load(options);
};

const now = () => Math.floor(Date.now() / 1000);

export class BuiltinBackend extends BackendLifecycle implements Backend {
  readonly kind: Backend['kind'] = 'builtin';
  private engine: EngineHandle | null = null;
  private tokenizer: TextTokenizer | null = null;
  /** Encodes long prompts off the event loop, so one large prompt does not stall every other stream. */
  private encoder: BackgroundEncoder | null = null;
  private texts: TokenTexts | null = null;
  private chatTemplate: string | undefined;
  private maxModelLen = 0;
  private vocabSize = 0;
  private modelDir = '';
  private grammars: Promise<ModelGrammars> | null = null;
  /** What a request that leaves a sampling field out gets (vLLM's --generation-config). */
  private defaults: GenerationDefaults = {};

  constructor(
    protected readonly opts: ServeOptions,
    protected readonly log: Logger,
    private readonly loadEngine: EngineLoader = loadRealEngine,
  ) {
    super();
  }

  info(): BackendInfo {
    return { root: this.opts.model, max_model_len: this.maxModelLen || null };
  }

  async load(): Promise<void> {
    try {
      const opened = await this.open();
      this.engine = opened.engine;
      this.tokenizer = opened.tokenizer;
      this.encoder = opened.encoder ?? null;
      this.texts = new TokenTexts(opened.tokenizer);
      this.vocabSize = opened.vocabSize;
      this.modelDir = opened.dir ?? '';
      const o = this.opts;
      this.defaults = generationDefaults(o.generation_config, opened.dir ?? null, o.override_generation_config);
      if (Object.keys(this.defaults).length > 0)
        this.log.info({ defaults: this.defaults }, "default sampling parameters from the model's generation config");
      if (o.chat_template !== undefined)
        this.chatTemplate = existsSync(o.chat_template)
          ? readFileSync(o.chat_template, 'utf8')
          : o.chat_template;
      this.maxModelLen = (await this.engine.stats()).max_model_len;
      this.current = 'ready';
    } catch (err) {
      this.fail((err as Error).message);
      throw err;
    }
  }

  /** Loads the tokenizer and the engine; other in-process engines (llama.cpp) override this. */
  protected async open(): Promise<OpenedModel> {
    const o = this.opts;
    const model = resolveModelPath(o.model);
    const dir = model.endsWith('.json') ? join(model, '..') : model;
    const tokenizer = Tokenizer.fromDir(dir);
    const encoder = new BackgroundEncoder(tokenizer, dir);
    const options: EngineOptions = {
      ...baseEngineOptions(o, model),
      max_num_seqs: o.max_num_seqs,
      block_size: o.block_size,
      enable_prefix_caching: o.enable_prefix_caching,
      gpu_memory_utilization: o.gpu_memory_utilization,
      enforce_eager: o.enforce_eager,
      quantization: o.quantization,
      tensor_parallel_size: o.tensor_parallel_size,
      kv_cache_dtype: o.kv_cache_dtype,
    };
    try {
      const engine = await this.loadEngine(definedOptions(options));
      return { engine, tokenizer, encoder, dir, vocabSize: readVocabSize(dir) ?? tokenizer.vocabSize };
    } catch (err) {
      await encoder.close();
      throw err;
    }
  }

  /** The engine died (a failed step closes it): /health turns 503 so a supervisor restarts us. */
  private readonly onEngineFailure = (err: Error): void => {
    if (this.current !== 'ready') return;
    this.fail(`the engine failed: ${err.message}`);
    this.log.error({ err: err.message }, 'engine failed');
  };

  private ready(): { engine: EngineHandle; tokenizer: TextTokenizer; texts: TokenTexts } {
    if (!this.engine || !this.tokenizer || !this.texts)
      throw new ApiError(503, 'the model is not loaded');
    return { engine: this.engine, tokenizer: this.tokenizer, texts: this.texts };
  }

  // ---- completions ----

  completions(req: CompletionRequest, ctx: GenerateContext): AsyncIterable<CompletionChunk> {
    return new DeferredStream(() => this.startCompletions(req, ctx));
  }

  private async startCompletions(
    req: CompletionRequest,
    ctx: GenerateContext,
  ): Promise<AsyncIterable<CompletionChunk>> {
    const texts = tokenNames(req, this.ready().texts);
    // Everything that can be refused is checked here, before the stream starts.
    const topK = req.logprobs ?? null;
    const spec = grammarSpec(req);
    const prompts = await this.completionPrompts(req, ctx.signal);
    const runs = prompts.map(({ ids }) => this.promptRun(req, ids, req.max_tokens, 'prompt', topK));
    // echo with logprobs: the engine scores the prompt too, and the echo comes with the first tokens
    const scoredEcho = req.echo === true && topK !== null;
    const promptK = promptLogprobsAsked(req);
    scorePrompts(runs, Math.max(scoredEcho ? topK : -1, promptK ?? -1));
    await this.constrain(spec, runs, tokenFilterSpec(req, this.ready().tokenizer, this.vocabSize));
    const n = req.n ?? 1;
    return this.chunkStream(ctx, 'text_completion', runs, req.stream_options, (base) => {
      const offsets = new Map<number, number>();
      const leading: CompletionChunk[] = [];
      if (req.echo && !scoredEcho) {
        for (const [p, prompt] of prompts.entries()) {
          for (let i = 0; i < n; i++) {
            offsets.set(p * n + i, prompt.text.length);
            leading.push({
              ...base,
              choices: [
                { index: p * n + i, text: prompt.text, logprobs: null, finish_reason: null },
              ],
            });
          }
        }
      }
      const idsSent = new Set<number>();
      const toChunk = (e: OutputEvent): CompletionChunk => {
        let logprobs = null;
        let echoed = '';
        const prompt = prompts[Math.floor(e.index / n)]!;
        if (topK !== null) {
          const echoNow = scoredEcho && e.promptLogprobs !== undefined;
          const formatted = echoNow
            ? echoedCompletionLogprobs(prompt.ids, e.promptLogprobs!, e.logprobs, texts, topK)
            : completionLogprobs(e.logprobs, texts, topK, offsets.get(e.index) ?? 0);
          if (echoNow) echoed = prompt.text;
          offsets.set(e.index, formatted.next);
          logprobs = formatted.logprobs;
        }
        return {
          ...base,
          choices: [
            {
              index: e.index,
              text: echoed + e.text,
              logprobs,
              finish_reason: e.finish_reason,
              stop_reason: e.stop_reason,
              ...(promptK !== null && e.promptLogprobs
                ? { prompt_logprobs: promptLogprobsOf(prompt.ids, e.promptLogprobs, texts, promptK) }
                : {}),
              ...(req.return_token_ids ? tokenIdsOf(e, prompt.ids, idsSent) : {}),
            },
          ],
        };
      };
      return { leading, toChunk };
    });
  }

  /**
   * Compiles the request's grammar (a 400 on the field that asked for it if it does not compile;
   * `extraChecks` are compiled only to refuse a bad one) and gives each run its constraint.
   */
  private async constrain(
    spec: GrammarSpec | null,
    runs: PromptRun[],
    filter: TokenFilterSpec | null,
    extraChecks: GrammarSpec[] = [],
  ): Promise<void> {
    if (spec || extraChecks.length > 0) {
      const grammars = await this.modelGrammars();
      for (const check of extraChecks) await grammars.compile(check);
      if (spec) {
        const compiled = await grammars.compile(spec);
        for (const run of runs) {
          const maxTokens = run.params.max_tokens ?? this.maxModelLen - run.promptIds.length;
          run.constraint = new GrammarConstraint(compiled, maxTokens, grammars.closing);
        }
      }
    }
    // allowed_token_ids / bad_words: their mask, and the grammar's too where there is one
    if (filter) for (const run of runs) run.constraint = new TokenFilter(filter, this.vocabSize, run.constraint);
    for (const run of runs) if (run.constraint) run.params = { ...run.params, constrained: true };
  }

  private modelGrammars(): Promise<ModelGrammars> {
    if (!this.grammars) {
      this.grammars = this.loadGrammars(this.vocabSize);
      this.grammars.catch(() => (this.grammars = null));
    }
    return this.grammars;
  }

  /** The grammar compiler over this model's vocabulary: the checkpoint's tokenizer.json. */
  protected loadGrammars(vocabSize: number): Promise<ModelGrammars> {
    const eos = this.engine?.modelInfo?.().eos_token_ids ?? readEosIds(this.modelDir);
    return ModelGrammars.load(this.modelDir, vocabSize, eos);
  }

  /** The prompts as token ids, and as text where echo needs it (decoding every prompt costs per request). */
  private async completionPrompts(
    req: CompletionRequest,
    signal: AbortSignal,
  ): Promise<Array<{ ids: number[]; text: string }>> {
    const { tokenizer } = this.ready();
    const addSpecial = req.add_special_tokens ?? true;
    const p = req.prompt;
    const list: Array<string | number[]> =
      typeof p === 'string'
        ? [p]
        : typeof p[0] === 'number'
          ? [p as number[]]
          : (p as Array<string | number[]>);
    const keep = req.truncate_prompt_tokens ?? null;
    // A prompt to be truncated may be longer than the context: only its last tokens count.
    if (keep === null)
      for (const item of list) if (typeof item === 'string') this.checkFits(item, 'prompt');
    const prompts: Array<{ ids: number[]; text: string }> = [];
    for (const item of list) {
      if (typeof item === 'string') {
        const ids = await this.encode(item, addSpecial, signal);
        if (ids.length === 0)
          throw badRequest('the prompt is empty; give at least one token', 'prompt');
        const kept = truncatePrompt(ids, keep, this.maxModelLen);
        prompts.push({ ids: kept, text: kept === ids ? item : req.echo ? tokenizer.decode(kept) : '' });
        continue;
      }
      checkTokenIds(item, this.vocabSize, 'prompt');
      const kept = truncatePrompt(item, keep, this.maxModelLen);
      prompts.push({ ids: kept, text: req.echo ? tokenizer.decode(kept) : '' });
    }
    return prompts;
  }

  /** Encodes (long texts on the worker thread); a client that left meanwhile ends the request here. */
  private async encode(
    text: string,
    addSpecialTokens: boolean,
    signal: AbortSignal,
  ): Promise<number[]> {
    const { tokenizer } = this.ready();
    const ids = this.encoder
      ? await this.encoder.encode(text, { addSpecialTokens })
      : tokenizer.encode(text, { addSpecialTokens });
    if (signal.aborted)
      throw new ApiError(499, 'the client closed the request while it was tokenized');
    return ids;
  }

  // ---- chat ----

  chat(req: ChatCompletionRequest, ctx: GenerateContext): AsyncIterable<ChatCompletionChunk> {
    return new DeferredStream(() => this.startChat(req, ctx));
  }

  private async startChat(
    req: ChatCompletionRequest,
    ctx: GenerateContext,
  ): Promise<AsyncIterable<ChatCompletionChunk>> {
    const texts = tokenNames(req, this.ready().texts);
    const tools = toolPlan(req.tools, req.tool_choice, req.parallel_tool_calls, {
      toolCallParser: this.opts.tool_call_parser,
      enableAutoToolChoice: this.opts.enable_auto_tool_choice,
    });
    const structured = grammarSpec(req);
    if (structured && tools.spec)
      throw badRequest(
        `${structured.param} cannot be combined with tool_choice '${tools.mode.kind}': the tool call is the output`,
        structured.param,
      );
    // reasoning_effort and vLLM's documents (passages for RAG templates) reach the template as
    // variables of those names, as in vLLM; chat_template_kwargs win over them
    const kwargs: Record<string, unknown> = {
      ...(req.reasoning_effort ? { reasoning_effort: req.reasoning_effort } : {}),
      ...(req.documents ? { documents: req.documents } : {}),
      ...req.chat_template_kwargs,
    };
    const reasoningParser =
      kwargs?.enable_thinking !== false ? (this.opts.reasoning_parser ?? null) : null;
    const promptIds = await this.chatPromptIds(
      req.messages,
      req.chat_template ?? undefined,
      req.add_generation_prompt ?? true,
      req.add_special_tokens ?? false,
      kwargs,
      ctx.signal,
      req.tools?.length && tools.mode.kind !== 'none' ? req.tools : undefined,
      req.truncate_prompt_tokens,
    );
    const topK = req.logprobs ? (req.top_logprobs ?? 0) : null;
    if (!req.logprobs && req.top_logprobs)
      throw badRequest('top_logprobs needs logprobs: true', 'top_logprobs');
    const run = this.promptRun(req, promptIds, chatMaxTokens(req), 'messages', topK);
    const promptK = promptLogprobsAsked(req);
    scorePrompts([run], promptK ?? -1);
    let promptSent = false;
    const n = req.n ?? 1;
    const echoed = req.echo ? echoText(req.messages) : '';
    await this.constrain(
      structured ?? tools.spec,
      [run],
      tokenFilterSpec(req, this.ready().tokenizer, this.vocabSize),
      tools.parameterSpecs,
    );
    const outputs = Array.from({ length: n }, () => new ChatOutput(tools.mode, reasoningParser));
    const toolCallsFinish = tools.mode.kind === 'auto' || tools.mode.kind === 'required';
    return this.chunkStream(ctx, 'chat.completion.chunk', [run], req.stream_options, (base) => {
      const leading: ChatCompletionChunk[] = Array.from({ length: n }, (_, i) => ({
        ...base,
        ...(req.return_token_ids && i === 0 ? { prompt_token_ids: promptIds } : {}),
        choices: [
          {
            index: i,
            delta: { role: 'assistant' as const, content: echoed },
            logprobs: null,
            finish_reason: null,
          },
        ],
      }));
      const toChunk = (e: OutputEvent): ChatCompletionChunk => {
        const output = outputs[e.index]!;
        let parts = output.push(e.text);
        if (e.finish_reason) parts = mergeParts(parts, output.finish());
        const calledTools = toolCallsFinish && output.calledTools;
        // vLLM answers the templated prompt's logprobs once, beside the choices
        const scored = promptK !== null && e.promptLogprobs && !promptSent;
        if (scored) promptSent = true;
        return {
          ...base,
          ...(scored ? { prompt_logprobs: promptLogprobsOf(promptIds, e.promptLogprobs!, texts, promptK) } : {}),
          choices: [
            {
              index: e.index,
              delta: chatDelta(parts, req.include_reasoning !== false),
              logprobs: topK !== null ? { content: chatLogprobs(e.logprobs, texts, topK) } : null,
              finish_reason:
                e.finish_reason === 'stop' && calledTools ? 'tool_calls' : e.finish_reason,
              stop_reason: e.stop_reason,
              ...(req.return_token_ids ? { token_ids: e.tokenIds } : {}),
            },
          ],
        };
      };
      return { leading, toChunk };
    });
  }

  /** One prompt's engine run: sampling, max tokens fitted to the context, stop strings. */
  private promptRun(
    req: CompletionRequest | ChatCompletionRequest,
    promptIds: number[],
    requestedMaxTokens: number | null | undefined,
    where: 'messages' | 'prompt',
    topK: number | null,
  ): PromptRun {
    return {
      promptIds,
      params: samplingParams(
        req,
        resolveMaxTokens(
          requestedMaxTokens,
          promptIds.length,
          this.maxModelLen,
          where,
          this.defaults.max_tokens,
        ),
        topK,
        this.vocabSize,
        this.defaults,
      ),
      stops: stopList(req.stop),
      includeStop: req.include_stop_str_in_output ?? false,
      skipSpecialTokens: req.skip_special_tokens ?? true,
    };
  }

  /**
   * What completions and chat both stream: the engine runs the prompts, `chunks` gives the leading
   * chunks and one chunk per engine event, and a usage chunk ends it; every chunk carries one header.
   */
  private chunkStream<O extends string, T extends object>(
    ctx: GenerateContext,
    object: O,
    runs: PromptRun[],
    options: StreamOptions,
    chunks: (header: ChunkHeader<O>) => { leading: T[]; toChunk: (e: OutputEvent) => T },
  ): AsyncIterable<T | UsageChunk<O>> {
    const { engine, tokenizer } = this.ready();
    const header: ChunkHeader<O> = { id: ctx.requestId, object, created: now(), model: ctx.model };
    const usage: PromptUsage = { prompt_tokens: 0, completion_tokens: 0, cached_tokens: 0 };
    const set = new PromptSet(engine, tokenizer, runs, ctx.signal, usage, this.onEngineFailure);
    const made = chunks(header);
    // vLLM's continuous_usage_stats: every chunk carries the counts so far (the prompt's from the start).
    const continuous = options?.include_usage === true && options.continuous_usage_stats === true;
    const leading = continuous ? made.leading.map((c) => ({ ...c, usage: toUsage(usage) })) : made.leading;
    const toChunk = continuous ? (e: OutputEvent) => ({ ...made.toChunk(e), usage: toUsage(usage) }) : made.toChunk;
    return new ChunkStream<T | UsageChunk<O>>(leading, set, toChunk, () => ({
      ...header,
      choices: [],
      usage: toUsage(usage),
    }));
  }

  private async chatPromptIds(
    messages: ChatMessage[],
    template: string | undefined,
    addGenerationPrompt: boolean,
    addSpecial: boolean,
    extraVars: Record<string, unknown> | undefined,
    signal: AbortSignal,
    tools?: unknown[],
    truncate?: number | null,
  ): Promise<number[]> {
    const { tokenizer } = this.ready();
    const chosen = template ?? this.chatTemplate;
    if (chosen === undefined && tokenizer.chatTemplate === null) {
      throw badRequest(
        `this model has no chat template: ${this.opts.chat_template_advice ?? STANDALONE_CHAT_TEMPLATE_ADVICE}`,
        'messages',
      );
    }
    let text: string;
    try {
      const msgs = messages.map(templateMessage);
      text = tokenizer.renderChat(msgs, {
        template: chosen,
        addGenerationPrompt,
        extraVars,
        ...(tools ? { tools } : {}),
      });
    } catch (err) {
      throw badRequest(
        `the chat template failed on these messages: ${(err as Error).message}`,
        'messages',
      );
    }
    if (truncate == null) this.checkFits(text, 'messages');
    return truncatePrompt(await this.encode(text, addSpecial, signal), truncate, this.maxModelLen);
  }

  /**
   * Refuses, from its byte length alone, text that has more tokens than the context holds, before the
   * encoding (which costs ~20 µs a byte here) holds the event loop; the bound is sound, never too strict.
   */
  private checkFits(text: string, where: 'messages' | 'prompt'): void {
    const { tokenizer } = this.ready();
    const atLeast = tokenizer.minTokens(text);
    if (atLeast < this.maxModelLen) return;
    throw new ApiError(
      400,
      `This model's maximum context length is ${this.maxModelLen} tokens. However, the ${where} ${where === 'prompt' ? 'is' : 'are'} ${Buffer.byteLength(text)} bytes, which is at least ${atLeast} tokens (one token covers at most ${tokenizer.maxBytesPerToken} bytes). Please reduce the length of the ${where}.`,
      where,
      undefined,
      'context_length_exceeded',
      { params: { max_model_len: this.maxModelLen, prompt_tokens: atLeast, max_tokens: null } },
    );
  }

  // ---- tokenize ----

  async tokenize(req: TokenizeRequest): Promise<TokenizeResponse> {
    this.ready();
    const tokens =
      req.messages !== undefined
        ? await this.chatPromptIds(
            req.messages,
            req.chat_template ?? undefined,
            req.add_generation_prompt ?? true,
            req.add_special_tokens ?? false,
            req.chat_template_kwargs ?? undefined,
            new AbortController().signal,
            req.tools?.length ? req.tools : undefined,
          )
        : await this.encode(
            req.prompt ?? '',
            req.add_special_tokens ?? true,
            new AbortController().signal,
          );
    return { count: tokens.length, max_model_len: this.maxModelLen, tokens };
  }

  async detokenize(req: DetokenizeRequest): Promise<DetokenizeResponse> {
    const { tokenizer } = this.ready();
    checkTokenIds(req.tokens, this.vocabSize, 'tokens');
    return { prompt: tokenizer.decode(req.tokens) };
  }

  async stats(): Promise<BackendStats | null> {
    if (!this.engine) return null;
    return backendStatsOf(await this.engine.stats());
  }

  async shutdown(): Promise<void> {
    this.current = 'stopped';
    const engine = this.engine;
    this.engine = null;
    await this.encoder?.close();
    if (engine) await engine.close();
    const grammars = this.grammars;
    this.grammars = null;
    if (grammars) (await grammars.catch(() => null))?.dispose();
    this.log.info('engine closed');
  }
}

function toUsage(u: PromptUsage): Usage {
  return {
    prompt_tokens: u.prompt_tokens,
    completion_tokens: u.completion_tokens,
    total_tokens: u.prompt_tokens + u.completion_tokens,
    prompt_tokens_details: { cached_tokens: u.cached_tokens },
  };
}

/** return_token_ids on a completions choice: its generated ids, and the prompt's on its first chunk. */
function tokenIdsOf(e: OutputEvent, promptIds: number[], sent: Set<number>): { token_ids: number[]; prompt_token_ids?: number[] } {
  if (sent.has(e.index)) return { token_ids: e.tokenIds };
  sent.add(e.index);
  return { token_ids: e.tokenIds, prompt_token_ids: promptIds };
}

/** How this request's logprobs name tokens: by text, or by id when it asks so. */
function tokenNames(req: CompletionRequest | ChatCompletionRequest, texts: TokenTexts): TokenNames {
  return req.return_tokens_as_token_ids ? TOKEN_ID_NAMES : texts;
}

/** prompt_logprobs as the engine is asked for it: a stream may carry 0, which vLLM drops. */
function promptLogprobsAsked(req: CompletionRequest | ChatCompletionRequest): number | null {
  return req.stream ? null : (req.prompt_logprobs ?? null);
}

/** Has the engine score every prompt token with the `topK` alternatives (nothing when below 0). */
function scorePrompts(runs: PromptRun[], topK: number): void {
  if (topK >= 0) for (const run of runs) run.params = { ...run.params, prompt_logprobs: topK };
}

/** vLLM's chat echo: the content of a final assistant message is repeated at the start of the reply. */
function echoText(messages: ChatMessage[]): string {
  const last = messages[messages.length - 1];
  if (!last || last.role !== 'assistant') return '';
  const c = last.content;
  return typeof c === 'string' ? c : (c ?? []).map((p) => p.text).join('');
}

/**
 * A message as chat templates expect it: OpenAI's 'developer' role as 'system', and an assistant's
 * tool-call arguments as objects (templates write them with tojson), as vLLM passes them.
 */
function templateMessage(message: ChatMessage): Record<string, unknown> {
  // vLLM's newer name for the thinking of an earlier turn; templates read reasoning_content
  const m = message.reasoning != null && message.reasoning_content == null ? { ...message, reasoning_content: message.reasoning } : message;
  const role = m.role === 'developer' ? 'system' : m.role;
  if (!m.tool_calls?.length) return { ...m, role };
  const toolCalls = m.tool_calls.map((c) => {
    let args: unknown = c.function.arguments;
    try {
      args = JSON.parse(c.function.arguments);
    } catch {
      // not JSON: the template gets the text as it came
    }
    return { ...c, function: { ...c.function, arguments: args } };
  });
  return { ...m, role, tool_calls: toolCalls };
}

function mergeParts(a: ChatDeltaParts, b: ChatDeltaParts): ChatDeltaParts {
  return {
    content: a.content + b.content,
    reasoning: a.reasoning + b.reasoning,
    toolCalls: [...a.toolCalls, ...b.toolCalls],
  };
}

/**
 * A chunk's delta: content always (as before), reasoning and tool calls when there are any. The
 * thinking goes out under both of vLLM's names (reasoning_content, and reasoning, its newer one),
 * unless the request asked for none (include_reasoning: false).
 */
function chatDelta(parts: ChatDeltaParts, includeReasoning: boolean): ChatCompletionChunk['choices'][number]['delta'] {
  const delta: ChatCompletionChunk['choices'][number]['delta'] = { content: parts.content };
  if (parts.reasoning && includeReasoning) {
    delta.reasoning_content = parts.reasoning;
    delta.reasoning = parts.reasoning;
  }
  if (parts.toolCalls.length > 0) delta.tool_calls = parts.toolCalls;
  return delta;
}

function readEosIds(dir: string): number[] {
  try {
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as {
      eos_token_id?: number | number[];
    };
    const eos = config.eos_token_id;
    return eos === undefined ? [] : Array.isArray(eos) ? eos : [eos];
  } catch {
    return [];
  }
}

function readVocabSize(dir: string): number | null {
  try {
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as {
      vocab_size?: number;
    };
    return typeof config.vocab_size === 'number' ? config.vocab_size : null;
  } catch {
    return null;
  }
}
