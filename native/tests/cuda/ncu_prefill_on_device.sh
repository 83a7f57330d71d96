#!/bin/bash
# Nsight Compute on the prefill attention kernel (the default wgmma schedule, one 32k-token prompt, head_dim 128,
# block size 16: `cuda_kernel_bench prefill-profile`, the second launch): the full set, the tensor-pipe metrics
# this ncu knows, and the SASS-level stall table (ncu_source_stalls.py), to see what holds the kernel at ~400
# TFLOP/s (loads, the turn barriers, the wgmma waits, the softmax). Then the quick same-run comparison of the
# schedules and block sizes (`prefill-quick`). Reports and gzipped CSVs go to $OUT.
# Carry: a folder with cuda_kernel_bench (BIN, default the folder), this script, ncu_lib.sh and ncu_source_stalls.py.
# Usage: OUT=/dir [BIN=dir] [L=32768] [QUICK="32768 131072"] bash DIR/ncu_prefill_on_device.sh
set -u
B=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:?OUT}
BIN=${BIN:-$B}
L=${L:-32768}
source "$B/ncu_lib.sh"
mkdir -p "$OUT" && cd "$OUT" || exit 1
nvidia-smi --query-gpu=name,clocks.max.sm,power.limit --format=csv,noheader
echo "## tensor-pipe metrics this ncu knows"
"$NCU" --query-metrics --chip gh100 2>/dev/null | grep -i -E "gmma|pipe_tensor|ops_path_tensor_src_bf16" | cut -c1-120 | head -30
timeout 240 "$NCU" --clock-control none --kernel-name regex:paged_attention_prefill_wgmma_kernel --launch-skip 1 \
  --launch-count 1 --set full --import-source no -o prefill "$BIN/cuda_kernel_bench" prefill-profile "$L" \
  > ncu-prefill.log 2>&1 || { echo "ncu failed"; tail -5 ncu-prefill.log; }
if [ -f prefill.ncu-rep ]; then
  echo "## prefill 1 x $L, default schedule"
  ncu_summary prefill 24 "^  void|Duration|SM Frequency|Compute \(SM\) Throughput|Memory Throughput|L2 Cache Throughput|L1/TEX Cache Throughput|DRAM Throughput|Executed Ipc Active|Issue Slots Busy|SM Busy|Issued Warp Per Scheduler  |No Eligible|Eligible Warps Per Scheduler  |Registers Per Thread  |Achieved Occupancy|Stall|Tensor|Pipe|Shared Memory Configuration Size|Bank"
fi
echo "## prefill-quick"
"$BIN/cuda_kernel_bench" prefill-quick ${QUICK:-32768 131072}
