/// \file state_io.hpp
/// Little-endian writing and bounds-checked reading of saved state: server checkpoints
/// (orchestration/checkpoint.hpp) and the state codecs of what they hold (private).
///
/// Saved state is input. `state_reader` never reads past its bytes, and `count` checks a length
/// field against the bytes present (overflow-safe) before the caller allocates anything it sizes;
/// every shortfall throws malformed_message naming the reader, the field and the offset.
#pragma once

#include "fedpp/error.hpp"

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace fedpp::detail {

/// Appends little-endian fields to a byte vector.
class state_writer {
public:
  explicit state_writer(std::vector<std::byte>& out) noexcept : out_(&out) {}

  void u8(std::uint8_t v) { out_->push_back(static_cast<std::byte>(v)); }
  void u32(std::uint32_t v) { put(v, 4); }
  void u64(std::uint64_t v) { put(v, 8); }
  void f64(double v) { u64(std::bit_cast<std::uint64_t>(v)); }
  /// Raw bytes, as they are. (resize + memcpy rather than insert: GCC 12 at -O2 reports a false
  /// -Wstringop-overflow for a range insert into an empty vector.)
  void bytes(std::span<const std::byte> b) {
    const std::size_t at = out_->size();
    out_->resize(at + b.size());
    if (!b.empty()) std::memcpy(out_->data() + at, b.data(), b.size());
  }
  /// `n` zero bytes (reserved fields).
  void zeros(std::size_t n) { out_->insert(out_->end(), n, std::byte{0}); }
  /// Arithmetic values, each little-endian (a memcpy on little-endian hosts).
  template <class V>
  requires std::is_arithmetic_v<V>
  void values(std::span<const V> v) {
    const std::size_t at = out_->size();
    out_->resize(at + v.size() * sizeof(V));
    if (v.empty()) return;
    std::byte* p = out_->data() + at;
    if constexpr (std::endian::native == std::endian::little || sizeof(V) == 1) {
      std::memcpy(p, v.data(), v.size() * sizeof(V));
    } else {
      for (const V& x : v) {
        const auto bits = std::bit_cast<std::array<std::byte, sizeof(V)>>(x);
        for (std::size_t i = 0; i < sizeof(V); ++i) *p++ = bits[sizeof(V) - 1 - i];
      }
    }
  }
  /// Bytes written so far (the whole vector).
  [[nodiscard]] std::size_t size() const noexcept { return out_->size(); }

private:
  void put(std::uint64_t v, int n) {
    for (int i = 0; i < n; ++i) out_->push_back(static_cast<std::byte>((v >> (8 * i)) & 0xffU));
  }
  std::vector<std::byte>* out_;
};

/// Reads little-endian fields from saved bytes, never past their end.
class state_reader {
public:
  /// `who` prefixes every message ("fedadam::restore", "checkpoint 'run.ckpt'", ...).
  state_reader(std::string who, std::span<const std::byte> bytes) : who_(std::move(who)), bytes_(bytes) {}

  std::uint8_t u8(const char* what) { return std::to_integer<std::uint8_t>(take(1, what)[0]); }
  std::uint32_t u32(const char* what) { return static_cast<std::uint32_t>(get(take(4, what), 4)); }
  std::uint64_t u64(const char* what) { return get(take(8, what), 8); }
  double f64(const char* what) { return std::bit_cast<double>(u64(what)); }

  /// The next `n` bytes (a view into the input).
  std::span<const std::byte> bytes(std::uint64_t n, const char* what) {
    if (n > remaining())
      fail(std::string(what) + ": " + std::to_string(n) + " bytes declared at offset " + std::to_string(at_) +
           ", " + std::to_string(remaining()) + " left");
    return take(static_cast<std::size_t>(n), what);
  }

  /// A count of elements of `element_bytes` each, checked against the bytes left before the
  /// caller allocates for it (n · element_bytes ≤ remaining, without overflow).
  std::size_t count(std::uint64_t n, std::size_t element_bytes, const char* what) const {
    if (element_bytes != 0 && n > remaining() / element_bytes)
      fail(std::string(what) + ": " + std::to_string(n) + " elements of " + std::to_string(element_bytes) +
           " bytes declared at offset " + std::to_string(at_) + ", only " + std::to_string(remaining()) +
           " bytes left");
    return static_cast<std::size_t>(n);
  }

  /// Fills `out` with little-endian values (out exists, so its byte size does not overflow).
  template <class V>
  requires std::is_arithmetic_v<V>
  void values(std::span<V> out, const char* what) {
    const std::span<const std::byte> src = take(out.size() * sizeof(V), what);
    if (out.empty()) return;
    if constexpr (std::endian::native == std::endian::little || sizeof(V) == 1) {
      std::memcpy(out.data(), src.data(), src.size());
    } else {
      for (std::size_t k = 0; k < out.size(); ++k) {
        std::array<std::byte, sizeof(V)> bits{};
        for (std::size_t i = 0; i < sizeof(V); ++i) bits[i] = src[k * sizeof(V) + sizeof(V) - 1 - i];
        out[k] = std::bit_cast<V>(bits);
      }
    }
  }

  /// Refuses bytes after the last field.
  void expect_end(const char* what) const {
    if (remaining() != 0)
      fail(std::string(what) + ": " + std::to_string(remaining()) + " unexpected bytes at offset " +
           std::to_string(at_));
  }

  /// Refuses a reserved field that is not zero.
  void expect_zero(std::uint64_t v, const char* what) const {
    if (v != 0) fail(std::string(what) + " is " + std::to_string(v) + ", expected 0 (reserved)");
  }

  [[nodiscard]] std::size_t remaining() const noexcept { return bytes_.size() - at_; }
  [[nodiscard]] std::size_t offset() const noexcept { return at_; }
  [[nodiscard]] const std::string& who() const noexcept { return who_; }

  /// Throws malformed_message("<who>: <message>").
  [[noreturn]] void fail(const std::string& message) const { throw malformed_message(who_ + ": " + message); }

private:
  std::span<const std::byte> take(std::size_t n, const char* what) {
    if (n > remaining())
      fail(std::string(what) + ": needs " + std::to_string(n) + " bytes at offset " + std::to_string(at_) +
           ", " + std::to_string(remaining()) + " left (truncated)");
    const auto out = bytes_.subspan(at_, n);
    at_ += n;
    return out;
  }
  static std::uint64_t get(std::span<const std::byte> p, int n) noexcept {
    std::uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i)
      v = (v << 8) | std::to_integer<std::uint64_t>(p[static_cast<std::size_t>(i)]);
    return v;
  }

  std::string who_;
  std::span<const std::byte> bytes_;
  std::size_t at_ = 0;
};

} // namespace fedpp::detail
