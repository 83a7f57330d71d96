#!/bin/bash
# Issue 15's FP8 decode GEMM (fp8_skinny_gemm, PAGODA_FP8_SKINNY=1) on the device in one call, in
# order: fp8_skinny_test (odd shapes at every m 1..256, forced configs and splits, the Llama-3-8B
# shapes vs a float64 GPU reference: must pass before anything is timed); `quant_kernel_bench
# fp8skinny` (bf16 engine GEMM, quant_gemm, quantize + cuBLASLt fp8 and fp8_skinny at m 1..256 on the
# four Llama shapes, with the copy floor); pagoda-bench ShareGPT-like 500 for bf16, FP8 with the
# switch off and on (Llama-3-8B shape, dummy weights, back to back: one card at one moment); batch-1
# decode FP8 off and on. Each log / JSON under OUT_DIR; a run starts only while it can end before
# TOTAL_S (default 530). Bundle: fp8_skinny_bundle_for_device.sh.
# Usage: bash BUNDLE/fp8_skinny_on_device.sh [OUT_DIR ($OUT/fp8skinny)]
set -u -o pipefail
BUNDLE=$(cd "$(dirname "$0")" && pwd)
BIN=$BUNDLE/bin
CFG=$BUNDLE/configs
OUT_DIR=${1:-${OUT:-/tmp}/fp8skinny}
TOTAL_S=${TOTAL_S:-530}
export PAGODA_GIT_COMMIT=$(cat "$BUNDLE/COMMIT" 2>/dev/null || echo unknown)
mkdir -p "$OUT_DIR"
start=$(date +%s)
status=0
nvidia-smi --query-gpu=name,memory.total,clocks.sm --format=csv,noheader
# NAME LIMIT_S COMMAND...: output to NAME.log; skipped when it could run past TOTAL_S.
run() {
  local name=$1 limit=$2
  shift 2
  local now=$(($(date +%s) - start))
  if [ $((now + limit)) -gt "$TOTAL_S" ]; then
    echo "-- $name not started ($now s in, may need $limit s)"
    status=1
    return 1
  fi
  echo "== $name ($now s in)"
  if ! timeout "$limit" "$@" > "$OUT_DIR/$name.log" 2>&1; then
    echo "!! $name failed or ran past $limit s"
    tail -8 "$OUT_DIR/$name.log"
    status=1
    return 1
  fi
}
summary() { # JSON: one line of pagoda-bench figures
  python3 - "$1" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
f = d["figures"]
a = f.get("step_time", {}).get("run", {}).get("all_steps", {})
print(f"   {f.get('request_throughput_per_s', 0):.2f} req/s, {f.get('output_tokens_per_s', 0):.0f} out tok/s, "
      f"step roofline {a.get('fraction_of_step_roofline', 0):.3f}, load {d.get('load_s', 0):.0f} s")
PY
}

if ! run fp8_skinny_test 120 "$BIN/fp8_skinny_test"; then
  grep -E "^FAIL" "$OUT_DIR/fp8_skinny_test.log" | head -20
  echo "fp8_skinny_on_device: the kernel test failed; nothing timed"
  exit 1
fi
tail -1 "$OUT_DIR/fp8_skinny_test.log"
grep -E "^info" "$OUT_DIR/fp8_skinny_test.log"

run quant_kernel_bench_fp8skinny 150 "$BIN/quant_kernel_bench" fp8skinny "$OUT_DIR/h200-fp8-skinny-kernels.json" &&
  grep -E "^device|m +[0-9]+ +floor|batch-1" "$OUT_DIR/quant_kernel_bench_fp8skinny.log"

LLAMA="--load-format dummy --device cuda --max-model-len 4096"
SHAREGPT="--dataset $BUNDLE/sharegpt-like.json --num-prompts 500"
for r in "bf16 llama-3-8b.json 0" "fp8-dynamic llama-3-8b-fp8-dynamic.json 0" "fp8-dynamic-skinny llama-3-8b-fp8-dynamic.json 1"; do
  set -- $r
  name=h200-llama3-8b-$1-sharegpt-500
  run "$name" 90 env PAGODA_W8A8_FUSED=1 PAGODA_FP8_SKINNY=$3 "$BIN/pagoda-bench" --model "$CFG/$2" $LLAMA $SHAREGPT \
    --out "$OUT_DIR/$name.json" && summary "$OUT_DIR/$name.json"
done
for r in "fp8-dynamic 0" "fp8-dynamic-skinny 1"; do
  set -- $r
  name=h200-llama3-8b-$1-decode-b1
  run "$name" 80 env PAGODA_W8A8_FUSED=1 PAGODA_FP8_SKINNY=$2 "$BIN/pagoda-bench" --model "$CFG/llama-3-8b-fp8-dynamic.json" \
    $LLAMA --batch-size 1 --input-len 512 --output-len 256 --out "$OUT_DIR/$name.json" &&
    echo "   $1: $(grep -E "^floor" "$OUT_DIR/$name.log" | head -1)"
done
echo "fp8_skinny_on_device: status $status ($(($(date +%s) - start)) s); logs and JSON in $OUT_DIR"
exit $status
