#!/usr/bin/env bash
# Builds the engine once, in native/build: the library, the N-API addon (build/addon/pagoda.node)
# linked against it, the C++ tools and the tests. Prints a line per stage and the compiler's progress.
#   build.sh          everything (what CI and scripts/test build)
#   build.sh addon    only the library and the addon (what scripts/start needs)
# CUDA: PAGODA_CUDA=ON|OFF decides. Unset, an existing build keeps its choice, and a new one builds
# the CUDA backend only when a GPU is present (/dev/nvidia0 or nvidia-smi) and nvcc is found.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { echo "[pagoda] native: $*" >&2; }
jobs="${PAGODA_BUILD_JOBS:-$(nproc 2>/dev/null || echo 2)}"
[ -d /usr/local/cuda/bin ] && export PATH="$PATH:/usr/local/cuda/bin"

gpu_present() { [ -e /dev/nvidia0 ] || { command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; }; }
upper() { echo "$1" | tr '[:lower:]' '[:upper:]'; }
cached="$(sed -n 's/^PAGODA_CUDA:BOOL=//p' build/CMakeCache.txt 2>/dev/null || true)"
if [ -n "${PAGODA_CUDA:-}" ]; then cuda="$(upper "$PAGODA_CUDA")" why="PAGODA_CUDA=$PAGODA_CUDA"
elif [ -n "$cached" ]; then cuda="$(upper "$cached")" why="as the existing build in native/build"
elif gpu_present; then cuda=ON why="a GPU is present"
else cuda=OFF why="no GPU here; PAGODA_CUDA=ON builds it anyway"; fi

if [ ! -f build/CMakeCache.txt ] || [ "$(upper "$cached")" != "$cuda" ]; then
  say "configure (CUDA backend $cuda: $why)"
  generator=()
  [ ! -f build/CMakeCache.txt ] && command -v ninja >/dev/null && generator=(-G Ninja)
  logf="$(mktemp)"
  trap 'rm -f "$logf"' EXIT
  if ! cmake -S . -B build "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DPAGODA_CUDA="$cuda" >"$logf" 2>&1; then
    cat "$logf" >&2
    say "configure failed (the cmake output is above)"
    exit 1
  fi
  sed -n 's/^-- pagoda: /[pagoda] native: /p' "$logf" >&2
fi

targets=()
for t in "$@"; do
  case "$t" in addon) targets+=(pagoda_addon) ;; *) targets+=("$t") ;; esac
done
say "compile ${*:-everything} with $jobs jobs (CUDA backend $cuda)"
started=$SECONDS
# Ninja prints one line per compiled file when its output is not a terminal, and a live line when it is.
export NINJA_STATUS="${NINJA_STATUS:-[pagoda] native [%f/%t] }"
if ! cmake --build build -j"$jobs" ${targets[@]+--target "${targets[@]}"} >&2; then
  say "build failed (the compiler's message is above)"
  exit 1
fi
say "done in $((SECONDS - started)) s: native/build/addon/pagoda.node"
