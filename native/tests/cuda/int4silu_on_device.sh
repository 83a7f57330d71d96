#!/bin/bash
# The int4 fused SiLU (on by default since session 12; PAGODA_FUSED_SILU=0 turns it off) on the device in one call (capped at TOTAL_S, default 240):
# 1. quant_gemm_silu_test (the fused kernel bit for bit against quant_gemm_lean + silu_mul at m 1..8, the
#    interleaved layout at m 16 / 32 / 64 against the plain pair); a failure stops the run;
# 2. the wave2 int4 goldens (gptq-int4, gptq-int4-actorder, awq-int4) (the default);
# 3. batch-1 decode of Llama-3-8B GPTQ and AWQ (dummy weights) with the switch 0 and 1, in the same call.
# Logs and JSON go to $OUT/int4silu, tarred into $OUT/int4silu-logs.tar.gz.
# Bundle: int4silu_bundle_for_device.sh. Usage: OUT=/some/dir bash BUNDLE/int4silu_on_device.sh
SCRIPT=int4silu_on_device LOGS=int4silu TOTAL_S=${TOTAL_S:-240}
source "$(dirname "$0")/device_run.sh"
mkdir -p /tmp/int4silu-bin && tar xzf "$B/bin.tar.gz" -C /tmp/int4silu-bin && BIN=/tmp/int4silu-bin/bin
S=$B/shared
export PAGODA_SHARED=$S
unset PAGODA_FUSED_SILU PAGODA_QUANT_GEMM_LEAN PAGODA_QUANT_GEMM_LEAN_DEEP

test_or_stop quant_gemm_silu_test 90 "$BIN/quant_gemm_silu_test"
echo "   quant_gemm_silu_test: $(grep -E "passed" "$OUT_DIR/quant_gemm_silu_test.log" | tail -1)"

golden() { # NAME GOLDEN MODEL ENV...
  local name=$1 g=$2 m=$3
  shift 3
  run "golden-$name" 30 env "$@" "$BIN/pagoda-check" "$g" --model "$m" --device cuda --dtype auto &&
    echo "   golden $name: $(grep -E "passed" "$OUT_DIR/golden-$name.log" | tail -1)"
}
W=$S/fixtures/wave2/golden
for g in gptq-int4 gptq-int4-actorder awq-int4; do
  golden "$g-silu" "$W/tiny-llama-$g.golden.json" "$S/models/wave2/tiny-llama-$g"
done

# Batch 1: a small KV pool and few graphs load faster; the step does not depend on them.
L="--load-format dummy --device cuda --max-model-len 1024 --max-num-seqs 8 --gpu-memory-utilization 0.5"
L="$L --batch-size 1 --input-len 512 --output-len 128"
b1() { # FORMAT SWITCH
  local f=$1 sw=$2
  run "b1-$f-silu$sw" 60 env PAGODA_FUSED_SILU=$sw "$BIN/pagoda-bench" --model "$B/configs/llama-3-8b-$f.json" $L \
    --out "$OUT_DIR/h200-llama3-8b-$f-decode-b1-silu$sw.json" &&
    echo "   batch-1 $f PAGODA_FUSED_SILU=$sw: $(grep -E "^floor" "$OUT_DIR/b1-$f-silu$sw.log" | head -1)"
}
for f in gptq-int4 awq-int4; do
  b1 $f 0
  b1 $f 1
done
finish
