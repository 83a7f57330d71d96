// The stock Xinference Python client (xinference/client/restful/restful_client.py), replayed: each call
// below sends the request the client builds (URL, method, body with its nulls, headers) and makes the
// checks the client makes on the answer (status 200, the fields it reads, `detail` on errors), against
// a server + worker on a GGUF model served by llama.cpp. Register → launch → get_model → chat (stream
// and not) → describe → scale / terminate a replica → terminate → unregister; plus the official
// openai client on the launched model, and a launch cancelled ~3 ms in that must leave no runner.
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convertLlamaToGguf } from '@pagoda/gguf';
import { startOneWorkerCluster, TEMPLATE, type OneWorkerCluster } from './one_worker_cluster.ts';
import { STORIES, waitFor } from './platform_helpers.ts';

/** What the client raises when a call does not answer 200: RuntimeError("… detail: <json.detail>"). */
class XinferenceClientError extends Error {}

/** The client's request helper: JSON body, the client's headers (Authorization only when the cluster said auth is on). */
class RestfulClient {
  private readonly headers: Record<string, string> = {};
  private constructor(readonly baseUrl: string) {}

  /** Client.__init__: asks /v1/cluster/auth without a key; a 404 means an old server without auth. */
  static async connect(baseUrl: string, apiKey?: string): Promise<RestfulClient> {
    const c = new RestfulClient(baseUrl);
    const res = await fetch(`${baseUrl}/v1/cluster/auth`);
    let authed = false;
    if (res.status !== 404) {
      const body = (await res.json()) as { auth?: unknown; detail?: string };
      if (res.status !== 200)
        throw new XinferenceClientError(
          `Failed to get cluster information, detail: ${body.detail}`,
        );
      authed = Boolean(body.auth);
    }
    if (apiKey !== undefined && authed) c.headers.Authorization = `Bearer ${apiKey}`;
    return c;
  }

  async call(what: string, method: string, path: string, body?: unknown): Promise<any> {
    const res = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers: {
        ...this.headers,
        ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (res.status !== 200) {
      // _get_error_string: response.json()["detail"]
      const text = await res.text();
      let detail: unknown;
      try {
        detail = (JSON.parse(text) as { detail?: unknown }).detail;
      } catch {
        detail = undefined;
      }
      if (typeof detail !== 'string')
        throw new Error(`${what}: HTTP ${res.status} without a 'detail' string: ${text}`);
      throw new XinferenceClientError(`Failed to ${what}, detail: ${detail}`);
    }
    return res.json();
  }

  /** streaming_response_iterator: `data:` lines as JSON until [DONE]. */
  async stream(what: string, path: string, body: unknown): Promise<any[]> {
    const res = await fetch(`${this.baseUrl}${path}`, {
      method: 'POST',
      headers: { ...this.headers, 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (res.status !== 200)
      throw new XinferenceClientError(
        `Failed to ${what}, detail: ${((await res.json()) as { detail: string }).detail}`,
      );
    const chunks: any[] = [];
    for (const line of (await res.text()).split('\n')) {
      const t = line.trim();
      if (!t.startsWith('data:')) continue;
      const data = t.slice('data:'.length).trim();
      if (data === '[DONE]') break;
      const parsed = JSON.parse(data);
      if (parsed.error) throw new XinferenceClientError(String(parsed.error));
      chunks.push(parsed);
    }
    return chunks;
  }

  register_model(model_type: string, model: string, persist: boolean) {
    return this.call('register model', 'POST', `/v1/model_registrations/${model_type}`, {
      model,
      persist,
    });
  }
  unregister_model(model_type: string, model_name: string) {
    return this.call(
      'register model',
      'DELETE',
      `/v1/model_registrations/${model_type}/${model_name}`,
    );
  }
  list_model_registrations(model_type: string, detailed = false) {
    return this.call(
      'list model registration',
      'GET',
      `/v1/model_registrations/${model_type}?detailed=${detailed ? 'true' : 'false'}`,
    );
  }
  get_model_registration(model_type: string, model_name: string) {
    return this.call(
      'list model registration',
      'GET',
      `/v1/model_registrations/${model_type}/${model_name}`,
    );
  }
  query_engine_by_model_name(model_name: string, model_type = 'LLM') {
    return this.call(
      'query engine parameters by model name',
      'GET',
      `/v1/engines/${model_type}/${model_name}`,
    );
  }
  /** launch_model's payload: every named argument, None as null, then **kwargs. */
  async launch_model(
    args: {
      model_name: string;
      model_engine?: string;
      model_format?: string;
      quantization?: string;
      model_uid?: string;
    } & Record<string, unknown>,
  ): Promise<string> {
    const { model_name, model_engine, model_format, quantization, model_uid, ...kwargs } = args;
    const payload = {
      model_uid: model_uid ?? null,
      model_name,
      model_engine: model_engine ?? null,
      peft_model_config: null,
      model_type: 'LLM',
      model_size_in_billions: null,
      model_format: model_format ?? null,
      quantization: quantization ?? null,
      replica: 1,
      n_worker: 1,
      n_gpu: 'auto',
      request_limits: null,
      worker_ip: null,
      gpu_idx: null,
      model_path: null,
      enable_virtual_env: null,
      virtual_env_packages: null,
      envs: null,
      ...kwargs,
    };
    return (await this.call('launch model', 'POST', '/v1/models', payload)).model_uid;
  }
  terminate_model(model_uid: string) {
    return this.call('terminate model', 'DELETE', `/v1/models/${model_uid}`);
  }
  terminate_model_replica(model_uid: string, replica_index: number) {
    return this.call(
      'terminate model replica',
      'DELETE',
      `/v1/models/${model_uid}/replicas/${replica_index}`,
    );
  }
  abort_request(model_uid: string, request_id: string, block_duration = 30) {
    return this.call('abort request', 'POST', `/v1/models/${model_uid}/requests/${request_id}/abort`, { block_duration });
  }
  cancel_launch_model(model_uid: string) {
    return this.call('cancel launch model', 'POST', `/v1/models/${model_uid}/cancel`);
  }
  async list_models(): Promise<Record<string, any>> {
    const data = (await this.call('list model', 'GET', '/v1/models')).data as any[];
    return Object.fromEntries(data.map((item) => [item.id, item]));
  }
  describe_model(model_uid: string) {
    return this.call('get the model description', 'GET', `/v1/models/${model_uid}`);
  }
  /** get_model: picks the handle class from model_type, model_format and model_ability. */
  async get_model(model_uid: string): Promise<'chat' | 'generate'> {
    const desc = await this.describe_model(model_uid);
    if (desc.model_type !== 'LLM') throw new Error(`Unknown model type:${desc.model_type}`);
    if (desc.model_format === 'ggmlv3' && String(desc.model_name).includes('chatglm'))
      throw new Error('chatglm handle');
    if (desc.model_ability.includes('chat')) return 'chat';
    if (desc.model_ability.includes('generate')) return 'generate';
    throw new Error(`Unrecognized model ability: ${desc.model_ability}`);
  }
  get_instance_info(model_name?: string, model_uid?: string) {
    const q = new URLSearchParams({
      ...(model_name ? { model_name } : {}),
      ...(model_uid ? { model_uid } : {}),
    });
    return this.call('get instance info', 'GET', `/v1/models/instances?${q}`);
  }
  async list_cached_models(model_name?: string) {
    return (
      await this.call(
        'list cached model',
        'GET',
        `/v1/cache/models${model_name ? `?model_name=${model_name}` : ''}`,
      )
    ).list;
  }
  get_supervisor_info() {
    return this.call('get supervisor info', 'GET', '/v1/supervisor');
  }
  /** RESTfulChatModelHandle.chat: messages, then generate_config's keys in the body. */
  chat(model_uid: string, messages: unknown[], generate_config: Record<string, unknown> = {}) {
    const body = { model: model_uid, messages, ...generate_config };
    return generate_config.stream
      ? this.stream('generate chat completion', '/v1/chat/completions', body)
      : this.call('generate chat completion', 'POST', '/v1/chat/completions', body);
  }
  generate(model_uid: string, prompt: string, generate_config: Record<string, unknown> = {}) {
    return this.call('generate completion', 'POST', '/v1/completions', {
      model: model_uid,
      prompt,
      ...generate_config,
    });
  }
}

/** Live processes started for a model (runners carry PAGODA_MODEL_UID in their environment). */
function runnersOf(uid: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (
        readFileSync(`/proc/${entry}/environ`, 'latin1')
          .split('\0')
          .includes(`PAGODA_MODEL_UID=${uid}`)
      )
        found.push(Number(entry));
    } catch {
      // gone
    }
  }
  return found;
}

let cluster: OneWorkerCluster;
let xc: RestfulClient;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pagoda-xinference-'));
  convertLlamaToGguf({
    dir: STORIES,
    out: join(dir, 'stories260k.Q8_0.gguf'),
    outtype: 'q8_0',
    name: 'stories260k',
  });
  cluster = await startOneWorkerCluster('xinference');
  xc = await RestfulClient.connect(cluster.server.url, 'unused-key');
});
afterAll(async () => {
  await cluster?.close();
});

/** Xinference's custom-LLM JSON, as its docs write it: null for "the model's own". */
const customModel = (name: string) =>
  JSON.stringify({
    version: 2,
    context_length: 512,
    model_name: name,
    model_lang: ['en'],
    model_ability: ['chat', 'generate'],
    model_description: 'stories260k converted to GGUF',
    model_family: 'llama-2',
    model_specs: [
      {
        model_format: 'ggufv2',
        model_size_in_billions: 1,
        quantizations: ['Q8_0'],
        model_id: null,
        model_file_name_template: 'stories260k.{quantization}.gguf',
        model_uri: `file://${dir}`,
      },
    ],
    chat_template: TEMPLATE,
    stop_token_ids: null,
    stop: null,
  });

describe('the Xinference client, replayed', () => {
  it('register → launch → get_model → chat (stream and not) → describe → scale / terminate replica → terminate → unregister', async () => {
    const reg = await xc.register_model('LLM', customModel('stories-gguf'), false);
    expect(reg.model_name).toBe('stories-gguf');

    const regs = await xc.list_model_registrations('LLM', true);
    const mine = regs.find((r: any) => r.model_name === 'stories-gguf');
    expect(mine).toMatchObject({
      is_builtin: false,
      model_ability: ['chat', 'generate'],
      context_length: 512,
    });
    expect(mine.model_specs[0]).toMatchObject({ model_format: 'gguf', quantizations: ['Q8_0'] });
    expect((await xc.get_model_registration('LLM', 'stories-gguf')).model_name).toBe(
      'stories-gguf',
    );
    expect(Object.keys(await xc.query_engine_by_model_name('stories-gguf'))).toContain('llama.cpp');

    // launch_model blocks until the model is ready, as Xinference's does.
    const uid = await xc.launch_model({
      model_name: 'stories-gguf',
      model_engine: 'llama.cpp',
      model_format: 'ggufv2',
      quantization: 'Q8_0',
      max_model_len: 256,
    });
    expect(uid).toBe('stories-gguf');
    expect((await xc.describe_model(uid)).status).toBe('ready');
    expect(Object.keys(await xc.list_models())).toContain(uid);

    expect(await xc.get_model(uid)).toBe('chat');
    const desc = await xc.describe_model(uid);
    expect(desc).toMatchObject({
      model_type: 'LLM',
      model_name: 'stories-gguf',
      model_ability: ['chat', 'generate'],
      model_lang: ['en'],
      model_description: 'stories260k converted to GGUF',
      context_length: 256,
      quantization: 'Q8_0',
    });
    expect(desc).toHaveProperty('revision');

    const messages = [{ role: 'user', content: 'Once upon a time' }];
    const done = await xc.chat(uid, messages, { max_tokens: 16, temperature: 0 });
    const content = done.choices[0].message.content as string;
    expect(content.length).toBeGreaterThan(0);
    expect(done.usage.completion_tokens).toBe(16);
    const chunks = (await xc.chat(uid, messages, {
      max_tokens: 16,
      temperature: 0,
      stream: true,
    })) as any[];
    expect(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('')).toBe(content);
    const gen = await xc.generate(uid, 'Once upon a time', { max_tokens: 8, temperature: 0 });

    // abort_request: a streaming chat named by request_id is stopped from another connection.
    const long = await fetch(`${cluster.server.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ model: uid, messages, max_tokens: 200, ignore_eos: true, stream: true, request_id: 'story-1' }),
    });
    expect(long.status).toBe(200);
    const reader = long.body!.getReader();
    await reader.read();
    expect((await xc.abort_request(uid, 'story-1')).aborted).toBe(true);
    let received = '';
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        received += Buffer.from(value).toString();
      }
    } catch {
      // the connection was cut: that is how an aborted stream ends
    }
    expect(received).not.toContain('[DONE]');
    await expect(xc.abort_request(uid, 'story-1')).rejects.toThrow(/Failed to abort request, detail: no request 'story-1' is running/);
    expect(gen.choices[0].text.length).toBeGreaterThan(0);

    // The official openai client on the same launched GGUF model, through the server's endpoint.
    const openai = new OpenAI({
      baseURL: `${cluster.server.url}/v1`,
      apiKey: 'unused',
      maxRetries: 0,
    });
    const viaOpenai = await openai.chat.completions.create({
      model: uid,
      messages: [{ role: 'user', content: 'Once upon a time' }],
      max_tokens: 16,
      temperature: 0,
    });
    expect(viaOpenai.choices[0]!.message.content).toBe(content);
    const completion = await openai.completions.create({
      model: uid,
      prompt: 'Once upon a time',
      max_tokens: 8,
      temperature: 0,
    });
    expect(completion.choices[0]!.text).toBe(gen.choices[0].text);

    const instances = await xc.get_instance_info(undefined, uid);
    expect(instances).toEqual([
      expect.objectContaining({
        model_uid: uid,
        model_name: 'stories-gguf',
        status: 'READY',
        replica: 1,
      }),
    ]);
    expect((await xc.list_cached_models()).map((m: any) => m.model_name)).toContain('stories-gguf');
    expect(await xc.get_supervisor_info()).toHaveProperty('version');

    // Scale to two replicas (Pagoda's scale route), then Xinference's terminate_model_replica on the second.
    expect((await cluster.api('POST', `/v1/models/${uid}/replicas`, { replica: 2 })).status).toBe(
      200,
    );
    await waitFor(
      'two ready replicas',
      async () =>
        (await xc.describe_model(uid)).replicas.filter((r: any) => r.status === 'ready').length ===
        2,
      60_000,
    );
    await xc.terminate_model_replica(uid, 1);
    const after = await xc.describe_model(uid);
    expect(after.replica).toBe(1);
    expect(after.replicas.map((r: any) => r.index)).toEqual([0]);
    expect(
      (await xc.chat(uid, messages, { max_tokens: 4, temperature: 0 })).choices[0].finish_reason,
    ).toBe('length');

    await xc.terminate_model(uid);
    expect(Object.keys(await xc.list_models())).not.toContain(uid);
    await waitFor('the runners to stop', async () => runnersOf(uid).length === 0, 20_000);
    await xc.unregister_model('LLM', 'stories-gguf');
    expect((await xc.list_model_registrations('LLM')).map((r: any) => r.model_name)).not.toContain(
      'stories-gguf',
    );
  }, 180_000);

  it('errors come back with the detail the client prints', async () => {
    await expect(xc.describe_model('no-such-model')).rejects.toThrow(
      /Failed to get the model description, detail: model 'no-such-model' is not launched/,
    );
    await expect(xc.register_model('LLM', '{"model_name": "x"', false)).rejects.toThrow(
      /Failed to register model, detail: 'model' is not valid JSON/,
    );
    await expect(xc.launch_model({ model_name: 'no-such-model' })).rejects.toThrow(
      /Failed to launch model, detail: .*no-such-model/,
    );
    await expect(
      xc.launch_model({
        model_name: 'x',
        peft_model_config: { lora_list: [{ lora_name: 'a', local_path: '/a' }] },
      }),
    ).rejects.toThrow(/LoRA adapters/);
  });

  it('a launch cancelled ~3 ms after it was sent leaves no runner, and its launch call says so', async () => {
    await xc.register_model('LLM', customModel('stories-cancel'), false);
    for (const delay of [0, 3, 30]) {
      const uid = `cancel-${delay}`;
      const launching = xc
        .launch_model({
          model_name: 'stories-cancel',
          model_engine: 'llama.cpp',
          model_uid: uid,
          max_model_len: 128,
        })
        .then(
          () => 'ready',
          (err: Error) => err.message,
        );
      await new Promise((r) => setTimeout(r, delay));
      await xc.cancel_launch_model(uid).catch((err: Error) => err.message);
      const outcome = await launching;
      // Either the cancel won (the launch call reports the model gone) or the model was ready first.
      if (outcome === 'ready') await xc.terminate_model(uid);
      else expect(outcome).toMatch(/terminated before it became ready|not launched/);
      await new Promise((r) => setTimeout(r, 2_000));
      expect(runnersOf(uid), `cancelled ${delay} ms in`).toEqual([]);
      expect(Object.keys(await xc.list_models())).not.toContain(uid);
    }
    await xc.unregister_model('LLM', 'stories-cancel');
  }, 120_000);
});
