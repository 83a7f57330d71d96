#!/bin/bash
# The e4m3 decode attention in one call, beside the build before it (decode_fp8_bundle_for_device.sh): the
# attention kernel test gates (the e4m3 decode against the reference, shallow and longest-first launches bit for
# bit), kv_cache_dtype_test on the CUDA backend (greedy tokens with fp8 KV = bf16 KV up to the first near-tie),
# then one layer's decode attention with bf16 and e4m3 caches (cuda_kernel_bench decode fp8, each build), ShareGPT
# 500 with FP8 weights and fp8 KV, and random 1,024 / 1,024 x PROMPTS (1000) with fp8 KV, each build in turn.
# Usage: OUT=/some/dir [TOTAL_S=560] [PROMPTS=1000] bash BUNDLE/decode_fp8_on_device.sh
SCRIPT=decode_fp8_on_device LOGS=decode-fp8 TOTAL_S=${TOTAL_S:-560}
source "$(dirname "$0")/device_run.sh"
mkdir -p /tmp/decode-fp8-bin && tar xzf "$B/bin.tar.gz" -C /tmp/decode-fp8-bin && BIN=/tmp/decode-fp8-bin/bin
export PAGODA_SHARED=$B/shared
test_or_stop paged_attention_test 150 "$BIN/paged_attention_test"
grep -E "passed" "$OUT_DIR/paged_attention_test.log" | tail -1
run kv_cache_dtype_test 120 env PAGODA_CUDA_GEMM_TUNE=0 "$BIN/kv_cache_dtype_test" cuda tiny-llama3 tiny-qwen3 stories260k-hd64 &&
  grep -E "fp8 KV = bf16|passed" "$OUT_DIR/kv_cache_dtype_test.log" | tail -4 | sed 's/^/   /'
for v in "" -before; do
  run kernel-decode$v 90 "$BIN/cuda_kernel_bench$v" decode fp8 &&
    grep -E "^decode (attn|fp8) 32/8/128 b (  1|256)" "$OUT_DIR/kernel-decode$v.log" | sed "s/^/   ${v:-new} /"
done
L="--load-format dummy --device cuda --max-model-len 4096 --kv-cache-dtype fp8"
for v in "" -before; do
  run sharegpt-fp8$v 100 "$BIN/pagoda-bench$v" --model "$B/configs/llama-3-8b-fp8-dynamic.json" $L \
    --dataset "$B/sharegpt-like.json" --num-prompts 500 --out "$OUT_DIR/$CARD-llama3-8b-fp8-dynamic-kv-fp8-sharegpt-500$v.json" &&
    echo "   ShareGPT fp8 + fp8 KV${v:+, before}: $(grep -E "^throughput" "$OUT_DIR/sharegpt-fp8$v.log" | head -1)" &&
    grep -E "^(decode-only|with prompt)|^  per step" "$OUT_DIR/sharegpt-fp8$v.log" | sed 's/^/     /'
done
for v in "" -before; do
  run random-kv-fp8$v 200 "$BIN/pagoda-bench$v" --model "$B/configs/llama-3-8b.json" $L --dataset random \
    --random-input-len 1024 --random-output-len 1024 --num-prompts "${PROMPTS:-1000}" \
    --out "$OUT_DIR/$CARD-llama3-8b-random-1024-1024-x${PROMPTS:-1000}-kv-fp8$v.json" &&
    echo "   random fp8 KV${v:+, before}: $(grep -E "^throughput" "$OUT_DIR/random-kv-fp8$v.log" | head -1)" &&
    grep -E "^(decode-only|with prompt)|^  per step" "$OUT_DIR/random-kv-fp8$v.log" | sed 's/^/     /'
done
finish
