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
BUILD=${1:-native/build-cuda}
OUT=${2:-/work/main/.dev-carry/encoder2}
SHARED=../shared
BINS="varlen_attention_test encoder_kernels_test elementwise_kernels_test pooling_golden_cuda_test pagoda-embed-bench"
# shellcheck disable=SC2086
cmake --build "$BUILD" -j2 --target $BINS
[ -d "$OUT" ] && chmod -R u+w "$OUT"
rm -rf "$OUT"
mkdir -p "$OUT/bin" "$OUT/shared/models/wave2" "$OUT/shared/fixtures/wave2/golden"
for b in $BINS; do
  cp "$BUILD/$b" "$OUT/bin/" && strip --strip-unneeded "$OUT/bin/$b"
done
for m in tiny-bert-embed tiny-xlmr-embed tiny-qwen3-embed tiny-bert-rerank tiny-xlmr-rerank; do
  cp -r "$SHARED/models/wave2/$m" "$OUT/shared/models/wave2/"
  cp "$SHARED/fixtures/wave2/golden/$m.golden.json" "$OUT/shared/fixtures/wave2/golden/"
done
chmod -R u+w "$OUT"
cp bench/configs/bge-m3-shape.json bench/st_embed_bench.py native/tests/cuda/encoder_on_device.sh "$OUT/"
git describe --always --dirty --abbrev=7 > "$OUT/COMMIT"
du -sh "$OUT"
