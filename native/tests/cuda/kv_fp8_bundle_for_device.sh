#!/bin/bash
# Fills the folder kv_fp8_on_device.sh builds and reads on the device: this tree's native/
# sources (no build folders), bench/configs/, and from ../shared the tiny checkpoints with their
# goldens (kv_cache_dtype_test), the Llama-3-8B config and the ShareGPT-like workload. About
# 35 MB. Run from the repository root.
# Usage: native/tests/cuda/kv_fp8_bundle_for_device.sh [dest (.dev-carry/kvfp8-src)]
set -eu
. "$(dirname "$0")/bundle_lib.sh"
bundle_begin_src kv_fp8_bundle_for_device .dev-carry/kvfp8-src "$@"
bundle_need "$SHARED/models"
bundle_fresh shared/models shared/fixtures shared/configs shared/workloads
bundle_sources
for m in tiny-llama3 tiny-qwen2 tiny-qwen3 tiny-llama-mqa-fp16 stories260k-hd64; do
  cp -r "$SHARED/models/$m" "$DEST/shared/models/"
done
cp -r "$SHARED/fixtures/golden" "$DEST/shared/fixtures/"
cp "$SHARED/configs/llama-3-8b.json" "$DEST/shared/configs/"
cp "$SHARED/workloads/sharegpt-like.json" "$DEST/shared/workloads/"
bundle_end
