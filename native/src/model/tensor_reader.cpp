// read_tensor / fill_uniform: the checkpoint-facing helpers ModelWeights and the linear
// methods share.
#include "model/tensor_reader.h"

#include <algorithm>
#include <atomic>
#include <sstream>
#include <thread>

#include "error.h"
#include "model/safetensors.h"

namespace pagoda {

std::string shape_str(const std::vector<int64_t>& shape) {
  std::ostringstream s;
  s << '[';
  for (size_t i = 0; i < shape.size(); ++i) s << (i ? ", " : "") << shape[i];
  s << ']';
  return s.str();
}

namespace {

bool safetensors_dtype(const std::string& name, DType& out) {
  if (name == "F32") out = DType::F32;
  else if (name == "F16") out = DType::F16;
  else if (name == "BF16") out = DType::BF16;
  else if (name == "F8_E4M3") out = DType::F8E4M3;
  else if (name == "I32") out = DType::I32;
  else return false;
  return true;
}

std::string allowed_list(std::initializer_list<DType> allowed) {
  std::string s;
  for (DType d : allowed) s += (s.empty() ? "" : ", ") + std::string(dtype_name(d));
  return s;
}

// splitmix64: a small, good, seedable generator; one stream per tensor so a tensor's
// values do not depend on the others.
struct SplitMix64 {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  float uniform() { return static_cast<float>(next() >> 40) * (1.0f / 16777216.0f) * 2.0f - 1.0f; } // [-1, 1)
};

void store(DType dtype, void* dst, size_t i, float v) {
  switch (dtype) {
  case DType::F32: static_cast<float*>(dst)[i] = v; break;
  case DType::F16: static_cast<uint16_t*>(dst)[i] = f32_to_f16(v); break;
  case DType::BF16: static_cast<uint16_t*>(dst)[i] = f32_to_bf16(v); break;
  default: throw Error(std::string("fill_uniform: ") + dtype_name(dtype) + " is not a float dtype");
  }
}

} // namespace

bool has_tensor(const SafetensorsCheckpoint& checkpoint, const std::string& name) {
  return checkpoint.find(name) != nullptr;
}

TensorView read_tensor(const SafetensorsCheckpoint& checkpoint, const std::string& name,
                       const std::vector<int64_t>& shape, std::initializer_list<DType> allowed) {
  std::string file;
  const SafetensorsTensor* t = checkpoint.find(name, &file);
  if (!t) throw Error(checkpoint.description() + ": missing tensor \"" + name + "\" (expected shape " + shape_str(shape) + ")");
  const std::initializer_list<DType> floats = {DType::F32, DType::F16, DType::BF16};
  const std::initializer_list<DType>& ok = allowed.size() ? allowed : floats;
  DType dtype;
  if (!safetensors_dtype(t->dtype, dtype) || std::find(ok.begin(), ok.end(), dtype) == ok.end())
    throw Error(file + ": tensor \"" + name + "\" has dtype " + t->dtype + "; expected " + allowed_list(ok) +
                (allowed.size() ? "" : " (quantized tensors belong to a quantized linear layer)"));
  if (t->shape != shape)
    throw Error(file + ": tensor \"" + name + "\" has shape " + shape_str(t->shape) + ", expected " + shape_str(shape) +
                " from the model config");
  TensorView v;
  v.name = name;
  v.dtype = dtype;
  v.shape = t->shape;
  v.data = t->data;
  return v;
}

void fill_uniform(DType dtype, void* dst, int64_t n, uint64_t seed, uint64_t stream, float center, float scale) {
  constexpr int64_t kChunk = int64_t(1) << 20;
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  std::atomic<int64_t> next{0};
  auto work = [&] {
    for (int64_t c = next++; c < chunks; c = next++) {
      SplitMix64 rng{seed * 0x100000001b3ull + stream * 0x9e3779b97f4a7c15ull + static_cast<uint64_t>(c) * 0xd1b54a32d192ed03ull};
      const int64_t end = std::min(n, (c + 1) * kChunk);
      for (int64_t i = c * kChunk; i < end; ++i) store(dtype, dst, static_cast<size_t>(i), center + scale * rng.uniform());
    }
  };
  const int64_t threads = std::min<int64_t>(chunks, std::max(1u, std::thread::hardware_concurrency()));
  std::vector<std::thread> pool;
  for (int64_t t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
}

} // namespace pagoda
