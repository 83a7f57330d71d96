#!/bin/bash
# Fills the folder fusedrope_on_device.sh reads on the device (PAGODA_DECODE_FUSED_ROPE: rope and the KV-cache
# write inside the decode attention kernel): fused_rope_decode_test (and its mutant), fused_rope_decision_test,
# paged_attention_test, pagoda-bench and pagoda-check built here for sm_90a (stripped, gzipped), the Llama-3-8B
# bf16 and GPTQ configs, tiny-llama3 / tiny-qwen3 with their goldens, the scripts and COMMIT. About 25 MB. Run
# from the repository root; it builds the targets in BUILD first. DEST is git-ignored (.dev-carry).
# Usage: native/tests/cuda/fusedrope_bundle_for_device.sh [build (native/build-cuda)] [dest (.dev-carry/fusedrope)]
set -eu
. "$(dirname "$0")/bundle_lib.sh"
bundle_begin fusedrope_bundle_for_device .dev-carry/fusedrope "$@"
bundle_need "$SHARED/models/tiny-llama3"
BINS=(fused_rope_decode_test fused_rope_decode_test_mutant fused_rope_decision_test paged_attention_test pagoda-bench
  pagoda-check elementwise_kernels_test)
bundle_build "${BINS[@]}"
bundle_fresh configs shared/models shared/fixtures/golden
bundle_bins "${BINS[@]}"
bundle_gzip_bins
cp bench/configs/llama-3-8b-gptq-int4.json "$SHARED/configs/llama-3-8b.json" "$DEST/configs/"
for m in tiny-llama3 tiny-qwen3; do
  cp -r "$SHARED/models/$m" "$DEST/shared/models/"
  cp "$SHARED/fixtures/golden/$m.golden.json" "$DEST/shared/fixtures/golden/"
done
cp native/tests/cuda/fusedrope_on_device.sh native/tests/cuda/device_run.sh "$DEST/"
bundle_end --max-mb 60 "OUT=\$OUT bash $DEST/fusedrope_on_device.sh"
