#!/usr/bin/env bash
# The whole stack measured on one machine, one workload, three ways (issue 19): the engine alone
# (pagoda-bench), `pagoda serve` over HTTP (`pagoda bench serve` at several request rates, all at once
# and at a fixed concurrency), and the platform (server + worker + runner, SQLite, a private
# redis-server) through its proxy, all at once. Unpacks what pack-node-bundle.sh packed beside it.
# Every run writes its JSON (h200-stack-*.json by default); they and the logs come back in
# $OUT/stack-results.tar.xz (the device tool returns at most 8 files), CPU profiles in *-cpuprofile.tar.xz.
# Environment (defaults are the GPU run's):
#   OUT                  results folder (required)
#   STACK_TAG            file name prefix (h200-stack)
#   STACK_DEVICE         cuda | cpu
#   STACK_MODEL          a config.json under the stack's models/ (llama-3-8b.json), served with dummy weights,
#                        or a checkpoint folder under models/ (then STACK_LOAD_FORMAT=auto)
#   STACK_LOAD_FORMAT    dummy | auto
#   STACK_NUM_PROMPTS    prompts of the all-at-once and concurrency runs (500)
#   STACK_RATE_PROMPTS   prompts of each request-rate run (200)
#   STACK_RATES          request rates (10 20 40)
#   STACK_CONCURRENCY    streams of the fixed-concurrency run (64)
#   STACK_ENGINE_FLAGS   engine flags shared by all three (--max-model-len 4096)
#   STACK_BENCH_FLAGS    flags for pagoda-bench alone (on the CPU: --num-threads N, as many as the runner's engine)
#   STACK_STAGES         which stages run (engine serve proxy profile)
#   STACK_PROFILE_PROXY  1: the proxy stage's server and runner run under a sampling CPU profiler
#   STACK_SERVE_PORT STACK_PLATFORM_PORT   ports of pagoda serve (8000) and the platform (9997)
#   STACK_COMMIT         the commit the stack was packed from, recorded in <tag>-manifest.json
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
: "${OUT:?set OUT to the results folder}"
tag="${STACK_TAG:-h200-stack}"
device="${STACK_DEVICE:-cuda}"
model_file="${STACK_MODEL:-llama-3-8b.json}"
load_format="${STACK_LOAD_FORMAT:-dummy}"
num_prompts="${STACK_NUM_PROMPTS:-500}"
rate_prompts="${STACK_RATE_PROMPTS:-200}"
rates="${STACK_RATES:-10 20 40}"
concurrency="${STACK_CONCURRENCY:-64}"
read -r -a engine_flags <<<"${STACK_ENGINE_FLAGS:---max-model-len 4096}"
stages=" ${STACK_STAGES:-engine serve proxy profile} "
work="${STACK_WORK:-/tmp/pagoda-stack}"
export TAG="$tag" DEVICE="$device" MODEL="$model_file" LOAD_FORMAT="$load_format" ENGINE_FLAGS="${engine_flags[*]}" \
  NUM="$num_prompts" RATE_NUM="$rate_prompts" STAGES="$stages"
logs="$work/logs"
results="$work/results"
t0=$SECONDS
say() { echo "[stack $((SECONDS - t0))s] $*" >&2; }
has_stage() { [[ "$stages" == *" $1 "* ]]; }
children=()
cleanup() {
  for pid in "${children[@]+"${children[@]}"}"; do kill -TERM "$pid" 2>/dev/null; done
  sleep 1
  manifest
  summary
  tar -C "$work" -cJf "$OUT/stack-results.tar.xz" results logs 2>/dev/null
}
manifest() { # what ran where: device, commit, settings, each run's window and main-thread CPU
  GPU="$(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null | head -1)" \
  CPU="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //') x $(nproc)" \
  node -e '
    const fs = require("fs"), [dir, windows] = process.argv.slice(1);
    const runs = fs.existsSync(windows) ? fs.readFileSync(windows, "utf8").trim().split("\n").filter(Boolean).map((l) => {
      const [name, from, to, ...rest] = l.split(" ");
      return { name, monotonic_from_s: +from, monotonic_to_s: +to, main_thread_cpu_s: Object.fromEntries(rest.map((kv) => kv.match(/\[(\d+)\]=(.*)/).slice(1).map(Number))) };
    }) : [];
    const e = process.env;
    fs.writeFileSync(dir + "/" + e.TAG + "-manifest.json", JSON.stringify({
      tool: "scripts/device/stack-bench.sh", date: new Date().toISOString(), git_commit: e.STACK_COMMIT || null,
      gpu: e.GPU || null, cpu: e.CPU, node: process.version, device: e.DEVICE, model: e.MODEL, load_format: e.LOAD_FORMAT,
      engine_flags: e.ENGINE_FLAGS, num_prompts: +e.NUM, rate_prompts: +e.RATE_NUM, stages: e.STAGES.trim(), runs }, null, 2) + "\n");
  ' "$results" "$results/windows.txt"
}
summary() { # one line per run: what the README table quotes
  node -e '
    const fs = require("fs"), dir = process.argv[1];
    for (const f of fs.readdirSync(dir).sort().filter((f) => f.endsWith(".json") && !f.endsWith("-manifest.json"))) {
      const d = JSON.parse(fs.readFileSync(dir + "/" + f, "utf8"));
      const x = d.figures ? { req: d.figures.request_throughput_per_s, out: d.figures.output_tokens_per_s, tok: d.figures.output_tokens,
          ttft50: d.figures.ttft_ms_median, ttft99: d.figures.ttft_ms_p99 }
        : { req: d.request_throughput, out: d.output_throughput, tok: d.total_output_tokens, ttft50: d.ttft_ms.median,
          ttft99: d.ttft_ms.p99, tpot50: d.tpot_ms.median, tpot99: d.tpot_ms.p99, itl50: d.itl_ms.median, itl99: d.itl_ms.p99, failed: d.failed };
      console.log(f.padEnd(48), Object.entries(x).map(([k, v]) => k + "=" + (typeof v === "number" ? +v.toFixed(2) : v)).join(" "));
    }' "$results" 2>/dev/null
}
trap cleanup EXIT
trap "exit 143" TERM INT

say "unpacking into $work"
rm -rf "$work" && mkdir -p "$work" "$logs" "$results"
tar -xJf "$here/stack.tar.xz" -C "$work"
s="$work/stack"
xz -dc "$here/node.xz" >"$s/bin/node" && chmod +x "$s/bin/node"
export PATH="$s/bin:$PATH"
node --version >&2 || exit 1
redis-server --version >&2 || ldd "$s/libexec/redis-server" >&2
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader >&2

# The served folder: config.json and a tokenizer covering the whole vocabulary (output ids of dummy
# weights are random, and every one must decode to text as with the real tokenizer).
if [ -f "$s/models/$model_file" ]; then
  model="$s/models/$(basename "$model_file" .json)"
  node "$s/bin/make-bench-tokenizer.mjs" "$s/models/$model_file" "$model" || exit 1
else
  model="$s/models/$model_file"
fi
dataset="$s/workloads/sharegpt-like.json"
serve_flags=(--device "$device" --load-format "$load_format" "${engine_flags[@]}")

mono() { python3 -c 'import time; print(f"{time.monotonic():.3f}")' 2>/dev/null || cut -d' ' -f1 /proc/uptime; }

wait_ready() { # url, pid, what, seconds
  for _ in $(seq 1 "$4"); do
    curl -sf "$1" >/dev/null 2>&1 && return 0
    kill -0 "$2" 2>/dev/null || { say "$3 exited before it was ready"; return 1; }
    sleep 1
  done
  say "$3 was not ready within $4 s"
  return 1
}

# pagoda bench serve against base url $1; name $2; then its flags.
bench() {
  local base="$1" name="$2" start
  shift 2
  say "bench $name"
  start="$(mono)"
  local -A ticks=()
  for pid in ${WATCH_PIDS:-}; do ticks[$pid]="$(main_ticks "$pid")"; done
  pagoda bench serve --base-url "$base" --model "$BENCH_MODEL" --tokenizer "$model" \
    --dataset-name sharegpt --dataset-path "$dataset" --ignore-eos --disable-tqdm --seed 0 \
    --save-result --result-dir "$results" --result-filename "$tag-$name.json" "$@" 2>&1 | tee "$logs/bench-$name.txt"
  # the run's window on CLOCK_MONOTONIC, the clock of V8's CPU profiles (cpuprofile-summary.mjs --from/--to)
  # and the CPU seconds each watched process's main (JavaScript) thread spent in it
  local line="$name $start $(mono)"
  for pid in ${WATCH_PIDS:-}; do
    line+=" main-thread-cpu-s[$pid]=$(awk -v a="${ticks[$pid]}" -v b="$(main_ticks "$pid")" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", (b - a) / hz }')"
  done
  echo "$line" >>"$results/windows.txt"
}
main_ticks() { awk '{ print $14 + $15 }' "/proc/$1/task/$1/stat" 2>/dev/null || echo 0; }

if has_stage engine; then
  say "engine alone: pagoda-bench"
  bench_model="$model"
  [ "$load_format" = dummy ] && bench_model="$model/config.json"
  # prefix caching on, as pagoda serve has it by default (pagoda-bench's default is off)
  pagoda-bench --model "$bench_model" --load-format "$load_format" --device "$device" "${engine_flags[@]}" \
    --enable-prefix-caching ${STACK_BENCH_FLAGS:-} \
    --dataset "$dataset" --num-prompts "$num_prompts" --skip-bandwidth \
    --out "$results/$tag-engine-alone-all-at-once.json" 2>&1 | tee "$logs/engine-alone.txt" | grep -v '^progress'
fi

# Waits (up to 60 s) until no process holds the GPU: the last stage's runner must be gone before the next loads.
gpu_idle() {
  command -v nvidia-smi >/dev/null || return 0
  for _ in $(seq 1 60); do
    [ -z "$(nvidia-smi --query-compute-apps=pid --format=csv,noheader 2>/dev/null)" ] && return 0
    sleep 1
  done
  say "the GPU is still in use"
}

serve_port="${STACK_SERVE_PORT:-8000}"
start_serve() { # extra node options, log name
  PAGODA_NODE_FLAGS="$1" pagoda serve "$model" --port "$serve_port" --served-model-name bench "${serve_flags[@]}" \
    >"$logs/$2.txt" 2>&1 &
  serve_pid=$!
  children+=("$serve_pid")
  wait_ready "http://127.0.0.1:$serve_port/health" "$serve_pid" "pagoda serve" 600
}
stop_serve() {
  kill -INT "$serve_pid" 2>/dev/null
  for _ in $(seq 1 60); do kill -0 "$serve_pid" 2>/dev/null || return 0; sleep 1; done
  kill -KILL "$serve_pid" 2>/dev/null
}

if has_stage proxy; then
  gpu_idle
  say "the platform: server + worker + runner, SQLite, a private redis-server"
  data="$work/data"
  platform_port="${STACK_PLATFORM_PORT:-9997}"
  export PAGODA_ENDPOINT="http://127.0.0.1:$platform_port"
  # STACK_PROFILE_PROXY=1: the server and its runner under a 2 ms sampling profiler (V8 .cpuprofile files).
  prof_flags=""
  [ "${STACK_PROFILE_PROXY:-0}" = 1 ] && prof_flags="--cpu-prof --cpu-prof-interval 2000 --cpu-prof-dir=$work/prof"
  PAGODA_NODE_FLAGS="$prof_flags" pagoda start --port "$platform_port" --data-dir "$data" >"$logs/platform.txt" 2>&1 &
  platform_pid=$!
  children+=("$platform_pid")
  if wait_ready "$PAGODA_ENDPOINT/health" "$platform_pid" "pagoda start" 120; then
    pagoda register bench-model --model-path "$model" 2>&1 | tee "$logs/register.txt"
    launch_flags=(--model-uid bench --n-gpu "$([ "$device" = cuda ] && echo 1 || echo 0)" --load-format "$load_format" "${engine_flags[@]}")
    if timeout 600 pagoda launch bench-model "${launch_flags[@]}" 2>&1 | tee "$logs/launch.txt"; then
      BENCH_MODEL=bench
      WATCH_PIDS="$platform_pid $(pgrep -f -- 'pagoda.mjs serve' | head -1)"
      pagoda bench serve --base-url "$PAGODA_ENDPOINT" --model bench --tokenizer "$model" --dataset-name random \
        --random-input-len 64 --random-output-len 16 --num-prompts 32 --ignore-eos --disable-tqdm >/dev/null 2>&1
      bench "$PAGODA_ENDPOINT" proxy-all-at-once --num-prompts "$num_prompts"
    fi
    pagoda list 2>&1 | tee "$logs/list.txt"
  fi
  kill -TERM "$platform_pid" 2>/dev/null
  for _ in $(seq 1 30); do kill -0 "$platform_pid" 2>/dev/null || break; sleep 1; done
  [ -d "$work/prof" ] && tar -C "$work" -cJf "$OUT/$tag-proxy-cpuprofile.tar.xz" prof
fi

if has_stage serve; then
  gpu_idle
  say "pagoda serve"
  if start_serve "" serve; then
    BENCH_MODEL=bench
    WATCH_PIDS="$serve_pid"
    base="http://127.0.0.1:$serve_port"
    # A short warm-up (JIT, first-request paths); not measured.
    pagoda bench serve --base-url "$base" --model bench --tokenizer "$model" --dataset-name random \
      --random-input-len 64 --random-output-len 16 --num-prompts 32 --ignore-eos --disable-tqdm >/dev/null 2>&1
    bench "$base" serve-all-at-once --num-prompts "$num_prompts"
    bench "$base" "serve-concurrency-$concurrency" --num-prompts "$num_prompts" --max-concurrency "$concurrency"
    for r in $rates; do bench "$base" "serve-rate-$r" --num-prompts "$rate_prompts" --request-rate "$r"; done
    stop_serve
  fi
fi

if has_stage profile; then
  gpu_idle
  # The runner's JavaScript under the all-at-once load, as a V8 CPU profile (not one of the measured runs).
  say "profile: pagoda serve under --cpu-prof, all at once"
  if start_serve "--cpu-prof --cpu-prof-interval 2000 --cpu-prof-dir=$work/prof-serve" serve-profile; then
    BENCH_MODEL=bench
    bench "http://127.0.0.1:$serve_port" profile-all-at-once --num-prompts "$num_prompts" >/dev/null
    rm -f "$results/$tag-profile-all-at-once.json"
    stop_serve
    tar -C "$work" -cJf "$OUT/$tag-serve-cpuprofile.tar.xz" prof-serve 2>/dev/null
  fi
fi
say "done"
