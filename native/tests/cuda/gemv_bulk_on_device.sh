#!/bin/bash
# Issue 15's bulk-copy decode GEMV (quant_gemv_bulk, PAGODA_QUANT_GEMV_BULK=1) on the device in one call,
# in order: quant_gemv_bulk_test small (odd shapes, every m 1..8, beta, ldy > n, every ring config,
# against the host reference and quant_gemm: must pass before anything is timed; on failure
# compute-sanitizer memcheck on it, 120 s); `quant_kernel_bench bulk` (the kernel beside quant_gemm and
# the copy floor, the ring-config sweep, one token's 128 GEMMs back to back); pagoda-bench batch-1 decode
# of Llama-3-8B GPTQ, AWQ and FP8-dynamic (dummy weights) with the switch off and on (on: the ring config
# the bench found fastest for int4 / fp8, PAGODA_QUANT_GEMV_BULK_CONFIG), each run's `floor` line; the wave2 quantized goldens through pagoda-check with the switch on; last, the test's
# Llama-3-8B shapes. A run starts only while it can end before TOTAL_S (default 530). Logs and JSON go to
# $OUT/bulk, tarred into $OUT/bulk-logs.tar.gz (a call brings back few files).
# Bundle: gemv_bulk_bundle_for_device.sh. Usage: OUT=/some/dir bash BUNDLE/gemv_bulk_on_device.sh
SCRIPT=gemv_bulk_on_device LOGS=bulk TOTAL_S=${TOTAL_S:-530}
source "$(dirname "$0")/device_run.sh"
test_or_stop quant_gemv_bulk_test-small 90 "$BIN/quant_gemv_bulk_test" small
grep -E "passed|^info" "$OUT_DIR/quant_gemv_bulk_test-small.log" | head -30

run quant_kernel_bench-bulk 150 "$BIN/quant_kernel_bench" bulk "$OUT_DIR/h200-quant-gemv-bulk-kernels.json"
grep -E "^device|floor|configs:|^token" "$OUT_DIR/quant_kernel_bench-bulk.log" | head -90

# The ring config whose 128 back-to-back GEMMs of one token were fastest for a bench format (empty:
# the bench did not run; the engine then takes config 0).
best_config() {
  awk -v f="$1" '$1 == "token" && $2 == f && $3 == "bulk" && (best == "" || $11 + 0 < t) { t = $11 + 0; best = $5 }
    END { print best }' "$OUT_DIR/quant_kernel_bench-bulk.log" 2>/dev/null
}
INT4_CONFIG=$(best_config int4-gptq-g128)
FP8_CONFIG=$(best_config fp8-channel)
echo "   fastest ring config: int4 ${INT4_CONFIG:-none (0)}, fp8 ${FP8_CONFIG:-none (0)}"

LLAMA="--load-format dummy --device cuda --max-model-len 4096"
for f in gptq-int4 awq-int4 fp8-dynamic; do
  config=$INT4_CONFIG
  [ $f = fp8-dynamic ] && config=$FP8_CONFIG
  for sw in 0 1; do
    name=decode-b1-$f-bulk$sw
    shown=""
    [ $sw = 1 ] && shown=${config:+ (config $config)}
    run "$name" 75 env PAGODA_QUANT_GEMV_BULK=$sw PAGODA_QUANT_GEMV_BULK_CONFIG=$config PAGODA_W8A8_FUSED=1 \
      "$BIN/pagoda-bench" --model "$B/configs/llama-3-8b-$f.json" $LLAMA --batch-size 1 --input-len 512 \
      --output-len 256 --out "$OUT_DIR/h200-llama3-8b-$f-decode-b1-bulk$sw.json" &&
      echo "   $f PAGODA_QUANT_GEMV_BULK=$sw$shown: $(grep -E "^floor" "$OUT_DIR/$name.log" | head -1)"
  done
done

S=$B/shared
for g in gptq-int4 gptq-int4-actorder awq-int4 fp8-dynamic fp8-block fp8-dynamic.w8a8 fp8-block.w8a8; do
  run golden-$g-bulk 40 env PAGODA_QUANT_GEMV_BULK=1 PAGODA_W8A8_FUSED=1 "$BIN/pagoda-check" \
    "$S/fixtures/wave2/golden/tiny-llama-$g.golden.json" --model "$S/models/wave2/tiny-llama-${g%.w8a8}" \
    --device cuda --dtype auto
  echo "   golden $g: $(grep -E "passed" "$OUT_DIR/golden-$g-bulk.log" | tail -1)"
done

run quant_gemv_bulk_test-llama 120 "$BIN/quant_gemv_bulk_test" llama &&
  grep -E "passed|^info" "$OUT_DIR/quant_gemv_bulk_test-llama.log" | head -30
grep -E "^FAIL" "$OUT_DIR/quant_gemv_bulk_test-llama.log" 2>/dev/null | head -20
finish
