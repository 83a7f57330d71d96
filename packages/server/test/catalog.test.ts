// The built-in catalog: published architecture numbers, spec look-ups and their errors, engines per model.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  archFromConfig,
  assertEngineRuns,
  BUILTIN_FAMILIES,
  CatalogError,
  ENGINE_CAPABILITIES,
  ENGINE_NAMES,
  enginesFor,
  findFamily,
  findSpec,
  listFamilies,
  normalizeEngine,
  parameterCount,
  weightsBytes,
} from '../src/catalog/index.ts';

const sharedConfig = (name: string) =>
  JSON.parse(readFileSync(new URL(`../../../../shared/configs/${name}`, import.meta.url), 'utf8'));

function expectCatalogError(fn: () => unknown, status: number, param: string, text: RegExp) {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CatalogError);
    expect((err as CatalogError).status).toBe(status);
    expect((err as CatalogError).param).toBe(param);
    expect((err as Error).message).toMatch(text);
    return;
  }
  throw new Error('expected a CatalogError');
}

describe('catalog families', () => {
  it('covers Llama 3, 3.1, 3.2, Qwen2.5, Qwen3 and Mistral', () => {
    const names = BUILTIN_FAMILIES.map((f) => f.model_name);
    for (const n of [
      'llama-3-instruct',
      'llama-3.1-instruct',
      'llama-3.2-instruct',
      'qwen2.5-instruct',
      'qwen3',
      'mistral-instruct-v0.3',
    ])
      expect(names).toContain(n);
    expect(new Set(names).size).toBe(names.length);
  });

  it('holds the published numbers of Llama-3-8B and Qwen2.5-7B (../shared/configs)', () => {
    const llama = findSpec('llama-3-instruct', 'safetensors', 8).spec.architecture;
    expect(llama).toEqual(archFromConfig(sharedConfig('llama-3-8b.json')).arch);
    const qwen = findSpec('qwen2.5-instruct', 'safetensors', 7).spec.architecture;
    expect(qwen).toEqual(archFromConfig(sharedConfig('qwen2.5-7b.json')).arch);
  });

  it('counts parameters as the model cards state them', () => {
    const billions = (name: string, size: number) =>
      parameterCount(findSpec(name, 'safetensors', size).spec.architecture) / 1e9;
    expect(parameterCount(findSpec('llama-3-instruct', null, 8).spec.architecture)).toBe(
      8_030_261_248,
    );
    expect(billions('qwen2.5-instruct', 7)).toBeCloseTo(7.62, 2);
    expect(billions('llama-3.2-instruct', 1)).toBeCloseTo(1.24, 2);
    expect(billions('qwen3', 8)).toBeCloseTo(8.19, 2);
    expect(billions('mistral-instruct-v0.3', 7)).toBeCloseTo(7.25, 2);
    expect(billions('llama-3.1-instruct', 70)).toBeCloseTo(70.55, 1);
    expect(billions('qwen2.5-instruct', 0.5)).toBeCloseTo(0.49, 2);
  });

  it('has a context length within every spec’s max_position_embeddings', () => {
    for (const f of BUILTIN_FAMILIES) {
      for (const s of f.model_specs)
        expect(f.context_length).toBeLessThanOrEqual(s.architecture.max_position_embeddings);
      if (f.model_type === 'LLM') expect(f.stop_token_ids.length).toBeGreaterThan(0);
    }
  });

  it('lists embedding and rerank models with their dimensions and max_tokens', () => {
    const embedding = BUILTIN_FAMILIES.filter((f) => f.model_type === 'embedding');
    const rerank = BUILTIN_FAMILIES.filter((f) => f.model_type === 'rerank');
    expect(embedding.map((f) => f.model_name)).toEqual(expect.arrayContaining(['bge-m3', 'bge-large-en-v1.5', 'gte-base', 'e5-large-v2', 'Qwen3-Embedding-0.6B']));
    expect(rerank.map((f) => f.model_name)).toContain('bge-reranker-v2-m3');
    const m3 = embedding.find((f) => f.model_name === 'bge-m3')!;
    expect([m3.dimensions, m3.max_tokens, m3.model_specs[0]!.architecture.architecture]).toEqual([1024, 8192, 'XLMRobertaModel']);
    for (const f of [...embedding, ...rerank]) expect(f.max_tokens).toBeLessThanOrEqual(f.model_specs[0]!.architecture.max_position_embeddings);
    expect(listFamilies({ ability: 'embed' }).length).toBe(embedding.length);
    expect(listFamilies({ ability: 'rerank' }).length).toBe(rerank.length);
  });

  it('filters by ability, format and text', () => {
    expect(listFamilies({ ability: 'chat' }).length).toBe(BUILTIN_FAMILIES.filter((f) => f.model_type === 'LLM').length);
    expect(listFamilies({ format: 'awq' }).map((f) => f.model_name).sort()).toEqual(['llama-3.1-instruct', 'qwen2.5-instruct', 'qwen3']);
    expect(listFamilies({ format: 'fp8' }).map((f) => f.model_name).sort()).toEqual(['llama-3.1-instruct', 'qwen3']);
    expect(listFamilies({ search: 'NEMO' }).map((f) => f.model_name)).toEqual([
      'mistral-nemo-instruct',
    ]);
    expect(listFamilies({ format: 'pytorch' }).length).toBe(BUILTIN_FAMILIES.length);
  });
});

describe('findSpec', () => {
  it('defaults to the unquantized safetensors spec and honours Xinference spellings', () => {
    const choice = findSpec('qwen2.5-instruct');
    expect(choice.spec.model_format).toBe('safetensors');
    expect(choice.quantization).toBe('none');
    expect(findSpec('qwen2.5-instruct', 'pytorch', '1_5').spec.model_id).toBe(
      'Qwen/Qwen2.5-1.5B-Instruct',
    );
    expect(findSpec('Qwen3', 'GGUF', 8, 'q4_k_m').quantization).toBe('Q4_K_M');
  });

  it('names what exists when the name, format, size or quantization is wrong', () => {
    expectCatalogError(
      () => findSpec('llama-9'),
      404,
      'model_name',
      /did you mean 'llama-3-instruct'/,
    );
    expectCatalogError(
      () => findSpec('llama-3.2-instruct', 'awq'),
      400,
      'model_format',
      /formats are safetensors, gguf/,
    );
    expectCatalogError(
      () => findSpec('qwen3', 'onnx'),
      400,
      'model_format',
      /use one of safetensors, gguf/,
    );
    expectCatalogError(
      () => findSpec('qwen3', 'safetensors', 9),
      400,
      'model_size_in_billions',
      /available sizes: 0.6B, 1.7B, 4B, 8B, 14B, 32B/,
    );
    expectCatalogError(
      () => findSpec('qwen3', null, 'big'),
      400,
      'model_size_in_billions',
      /not a positive number/,
    );
    expectCatalogError(
      () => findSpec('qwen3', 'gguf', 0.6, 'Q4_K_M'),
      400,
      'quantization',
      /gguf 0.6B \[Q8_0\]/,
    );
  });

  it('sizes quantized weights below the 16-bit checkpoint', () => {
    const { spec } = findSpec('llama-3.1-instruct', 'gguf', 8, 'Q4_K_M');
    const q4 = weightsBytes(spec, 'Q4_K_M');
    expect(q4 / 1e9).toBeCloseTo(4.91, 1);
    expect(weightsBytes(findSpec('llama-3.1-instruct', null, 8).spec, 'none') / 1e9).toBeCloseTo(
      16.06,
      2,
    );
    const awq = findSpec('qwen2.5-instruct', 'awq', 7);
    expect(weightsBytes(awq.spec, awq.quantization) / 1e9).toBeGreaterThan(4.5);
    expect(weightsBytes(awq.spec, awq.quantization) / 1e9).toBeLessThan(6);
    // Linear layers at 4, 8 (GPTQ Int8, FP8) and 16 bits; embeddings and lm_head stay 16-bit throughout.
    const bf16 = weightsBytes(findSpec('qwen3', null, 8).spec, 'none');
    const int4 = findSpec('qwen3', 'awq', 8);
    const f8 = findSpec('qwen3', 'fp8', 8);
    expect(f8.spec.model_id).toBe('Qwen/Qwen3-8B-FP8');
    expect(f8.quantization).toBe('fp8');
    expect(weightsBytes(f8.spec, f8.quantization) / bf16).toBeGreaterThan(0.55);
    expect(weightsBytes(f8.spec, f8.quantization) / bf16).toBeLessThan(0.6);
    expect(weightsBytes(int4.spec, int4.quantization) / bf16).toBeLessThan(0.4);
    const g8 = findSpec('qwen2.5-instruct', 'gptq', 7, 'int8');
    const g4 = findSpec('qwen2.5-instruct', 'gptq', 7, 'Int4');
    expect([g8.spec.model_id, g4.spec.model_id]).toEqual(['Qwen/Qwen2.5-7B-Instruct-GPTQ-Int8', 'Qwen/Qwen2.5-7B-Instruct-GPTQ-Int4']);
    // (published: 8.7 GB and 5.6 GB of files)
    expect(weightsBytes(g8.spec, g8.quantization) / 1e9).toBeCloseTo(8.9, 1);
    expect(weightsBytes(g4.spec, g4.quantization) / 1e9).toBeCloseTo(5.6, 1);
  });
});

describe('fp8 quantized at load', () => {
  it('picks a published FP8 checkpoint first, else the unquantized one at 8-bit linear weights', () => {
    const published = findSpec('llama-3.1-instruct', null, 8, 'fp8');
    expect(published.spec.model_format).toBe('fp8');
    const online = findSpec('llama-3.1-instruct', 'safetensors', 8, 'FP8');
    expect(online).toMatchObject({ quantization: 'fp8', spec: { model_format: 'safetensors', model_id: 'meta-llama/Llama-3.1-8B-Instruct' } });
    // the 405B has no published FP8 spec here: its safetensors one is quantized at load
    expect(findSpec('llama-3.1-instruct', null, 405, 'fp8').spec.model_format).toBe('safetensors');
    expect(weightsBytes(online.spec, 'fp8')).toBe(weightsBytes(published.spec, 'fp8'));
    expect(weightsBytes(online.spec, 'fp8') / weightsBytes(online.spec, 'none')).toBeLessThan(0.6);
    expect(() => assertEngineRuns('builtin', online.family, online.spec, 'fp8')).not.toThrow();
    expect(() => assertEngineRuns('vllm', online.family, online.spec, 'fp8')).not.toThrow();
    const embedder = findSpec('bge-m3', null, null, 'fp8');
    expectCatalogError(() => assertEngineRuns('builtin', embedder.family, embedder.spec, 'fp8'), 400, 'model_engine', /no local engine runs it/);
    // other quantizations are never made up for a safetensors checkpoint
    expectCatalogError(() => findSpec('llama-3.1-instruct', 'safetensors', 8, 'Int4'), 400, 'quantization', /safetensors 8B \[none\]/);
  });
});

describe('engines', () => {
  it('answers GET /v1/engines/{model} in Xinference’s shape', () => {
    const engines = enginesFor('qwen2.5-instruct');
    expect(Object.keys(engines)).toEqual(['builtin', 'vllm', 'llama.cpp', 'remote']);
    expect(
      engines
        .builtin!.filter((e) => e.model_format === 'safetensors')
        .every((e) => e.quantizations.join() === 'none,fp8'),
    ).toBe(true);
    // fp8 on a safetensors checkpoint is quantized at load: not by llama.cpp, never for embedders
    expect(enginesFor('bge-m3').builtin!.every((e) => !e.quantizations.includes('fp8'))).toBe(true);
    // The builtin engine loads AWQ checkpoints (issue 15), never GGUF.
    expect(
      engines.builtin!.some((e) => e.model_format === 'awq' && e.model_size_in_billions === 7),
    ).toBe(true);
    expect(engines.builtin!.every((e) => e.model_format !== 'gguf')).toBe(true);
    expect(
      engines.vllm!.some((e) => e.model_format === 'awq' && e.model_size_in_billions === 72),
    ).toBe(true);
    expect(engines['llama.cpp']!.every((e) => e.model_format === 'gguf')).toBe(true);
    expect(engines['llama.cpp']![0]).toMatchObject({
      model_name: 'qwen2.5-instruct',
      model_size_in_billions: 0.5,
      quantizations: ['Q4_K_M', 'Q5_K_M', 'Q6_K', 'Q8_0'],
    });
  });

  it('leaves out engines that run nothing of the model', () => {
    expect(Object.keys(enginesFor('llama-3.3-instruct'))).toEqual(['builtin', 'vllm', 'remote']);
  });

  it('normalizes engine names and refuses a spec an engine cannot run', () => {
    expect(normalizeEngine('vLLM')).toBe('vllm');
    expect(normalizeEngine('llamacpp')).toBe('llama.cpp');
    expect(normalizeEngine('llama_cpp')).toBe('llama.cpp');
    expectCatalogError(
      () => normalizeEngine('transformers'),
      400,
      'model_engine',
      /builtin, vllm, llama.cpp, remote/,
    );
    const { family, spec, quantization } = findSpec('qwen3', 'gguf', 8, 'Q8_0');
    expectCatalogError(
      () => assertEngineRuns('builtin', family, spec, quantization),
      400,
      'model_engine',
      /use model_engine 'llama.cpp'/,
    );
    expect(() => assertEngineRuns('llama.cpp', family, spec, quantization)).not.toThrow();
    // The builtin engine runs 4-bit GPTQ and FP8 checkpoints; 8-bit GPTQ goes to vLLM.
    const int8 = findSpec('qwen2.5-instruct', 'gptq', 14, 'Int8');
    expectCatalogError(() => assertEngineRuns('builtin', int8.family, int8.spec, int8.quantization), 400, 'model_engine', /use model_engine 'vllm'/);
    for (const [format, q] of [['gptq', 'Int4'], ['fp8', 'fp8'], ['awq', 'Int4']] as const) {
      const c = findSpec('llama-3.1-instruct', format, 8, q);
      expect(() => assertEngineRuns('builtin', c.family, c.spec, c.quantization), format).not.toThrow();
    }
  });
});

describe('abilities', () => {
  it('a family lists only the abilities an engine that runs it serves; the builtin engine serves tools and reasoning', () => {
    const served = new Set(ENGINE_NAMES.filter((e) => e !== 'remote').flatMap((e) => ENGINE_CAPABILITIES[e].abilities));
    expect(served.has('tools')).toBe(true);
    expect(served.has('reasoning')).toBe(true);
    for (const f of listFamilies()) expect(f.model_ability.filter((a) => !served.has(a))).toEqual([]);
    expect(listFamilies({ ability: 'reasoning' }).map((f) => f.model_name)).toEqual(['qwen3']);
    expect(listFamilies({ ability: 'tools' }).length).toBeGreaterThan(0);
    expect(findFamily('qwen3').model_ability).toEqual(['chat', 'generate', 'tools', 'reasoning']);
  });
});

describe('tools and reasoning abilities', () => {
  it('are declared only by families whose tool-call / reasoning parser is set', () => {
    for (const f of BUILTIN_FAMILIES) {
      expect(f.model_ability.includes('tools')).toBe(f.tool_call_parser !== null);
      expect(f.model_ability.includes('reasoning')).toBe(f.reasoning_parser !== null);
    }
    const qwen3 = BUILTIN_FAMILIES.find((f) => f.model_name === 'qwen3')!;
    expect([qwen3.tool_call_parser, qwen3.reasoning_parser]).toEqual(['hermes', 'qwen3']);
    const llama31 = BUILTIN_FAMILIES.find((f) => f.model_name === 'llama-3.1-instruct')!;
    expect(llama31.tool_call_parser).toBe('llama3_json');
  });
});
