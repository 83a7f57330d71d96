#!/bin/bash
# Fills the folder encoder_on_device.sh reads (.dev-carry/encoder2 under /work/main, which the
# device call carries): the encoder tests (elementwise_kernels_test too: bias_add and bias_gelu
# share their bias load) and pagoda-embed-bench built here with nvcc (sm_90a), stripped
# (pooling_golden_cuda_test exports its symbols, so its crash backtrace still names functions);
# the five wave2 embedding / rerank checkpoints and their goldens (made writable: ../shared is
# read-only and the next bundle must be able to remove this one); the bge-m3-shaped config and
# the sentence-transformers script. Run from the repository root.
# Usage: native/tests/cuda/encoder_bundle_for_device.sh [build dir (native/build-cuda)] [out]
set -eu
. "$(dirname "$0")/bundle_lib.sh"
bundle_begin encoder_bundle_for_device /work/main/.dev-carry/encoder2 "$@"
BINS=(varlen_attention_test encoder_kernels_test elementwise_kernels_test pooling_golden_cuda_test pagoda-embed-bench)
bundle_build "${BINS[@]}"
bundle_fresh shared/models/wave2 shared/fixtures/wave2/golden
bundle_bins "${BINS[@]}"
for m in tiny-bert-embed tiny-xlmr-embed tiny-qwen3-embed tiny-bert-rerank tiny-xlmr-rerank; do
  cp -r "$SHARED/models/wave2/$m" "$DEST/shared/models/wave2/"
  cp "$SHARED/fixtures/wave2/golden/$m.golden.json" "$DEST/shared/fixtures/wave2/golden/"
done
chmod -R u+w "$DEST"
cp bench/configs/bge-m3-shape.json bench/st_embed_bench.py native/tests/cuda/encoder_on_device.sh "$DEST/"
bundle_end
