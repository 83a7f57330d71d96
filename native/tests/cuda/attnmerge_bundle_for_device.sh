#!/bin/bash
# Fills the folder attnmerge_on_device.sh reads on the device (PAGODA_DECODE_ONE_KERNEL: decode attention's
# split-K merge inside the decode kernel, no merge kernel): decode_one_kernel_test, paged_attention_test,
# cascade_attention_test, pagoda-bench and pagoda-check built here for sm_90a (stripped,
# gzipped), the Llama-3-8B bf16 and GPTQ configs, tiny-llama3 / tiny-qwen3 and the wave2 tiny-llama-gptq-int4
# with their goldens, the scripts and COMMIT. Run from the repository root; it builds the targets in BUILD first.
# DEST is git-ignored (.dev-carry).
# Usage: native/tests/cuda/attnmerge_bundle_for_device.sh [build (native/build-cuda)] [dest (.dev-carry/attnmerge)]
set -eu
. "$(dirname "$0")/bundle_lib.sh"
bundle_begin attnmerge_bundle_for_device .dev-carry/attnmerge "$@"
bundle_need "$SHARED/models/wave2"
BINS=(decode_one_kernel_test paged_attention_test cascade_attention_test pagoda-bench pagoda-check)
bundle_build "${BINS[@]}"
bundle_fresh configs shared/models/wave2 shared/fixtures/wave2/golden shared/fixtures/golden
bundle_bins "${BINS[@]}"
bundle_gzip_bins
cp bench/configs/llama-3-8b-gptq-int4.json "$SHARED/configs/llama-3-8b.json" "$DEST/configs/"
bundle_checkpoints gptq-int4 -- tiny-llama3 tiny-qwen3
cp native/tests/cuda/attnmerge_on_device.sh native/tests/cuda/device_run.sh "$DEST/"
bundle_end --max-mb 40 "OUT=\$OUT bash $DEST/attnmerge_on_device.sh"
