#!/bin/bash
# kv_cache_dtype fp8 on the device in one call: builds the tree carried in $SRC there (16
# cores), then paged_attention_test (the e4m3 cases beside bf16), kv_cache_dtype_test on the
# CUDA backend (greedy tokens of the tiny checkpoints' goldens with fp8 KV = bf16 KV up to the
# first near-tie, twice the blocks, prefix caching and preemption), and pagoda-bench on the
# Llama-3-8B shape (dummy weights): random IN/OUT x PROMPTS with bf16 KV, then fp8 KV; with
# SHAREGPT=1 also the ShareGPT-like 500 with fp8 weights and fp8 KV beside bf16. Logs and JSON
# go straight into the out dir (each step's, as it ends), so a call cut short keeps what ran.
# Carry: $SRC (see kv_fp8_bundle_for_device.sh).
# Usage: native/tests/cuda/kv_fp8_on_device.sh OUT_DIR [git commit]
#   PROMPTS (300), IN / OUTLEN (1024 / 1024), SKIP_BENCH=1: build and tests only.
set -u -o pipefail
OUT_DIR=${1:?out dir}
export PAGODA_GIT_COMMIT=${2:-unknown}
SRC=${SRC:-.dev-carry/kvfp8-src}
BUILD=/tmp/pagoda-kvfp8-build
PROMPTS=${PROMPTS:-300}
IN=${IN:-1024}
OUTLEN=${OUTLEN:-1024}
mkdir -p "$OUT_DIR"
LOG="$OUT_DIR/steps.log"
status=0
start=$(date +%s)
run() { # NAME LIMIT_S COMMAND...: output to NAME.log as well
  local name=$1 limit=$2
  shift 2
  echo "== $name ($(($(date +%s) - start)) s in)" | tee -a "$LOG"
  if ! timeout "$limit" "$@" > "$OUT_DIR/$name.log" 2>&1; then
    echo "!! $name failed or ran past ${limit} s" | tee -a "$LOG"
    status=1
  fi
  grep -E "^(FAIL|!!)|passed|error|Error" "$OUT_DIR/$name.log" | head -12 | tee -a "$LOG"
}
nvidia-smi --query-gpu=name,memory.total,clocks.sm --format=csv,noheader | tee -a "$LOG"
cmake -S "$SRC/native" -B $BUILD -G Ninja -DCMAKE_BUILD_TYPE=Release -DPAGODA_ADDON=OFF > "$OUT_DIR/build.log" 2>&1 &&
  ninja -C $BUILD -j16 pagoda-bench paged_attention_test kv_cache_dtype_test >> "$OUT_DIR/build.log" 2>&1 ||
  { echo "build failed" | tee -a "$LOG"; grep -E "error" -A3 "$OUT_DIR/build.log" | head -30 | tee -a "$LOG"; exit 1; }
echo "== built ($(($(date +%s) - start)) s in)" | tee -a "$LOG"
run paged_attention_test 60 $BUILD/paged_attention_test
PAGODA_SHARED=$SRC/shared PAGODA_CUDA_GEMM_TUNE=0 run kv_cache_dtype_test 90 $BUILD/kv_cache_dtype_test cuda
grep -E "fp8 KV = bf16|prefix caching" "$OUT_DIR/kv_cache_dtype_test.log" | tee -a "$LOG"
[ "${SKIP_BENCH:-0}" = 1 ] && { echo "status $status" | tee -a "$LOG"; exit $status; }
S=$SRC/shared
LLAMA="--load-format dummy --device cuda --max-model-len 4096"
for kv in auto fp8; do
  run random-$kv 200 $BUILD/pagoda-bench --model $S/configs/llama-3-8b.json $LLAMA --kv-cache-dtype $kv \
    --dataset random --random-input-len $IN --random-output-len $OUTLEN --num-prompts $PROMPTS \
    --out "$OUT_DIR/h200-llama3-8b-random-$IN-$OUTLEN-x$PROMPTS-kv-$kv.json"
  grep -iE "tok/s|KV cache|roofline" "$OUT_DIR/random-$kv.log" | head -5 | tee -a "$LOG"
done
if [ "${SHAREGPT:-0}" = 1 ]; then
  for f in bf16 fp8; do
    cfg=$SRC/bench/configs/llama-3-8b-fp8-dynamic.json kv=fp8
    [ $f = bf16 ] && cfg=$S/configs/llama-3-8b.json kv=auto
    run sharegpt-$f 150 $BUILD/pagoda-bench --model $cfg $LLAMA --kv-cache-dtype $kv --dataset $S/workloads/sharegpt-like.json \
      --num-prompts 500 --out "$OUT_DIR/h200-llama3-8b-sharegpt-500-$f-weights-kv.json"
    grep -iE "req/s" "$OUT_DIR/sharegpt-$f.log" | head -3 | tee -a "$LOG"
  done
fi
echo "status $status ($(($(date +%s) - start)) s)" | tee -a "$LOG"
exit $status
