/// \file idx_reader.hpp
/// Reader for IDX files, the container of MNIST and Fashion-MNIST (LeCun et al., "The MNIST
/// database"), plain or gzip-compressed.
///
/// Format: a 4-byte magic {0x00, 0x00, type code, rank}, then `rank` big-endian uint32 extents,
/// then the elements in row-major order, each big-endian. Type codes: 0x08 u8, 0x09 i8, 0x0B i16,
/// 0x0C i32, 0x0D f32, 0x0E f64. The file must end exactly after the last element.
#pragma once

#include "fedpp/error.hpp"

#include <zlib.h>

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

namespace fedpp::simulation {

/// Element type of an IDX file, by its type code.
enum class idx_type : std::uint8_t { u8 = 0x08, i8 = 0x09, i16 = 0x0B, i32 = 0x0C, f32 = 0x0D, f64 = 0x0E };

/// Bytes per element of an IDX type; 0 for a code that is not an IDX type.
[[nodiscard]] constexpr std::size_t idx_element_size(idx_type type) noexcept {
  switch (type) {
  case idx_type::u8:
  case idx_type::i8:
    return 1;
  case idx_type::i16:
    return 2;
  case idx_type::i32:
  case idx_type::f32:
    return 4;
  case idx_type::f64:
    return 8;
  }
  return 0;
}

/// The contents of one IDX file: type, extents and the elements in host byte order.
struct idx_array {
  idx_type type = idx_type::u8;     ///< element type from the magic
  std::vector<std::size_t> extents; ///< dimensions, outermost first (e.g. {60000, 28, 28})
  std::vector<std::uint8_t> bytes;  ///< elements, row-major, already converted to host byte order

  /// Number of elements (product of the extents).
  [[nodiscard]] std::size_t size() const noexcept {
    std::size_t n = 1;
    for (auto e : extents) n *= e;
    return n;
  }

  /// Every element converted to T with static_cast (e.g. u8 pixels to float).
  template <class T>
  [[nodiscard]] std::vector<T> to_vector() const {
    const std::size_t n = size();
    std::vector<T> out(n);
    const auto* src = bytes.data();
    switch (type) {
    case idx_type::u8:
      for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<T>(src[i]);
      break;
    case idx_type::i8:
      convert<std::int8_t>(out);
      break;
    case idx_type::i16:
      convert<std::int16_t>(out);
      break;
    case idx_type::i32:
      convert<std::int32_t>(out);
      break;
    case idx_type::f32:
      convert<float>(out);
      break;
    case idx_type::f64:
      convert<double>(out);
      break;
    }
    return out;
  }

private:
  template <class Source, class T>
  void convert(std::vector<T>& out) const {
    for (std::size_t i = 0; i < out.size(); ++i) {
      Source v;
      std::memcpy(&v, bytes.data() + i * sizeof(Source), sizeof(Source));
      out[i] = static_cast<T>(v);
    }
  }
};

namespace detail {

/// RAII gzFile; gzopen reads plain files transparently, so one path serves both.
class gz_file {
public:
  explicit gz_file(const std::filesystem::path& path) : path_(path.string()) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec))
      throw invalid_config("read_idx: '" + path_ + "' does not exist or is not a regular file");
    file_ = gzopen(path_.c_str(), "rb");
    if (file_ == nullptr) throw invalid_config("read_idx: cannot open '" + path_ + "'");
    gzbuffer(file_, 1U << 18);
  }
  gz_file(const gz_file&) = delete;
  gz_file& operator=(const gz_file&) = delete;
  ~gz_file() {
    if (file_ != nullptr) gzclose(file_);
  }

  /// Reads up to `size` bytes; returns how many were read (fewer only at the end of the data).
  std::size_t read_some(void* out, std::size_t size) {
    std::size_t done = 0;
    auto* bytes = static_cast<unsigned char*>(out);
    while (done < size) {
      const auto chunk = static_cast<unsigned>(std::min<std::size_t>(size - done, 1U << 30));
      const int got = gzread(file_, bytes + done, chunk);
      if (got < 0) fail("corrupt gzip stream");
      if (got == 0) {
        int code = Z_OK;
        const char* message = gzerror(file_, &code);
        if (code != Z_OK) fail(std::string("corrupt or truncated gzip stream (") + message + ")");
        break;
      }
      done += static_cast<std::size_t>(got);
    }
    return done;
  }

  /// Reads exactly `size` bytes of `what`, or throws malformed_message naming the shortfall.
  void read_exact(void* out, std::size_t size, const char* what) {
    const std::size_t got = read_some(out, size);
    if (got != size)
      fail(std::string("truncated: ") + what + " needs " + std::to_string(size) +
           " bytes, the file ends after " + std::to_string(got));
  }

  [[noreturn]] void fail(const std::string& what) const {
    throw malformed_message("IDX file '" + path_ + "': " + what);
  }

  [[nodiscard]] const std::string& name() const noexcept { return path_; }

private:
  std::string path_;
  gzFile file_ = nullptr;
};

inline std::string hex_byte(unsigned value) {
  char buffer[8];
  std::snprintf(buffer, sizeof buffer, "0x%02X", value & 0xffU);
  return buffer;
}

} // namespace detail

/// Default cap on the decoded data size of one IDX file (4 GiB): a guard against absurd
/// extents, since data is only allocated as it actually arrives.
inline constexpr std::uint64_t idx_default_max_bytes = std::uint64_t{1} << 32;

/// Reads an IDX file, plain or gzip-compressed (detected from the content, not the name).
///
/// Throws invalid_config when the file is missing or unreadable, and malformed_message (naming
/// the file and the problem) for a bad magic, unknown type code, rank 0 or > 8, extents whose
/// data would exceed `max_bytes`, truncated data, trailing bytes after the data, or a corrupt
/// gzip stream.
[[nodiscard]] inline idx_array read_idx(const std::filesystem::path& path,
                                        std::uint64_t max_bytes = idx_default_max_bytes) {
  detail::gz_file file(path);
  unsigned char magic[4];
  file.read_exact(magic, 4, "the magic number");
  if (magic[0] != 0 || magic[1] != 0)
    file.fail("bad magic: the first two bytes must be 0x00 0x00, got " + detail::hex_byte(magic[0]) + " " +
              detail::hex_byte(magic[1]));
  const auto type = static_cast<idx_type>(magic[2]);
  const std::size_t element_size = idx_element_size(type);
  if (element_size == 0)
    file.fail("unknown element type code " + detail::hex_byte(magic[2]) +
              " (expected 0x08, 0x09, 0x0B, 0x0C, 0x0D or 0x0E)");
  const unsigned rank = magic[3];
  if (rank == 0 || rank > 8) file.fail("rank " + std::to_string(rank) + " is outside 1..8");

  idx_array result;
  result.type = type;
  result.extents.resize(rank);
  std::uint64_t total_bytes = element_size;
  bool too_large = false;
  for (unsigned d = 0; d < rank; ++d) {
    unsigned char be[4];
    file.read_exact(be, 4, "the extents");
    const std::uint32_t extent = (std::uint32_t{be[0]} << 24) | (std::uint32_t{be[1]} << 16) |
                                 (std::uint32_t{be[2]} << 8) | std::uint32_t{be[3]};
    result.extents[d] = extent;
    // Saturating product: extents of up to 2^32 each could overflow 64 bits.
    if (extent != 0 && total_bytes > max_bytes / extent) too_large = true;
    total_bytes *= extent;
  }
  std::string shape = "[";
  for (unsigned d = 0; d < rank; ++d) shape += (d ? ", " : "") + std::to_string(result.extents[d]);
  shape += "]";
  bool empty = false;
  for (auto e : result.extents) empty = empty || e == 0;
  if (too_large && !empty)
    file.fail("extents " + shape + " of " + std::to_string(element_size) +
              "-byte elements exceed the limit of " + std::to_string(max_bytes) + " bytes");
  if (empty) total_bytes = 0;

  // Grow the buffer as data arrives, so a lying header cannot make us allocate gigabytes.
  const auto expected = static_cast<std::size_t>(total_bytes);
  std::size_t have = 0;
  while (have < expected) {
    const std::size_t chunk = std::min<std::size_t>(expected - have, std::size_t{16} << 20);
    result.bytes.resize(have + chunk);
    const std::size_t got = file.read_some(result.bytes.data() + have, chunk);
    have += got;
    if (got != chunk)
      file.fail("truncated: extents " + shape + " need " + std::to_string(expected) +
                " data bytes, the file has " + std::to_string(have));
  }
  unsigned char extra[4096];
  if (const std::size_t trailing = file.read_some(extra, sizeof extra); trailing != 0)
    file.fail("oversized: " + std::string(trailing == sizeof extra ? "at least " : "") +
              std::to_string(trailing) + " bytes follow the " + std::to_string(expected) +
              " data bytes that extents " + shape + " declare");

  if constexpr (std::endian::native == std::endian::little) {
    if (element_size > 1)
      for (std::size_t i = 0; i < expected; i += element_size)
        std::reverse(result.bytes.begin() + static_cast<std::ptrdiff_t>(i),
                     result.bytes.begin() + static_cast<std::ptrdiff_t>(i + element_size));
  }
  return result;
}

} // namespace fedpp::simulation
