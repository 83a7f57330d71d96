#!/bin/bash
# Per-kernel times of decode steps as they run (CUDA graphs + PDL) in one call (capped at TOTAL_S, default 300):
# Llama-3-8B dummy weights, 512 in / 128 out, batch 1 for bf16, GPTQ, AWQ and FP8 W8A8, and batch 64 for bf16,
# each under the CUPTI injection library (kernel_trace.cpp), then kernel_trace_summary.py on each trace. bf16 and
# GPTQ batch 1 also run without the tracer, so its cost on the step shows beside it. Traces (gzipped) and logs go
# to $OUT/trace, tarred into $OUT/trace-logs.tar.gz.
# Bundle: trace_bundle_for_device.sh. Usage: OUT=/some/dir bash BUNDLE/trace_on_device.sh
SCRIPT=trace_on_device LOGS=trace TOTAL_S=${TOTAL_S:-300}
source "$(dirname "$0")/device_run.sh"
mkdir -p /tmp/trace-bin && tar xzf "$B/bin.tar.gz" -C /tmp/trace-bin && BIN=/tmp/trace-bin/bin
export LD_LIBRARY_PATH=$BIN${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
L="--load-format dummy --device cuda --max-model-len 1024 --max-num-seqs 64 --gpu-memory-utilization 0.5"
L="$L --input-len 512 --output-len 128"
cfg() { [ "$1" = bf16 ] && echo "$B/configs/llama-3-8b.json" || echo "$B/configs/llama-3-8b-$1.json"; }
traced() { # FORMAT BATCH [ENV...]
  local f=$1 b=$2 name=trace-$1-b$2
  shift 2
  run "$name" 70 env CUDA_INJECTION64_PATH="$BIN/libpagoda_kernel_trace.so" PAGODA_KERNEL_TRACE="$OUT_DIR/$name.csv" "$@" \
    "$BIN/pagoda-bench" --model "$(cfg $f)" $L --batch-size "$b" --out "$OUT_DIR/$name.json" &&
    echo "   $f batch $b traced: $(grep -E "^floor" "$OUT_DIR/$name.log" | head -1)" &&
    python3 "$B/kernel_trace_summary.py" "$OUT_DIR/$name.csv" > "$OUT_DIR/$name.summary.txt" 2>&1 &&
    head -3 "$OUT_DIR/$name.summary.txt" && gzip "$OUT_DIR/$name.csv"
}
plain() { # FORMAT BATCH
  run "plain-$1-b$2" 60 "$BIN/pagoda-bench" --model "$(cfg $1)" $L --batch-size "$2" --out "$OUT_DIR/plain-$1-b$2.json" &&
    echo "   $1 batch $2 untraced: $(grep -E "^floor" "$OUT_DIR/plain-$1-b$2.log" | head -1)"
}
traced bf16 1
plain bf16 1
traced gptq-int4 1
plain gptq-int4 1
traced awq-int4 1
traced fp8-dynamic 1
traced bf16 64
finish
