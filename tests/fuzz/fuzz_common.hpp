// Shared helpers of the libFuzzer harnesses (tests/fuzz/*_fuzz.cpp): reporting a broken
// invariant, reading structured records out of the fuzz input, the documented-exception guard,
// and the fixed layouts the harnesses and the seed generator (make_corpus.cpp) agree on.
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/tensor/model_layout.hpp"
#include "fedpp/transport/wire_format.hpp"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <exception>
#include <span>
#include <string>
#include <typeinfo>
#include <vector>

namespace fuzz {

/// Reports a broken invariant on stderr and traps (libFuzzer saves the input as a crash).
[[noreturn]] inline void fail(const char* harness, const char* invariant, const std::string& detail = {}) {
  std::fprintf(stderr, "\n*** fedpp fuzz invariant broken [%s]: %s%s%s\n", harness, invariant,
               detail.empty() ? "" : ": ", detail.c_str());
  std::fflush(stderr);
  __builtin_trap();
}

/// True when FEDPP_FUZZ_VERBOSE is set: harnesses then print why inputs were refused (for
/// reproducing a finding by hand: `FEDPP_FUZZ_VERBOSE=1 ./harness file`).
inline bool verbose() {
  static const bool v = std::getenv("FEDPP_FUZZ_VERBOSE") != nullptr;
  return v;
}

/// True when the invariant `id` is waived: listed in FEDPP_FUZZ_WAIVE (comma-separated).
/// scripts/fuzz.sh waives the invariants of the open findings (tests/fuzz/findings/open.txt)
/// while it fuzzes, so a campaign goes on past a known bug; it replays the findings themselves
/// with nothing waived. Run by hand, nothing is waived.
inline bool waived(const char* id) {
  const char* list = std::getenv("FEDPP_FUZZ_WAIVE");
  if (list == nullptr) return false;
  const std::string all = std::string(",") + list + ",";
  return all.find(std::string(",") + id + ",") != std::string::npos;
}

/// Prints a refusal when verbose().
inline void note(const char* harness, const std::string& what) {
  if (verbose()) std::fprintf(stderr, "[%s] %s\n", harness, what.c_str());
}

/// An exception that is not in the documented set: names its type and message, then traps.
[[noreturn]] inline void undocumented(const char* harness, const char* call) {
  try {
    throw;
  } catch (const std::exception& e) {
    fail(harness, "undocumented exception escaped",
         std::string(call) + " threw " + typeid(e).name() + ": " + e.what());
  } catch (...) {
    fail(harness, "undocumented exception escaped", std::string(call) + " threw a non-std exception");
  }
}

/// Reads the fuzz input front to back; every read past the end yields zeros / what is left.
class reader {
public:
  reader(const std::uint8_t* data, std::size_t size) : p_(data), n_(size) {}
  [[nodiscard]] bool empty() const noexcept { return n_ == 0; }
  [[nodiscard]] std::size_t remaining() const noexcept { return n_; }
  std::uint8_t u8() {
    if (n_ == 0) return 0;
    --n_;
    return *p_++;
  }
  std::uint16_t u16() { return static_cast<std::uint16_t>(u8() | (u8() << 8)); }
  std::uint32_t u32() { return static_cast<std::uint32_t>(u16()) | (static_cast<std::uint32_t>(u16()) << 16); }
  std::uint64_t u64() { return static_cast<std::uint64_t>(u32()) | (static_cast<std::uint64_t>(u32()) << 32); }
  /// Up to n bytes (fewer at the end of the input).
  std::span<const std::byte> bytes(std::size_t n) {
    const std::size_t k = n < n_ ? n : n_;
    const auto* out = reinterpret_cast<const std::byte*>(p_);
    p_ += k;
    n_ -= k;
    return {out, k};
  }
  /// A record: u16 length, then that many bytes.
  std::span<const std::byte> record() { return bytes(u16()); }
  /// Everything left.
  std::span<const std::byte> rest() { return bytes(n_); }

private:
  const std::uint8_t* p_;
  std::size_t n_;
};

/// Appends a record (u16 length + bytes) to a seed being built; the counterpart of reader::record.
inline void put_record(std::vector<std::uint8_t>& out, std::span<const std::byte> bytes) {
  const std::size_t n = bytes.size() < 0xffff ? bytes.size() : 0xffff;
  out.push_back(static_cast<std::uint8_t>(n & 0xff));
  out.push_back(static_cast<std::uint8_t>(n >> 8));
  for (std::size_t i = 0; i < n; ++i) out.push_back(std::to_integer<std::uint8_t>(bytes[i]));
}

/// Rewrites a wire message's CRC-32C so that mutated header fields reach the checks behind it.
inline void fix_crc(std::vector<std::byte>& m) {
  if (m.size() < fedpp::wire::header_bytes) return;
  fedpp::wire::detail::put_u32(m.data() + 92, fedpp::wire::detail::message_checksum(m));
}

/// Bitwise equality of two spans of trivially copyable values (NaN == NaN, −0 != +0).
template <class T>
[[nodiscard]] bool same_bits(std::span<const T> a, std::span<const T> b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size_bytes()) == 0);
}

template <class T>
[[nodiscard]] bool all_finite(std::span<const T> v) {
  for (const T x : v)
    if (!std::isfinite(x)) return false;
  return true;
}

/// The model layouts of the wire, reassembler and server harnesses (their seeds use them).
inline fedpp::model_layout float_layout() {
  fedpp::model_layout l;
  l.add("fc.weight", {3, 4}).add("fc.bias", {4});
  return l;
}
inline fedpp::model_layout double_layout() {
  fedpp::model_layout l;
  l.add("w", {5}, fedpp::dtype::f64);
  return l;
}

} // namespace fuzz
