#!/bin/bash
# Fills the folder cascade_on_device.sh reads on the device (issue 20's cascade attention for decode
# batches sharing a prefix, PAGODA_CASCADE_ATTENTION=1): cascade_attention_test, cuda_kernel_bench,
# pagoda-bench and pagoda-check built here for sm_90a (stripped), the Llama-3-8B config, tiny-llama3
# (head_dim 64) / tiny-qwen3 (head_dim 128) with their goldens, the scripts and COMMIT; the binaries
# in bin.tar.gz (the device script unpacks them). Under 45 MB. Run from the
# repository root; it builds the targets in BUILD first. DEST is git-ignored (.dev-carry).
# Usage: native/tests/cuda/cascade_bundle_for_device.sh [build (native/build-cuda)] [dest (.dev-carry/cascade)]
set -eu
. "$(dirname "$0")/bundle_lib.sh"
bundle_begin cascade_bundle_for_device .dev-carry/cascade "$@"
bundle_need "$SHARED/configs/llama-3-8b.json"
BINS=(cascade_attention_test cuda_kernel_bench pagoda-bench pagoda-check)
bundle_build "${BINS[@]}"
bundle_fresh configs shared/models shared/fixtures/golden
bundle_bins "${BINS[@]}"
cp "$SHARED/configs/llama-3-8b.json" "$DEST/configs/"
for m in tiny-llama3 tiny-qwen3; do
  cp -r "$SHARED/models/$m" "$DEST/shared/models/"
  cp "$SHARED/fixtures/golden/$m.golden.json" "$DEST/shared/fixtures/golden/"
done
cp native/tests/cuda/cascade_on_device.sh native/tests/cuda/device_run.sh native/tests/cuda/compare_tokens.py "$DEST/"
# The binaries travel gzipped (~15 MB instead of 39).
bundle_gzip_bins
bundle_end --max-mb 45 "OUT=\$OUT bash $DEST/cascade_on_device.sh"
