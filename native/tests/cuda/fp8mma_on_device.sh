#!/bin/bash
# fp8_mma_gemm (W8A8 fp8 decode on e4m3 mma.sync m16n8k32, PAGODA_FP8_MMA=1) on the device in one call (~4 min,
# capped at TOTAL_S, default 360), in order: fp8_mma_gemm_test (against float64 on the same codes and scales, the
# identity-weight code read-back, fused parts, every plan shape, the PDL chain; must pass before anything is timed;
# on failure compute-sanitizer memcheck on it); `quant_kernel_bench fp8mma` (the new kernel beside today's path,
# fake_quantize where the input is unfused + quant_gemm_lean, and the copy floor, Llama-3-8B's four GEMMs per-channel
# and block128 at m 1/2/4/8 with a sweep of plans; one token's 128 GEMMs back to back for both); the wave2 fp8
# goldens (fp8-dynamic, fp8-block, and their .w8a8) through pagoda-check with PAGODA_FP8_MMA=1; batch-1 decode of
# Llama-3-8B FP8-dynamic and FP8-block (dummy weights) with the switch 0 and 1, each beside its floor.
# Logs and JSON go to $OUT/fp8mma, tarred into $OUT/fp8mma-logs.tar.gz.
# Bundle: fp8mma_bundle_for_device.sh. Usage: OUT=/some/dir bash BUNDLE/fp8mma_on_device.sh
SCRIPT=fp8mma_on_device LOGS=fp8mma TOTAL_S=${TOTAL_S:-360}
source "$(dirname "$0")/device_run.sh"
mkdir -p /tmp/fp8mma-bin && tar xzf "$B/bin.tar.gz" -C /tmp/fp8mma-bin && BIN=/tmp/fp8mma-bin/bin
S=$B/shared
unset PAGODA_FP8_MMA PAGODA_FP8_MMA_SPLIT PAGODA_FP8_MMA_WARPS PAGODA_FP8_MMA_CTAS PAGODA_FP8_MMA_DEPTH

test_or_stop fp8_mma_gemm_test 120 "$BIN/fp8_mma_gemm_test"
grep -E "passed|^info" "$OUT_DIR/fp8_mma_gemm_test.log" | tail -4

run quant_kernel_bench-fp8mma 100 "$BIN/quant_kernel_bench" fp8mma "$OUT_DIR/h200-fp8-mma-kernels.json"
grep -E "^device|^[a-z_]+ .*floor|^token" "$OUT_DIR/quant_kernel_bench-fp8mma.log" | head -40

for g in fp8-dynamic fp8-block fp8-dynamic.w8a8 fp8-block.w8a8; do
  run golden-$g-fp8mma 30 env PAGODA_FP8_MMA=1 "$BIN/pagoda-check" "$S/fixtures/wave2/golden/tiny-llama-$g.golden.json" \
    --model "$S/models/wave2/tiny-llama-${g%.w8a8}" --device cuda --dtype auto
  echo "   golden $g (PAGODA_FP8_MMA=1): $(grep -E "passed" "$OUT_DIR/golden-$g-fp8mma.log" | tail -1)"
done

L="--load-format dummy --device cuda --max-model-len 4096"
for f in fp8-dynamic fp8-block; do
  for sw in 0 1; do
    name=decode-b1-$f-fp8mma$sw
    run "$name" 70 env PAGODA_FP8_MMA=$sw "$BIN/pagoda-bench" --model "$B/configs/llama-3-8b-$f.json" $L \
      --batch-size 1 --input-len 512 --output-len 128 --out "$OUT_DIR/h200-llama3-8b-$f-decode-b1-fp8mma$sw.json" &&
      echo "   batch-1 $f PAGODA_FP8_MMA=$sw: $(grep -E "^floor" "$OUT_DIR/$name.log" | head -1)"
  done
done
finish
