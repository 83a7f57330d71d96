#!/bin/bash
# Nsight Compute on quant_gemm_lean at m 1, alone (quant_kernel_bench profile's warm round), with the SASS-level
# stall samples: for each launch index in LAUNCHES (default "37 39 42": int4 GPTQ g128 gate_up, fp8 per-channel
# gate_up, int4 down; quant_kernel_bench's profile_once order, counting every quant_gemm_lean_kernel launch: per
# round 4 shapes x (int4, fp8) x (quant_gemm -> lean, lean, lean deep)), speed of light, warp state, scheduler and
# source counters, then ncu_source_stalls.py's table of where the warps stall. Reports and gzipped CSVs go to $OUT.
# Carry: a folder with quant_kernel_bench, this script, ncu_lib.sh and ncu_source_stalls.py. Usage: OUT=/dir bash DIR/ncu_lean_on_device.sh
set -u
B=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:?OUT}
source "$B/ncu_lib.sh"
nvidia-smi --query-gpu=name,clocks.max.sm --format=csv,noheader
cd "$OUT" || exit 1
for n in ${LAUNCHES:-37 39 42}; do
  timeout 200 "$NCU" --clock-control none --kernel-name regex:quant_gemm_lean_kernel --launch-skip "$n" --launch-count 1 \
    --section SpeedOfLight --section WarpStateStats --section SchedulerStats --section Occupancy \
    --section SourceCounters --section MemoryWorkloadAnalysis --section InstructionStats \
    -o "lean$n" "$B/quant_kernel_bench" profile > "ncu-lean$n.log" 2>&1 || { echo "ncu failed on launch $n"; tail -5 "ncu-lean$n.log"; continue; }
  echo "## launch $n"
  ncu_summary "lean$n" 12 "^  void|Duration|DRAM Throughput|Issued Warp Per Scheduler  |Eligible Warps Per Scheduler  |Stall Long|Registers Per Thread  "
done
