#!/bin/bash
# Builds what wgmma_on_device.sh runs (nvcc here, sm_90a) and fills the folder it carries: bin/
# (paged_attention_wgmma_test, paged_attention_test, wgmma_prefill_plan_test, cuda_kernel_bench,
# pagoda-bench, pagoda-check, stripped), the wgmma kernel alone as a cubin with ptxas's resource
# report (this machine has no disassembler: the SASS is read there), the Llama-3.1-8B shape config,
# two tiny checkpoints with their goldens (from ../shared) and the script.
# Run from the repository root.
# Usage: native/tests/cuda/wgmma_bundle_for_device.sh [build dir (native/build-cuda)] [dest (.dev-carry/wgmma)]
set -eu
. "$(dirname "$0")/bundle_lib.sh"
bundle_begin wgmma_bundle_for_device .dev-carry/wgmma "$@"
bundle_need bench/configs/llama-3.1-8b.json
BINS=(paged_attention_wgmma_test paged_attention_test wgmma_prefill_plan_test cuda_kernel_bench pagoda-bench pagoda-check)
bundle_build "${BINS[@]}"
bundle_fresh
bundle_bins "${BINS[@]}"
nvcc -std=c++17 -O3 -Inative/src -gencode=arch=compute_90a,code=sm_90a -DPAGODA_CUDA_SM90A=1 -Xptxas -v \
  -cubin native/src/backend/cuda/attention_prefill_wgmma.cu -o "$DEST/attention_prefill_wgmma.cubin" 2> "$DEST/ptxas.txt"
grep -E "registers|spill|warning|C75" "$DEST/ptxas.txt"
cp native/tests/cuda/wgmma_on_device.sh bench/configs/llama-3.1-8b.json "$DEST/"
cp "$SHARED/configs/llama-3-8b.json" "$DEST/"
# Two tiny checkpoints whose bf16 CUDA runs take the wgmma kernel (head_dim 64 and 128), with their
# goldens (two more would pass the 64 MiB a call carries).
mkdir -p "$DEST/shared/models" "$DEST/shared/golden"
for m in tiny-llama3 tiny-qwen3; do
  mkdir -p "$DEST/shared/models/$m"
  cp "$SHARED/models/$m"/*.json "$SHARED/models/$m"/*.safetensors "$DEST/shared/models/$m/"
  cp "$SHARED/fixtures/golden/$m.golden.json" "$DEST/shared/golden/"
done
# The binaries travel gzipped (~28 MB instead of ~50: a call carries 64 MiB with the working tree).
bundle_gzip_bins
bundle_end
