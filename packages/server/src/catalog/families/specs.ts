// Small builders for catalog specs, so each family file reads as a table of published facts.
import type { ArchNumbersInput } from '../architecture.ts';
import type { ModelSpecInput } from '../family.ts';

/** The GGUF quantizations most repositories publish, smallest first. */
export const COMMON_GGUF_QUANTS = ['Q4_K_M', 'Q5_K_M', 'Q6_K', 'Q8_0'];

/** An unquantized safetensors checkpoint. */
export function checkpoint(
  size: number,
  repo: string,
  architecture: ArchNumbersInput,
): ModelSpecInput {
  return {
    model_format: 'safetensors',
    model_size_in_billions: size,
    quantizations: ['none'],
    model_id: repo,
    architecture,
  };
}

/** GGUF files of one size in one repository; `file` has {quantization} where the quant name goes. */
export function gguf(
  size: number,
  repo: string,
  file: string,
  architecture: ArchNumbersInput,
  quantizations = COMMON_GGUF_QUANTS,
): ModelSpecInput {
  return {
    model_format: 'gguf',
    model_size_in_billions: size,
    quantizations,
    model_id: repo,
    model_file_name_template: file,
    architecture,
  };
}

/** A 4-bit AWQ checkpoint. */
export function awq(size: number, repo: string, architecture: ArchNumbersInput): ModelSpecInput {
  return {
    model_format: 'awq',
    model_size_in_billions: size,
    quantizations: ['Int4'],
    model_id: repo,
    architecture,
  };
}

/** A GPTQ checkpoint of one bit width, in a repository of its own. */
export function gptq(
  size: number,
  repo: string,
  architecture: ArchNumbersInput,
  quantization: 'Int4' | 'Int8' = 'Int4',
): ModelSpecInput {
  return {
    model_format: 'gptq',
    model_size_in_billions: size,
    quantizations: [quantization],
    model_id: repo,
    architecture,
  };
}

/** An FP8 (e4m3) checkpoint: per-channel or 128x128-block weight scales, as its quantization_config says. */
export function fp8(size: number, repo: string, architecture: ArchNumbersInput): ModelSpecInput {
  return {
    model_format: 'fp8',
    model_size_in_billions: size,
    quantizations: ['fp8'],
    model_id: repo,
    architecture,
  };
}
