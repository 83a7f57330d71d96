#!/bin/bash
# Fills the folder encoder_on_device.sh reads (.dev-carry/encoder under /work/main, which the
# device call copies): the encoder tests and pagoda-embed-bench built here with nvcc (sm_90a),
# stripped; the five wave2 embedding / rerank checkpoints and their goldens; the bge-m3-shaped
# config and the sentence-transformers script. Run from the repository root.
# Usage: native/tests/cuda/encoder_bundle_for_device.sh [build dir (native/build-cuda)] [out]
set -eu
BUILD=${1:-native/build-cuda}
OUT=${2:-/work/main/.dev-carry/encoder}
SHARED=../shared
cmake --build "$BUILD" -j2 --target varlen_attention_test encoder_kernels_test pooling_golden_cuda_test pagoda-embed-bench
rm -rf "$OUT"
mkdir -p "$OUT/bin" "$OUT/shared/models/wave2" "$OUT/shared/fixtures/wave2/golden"
for b in varlen_attention_test encoder_kernels_test pooling_golden_cuda_test pagoda-embed-bench; do
  cp "$BUILD/$b" "$OUT/bin/" && strip --strip-unneeded "$OUT/bin/$b"
done
for m in tiny-bert-embed tiny-xlmr-embed tiny-qwen3-embed tiny-bert-rerank tiny-xlmr-rerank; do
  cp -r "$SHARED/models/wave2/$m" "$OUT/shared/models/wave2/"
  cp "$SHARED/fixtures/wave2/golden/$m.golden.json" "$OUT/shared/fixtures/wave2/golden/"
done
cp bench/configs/bge-m3-shape.json bench/st_embed_bench.py native/tests/cuda/encoder_on_device.sh "$OUT/"
git describe --always --dirty --abbrev=7 > "$OUT/COMMIT"
du -sh "$OUT"
