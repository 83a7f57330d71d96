#!/bin/bash
# ShareGPT-like 500 in bf16 (Llama-3-8B, dummy weights) under switches, alternating, then traced: an A/B of a change
# to the steps with prompt tokens in one call, from the figures bundle (figures_bundle_for_device.sh) with the kernel
# tracer beside it in trace/ (libpagoda_kernel_trace.so and libcupti.so.13, gzipped, and kernel_trace_summary.py).
# CHECKS=1 first: cublaslt_test must pass, then every golden. RUNS="NAME:VAR=V[,VAR=V] ..." (default "default:")
# runs in that order, then again in reverse (ABBA); TRACE="NAME ..." traces those (kernel_trace_summary.py --run, then
# the GRAPHS decode graphs with the most time kernel by kernel: trace-NAME.graphs.txt). PLAIN=0: the traces only.
# Usage: OUT=/some/dir bash BUNDLE/trace/sharegpt_ab_on_device.sh
SCRIPT=sharegpt_ab_on_device LOGS=sharegpt-ab TOTAL_S=${TOTAL_S:-400}
source "$(dirname "$0")/../device_run.sh"
mkdir -p /tmp/figures-bin && tar xzf "$B/bin.tar.gz" -C /tmp/figures-bin && BIN=/tmp/figures-bin/bin
T=$B/trace S=$B/shared
gunzip -kf "$T"/*.gz && cp "$T/libcupti.so.13" "$T/libpagoda_kernel_trace.so" "$BIN/"
export LD_LIBRARY_PATH=$BIN${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} PAGODA_SHARED=$S
W=(--model "$B/configs/llama-3-8b.json" --load-format dummy --device cuda --max-model-len 4096
   --dataset "$B/sharegpt-like.json" --num-prompts 500)
if [ "${CHECKS:-0}" = 1 ]; then
  test_or_stop cublaslt_test 90 "$BIN/cublaslt_test"
  grep -E "passed" "$OUT_DIR/cublaslt_test.log" | tail -1
  every_golden
fi
envs_of() { local e=${1#*:}; ENVS=(); [ -n "$e" ] && IFS=, read -ra ENVS <<< "$e"; }
figures() { # JSON: throughput, the per-step roofline share, the prompt steps' ms, the load and its plans
  python3 -c "import json,sys; d=json.load(open(sys.argv[1])); f=d['figures']; r=f['step_time']['run']
print(f\"   {f['request_throughput_per_s']:.2f} req/s, {100*r['all_steps']['fraction_of_step_roofline']:.2f}% of the per-step roofline, prompt steps {r['prefill_steps']['ms_per_step']:.2f} ms, decode {100*r['decode_steps']['fraction_of_step_roofline']:.2f}%, load {d['load_s']:.1f} s, {f['gemm_plans_made']:.0f} plans in the run ({f['gemm_plan_host_ms']:.0f} ms)\")" "$1"
}
SPECS=(${RUNS:-default:})
ORDER=("${SPECS[@]}")
for ((i = ${#SPECS[@]} - 1; i >= 0; i--)); do ORDER+=("${SPECS[i]}"); done
[ "${PLAIN:-1}" = 0 ] && ORDER=() # traces only
n=0
for spec in "${ORDER[@]}"; do
  n=$((n + 1)) name=${spec%%:*}
  envs_of "$spec"
  run "$n-$name" 90 env "${ENVS[@]}" "$BIN/pagoda-bench" "${W[@]}" --out "$OUT_DIR/$CARD-sharegpt-bf16-$n-$name.json" &&
    echo "   $n $name:" && figures "$OUT_DIR/$CARD-sharegpt-bf16-$n-$name.json"
done
for name in ${TRACE:-}; do
  for spec in "${SPECS[@]}"; do [ "${spec%%:*}" = "$name" ] && envs_of "$spec"; done
  run "trace-$name" 150 env CUDA_INJECTION64_PATH="$BIN/libpagoda_kernel_trace.so" PAGODA_KERNEL_TRACE="$OUT_DIR/trace-$name.csv" \
    "${ENVS[@]}" "$BIN/pagoda-bench" "${W[@]}" --out "$OUT_DIR/$CARD-sharegpt-bf16-trace-$name.json" &&
    python3 "$T/kernel_trace_summary.py" --run "$OUT_DIR/trace-$name.csv" > "$OUT_DIR/trace-$name.summary.txt" 2>&1
  sed -n 3,5p "$OUT_DIR/trace-$name.summary.txt"
  grep -A8 "GEMMs by linear" "$OUT_DIR/trace-$name.summary.txt"
  grep -A13 "longest idle" "$OUT_DIR/trace-$name.summary.txt"
  # Each of the GRAPHS (default 8) decode graphs with the most time, kernel by kernel (a padded batch size each).
  ids=$(awk '/^decode graphs/ {f = 1; getline; next} f && NF >= 6 {print $1} f && NF < 6 {f = 0}' \
    "$OUT_DIR/trace-$name.summary.txt" | head -"${GRAPHS:-8}" | paste -sd,)
  [ -n "$ids" ] && timeout 120 python3 "$T/kernel_trace_summary.py" --graph "$ids" "$OUT_DIR/trace-$name.csv" \
    > "$OUT_DIR/trace-$name.graphs.txt" 2>&1 && grep -E "^graph launches|^step:" "$OUT_DIR/trace-$name.graphs.txt"
  rm -f "$OUT_DIR/trace-$name.csv" # ~70 MB: the summaries come back
done
finish
