#!/bin/bash
# What one device call runs to validate the CUDA backend (binaries built here, carried in
# .dev-carry/cuda/bin with ../shared copied to .dev-carry/cuda/shared): the golden checks through
# pagoda-check, the 4-layer Llama-3-8B check against PyTorch, and a batch-1 decode timing on
# the full Llama-3-8B shape with dummy weights. Usage: native/tests/cuda/run_on_device.sh [out dir]
set -u
OUT_DIR=${1:-/tmp/pagoda-out}
B=.dev-carry/cuda/bin
S=.dev-carry/cuda/shared
mkdir -p "$OUT_DIR"
status=0
[ -x $B/elementwise_kernels_test ] && { $B/elementwise_kernels_test | tail -4 || status=1; }
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
[ -x $B/cuda_graph_test ] && { $B/cuda_graph_test $S/models/tiny-llama3 || status=1; }
for g in tiny-llama3 tiny-qwen2 tiny-qwen3 tiny-llama-mqa-fp16; do
  echo "== pagoda-check $g"
  $B/pagoda-check $S/fixtures/golden/$g.golden.json --device cuda || status=1
done
echo "== pagoda-check stories260k (through stories260k-hd64)"
$B/pagoda-check $S/fixtures/golden/stories260k.golden.json --model $S/models/stories260k-hd64 --device cuda || status=1
echo "== Llama-3-8B shape, 4 layers, against PyTorch"
PYTHONUNBUFFERED=1 python3 native/tests/cuda/check_model_against_torch.py $B/cuda_model_check $S/configs/llama-3-8b.json /tmp/llama-check || status=1
if [ -f .dev-carry/cuda/decode_b1.bin ]; then
  echo "== Llama-3-8B shape, 32 layers, dummy weights: batch-1 decode"
  $B/cuda_model_check $S/configs/llama-3-8b.json .dev-carry/cuda/decode_b1.bin /tmp/decode_b1.logits --load-format dummy || status=1
  echo "== the same with decode CUDA graphs (PAGODA_CUDA_GRAPHS=1)"
  PAGODA_CUDA_GRAPHS=1 $B/cuda_model_check $S/configs/llama-3-8b.json .dev-carry/cuda/decode_b1.bin /tmp/decode_b1g.logits --load-format dummy || status=1
fi
if [ -f .dev-carry/cuda/decode_b32.bin ]; then
  echo "== Llama-3-8B shape, 32 layers, dummy weights: batch-32 decode"
  $B/cuda_model_check $S/configs/llama-3-8b.json .dev-carry/cuda/decode_b32.bin /tmp/decode_b32.logits --load-format dummy || status=1
fi
echo "run_on_device: status $status"
exit $status
