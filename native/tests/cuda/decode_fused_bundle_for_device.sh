#!/bin/bash
# Fills the folder decode_fused_on_device.sh runs from (issue 20, PAGODA_DECODE_FUSED): stripped
# bin/ (paged_attention_test, rope_kv_cache_write_test, cuda_kernel_bench, pagoda-check,
# pagoda-bench), configs/ (Llama-3-8B bf16 and GPTQ int4), and from ../shared the tiny-llama3 and
# tiny-qwen3 checkpoints with their goldens. The binaries (about 45 MB stripped) travel as
# bin.tar.xz (about 17 MB; xz -T2 takes ~40 s here); the bundle is about 30 MB. Run from the
# repository root after configuring native/build-cuda.
# Usage: native/tests/cuda/decode_fused_bundle_for_device.sh [build (native/build-cuda)] [dest (.dev-carry/decode-fused)]
set -eu
BUILD=${1:-native/build-cuda}
DEST=${2:-.dev-carry/decode-fused}
SHARED=../shared
[ -d "$SHARED/models/tiny-llama3" ] || { echo "decode_fused_bundle_for_device: run from the repository root"; exit 1; }
BINS="paged_attention_test rope_kv_cache_write_test cuda_kernel_bench pagoda-check pagoda-bench"
cmake --build "$BUILD" -j2 --target $BINS
rm -rf "$DEST"
mkdir -p "$DEST/bin" "$DEST/configs" "$DEST/shared/models" "$DEST/shared/fixtures/golden"
for b in $BINS; do
  cp "$BUILD/$b" "$DEST/bin/" && strip --strip-unneeded "$DEST/bin/$b"
done
tar cf - -C "$DEST" bin | xz -T2 -6 > "$DEST/bin.tar.xz"
rm -rf "$DEST/bin"
cp native/tests/cuda/decode_fused_on_device.sh "$DEST/"
cp "$SHARED/configs/llama-3-8b.json" bench/configs/llama-3-8b-gptq-int4.json "$DEST/configs/"
for m in tiny-llama3 tiny-qwen3; do
  cp -r "$SHARED/models/$m" "$DEST/shared/models/"
  cp "$SHARED/fixtures/golden/$m.golden.json" "$DEST/shared/fixtures/golden/"
done
git describe --always --dirty --abbrev=7 > "$DEST/COMMIT"
du -sh "$DEST"
echo "carry $DEST; on the device: bash $DEST/decode_fused_on_device.sh"
