#!/bin/bash
# What each of a decode layer's ops costs a batch-1 step as it really runs (CUDA graphs + PDL), per weight
# format: the step time with the op left out (PAGODA_CUDA_SKIP_OPS, a diagnostic; outputs are wrong) against the
# full step in the same call. Per-op events (PAGODA_CUDA_OP_TIMING) cannot show this: an event between two kernels
# stops the second from starting under the first (PDL). Llama-3-8B dummy weights, 512 in / 64 out, GPTQ int4
# then bf16, runs in order of interest while TOTAL_S allows. Ships in the figures bundle.
# Usage: OUT=/some/dir [TOTAL_S=240] [FORMATS="gptq-int4 bf16"] bash BUNDLE/decode_b1_skip_on_device.sh
SCRIPT=decode_b1_skip_on_device LOGS=b1skip TOTAL_S=${TOTAL_S:-240}
source "$(dirname "$0")/device_run.sh"
if [ -f "$B/bin.tar.gz" ]; then mkdir -p /tmp/b1skip-bin && tar xzf "$B/bin.tar.gz" -C /tmp/b1skip-bin && BIN=/tmp/b1skip-bin/bin; fi
L="--load-format dummy --device cuda --max-model-len 1024 --max-num-seqs 8 --gpu-memory-utilization 0.5 --skip-bandwidth"
L="$L --batch-size 1 --input-len 512 --output-len 64"
SMALL=rope,kv_cache_write,attention_decode,add_rms_norm,silu_mul
LINEARS=qkv_proj,o_proj,gate_up_proj,down_proj
for f in ${FORMATS:-gptq-int4 bf16}; do
  cfg=$B/configs/llama-3-8b-$f.json
  [ $f = bf16 ] && cfg=$B/configs/llama-3-8b.json
  for skip in none $SMALL $LINEARS attention_decode add_rms_norm rope kv_cache_write silu_mul; do
    name=$f-$(echo "$skip" | tr ',' '+')
    [ "$skip" = $SMALL ] && name=$f-all-small
    [ "$skip" = $LINEARS ] && name=$f-all-linears
    envs=()
    [ "$skip" != none ] && envs=(PAGODA_CUDA_SKIP_OPS=$skip)
    run "$name" 35 env "${envs[@]}" "$BIN/pagoda-bench" --model "$cfg" $L || continue
    echo "   $name: $(grep -E "^decode" "$OUT_DIR/$name.log" | head -1)"
  done
done
finish
