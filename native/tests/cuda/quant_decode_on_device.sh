#!/bin/bash
# Issue 15's decode follow-ups in one device call (~9 minutes; bundle: quant_decode_bundle_for_device.sh):
#   goldens   quant2_on_device.sh's goldens stage: every wave2 quantized golden through pagoda-check
#             (bf16, float32, W8A8 unfused) and `golden_test cuda` under golden.cpp's tolerances
#   ncu       Nsight Compute on `quant_kernel_bench profile`: each Llama-3-8B decode GEMM at m 1 (bf16
#             engine GEMM, quant_gemm int4 and fp8, fp8_skinny_gemm): speed of light, memory, warp
#             stalls, occupancy; what keeps the quantized GEMVs at 37-52% of the copy bandwidth
#   skinny    fp8_skinny_on_device.sh (its test, kernel bench, ShareGPT and batch-1 with it off / on)
#   ops       batch-1 decode op tables (PAGODA_CUDA_OP_TIMING=1) for bf16, GPTQ and FP8, budget left
# Everything lands in $OUT; logs are tarred into $OUT/logs.tar.gz (a call brings back few files).
set -u -o pipefail
B=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:?OUT}
TOTAL_S=${TOTAL_S:-570}
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
echo "== skinny ($(el) s)"
TOTAL_S=$((TOTAL_S - $(el) - 120)) bash "$B/fp8_skinny_on_device.sh" "$OUT/fp8skinny" 2>&1 | tee "$OUT/logs/fp8skinny-summary.log"
echo "== ops ($(el) s)"
for r in "bf16 llama-3-8b.json" "gptq-int4 llama-3-8b-gptq-int4.json" "fp8-dynamic llama-3-8b-fp8-dynamic.json"; do
  set -- $r
  [ $(( $(el) + 45 )) -gt "$TOTAL_S" ] && { echo "-- ops $1 not started"; continue; }
  timeout 45 env PAGODA_CUDA_OP_TIMING=1 PAGODA_W8A8_FUSED=1 "$B/bin/pagoda-bench" --model "$B/configs/$2" --load-format dummy \
    --device cuda --max-model-len 4096 --batch-size 1 --input-len 512 --output-len 64 > "$OUT/logs/ops-b1-$1.log" 2>&1
  echo "ops $1 rc $?"
done
cp "$OUT"/fp8skinny/*.json "$OUT/" 2>/dev/null
tar czf "$OUT/logs.tar.gz" -C "$OUT" logs fp8skinny && rm -rf "$OUT/logs" "$OUT/fp8skinny"
echo "quant_decode_on_device: $(el) s"
