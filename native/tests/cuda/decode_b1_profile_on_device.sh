#!/bin/bash
# Where a batch-1 decode step's time goes beyond its GEMMs, per weight format (issues 15 and 20), in one call
# (~3 min; ships in the figures bundle): Llama-3-8B dummy weights, 512 in / 128 out, for bf16, GPTQ int4 and
# FP8 W8A8: the default step (CUDA graphs + PDL), graphs without PDL, eager steps, and eager steps with
# PAGODA_CUDA_OP_TIMING=1 (each op's time between events, launch gaps included: an upper bound on what it
# costs under graphs). Logs in $OUT/b1prof, tarred into $OUT/b1prof-logs.tar.gz.
# Bundle: figures_bundle_for_device.sh. Usage: OUT=/some/dir bash BUNDLE/decode_b1_profile_on_device.sh
SCRIPT=decode_b1_profile_on_device LOGS=b1prof TOTAL_S=${TOTAL_S:-300}
source "$(dirname "$0")/device_run.sh"
mkdir -p /tmp/b1prof-bin && tar xzf "$B/bin.tar.gz" -C /tmp/b1prof-bin && BIN=/tmp/b1prof-bin/bin
L="--load-format dummy --device cuda --max-model-len 4096 --batch-size 1 --input-len 512 --output-len 128"
for f in bf16 gptq-int4 fp8-dynamic; do
  cfg=$B/configs/llama-3-8b-$f.json
  [ $f = bf16 ] && cfg=$B/configs/llama-3-8b.json
  for mode in default pdl0 eager eager-ops; do
    case $mode in
      default) envs=() ;;
      pdl0) envs=(PAGODA_CUDA_PDL=0) ;;
      eager) envs=(PAGODA_CUDA_GRAPHS=0) ;;
      eager-ops) envs=(PAGODA_CUDA_GRAPHS=0 PAGODA_CUDA_OP_TIMING=1) ;;
    esac
    run b1-$f-$mode 40 env "${envs[@]}" "$BIN/pagoda-bench" --model "$cfg" $L \
      --out "$OUT_DIR/h200-llama3-8b-$f-decode-b1-$mode.json" &&
      echo "   $f $mode: $(grep -E "^floor" "$OUT_DIR/b1-$f-$mode.log" | head -1)"
  done
  grep -E "decode-step" "$OUT_DIR/b1-$f-eager-ops.log" | head -16
done
finish
