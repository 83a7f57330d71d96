#!/bin/bash
# Issue 15's quantized goldens and a profile of the decode GEMVs in one device call (~3 minutes; bundle:
# quant_decode_bundle_for_device.sh). Session 8 also ran fp8_skinny_gemm's call and batch-1 op tables here; the
# kernel is gone and the op tables time eager (prefill) steps only, so both stages were dropped.
#   goldens   quant2_on_device.sh's goldens stage: every wave2 quantized golden through pagoda-check
#             (bf16, float32, W8A8 unfused) and `golden_test cuda` under golden.cpp's tolerances
#   ncu       Nsight Compute on `quant_kernel_bench profile`: each Llama-3-8B decode GEMM at m 1 (bf16
#             engine GEMM, quant_gemm int4 and fp8): speed of light, memory, warp stalls, occupancy
# Everything lands in $OUT; logs are tarred into $OUT/logs.tar.gz (a call brings back few files).
set -u -o pipefail
B=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:?OUT}
start=$(date +%s)
el() { echo $(($(date +%s) - start)); }
mkdir -p "$OUT/logs"
echo "== goldens ($(el) s)"
STAGES=goldens OUT=$OUT/logs bash "$B/quant2_on_device.sh" 2>&1 | tee "$OUT/logs/goldens-summary.log" | grep -E "passed|FAIL|worst|!!" | head -40
echo "== ncu ($(el) s)"
NCU=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1 || true)
if [ -n "$NCU" ]; then
  timeout 150 "$NCU" --clock-control none --kernel-name-base demangled \
    --kernel-name regex:"quant_gemm|skinny|gemv|gemm|sm90|xmma" \
    --section SpeedOfLight --section MemoryWorkloadAnalysis --section WarpStateStats --section SchedulerStats \
    --section Occupancy --section LaunchStats "$B/bin/quant_kernel_bench" profile > "$OUT/logs/ncu-decode-gemv.txt" 2>&1
  echo "ncu rc $?"
  grep -E "^  [a-z_].*\(|Duration|DRAM Throughput|Memory Throughput|Achieved Occupancy|Registers Per|Stall|Warp Cycles Per Issued" "$OUT/logs/ncu-decode-gemv.txt" | head -150
else
  echo "-- no ncu"
fi
tar czf "$OUT/logs.tar.gz" -C "$OUT" logs && rm -rf "$OUT/logs"
echo "quant_decode_on_device: $(el) s"
