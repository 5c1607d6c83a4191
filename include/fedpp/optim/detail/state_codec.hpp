/// \file state_codec.hpp
/// Byte layout shared by the stateful server optimizers' save/restore (private).
///
/// [magic "FPSO" 4][version u8 = 1][kind u8][state element bytes u8 (4 | 8)][flags u8]
/// [D u64][steps u64][η f64][β1 f64][β2 f64][τ f64][buffers: n × D × state element]
/// Little-endian host order (fedpp targets little-endian machines, as the wire format checks).
///
/// The flags byte (reserved, always 0, before the conventions existed) holds an optimizer's
/// conventions: FedOpt writes bit 0 = v starts at 0 (not τ²) and bits 1–2 = its bias correction
/// (optim/fedopt.hpp); FedAvgM has none and requires 0. States written before keep their meaning:
/// flags 0 are fedpp's default conventions.
///
/// Saved states are input: the reader checks every field against the bytes present before the
/// caller allocates anything (D × n × width must equal the bytes after the header, computed
/// without overflow), refuses non-finite values, and refuses anything that would not re-encode
/// to the same bytes — a hyper-parameter slot the optimizer does not use must hold +0.0 exactly,
/// flag bits it does not define must be 0 — so accepted bytes are canonical: restore then save
/// gives them back bit for bit.
#pragma once

#include "fedpp/error.hpp"

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <span>
#include <string>
#include <vector>

namespace fedpp::detail {

/// Which optimizer wrote the bytes.
enum class optimizer_kind : std::uint8_t { momentum = 1, adam = 2, yogi = 3, adagrad = 4 };

/// Header of a saved optimizer state.
struct optimizer_header {
  optimizer_kind kind{};
  std::uint8_t state_bytes = 0;
  std::uint64_t size = 0;
  std::uint64_t steps = 0;
  std::array<double, 4> params{}; ///< η, β1, β2, τ (unused ones 0)
  std::uint8_t flags = 0;         ///< the optimizer's conventions (0 for FedAvgM)
};

/// What a reader accepts besides the layout: which hyper-parameter slots the optimizer does not
/// use (bit i set: slot i must hold +0.0 exactly) and which flag bits it defines.
struct optimizer_header_rules {
  std::uint8_t unused_slots = 0;  ///< bit i: slot i (η, β1, β2, τ) is unused and must be +0.0
  std::uint8_t allowed_flags = 0; ///< flag bits the optimizer defines; any other set bit is refused
};

inline constexpr std::array<char, 4> optimizer_magic{'F', 'P', 'S', 'O'};
inline constexpr std::size_t optimizer_header_bytes = 4 + 4 + 8 + 8 + 4 * 8;

/// Shortest readable form of a hyper-parameter for error messages (%g keeps 1e-09 visible).
inline std::string format_param(double v) {
  std::array<char, 32> buf{};
  std::snprintf(buf.data(), buf.size(), "%g", v);
  return buf.data();
}

/// 16 hex digits of a bit pattern (tells -0 from +0 in messages).
inline std::string hex64(std::uint64_t v) {
  std::array<char, 17> buf{};
  std::snprintf(buf.data(), buf.size(), "%016llx", static_cast<unsigned long long>(v));
  return buf.data();
}

/// Appends the header and the state buffers (widened or narrowed to nothing: stored as S).
template <class S>
void write_optimizer_state(std::vector<std::byte>& out, const optimizer_header& h,
                           std::span<const std::span<const S>> buffers) {
  const std::size_t start = out.size();
  out.resize(start + optimizer_header_bytes + buffers.size() * h.size * sizeof(S));
  std::byte* p = out.data() + start;
  auto put = [&p](const void* src, std::size_t n) {
    std::memcpy(p, src, n);
    p += n;
  };
  put(optimizer_magic.data(), 4);
  const std::array<std::uint8_t, 4> small{1, static_cast<std::uint8_t>(h.kind), h.state_bytes, h.flags};
  put(small.data(), 4);
  put(&h.size, 8);
  put(&h.steps, 8);
  put(h.params.data(), 32);
  for (const auto& b : buffers)
    if (!b.empty()) put(b.data(), b.size() * sizeof(S)); // D = 0: no memcpy from a null pointer
}

/// Parses and checks the header: magic, version, kind, element width, total length for
/// `num_buffers` buffers, finite hyper-parameters, the unused slots of `rules` holding +0.0
/// exactly (what the writer puts there) and no flag bit outside `rules.allowed_flags`. Throws
/// malformed_message naming the offending field; allocates nothing.
inline optimizer_header read_optimizer_header(const char* who, std::span<const std::byte> bytes,
                                              optimizer_kind expected_kind, std::size_t expected_state_bytes,
                                              std::size_t num_buffers, optimizer_header_rules rules) {
  const std::string w(who);
  if (bytes.size() < optimizer_header_bytes)
    throw malformed_message(w + ": " + std::to_string(bytes.size()) + " bytes, shorter than the " +
                            std::to_string(optimizer_header_bytes) + "-byte header");
  if (std::memcmp(bytes.data(), optimizer_magic.data(), 4) != 0)
    throw malformed_message(w + ": bad magic (not a saved server optimizer)");
  std::array<std::uint8_t, 4> small{};
  std::memcpy(small.data(), bytes.data() + 4, 4);
  if (small[0] != 1) throw malformed_message(w + ": unsupported version " + std::to_string(small[0]));
  if (small[1] != static_cast<std::uint8_t>(expected_kind))
    throw malformed_message(w + ": saved by optimizer kind " + std::to_string(small[1]) + ", expected " +
                            std::to_string(static_cast<int>(expected_kind)));
  if (small[2] != expected_state_bytes)
    throw malformed_message(w + ": state elements of " + std::to_string(small[2]) + " bytes, expected " +
                            std::to_string(expected_state_bytes));
  if ((small[3] & ~rules.allowed_flags) != 0) {
    if (rules.allowed_flags == 0)
      throw malformed_message(w + ": reserved byte is " + std::to_string(small[3]));
    throw malformed_message(w + ": flags byte is " + std::to_string(small[3]) + ", bits outside " +
                            std::to_string(rules.allowed_flags) + " are not defined");
  }
  optimizer_header h;
  h.kind = expected_kind;
  h.state_bytes = small[2];
  h.flags = small[3];
  std::memcpy(&h.size, bytes.data() + 8, 8);
  std::memcpy(&h.steps, bytes.data() + 16, 8);
  std::memcpy(h.params.data(), bytes.data() + 24, 32);
  // Overflow-safe length check: size × buffers × width + header == total.
  const std::size_t payload = bytes.size() - optimizer_header_bytes;
  const std::size_t per_element = num_buffers * expected_state_bytes;
  if (per_element != 0 && (payload % per_element != 0 || payload / per_element != h.size))
    throw malformed_message(w + ": " + std::to_string(bytes.size()) + " bytes do not hold " +
                            std::to_string(num_buffers) + " state buffers of " + std::to_string(h.size) +
                            " elements");
  for (std::size_t i = 0; i < h.params.size(); ++i) {
    if (!std::isfinite(h.params[i]))
      throw malformed_message(w + ": hyper-parameter slot " + std::to_string(i) + " is " +
                              format_param(h.params[i]) + ", not finite");
    std::uint64_t bits = 0;
    std::memcpy(&bits, &h.params[i], 8);
    if (((rules.unused_slots >> i) & 1U) != 0 && bits != 0)
      throw malformed_message(w + ": unused hyper-parameter slot " + std::to_string(i) + " holds " +
                              format_param(h.params[i]) + " (bits 0x" + hex64(bits) + "), expected +0");
  }
  return h;
}

/// read_optimizer_header for an optimizer that uses the first `used_params` slots, no flags.
inline optimizer_header read_optimizer_header(const char* who, std::span<const std::byte> bytes,
                                              optimizer_kind expected_kind, std::size_t expected_state_bytes,
                                              std::size_t num_buffers, std::size_t used_params = 4) {
  std::uint8_t unused = 0;
  for (std::size_t i = used_params; i < 4; ++i) unused = static_cast<std::uint8_t>(unused | (1U << i));
  return read_optimizer_header(who, bytes, expected_kind, expected_state_bytes, num_buffers,
                               optimizer_header_rules{unused, 0});
}

/// Copies buffer `index` of the payload into `out`; throws malformed_message for a non-finite
/// value, or (with `non_negative`) a negative one.
template <class S>
void read_optimizer_buffer(const char* who, std::span<const std::byte> bytes, std::size_t index,
                           std::span<S> out, bool non_negative) {
  if (out.empty()) return; // D = 0: nothing to copy (and no null pointer to memcpy)
  const std::byte* src = bytes.data() + optimizer_header_bytes + index * out.size() * sizeof(S);
  std::memcpy(out.data(), src, out.size() * sizeof(S));
  for (std::size_t i = 0; i < out.size(); ++i)
    if (!std::isfinite(out[i]) || (non_negative && out[i] < 0))
      throw malformed_message(std::string(who) + ": state buffer " + std::to_string(index) + " element " +
                              std::to_string(i) + " is " + std::to_string(out[i]));
}

/// Throws invalid_config unless β ∈ [0, 1).
inline void check_beta(const char* who, const char* name, double beta) {
  if (!(beta >= 0 && beta < 1))
    throw invalid_config(std::string(who) + ": " + name + " must be in [0, 1), got " + format_param(beta));
}

/// Throws invalid_config unless v is finite and > 0.
inline void check_positive(const char* who, const char* name, double v) {
  if (!(v > 0) || !std::isfinite(v))
    throw invalid_config(std::string(who) + ": " + name + " must be finite and > 0, got " + format_param(v));
}

/// Throws invalid_config unless the step's spans match the optimizer's size.
inline void check_step_sizes(const char* who, std::size_t size, std::size_t global, std::size_t delta) {
  if (global != size || delta != size)
    throw invalid_config(std::string(who) + "::step: the optimizer has " + std::to_string(size) +
                         " elements, the model " + std::to_string(global) + ", the delta " +
                         std::to_string(delta));
}

} // namespace fedpp::detail
