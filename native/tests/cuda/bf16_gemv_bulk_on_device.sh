#!/bin/bash
# Issue 20's bf16 bulk-copy decode GEMV (bf16_gemv_bulk, PAGODA_BF16_GEMV_BULK=1) on the device in one call,
# in order: bf16_gemv_bulk_test small (odd shapes, every m 1..8, beta, bf16 / f32 output, every ring
# config, the CublasLt wiring, against the host reference and skinny_gemm: must pass before anything is
# timed; on failure compute-sanitizer memcheck on it, 120 s); `quant_kernel_bench bf16bulk` (the kernel
# beside the engine's bf16 GEMM, skinny_gemm and the copy floor, the ring-config sweep, one token's 128
# GEMMs + lm_head back to back); pagoda-bench batch-1 decode of Llama-3-8B bf16 (dummy weights) with the
# switch off and on (on: the ring config whose token was fastest in the bench, PAGODA_BF16_GEMV_BULK_CONFIG),
# each run's `floor` line; tiny-llama3 / tiny-qwen3 goldens through pagoda-check with the switch on;
# last, the test's Llama-3-8B shapes and lm_head. A run starts only while it can end before TOTAL_S
# (default 540). Logs and JSON go to $OUT/bf16bulk, tarred into $OUT/bf16bulk-logs.tar.gz.
# Bundle: bf16_gemv_bulk_bundle_for_device.sh. Usage: OUT=/some/dir bash BUNDLE/bf16_gemv_bulk_on_device.sh
SCRIPT=bf16_gemv_bulk_on_device LOGS=bf16bulk TOTAL_S=${TOTAL_S:-540}
source "$(dirname "$0")/device_run.sh"
test_or_stop bf16_gemv_bulk_test-small 90 "$BIN/bf16_gemv_bulk_test" small
grep -E "passed|^info" "$OUT_DIR/bf16_gemv_bulk_test-small.log" | head -30

run quant_kernel_bench-bf16bulk 150 "$BIN/quant_kernel_bench" bf16bulk "$OUT_DIR/h200-bf16-gemv-bulk-kernels.json"
grep -E "^device|floor|configs:|^token" "$OUT_DIR/quant_kernel_bench-bf16bulk.log" | head -60

# The ring config whose token (128 GEMMs + lm_head back to back) was fastest (empty: the bench did not
# run; the engine then takes config 0). Line: token bf16 bulk config N 128 GEMMs + lm_head back to back T ms ...
CONFIG=$(awk '$1 == "token" && $3 == "bulk" && (best == "" || $13 + 0 < t) { t = $13 + 0; best = $5 } END { print best }' \
  "$OUT_DIR/quant_kernel_bench-bf16bulk.log" 2>/dev/null)
echo "   fastest ring config: ${CONFIG:-none (0)}"

LLAMA="--model $B/configs/llama-3-8b.json --load-format dummy --device cuda --max-model-len 4096"
for sw in 0 1; do
  name=decode-b1-bf16-bulk$sw
  shown=""
  [ $sw = 1 ] && shown=${CONFIG:+ (config $CONFIG)}
  run "$name" 90 env PAGODA_BF16_GEMV_BULK=$sw PAGODA_BF16_GEMV_BULK_CONFIG=$CONFIG "$BIN/pagoda-bench" $LLAMA \
    --batch-size 1 --input-len 512 --output-len 256 --out "$OUT_DIR/h200-llama3-8b-bf16-decode-b1-bulk$sw.json" &&
    echo "   bf16 PAGODA_BF16_GEMV_BULK=$sw$shown: $(grep -E "^floor" "$OUT_DIR/$name.log" | head -1)"
done

S=$B/shared
for g in tiny-llama3 tiny-qwen3; do
  run golden-$g-bulk 40 env PAGODA_BF16_GEMV_BULK=1 PAGODA_BF16_GEMV_BULK_CONFIG=$CONFIG "$BIN/pagoda-check" \
    "$S/fixtures/golden/$g.golden.json" --model "$S/models/$g" --device cuda
  echo "   golden $g: $(grep -E "passed" "$OUT_DIR/golden-$g-bulk.log" | tail -1)"
done

run bf16_gemv_bulk_test-llama 150 "$BIN/bf16_gemv_bulk_test" llama &&
  grep -E "passed|^info" "$OUT_DIR/bf16_gemv_bulk_test-llama.log" | head -30
grep -E "^FAIL" "$OUT_DIR/bf16_gemv_bulk_test-llama.log" 2>/dev/null | head -20
finish
