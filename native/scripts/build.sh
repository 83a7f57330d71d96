#!/usr/bin/env bash
# Builds the engine: the library, C++ tools and tests (native/build) and the N-API addon
# (native/build/addon). CUDA is built when nvcc is found, unless PAGODA_CUDA=OFF.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs="${PAGODA_BUILD_JOBS:-2}"
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
[ -d /usr/local/cuda/bin ] && export PATH="$PATH:/usr/local/cuda/bin"
cuda="${PAGODA_CUDA:-ON}"
logf="$(mktemp)"
trap 'rm -f "$logf"' EXIT
run() { "$@" >"$logf" 2>&1 || { cat "$logf" >&2; echo "[pagoda] native build failed: $*" >&2; exit 1; }; }
[ -f build/CMakeCache.txt ] || run cmake -S . -B build "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DPAGODA_CUDA="$cuda"
run cmake --build build -j"$jobs"
if compgen -G "addon/*.cpp" >/dev/null; then
  run npx cmake-js compile -O build/addon -p "$jobs" --CDPAGODA_CUDA="$cuda"
fi
echo "[pagoda] native build done" >&2
