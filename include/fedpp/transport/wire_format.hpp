/// \file wire_format.hpp
/// The versioned, little-endian binary wire format of fedpp messages: encode, decode, validate,
/// split into chunks and reassemble.
///
/// Layout of one message (all integers little-endian, floats as IEEE 754 bit patterns):
///
/// | offset | bytes | field                                                               |
/// |--------|-------|---------------------------------------------------------------------|
/// |      0 |     4 | magic "FDPP"                                                        |
/// |      4 |     2 | format version (1)                                                  |
/// |      6 |     1 | message_kind                                                        |
/// |      7 |     1 | payload_encoding                                                    |
/// |      8 |     1 | dtype of the payload elements                                       |
/// |      9 |     3 | reserved, zero                                                      |
/// |     12 |     4 | tag (control messages: the protocol's message type; else 0)         |
/// |     16 |     8 | round                                                               |
/// |     24 |     8 | sender (client id, or server_endpoint)                              |
/// |     32 |     8 | layout hash (model_layout::hash())                                  |
/// |     40 |     8 | element count of the whole payload                                  |
/// |     48 |     8 | weight (f64; a client's number of examples)                         |
/// |     56 |     8 | total payload bytes of the whole (unchunked) message                |
/// |     64 |     8 | this chunk's byte offset in the whole payload                       |
/// |     72 |     8 | this chunk's payload bytes                                          |
/// |     80 |     4 | chunk index                                                         |
/// |     84 |     4 | chunk count (1 = not chunked)                                       |
/// |     88 |     4 | sections bytes                                                      |
/// |     92 |     4 | CRC-32C of the whole message with these 4 bytes taken as zero       |
/// |     96 |     S | sections: round_config (global_model) or metrics (client_update)    |
/// |        |       | zero padding up to the next multiple of 64                          |
/// |    P   |     N | payload (P = 96 + S rounded up to 64, so payloads are 64-aligned)   |
///
/// round_config section: u32 local_epochs, u32 batch_size, f64 learning_rate, i64 deadline in
/// ms, u32 n, then n times (u32 key length, key, u32 value length, value).
/// Metrics section: u32 n, then n times (u32 key length, key, f64 value). Keys are unique.
///
/// Every chunk is a self-contained message (header, the same sections, its slice of the payload);
/// chunk_reassembler joins them into the message an unchunked encode would have produced.
#pragma once

#include "fedpp/client/round_config.hpp"
#include "fedpp/detail/aligned_buffer.hpp"
#include "fedpp/error.hpp"
#include "fedpp/tensor/dtype.hpp"
#include "fedpp/tensor/flat_model.hpp"
#include "fedpp/tensor/model_layout.hpp"
#include "fedpp/transport/detail/crc32c.hpp"
#include "fedpp/transport/message.hpp"

#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace fedpp::wire {

/// "FDPP" as the first four bytes.
inline constexpr std::uint32_t magic = 0x50504446U;
/// The format version this build writes and reads.
inline constexpr std::uint16_t format_version = 1;
/// Bytes of the fixed header.
inline constexpr std::size_t header_bytes = 96;
/// Payloads start at a multiple of this offset.
inline constexpr std::size_t payload_alignment = 64;
/// Decode refuses sections larger than this (a header claiming more is corrupt).
inline constexpr std::size_t max_section_bytes = std::size_t{16} << 20;
/// Decode and encode refuse strings (keys, values) longer than this.
inline constexpr std::size_t max_string_bytes = std::size_t{64} << 10;
/// Decode and encode refuse more key/value entries than this in one section.
inline constexpr std::size_t max_entries = std::size_t{1} << 16;
/// Default chunk payload limit of the *_chunks encoders: 1 GiB, below MPI's INT_MAX counts.
inline constexpr std::size_t default_max_chunk_bytes = std::size_t{1} << 30;

/// What a message is. The numeric values are part of the wire format.
enum class message_kind : std::uint8_t {
  global_model = 1,  ///< server -> client: the model and the round_config of a round
  client_update = 2, ///< client -> server: the client's model/delta, weight and metrics
  control = 3,       ///< protocol messages (e.g. secure aggregation); raw payload, `tag` says which
};

/// How the payload is encoded. The numeric values are part of the wire format; compressed
/// encodings will take new values.
enum class payload_encoding : std::uint8_t {
  dense = 1,     ///< element_count values of `dtype`, little-endian
  raw_bytes = 2, ///< opaque bytes (dtype u8, element_count = byte count)
};

/// Name of a message kind, for error messages.
[[nodiscard]] constexpr const char* to_string(message_kind kind) noexcept {
  switch (kind) {
  case message_kind::global_model:
    return "global_model";
  case message_kind::client_update:
    return "client_update";
  case message_kind::control:
    return "control";
  }
  return "unknown";
}

/// Name of a payload encoding, for error messages.
[[nodiscard]] constexpr const char* to_string(payload_encoding encoding) noexcept {
  switch (encoding) {
  case payload_encoding::dense:
    return "dense";
  case payload_encoding::raw_bytes:
    return "raw_bytes";
  }
  return "unknown";
}

/// Named scalar metrics a client reports (loss, accuracy, ...).
using metrics_map = std::map<std::string, double>;

/// The fixed header fields of a decoded message.
struct message_header {
  message_kind kind = message_kind::control;
  payload_encoding encoding = payload_encoding::raw_bytes;
  dtype type = dtype::u8;
  std::uint32_t tag = 0;
  std::uint64_t round = 0;
  endpoint_id sender = 0;
  std::uint64_t layout_hash = 0;
  std::uint64_t element_count = 0;       ///< elements of the whole payload (all chunks)
  double weight = 0;                     ///< client's number of examples (client_update)
  std::uint64_t total_payload_bytes = 0; ///< bytes of the whole payload (all chunks)
  std::uint64_t chunk_offset = 0;        ///< byte offset of this chunk's payload
  std::uint64_t payload_bytes = 0;       ///< bytes of this chunk's payload
  std::uint32_t chunk_index = 0;
  std::uint32_t chunk_count = 1;

  /// True when this message is one chunk of several.
  [[nodiscard]] bool is_chunked() const noexcept { return chunk_count > 1; }
  friend bool operator==(const message_header&, const message_header&) = default;
};

namespace detail {

inline void put_u16(std::byte* p, std::uint16_t v) noexcept {
  for (int i = 0; i < 2; ++i) p[i] = static_cast<std::byte>((v >> (8 * i)) & 0xffU);
}
inline void put_u32(std::byte* p, std::uint32_t v) noexcept {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<std::byte>((v >> (8 * i)) & 0xffU);
}
inline void put_u64(std::byte* p, std::uint64_t v) noexcept {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<std::byte>((v >> (8 * i)) & 0xffU);
}
inline std::uint16_t get_u16(const std::byte* p) noexcept {
  return static_cast<std::uint16_t>(std::to_integer<unsigned>(p[0]) | (std::to_integer<unsigned>(p[1]) << 8));
}
inline std::uint32_t get_u32(const std::byte* p) noexcept {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | std::to_integer<std::uint32_t>(p[i]);
  return v;
}
inline std::uint64_t get_u64(const std::byte* p) noexcept {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | std::to_integer<std::uint64_t>(p[i]);
  return v;
}

inline std::string hex(std::uint64_t v) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string s = "0x";
  bool started = false;
  for (int i = 15; i >= 0; --i) {
    const auto d = static_cast<unsigned>((v >> (4 * i)) & 0xfU);
    if (d != 0 || started || i == 0) {
      s += digits[d];
      started = true;
    }
  }
  return s;
}

[[noreturn]] inline void malformed(const std::string& what) {
  throw malformed_message("wire format: " + what);
}

/// Copies `count` elements of `width` bytes from host order to little-endian (or back: the same
/// operation). A plain memcpy on little-endian hosts.
inline void copy_little_endian(std::byte* dst, const std::byte* src, std::size_t count, std::size_t width) {
  if (count == 0) return;
  if constexpr (std::endian::native == std::endian::little) {
    std::memcpy(dst, src, count * width);
  } else {
    for (std::size_t i = 0; i < count; ++i)
      for (std::size_t b = 0; b < width; ++b) dst[i * width + b] = src[i * width + (width - 1 - b)];
  }
}

/// Appends little-endian fields to a growing section.
class section_writer {
public:
  explicit section_writer(const char* what) : what_(what) {}
  void u32(std::uint32_t v) {
    const auto at = grow(4);
    put_u32(bytes_.data() + at, v);
  }
  void u64(std::uint64_t v) {
    const auto at = grow(8);
    put_u64(bytes_.data() + at, v);
  }
  void f64(double v) { u64(std::bit_cast<std::uint64_t>(v)); }
  void string(const std::string& s) {
    if (s.size() > max_string_bytes)
      throw invalid_config(std::string("wire format: ") + what_ + ": a string of " +
                           std::to_string(s.size()) + " bytes exceeds the limit of " +
                           std::to_string(max_string_bytes));
    u32(static_cast<std::uint32_t>(s.size()));
    const auto at = grow(s.size());
    if (!s.empty()) std::memcpy(bytes_.data() + at, s.data(), s.size());
  }
  void count(std::size_t n) {
    if (n > max_entries)
      throw invalid_config(std::string("wire format: ") + what_ + ": " + std::to_string(n) +
                           " entries exceed the limit of " + std::to_string(max_entries));
    u32(static_cast<std::uint32_t>(n));
  }
  std::vector<std::byte> finish() && {
    if (bytes_.size() > max_section_bytes)
      throw invalid_config(std::string("wire format: ") + what_ + " of " + std::to_string(bytes_.size()) +
                           " bytes exceeds the limit of " + std::to_string(max_section_bytes));
    return std::move(bytes_);
  }

private:
  std::size_t grow(std::size_t n) {
    const auto at = bytes_.size();
    bytes_.resize(at + n);
    return at;
  }
  const char* what_;
  std::vector<std::byte> bytes_;
};

/// Reads little-endian fields from a section, never past its end.
class section_reader {
public:
  section_reader(std::span<const std::byte> bytes, const char* what) : bytes_(bytes), what_(what) {}
  std::uint32_t u32() { return get_u32(take(4, "a 4-byte integer")); }
  std::uint64_t u64() { return get_u64(take(8, "an 8-byte field")); }
  double f64() { return std::bit_cast<double>(u64()); }
  std::size_t count() {
    const auto n = u32();
    if (n > max_entries)
      malformed(std::string(what_) + " claims " + std::to_string(n) + " entries, the limit is " +
                std::to_string(max_entries));
    return n;
  }
  std::string string() {
    const auto n = u32();
    if (n > max_string_bytes)
      malformed(std::string(what_) + " claims a string of " + std::to_string(n) + " bytes at offset " +
                std::to_string(pos_ - 4) + ", the limit is " + std::to_string(max_string_bytes));
    const auto* p = take(n, "a string");
    return std::string(reinterpret_cast<const char*>(p), n);
  }
  void expect_end() const {
    if (pos_ != bytes_.size())
      malformed(std::string(what_) + " has " + std::to_string(bytes_.size() - pos_) +
                " unexpected trailing bytes after offset " + std::to_string(pos_));
  }

private:
  const std::byte* take(std::size_t n, const char* thing) {
    if (n > bytes_.size() - pos_)
      malformed("truncated " + std::string(what_) + ": " + thing + " at offset " + std::to_string(pos_) +
                " needs " + std::to_string(n) + " bytes, only " + std::to_string(bytes_.size() - pos_) +
                " left");
    const auto* p = bytes_.data() + pos_;
    pos_ += n;
    return p;
  }
  std::span<const std::byte> bytes_;
  std::size_t pos_ = 0;
  const char* what_;
};

inline std::vector<std::byte> encode_config_section(const round_config& config) {
  if (config.deadline.count() < 0)
    throw invalid_config("wire format: round_config deadline " + std::to_string(config.deadline.count()) +
                         " ms is negative");
  section_writer w("round_config section");
  w.u32(config.local_epochs);
  w.u32(config.batch_size);
  w.f64(config.learning_rate);
  w.u64(static_cast<std::uint64_t>(config.deadline.count()));
  w.count(config.extra.size());
  for (const auto& [key, value] : config.extra) {
    w.string(key);
    w.string(value);
  }
  return std::move(w).finish();
}

inline round_config decode_config_section(std::span<const std::byte> bytes, std::uint64_t round) {
  section_reader r(bytes, "round_config section");
  round_config config;
  config.round = round;
  config.local_epochs = r.u32();
  config.batch_size = r.u32();
  config.learning_rate = r.f64();
  const auto deadline = r.u64();
  if (deadline > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
    malformed("round_config deadline " + hex(deadline) + " is negative");
  config.deadline = std::chrono::milliseconds(static_cast<std::int64_t>(deadline));
  const auto n = r.count();
  for (std::size_t i = 0; i < n; ++i) {
    auto key = r.string();
    auto value = r.string();
    if (!config.extra.emplace(key, std::move(value)).second)
      malformed("round_config section repeats the key '" + key + "'");
  }
  r.expect_end();
  return config;
}

inline std::vector<std::byte> encode_metrics_section(const metrics_map& metrics) {
  section_writer w("metrics section");
  w.count(metrics.size());
  for (const auto& [key, value] : metrics) {
    w.string(key);
    w.f64(value);
  }
  return std::move(w).finish();
}

inline metrics_map decode_metrics_section(std::span<const std::byte> bytes) {
  section_reader r(bytes, "metrics section");
  metrics_map metrics;
  const auto n = r.count();
  for (std::size_t i = 0; i < n; ++i) {
    auto key = r.string();
    const double value = r.f64();
    if (!metrics.emplace(key, value).second) malformed("metrics section repeats the key '" + key + "'");
  }
  r.expect_end();
  return metrics;
}

constexpr std::size_t round_up(std::size_t n, std::size_t a) noexcept { return (n + a - 1) / a * a; }

/// Offset of the payload for a sections size.
constexpr std::size_t payload_offset(std::size_t sections_bytes) noexcept {
  return round_up(header_bytes + sections_bytes, payload_alignment);
}

inline void write_header(std::byte* p, const message_header& h, std::size_t sections_bytes) {
  put_u32(p + 0, magic);
  put_u16(p + 4, format_version);
  p[6] = static_cast<std::byte>(h.kind);
  p[7] = static_cast<std::byte>(h.encoding);
  p[8] = static_cast<std::byte>(h.type);
  p[9] = p[10] = p[11] = std::byte{0};
  put_u32(p + 12, h.tag);
  put_u64(p + 16, h.round);
  put_u64(p + 24, h.sender);
  put_u64(p + 32, h.layout_hash);
  put_u64(p + 40, h.element_count);
  put_u64(p + 48, std::bit_cast<std::uint64_t>(h.weight));
  put_u64(p + 56, h.total_payload_bytes);
  put_u64(p + 64, h.chunk_offset);
  put_u64(p + 72, h.payload_bytes);
  put_u32(p + 80, h.chunk_index);
  put_u32(p + 84, h.chunk_count);
  put_u32(p + 88, static_cast<std::uint32_t>(sections_bytes));
  put_u32(p + 92, 0);
}

/// CRC-32C of a whole message with the checksum field read as zero.
inline std::uint32_t message_checksum(std::span<const std::byte> bytes) noexcept {
  constexpr std::byte zeros[4]{};
  auto crc = fedpp::detail::crc32c(bytes.first(92));
  crc = fedpp::detail::crc32c(zeros, crc);
  return fedpp::detail::crc32c(bytes.subspan(96), crc);
}

/// Builds one message: header `h` (its chunk fields included), sections, and h.payload_bytes
/// bytes of payload converted from host order (elements of `width` bytes) starting at `payload`.
inline message build_message(const message_header& h, std::span<const std::byte> sections,
                             const std::byte* payload, std::size_t width) {
  const auto offset = payload_offset(sections.size());
  const auto payload_bytes = static_cast<std::size_t>(h.payload_bytes);
  // Unreachable for a payload that exists in memory; stating it also tells GCC the buffer is never
  // empty (its -Warray-bounds otherwise flags the memset below at -O3 -march=native).
  if (payload_bytes > std::numeric_limits<std::size_t>::max() - offset)
    throw invalid_config("wire format: a payload of " + std::to_string(payload_bytes) +
                         " bytes does not fit a message");
  // Every byte is written below: the header and padding are zeroed, the payload is copied.
  fedpp::detail::aligned_buffer<std::byte> buffer(offset + payload_bytes, fedpp::detail::uninitialized);
  std::byte* p = buffer.data();
  std::memset(p, 0, offset);
  write_header(p, h, sections.size());
  if (!sections.empty()) std::memcpy(p + header_bytes, sections.data(), sections.size());
  copy_little_endian(p + offset, payload, payload_bytes / width, width);
  put_u32(p + 92, message_checksum(buffer.span()));
  return message(std::move(buffer));
}

/// Splits a payload into chunks of at most `max_chunk_bytes` (rounded down to whole elements).
inline std::vector<message> build_chunks(message_header h, std::span<const std::byte> sections,
                                         const std::byte* payload, std::size_t width,
                                         std::size_t max_chunk_bytes) {
  const std::size_t per_chunk = max_chunk_bytes / width * width;
  if (per_chunk == 0)
    throw invalid_config("wire format: max_chunk_bytes " + std::to_string(max_chunk_bytes) +
                         " is smaller than one element of " + std::to_string(width) + " bytes");
  const auto total = static_cast<std::size_t>(h.total_payload_bytes);
  const std::size_t count = total == 0 ? 1 : (total + per_chunk - 1) / per_chunk;
  if (count > std::numeric_limits<std::uint32_t>::max())
    throw invalid_config("wire format: " + std::to_string(count) + " chunks exceed the 32-bit chunk count");
  std::vector<message> chunks;
  chunks.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    const std::size_t begin = i * per_chunk;
    h.chunk_index = static_cast<std::uint32_t>(i);
    h.chunk_count = static_cast<std::uint32_t>(count);
    h.chunk_offset = begin;
    h.payload_bytes = std::min(per_chunk, total - begin);
    chunks.push_back(build_message(h, sections, payload + begin, width));
  }
  return chunks;
}

template <element_type T>
message_header dense_header(message_kind kind, std::uint64_t round, endpoint_id sender,
                            const model_layout& layout, std::span<const T> flat, double weight,
                            const char* who) {
  if (!layout.is_uniform(dtype_of<T>))
    throw invalid_config(std::string("wire format: ") + who + ": the layout is not all " +
                         to_string(dtype_of<T>));
  if (flat.size() != layout.total_size())
    throw invalid_config(std::string("wire format: ") + who + ": " + std::to_string(flat.size()) +
                         " elements given, the layout has " + std::to_string(layout.total_size()));
  message_header h;
  h.kind = kind;
  h.encoding = payload_encoding::dense;
  h.type = dtype_of<T>;
  h.round = round;
  h.sender = sender;
  h.layout_hash = layout.hash();
  h.element_count = flat.size();
  h.weight = weight;
  h.total_payload_bytes = flat.size_bytes();
  h.chunk_offset = 0;
  h.payload_bytes = flat.size_bytes();
  return h;
}

} // namespace detail

/// A decoded message: header fields, config or metrics, and the payload viewed in place when the
/// bytes are suitably aligned (on little-endian hosts), else copied once into an aligned buffer.
/// Decoding a span does not own it: the bytes must outlive the decoded message; decoding a
/// `message` keeps that message alive. Move-only.
class decoded_message {
public:
  decoded_message(decoded_message&&) noexcept = default;
  decoded_message& operator=(decoded_message&&) noexcept = default;
  decoded_message(const decoded_message&) = delete;
  decoded_message& operator=(const decoded_message&) = delete;
  ~decoded_message() = default;

  /// All header fields.
  [[nodiscard]] const message_header& header() const noexcept { return header_; }
  [[nodiscard]] message_kind kind() const noexcept { return header_.kind; }
  [[nodiscard]] std::uint64_t round() const noexcept { return header_.round; }
  [[nodiscard]] endpoint_id sender() const noexcept { return header_.sender; }
  [[nodiscard]] std::uint64_t layout_hash() const noexcept { return header_.layout_hash; }
  [[nodiscard]] dtype type() const noexcept { return header_.type; }
  [[nodiscard]] std::uint64_t element_count() const noexcept { return header_.element_count; }
  /// The client's weight (number of examples) of a client_update.
  [[nodiscard]] double weight() const noexcept { return header_.weight; }
  [[nodiscard]] std::uint32_t tag() const noexcept { return header_.tag; }

  /// This message's payload bytes (this chunk's slice when chunked), in host byte order.
  [[nodiscard]] std::span<const std::byte> payload_bytes() const noexcept { return payload_; }

  /// The dense payload as T values (this chunk's slice when chunked). Throws malformed_message
  /// when the payload is not dense or its dtype is not T's.
  template <element_type T>
  [[nodiscard]] std::span<const T> payload() const {
    if (header_.encoding != payload_encoding::dense)
      detail::malformed(std::string("payload<") + to_string(dtype_of<T>) + ">: the payload encoding is " +
                        to_string(header_.encoding) + ", not dense");
    if (header_.type != dtype_of<T>)
      detail::malformed(std::string("payload<") + to_string(dtype_of<T>) + ">: the payload holds " +
                        to_string(header_.type) + " elements");
    return {reinterpret_cast<const T*>(payload_.data()), payload_.size() / sizeof(T)};
  }

  /// True when payload_bytes() points into the decoded bytes (no copy was made).
  [[nodiscard]] bool payload_is_zero_copy() const noexcept { return owned_.size() == 0; }

  /// The round_config of a global_model message (its `round` is the header's round); throws
  /// invalid_config for other kinds.
  [[nodiscard]] const round_config& config() const {
    if (!config_)
      throw invalid_config(std::string("decoded_message::config: a ") + to_string(header_.kind) +
                           " message carries no round_config");
    return *config_;
  }

  /// The metrics of a client_update message (empty for other kinds).
  [[nodiscard]] const metrics_map& metrics() const noexcept { return metrics_; }

  /// The raw sections bytes (what chunk_reassembler compares across chunks).
  [[nodiscard]] std::span<const std::byte> sections_bytes() const noexcept { return sections_; }

private:
  decoded_message() = default;
  friend decoded_message decode(std::span<const std::byte> bytes);
  friend decoded_message decode(const message& m);

  message_header header_;
  std::optional<round_config> config_;
  metrics_map metrics_;
  std::span<const std::byte> sections_;
  std::span<const std::byte> payload_;
  fedpp::detail::aligned_buffer<std::byte> owned_;
  message keep_alive_;
};

/// Decodes and validates one message (or one chunk). Throws malformed_message naming the
/// problem: truncation (bytes expected and got), bad magic, unsupported version, checksum
/// mismatch, unknown kind/encoding/dtype, inconsistent sizes or chunk fields, absurd lengths.
/// Never reads outside `bytes`. The bytes must outlive the result.
[[nodiscard]] inline decoded_message decode(std::span<const std::byte> bytes) {
  using detail::get_u32;
  using detail::get_u64;
  using detail::malformed;
  const std::size_t size = bytes.size();
  if (size < header_bytes)
    malformed("truncated header: expected at least " + std::to_string(header_bytes) + " bytes, got " +
              std::to_string(size));
  const std::byte* p = bytes.data();
  if (const auto m = get_u32(p); m != magic)
    malformed("bad magic " + detail::hex(m) + ", expected " + detail::hex(magic) + " (\"FDPP\")");
  if (const auto v = detail::get_u16(p + 4); v != format_version)
    malformed("unsupported format version " + std::to_string(v) + " (this build reads version " +
              std::to_string(format_version) + ")");
  const std::size_t sections_size = get_u32(p + 88);
  if (sections_size > max_section_bytes)
    malformed("sections of " + std::to_string(sections_size) + " bytes exceed the limit of " +
              std::to_string(max_section_bytes));
  const std::size_t offset = detail::payload_offset(sections_size);
  if (size < offset)
    malformed("truncated sections: header and sections need " + std::to_string(offset) + " bytes, got " +
              std::to_string(size));
  const std::uint64_t payload_size = get_u64(p + 72);
  if (payload_size > size - offset)
    malformed("truncated payload: expected " + std::to_string(payload_size) + " bytes, got " +
              std::to_string(size - offset));
  if (payload_size < size - offset)
    malformed("message of " + std::to_string(size) + " bytes has " +
              std::to_string(size - offset - payload_size) + " trailing bytes after its " +
              std::to_string(payload_size) + "-byte payload");
  const std::uint32_t stored_crc = get_u32(p + 92);
  if (const auto crc = detail::message_checksum(bytes); crc != stored_crc)
    malformed("checksum mismatch: the header says " + detail::hex(stored_crc) + ", the bytes give " +
              detail::hex(crc));
  if (p[9] != std::byte{0} || p[10] != std::byte{0} || p[11] != std::byte{0})
    malformed("reserved header bytes 9..11 are not zero");
  for (std::size_t i = header_bytes + sections_size; i < offset; ++i)
    if (p[i] != std::byte{0}) malformed("padding byte " + std::to_string(i) + " is not zero");

  decoded_message out;
  auto& h = out.header_;
  const auto kind = std::to_integer<std::uint8_t>(p[6]);
  const auto encoding = std::to_integer<std::uint8_t>(p[7]);
  const auto type = std::to_integer<std::uint8_t>(p[8]);
  if (kind < 1 || kind > 3) malformed("unknown message kind " + std::to_string(kind));
  if (encoding < 1 || encoding > 2) malformed("unknown payload encoding " + std::to_string(encoding));
  if (!is_known(static_cast<dtype>(type))) malformed("unknown dtype " + std::to_string(type));
  h.kind = static_cast<message_kind>(kind);
  h.encoding = static_cast<payload_encoding>(encoding);
  h.type = static_cast<dtype>(type);
  h.tag = get_u32(p + 12);
  h.round = get_u64(p + 16);
  h.sender = get_u64(p + 24);
  h.layout_hash = get_u64(p + 32);
  h.element_count = get_u64(p + 40);
  h.weight = std::bit_cast<double>(get_u64(p + 48));
  h.total_payload_bytes = get_u64(p + 56);
  h.chunk_offset = get_u64(p + 64);
  h.payload_bytes = payload_size;
  h.chunk_index = get_u32(p + 80);
  h.chunk_count = get_u32(p + 84);

  // Chunk fields.
  if (h.chunk_count == 0) malformed("chunk count is 0");
  if (h.chunk_index >= h.chunk_count)
    malformed("chunk index " + std::to_string(h.chunk_index) + " is not below the chunk count " +
              std::to_string(h.chunk_count));
  if (h.chunk_offset > h.total_payload_bytes || payload_size > h.total_payload_bytes - h.chunk_offset)
    malformed("chunk " + std::to_string(h.chunk_index) + " covers bytes [" + std::to_string(h.chunk_offset) +
              ", +" + std::to_string(payload_size) + ") outside the total payload of " +
              std::to_string(h.total_payload_bytes) + " bytes");
  if (h.chunk_count == 1 && payload_size != h.total_payload_bytes)
    malformed("unchunked message carries " + std::to_string(payload_size) +
              " payload bytes, the header says " + std::to_string(h.total_payload_bytes) + " in total");
  if (h.chunk_count > 1 && payload_size == 0)
    malformed("chunk " + std::to_string(h.chunk_index) + " of " + std::to_string(h.chunk_count) +
              " is empty");
  if (h.chunk_count > 1 && h.chunk_count > h.total_payload_bytes)
    malformed(std::to_string(h.chunk_count) + " chunks for a payload of " +
              std::to_string(h.total_payload_bytes) + " bytes");

  // Element count against sizes.
  const std::size_t width = size_of(h.type);
  if (h.encoding == payload_encoding::raw_bytes) {
    if (h.type != dtype::u8)
      malformed(std::string("raw_bytes payload with dtype ") + to_string(h.type) + ", expected u8");
    if (h.element_count != h.total_payload_bytes)
      malformed("raw_bytes payload: element count " + std::to_string(h.element_count) + " differs from the " +
                std::to_string(h.total_payload_bytes) + " total payload bytes");
  } else {
    if (h.element_count > h.total_payload_bytes / width || h.element_count * width != h.total_payload_bytes)
      malformed("element count " + std::to_string(h.element_count) + " of " + to_string(h.type) +
                " is inconsistent with " + std::to_string(h.total_payload_bytes) + " total payload bytes");
    if (h.chunk_offset % width != 0 || payload_size % width != 0)
      malformed("chunk " + std::to_string(h.chunk_index) + " at byte offset " +
                std::to_string(h.chunk_offset) + " with " + std::to_string(payload_size) +
                " bytes splits a " + std::to_string(width) + "-byte element");
  }

  // Kind-specific rules and sections.
  out.sections_ = bytes.subspan(header_bytes, sections_size);
  switch (h.kind) {
  case message_kind::global_model:
    if (h.encoding != payload_encoding::dense) malformed("a global_model message must have a dense payload");
    out.config_ = detail::decode_config_section(out.sections_, h.round);
    break;
  case message_kind::client_update:
    out.metrics_ = detail::decode_metrics_section(out.sections_);
    break;
  case message_kind::control:
    if (sections_size != 0)
      malformed("a control message carries " + std::to_string(sections_size) +
                " section bytes, expected none");
    break;
  }

  // Payload: in place when aligned and little-endian, else one converting copy.
  const auto payload = bytes.subspan(offset, static_cast<std::size_t>(payload_size));
  const bool aligned = reinterpret_cast<std::uintptr_t>(payload.data()) % width == 0;
  if (h.encoding == payload_encoding::raw_bytes || (std::endian::native == std::endian::little && aligned)) {
    out.payload_ = payload;
  } else {
    out.owned_ = fedpp::detail::aligned_buffer<std::byte>(payload.size());
    detail::copy_little_endian(out.owned_.data(), payload.data(), payload.size() / width, width);
    out.payload_ = out.owned_.span();
  }
  return out;
}

/// Decodes a message and keeps its buffer alive inside the result.
[[nodiscard]] inline decoded_message decode(const message& m) {
  auto out = decode(m.bytes());
  out.keep_alive_ = m;
  return out;
}

/// The size checks a receiver needs before it reserves memory for a model message or any of its
/// chunks: a dense global_model or client_update with `expected`'s layout hash, dtype and element
/// count (so its declared total is exactly the layout's bytes). Throws malformed_message naming
/// the mismatch.
inline void check_model_message_size(const decoded_message& d, const model_layout& expected) {
  const auto& h = d.header();
  if (h.kind == message_kind::control) detail::malformed("expected a model message, got a control message");
  if (h.encoding != payload_encoding::dense)
    detail::malformed(std::string("expected a dense model payload, got ") + to_string(h.encoding));
  if (h.layout_hash != expected.hash())
    detail::malformed("wrong layout hash " + detail::hex(h.layout_hash) + ", the expected layout hashes to " +
                      detail::hex(expected.hash()));
  if (!expected.is_uniform(h.type))
    detail::malformed(std::string("dtype ") + to_string(h.type) +
                      " differs from the expected layout's element types");
  if (h.element_count != expected.total_size())
    detail::malformed("element count " + std::to_string(h.element_count) +
                      " differs from the expected layout's " + std::to_string(expected.total_size()));
}

/// The checks a receiver of a decoded model message needs: a global_model or client_update, not a
/// chunk, for `expected_round`, with `expected`'s layout hash, dtype and element count. Throws
/// malformed_message naming the mismatch.
inline void check_model_message(const decoded_message& d, const model_layout& expected,
                                std::uint64_t expected_round) {
  const auto& h = d.header();
  if (h.kind == message_kind::control) detail::malformed("expected a model message, got a control message");
  if (h.is_chunked())
    detail::malformed("chunk " + std::to_string(h.chunk_index) + " of " + std::to_string(h.chunk_count) +
                      ": reassemble the chunks before checking the model");
  if (h.round != expected_round)
    detail::malformed("wrong round: the message is for round " + std::to_string(h.round) +
                      ", expected round " + std::to_string(expected_round));
  if (h.layout_hash != expected.hash())
    detail::malformed("wrong layout hash " + detail::hex(h.layout_hash) + ", the expected layout hashes to " +
                      detail::hex(expected.hash()));
  if (!expected.is_uniform(h.type))
    detail::malformed(std::string("dtype ") + to_string(h.type) +
                      " differs from the expected layout's element types");
  if (h.element_count != expected.total_size())
    detail::malformed("element count " + std::to_string(h.element_count) +
                      " differs from the expected layout's " + std::to_string(expected.total_size()));
}

/// decode() plus the checks a receiver of a model message needs: a global_model or
/// client_update, not a chunk, for `expected_round`, with `expected`'s layout hash, dtype and
/// element count. Throws malformed_message naming the mismatch.
[[nodiscard]] inline decoded_message decode_for(std::span<const std::byte> bytes,
                                                const model_layout& expected, std::uint64_t expected_round) {
  auto d = decode(bytes);
  check_model_message(d, expected, expected_round);
  return d;
}

/// decode_for() that keeps the message alive inside the result.
[[nodiscard]] inline decoded_message decode_for(const message& m, const model_layout& expected,
                                                std::uint64_t expected_round) {
  auto d = decode(m);
  check_model_message(d, expected, expected_round);
  return d;
}

/// Encodes the server's global model for `round` with the clients' round_config (whose `round`
/// field is ignored: the header's round is authoritative). Sender is server_endpoint. Throws
/// invalid_config when `flat` does not match `layout` or the config does not fit the format.
template <element_type T>
[[nodiscard]] message encode_global_model(std::uint64_t round, const round_config& config,
                                          const model_layout& layout, std::span<const T> flat) {
  const auto h = detail::dense_header(message_kind::global_model, round, server_endpoint, layout, flat, 0.0,
                                      "encode_global_model");
  const auto sections = detail::encode_config_section(config);
  return detail::build_message(h, sections, reinterpret_cast<const std::byte*>(flat.data()), sizeof(T));
}

/// encode_global_model() of a flat_model.
template <element_type T>
[[nodiscard]] message encode_global_model(std::uint64_t round, const round_config& config,
                                          const flat_model<T>& model) {
  return encode_global_model<T>(round, config, model.layout(), model.span());
}

/// encode_global_model() split into self-contained chunks of at most `max_chunk_bytes` payload
/// bytes each (rounded down to whole elements); one chunk when the model fits.
template <element_type T>
[[nodiscard]] std::vector<message>
encode_global_model_chunks(std::uint64_t round, const round_config& config, const model_layout& layout,
                           std::span<const T> flat, std::size_t max_chunk_bytes = default_max_chunk_bytes) {
  const auto h = detail::dense_header(message_kind::global_model, round, server_endpoint, layout, flat, 0.0,
                                      "encode_global_model_chunks");
  const auto sections = detail::encode_config_section(config);
  return detail::build_chunks(h, sections, reinterpret_cast<const std::byte*>(flat.data()), sizeof(T),
                              max_chunk_bytes);
}

/// Encodes a client's update for `round`: its flat model (or delta) laid out as `layout`, its
/// weight (number of examples) and metrics. Throws invalid_config when `flat` does not match
/// `layout` or the metrics do not fit the format. The weight is carried as is; aggregators
/// judge it.
template <element_type T>
[[nodiscard]] message encode_client_update(std::uint64_t round, client_id client, const model_layout& layout,
                                           std::span<const T> flat, double num_examples,
                                           const metrics_map& metrics = {}) {
  const auto h = detail::dense_header(message_kind::client_update, round, client, layout, flat, num_examples,
                                      "encode_client_update");
  const auto sections = detail::encode_metrics_section(metrics);
  return detail::build_message(h, sections, reinterpret_cast<const std::byte*>(flat.data()), sizeof(T));
}

/// encode_client_update() of a flat_model.
template <element_type T>
[[nodiscard]] message encode_client_update(std::uint64_t round, client_id client, const flat_model<T>& model,
                                           double num_examples, const metrics_map& metrics = {}) {
  return encode_client_update<T>(round, client, model.layout(), model.span(), num_examples, metrics);
}

/// encode_client_update() split into chunks of at most `max_chunk_bytes` payload bytes.
template <element_type T>
[[nodiscard]] std::vector<message>
encode_client_update_chunks(std::uint64_t round, client_id client, const model_layout& layout,
                            std::span<const T> flat, double num_examples, const metrics_map& metrics,
                            std::size_t max_chunk_bytes = default_max_chunk_bytes) {
  const auto h = detail::dense_header(message_kind::client_update, round, client, layout, flat, num_examples,
                                      "encode_client_update_chunks");
  const auto sections = detail::encode_metrics_section(metrics);
  return detail::build_chunks(h, sections, reinterpret_cast<const std::byte*>(flat.data()), sizeof(T),
                              max_chunk_bytes);
}

/// Encodes a protocol control message: opaque bytes, a protocol-defined `tag`, no layout.
[[nodiscard]] inline message encode_control(std::uint64_t round, endpoint_id sender, std::uint32_t tag,
                                            std::span<const std::byte> payload) {
  message_header h;
  h.kind = message_kind::control;
  h.encoding = payload_encoding::raw_bytes;
  h.type = dtype::u8;
  h.tag = tag;
  h.round = round;
  h.sender = sender;
  h.element_count = payload.size();
  h.total_payload_bytes = payload.size();
  h.payload_bytes = payload.size();
  return detail::build_message(h, {}, payload.data(), 1);
}

/// Limits of a chunk_reassembler: what a first chunk may declare, and how many bytes all partial
/// messages may hold together. Receivers of untrusted peers set both from what they expect (the
/// server: the model's layout and its per-round budget).
struct reassembly_limits {
  /// A first chunk declaring a larger total payload is refused before anything is allocated.
  std::uint64_t max_total_payload_bytes = std::uint64_t{1} << 36;
  /// Bytes the partial messages may hold together (their buffers' capacities). A chunk that would
  /// grow them past it is refused with budget_exceeded and its message dropped.
  std::uint64_t budget_bytes = std::uint64_t{1} << 30;
};

/// Joins the chunks of chunked messages, from any number of senders interleaved, into the
/// message an unchunked encode would have produced (same bytes). Chunks of one message must
/// arrive in order (transports keep per-sender order). A chunk that is malformed, out of order,
/// a duplicate, or inconsistent with the earlier chunks of its message (header fields, sections,
/// offsets, totals) is refused with malformed_message, and the reassembler's state is unchanged.
///
/// Memory grows with the bytes received, not with the sizes chunks declare: a partial message's
/// buffer starts at its first chunk and at most doubles per chunk, capped at the declared total,
/// and all partial messages together stay within `reassembly_limits::budget_bytes`; a chunk that
/// would exceed the budget is refused (budget_exceeded) and its message's bytes are released.
/// The reassembler trusts no field: who may send which chunks (sender authentication, selection,
/// round) is the caller's to check before add().
class chunk_reassembler {
public:
  /// A reassembler with the default limits (64 GiB per message, 1 GiB held in total).
  chunk_reassembler() = default;
  /// `max_total_payload_bytes` bounds what a first chunk may declare (budget: the default).
  explicit chunk_reassembler(std::uint64_t max_total_payload_bytes)
      : limits_{max_total_payload_bytes, reassembly_limits{}.budget_bytes} {}
  explicit chunk_reassembler(reassembly_limits limits) : limits_(limits) {}

  /// Adds one message. Returns the whole message when `chunk` completes one (an unchunked
  /// message is returned as is), nullopt while chunks are missing.
  [[nodiscard]] std::optional<message> add(const message& chunk) {
    auto d = decode(chunk);
    if (!d.header().is_chunked()) return chunk;
    return add_chunk(d);
  }

  /// add() for bytes that are not a message yet (copied when they complete an unchunked message).
  [[nodiscard]] std::optional<message> add(std::span<const std::byte> chunk) {
    auto d = decode(chunk);
    if (!d.header().is_chunked()) return message::copy_of(chunk);
    return add_chunk(d);
  }

  /// add() for a chunk the caller already decoded (and checked); `d` must be chunked.
  [[nodiscard]] std::optional<message> add_decoded(const decoded_message& d) {
    if (!d.header().is_chunked()) detail::malformed("add_decoded: the message is not a chunk");
    return add_chunk(d);
  }

  /// Messages partly received.
  [[nodiscard]] std::size_t in_progress() const noexcept { return partial_.size(); }
  /// Bytes the partial messages hold (their buffers' capacities).
  [[nodiscard]] std::uint64_t held_bytes() const noexcept { return held_; }
  /// The limits in force.
  [[nodiscard]] const reassembly_limits& limits() const noexcept { return limits_; }
  /// New limits for the chunks that follow (partial messages already held are kept).
  void set_limits(reassembly_limits limits) noexcept { limits_ = limits; }

  /// Drops the partial messages of rounds before `round` (e.g. at the start of a round).
  void discard_before(std::uint64_t round) {
    std::erase_if(partial_, [&](const auto& entry) {
      if (std::get<2>(entry.first) >= round) return false;
      held_ -= entry.second.buffer.size();
      return true;
    });
  }

  /// Drops every partial message.
  void clear() noexcept {
    partial_.clear();
    held_ = 0;
  }

private:
  using key = std::tuple<endpoint_id, message_kind, std::uint64_t>;
  struct partial {
    message_header first;
    std::vector<std::byte> sections;
    fedpp::detail::aligned_buffer<std::byte> buffer; // grows with the chunks, up to the whole message
    std::size_t payload_offset = 0;
    std::uint32_t next_index = 0;
    std::uint64_t next_offset = 0;
  };

  static bool same_message(const message_header& a, const message_header& b) noexcept {
    return a.kind == b.kind && a.encoding == b.encoding && a.type == b.type && a.tag == b.tag &&
           a.round == b.round && a.sender == b.sender && a.layout_hash == b.layout_hash &&
           a.element_count == b.element_count &&
           std::bit_cast<std::uint64_t>(a.weight) == std::bit_cast<std::uint64_t>(b.weight) &&
           a.total_payload_bytes == b.total_payload_bytes && a.chunk_count == b.chunk_count;
  }

  std::optional<message> add_chunk(const decoded_message& d) {
    const auto& h = d.header();
    const key k{h.sender, h.kind, h.round};
    const auto who = [&h] {
      return "chunk " + std::to_string(h.chunk_index) + " of " + std::to_string(h.chunk_count) +
             " from sender " + std::to_string(h.sender) + " (round " + std::to_string(h.round) + ", " +
             to_string(h.kind) + ")";
    };
    auto it = partial_.find(k);
    if (it == partial_.end()) {
      if (h.chunk_index != 0) detail::malformed(who() + ": out of order, expected chunk 0 first");
      if (h.total_payload_bytes > limits_.max_total_payload_bytes)
        detail::malformed(who() + ": a total payload of " + std::to_string(h.total_payload_bytes) +
                          " bytes exceeds the reassembler's limit of " +
                          std::to_string(limits_.max_total_payload_bytes));
      if (h.chunk_offset != 0)
        detail::malformed(who() + ": chunk 0 starts at byte " + std::to_string(h.chunk_offset));
      partial p;
      p.first = h;
      p.sections.assign(d.sections_bytes().begin(), d.sections_bytes().end());
      p.payload_offset = detail::payload_offset(p.sections.size());
      it = partial_.emplace(k, std::move(p)).first;
      // The new entry is only kept if this chunk is accepted.
      try {
        return accept(it, d, who);
      } catch (...) {
        drop(it);
        throw;
      }
    }
    auto& p = it->second;
    if (h.chunk_index < p.next_index)
      detail::malformed(who() + ": duplicate, chunks 0.." + std::to_string(p.next_index - 1) +
                        " already arrived");
    if (h.chunk_index > p.next_index)
      detail::malformed(who() + ": out of order, expected chunk " + std::to_string(p.next_index));
    if (!same_message(p.first, h))
      detail::malformed(who() + ": header fields differ from chunk 0 of the same message");
    if (!std::equal(p.sections.begin(), p.sections.end(), d.sections_bytes().begin(),
                    d.sections_bytes().end()))
      detail::malformed(who() + ": sections differ from chunk 0 of the same message");
    if (h.chunk_offset != p.next_offset)
      detail::malformed(who() + ": starts at byte " + std::to_string(h.chunk_offset) + ", expected byte " +
                        std::to_string(p.next_offset));
    try {
      return accept(it, d, who);
    } catch (const budget_exceeded&) {
      drop(it); // over budget: the message's bytes are released, not kept half-built
      throw;
    }
  }

  template <class It>
  void drop(It it) noexcept {
    held_ -= it->second.buffer.size();
    partial_.erase(it);
  }

  /// Makes room in `p`'s buffer for `needed` bytes: capacity at least doubles (amortised copies),
  /// capped at the whole message; throws budget_exceeded (nothing changed) past the budget.
  template <class It, class Who>
  void reserve(It it, std::size_t needed, std::size_t whole, const Who& who) {
    auto& p = it->second;
    const std::size_t capacity = p.buffer.size();
    if (needed <= capacity) return;
    const std::size_t grown = std::min(whole, std::max(needed, capacity > whole / 2 ? whole : 2 * capacity));
    const std::uint64_t others = held_ - capacity;
    if (grown > limits_.budget_bytes || others > limits_.budget_bytes - grown) {
      const std::string what = who() + ": holding " + std::to_string(grown) + " bytes for it besides the " +
                               std::to_string(others) +
                               " held for other partial messages exceeds the budget of " +
                               std::to_string(limits_.budget_bytes) + " bytes; the message is dropped";
      throw budget_exceeded("wire format: " + what);
    }
    fedpp::detail::aligned_buffer<std::byte> bigger(grown, fedpp::detail::uninitialized);
    if (capacity != 0) std::memcpy(bigger.data(), p.buffer.data(), capacity);
    p.buffer = std::move(bigger);
    held_ = others + grown;
  }

  template <class It, class Who>
  std::optional<message> accept(It it, const decoded_message& d, const Who& who) {
    auto& p = it->second;
    const auto& h = d.header();
    const bool last = h.chunk_index + 1 == h.chunk_count;
    const auto end = h.chunk_offset + h.payload_bytes;
    if (last && end != h.total_payload_bytes)
      detail::malformed(who() + ": the chunks cover " + std::to_string(end) + " of " +
                        std::to_string(h.total_payload_bytes) + " payload bytes");
    if (!last && end == h.total_payload_bytes)
      detail::malformed(who() + ": the payload is complete before the last chunk");
    // total ≤ max_total_payload_bytes was checked on chunk 0 and is equal in every chunk.
    const auto whole_bytes = p.payload_offset + static_cast<std::size_t>(h.total_payload_bytes);
    reserve(it, p.payload_offset + static_cast<std::size_t>(end), whole_bytes, who);
    // Store little-endian bytes as they were on the wire (decode may have converted them).
    detail::copy_little_endian(p.buffer.data() + p.payload_offset + h.chunk_offset, d.payload_bytes().data(),
                               d.payload_bytes().size() / size_of(h.type), size_of(h.type));
    p.next_index = h.chunk_index + 1;
    p.next_offset = end;
    if (!last) return std::nullopt;
    message_header whole = p.first;
    whole.chunk_index = 0;
    whole.chunk_count = 1;
    whole.chunk_offset = 0;
    whole.payload_bytes = whole.total_payload_bytes;
    std::byte* b = p.buffer.data();
    std::memset(b, 0, p.payload_offset);
    detail::write_header(b, whole, p.sections.size());
    if (!p.sections.empty()) std::memcpy(b + header_bytes, p.sections.data(), p.sections.size());
    detail::put_u32(b + 92, detail::message_checksum(p.buffer.span()));
    held_ -= p.buffer.size();
    message out(std::move(p.buffer));
    partial_.erase(it);
    return out;
  }

  reassembly_limits limits_{};
  std::map<key, partial> partial_;
  std::uint64_t held_ = 0;
};

} // namespace fedpp::wire
