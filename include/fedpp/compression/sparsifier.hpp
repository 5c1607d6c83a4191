/// \file sparsifier.hpp
/// Sparsification: keep k of D coordinates and send (index, value) pairs.
/// - top-k by magnitude (Aji & Heafield 2017; Stich et al. 2018, "Sparsified SGD with Memory"):
///   biased, meant to be wrapped in error_feedback; ‖x − C(x)‖² ≤ (1 − k/D)·‖x‖².
/// - random-k with unbiased scaling: k coordinates uniformly without replacement, each value
///   multiplied by D/k, so E[C(x)] = x (Wangni et al. 2018; Stich et al. 2018).
/// - threshold: every |x_i| ≥ τ (Strom 2015); k varies.
///
/// Indices travel as delta varints (first index, then gaps ≥ 1, LEB128) or as a D-bit mask,
/// whichever is smaller for this payload. Body after the common header (param = 0 varints /
/// 1 bitmask): u64 k, [varints: u64 byte count, the varints | bitmask: ⌈D/8⌉ bytes], k × f32.
#pragma once

#include "fedpp/compression/counter_hash.hpp"
#include "fedpp/compression/detail/finite_bounds.hpp"
#include "fedpp/compression/detail/kernels.hpp"
#include "fedpp/compression/detail/payload_io.hpp"
#include "fedpp/compression/payload_header.hpp"
#include "fedpp/compression/top_k.hpp"
#include "fedpp/error.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace fedpp::compression {

/// Which coordinates a sparsifier keeps.
enum class sparsify_mode : std::uint8_t { top_k, random_k, threshold };

/// How the indices of a sparse payload are encoded.
enum class index_encoding : std::uint8_t { delta_varint = 0, bitmask = 1 };

/// Sparsifying compressor (see the file comment). Build with the named factories.
class sparsifier {
public:
  /// Exact top-k by magnitude with k = ⌈fraction·D⌉ (at least 1 when D > 0).
  [[nodiscard]] static sparsifier top_fraction(double fraction) {
    return {sparsify_mode::top_k, check(fraction), 0, 0};
  }
  /// Exact top-k by magnitude with a fixed k (clamped to D).
  [[nodiscard]] static sparsifier top_k(std::size_t k) { return {sparsify_mode::top_k, 0, k, 0}; }
  /// Random-k (unbiased) with k = ⌈fraction·D⌉.
  [[nodiscard]] static sparsifier random_fraction(double fraction) {
    return {sparsify_mode::random_k, check(fraction), 0, 0};
  }
  /// Every coordinate with |x_i| ≥ tau (tau > 0).
  [[nodiscard]] static sparsifier threshold(float tau) {
    if (!(tau > 0) || !std::isfinite(tau))
      throw invalid_config("sparsifier: threshold " + std::to_string(tau) + " must be finite and > 0");
    return {sparsify_mode::threshold, 0, 0, tau};
  }

  [[nodiscard]] sparsify_mode mode() const noexcept { return mode_; }
  [[nodiscard]] static constexpr payload_scheme scheme() noexcept { return payload_scheme::sparse; }

  /// k for a vector of D elements (top-k and random-k).
  [[nodiscard]] std::size_t k_for(std::size_t d) const noexcept {
    if (d == 0) return 0;
    const std::size_t k =
        count_ != 0 ? count_ : static_cast<std::size_t>(std::ceil(fraction_ * static_cast<double>(d)));
    return std::clamp<std::size_t>(k, 1, d);
  }

  /// Appends the payload of `x`; `seed` draws random-k's coordinates. Throws invalid_config for
  /// NaN/Inf inputs or D ≥ 2^32.
  void compress(std::span<const float> x, std::uint64_t seed, std::vector<std::byte>& out) const {
    std::vector<std::uint32_t> idx;
    select(x, seed, idx);
    const float scale =
        mode_ == sparsify_mode::random_k && !idx.empty()
            ? static_cast<float>(static_cast<double>(x.size()) / static_cast<double>(idx.size()))
            : 1.0F;
    encode(x, idx, scale, out);
  }

  /// The kept indices (ascending) for `x`.
  void select(std::span<const float> x, std::uint64_t seed, std::vector<std::uint32_t>& idx) const {
    const std::size_t d = x.size();
    if (d >= (std::size_t{1} << 32))
      throw invalid_config("sparsifier: " + std::to_string(d) + " elements exceed the 2^32 index range");
    if (!detail::all_finite(x.data(), d)) throw invalid_config("sparsifier: the input holds NaN or Inf");
    idx.clear();
    switch (mode_) {
    case sparsify_mode::top_k:
      top_k_indices(x, k_for(d), idx);
      break;
    case sparsify_mode::random_k: { // selection sampling (Knuth, TAOCP vol. 2, Algorithm 3.4.2 S)
      const counter_key key = counter_key::from_seed(seed);
      std::size_t need = k_for(d);
      idx.reserve(need);
      for (std::size_t i = 0; i < d && need > 0; ++i) {
        const double u = (static_cast<double>(counter_hash(key, i)) + 0.5) * 0x1.0p-32;
        if (u * static_cast<double>(d - i) < static_cast<double>(need)) {
          idx.push_back(static_cast<std::uint32_t>(i));
          --need;
        }
      }
      break;
    }
    case sparsify_mode::threshold: {
      const std::uint32_t t = detail::abs_bits(tau_);
      detail::filter_at_least(x.data(), d, t, idx);
      break;
    }
    }
  }

  /// Appends a sparse payload of x at ascending `idx`, values multiplied by `scale`. Throws
  /// invalid_config (out unchanged) when a value times `scale` is not finite or too close to
  /// float's largest value to decode (random-k's D/k can push a large value over it).
  static void encode(std::span<const float> x, std::span<const std::uint32_t> idx, float scale,
                     std::vector<std::byte>& out) {
    const std::size_t d = x.size();
    for (std::size_t j = 0; j < idx.size(); ++j) {
      const float v = x[idx[j]] * scale;
      if (!(std::fabs(static_cast<double>(v)) * detail::rounding_slack <= detail::float_max))
        throw invalid_config("sparsifier: element " + std::to_string(idx[j]) + " = " +
                             detail::show(x[idx[j]]) + " times the scale " + detail::show(scale) + " is " +
                             detail::show(v) + ", beyond what a payload can carry (float's largest value " +
                             detail::show(detail::float_max) + ")");
    }
    std::size_t varint_bytes = 0;
    for (std::size_t j = 0; j < idx.size(); ++j)
      varint_bytes += detail::varint_size(j == 0 ? idx[0] : idx[j] - idx[j - 1]);
    const std::size_t mask_bytes = (d + 7) / 8;
    const bool use_mask = mask_bytes < varint_bytes + 8;
    detail::byte_writer w(out);
    payload_header{
        payload_scheme::sparse,
        static_cast<std::uint8_t>(use_mask ? index_encoding::bitmask : index_encoding::delta_varint), 0, 0, d}
        .write(w);
    w.u64(idx.size());
    if (use_mask) {
      auto* m = reinterpret_cast<std::uint8_t*>(w.grow(mask_bytes));
      for (std::uint32_t i : idx) m[i / 8] = static_cast<std::uint8_t>(m[i / 8] | (1U << (i % 8)));
    } else {
      w.u64(varint_bytes);
      for (std::size_t j = 0; j < idx.size(); ++j) w.varint(j == 0 ? idx[0] : idx[j] - idx[j - 1]);
    }
    auto* v = w.grow(4 * idx.size());
    for (std::size_t j = 0; j < idx.size(); ++j) {
      const auto bits = std::bit_cast<std::uint32_t>(x[idx[j]] * scale);
      for (int b = 0; b < 4; ++b) v[4 * j + b] = static_cast<std::byte>((bits >> (8 * b)) & 0xffU);
    }
  }

private:
  sparsifier(sparsify_mode m, double fraction, std::size_t count, float tau)
      : mode_(m), fraction_(fraction), count_(count), tau_(tau) {}
  static double check(double fraction) {
    if (!(fraction > 0 && fraction <= 1))
      throw invalid_config("sparsifier: fraction " + std::to_string(fraction) + " is not in (0, 1]");
    return fraction;
  }

  sparsify_mode mode_;
  double fraction_;
  std::size_t count_;
  float tau_;
};

namespace detail {

/// Reads and validates the indices and values of a sparse payload (all of it, before any use) for
/// a target of `target` elements: k against D and the bytes present, then the target, before
/// anything is allocated (so at most k ≤ D indices and values are). Returns max |value|.
inline double sparse_read(const payload_header& h, byte_reader& r, std::size_t target,
                          std::vector<std::uint32_t>& idx, std::vector<float>& values) {
  if (h.param > 1) malformed("sparse: index encoding " + std::to_string(h.param) + " is not 0 or 1");
  if (h.flags != 0 || h.chunk != 0) malformed("sparse: nonzero flags or chunk");
  const std::uint64_t d = h.size;
  if (d >= (std::uint64_t{1} << 32)) malformed("sparse: " + std::to_string(d) + " elements exceed 2^32");
  const std::uint64_t k = r.u64("k");
  if (k > d) malformed("sparse: k = " + std::to_string(k) + " exceeds D = " + std::to_string(d));
  if (k > r.remaining() / 4) // k < 2^32, so 4·k cannot overflow in the messages either
    malformed("sparse: k = " + std::to_string(k) + " values need " + std::to_string(4 * k) + " bytes, only " +
              std::to_string(r.remaining()) + " left");
  check_target(h, target, "decode_accumulate");
  idx.clear();
  idx.reserve(k);
  if (h.param == static_cast<std::uint8_t>(index_encoding::bitmask)) {
    const auto mask = r.bytes((d + 7) / 8, "bitmask");
    for (std::size_t byte = 0; byte < mask.size(); ++byte) {
      auto m = std::to_integer<unsigned>(mask[byte]);
      while (m != 0) {
        const auto i = byte * 8 + static_cast<std::size_t>(std::countr_zero(m));
        if (i >= d)
          malformed("sparse: bitmask sets bit " + std::to_string(i) + " beyond D = " + std::to_string(d));
        if (idx.size() == k) malformed("sparse: bitmask sets more than k = " + std::to_string(k) + " bits");
        idx.push_back(static_cast<std::uint32_t>(i));
        m &= m - 1;
      }
    }
  } else {
    const std::uint64_t n = r.u64("varint byte count");
    if (n > r.remaining())
      malformed("sparse: " + std::to_string(n) + " varint bytes claimed, " + std::to_string(r.remaining()) +
                " left");
    byte_reader v(r.bytes(n, "varints"));
    std::uint64_t at = 0;
    for (std::uint64_t j = 0; j < k; ++j) {
      const std::uint64_t gap = v.varint("index gap");
      if (j > 0 && gap == 0)
        malformed("sparse: index " + std::to_string(j) + " repeats index " + std::to_string(at) +
                  " (indices must increase)");
      // gap < d first, so at + gap (both < 2^32) cannot overflow
      if (gap >= d || (j > 0 ? at + gap : gap) >= d)
        malformed("sparse: index " + std::to_string(j) + " = " +
                  (gap >= d ? "previous + " + std::to_string(gap) : std::to_string(j > 0 ? at + gap : gap)) +
                  " is out of range for D = " + std::to_string(d));
      at = j > 0 ? at + gap : gap;
      idx.push_back(static_cast<std::uint32_t>(at));
    }
    v.expect_end();
  }
  if (idx.size() != k)
    malformed("sparse: " + std::to_string(idx.size()) + " indices found, k = " + std::to_string(k));
  if (r.remaining() != 4 * k)
    malformed("sparse: " + std::to_string(k) + " values need " + std::to_string(4 * k) + " bytes, " +
              std::to_string(r.remaining()) + " left");
  values.resize(k);
  double largest = 0;
  for (std::size_t j = 0; j < k; ++j) {
    values[j] = r.f32("value");
    if (!std::isfinite(values[j]))
      malformed("sparse: value " + std::to_string(j) + " (index " + std::to_string(idx[j]) + ") is " +
                show(values[j]));
    largest = std::max(largest, std::fabs(static_cast<double>(values[j])));
  }
  return largest;
}

/// Validates a sparse payload and adds weight × its decoded vector to acc (acc unchanged on error).
inline void sparse_decode_accumulate(const payload_header& h, byte_reader& r, float weight,
                                     std::span<float> acc) {
  std::vector<std::uint32_t> idx;
  std::vector<float> values;
  const double largest = sparse_read(h, r, acc.size(), idx, values);
  // Every increment is fl(weight·value) (or one fused multiply-add): one rounding.
  require_headroom("sparse", weight, largest * rounding_slack, acc);
  for (std::size_t j = 0; j < idx.size(); ++j) acc[idx[j]] += weight * values[j];
}

} // namespace detail
} // namespace fedpp::compression
