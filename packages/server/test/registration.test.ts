// Custom model registrations: a checkpoint folder or a hub repo is accepted only when it holds a
// loadable config.json of a supported architecture and a tokenizer.json; problems come per field.
import { createServer, type Server } from 'node:http';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enginesFor, findSpec, validateRegistration } from '../src/catalog/index.ts';

const MODELS = resolve(import.meta.dirname, '../../../../shared/models');
let scratch: string;

beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'pagoda-registration-'));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A copy of a shared checkpoint's small files, with `edit` applied. */
function checkpointCopy(name: string, edit: (dir: string) => void): string {
  const dir = join(scratch, `${name}-${Math.random().toString(36).slice(2)}`);
  mkdirSync(dir);
  for (const f of [
    'config.json',
    'tokenizer.json',
    'tokenizer_config.json',
    'generation_config.json',
  ]) {
    try {
      copyFileSync(join(MODELS, name, f), join(dir, f));
    } catch {
      // not every checkpoint has every file
    }
  }
  edit(dir);
  return dir;
}

/** The refusal's fields and English messages (kinds and params: problemsOf). */
async function errorsOf(input: unknown) {
  return (await problemsOf(input)).map(({ field, message }) => ({ field, message }));
}

async function problemsOf(input: unknown) {
  const result = await validateRegistration(input);
  if (result.ok) throw new Error('expected the registration to be refused');
  return result.errors;
}

describe('validateRegistration from a local folder', () => {
  it('accepts a Qwen3 checkpoint and builds its family from config.json', async () => {
    const result = await validateRegistration({
      model_name: 'my-qwen3',
      model_path: join(MODELS, 'tiny-qwen3'),
    });
    if (!result.ok) throw new Error(JSON.stringify(result.errors));
    expect(result.arch).toMatchObject({
      architecture: 'Qwen3ForCausalLM',
      num_hidden_layers: 3,
      hidden_size: 256,
      head_dim: 128,
      num_key_value_heads: 2,
      dtype: 'bfloat16',
      qk_norm: true,
    });
    expect(result.family).toMatchObject({
      model_name: 'my-qwen3',
      source: 'custom',
      context_length: 2048,
      model_ability: ['generate'],
      stop_token_ids: [2],
    });
    expect(result.family.model_specs[0]!.model_path).toBe(join(MODELS, 'tiny-qwen3'));
    // The registration then answers the same look-ups as a built-in model.
    expect(
      findSpec('my-qwen3', null, null, null, [result.family]).spec.architecture.architecture,
    ).toBe('Qwen3ForCausalLM');
    expect(Object.keys(enginesFor('my-qwen3', [result.family]))).toEqual([
      'builtin',
      'vllm',
      'remote',
    ]);
  });

  it('honours given fields and a template for chat', async () => {
    const result = await validateRegistration({
      model_name: 'stories',
      model_path: join(MODELS, 'stories260k'),
      architecture: 'LlamaForCausalLM',
      context_length: 256,
      chat_template: '{% for m in messages %}{{ m.content }}{% endfor %}',
      model_ability: ['chat'],
    });
    if (!result.ok) throw new Error(JSON.stringify(result.errors));
    expect(result.family.context_length).toBe(256);
    expect(result.family.model_ability).toEqual(['chat']);
    expect(result.family.model_specs[0]!.architecture.head_dim).toBe(8);
  });

  it('refuses a path that is missing, a file, or lacks its files', async () => {
    expect(await errorsOf({ model_name: 'x', model_path: join(scratch, 'nope') })).toEqual([
      { field: 'model_path', message: expect.stringMatching(/does not exist/) },
    ]);
    expect(
      (
        await errorsOf({ model_name: 'x', model_path: join(MODELS, 'tiny-qwen3', 'config.json') })
      )[0]!.message,
    ).toMatch(/is a file; give the checkpoint folder/);
    const noTokenizer = checkpointCopy('tiny-llama3', (d) => rmSync(join(d, 'tokenizer.json')));
    expect((await errorsOf({ model_name: 'x', model_path: noTokenizer }))[0]!.message).toMatch(
      /has no tokenizer.json/,
    );
    const noConfig = checkpointCopy('tiny-llama3', (d) => rmSync(join(d, 'config.json')));
    expect((await errorsOf({ model_name: 'x', model_path: noConfig }))[0]!.message).toMatch(
      /has no config.json/,
    );
  });

  it('refuses an unsupported architecture, a broken config and a tokenizer that is not one', async () => {
    const gpt2 = checkpointCopy('tiny-llama3', (d) => {
      const c = JSON.parse(readFileSync(join(d, 'config.json'), 'utf8'));
      writeFileSync(
        join(d, 'config.json'),
        JSON.stringify({ ...c, architectures: ['GPT2LMHeadModel'] }),
      );
    });
    expect((await errorsOf({ model_name: 'x', model_path: gpt2 }))[0]!.message).toMatch(
      /'GPT2LMHeadModel' is not supported; the engine runs LlamaForCausalLM/,
    );
    const noLayers = checkpointCopy('tiny-llama3', (d) => {
      const c = JSON.parse(readFileSync(join(d, 'config.json'), 'utf8'));
      delete c.num_hidden_layers;
      writeFileSync(join(d, 'config.json'), JSON.stringify(c));
    });
    expect((await errorsOf({ model_name: 'x', model_path: noLayers }))[0]!.message).toMatch(
      /has no 'num_hidden_layers'/,
    );
    const badJson = checkpointCopy('tiny-llama3', (d) =>
      writeFileSync(join(d, 'config.json'), '{"architectures": ['),
    );
    expect((await errorsOf({ model_name: 'x', model_path: badJson }))[0]!.message).toMatch(
      /config.json is not valid JSON/,
    );
    const notTokenizer = checkpointCopy('tiny-llama3', (d) =>
      writeFileSync(join(d, 'tokenizer.json'), '{"version": "1.0"}'),
    );
    expect((await errorsOf({ model_name: 'x', model_path: notTokenizer }))[0]!.message).toMatch(
      /no 'model' section/,
    );
  });

  it('gives each problem a kind and the values its message names, for clients that word it themselves', async () => {
    const missing = join(scratch, 'nope');
    expect(await problemsOf({ model_name: 'x', model_path: missing })).toMatchObject([
      { field: 'model_path', problem: 'path_missing', params: { path: missing } },
    ]);
    expect(await problemsOf({ model_name: 'qwen3', model_path: join(MODELS, 'tiny-qwen2') })).toMatchObject([
      { field: 'model_name', problem: 'builtin_name', params: { value: 'qwen3' } },
    ]);
    expect(await problemsOf({ model_name: 'x', model_path: scratch })).toMatchObject([
      { field: 'model_path', problem: 'no_config' },
      { field: 'model_path', problem: 'no_tokenizer' },
    ]);
    // A wrong type is zod's issue, as values.
    expect(await problemsOf({ model_name: 'x', model_path: 7 })).toMatchObject([
      { field: 'model_path', issue: { field: 'model_path', issue: 'invalid_type', expected: 'string' } },
    ]);
  });

  it('reports each wrong field by name', async () => {
    const path = join(MODELS, 'tiny-qwen2');
    expect(await errorsOf({ model_name: 'qwen3', model_path: path })).toEqual([
      { field: 'model_name', message: expect.stringMatching(/is a built-in model/) },
    ]);
    expect((await errorsOf({ model_name: 'bad name!', model_path: path }))[0]!.field).toBe(
      'model_name',
    );
    expect(
      (await errorsOf({ model_name: 'x', model_path: path, hf_repo_id: 'a/b' }))[0]!.message,
    ).toMatch(/exactly one of model_path/);
    expect((await errorsOf({ model_name: 'x' }))[0]!.message).toMatch(/exactly one of model_path/);
    expect(
      await errorsOf({ model_name: 'x', model_path: path, architecture: 'LlamaForCausalLM' }),
    ).toEqual([
      {
        field: 'architecture',
        message: expect.stringMatching(/does not match config.json's 'Qwen2ForCausalLM'/),
      },
    ]);
    expect(
      await errorsOf({ model_name: 'x', model_path: path, context_length: 1_000_000 }),
    ).toEqual([
      {
        field: 'context_length',
        message: expect.stringMatching(/exceeds the model's max_position_embeddings/),
      },
    ]);
    expect(await errorsOf({ model_name: 'x', model_path: path, model_ability: ['chat'] })).toEqual([
      { field: 'chat_template', message: expect.stringMatching(/no chat template/) },
    ]);
    expect(await errorsOf({ model_name: 'x', model_path: path, model_ability: ['generate', 'tools'] })).toEqual([
      { field: 'tool_call_parser', message: expect.stringMatching(/'tools' needs tool_call_parser/) },
    ]);
    expect((await errorsOf({ model_name: 7, model_path: path }))[0]!.field).toBe('model_name');
    expect((await errorsOf({ model_name: 'x', hf_repo_id: 'not-a-repo' }))[0]).toEqual({
      field: 'hf_repo_id',
      message: expect.stringMatching(/write it as owner\/name/),
    });
  });
});

describe('validateRegistration from the hub', () => {
  let server: Server;
  let endpoint: string;
  beforeAll(async () => {
    // Serves /{owner}/{name}/resolve/main/{file} from ../shared/models/{name}; "gated/*" answers 401.
    server = createServer((req, res) => {
      const m = /^\/([^/]+)\/([^/]+)\/resolve\/main\/(.+)$/.exec(req.url ?? '');
      if (!m) return void res.writeHead(404).end();
      if (m[1] === 'gated' && req.headers.authorization !== 'Bearer secret')
        return void res.writeHead(401).end();
      let body: Buffer;
      try {
        body = readFileSync(join(MODELS, m[2]!, m[3]!));
      } catch {
        return void res.writeHead(404).end();
      }
      res.writeHead(200).end(body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    endpoint = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('reads config.json and tokenizer.json from HF_ENDPOINT', async () => {
    const result = await validateRegistration(
      { model_name: 'hub-llama', hf_repo_id: 'someone/tiny-llama3' },
      { endpoint },
    );
    if (!result.ok) throw new Error(JSON.stringify(result.errors));
    expect(result.hfRepoId).toBe('someone/tiny-llama3');
    expect(result.family.model_specs[0]).toMatchObject({
      model_id: 'someone/tiny-llama3',
      architecture: { architecture: 'LlamaForCausalLM', num_key_value_heads: 2 },
    });
  });

  it('says which file a repo lacks and asks for HF_TOKEN on a gated repo', async () => {
    const missing = await validateRegistration(
      { model_name: 'x', hf_repo_id: 'someone/missing' },
      { endpoint },
    );
    expect(missing.ok ? [] : missing.errors.map((e) => e.message)).toEqual([
      expect.stringMatching(/has no config.json/),
      expect.stringMatching(/has no tokenizer.json/),
    ]);
    const gated = await validateRegistration(
      { model_name: 'x', hf_repo_id: 'gated/tiny-qwen2' },
      { endpoint },
    );
    expect(gated.ok ? '' : gated.errors[0]!.message).toMatch(/gated or private; set HF_TOKEN/);
    expect(
      (
        await validateRegistration(
          { model_name: 'x', hf_repo_id: 'gated/tiny-qwen2' },
          { endpoint, token: 'secret' },
        )
      ).ok,
    ).toBe(true);
  });
});

describe('GGUF files and Xinference custom-LLM JSON', () => {
  const xinferenceJson = (spec: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
    version: 2,
    model_name: 'xi-model',
    model_lang: ['en'],
    model_ability: ['generate'],
    model_family: 'llama-2',
    context_length: 256,
    model_specs: [spec],
    chat_template: null,
    stop_token_ids: null,
    stop: null,
    ...extra,
  });

  /** stories260k as a Q8_0 GGUF in the scratch folder, written once. */
  const storiesGguf = async () => {
    const file = join(scratch, 'stories.Q8_0.gguf');
    const { convertLlamaToGguf } = await import('@pagoda/gguf');
    if (!existsSync(file))
      convertLlamaToGguf({ dir: join(MODELS, 'stories260k'), out: file, outtype: 'q8_0' });
    return file;
  };

  it('registers a GGUF file from its header: shape, quantization, tensor bytes', async () => {
    const { readGgufHeader } = await import('@pagoda/gguf');
    const file = await storiesGguf();
    const result = await validateRegistration(
      xinferenceJson({
        model_format: 'ggufv2',
        model_size_in_billions: 1,
        quantizations: ['Q8_0'],
        model_file_name_template: 'stories.{quantization}.gguf',
        model_uri: `file://${scratch}`,
      }),
    );
    if (!result.ok) throw new Error(JSON.stringify(result.errors));
    const spec = result.family.model_specs[0]!;
    expect(spec).toMatchObject({ model_format: 'gguf', quantizations: ['Q8_0'], model_path: file });
    expect(spec.weights_bytes).toBe(readGgufHeader(file).tensors.reduce((a, t) => a + t.bytes, 0));
    expect(result.arch).toMatchObject({
      architecture: 'LlamaForCausalLM',
      num_hidden_layers: 5,
      num_key_value_heads: 4,
      head_dim: 8,
      vocab_size: 512,
    });
    expect(result.family).toMatchObject({ context_length: 256, stop: [], stop_token_ids: [2] });
    expect(Object.keys(enginesFor('xi-model', [result.family]))).toContain('llama.cpp');
  });

  it('says which field is wrong: a quantization the file does not hold, a file that is not GGUF', async () => {
    const file = await storiesGguf();
    expect(await errorsOf({ model_name: 'g1', model_path: file, quantization: 'Q4_K_M' })).toEqual([
      { field: 'quantization', message: expect.stringMatching(/does not match the file's Q8_0/) },
    ]);
    const fake = join(scratch, 'fake.gguf');
    writeFileSync(fake, 'not a gguf file at all');
    expect(await errorsOf({ model_name: 'g2', model_path: fake })).toEqual([
      { field: 'model_path', message: expect.stringMatching(/not a GGUF file/) },
    ]);
    expect(await errorsOf({ model_name: 'g3', model_path: join(scratch, 'missing.gguf') })).toEqual(
      [{ field: 'model_path', message: expect.stringMatching(/does not exist/) }],
    );
  });

  it("takes Xinference's pytorch spec with a file:// model_uri as a checkpoint folder", async () => {
    const result = await validateRegistration(
      xinferenceJson({
        model_format: 'pytorch',
        model_size_in_billions: 1,
        quantization: 'none',
        model_uri: `file://${join(MODELS, 'stories260k')}`,
      }),
    );
    if (!result.ok) throw new Error(JSON.stringify(result.errors));
    expect(result.family.model_specs[0]).toMatchObject({
      model_format: 'safetensors',
      model_path: join(MODELS, 'stories260k'),
    });
    expect(result.family.context_length).toBe(256);
  });
});
