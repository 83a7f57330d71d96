// Test helpers that write checkpoints: text files, temporary folders (removed by
// remove_temp_dirs), and safetensors files from raw tensors.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "json.h"

namespace pagoda {
namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

std::vector<std::string> g_temp_dirs; // removed by remove_temp_dirs

std::string make_temp_dir() {
  char tmpl[] = "/tmp/pagoda-test-XXXXXX";
  const char* d = mkdtemp(tmpl);
  if (!d) {
    std::perror("mkdtemp");
    std::exit(1);
  }
  g_temp_dirs.push_back(d);
  return d;
}

void remove_temp_dirs() {
  for (const auto& d : g_temp_dirs) std::filesystem::remove_all(d);
}

struct Entry {
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;
  const void* data;
  size_t nbytes;
};

// Writes a safetensors file: header length, JSON header (space-padded to 8 bytes), data.
void write_safetensors(const std::string& path, const std::vector<Entry>& entries) {
  json::Value header = json::Value::object();
  size_t offset = 0;
  for (const auto& e : entries) {
    json::Value t = json::Value::object();
    t.set("dtype", json::Value::string(e.dtype));
    json::Value shape = json::Value::array();
    for (int64_t d : e.shape) shape.push_back(json::Value::number(double(d)));
    t.set("shape", shape);
    json::Value offs = json::Value::array();
    offs.push_back(json::Value::number(double(offset)));
    offs.push_back(json::Value::number(double(offset + e.nbytes)));
    t.set("data_offsets", offs);
    header.set(e.name, t);
    offset += e.nbytes;
  }
  std::string h = json::dump(header);
  while (h.size() % 8) h += ' ';
  std::ofstream out(path, std::ios::binary);
  const uint64_t len = h.size();
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>((len >> (8 * i)) & 0xff));
  out << h;
  for (const auto& e : entries) out.write(static_cast<const char*>(e.data), static_cast<std::streamsize>(e.nbytes));
}

} // namespace
} // namespace pagoda
