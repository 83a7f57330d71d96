#!/bin/bash
# Fills the folder fa3_on_device.sh reads on the device: issue 20's in-warpgroup overlap inside the pingpong
# prefill (PAGODA_PREFILL_OVERLAP, default off) checked and measured in one call. paged_attention_wgmma_test,
# cuda_kernel_bench, pagoda-bench and pagoda-check built here for sm_90a (stripped, gzipped), the wgmma kernel
# alone as a cubin with ptxas's report (the SASS is read there: no disassembler here), the Llama-3.1-8B
# config, tiny-llama3 / tiny-qwen3 with their goldens (bf16: their prefill takes the wgmma kernel at head_dim
# 64 / 128), the scripts and COMMIT. Run from the repository root; it builds the targets in BUILD first.
# DEST is git-ignored (.dev-carry).
# Usage: native/tests/cuda/fa3_bundle_for_device.sh [build (native/build-cuda)] [dest (.dev-carry/fa3)]
set -eu
. "$(dirname "$0")/bundle_lib.sh"
bundle_begin fa3_bundle_for_device .dev-carry/fa3 "$@"
bundle_need bench/configs/llama-3.1-8b.json
BINS=(paged_attention_wgmma_test cuda_kernel_bench pagoda-bench pagoda-check)
bundle_build "${BINS[@]}"
bundle_fresh shared/models shared/fixtures/golden
bundle_bins "${BINS[@]}"
bundle_gzip_bins
nvcc -std=c++17 -O3 -Inative/src -gencode=arch=compute_90a,code=sm_90a -DPAGODA_CUDA_SM90A=1 -Xptxas -v \
  -cubin native/src/backend/cuda/attention_prefill_wgmma.cu -o "$DEST/attention_prefill_wgmma.cubin" 2> "$DEST/ptxas.txt"
grep -E "registers|spill|warning|C75" "$DEST/ptxas.txt" | sort | uniq -c
cp bench/configs/llama-3.1-8b.json "$DEST/"
bundle_checkpoints -- tiny-llama3 tiny-qwen3
cp native/tests/cuda/fa3_on_device.sh native/tests/cuda/device_run.sh "$DEST/"
bundle_end --max-mb 40 "OUT=\$OUT bash $DEST/fa3_on_device.sh"
