#!/bin/bash
# Issue 15's serving figures on the device in one call (Llama-3-8B shape, dummy weights): 500
# ShareGPT-like requests at once for bf16, FP8 (compressed-tensors, per channel, W8A8) and FP8 with
# --kv-cache-dtype fp8, back to back so the ratio is of one card at one moment; then the same FP8 run
# eager with PAGODA_CUDA_OP_TIMING=1 (where a decode step's time goes, op by op, on stderr); then
# random 1,024/1,024 x NUM_RANDOM (default 1,000) with bf16 weights, KV auto vs fp8. Each JSON and log
# under OUT_DIR; a run is started only while it can end before BUDGET_S (default 560).
# Bundle: quant_throughput_bundle_for_device.sh. Usage: bash BUNDLE/quant_throughput_on_device.sh OUT_DIR
set -u -o pipefail
OUT_DIR=${1:-${OUT:-/tmp}/throughput}
BUNDLE=$(cd "$(dirname "$0")" && pwd)
BIN=$BUNDLE/bin/pagoda-bench
BUDGET_S=${BUDGET_S:-560}
NUM_RANDOM=${NUM_RANDOM:-1000}
export PAGODA_GIT_COMMIT=$(cat "$BUNDLE/COMMIT" 2>/dev/null || echo unknown)
mkdir -p "$OUT_DIR"
start=$(date +%s)
status=0
nvidia-smi --query-gpu=name,memory.total,clocks.sm --format=csv,noheader
# NAME EXPECTED_S ENV... -- FLAGS...: one pagoda-bench run, skipped when EXPECTED_S would pass the budget.
bench() {
  local name=$1 expected=$2
  shift 2
  local envs=()
  while [ "$1" != "--" ]; do envs+=("$1"); shift; done
  shift
  local now=$(($(date +%s) - start))
  if [ $((now + expected)) -gt "$BUDGET_S" ]; then
    echo "-- $name skipped ($now s in, needs ~$expected s)"
    return
  fi
  echo "== $name ($now s in)"
  if ! timeout $((expected * 2)) env "${envs[@]}" "$BIN" --load-format dummy --device cuda --max-model-len 4096 "$@" \
    --out "$OUT_DIR/$name.json" > "$OUT_DIR/$name.log" 2>&1; then
    echo "!! $name failed or ran past $((expected * 2)) s"
    status=1
    tail -5 "$OUT_DIR/$name.log"
    return
  fi
  python3 - "$OUT_DIR/$name.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
f = d["figures"]
a = f["step_time"]["run"]["all_steps"]
print(f"   {f['request_throughput_per_s']:.2f} req/s, {f['output_tokens_per_s']:.0f} out tok/s, "
      f"{a['fraction_of_step_roofline']:.3f} of step roofline, idle {a['device_idle_pct']:.2f}%, "
      f"load {d['load_s']:.0f} s, preemptions {f['preemptions']}")
EOF
}
CFG=$BUNDLE/configs
SHAREGPT="--dataset $BUNDLE/sharegpt-like.json --num-prompts 500"
bench h200-llama3-8b-bf16-sharegpt-500 60 PAGODA_W8A8_FUSED=1 -- --model "$CFG/llama-3-8b.json" $SHAREGPT
bench h200-llama3-8b-fp8-dynamic-sharegpt-500 60 PAGODA_W8A8_FUSED=1 -- --model "$CFG/llama-3-8b-fp8-dynamic.json" $SHAREGPT
bench h200-llama3-8b-fp8-dynamic-kv-fp8-sharegpt-500 60 PAGODA_W8A8_FUSED=1 -- --model "$CFG/llama-3-8b-fp8-dynamic.json" \
  --kv-cache-dtype fp8 $SHAREGPT
bench fp8-dynamic-sharegpt-500-op-timing 90 PAGODA_W8A8_FUSED=1 PAGODA_CUDA_OP_TIMING=1 PAGODA_CUDA_GRAPHS=0 -- \
  --model "$CFG/llama-3-8b-fp8-dynamic.json" $SHAREGPT
grep -A60 -i 'op time\|per op\|decode' "$OUT_DIR/fp8-dynamic-sharegpt-500-op-timing.log" 2>/dev/null | head -70
RANDOM_RUN="--dataset random --random-input-len 1024 --random-output-len 1024 --num-prompts $NUM_RANDOM"
bench h200-llama3-8b-random-1024-1024-x$NUM_RANDOM-kv-auto 170 PAGODA_W8A8_FUSED=1 -- --model "$CFG/llama-3-8b.json" $RANDOM_RUN
bench h200-llama3-8b-random-1024-1024-x$NUM_RANDOM-kv-fp8 170 PAGODA_W8A8_FUSED=1 -- --model "$CFG/llama-3-8b.json" \
  --kv-cache-dtype fp8 $RANDOM_RUN
echo "quant_throughput_on_device: status $status ($(($(date +%s) - start)) s)"
exit $status
