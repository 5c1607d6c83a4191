// Fuzzes simulation::read_idx, the IDX (MNIST / Fashion-MNIST) file reader, plain and gzip: the
// input is written to a scratch file and read back with a 1 MiB data limit.
//
// Input: the file's bytes.
//
// Invariants: only malformed_message escapes (the file exists, so no invalid_config); an
// accepted file holds exactly product(extents) × element size bytes; an accepted plain (not
// gzip) file re-encodes — magic, big-endian extents and elements — to its bytes.
#include "fuzz_common.hpp"

#include "fedpp/simulation/idx_reader.hpp"

#include <algorithm>
#include <cstdio>
#include <string>
#include <unistd.h>

namespace {

using namespace fedpp;
constexpr const char* harness = "idx_reader";

const std::string& scratch_path() {
  static const std::string path = [] {
    const char* dir = std::getenv("TMPDIR");
    return std::string(dir != nullptr && *dir != '\0' ? dir : "/tmp") + "/fedpp-idx-fuzz-" +
           std::to_string(::getpid()) + ".idx";
  }();
  return path;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string& path = scratch_path();
  {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (f == nullptr) fuzz::fail(harness, "cannot write the scratch file", path);
    if (size != 0 && std::fwrite(data, 1, size, f) != size) fuzz::fail(harness, "cannot write the scratch file", path);
    std::fclose(f);
  }
  std::optional<simulation::idx_array> a;
  try {
    a.emplace(simulation::read_idx(path, std::uint64_t{1} << 20));
  } catch (const malformed_message&) {
  } catch (...) {
    fuzz::undocumented(harness, "read_idx");
  }
  std::remove(path.c_str());
  if (!a) return 0;
  const std::size_t width = simulation::idx_element_size(a->type);
  std::size_t elements = 1;
  for (const auto e : a->extents) elements *= e;
  if (a->bytes.size() != elements * width) fuzz::fail(harness, "accepted data size differs from the extents");
  const bool gzip = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
  if (gzip) return 0;
  std::vector<std::uint8_t> again{0, 0, static_cast<std::uint8_t>(a->type), static_cast<std::uint8_t>(a->extents.size())};
  for (const auto e : a->extents)
    for (int s = 24; s >= 0; s -= 8) again.push_back(static_cast<std::uint8_t>((e >> s) & 0xff));
  for (std::size_t i = 0; i < a->bytes.size(); i += width)
    for (std::size_t b = 0; b < width; ++b) again.push_back(a->bytes[i + width - 1 - b]);
  if (again.size() != size || (size != 0 && std::memcmp(again.data(), data, size) != 0))
    fuzz::fail(harness, "an accepted plain IDX file does not re-encode to its bytes");
  return 0;
}
