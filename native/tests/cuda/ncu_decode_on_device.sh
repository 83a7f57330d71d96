#!/bin/bash
# Nsight Compute on the decode attention kernel at ShareGPT's batch-256 shape (cuda_kernel_bench uneven ... profile:
# each variant launched twice; LAUNCHES picks among paged_attention_decode_kernel's launch indices, default "1 3":
# the engine's order and longest first, heads fastest): speed of light, warp state, occupancy, memory and the
# SASS-level stall table (ncu_source_stalls.py). Reports and gzipped CSVs go to $OUT.
# Carry: a folder with cuda_kernel_bench (BIN, default the folder), sharegpt-like.json, this script and
# ncu_source_stalls.py. Usage: OUT=/dir [BIN=dir] bash DIR/ncu_decode_on_device.sh
set -u
B=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:?OUT}
BIN=${BIN:-$B}
NCU=$(command -v ncu || ls /usr/local/cuda*/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
[ -n "$NCU" ] || { echo "no ncu on this machine"; exit 1; }
echo "ncu: $("$NCU" --version | tail -1)"
mkdir -p "$OUT" && cd "$OUT" || exit 1
for n in ${LAUNCHES:-1 3}; do
  timeout 150 "$NCU" --clock-control none --kernel-name regex:paged_attention_decode_kernel --launch-skip "$n" \
    --launch-count 1 --section SpeedOfLight --section WarpStateStats --section SchedulerStats --section Occupancy \
    --section SourceCounters --section MemoryWorkloadAnalysis --section LaunchStats \
    -o "decode$n" "$BIN/cuda_kernel_bench" uneven "$B/sharegpt-like.json" profile > "ncu-decode$n.log" 2>&1 ||
    { echo "ncu failed on launch $n"; tail -5 "ncu-decode$n.log"; continue; }
  "$NCU" -i "decode$n.ncu-rep" --print-details all > "decode$n-details.txt" 2>&1
  "$NCU" -i "decode$n.ncu-rep" --page source --print-source sass --csv > "decode$n-source.csv" 2>&1
  echo "## launch $n"
  grep -E "^  void|Duration|DRAM Throughput|Memory Throughput|Achieved Occupancy|Theoretical Occupancy|Issued Warp Per Scheduler  |Eligible Warps Per Scheduler  |Stall Long|Block Limit|Registers Per Thread  |Grid Size" \
    "decode$n-details.txt" | awk '!seen[$0]++' | cut -c1-160
  python3 "$B/ncu_source_stalls.py" "decode$n-source.csv" 14 2>/dev/null | tail -n +3
  gzip -f "decode$n-source.csv" "decode$n-details.txt"
done
