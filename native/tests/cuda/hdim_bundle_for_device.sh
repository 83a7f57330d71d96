#!/bin/bash
# Builds the tools hdim_on_device.sh runs (nvcc here, sm_90a) and fills the folder it carries:
# bin/ (paged_attention_test, elementwise_kernels_test, pagoda-check, cuda_kernel_bench,
# stripped), the two scripts, and from ../shared the tiny checkpoints with their goldens.
# Run from the repository root.
# Usage: native/tests/cuda/hdim_bundle_for_device.sh [build dir (native/build-cuda)] [dest (.dev-carry/hdim)]
set -eu
. "$(dirname "$0")/bundle_lib.sh"
bundle_begin hdim_bundle_for_device .dev-carry/hdim "$@"
bundle_need "$SHARED/models"
BINS=(paged_attention_test elementwise_kernels_test pagoda-check cuda_kernel_bench)
bundle_build "${BINS[@]}"
bundle_fresh shared/models shared/fixtures
bundle_bins "${BINS[@]}"
cp native/tests/cuda/hdim_on_device.sh native/tests/cuda/make_hdim_goldens.py "$DEST/"
for m in tiny-llama3 tiny-qwen2 tiny-qwen3 tiny-llama-mqa-fp16 stories260k stories260k-hd64; do
  mkdir -p "$DEST/shared/models/$m"
  cp "$SHARED/models/$m"/*.json "$SHARED/models/$m"/*.safetensors "$DEST/shared/models/$m/"
done
cp -r "$SHARED/fixtures/golden" "$DEST/shared/fixtures/"
bundle_end
