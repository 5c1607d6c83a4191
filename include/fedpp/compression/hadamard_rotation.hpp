/// \file hadamard_rotation.hpp
/// Randomized Hadamard rotation x ↦ (1/√P)·H·diag(s)·x with random signs s ∈ {±1}^P (Suresh et al.
/// 2017, "Distributed Mean Estimation with Limited Communication", §3): it spreads a vector's
/// energy over all coordinates, so the max−min range a quantizer sees shrinks from O(‖x‖) to
/// O(‖x‖·√(log P / P)). D is zero-padded to the next power of two P. Orthonormal, so the
/// inverse is diag(s)·(1/√P)·H.
#pragma once

#include "fedpp/compression/counter_hash.hpp"
#include "fedpp/error.hpp"

#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace fedpp::compression {

/// A seeded randomized Hadamard rotation of D-element vectors (padded to P = 2^⌈log2 D⌉).
class hadamard_rotation {
public:
  /// Rotation of `size` elements, signs drawn from `seed`.
  hadamard_rotation(std::size_t size, std::uint64_t seed)
      : size_(size), padded_(size <= 1 ? size : std::bit_ceil(size)), key_(counter_key::from_seed(seed)) {}

  /// D.
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  /// P, the padded length of the rotated vector.
  [[nodiscard]] std::size_t padded_size() const noexcept { return padded_; }

  /// out (P elements) = rotation of in (D elements).
  void forward(std::span<const float> in, std::span<float> out) const {
    check(in.size(), size_, "forward input");
    check(out.size(), padded_, "forward output");
    for (std::size_t i = 0; i < size_; ++i) out[i] = sign(i) ? -in[i] : in[i];
    for (std::size_t i = size_; i < padded_; ++i) out[i] = 0.0F;
    transform(out);
  }

  /// Bounds on how far the inverse rotation grows magnitudes: each of its log2 P butterfly
  /// stages at most doubles the largest magnitude, so its intermediate sums stay within
  /// P·max|in_i| (intermediate_growth), and the final 1/√P scaling brings the outputs within
  /// √P·max|in_i| (output_growth). Both include 1 + 2^-16 for the roundings of up to 44 float
  /// operations per element ((1 + 2^-24)^44 < 1 + 2^-16). Finite inputs can therefore overflow
  /// only when P·max|in_i| exceeds float's range: the uniform decoder checks that first.
  [[nodiscard]] static double intermediate_growth(std::size_t p) noexcept {
    return static_cast<double>(p) * (1.0 + 0x1p-16);
  }
  [[nodiscard]] static double output_growth(std::size_t p) noexcept {
    return std::sqrt(static_cast<double>(p)) * (1.0 + 0x1p-16);
  }

  /// out (D elements) = inverse rotation of in (P elements); `in` is used as workspace. The
  /// result is finite when max|in_i|·intermediate_growth(P) ≤ FLT_MAX.
  void inverse(std::span<float> in, std::span<float> out) const {
    check(in.size(), padded_, "inverse input");
    check(out.size(), size_, "inverse output");
    transform(in);
    for (std::size_t i = 0; i < size_; ++i) out[i] = sign(i) ? -in[i] : in[i];
  }

private:
  static void check(std::size_t got, std::size_t want, const char* what) {
    if (got != want)
      throw invalid_config(std::string("hadamard_rotation: ") + what + " has " + std::to_string(got) +
                           " elements, expected " + std::to_string(want));
  }
  [[nodiscard]] bool sign(std::size_t i) const noexcept { return (counter_hash(key_, i) & 1U) != 0; }

  /// In-place fast Walsh–Hadamard transform scaled by 1/√P (P log2 P additions).
  void transform(std::span<float> v) const {
    const std::size_t p = v.size();
    for (std::size_t h = 1; h < p; h *= 2)
      for (std::size_t i = 0; i < p; i += 2 * h)
        for (std::size_t j = i; j < i + h; ++j) {
          const float a = v[j], b = v[j + h];
          v[j] = a + b;
          v[j + h] = a - b;
        }
    if (p > 1) {
      const float s = static_cast<float>(1.0 / std::sqrt(static_cast<double>(p)));
      for (auto& x : v) x *= s;
    }
  }

  std::size_t size_;
  std::size_t padded_;
  counter_key key_;
};

} // namespace fedpp::compression
