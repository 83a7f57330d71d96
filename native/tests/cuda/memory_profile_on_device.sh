#!/bin/bash
# The engine's memory profile on the device, in one call: pagoda-bench --profile-only (dummy
# weights) for the Llama-3-8B, Qwen2.5-7B and Qwen2.5-32B shapes at gpu_memory_utilization 0.9 and
# 0.5, at the default max_model_len and at 32768 where that differs (Qwen2.5's default is 32768;
# Llama-3-8B's 32768 is beyond its max_position_embeddings). One JSON line per load appended to
# $OUT_DIR/profiles.jsonl as each ends, most important first, and a load is skipped when the
# call's time (BUDGET_S) would not hold it, so a call cut short keeps what ran.
# Carry: .dev-carry/planner (memory_profile_bundle_for_device.sh fills it).
# Usage: native/tests/cuda/memory_profile_on_device.sh OUT_DIR [git commit]   (BUDGET_S, 190)
set -u -o pipefail
OUT_DIR=${1:?out dir}
export PAGODA_GIT_COMMIT=${2:-unknown}
CARRY=${CARRY:-.dev-carry/planner}
BUDGET_S=${BUDGET_S:-190}
mkdir -p "$OUT_DIR"
LOG="$OUT_DIR/steps.log"
start=$(date +%s)
nvidia-smi --query-gpu=name,memory.total,memory.used,driver_version --format=csv,noheader,nounits | tee "$OUT_DIR/nvidia-smi.csv" | tee -a "$LOG"
# NAME EXPECTED_S CONFIG FLAGS...: one load, skipped when EXPECTED_S would run past the budget.
profile() {
  local name=$1 expected=$2 config=$3
  shift 3
  local now=$(($(date +%s) - start))
  if [ $((now + expected)) -gt "$BUDGET_S" ]; then
    echo "-- $name skipped ($now s in, needs ~$expected s)" | tee -a "$LOG"
    return
  fi
  echo "== $name ($now s in)" | tee -a "$LOG"
  if timeout $((expected * 2)) "$CARRY/bin/pagoda-bench" --model "$CARRY/configs/$config" --load-format dummy \
    --device cuda --profile-only "$@" --out "$OUT_DIR/$name.json" > /dev/null 2>> "$LOG"; then
    sed "s/^{/{\"run\":\"$name\",/" "$OUT_DIR/$name.json" >> "$OUT_DIR/profiles.jsonl"
    grep -o '"loaded":[a-z]*\|"kv_cache_tokens":[0-9.e+]*\|"load_s":[0-9.]*\|"error":"[^"]*"' "$OUT_DIR/$name.json" | tr '\n' ' ' | tee -a "$LOG"
    echo | tee -a "$LOG"
  else
    echo "!! $name failed or ran past $((expected * 2)) s" | tee -a "$LOG"
  fi
  rm -f "$OUT_DIR/$name.json"
}
profile llama-3-8b-u0.9 25 llama-3-8b.json --gpu-memory-utilization 0.9
profile qwen2.5-7b-u0.9 25 qwen2.5-7b.json --gpu-memory-utilization 0.9
profile qwen2.5-32b-u0.9 80 qwen2.5-32b.json --gpu-memory-utilization 0.9
profile qwen2.5-32b-u0.5 70 qwen2.5-32b.json --gpu-memory-utilization 0.5
profile llama-3-8b-u0.5 25 llama-3-8b.json --gpu-memory-utilization 0.5
profile qwen2.5-7b-u0.5 25 qwen2.5-7b.json --gpu-memory-utilization 0.5
profile llama-3-8b-u0.9-len32768 20 llama-3-8b.json --gpu-memory-utilization 0.9 --max-model-len 32768
profile llama-3-8b-u0.9-seqs64 22 llama-3-8b.json --gpu-memory-utilization 0.9 --max-num-seqs 64
echo "== done ($(($(date +%s) - start)) s)" | tee -a "$LOG"
