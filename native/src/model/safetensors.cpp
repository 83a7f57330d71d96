// safetensors: 8-byte little-endian header length, a JSON header
// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}, then the data.
#include "model/safetensors.h"

#include <sys/stat.h>

#include <cstring>
#include <set>

#include "error.h"
#include "json.h"

namespace pagoda {

namespace {

// Element sizes of the dtypes safetensors defines; 0 for unknown.
size_t element_size(const std::string& dtype) {
  if (dtype == "F64" || dtype == "I64" || dtype == "U64") return 8;
  if (dtype == "F32" || dtype == "I32" || dtype == "U32") return 4;
  if (dtype == "F16" || dtype == "BF16" || dtype == "I16" || dtype == "U16") return 2;
  if (dtype == "I8" || dtype == "U8" || dtype == "BOOL" || dtype == "F8_E4M3" || dtype == "F8_E5M2") return 1;
  return 0;
}

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

} // namespace

SafetensorsFile::SafetensorsFile(const std::string& path) : file_(path) {
  const uint8_t* base = file_.data();
  const size_t size = file_.size();
  if (size < 8) throw Error(path + ": not a safetensors file (" + std::to_string(size) + " bytes, shorter than the 8-byte header length)");
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | base[i];
  if (header_len > size - 8) {
    throw Error(path + ": safetensors header length " + std::to_string(header_len) +
                " runs past the end of the file (" + std::to_string(size) + " bytes); the file is truncated or not safetensors");
  }
  json::Value header;
  try {
    header = json::parse(std::string_view(reinterpret_cast<const char*>(base + 8), header_len));
  } catch (const Error& e) {
    throw Error(path + ": bad safetensors header: " + e.what());
  }
  if (!header.is_object()) throw Error(path + ": bad safetensors header: expected a JSON object");

  const uint8_t* data = base + 8 + header_len;
  const size_t data_size = size - 8 - header_len;
  for (const auto& member : header.as_object()) {
    if (member.key == "__metadata__") continue;
    const std::string where = path + ": tensor \"" + member.key + "\"";
    const json::Value& t = member.value;
    const json::Value* dtype = t.find("dtype");
    const json::Value* shape = t.find("shape");
    const json::Value* offsets = t.find("data_offsets");
    if (!dtype || !dtype->is_string() || !shape || !shape->is_array() || !offsets ||
        !offsets->is_array() || offsets->size() != 2) {
      throw Error(where + ": bad header entry (needs dtype, shape and data_offsets [begin, end])");
    }
    SafetensorsTensor tensor;
    tensor.name = member.key;
    tensor.dtype = dtype->as_string();
    const size_t esize = element_size(tensor.dtype);
    if (esize == 0) throw Error(where + ": unknown dtype \"" + tensor.dtype + "\"");
    uint64_t numel = 1;
    for (const auto& d : shape->as_array()) {
      if (!d.is_number() || d.as_number() < 0 || d.as_number() != static_cast<double>(static_cast<int64_t>(d.as_number()))) {
        throw Error(where + ": bad shape " + json::dump(*shape));
      }
      tensor.shape.push_back(static_cast<int64_t>(d.as_number()));
      numel *= static_cast<uint64_t>(tensor.shape.back());
    }
    double begin_d = (*offsets)[0].is_number() ? (*offsets)[0].as_number() : -1;
    double end_d = (*offsets)[1].is_number() ? (*offsets)[1].as_number() : -1;
    if (begin_d < 0 || end_d < begin_d) throw Error(where + ": bad data_offsets " + json::dump(*offsets));
    const uint64_t begin = static_cast<uint64_t>(begin_d);
    const uint64_t end = static_cast<uint64_t>(end_d);
    if (end > data_size) {
      throw Error(where + ": data ends at byte " + std::to_string(8 + header_len + end) +
                  " but the file has " + std::to_string(size) +
                  " bytes; the file is truncated (download it again)");
    }
    if (end - begin != numel * esize) {
      throw Error(where + ": data_offsets span " + std::to_string(end - begin) + " bytes but shape " +
                  json::dump(*shape) + " of " + tensor.dtype + " needs " + std::to_string(numel * esize));
    }
    tensor.data = data + begin;
    tensor.nbytes = end - begin;
    index_[tensor.name] = tensors_.size();
    tensors_.push_back(std::move(tensor));
  }
}

const SafetensorsTensor* SafetensorsFile::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

SafetensorsCheckpoint::SafetensorsCheckpoint(const std::string& dir) {
  const std::string index_path = dir + "/model.safetensors.index.json";
  const std::string single_path = dir + "/model.safetensors";
  if (file_exists(index_path)) {
    json::Value index = json::parse_file(index_path);
    const json::Value* map = index.find("weight_map");
    if (!map || !map->is_object()) throw Error(index_path + ": missing \"weight_map\" object");
    std::vector<std::string> shard_names;
    std::set<std::string> seen;
    for (const auto& m : map->as_object()) {
      if (!m.value.is_string()) throw Error(index_path + ": weight_map entry \"" + m.key + "\" must be a file name");
      if (seen.insert(m.value.as_string()).second) shard_names.push_back(m.value.as_string());
    }
    for (const auto& shard : shard_names) {
      if (shard.find('/') != std::string::npos) throw Error(index_path + ": shard name \"" + shard + "\" must be a plain file name");
      files_.push_back(std::make_unique<SafetensorsFile>(dir + "/" + shard));
    }
    // Every tensor the index names must be in the shard it names.
    for (const auto& m : map->as_object()) {
      const std::string shard_path = dir + "/" + m.value.as_string();
      for (const auto& f : files_) {
        if (f->path() == shard_path && !f->find(m.key)) {
          throw Error(index_path + ": tensor \"" + m.key + "\" is listed in shard " + shard_path + " but that file does not contain it");
        }
      }
    }
    description_ = index_path + " (" + std::to_string(files_.size()) + " shards)";
  } else if (file_exists(single_path)) {
    files_.push_back(std::make_unique<SafetensorsFile>(single_path));
    description_ = single_path;
  } else {
    throw Error(dir + ": no model.safetensors or model.safetensors.index.json in this folder "
                "(only safetensors checkpoints are supported)");
  }
}

const SafetensorsTensor* SafetensorsCheckpoint::find(const std::string& name, std::string* file) const {
  for (const auto& f : files_) {
    if (const SafetensorsTensor* t = f->find(name)) {
      if (file) *file = f->path();
      return t;
    }
  }
  return nullptr;
}

size_t SafetensorsCheckpoint::num_tensors() const {
  size_t n = 0;
  for (const auto& f : files_) n += f->tensors().size();
  return n;
}

} // namespace pagoda
