// safetensors reader: one memory-mapped file, or the shards named by
// model.safetensors.index.json. Tensors are views into the mappings.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "model/mapped_file.h"

namespace pagoda {

struct SafetensorsTensor {
  std::string name;
  std::string dtype; // as the header says: "F32", "F16", "BF16", "I64", ...
  std::vector<int64_t> shape;
  const void* data = nullptr;
  size_t nbytes = 0;
};

class SafetensorsFile {
public:
  // Maps the file and parses its header. Throws pagoda::Error naming the file (and the
  // tensor) for a bad header, an unknown dtype, a size that disagrees with the shape, or
  // data offsets past the end of the file (a truncated download).
  explicit SafetensorsFile(const std::string& path);

  const std::string& path() const { return file_.path(); }
  const std::vector<SafetensorsTensor>& tensors() const { return tensors_; }
  const SafetensorsTensor* find(const std::string& name) const;

private:
  MappedFile file_;
  std::vector<SafetensorsTensor> tensors_;
  std::map<std::string, size_t> index_;
};

// All tensors of a checkpoint folder, single file or sharded.
class SafetensorsCheckpoint {
public:
  // `dir` holds model.safetensors, or model.safetensors.index.json and its shards.
  explicit SafetensorsCheckpoint(const std::string& dir);

  // The tensor and the file it lives in, or nullptr.
  const SafetensorsTensor* find(const std::string& name, std::string* file = nullptr) const;
  // Where a missing tensor would have been looked for (for messages).
  const std::string& description() const { return description_; }
  size_t num_tensors() const;

private:
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::string description_;
};

} // namespace pagoda
