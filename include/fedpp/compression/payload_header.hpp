/// \file payload_header.hpp
/// The 16-byte header every compressed payload starts with, and the scheme codes.
///
/// | offset | bytes | field                                                              |
/// |--------|-------|--------------------------------------------------------------------|
/// |      0 |     1 | scheme (payload_scheme)                                            |
/// |      1 |     1 | payload format version (1; 2 for count_sketch: payload_version_of) |
/// |      2 |     1 | parameter a (bit width, float format, index encoding ...)          |
/// |      3 |     1 | flags (bit 0: stochastic rounding, bit 1: Hadamard-rotated, ...)   |
/// |      4 |     4 | chunk size (elements per scale; 0 = one scale for the whole vector)|
/// |      8 |     8 | D, the dense element count                                         |
///
/// All integers are little-endian, floats IEEE 754 binary32 bit patterns. The scheme body follows.
#pragma once

#include "fedpp/compression/detail/payload_io.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace fedpp::compression {

/// Which compressor produced a payload. The numeric values are part of the payload format.
enum class payload_scheme : std::uint8_t {
  float_cast = 1,   ///< fp16 / bf16 values
  uniform = 2,      ///< b-bit uniform quantization with per-chunk min and step
  qsgd = 3,         ///< QSGD: per-chunk norm, sign and level
  sign = 4,         ///< 1-bit signs with per-chunk scale (or none: signSGD)
  sparse = 5,       ///< indices + values (top-k, random-k, threshold)
  count_sketch = 6, ///< r × c count sketch
};

/// Name of a scheme, for messages.
[[nodiscard]] constexpr const char* to_string(payload_scheme s) noexcept {
  switch (s) {
  case payload_scheme::float_cast:
    return "float_cast";
  case payload_scheme::uniform:
    return "uniform";
  case payload_scheme::qsgd:
    return "qsgd";
  case payload_scheme::sign:
    return "sign";
  case payload_scheme::sparse:
    return "sparse";
  case payload_scheme::count_sketch:
    return "count_sketch";
  }
  return "unknown";
}

/// The payload format version this build writes and reads (every scheme but count_sketch).
inline constexpr std::uint8_t payload_version = 1;
/// count_sketch payloads: version 2 hashes every coordinate on its own (count_sketch.hpp).
/// Version 1 hashed blocks of 64 coordinates together; its cells mean something else, so it is
/// refused rather than summed with version 2 sketches.
inline constexpr std::uint8_t count_sketch_payload_version = 2;

/// The version this build writes and reads for `scheme`.
[[nodiscard]] constexpr std::uint8_t payload_version_of(payload_scheme scheme) noexcept {
  return scheme == payload_scheme::count_sketch ? count_sketch_payload_version : payload_version;
}
/// Bytes of the common header.
inline constexpr std::size_t payload_header_bytes = 16;
/// Decoders refuse payloads claiming more elements than this (2^40): a corrupt count must not
/// become a huge allocation.
inline constexpr std::uint64_t max_payload_elements = std::uint64_t{1} << 40;

/// The common header fields.
struct payload_header {
  payload_scheme scheme = payload_scheme::float_cast;
  std::uint8_t param = 0;
  std::uint8_t flags = 0;
  std::uint32_t chunk = 0;
  std::uint64_t size = 0; ///< D

  /// Appends the 16 header bytes.
  void write(detail::byte_writer& w) const {
    w.u8(static_cast<std::uint8_t>(scheme));
    w.u8(payload_version_of(scheme));
    w.u8(param);
    w.u8(flags);
    w.u32(chunk);
    w.u64(size);
  }

  /// Reads and checks the header: known scheme, version, D ≤ max_payload_elements.
  [[nodiscard]] static payload_header read(detail::byte_reader& r) {
    payload_header h;
    const auto s = r.u8("scheme");
    if (s < 1 || s > 6) detail::malformed("unknown scheme " + std::to_string(s));
    h.scheme = static_cast<payload_scheme>(s);
    const auto v = r.u8("version");
    if (h.scheme == payload_scheme::count_sketch && v == 1)
      detail::malformed("count_sketch payload version 1 is no longer read: its buckets hashed blocks of 64 "
                        "coordinates together, version 2 hashes each coordinate, so the two cannot be "
                        "summed; sketch the update again with this build");
    if (v != payload_version_of(h.scheme))
      detail::malformed(std::string(to_string(h.scheme)) + ": unsupported payload version " +
                        std::to_string(v) + " (this build reads " +
                        std::to_string(payload_version_of(h.scheme)) + ")");
    h.param = r.u8("parameter");
    h.flags = r.u8("flags");
    h.chunk = r.u32("chunk size");
    h.size = r.u64("element count");
    if (h.size > max_payload_elements)
      detail::malformed(std::string(to_string(h.scheme)) + ": element count " + std::to_string(h.size) +
                        " exceeds the limit of " + std::to_string(max_payload_elements));
    return h;
  }
};

/// The header of a payload (throws malformed_message when it is truncated or invalid).
[[nodiscard]] inline payload_header peek_header(std::span<const std::byte> payload) {
  detail::byte_reader r(payload);
  return payload_header::read(r);
}

namespace detail {
/// Number of chunks of D elements in chunks of `chunk` (0 = one chunk).
[[nodiscard]] constexpr std::uint64_t chunk_count(std::uint64_t d, std::uint64_t chunk) noexcept {
  if (d == 0) return 0;
  return chunk == 0 ? 1 : (d + chunk - 1) / chunk;
}
/// Checks that `acc` has the payload's D elements.
inline void check_target(const payload_header& h, std::size_t target, const char* what) {
  if (h.size != target)
    throw invalid_config(std::string(what) + ": the " + to_string(h.scheme) + " payload holds " +
                         std::to_string(h.size) + " elements, the target has " + std::to_string(target));
}
} // namespace detail

} // namespace fedpp::compression
