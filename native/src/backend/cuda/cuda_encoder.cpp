// CudaEncoder: the encoder's weights on the GPU (tables, norms and biases as bf16; each linear
// layer's kernel as the decoders prepare theirs), one packed batch per forward, pooling or the
// classification head on the device, and only the pooled floats copied back.
#include "backend/cuda/cuda_encoder.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "backend/cuda/cuda_linear.h"
#include "backend/cuda/cuda_pooling.h"
#include "backend/cuda/device_weights.h"
#include "backend/cuda/kernels.h"
#include "error.h"

namespace pagoda::cuda {

namespace {

PoolKind pool_kind(PoolingMode mode) {
  switch (mode) {
  case PoolingMode::kCls: return PoolKind::kCls;
  case PoolingMode::kMean: return PoolKind::kMean;
  case PoolingMode::kMax: return PoolKind::kMax;
  case PoolingMode::kMeanSqrtLen: return PoolKind::kMeanSqrtLen;
  case PoolingMode::kLastToken: return PoolKind::kLastToken;
  }
  throw Error("unknown pooling mode");
}

const UnquantizedCudaLinear& float_kernel(const LinearLayer& layer) {
  const auto* k = dynamic_cast<const UnquantizedCudaLinear*>(layer.kernel.get());
  if (k == nullptr) throw Error("the classification head's " + layer.name + " must hold float weights");
  return *k;
}

} // namespace

CudaEncoder::CudaEncoder(std::unique_ptr<EncoderModel> model) : model_(std::move(model)) {
  const EncoderConfig& c = model_->config();
  if (c.head_dim != 16 && c.head_dim != 32 && c.head_dim != 64 && c.head_dim != 128)
    throw Error(c.source + ": head_dim " + std::to_string(c.head_dim) +
                " is not run by the CUDA encoder (16, 32, 64, 128); use device \"cpu\"");
  if (c.hidden_size % 8 != 0 || c.hidden_size > 2048 || c.intermediate_size % 8 != 0)
    throw Error(c.source + ": the CUDA encoder needs hidden_size (at most 2048) and intermediate_size divisible by 8; "
                           "use device \"cpu\"");
  WeightUploader up(stream_.get(), false);
  auto upload = [&](Param& p) {
    auto data = std::make_unique<DeviceParam>();
    data->buffer = up.upload(p.parts);
    p.data = std::move(data);
  };
  model_->for_each_param(upload);
  model_->for_each_head_param(upload);
  LinearContext ctx{gemm_, stream_.get(), false};
  model_->for_each_linear([&](LinearLayer& l) { l.kernel = prepare_cuda_linear(l, up, ctx); });
  stream_.synchronize();
}

CudaEncoder::~CudaEncoder() = default;

void CudaEncoder::ensure(int64_t tokens, int64_t seqs) {
  const EncoderConfig& c = model_->config();
  if (tokens > token_capacity_) {
    stream_.synchronize(); // the old buffers may still be in use
    const size_t t = static_cast<size_t>(tokens), e = sizeof(bf16);
    hidden_ = DeviceBuffer(t * c.hidden_size * e);
    qkv_ = DeviceBuffer(t * 3 * c.hidden_size * e);
    attn_ = DeviceBuffer(t * c.hidden_size * e);
    out_ = DeviceBuffer(t * c.hidden_size * e);
    inter_ = DeviceBuffer(t * c.intermediate_size * e);
    token_capacity_ = tokens;
  }
  if (tokens > token_capacity_ || seqs > seq_capacity_ || inputs_.bytes() < size_t(3 * tokens + seqs + 1) * 4) {
    stream_.synchronize();
    const int64_t t = std::max(tokens, token_capacity_), s = std::max(seqs, seq_capacity_);
    const size_t in_bytes = size_t(3 * t + s + 1) * sizeof(int32_t);
    inputs_ = DeviceBuffer(in_bytes);
    host_inputs_ = PinnedBuffer(in_bytes);
  }
  if (seqs > seq_capacity_) {
    stream_.synchronize();
    const size_t s = static_cast<size_t>(seqs);
    const int labels = std::max(c.num_labels, 1);
    pooled_ = DeviceBuffer(s * c.hidden_size * sizeof(float));
    head_rows_ = DeviceBuffer(s * c.hidden_size * sizeof(bf16));
    head_dense_ = DeviceBuffer(s * c.hidden_size * sizeof(float));
    logits_ = DeviceBuffer(s * labels * sizeof(float));
    host_out_ = PinnedBuffer(s * c.hidden_size * sizeof(float));
    seq_capacity_ = seqs;
  }
}

void CudaEncoder::run(const PoolingBatch& b) {
  validate_pooling_batch(model_->config(), b);
  const int64_t n = b.num_tokens(), s = b.num_seqs();
  ensure(n, s);
  // One upload: ids, positions, types, seq_start back to back.
  int32_t* host = static_cast<int32_t*>(host_inputs_.data());
  std::memcpy(host, b.token_ids.data(), n * sizeof(int32_t));
  std::memcpy(host + n, b.positions.data(), n * sizeof(int32_t));
  std::memcpy(host + 2 * n, b.token_type_ids.data(), n * sizeof(int32_t));
  std::memcpy(host + 3 * n, b.seq_start.data(), (s + 1) * sizeof(int32_t));
  PAGODA_CUDA_CHECK(cudaMemcpyAsync(inputs_.data(), host, size_t(3 * n + s + 1) * sizeof(int32_t),
                                    cudaMemcpyHostToDevice, stream_.get()));
  const int32_t* d = inputs_.as<int32_t>();
  ids_ = d;
  positions_ = d + n;
  types_ = d + 2 * n;
  seq_start_ = d + 3 * n;
  num_tokens_ = static_cast<int>(n);
  num_seqs_ = static_cast<int>(s);
  max_seq_len_ = 0;
  for (int64_t i = 0; i < s; ++i) max_seq_len_ = std::max(max_seq_len_, b.seq_start[i + 1] - b.seq_start[i]);
  model_->forward(*this);
}

void CudaEncoder::embed(const PoolingBatch& b, PoolingMode mode, bool normalize, std::vector<float>& pooled) {
  run(b);
  const int hidden = model_->config().hidden_size;
  pool_sequences(hidden_.as<bf16>(), seq_start_, num_seqs_, hidden, pool_kind(mode), normalize, pooled_.as<float>(),
                 stream_.get());
  const size_t count = size_t(num_seqs_) * hidden;
  PAGODA_CUDA_CHECK(cudaMemcpyAsync(host_out_.data(), pooled_.data(), count * sizeof(float), cudaMemcpyDeviceToHost,
                                    stream_.get()));
  stream_.synchronize();
  const float* h = static_cast<const float*>(host_out_.data());
  pooled.assign(h, h + count);
}

void CudaEncoder::score(const PoolingBatch& b, std::vector<float>& logits) {
  if (!model_->has_head()) throw Error(model_->config().architecture + " has no classification head");
  run(b);
  const EncoderConfig& c = model_->config();
  const EncoderModel::Head& head = model_->head();
  cudaStream_t st = stream_.get();
  // The first token of each sequence (row seq_start[s]), then dense in f32, then tanh · out.
  embedding_gather(seq_start_, hidden_.as<bf16>(), head_rows_.as<bf16>(), num_seqs_, c.hidden_size, num_tokens_, st);
  const UnquantizedCudaLinear& dense = float_kernel(head.dense);
  gemm_.linear(head_rows_.as<bf16>(), dense.weight_bf16(), head_dense_.data(), GemmOutput::kF32, num_seqs_,
               dense.out_features(), dense.in_features(), st);
  classifier_head(head_dense_.as<float>(), device_param<bf16>(head.dense_bias), float_kernel(head.out).weight_bf16(),
                  device_param<bf16>(head.out_bias), logits_.as<float>(), num_seqs_, c.hidden_size, c.num_labels, st);
  const size_t count = size_t(num_seqs_) * c.num_labels;
  PAGODA_CUDA_CHECK(
      cudaMemcpyAsync(host_out_.data(), logits_.data(), count * sizeof(float), cudaMemcpyDeviceToHost, st));
  stream_.synchronize();
  const float* h = static_cast<const float*>(host_out_.data());
  logits.assign(h, h + count);
}

bf16* CudaEncoder::act(EncAct a) const {
  switch (a) {
  case EncAct::kHidden: return hidden_.as<bf16>();
  case EncAct::kQkv: return qkv_.as<bf16>();
  case EncAct::kAttn: return attn_.as<bf16>();
  case EncAct::kOut: return out_.as<bf16>();
  case EncAct::kInter: return inter_.as<bf16>();
  }
  return nullptr;
}

void CudaEncoder::embed(const Param& word, const Param& position, const Param& token_type, const Param& norm_weight,
                        const Param& norm_bias) {
  const EncoderConfig& c = model_->config();
  embed_layer_norm(ids_, positions_, types_, device_param<bf16>(word), device_param<bf16>(position),
                   device_param<bf16>(token_type), device_param<bf16>(norm_weight), device_param<bf16>(norm_bias),
                   hidden_.as<bf16>(), num_tokens_, c.hidden_size, static_cast<float>(c.layer_norm_eps),
                   stream_.get());
}

void CudaEncoder::linear(const LinearLayer& layer, EncAct in, EncAct out) {
  LinearContext ctx{gemm_, stream_.get(), false};
  static_cast<const CudaLinear&>(*layer.kernel).apply(act(in), act(out), num_tokens_, ctx);
}

void CudaEncoder::bias_add(EncAct x, const Param& bias) {
  cuda::bias_add(act(x), device_param<bf16>(bias), num_tokens_, width(x), stream_.get());
}

void CudaEncoder::attention(EncAct qkv, EncAct out) {
  const EncoderConfig& c = model_->config();
  const bf16* p = act(qkv);
  VarlenAttentionArgs a;
  a.q = p;
  a.k = p + c.hidden_size;
  a.v = p + 2 * c.hidden_size;
  a.token_stride = width(qkv);
  a.out = act(out);
  a.seq_start = seq_start_;
  a.num_seqs = num_seqs_;
  a.max_seq_len = max_seq_len_;
  a.num_q_heads = c.num_attention_heads;
  a.num_kv_heads = c.num_attention_heads;
  a.head_dim = c.head_dim;
  a.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(c.head_dim)));
  a.causal = false;
  varlen_attention(a, stream_.get());
}

void CudaEncoder::gelu(EncAct x, const Param& bias) {
  bias_gelu(act(x), device_param<bf16>(bias), num_tokens_, width(x), stream_.get());
}

void CudaEncoder::add_layer_norm(EncAct delta, const Param& delta_bias, const Param& weight, const Param& bias) {
  const EncoderConfig& c = model_->config();
  cuda::add_layer_norm(hidden_.as<bf16>(), act(delta), device_param<bf16>(delta_bias), device_param<bf16>(weight),
                       device_param<bf16>(bias), num_tokens_, c.hidden_size, static_cast<float>(c.layer_norm_eps),
                       stream_.get());
}

} // namespace pagoda::cuda

namespace pagoda {

std::unique_ptr<EncoderDevice> create_cuda_encoder(std::unique_ptr<EncoderModel> model) {
  return std::make_unique<cuda::CudaEncoder>(std::move(model));
}

bool cuda_device_visible() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError(); // clear the sticky "no driver" error
    return false;
  }
  return count > 0;
}

} // namespace pagoda
