#!/bin/bash
# Session 10's batch-1 switches on the device in one call (~5 min, capped at TOTAL_S, default 430):
#   PAGODA_DECODE_FUSED_ROPE (RoPE + KV write inside decode attention), PAGODA_FUSED_SILU (gate_up + SiLU·mul in
#   one kernel, bf16; on by default since this script's first run: "off" turns it off). (The int4 fold and the
#   e4m3 fp8 GEMV it also measured were slower and are gone.)
# 1. each switch's kernel test (a switch whose test fails is not measured), and elementwise_kernels_test (rope.cu);
# 2. goldens through pagoda-check with each switch on (tiny-llama3 / tiny-qwen3, the wave2 checkpoints);
# 3. batch-1 decode of Llama-3-8B (dummy weights) per format with the switches off and on, in the same call;
# 4. ShareGPT-like 500 bf16 with the fused RoPE on and off while the budget lasts.
# Logs and JSON go to $OUT/switches, tarred into $OUT/switches-logs.tar.gz.
# Bundle: decode_switches_bundle_for_device.sh. Usage: OUT=/some/dir bash BUNDLE/decode_switches_on_device.sh
SCRIPT=decode_switches_on_device LOGS=switches TOTAL_S=${TOTAL_S:-430}
source "$(dirname "$0")/device_run.sh"
mkdir -p /tmp/switches-bin && tar xzf "$B/bin.tar.gz" -C /tmp/switches-bin && BIN=/tmp/switches-bin/bin
S=$B/shared
export PAGODA_SHARED=$S
unset PAGODA_DECODE_FUSED_ROPE PAGODA_FUSED_SILU

declare -A ok
for t in elementwise_kernels_test:plain fused_rope_decode_test:rope skinny_gemm_test:silu; do
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
  golden "$m" "$S/fixtures/golden/$m.golden.json" "$S/models/$m" # the defaults (rope.cu's rounding spelled out since wt/ropefix)
  [ "${ok[rope]}" = 1 ] && golden "$m-rope" "$S/fixtures/golden/$m.golden.json" "$S/models/$m" PAGODA_DECODE_FUSED_ROPE=1
  [ "${ok[silu]}" = 1 ] && golden "$m-silu" "$S/fixtures/golden/$m.golden.json" "$S/models/$m" PAGODA_FUSED_SILU=1
done
W=$S/fixtures/wave2/golden

# Batch 1: a small KV pool and few graphs load faster; the step does not depend on them.
L="--load-format dummy --device cuda --max-model-len 1024 --max-num-seqs 8 --gpu-memory-utilization 0.5"
L="$L --batch-size 1 --input-len 512 --output-len 128"
b1() { # FORMAT LABEL ENV...
  local f=$1 label=$2 cfg=$B/configs/llama-3-8b-$1.json
  shift 2
  [ "$f" = bf16 ] && cfg=$B/configs/llama-3-8b.json
  run "b1-$f-$label" 60 env "$@" "$BIN/pagoda-bench" --model "$cfg" $L \
    --out "$OUT_DIR/h200-llama3-8b-$f-decode-b1-$label.json" &&
    echo "   batch-1 $f $label: $(grep -E "^floor" "$OUT_DIR/b1-$f-$label.log" | head -1)"
}
b1 bf16 off PAGODA_DECODE_FUSED_ROPE=0 PAGODA_FUSED_SILU=0
[ "${ok[rope]}" = 1 ] && b1 bf16 rope PAGODA_DECODE_FUSED_ROPE=1
[ "${ok[silu]}" = 1 ] && b1 bf16 silu PAGODA_FUSED_SILU=1
[ "${ok[rope]}${ok[silu]}" = 11 ] && b1 bf16 rope+silu PAGODA_DECODE_FUSED_ROPE=1 PAGODA_FUSED_SILU=1
b1 gptq-int4 off PAGODA_DECODE_FUSED_ROPE=0
[ "${ok[rope]}" = 1 ] && b1 gptq-int4 rope PAGODA_DECODE_FUSED_ROPE=1
[ "${ok[rope]}" = 1 ] && golden "gptq-int4-rope" "$W/tiny-llama-gptq-int4.golden.json" \
  "$S/models/wave2/tiny-llama-gptq-int4" PAGODA_DECODE_FUSED_ROPE=1
# ShareGPT-like 500 in bf16 with the fused RoPE on and off (its decode-only steps take the fused kernel; the
# fused SiLU's pair ran in session 10: 43.21 vs 43.27 req/s, h200-decode-switches-d7a39fa.txt).
if [ "${ok[rope]}" = 1 ]; then
  for sw in 1 0; do
    run sharegpt-rope$sw 75 env PAGODA_DECODE_FUSED_ROPE=$sw "$BIN/pagoda-bench" --model "$B/configs/llama-3-8b.json" \
      --load-format dummy --device cuda --max-model-len 4096 --dataset "$B/sharegpt-like.json" --num-prompts 500 \
      --out "$OUT_DIR/h200-llama3-8b-bf16-sharegpt-500-rope$sw.json" &&
      echo "   ShareGPT bf16 PAGODA_DECODE_FUSED_ROPE=$sw: $(grep -E "^throughput" "$OUT_DIR/sharegpt-rope$sw.log" | head -1)"
  done
fi
finish
