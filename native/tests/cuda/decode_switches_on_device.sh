#!/bin/bash
# Session 10's batch-1 decode switch that is still built, on the device in one call (capped at TOTAL_S, default 430):
#   PAGODA_FUSED_SILU (gate_up + SiLU·mul in one kernel, bf16; on by default since this script's first run,
#   PAGODA_FUSED_SILU=0 turns it off). (The int4 fold, the e4m3 fp8 GEMV and RoPE + KV write inside decode
#   attention (PAGODA_DECODE_FUSED_ROPE) it also measured were no faster and are gone; the int4 SiLU epilogue has
#   int4silu_on_device.sh.)
# 1. skinny_gemm_test (the fused SiLU kernel; a failure leaves its rows out), and elementwise_kernels_test (rope.cu);
# 2. goldens through pagoda-check with the defaults and with the switch off (tiny-llama3 / tiny-qwen3);
# 3. batch-1 decode of Llama-3-8B bf16 (dummy weights) with the switch off and on, in the same call.
# Logs and JSON go to $OUT/switches, tarred into $OUT/switches-logs.tar.gz.
# Bundle: decode_switches_bundle_for_device.sh. Usage: OUT=/some/dir bash BUNDLE/decode_switches_on_device.sh
SCRIPT=decode_switches_on_device LOGS=switches TOTAL_S=${TOTAL_S:-430}
source "$(dirname "$0")/device_run.sh"
mkdir -p /tmp/switches-bin && tar xzf "$B/bin.tar.gz" -C /tmp/switches-bin && BIN=/tmp/switches-bin/bin
S=$B/shared
export PAGODA_SHARED=$S
unset PAGODA_FUSED_SILU

declare -A ok
for t in elementwise_kernels_test:plain skinny_gemm_test:silu; do
  name=${t%%:*} sw=${t##*:}
  if run "$name" 100 "$BIN/$name"; then
    ok[$sw]=1
    echo "   $name: $(grep -E "passed" "$OUT_DIR/$name.log" | tail -1)"
  else
    ok[$sw]=0
    grep -E "^FAIL" "$OUT_DIR/$name.log" | head -8
  fi
done

golden() { # NAME GOLDEN MODEL ENV...
  local name=$1 g=$2 m=$3
  shift 3
  run "golden-$name" 30 env "$@" "$BIN/pagoda-check" "$g" --model "$m" --device cuda --dtype auto &&
    echo "   golden $name: $(grep -E "passed" "$OUT_DIR/golden-$name.log" | tail -1)"
}
for m in tiny-llama3 tiny-qwen3; do
  golden "$m" "$S/fixtures/golden/$m.golden.json" "$S/models/$m" # the defaults (fused SiLU on; rope.cu's rounding spelled out since wt/ropefix)
  golden "$m-silu0" "$S/fixtures/golden/$m.golden.json" "$S/models/$m" PAGODA_FUSED_SILU=0
done

# Batch 1: a small KV pool and few graphs load faster; the step does not depend on them.
L="--load-format dummy --device cuda --max-model-len 1024 --max-num-seqs 8 --gpu-memory-utilization 0.5"
L="$L --batch-size 1 --input-len 512 --output-len 128"
b1() { # LABEL ENV...
  local label=$1
  shift
  run "b1-bf16-$label" 60 env "$@" "$BIN/pagoda-bench" --model "$B/configs/llama-3-8b.json" $L \
    --out "$OUT_DIR/h200-llama3-8b-bf16-decode-b1-$label.json" &&
    echo "   batch-1 bf16 $label: $(grep -E "^floor" "$OUT_DIR/b1-bf16-$label.log" | head -1)"
}
b1 off PAGODA_FUSED_SILU=0
[ "${ok[silu]}" = 1 ] && b1 silu PAGODA_FUSED_SILU=1
finish
