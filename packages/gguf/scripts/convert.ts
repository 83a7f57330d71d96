// Command line for the converter: node --import tsx packages/gguf/scripts/convert.ts <model dir> <out.gguf> [f32|f16|bf16|q8_0]
import { convertLlamaToGguf, type OutType } from '../src/index.ts';

const [dir, out, outtype = 'f16'] = process.argv.slice(2);
if (!dir || !out || !['f32', 'f16', 'bf16', 'q8_0'].includes(outtype)) {
  console.error('usage: convert.ts <model dir> <out.gguf> [f32|f16|bf16|q8_0]');
  process.exit(2);
}
try {
  convertLlamaToGguf({ dir, out, outtype: outtype as OutType });
} catch (err) {
  console.error(`convert.ts: ${(err as Error).message}`);
  process.exit(1);
}
console.log(`wrote ${out} (${outtype})`);
