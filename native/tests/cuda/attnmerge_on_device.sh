#!/bin/bash
# PAGODA_DECODE_ONE_KERNEL (decode attention without its merge kernel: the last block of each (sequence, KV head)
# merges the partitions) on the device in one call (~4 min, capped at TOTAL_S, default 240; a step starts only
# while it can end by then), in order:
# 1. decode_one_kernel_test (one kernel vs two kernels bit for bit over batches 1..64, contexts 1..8192, every
#    head_dim, fp8 KV, cascade prefix slots, fused RoPE, run twice and replayed twice in a CUDA graph with the
#    counters back at 0): must pass before anything else runs; on failure compute-sanitizer memcheck on it;
# 2. goldens through pagoda-check with the switch on: tiny-llama3 (graphs, and eager), tiny-qwen3, the wave2
#    tiny-llama-gptq-int4 (bf16 activations), tiny-llama3 with PAGODA_DECODE_FUSED_ROPE=1 as well;
# 3. batch-1 decode of Llama-3-8B bf16 and GPTQ int4 (dummy weights, decode_switches_on_device.sh's shape) with
#    the switch 0 then 1;
# 4. optional, while time is left (skipping them is not a failure): the default path's tests (paged_attention_test,
#    cascade_attention_test: the merge kernel's roundings are spelled out now, decode_merge.cuh;
#    fused_rope_decode_test stays out of the 40 MB bundle), then bf16 with the switch 1 then 0 again (drift).
# Logs go to $OUT/attnmerge, tarred into $OUT/attnmerge-logs.tar.gz.
# Bundle: attnmerge_bundle_for_device.sh. Usage: OUT=/some/dir bash BUNDLE/attnmerge_on_device.sh
SCRIPT=attnmerge_on_device LOGS=attnmerge TOTAL_S=${TOTAL_S:-240}
source "$(dirname "$0")/device_run.sh"
echo "TOTAL_S=$TOTAL_S"
mkdir -p /tmp/attnmerge-bin && tar xzf "$B/bin.tar.gz" -C /tmp/attnmerge-bin && BIN=/tmp/attnmerge-bin/bin
C=$B/configs
S=$B/shared
export PAGODA_SHARED=$S
unset PAGODA_DECODE_ONE_KERNEL PAGODA_DECODE_FUSED_ROPE PAGODA_CUDA_SKIP_OPS PAGODA_CUDA_GRAPHS

test_or_stop decode_one_kernel_test 90 "$BIN/decode_one_kernel_test"
echo "   $(grep -E "passed" "$OUT_DIR/decode_one_kernel_test.log" | tail -1);" \
  "bit-for-bit lines $(grep -c "bit for bit" "$OUT_DIR/decode_one_kernel_test.log")," \
  "graph replay lines $(grep -c "graph replay" "$OUT_DIR/decode_one_kernel_test.log")"

golden() { # NAME GOLDEN MODEL ENV...
  local name=$1 g=$2 m=$3
  shift 3
  run "golden-$name" 30 env "$@" "$BIN/pagoda-check" "$g" --model "$m" --device cuda --dtype auto &&
    echo "   golden $name: $(grep -E "passed" "$OUT_DIR/golden-$name.log" | tail -1);" \
      "$(grep -c "decode one kernel: on" "$OUT_DIR/golden-$name.log") 'on' line(s)"
}
G=$S/fixtures/golden
golden tiny-llama3-one "$G/tiny-llama3.golden.json" "$S/models/tiny-llama3" PAGODA_DECODE_ONE_KERNEL=1
golden tiny-llama3-one-eager "$G/tiny-llama3.golden.json" "$S/models/tiny-llama3" PAGODA_DECODE_ONE_KERNEL=1 \
  PAGODA_CUDA_GRAPHS=0
golden tiny-qwen3-one "$G/tiny-qwen3.golden.json" "$S/models/tiny-qwen3" PAGODA_DECODE_ONE_KERNEL=1
golden gptq-int4-one "$S/fixtures/wave2/golden/tiny-llama-gptq-int4.golden.json" \
  "$S/models/wave2/tiny-llama-gptq-int4" PAGODA_DECODE_ONE_KERNEL=1
golden tiny-llama3-one-rope "$G/tiny-llama3.golden.json" "$S/models/tiny-llama3" PAGODA_DECODE_ONE_KERNEL=1 \
  PAGODA_DECODE_FUSED_ROPE=1

# Batch 1: a small KV pool and few graphs load faster; the step does not depend on them.
L="--load-format dummy --device cuda --max-model-len 1024 --max-num-seqs 8 --gpu-memory-utilization 0.5"
L="$L --batch-size 1 --input-len 512 --output-len 128"
b1() { # FORMAT LABEL ENV...
  local f=$1 label=$2 cfg=$C/llama-3-8b-$1.json
  shift 2
  [ "$f" = bf16 ] && cfg=$C/llama-3-8b.json
  run "b1-$f-$label" 45 env "$@" "$BIN/pagoda-bench" --model "$cfg" $L \
    --out "$OUT_DIR/h200-llama3-8b-$f-decode-b1-$label.json" &&
    echo "   batch-1 $f $label: $(grep -E "^decode" "$OUT_DIR/b1-$f-$label.log" | head -1) |" \
      "$(grep -E "^floor" "$OUT_DIR/b1-$f-$label.log" | head -1)"
}
b1 bf16 one0 PAGODA_DECODE_ONE_KERNEL=0
b1 bf16 one1 PAGODA_DECODE_ONE_KERNEL=1
b1 gptq-int4 one0 PAGODA_DECODE_ONE_KERNEL=0
b1 gptq-int4 one1 PAGODA_DECODE_ONE_KERNEL=1

# Optional, while the budget lasts (not started is not a failure here): the default path's kernel tests, then
# the bf16 pair the other way round.
optional() { # NAME LIMIT_S ...: run only when it can end by TOTAL_S
  if [ $(($(el) + $2)) -gt "$TOTAL_S" ]; then echo "-- $1 not started ($(el) s in; optional)"; return 0; fi
  run "$@"
}
for t in paged_attention_test cascade_attention_test; do
  optional "$t" 60 "$BIN/$t" && [ -f "$OUT_DIR/$t.log" ] && echo "   $t: $(grep -E "passed" "$OUT_DIR/$t.log" | tail -1)"
done
if [ $(($(el) + 90)) -le "$TOTAL_S" ]; then
  b1 bf16 one1-again PAGODA_DECODE_ONE_KERNEL=1
  b1 bf16 one0-again PAGODA_DECODE_ONE_KERNEL=0
else
  echo "-- the bf16 pair again not started ($(el) s in; optional)"
fi
finish
