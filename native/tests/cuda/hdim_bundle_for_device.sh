#!/bin/bash
# Builds the tools hdim_on_device.sh runs (nvcc here, sm_90a) and fills the folder it carries:
# bin/ (paged_attention_test, elementwise_kernels_test, pagoda-check, cuda_kernel_bench,
# stripped), the two scripts, and from ../shared the tiny checkpoints with their goldens.
# Run from the repository root.
# Usage: native/tests/cuda/hdim_bundle_for_device.sh [build dir (native/build-cuda)] [dest (.dev-carry/hdim)]
set -eu
BUILD=${1:-native/build-cuda}
DEST=${2:-.dev-carry/hdim}
SHARED=../shared
[ -d "$SHARED/models" ] || { echo "hdim_bundle_for_device: run from the repository root"; exit 1; }
cmake --build "$BUILD" -j2 --target paged_attention_test elementwise_kernels_test pagoda-check cuda_kernel_bench
rm -rf "$DEST"
mkdir -p "$DEST/bin" "$DEST/shared/models" "$DEST/shared/fixtures"
for b in paged_attention_test elementwise_kernels_test pagoda-check cuda_kernel_bench; do
  cp "$BUILD/$b" "$DEST/bin/" && strip --strip-unneeded "$DEST/bin/$b"
done
cp native/tests/cuda/hdim_on_device.sh native/tests/cuda/make_hdim_goldens.py "$DEST/"
for m in tiny-llama3 tiny-qwen2 tiny-qwen3 tiny-llama-mqa-fp16 stories260k stories260k-hd64; do
  mkdir -p "$DEST/shared/models/$m"
  cp "$SHARED/models/$m"/*.json "$SHARED/models/$m"/*.safetensors "$DEST/shared/models/$m/"
done
cp -r "$SHARED/fixtures/golden" "$DEST/shared/fixtures/"
git describe --always --dirty --abbrev=7 > "$DEST/COMMIT"
du -sh "$DEST"
