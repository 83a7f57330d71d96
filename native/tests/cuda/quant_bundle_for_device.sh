#!/bin/bash
# Fills the folder quant_on_device.sh builds and reads on the device: this tree's native/
# sources (no build folders), bench/configs/, and from ../shared the wave2 tiny-llama quantized
# checkpoints with their goldens, the ShareGPT-like workload and the Llama-3-8B config. About
# 10 MB. Run from the repository root.
# Usage: native/tests/cuda/quant_bundle_for_device.sh [dest (.dev-carry/cudaq-src)]
set -eu
. "$(dirname "$0")/bundle_lib.sh"
bundle_begin_src quant_bundle_for_device .dev-carry/cudaq-src "$@"
bundle_need "$SHARED/models/wave2"
bundle_fresh shared/models shared/golden
bundle_sources
for m in "$SHARED"/models/wave2/tiny-llama-*; do cp -r "$m" "$DEST/shared/models/"; done
cp "$SHARED"/fixtures/wave2/golden/tiny-llama-*.golden.json "$DEST/shared/golden/"
cp "$SHARED/workloads/sharegpt-like.json" "$SHARED/configs/llama-3-8b.json" "$DEST/shared/"
bundle_end
