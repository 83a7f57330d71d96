// The CUDA backend's entry points for embedding and rerank models (declarations only, no
// CUDA headers, so the pooling engine includes it where the backend is compiled in).
#pragma once

#include <memory>

#include "backend/backend.h"
#include "engine/encoder_device.h"

namespace pagoda {

struct EngineConfig;
class EncoderModel;

// The encoder's weights uploaded as bf16 to the current CUDA device. Throws pagoda::Error for
// a shape the kernels do not run (head_dim other than 16, 32, 64, 128; hidden over 2048).
std::unique_ptr<EncoderDevice> create_cuda_encoder(std::unique_ptr<EncoderModel> model);

// A decoder used as an embedder (Qwen3Model, no lm_head) on the CUDA backend: forward_hidden
// only, attention causal over each packed sequence with no KV cache, bf16.
std::unique_ptr<Backend> create_cuda_embedding_decoder(const EngineConfig& engine_config);

// Whether a CUDA device is visible (false without a driver).
bool cuda_device_visible();

} // namespace pagoda
