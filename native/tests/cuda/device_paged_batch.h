// A PagedBatch on the device as the attention kernels take it: its arrays uploaded (bf16 or
// float32, as T says) and the kernel arguments pointing at them, with an output buffer.
#pragma once

#include <cmath>
#include <string>
#include <type_traits>

#include "backend/cuda/kernels.h"
#include "paged_batch.h"
#include "test_support.h"

namespace pagoda::cuda::test {

template <typename T> struct DevicePagedBatch {
  DeviceBuffer qkv, k_cache, v_cache, query_start, context_lens, block_tables, out;
  PagedAttentionArgsOf<T> args;
  size_t out_elems = 0;
  std::string tag; // "Hq 32 Hkv 8 D 128 bs 16", for check names
};

template <typename T> DevicePagedBatch<T> upload_paged_batch(const PagedBatch& b, const AttentionLayout& lay) {
  static_assert(std::is_same_v<T, bf16> || std::is_same_v<T, float>);
  auto up = [](const std::vector<float>& v) {
    if constexpr (std::is_same_v<T, float>) return upload(v);
    else return upload_bf16(v);
  };
  DevicePagedBatch<T> d;
  d.qkv = up(b.qkv);
  d.k_cache = up(b.k_cache);
  d.v_cache = up(b.v_cache);
  d.query_start = upload(b.query_start);
  d.context_lens = upload(b.context_lens);
  d.block_tables = upload(b.block_tables);
  d.out_elems = size_t(b.num_tokens) * b.q_width;
  d.out = DeviceBuffer(d.out_elems * sizeof(T));
  PagedAttentionArgsOf<T>& a = d.args;
  a.q = d.qkv.template as<T>();
  a.q_token_stride = b.stride;
  a.k_cache = d.k_cache.template as<T>();
  a.v_cache = d.v_cache.template as<T>();
  a.out = d.out.template as<T>();
  a.query_start = d.query_start.template as<int32_t>();
  a.context_lens = d.context_lens.template as<int32_t>();
  a.block_tables = d.block_tables.template as<int32_t>();
  a.max_blocks_per_seq = b.max_blocks;
  a.num_q_heads = lay.q_heads;
  a.num_kv_heads = lay.kv_heads;
  a.head_dim = lay.head_dim;
  a.block_size = lay.block_size;
  a.num_cache_blocks = static_cast<int64_t>(b.k_cache.size() / (size_t(lay.kv_heads) * lay.block_size * lay.head_dim));
  a.scale = static_cast<float>(1.0 / std::sqrt(double(lay.head_dim)));
  d.tag = "Hq " + std::to_string(lay.q_heads) + " Hkv " + std::to_string(lay.kv_heads) + " D " +
          std::to_string(lay.head_dim) + " bs " + std::to_string(lay.block_size);
  return d;
}

} // namespace pagoda::cuda::test
