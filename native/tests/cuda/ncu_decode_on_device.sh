#!/bin/bash
# Nsight Compute on the decode attention kernel at ShareGPT's batch-256 shape (cuda_kernel_bench uneven ... profile:
# each variant launched twice; LAUNCHES picks among paged_attention_decode_kernel's launch indices, default "1 7":
# the given order, shallow and not, and longest first with heads fastest and shallow, the engine's default since
# session 23; 3 is longest first alone): speed of light, warp state, occupancy, memory and the
# SASS-level stall table (ncu_source_stalls.py). Reports and gzipped CSVs go to $OUT.
# Carry: a folder with cuda_kernel_bench (BIN, default the folder), sharegpt-like.json, this script, ncu_lib.sh and
# ncu_source_stalls.py. Usage: OUT=/dir [BIN=dir] bash DIR/ncu_decode_on_device.sh
set -u
B=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:?OUT}
BIN=${BIN:-$B}
source "$B/ncu_lib.sh"
mkdir -p "$OUT" && cd "$OUT" || exit 1
for n in ${LAUNCHES:-1 7}; do
  timeout 150 "$NCU" --clock-control none --kernel-name regex:paged_attention_decode_kernel --launch-skip "$n" \
    --launch-count 1 --section SpeedOfLight --section WarpStateStats --section SchedulerStats --section Occupancy \
    --section SourceCounters --section MemoryWorkloadAnalysis --section LaunchStats \
    -o "decode$n" "$BIN/cuda_kernel_bench" uneven "$B/sharegpt-like.json" profile > "ncu-decode$n.log" 2>&1 ||
    { echo "ncu failed on launch $n"; tail -5 "ncu-decode$n.log"; continue; }
  echo "## launch $n"
  ncu_summary "decode$n" 14 "^  void|Duration|DRAM Throughput|Memory Throughput|Achieved Occupancy|Theoretical Occupancy|Issued Warp Per Scheduler  |Eligible Warps Per Scheduler  |Stall Long|Block Limit|Registers Per Thread  |Grid Size"
done
