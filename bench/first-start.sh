#!/usr/bin/env bash
# Measures what a newcomer waits for: `bash scripts/start` from a fresh clone until /health answers,
# the first time (everything installed and built) and the second (nothing to do), and writes the
# figures as JSON. Usage: bench/first-start.sh [clone-dir] [out.json]. The clone must sit beside
# shared/ (../shared), so the default is a sibling of this checkout.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
dir="${1:-$(dirname "$repo")/nc-clone}"
out="${2:-$repo/bench/results/first-start-$(date -u +%Y%m%d-%H%M).json}"
port="${PAGODA_BENCH_PORT:-19998}"
branch="$(git -C "$repo" rev-parse --abbrev-ref HEAD)"
commit="$(git -C "$repo" rev-parse --short HEAD)"
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
rm -rf "$dir"
git clone -q --branch "$branch" "$repo" "$dir"

# One start: seconds until /health answers, then the platform is stopped.
start_once() {
  local log="$1" t0 pid
  t0=$(date +%s.%N)
  (cd "$dir" && exec bash scripts/start --port "$port" --data-dir "$dir/data") >"$log" 2>&1 &
  pid=$!
  until curl -sf "http://127.0.0.1:$port/health" >/dev/null; do
    kill -0 "$pid" 2>/dev/null || { echo "scripts/start exited; its output:" >&2; cat "$log" >&2; exit 1; }
    sleep 0.2
  done
  echo "$(date +%s.%N) - $t0" | bc
  kill -TERM "$pid"; wait "$pid" || true
}
first=$(start_once "$dir/first-start.log")
second=$(start_once "$dir/second-start.log")
cat >"$out" <<JSON
{
  "what": "bash scripts/start from a fresh git clone until GET /health answers (no GPU: CPU-only native build)",
  "commit": "$commit",
  "date": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "machine": "$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load average before: $load_before (other work shares the cores)",
  "gpu": $( [ -e /dev/nvidia0 ] && echo true || echo false ),
  "first_start_seconds": $first,
  "second_start_seconds": $second,
  "goal": { "first_start_seconds": 240, "second_start_seconds": 10 },
  "first_start_stages": $(grep -E '^\[pagoda\] ([0-9]/[0-9] |  done|native: done)' "$dir/first-start.log" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.stringify(s.trim().split("\n"))))')
}
JSON
cat "$out"
