#!/bin/bash
# Per-kernel times of decode steps as they run (CUDA graphs + PDL) in one call (capped at TOTAL_S, default 300):
# Llama-3-8B dummy weights, 512 in / 128 out, each run under the CUPTI injection library (kernel_trace.cpp), then
# kernel_trace_summary.py on its trace. By default batch 1 for bf16, GPTQ, AWQ and FP8 W8A8 and batch 64 for bf16,
# with bf16 and GPTQ batch 1 also untraced (the tracer's cost on the step beside it). RUNS="FORMAT:BATCH[:ENV=V,...]
# ..." runs those instead (a switch's variants traced in one call; BATCH "sharegpt": the ShareGPT-like 500,
# untraced, max_model_len 4096; BATCH "sharegpt-trace": the same run traced, and "random-trace": random 1,024 /
# 1,024 x RANDOM_PROMPTS (300) traced, each summarized by phase with kernel_trace_summary.py --run (decode steps
# against prefill-carrying ones, between pagoda-bench's profiler marks) beside nvidia-smi's SM clock, power and
# throttle reasons every 100 ms; KV=fp8 among any run's switches adds --kv-cache-dtype fp8). CHECKS=1 first runs quant_gemm_test, quant_gemm_silu_test, skinny_gemm_test, elementwise_kernels_test, sample_rows_test, cuda_graph_test, kv_cache_dtype_test (cuda)
# (once under each KV_CHECK_ENVS="VAR=V ..." switch, default PAGODA_CUDA_GEMM_TUNE=0) and the goldens (wave2
# quantized, W8A8, tiny bf16), then quant_gemm_test and the goldens again under each CHECK_ENVS="VAR=V ..." switch. Traces (gzipped) and logs go to $OUT/trace, tarred into
# $OUT/trace-logs.tar.gz. Bundle: trace_bundle_for_device.sh. Usage: OUT=/some/dir bash BUNDLE/trace_on_device.sh
SCRIPT=trace_on_device LOGS=trace TOTAL_S=${TOTAL_S:-300}
source "$(dirname "$0")/device_run.sh"
mkdir -p /tmp/trace-bin && tar xzf "$B/bin.tar.gz" -C /tmp/trace-bin && BIN=/tmp/trace-bin/bin
export LD_LIBRARY_PATH=$BIN${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
L="--load-format dummy --device cuda --max-model-len 1024 --max-num-seqs 64 --gpu-memory-utilization 0.5"
L="$L --input-len 512 --output-len 128"
cfg() { [ "$1" = bf16 ] && echo "$B/configs/llama-3-8b.json" || echo "$B/configs/llama-3-8b-$1.json"; }
# KV=fp8 among a run's switches: --kv-cache-dtype fp8 (sets KV_ARGS, leaves the other switches in ENVS)
split_kv() {
  KV_ARGS=() ENVS=()
  for e in "$@"; do [ "$e" = KV=fp8 ] && KV_ARGS=(--kv-cache-dtype fp8) || ENVS+=("$e"); done
}
traced() { # FORMAT BATCH [ENV...]
  local f=$1 b=$2 name=trace-$1-b$2
  shift 2
  [ $# -gt 0 ] && name=$name-$(echo "$*" | tr ' =' '_-')
  split_kv "$@"
  run "$name" 70 env CUDA_INJECTION64_PATH="$BIN/libpagoda_kernel_trace.so" PAGODA_KERNEL_TRACE="$OUT_DIR/$name.csv" \
    "${ENVS[@]}" "$BIN/pagoda-bench" --model "$(cfg $f)" $L --batch-size "$b" "${KV_ARGS[@]}" --out "$OUT_DIR/$name.json" &&
    echo "   $f batch $b traced: $(grep -E "^floor" "$OUT_DIR/$name.log" | head -1)" &&
    python3 "$B/kernel_trace_summary.py" "$OUT_DIR/$name.csv" > "$OUT_DIR/$name.summary.txt" 2>&1 &&
    sed -n 2p "$OUT_DIR/$name.summary.txt" && grep -E "^between" "$OUT_DIR/$name.summary.txt"; gzip "$OUT_DIR/$name.csv"
}
# A whole workload run traced (WORKLOAD: pagoda-bench's dataset arguments; ENVS / KV_ARGS from split_kv), its
# kernels by phase between pagoda-bench's profiler marks, beside nvidia-smi's SM clock, power and throttle reasons.
traced_workload() { # NAME FORMAT
  local name=$1 f=$2 smi
  nvidia-smi --query-gpu=timestamp,clocks.sm,power.draw,clocks_throttle_reasons.active --format=csv -lms 100 \
    > "$OUT_DIR/$name.clocks.csv" 2>/dev/null &
  smi=$!
  run "$name" 170 env CUDA_INJECTION64_PATH="$BIN/libpagoda_kernel_trace.so" PAGODA_KERNEL_TRACE="$OUT_DIR/$name.csv" \
    "${ENVS[@]}" "$BIN/pagoda-bench" --model "$(cfg $f)" --load-format dummy --device cuda --max-model-len 4096 \
    "${WORKLOAD[@]}" "${KV_ARGS[@]}" --out "$OUT_DIR/$name.json" &&
    echo "   $name traced: $(grep -E "^throughput" "$OUT_DIR/$name.log" | head -1)" &&
    python3 "$B/kernel_trace_summary.py" --run "$OUT_DIR/$name.csv" > "$OUT_DIR/$name.summary.txt" 2>&1 &&
    sed -n 1,6p "$OUT_DIR/$name.summary.txt"
  kill $smi 2>/dev/null
  gzip "$OUT_DIR/$name.csv"
}
plain() { # FORMAT BATCH
  run "plain-$1-b$2" 60 "$BIN/pagoda-bench" --model "$(cfg $1)" $L --batch-size "$2" --out "$OUT_DIR/plain-$1-b$2.json" &&
    echo "   $1 batch $2 untraced: $(grep -E "^floor" "$OUT_DIR/plain-$1-b$2.log" | head -1)"
}
if [ "${CHECKS:-0}" = 1 ]; then
  [ -d "$B/shared" ] || { echo "CHECKS=1 needs the checkpoints: bundle without TRACE_CHECKS=0"; exit 1; }
  S=$B/shared
  export PAGODA_SHARED=$S
  test_or_stop quant_gemm_test 120 "$BIN/quant_gemm_test"
  echo "   quant_gemm_test: $(grep -E "passed" "$OUT_DIR/quant_gemm_test.log" | tail -1)"
  test_or_stop quant_gemm_silu_test 120 "$BIN/quant_gemm_silu_test"
  echo "   quant_gemm_silu_test: $(grep -E "passed" "$OUT_DIR/quant_gemm_silu_test.log" | tail -1)"
  test_or_stop skinny_gemm_test 90 "$BIN/skinny_gemm_test"
  echo "   skinny_gemm_test: $(grep -E "passed" "$OUT_DIR/skinny_gemm_test.log" | tail -1)"
  test_or_stop elementwise_kernels_test 90 "$BIN/elementwise_kernels_test"
  echo "   elementwise_kernels_test: $(grep -E "passed" "$OUT_DIR/elementwise_kernels_test.log" | tail -1)"
  for t in sample_rows_test cuda_graph_test; do
    test_or_stop $t 90 "$BIN/$t" "$S/models/tiny-llama3"
    echo "   $t: $(grep -E "passed" "$OUT_DIR/$t.log" | tail -1)"
  done
  # the CUDA backend's fp8 KV cache: greedy tokens = bf16 KV's up to the first near-tie, twice the blocks (the
  # checkpoints the bundle carries; the whole list runs in kv_fp8_on_device.sh)
  for e in ${KV_CHECK_ENVS:-PAGODA_CUDA_GEMM_TUNE=0}; do
    run "kv_cache_dtype_test-${e//=/-}" 90 env "$e" "$BIN/kv_cache_dtype_test" cuda tiny-llama3 tiny-qwen2 tiny-qwen3
    echo "   kv_cache_dtype_test cuda $e: $(grep -E "passed|failure" "$OUT_DIR/kv_cache_dtype_test-${e//=/-}.log" | tail -1)"
  done
  every_golden
  for e in ${CHECK_ENVS:-}; do # a switch's kernels must keep the default's bits: its kernel test and goldens again
    test_or_stop "quant_gemm_test-${e//=/-}" 120 env "$e" "$BIN/quant_gemm_test"
    echo "   quant_gemm_test $e: $(grep -E "passed" "$OUT_DIR/quant_gemm_test-${e//=/-}.log" | tail -1)"
    (export "$e" && every_golden "${e//=/-}") || status=1
  done
fi
if [ -n "${RUNS:-}" ]; then
  for r in $RUNS; do
    IFS=: read -r f b envs <<< "$r"
    if [ "$b" = sharegpt-trace ] || [ "$b" = random-trace ]; then
      split_kv ${envs//,/ }
      if [ "$b" = sharegpt-trace ]; then
        WORKLOAD=(--dataset "$B/sharegpt-like.json" --num-prompts 500)
      else # random 1,024 / 1,024, 300 requests: its steps with prompt tokens carry long-context decode rows
        WORKLOAD=(--dataset random --random-input-len 1024 --random-output-len 1024 --num-prompts "${RANDOM_PROMPTS:-300}")
      fi
      traced_workload "$b-$f${envs:+-$(echo "$envs" | tr ',=' '_-')}" "$f"
    elif [ "$b" = sharegpt ]; then
      name=sharegpt-$f${envs:+-$(echo "$envs" | tr ',=' '_-')}
      split_kv ${envs//,/ }
      run "$name" 110 env "${ENVS[@]}" "$BIN/pagoda-bench" --model "$(cfg $f)" --load-format dummy --device cuda \
        --max-model-len 4096 --dataset "$B/sharegpt-like.json" --num-prompts 500 "${KV_ARGS[@]}" --out "$OUT_DIR/$name.json" &&
        echo "   ShareGPT $f ${envs}: $(grep -E "^throughput" "$OUT_DIR/$name.log" | head -1)"
    else
      traced "$f" "$b" ${envs//,/ }
    fi
  done
else
  traced bf16 1
  plain bf16 1
  traced gptq-int4 1
  plain gptq-int4 1
  traced awq-int4 1
  traced fp8-dynamic 1
  traced bf16 64
fi
finish
