// @pagoda/gguf: GGUF headers (read), GGUF files (write), and the Llama safetensors → GGUF converter.
export {
  GGML_BLOCKS,
  FILE_TYPE_NAMES,
  GgmlType,
  GgufValueType,
  tensorBytes,
} from './ggml-types.ts';
export {
  GgufFormatError,
  ggufNumber,
  ggufString,
  readGgufHeader,
  type GgufHeader,
  type GgufTensorInfo,
  type GgufValue,
} from './gguf-reader.ts';
export { writeGguf, type GgufEntry, type GgufTensorSource } from './gguf-writer.ts';
export {
  convertLlamaToGguf,
  dummyReader,
  llamaTensorShapes,
  permuteRope,
  llama3RopeFactors,
  type ConvertOptions,
  type OutType,
} from './convert-llama.ts';
export { SafetensorsFile, writeSafetensorsBf16 } from './safetensors.ts';
export { ggufModelSummary, type GgufModelSummary } from './model-summary.ts';
