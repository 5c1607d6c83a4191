/// \file fixed_point_encoder.hpp
/// Fixed-point encoding of float updates into integers modulo 2^b (b ≤ 32) for secure
/// aggregation, with the overflow analysis done here: a configuration whose sum over K clients
/// could wrap around the modulus is refused, naming the bound to change.
///
/// Encoding (Bonawitz et al., CCS 2017, §3; Kairouz et al., "The distributed discrete Gaussian",
/// ICML 2021, §4 for the modular-clipping view): each coordinate is clipped to [−c, c], scaled by
/// s and rounded, q = round(s·clamp(x, −c, c)), and stored as q mod 2^b. With Q = round(c·s) the
/// sum of K encodings lies in [−K·Q, K·Q]; it is recovered exactly from the sum mod 2^b (read as a
/// centred residue in [−2^(b−1), 2^(b−1))) iff K·Q ≤ 2^(b−1) − 1. Weighted means mask the vector
/// [w, w·x] with integer weights w ≤ W: the first slot needs K·W ≤ 2^(b−1) − 1 and the others
/// K·W·Q ≤ 2^(b−1) − 1, and the mean is Σ w·x / Σ w. Integer (quantized) updates with |v| ≤ B
/// need K·B ≤ 2^(b−1) − 1.
#pragma once

#include "fedpp/error.hpp"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace fedpp::secagg {

/// What the encoder must guarantee not to overflow.
struct encoding_config {
  unsigned modulus_bits = 32;        ///< b: arithmetic is modulo 2^b, 2 ≤ b ≤ 32
  double clip_bound = 1.0;           ///< c: every coordinate is clipped to [−c, c]
  double scale = 1 << 16;            ///< s: fixed-point scale (q = round(s·x))
  std::uint64_t num_clients = 1;     ///< K: most clients whose encodings are summed
  std::uint64_t max_weight = 1;      ///< W: largest integer weight of encode_weighted
  std::uint64_t max_abs_integer = 0; ///< B: largest |v| of encode_integers (0: integers unused)
};

/// Encodes float (or integer) vectors into residues mod 2^b and decodes their sum.
class fixed_point_encoder {
public:
  /// Validates the configuration: throws invalid_config naming the bound to change when the sum
  /// of num_clients encodings could overflow.
  explicit fixed_point_encoder(const encoding_config& config) : config_(config) {
    const auto& c = config_;
    if (c.modulus_bits < 2 || c.modulus_bits > 32)
      throw invalid_config("fixed_point_encoder: modulus_bits = " + std::to_string(c.modulus_bits) +
                           " is outside [2, 32]");
    if (!(c.clip_bound > 0) || !std::isfinite(c.clip_bound))
      throw invalid_config("fixed_point_encoder: clip_bound = " + std::to_string(c.clip_bound) +
                           " must be positive and finite");
    if (!(c.scale > 0) || !std::isfinite(c.scale))
      throw invalid_config("fixed_point_encoder: scale = " + std::to_string(c.scale) +
                           " must be positive and finite");
    if (c.num_clients == 0) throw invalid_config("fixed_point_encoder: num_clients must be at least 1");
    if (c.max_weight == 0) throw invalid_config("fixed_point_encoder: max_weight must be at least 1");
    const long double limit = max_abs_sum();
    const long double q = std::round(static_cast<long double>(c.clip_bound) * c.scale);
    const long double k = static_cast<long double>(c.num_clients);
    const long double w = static_cast<long double>(c.max_weight);
    const std::string where = " (modulus 2^" + std::to_string(c.modulus_bits) +
                              ", num_clients K = " + std::to_string(c.num_clients) + ")";
    if (k * w * q > limit)
      throw invalid_config("fixed_point_encoder: the sum can overflow: K·W·round(clip_bound·scale) = " +
                           std::to_string(c.num_clients) + "·" + std::to_string(c.max_weight) + "·" +
                           std::to_string(static_cast<double>(q)) +
                           " exceeds 2^(b−1)−1 = " + std::to_string(static_cast<double>(limit)) + where +
                           "; lower clip_bound (at most " +
                           std::to_string(static_cast<double>(limit / (k * w) / c.scale)) +
                           " at this scale), scale, max_weight or " + "num_clients, or raise modulus_bits");
    if (k * w > limit)
      throw invalid_config(
          "fixed_point_encoder: the weight sum can overflow: K·W = " + std::to_string(c.num_clients) + "·" +
          std::to_string(c.max_weight) + " exceeds 2^(b−1)−1" + where +
          "; lower max_weight or num_clients, or raise modulus_bits");
    if (k * static_cast<long double>(c.max_abs_integer) > limit)
      throw invalid_config("fixed_point_encoder: the integer sum can overflow: K·max_abs_integer = " +
                           std::to_string(c.num_clients) + "·" + std::to_string(c.max_abs_integer) +
                           " exceeds 2^(b−1)−1" + where +
                           "; lower max_abs_integer or num_clients, or raise modulus_bits");
  }

  /// The configuration.
  [[nodiscard]] const encoding_config& config() const noexcept { return config_; }
  /// 2^b − 1: residues are masked with it.
  [[nodiscard]] std::uint32_t modulus_mask() const noexcept {
    return config_.modulus_bits == 32 ? 0xffffffffU : (std::uint32_t{1} << config_.modulus_bits) - 1U;
  }
  /// 2^(b−1) − 1: the largest |sum| the decoding recovers.
  [[nodiscard]] long double max_abs_sum() const noexcept {
    return std::ldexp(1.0L, static_cast<int>(config_.modulus_bits) - 1) - 1.0L;
  }

  /// q_i = round(s·clamp(x_i, −c, c)) mod 2^b. Returns the number of clipped coordinates.
  /// Throws rejected_update(client 0, non_finite) on NaN/Inf, writing nothing.
  std::size_t encode(std::span<const float> x, std::span<std::uint32_t> out) const {
    return encode_scaled(x, 1, out);
  }

  /// [w, w·q_1, …, w·q_D] into `out` of size D + 1 (weighted means, Σ w·x / Σ w).
  std::size_t encode_weighted(std::span<const float> x, std::uint64_t weight,
                              std::span<std::uint32_t> out) const {
    if (weight == 0 || weight > config_.max_weight)
      throw invalid_config("fixed_point_encoder::encode_weighted: weight " + std::to_string(weight) +
                           " is outside [1, max_weight = " + std::to_string(config_.max_weight) + "]");
    if (out.size() != x.size() + 1)
      throw invalid_config("fixed_point_encoder::encode_weighted: output has " + std::to_string(out.size()) +
                           " slots, needs D + 1 = " + std::to_string(x.size() + 1));
    const auto clipped = encode_scaled(x, static_cast<std::int64_t>(weight), out.subspan(1));
    out[0] = static_cast<std::uint32_t>(weight) & modulus_mask();
    return clipped;
  }

  /// Integer (quantized) updates: v_i mod 2^b, refusing |v_i| > max_abs_integer.
  void encode_integers(std::span<const std::int32_t> v, std::span<std::uint32_t> out) const {
    check_size(v.size(), out.size(), "encode_integers");
    for (std::size_t i = 0; i < v.size(); ++i)
      if (static_cast<std::uint64_t>(std::abs(static_cast<std::int64_t>(v[i]))) > config_.max_abs_integer)
        throw rejected_update(0, rejection_reason::other,
                              "fixed_point_encoder::encode_integers: |v[" + std::to_string(i) +
                                  "]| = " + std::to_string(std::abs(static_cast<std::int64_t>(v[i]))) +
                                  " exceeds max_abs_integer = " + std::to_string(config_.max_abs_integer));
    for (std::size_t i = 0; i < v.size(); ++i) out[i] = static_cast<std::uint32_t>(v[i]) & modulus_mask();
  }

  /// The centred residue of a sum: the integer in [−2^(b−1), 2^(b−1)) congruent to `r` mod 2^b.
  [[nodiscard]] std::int64_t centred(std::uint32_t r) const noexcept {
    const auto m = static_cast<std::int64_t>(modulus_mask()) + 1;
    const auto v = static_cast<std::int64_t>(r & modulus_mask());
    return v >= m / 2 ? v - m : v;
  }

  /// Decodes a sum of encode() outputs into floats: centred(sum_i) / s.
  void decode_sum(std::span<const std::uint32_t> sum, std::span<float> out) const {
    check_size(sum.size(), out.size(), "decode_sum");
    for (std::size_t i = 0; i < sum.size(); ++i)
      out[i] = static_cast<float>(static_cast<double>(centred(sum[i])) / config_.scale);
  }

  /// Decodes a sum of encode_weighted() outputs into the weighted mean Σ w·x / Σ w.
  void decode_weighted_mean(std::span<const std::uint32_t> sum, std::span<float> out) const {
    if (sum.size() != out.size() + 1)
      throw invalid_config("fixed_point_encoder::decode_weighted_mean: sum has " +
                           std::to_string(sum.size()) +
                           " slots, needs D + 1 = " + std::to_string(out.size() + 1));
    const auto total_weight = centred(sum[0]);
    if (total_weight <= 0)
      throw invalid_config("fixed_point_encoder::decode_weighted_mean: the weight sum decodes to " +
                           std::to_string(total_weight) + ", not positive");
    const double denom = static_cast<double>(total_weight) * config_.scale;
    for (std::size_t i = 0; i < out.size(); ++i)
      out[i] = static_cast<float>(static_cast<double>(centred(sum[i + 1])) / denom);
  }

private:
  static void check_size(std::size_t in, std::size_t out, const char* what) {
    if (in != out)
      throw invalid_config(std::string("fixed_point_encoder::") + what + ": input has " + std::to_string(in) +
                           " values, output " + std::to_string(out));
  }

  std::size_t encode_scaled(std::span<const float> x, std::int64_t weight,
                            std::span<std::uint32_t> out) const {
    check_size(x.size(), out.size(), "encode");
    for (std::size_t i = 0; i < x.size(); ++i)
      if (!std::isfinite(x[i]))
        throw rejected_update(0, rejection_reason::non_finite,
                              "fixed_point_encoder: x[" + std::to_string(i) + "] is not finite");
    const double c = config_.clip_bound;
    const double s = config_.scale;
    const auto mask = modulus_mask();
    std::size_t clipped = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
      double v = x[i];
      if (v > c || v < -c) {
        v = v > c ? c : -c;
        ++clipped;
      }
      const auto q = static_cast<std::int64_t>(std::llround(v * s)) * weight;
      out[i] = static_cast<std::uint32_t>(static_cast<std::uint64_t>(q)) & mask;
    }
    return clipped;
  }

  encoding_config config_;
};

} // namespace fedpp::secagg
