#!/bin/bash
# Issue 15's lean decode kernel (quant_gemm_lean, PAGODA_QUANT_GEMM_LEAN=1) on the device in one call (~7-9 min),
# in order: quant_gemm_test (every format at every row-count path; at m <= 8 quant_gemm_lean against the
# reference and bit for bit against quant_gemm: must pass before anything is timed; on failure
# compute-sanitizer memcheck on it); `quant_kernel_bench lean` (both kernels beside the copy floor at m 1, 2,
# 4, 8, one token's 128 GEMMs back to back); Nsight Compute on `quant_kernel_bench profile` (both kernels,
# the sections of quant_decode_on_device.sh, plus instruction counts); pagoda-bench batch-1 decode of
# Llama-3-8B GPTQ, AWQ and FP8-dynamic (dummy weights) with the switch 0 and 1; the wave2 quantized goldens
# through pagoda-check with the switch on; GPTQ batch-1 with four stages (PAGODA_QUANT_GEMM_LEAN_DEEP=1). A run
# starts only while it can end before TOTAL_S (default 540).
# Logs and JSON go to $OUT/lean, tarred into $OUT/lean-logs.tar.gz (a call brings back few files).
# Bundle: quant_lean_bundle_for_device.sh. Usage: OUT=/some/dir bash BUNDLE/quant_lean_on_device.sh
SCRIPT=quant_lean_on_device LOGS=lean TOTAL_S=${TOTAL_S:-540}
source "$(dirname "$0")/device_run.sh"
unset PAGODA_QUANT_GEMM_LEAN # the test and the bench pick the kernels themselves; runs set it explicitly
test_or_stop quant_gemm_test 120 "$BIN/quant_gemm_test"
grep -E "passed|^info" "$OUT_DIR/quant_gemm_test.log" | head -10
echo "   lean checks: $(grep -c "quant_gemm_lean" "$OUT_DIR/quant_gemm_test.log") lines, $(grep -E "^FAIL.*lean" "$OUT_DIR/quant_gemm_test.log" | wc -l) failed"

run quant_kernel_bench-lean 150 env -u PAGODA_QUANT_GEMM_LEAN "$BIN/quant_kernel_bench" lean \
  "$OUT_DIR/h200-quant-gemm-lean-kernels.json"
grep -E "^device|floor" "$OUT_DIR/quant_kernel_bench-lean.log" | head -90

NCU=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu /usr/local/cuda/bin/ncu 2>/dev/null | head -1 || true)
if [ -n "$NCU" ]; then
  run ncu-profile 150 env -u PAGODA_QUANT_GEMM_LEAN "$NCU" --clock-control none --kernel-name-base demangled \
    --kernel-name regex:"quant_gemm" \
    --section SpeedOfLight --section MemoryWorkloadAnalysis --section WarpStateStats --section SchedulerStats \
    --section Occupancy --section LaunchStats --section InstructionStats "$BIN/quant_kernel_bench" profile
  grep -E "^  [a-z_].*\(|Duration|DRAM Throughput|Issued Warp|Eligible Warps|Active Warps Per|Registers Per|Executed Instructions  |Achieved Occupancy" \
    "$OUT_DIR/ncu-profile.log" | head -120
else
  echo "-- no ncu"
fi

LLAMA="--load-format dummy --device cuda --max-model-len 4096"
for f in gptq-int4 awq-int4 fp8-dynamic; do
  for sw in 0 1; do
    name=decode-b1-$f-lean$sw
    run "$name" 75 env -u PAGODA_QUANT_GEMM_LEAN_DEEP PAGODA_QUANT_GEMM_LEAN=$sw PAGODA_W8A8_FUSED=1 \
      "$BIN/pagoda-bench" --model "$B/configs/llama-3-8b-$f.json" $LLAMA --batch-size 1 --input-len 512 \
      --output-len 128 --out "$OUT_DIR/h200-llama3-8b-$f-decode-b1-lean$sw.json" &&
      echo "   $f PAGODA_QUANT_GEMM_LEAN=$sw: $(grep -E "^floor" "$OUT_DIR/$name.log" | head -1)"
  done
done

S=$B/shared
for g in gptq-int4 gptq-int4-actorder awq-int4 fp8-dynamic fp8-block fp8-dynamic.w8a8 fp8-block.w8a8; do
  run golden-$g-lean 40 env PAGODA_QUANT_GEMM_LEAN=1 PAGODA_W8A8_FUSED=1 "$BIN/pagoda-check" \
    "$S/fixtures/wave2/golden/tiny-llama-$g.golden.json" --model "$S/models/wave2/tiny-llama-${g%.w8a8}" \
    --device cuda --dtype auto
  echo "   golden $g: $(grep -E "passed" "$OUT_DIR/golden-$g-lean.log" | tail -1)"
done
# Four stages a warp (PAGODA_QUANT_GEMM_LEAN_DEEP=1, 128 registers) on the GPTQ model, if time is left.
run decode-b1-gptq-int4-lean1-deep 75 env PAGODA_QUANT_GEMM_LEAN=1 PAGODA_QUANT_GEMM_LEAN_DEEP=1 \
  "$BIN/pagoda-bench" --model "$B/configs/llama-3-8b-gptq-int4.json" $LLAMA --batch-size 1 --input-len 512 \
  --output-len 128 --out "$OUT_DIR/h200-llama3-8b-gptq-int4-decode-b1-lean1-deep.json" &&
  echo "   gptq-int4 PAGODA_QUANT_GEMM_LEAN=1 DEEP=1: $(grep -E "^floor" "$OUT_DIR/decode-b1-gptq-int4-lean1-deep.log" | head -1)"
finish
