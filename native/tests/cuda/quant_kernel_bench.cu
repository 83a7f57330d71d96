// Times the quantized-checkpoint GEMMs on Llama-3-8B shapes beside the device-to-device copy
// bandwidth and the bf16 GEMMs measured in the same run: the weight-streaming kernel (int4
// GPTQ group 128, fp8 per-channel, fp8 128x128 blocks) at decode row counts against its own
// weight bytes, cuBLASLt's fp8 W8A8 (with the activation quantization) and int4 dequantize +
// bf16 GEMM at prefill sizes in TFLOP/s, and the decode GEMM time of one whole batch-1 token
// per format beside the floor of that format's weight bytes. Weights rotate over copies
// larger than L2, so every timed call reads DRAM. A benchmark: it prints figures and, given a
// path, writes them as JSON; it asserts nothing. `quant_kernel_bench profile` launches each decode
// GEMM once for Nsight Compute (profile_once); `quant_kernel_bench lean [path]` times quant_gemm_lean
// beside quant_gemm and the copy floor instead (bench_lean).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "backend/cuda/cublaslt.h"
#include "backend/cuda/kernels.h"
#include "backend/cuda/quant_kernels.h"
#include "bench_timing.h"
#include "test_support.h"

using namespace pagoda::cuda;
using namespace pagoda::cuda::test;

namespace {

__device__ uint32_t hash32(uint64_t i, uint32_t seed) {
  uint32_t h = static_cast<uint32_t>(i) * 0x9E3779B1u ^ static_cast<uint32_t>(i >> 32) ^ seed * 0x85EBCA77u;
  h ^= h >> 15;
  h *= 0x2C1B3C6Du;
  h ^= h >> 12;
  h *= 0x297A2D39u;
  h ^= h >> 15;
  return h;
}

// Random 32-bit words; fp8 words have their NaN codes (0x7F / 0xFF) moved to 0x7E / 0xFE.
__global__ void fill_words_kernel(uint32_t* out, size_t n, uint32_t seed, bool fp8) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x) {
    uint32_t h = hash32(i, seed);
    if (fp8)
      for (int b = 0; b < 4; ++b)
        if (((h >> (8 * b)) & 0x7F) == 0x7F) h &= ~(1u << (8 * b));
    out[i] = h;
  }
}
__global__ void fill_scales_kernel(float* out, size_t n, uint32_t seed, float lo, float hi) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x)
    out[i] = lo + (hi - lo) * (hash32(i, seed) >> 8) * (1.f / 16777216.f);
}
__global__ void fill_half_scales_kernel(__half* out, size_t n, uint32_t seed) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x)
    out[i] = __float2half(0.002f + 0.01f * (hash32(i, seed) >> 8) * (1.f / 16777216.f));
}
__global__ void fill_bf16_kernel(bf16* out, size_t n, uint32_t seed, float scale) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x)
    out[i] = __float2bfloat16(scale * ((hash32(i, seed) >> 8) * (2.f / 16777216.f) - 1.f));
}

DeviceBuffer random_words(size_t bytes, uint32_t seed, bool fp8) {
  DeviceBuffer b(bytes);
  fill_words_kernel<<<1024, 256>>>(b.as<uint32_t>(), bytes / 4, seed, fp8);
  PAGODA_CUDA_CHECK_LAUNCH("fill_words_kernel");
  return b;
}
DeviceBuffer random_bf16(size_t n, uint32_t seed, float scale) {
  DeviceBuffer b(n * 2);
  fill_bf16_kernel<<<1024, 256>>>(b.as<bf16>(), n, seed, scale);
  PAGODA_CUDA_CHECK_LAUNCH("fill_bf16_kernel");
  return b;
}

enum class Format { kInt4, kFp8Channel, kFp8Block };
const char* format_name(Format f) {
  return f == Format::kInt4 ? "int4-gptq-g128" : f == Format::kFp8Channel ? "fp8-channel" : "fp8-block128";
}

// One random weight in the device layout of `f` (what the repack produces, drawn directly).
struct BenchWeight {
  DeviceBuffer packed, scales;
  QuantizedWeight view;
  size_t bytes() const { return packed.bytes() + scales.bytes(); }
};

BenchWeight make_weight(Format f, int n, int k, uint32_t seed) {
  BenchWeight w;
  w.view.n = n;
  w.view.k = k;
  w.view.group_size = 128;
  if (f == Format::kInt4) {
    w.view.format = QuantFormat::kInt4;
    w.packed = random_words(size_t(n) * k / 2, seed, false);
    const size_t count = size_t(k / 128) * n;
    w.scales = DeviceBuffer(count * 2);
    fill_half_scales_kernel<<<1024, 256>>>(w.scales.as<__half>(), count, seed + 1);
    w.view.scale_index = {n, 0, 1};
  } else {
    w.view.format = QuantFormat::kFp8;
    w.packed = random_words(size_t(n) * k, seed, true);
    const size_t count = f == Format::kFp8Channel ? size_t(n) : size_t((n + 127) / 128) * (k / 128);
    w.scales = DeviceBuffer(count * 4);
    fill_scales_kernel<<<1024, 256>>>(w.scales.as<float>(), count, seed + 1, 1e-4f, 1e-3f);
    w.view.scale_index = f == Format::kFp8Channel ? ScaleIndex{0, 0, 1} : ScaleIndex{1, 7, k / 128};
  }
  PAGODA_CUDA_CHECK_LAUNCH("fill scales");
  w.view.packed = w.packed.data();
  w.view.scales = w.scales.data();
  return w;
}

struct Shape {
  const char* name;
  int n, k;
};
const Shape kShapes[] = {{"qkv", 6144, 4096}, {"o_proj", 4096, 4096}, {"gate_up", 28672, 4096}, {"down", 4096, 14336}};
constexpr int kLayers = 32;
constexpr size_t kRotateBytes = size_t(600) << 20; // copies of a weight per timing: > 10x L2

std::string json;
void add_json(const std::string& row) { json += (json.empty() ? "" : ",\n") + row; }

double copy_gbps() {
  const size_t bytes = size_t(1) << 30;
  DeviceBuffer a(bytes), b(bytes);
  PAGODA_CUDA_CHECK(cudaMemset(a.data(), 1, bytes));
  const double ms = median_ms([&](int) { PAGODA_CUDA_CHECK(cudaMemcpyAsync(b.data(), a.data(), bytes, cudaMemcpyDeviceToDevice)); });
  return 2.0 * bytes / (ms * 1e6);
}

void write_json(const char* path, const cudaDeviceProp& prop, double copy) {
  FILE* out = std::fopen(path, "w");
  if (out == nullptr) throw pagoda::Error(std::string("cannot write ") + path);
  std::fprintf(out, "{\"device\":\"%s\",\"copy_gbps\":%.1f,\"git_commit\":\"%s\",\"rows\":[\n%s\n]}\n", prop.name, copy,
               std::getenv("PAGODA_GIT_COMMIT") ? std::getenv("PAGODA_GIT_COMMIT") : "unknown", json.c_str());
  std::fclose(out);
}

// `lean`: quant_gemm_lean beside quant_gemm and the copy floor at m = 1, 2, 4, 8 on the four Llama-3-8B
// GEMMs (int4 GPTQ g128 symmetric and with zero points, g64, fp8 per-channel / blocks), two and four
// stages (deep), each call alone on rotated weights; then one batch-1 token's 128 layer GEMMs back to
// back per kernel against the floor.
int bench_lean(const cudaDeviceProp& prop, double copy, const char* json_path) {
  setenv("PAGODA_QUANT_GEMM_LEAN", "0", 1); // quant_gemm stays the classic kernel (the switch is read at its first call)
  unsetenv("PAGODA_QUANT_GEMM_LEAN_DEEP");
  const int ms[] = {1, 2, 4, 8};
  DeviceBuffer x = random_bf16(size_t(8) * 14336, 7, 1.f);
  DeviceBuffer y(size_t(8) * 28672 * 2);
  struct Variant {
    Format f;
    const char* name;
    int group;
    bool zeros;
  };
  const Variant variants[] = {{Format::kInt4, "int4-gptq-g128", 128, false}, {Format::kInt4, "int4-awq-g128", 128, true},
                              {Format::kInt4, "int4-gptq-g64", 64, false}, {Format::kFp8Channel, "fp8-channel", 128, false},
                              {Format::kFp8Block, "fp8-block128", 128, false}};
  for (const Variant& v : variants) {
    struct Layer {
      BenchWeight w;
      DeviceBuffer zeros;
    };
    std::vector<std::vector<Layer>> layers; // per shape, rotated copies (> 600 MB together)
    for (const Shape& s : kShapes) {
      std::vector<Layer> l;
      auto make = [&](uint32_t seed) {
        Layer layer{make_weight(v.f, s.n, s.k, seed), DeviceBuffer()};
        if (v.group == 64) { // the same codes, a scale per 64 (the g128 scales reused twice is enough for timing)
          layer.w.scales = DeviceBuffer(size_t(s.k / 64) * s.n * 2);
          fill_half_scales_kernel<<<1024, 256>>>(layer.w.scales.as<__half>(), size_t(s.k / 64) * s.n, seed + 2);
          PAGODA_CUDA_CHECK_LAUNCH("fill g64 scales");
          layer.w.view.scales = layer.w.scales.data();
          layer.w.view.group_size = 64;
        }
        if (v.zeros) { // AWQ-like: a zero point byte per (group, row); their values do not change the timing
          layer.zeros = DeviceBuffer(size_t(s.k / v.group) * s.n);
          PAGODA_CUDA_CHECK(cudaMemset(layer.zeros.data(), 7, layer.zeros.bytes()));
          layer.w.view.zeros = layer.zeros.as<uint8_t>();
        }
        return layer;
      };
      l.push_back(make(300));
      const size_t bytes = l[0].w.bytes() + l[0].zeros.bytes();
      const int copies = std::max<int>(2, int(kRotateBytes / bytes) + 1);
      for (int c = 1; c < copies; ++c) l.push_back(make(300 + 7 * c));
      layers.push_back(std::move(l));
    }
    PAGODA_CUDA_CHECK(cudaDeviceSynchronize());
    double token_bytes = 0;
    for (size_t si = 0; si < std::size(kShapes); ++si) {
      const Shape& s = kShapes[si];
      const std::vector<Layer>& wc = layers[si];
      const double wbytes = double(wc[0].w.bytes() + wc[0].zeros.bytes()), floor_ms = wbytes / (copy * 1e6);
      token_bytes += wbytes;
      for (int m : ms) {
        const double old_ms = median_ms([&](int i) {
          quant_gemm(x.as<bf16>(), wc[size_t(i) % wc.size()].w.view, y.as<bf16>(), s.n, m, 0.f, nullptr, 0, 0);
        });
        double lean_ms[2];
        for (int deep : {0, 1})
          lean_ms[deep] = median_ms([&](int i) {
            quant_gemm_lean(x.as<bf16>(), wc[size_t(i) % wc.size()].w.view, y.as<bf16>(), s.n, m, 0.f, nullptr, 0, 0, deep);
          });
        std::printf("%-8s %-14s m %d  floor %.4f ms  quant_gemm %.4f (%3.0f%%)  quant_gemm_lean %.4f (%3.0f%%)  %.2fx  "
                    "deep %.4f (%3.0f%%)\n", s.name, v.name, m, floor_ms, old_ms, 100 * floor_ms / old_ms, lean_ms[0],
                    100 * floor_ms / lean_ms[0], old_ms / lean_ms[0], lean_ms[1], 100 * floor_ms / lean_ms[1]);
        add_json("{\"shape\":\"" + std::string(s.name) + "\",\"format\":\"" + v.name + "\",\"m\":" + std::to_string(m) +
                 ",\"floor_ms\":" + std::to_string(floor_ms) + ",\"quant_gemm_ms\":" + std::to_string(old_ms) +
                 ",\"quant_gemm_lean_ms\":" + std::to_string(lean_ms[0]) + ",\"quant_gemm_lean_deep_ms\":" +
                 std::to_string(lean_ms[1]) + ",\"weight_bytes\":" + std::to_string(size_t(wbytes)) + "}");
      }
    }
    // One token's layer GEMMs back to back: 32 x (qkv, o_proj, gate_up, down), copy (layer % copies).
    const double floor = kLayers * token_bytes / (copy * 1e6);
    for (int kernel = 0; kernel < 3; ++kernel) { // quant_gemm, quant_gemm_lean, quant_gemm_lean deep
      const double t = median_ms([&](int rep) {
        for (int layer = 0; layer < kLayers; ++layer)
          for (size_t si = 0; si < std::size(kShapes); ++si) {
            const std::vector<Layer>& wc = layers[si];
            const QuantizedWeight& w = wc[size_t(layer + rep * kLayers) % wc.size()].w.view;
            if (kernel == 0) quant_gemm(x.as<bf16>(), w, y.as<bf16>(), w.n, 1, 0.f, nullptr, 0, 0);
            else quant_gemm_lean(x.as<bf16>(), w, y.as<bf16>(), w.n, 1, 0.f, nullptr, 0, 0, kernel - 1);
          }
      }, 2, 10);
      const char* kname = kernel == 0 ? "quant_gemm" : kernel == 1 ? "quant_gemm_lean" : "lean_deep";
      std::printf("token %-14s %-15s 128 GEMMs back to back %.3f ms  floor %.3f ms  %.3fx\n", v.name, kname, t, floor,
                  t / floor);
      add_json("{\"summary\":\"batch-1 layer GEMMs back to back\",\"format\":\"" + std::string(v.name) +
               "\",\"kernel\":\"" + kname + "\",\"ms\":" + std::to_string(t) + ",\"floor_ms\":" + std::to_string(floor) + "}");
    }
  }
  if (json_path != nullptr) write_json(json_path, prop, copy);
  return 0;
}

} // namespace

// `profile`: each of the four Llama-3-8B decode GEMMs at m 1 launched once per kernel and round (bf16
// engine GEMM, quant_gemm and quant_gemm_lean (two stages, then deep) int4 / fp8 per-channel), two rounds, for
// Nsight Compute (the
// second round is the warm one): timing comes from ncu, not from here.
int profile_once() {
  CublasLt lt;
  DeviceBuffer x = random_bf16(size_t(8) * 14336, 7, 1.f);
  DeviceBuffer y(size_t(8) * 28672 * 2);
  for (int round = 0; round < 2; ++round) {
    for (const Shape& s : kShapes) {
      DeviceBuffer wb = random_bf16(size_t(s.n) * s.k, 100, 0.05f);
      lt.linear(x.as<bf16>(), wb.as<bf16>(), y.data(), GemmOutput::kBf16, 1, s.n, s.k, 0);
      for (Format f : {Format::kInt4, Format::kFp8Channel}) {
        BenchWeight w = make_weight(f, s.n, s.k, 200);
        quant_gemm(x.as<bf16>(), w.view, y.as<bf16>(), s.n, 1, 0.f, nullptr, 0, 0);
        quant_gemm_lean(x.as<bf16>(), w.view, y.as<bf16>(), s.n, 1, 0.f, nullptr, 0, 0, 0);
        quant_gemm_lean(x.as<bf16>(), w.view, y.as<bf16>(), s.n, 1, 0.f, nullptr, 0, 0, 1); // deep
      }
      PAGODA_CUDA_CHECK(cudaDeviceSynchronize());
    }
    std::printf("profile round %d done\n", round);
  }
  return 0;
}

int main(int argc, char** argv) {
  skip_without_device("quant_kernel_bench");
  cudaDeviceProp prop{};
  PAGODA_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
  const double copy = copy_gbps();
  std::printf("device %s, copy %.0f GB/s (read + write)\n", prop.name, copy);
  if (argc > 1 && std::strcmp(argv[1], "profile") == 0) return profile_once();
  // `quant_kernel_bench lean [out.json]`: quant_gemm_lean beside quant_gemm only.
  if (argc > 1 && std::strcmp(argv[1], "lean") == 0) return bench_lean(prop, copy, argc > 2 ? argv[2] : nullptr);
  CublasLt lt;
  const int decode_ms[] = {1, 2, 4, 8, 16, 32, 64, 128, 256};
  const int prefill_ms[] = {256, 512, 1024, 2048, 4096};
  DeviceBuffer x = random_bf16(size_t(4096) * 14336, 7, 1.f);
  DeviceBuffer y(size_t(4096) * 28672 * 2);
  DeviceBuffer xq(size_t(4096) * 14336), xs(size_t(4096) * 14336 / 128 * 4);
  DeviceBuffer deq(size_t(28672) * 4096 * 2);
  // Per format: sum over one layer's four GEMMs at m = 1 (x 32 layers = a batch-1 token's).
  double layer_ms_m1[3] = {0, 0, 0}, layer_bytes[3] = {0, 0, 0}, bf16_layer_ms_m1 = 0, bf16_layer_bytes = 0;

  for (const Shape& s : kShapes) {
    // bf16 reference: the engine's GEMM (skinny or cuBLASLt, first-call timing chooses).
    const size_t bf16_bytes = size_t(s.n) * s.k * 2;
    const int bf16_copies = std::max<int>(2, int(kRotateBytes / bf16_bytes) + 1);
    std::vector<DeviceBuffer> wb;
    for (int c = 0; c < bf16_copies; ++c) wb.push_back(random_bf16(size_t(s.n) * s.k, 100 + c, 0.05f));
    std::vector<double> bf16_ms;
    for (int m : decode_ms) {
      const double ms = median_ms([&](int i) {
        lt.linear(x.as<bf16>(), wb[size_t(i) % wb.size()].as<bf16>(), y.data(), GemmOutput::kBf16, m, s.n, s.k, 0);
      });
      bf16_ms.push_back(ms);
      if (m == 1) bf16_layer_ms_m1 += ms, bf16_layer_bytes += double(bf16_bytes);
      std::printf("%-8s bf16           m %4d  %.4f ms  %5.0f GB/s  %3.0f%% of copy\n", s.name, m, ms, bf16_bytes / (ms * 1e6),
                  100.0 * bf16_bytes / (ms * 1e6) / copy);
      add_json("{\"shape\":\"" + std::string(s.name) + "\",\"format\":\"bf16\",\"kernel\":\"engine bf16 GEMM\",\"m\":" +
               std::to_string(m) + ",\"ms\":" + std::to_string(ms) + ",\"weight_bytes\":" + std::to_string(bf16_bytes) + "}");
    }
    for (int m : prefill_ms) {
      const double ms = median_ms([&](int i) {
        lt.linear(x.as<bf16>(), wb[size_t(i) % wb.size()].as<bf16>(), y.data(), GemmOutput::kBf16, m, s.n, s.k, 0);
      }, 2, 10);
      const double tflops = 2.0 * m * s.n * s.k / (ms * 1e9);
      std::printf("%-8s bf16           m %4d  %.4f ms  %5.0f TFLOP/s\n", s.name, m, ms, tflops);
      add_json("{\"shape\":\"" + std::string(s.name) + "\",\"format\":\"bf16\",\"kernel\":\"cuBLASLt bf16\",\"m\":" +
               std::to_string(m) + ",\"ms\":" + std::to_string(ms) + ",\"tflops\":" + std::to_string(tflops) + "}");
    }
    wb.clear();

    for (Format f : {Format::kInt4, Format::kFp8Channel, Format::kFp8Block}) {
      const int fi = static_cast<int>(f);
      std::vector<BenchWeight> ws;
      ws.push_back(make_weight(f, s.n, s.k, 200));
      const int copies = std::max<int>(2, int(kRotateBytes / ws[0].bytes()) + 1);
      for (int c = 1; c < copies; ++c) ws.push_back(make_weight(f, s.n, s.k, 200 + 7 * c));
      const double wbytes = double(ws[0].bytes());
      for (size_t mi = 0; mi < std::size(decode_ms); ++mi) {
        const int m = decode_ms[mi];
        const double ms = median_ms([&](int i) {
          quant_gemm(x.as<bf16>(), ws[size_t(i) % ws.size()].view, y.as<bf16>(), s.n, m, 0.f, nullptr, 0, 0);
        });
        if (m == 1) layer_ms_m1[fi] += ms, layer_bytes[fi] += wbytes;
        std::printf("%-8s %-14s m %4d  %.4f ms  %5.0f GB/s  %3.0f%% of copy  (bf16 %.4f ms: %.2fx)\n", s.name, format_name(f),
                    m, ms, wbytes / (ms * 1e6), 100.0 * wbytes / (ms * 1e6) / copy, bf16_ms[mi], bf16_ms[mi] / ms);
        add_json("{\"shape\":\"" + std::string(s.name) + "\",\"format\":\"" + format_name(f) +
                 "\",\"kernel\":\"quant_gemm\",\"m\":" + std::to_string(m) + ",\"ms\":" + std::to_string(ms) +
                 ",\"weight_bytes\":" + std::to_string(size_t(wbytes)) + ",\"bf16_ms\":" + std::to_string(bf16_ms[mi]) + "}");
      }
      // Large m: fp8 through cuBLASLt (activation quantization included), int4 dequantized to bf16 then cuBLASLt.
      for (int m : {16, 64, 128, 256, 512, 1024, 2048, 4096}) {
        if (f == Format::kInt4 && m < 256) continue;
        double ms = -1;
        std::string kernel;
        try {
          if (f == Format::kInt4) {
            kernel = "dequantize + cuBLASLt bf16";
            ms = median_ms([&](int i) {
              dequantize_weight(ws[size_t(i) % ws.size()].view, deq.as<bf16>(), 0);
              lt.linear(x.as<bf16>(), deq.as<bf16>(), y.data(), GemmOutput::kBf16, m, s.n, s.k, 0);
            }, 2, 10);
          } else {
            const bool block = f == Format::kFp8Block;
            kernel = "quantize_fp8_rows + cuBLASLt fp8";
            ms = median_ms([&](int i) {
              const BenchWeight& w = ws[size_t(i) % ws.size()];
              quantize_fp8_rows(x.as<bf16>(), xq.as<uint8_t>(), xs.as<float>(), m, s.k, block ? 128 : s.k, !block, 0);
              lt.linear_fp8(xq.as<uint8_t>(), xs.as<float>(), w.packed.as<uint8_t>(), w.scales.as<float>(), y.as<bf16>(),
                            block ? Fp8Scaling::kBlock128 : Fp8Scaling::kPerChannel, m, s.n, s.k, 0);
            }, 2, 10);
          }
        } catch (const std::exception& e) {
          std::printf("%-8s %-14s m %4d  %s: %s\n", s.name, format_name(f), m, kernel.c_str(), e.what());
          continue;
        }
        const double tflops = 2.0 * m * s.n * s.k / (ms * 1e9);
        std::printf("%-8s %-14s m %4d  %.4f ms  %5.0f TFLOP/s  %5.0f GB/s of weights  [%s]\n", s.name, format_name(f), m,
                    ms, tflops, wbytes / (ms * 1e6), kernel.c_str());
        add_json("{\"shape\":\"" + std::string(s.name) + "\",\"format\":\"" + format_name(f) + "\",\"kernel\":\"" + kernel +
                 "\",\"m\":" + std::to_string(m) + ",\"ms\":" + std::to_string(ms) + ",\"tflops\":" + std::to_string(tflops) + "}");
      }
    }
  }

  // A batch-1 token's GEMMs (32 layers; lm_head stays bf16 and is left out of both sides).
  std::printf("\nbatch-1 decode GEMMs of 32 layers (lm_head, attention and the small kernels not included):\n");
  const double bf16_ms = kLayers * bf16_layer_ms_m1, bf16_floor = kLayers * bf16_layer_bytes / (copy * 1e6);
  std::printf("  %-14s %.3f ms  floor %.3f ms  %.3fx\n", "bf16", bf16_ms, bf16_floor, bf16_ms / bf16_floor);
  add_json("{\"summary\":\"batch-1 layer GEMMs\",\"format\":\"bf16\",\"ms\":" + std::to_string(bf16_ms) +
           ",\"floor_ms\":" + std::to_string(bf16_floor) + "}");
  for (Format f : {Format::kInt4, Format::kFp8Channel, Format::kFp8Block}) {
    const int fi = static_cast<int>(f);
    const double ms = kLayers * layer_ms_m1[fi], floor = kLayers * layer_bytes[fi] / (copy * 1e6);
    std::printf("  %-14s %.3f ms  floor %.3f ms  %.3fx  (%.2fx faster than bf16)\n", format_name(f), ms, floor, ms / floor,
                bf16_ms / ms);
    add_json("{\"summary\":\"batch-1 layer GEMMs\",\"format\":\"" + std::string(format_name(f)) + "\",\"ms\":" +
             std::to_string(ms) + ",\"floor_ms\":" + std::to_string(floor) + "}");
  }
  if (argc > 1) write_json(argv[1], prop, copy);
  return 0;
}
