#!/usr/bin/env bash
# Packs the HTTP-overhead benchmark for a machine without Node or node_modules (the GPU machine):
# a Node binary, the runner and the benchmark bundled by esbuild, the native addon, stories260k and a
# 25M-parameter dummy config. Usage: packages/runner/bench/bundle-for-device.sh [OUT_DIR]
# Then there: xz -d -c node.xz > node && chmod +x node &&
#   ./node overhead.mjs --model models/stories260k --pagoda "$PWD/node serve-bundle.mjs" --rounds 4
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
out="${1:-$repo/.dev-carry/ovh}"
esbuild="$(ls -d "$repo"/node_modules/.pnpm/esbuild@*/node_modules/esbuild/bin/esbuild | head -1)"
banner="import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);"
mkdir -p "$out/node_modules/@pagoda/native/build/addon" "$out/models/dummy-25m"

entry="$(mktemp --suffix=.ts)"
trap 'rm -f "$entry"' EXIT
cat > "$entry" <<TS
import { run } from '$repo/packages/cli/src/commands/serve.ts';
const [command, ...rest] = process.argv.slice(2);
if (command !== 'serve') throw new Error('usage: serve-bundle.mjs serve <model> [flags]');
process.exitCode = await run(rest);
TS
bundle() { "$esbuild" "$1" --bundle --platform=node --format=esm --target=node20 --external:@pagoda/native --banner:js="$banner" --outfile="$2" --log-level=warning; }
bundle "$entry" "$out/serve-bundle.mjs"
bundle "$repo/packages/runner/bench/http-overhead.ts" "$out/overhead.mjs"

addon=""
for candidate in "$repo"/native/build/addon/pagoda.node "$repo"/native/build/addon/Release/pagoda.node; do
  [ -f "$candidate" ] && { addon="$candidate"; break; }
done
[ -n "$addon" ] || { echo "the native addon is not built (bash native/scripts/build.sh addon)" >&2; exit 1; }
cp "$repo/native/index.cjs" "$repo/native/package.json" "$out/node_modules/@pagoda/native/"
cp "$addon" "$out/node_modules/@pagoda/native/build/addon/pagoda.node"

stories="$repo/../shared/models/stories260k"
mkdir -p "$out/models/stories260k"
cp "$stories"/{config.json,generation_config.json,model.safetensors,special_tokens_map.json,tokenizer.json,tokenizer_config.json} "$out/models/stories260k/"
cp "$stories"/{generation_config.json,tokenizer.json,tokenizer_config.json} "$out/models/dummy-25m/"
node -e '
  const fs = require("fs");
  const c = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
  Object.assign(c, { hidden_size: 512, intermediate_size: 1408, num_hidden_layers: 8, num_attention_heads: 8,
    num_key_value_heads: 8, head_dim: 64, max_position_embeddings: 2048 });
  fs.writeFileSync(process.argv[2], JSON.stringify(c, null, 1));
' "$stories/config.json" "$out/models/dummy-25m/config.json"
[ -f "$out/node.xz" ] || xz -T2 -c "$(command -v node)" > "$out/node.xz"
du -sh "$out"
