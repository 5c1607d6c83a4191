/// \file compressed_fedavg.hpp
/// FedAvg over compressed updates that decodes each payload straight into the running weighted
/// sum (McMahan et al. 2017): no dense per-client copy, one D-sized accumulator for any number of
/// clients. Valid because every dense-decodable scheme is linear in its decoded values:
/// Σ_k w_k·decode(p_k) is accumulated coordinate by coordinate.
///
/// Weights are doubles, kept relative to a reference weight (the unit): the float sum holds
/// Σ_k (w_k/u)·decode(p_k) and the double total Σ_k w_k/u, so any finite weight > 0 works, from
/// 1e-300 to 1e300, without the float cast of a raw weight overflowing (1e39 → Inf) or underflowing.
/// The unit is the first weight; a weight more than 2^32 times the unit becomes the new unit
/// (the sum is rescaled by the ratio, < 2^-32, in one pass; each change multiplies the unit by
/// more than 2^32, so there are at most ~66 over double's range, whatever the order of the
/// weights). So every relative weight passed to the decoder is ≤ 2^32, the total stays ≥ 1 (the
/// unit's own input counts 1) and finite (≤ 2^32 per input), and the decoders keep the float sum
/// finite (decode.hpp), refusing the payloads that could not be added without overflowing it.
#pragma once

#include "fedpp/aggregation/aggregator.hpp"
#include "fedpp/compression/compressed_update.hpp"
#include "fedpp/compression/decode.hpp"
#include "fedpp/compression/detail/finite_bounds.hpp"
#include "fedpp/error.hpp"
#include "fedpp/tensor/flat_model.hpp"
#include "fedpp/tensor/model_layout.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace fedpp::compression {

/// Weighted mean of compressed updates (float models).
class compressed_fedavg {
public:
  using input_type = compressed_update;
  using result_type = flat_model<float>;

  /// A weight more than this many times the current unit becomes the new unit.
  static constexpr double max_relative_weight = 0x1p32;

  /// An empty aggregate for `layout` (all f32).
  explicit compressed_fedavg(model_layout layout)
      : layout_(std::move(layout)), sum_(layout_.total_size(), 0.0F) {
    if (!layout_.is_uniform(dtype::f32)) throw invalid_config("compressed_fedavg: the layout is not all f32");
  }

  /// Adds w·decode(payload). Throws rejected_update (state unchanged) for a weight that is not
  /// finite and > 0 (bad_weight), a malformed payload or one whose weighted values could overflow
  /// the float sum (malformed), or one of the wrong size (layout_mismatch).
  void accumulate(const compressed_update& u) {
    if (!(u.weight > 0) || !std::isfinite(u.weight))
      throw rejected_update(u.client, rejection_reason::bad_weight,
                            "weight " + detail::show(u.weight) + " is not finite and > 0");
    try {
      if (inputs_ == 0 || u.weight / unit_ <= max_relative_weight) {
        const double relative = inputs_ == 0 ? 1.0 : u.weight / unit_; // in (0, 2^32]
        // ≤ 2^32, so the float is finite; a relative weight below float's range adds zeros, and
        // the client's share of the mean is then below float's resolution anyway.
        decode_accumulate(u.payload, static_cast<float>(relative), sum_);
        if (inputs_ == 0) unit_ = u.weight;
        total_ += relative;
      } else {
        rebase_and_add(u);
      }
    } catch (const malformed_message& e) {
      throw rejected_update(u.client, rejection_reason::malformed, e.what());
    } catch (const invalid_config& e) {
      throw rejected_update(u.client, rejection_reason::layout_mismatch, e.what());
    }
    ++inputs_;
  }

  /// Absorbs another partial aggregate of the same layout. Throws invalid_config (both unchanged)
  /// when the layouts differ or the two sums would overflow float when added.
  void merge(compressed_fedavg&& other) {
    if (!(other.layout_ == layout_)) throw invalid_config("compressed_fedavg::merge: layouts differ");
    if (other.inputs_ == 0) return;
    if (inputs_ == 0) {
      sum_.swap(other.sum_);
      std::swap(unit_, other.unit_);
      std::swap(total_, other.total_);
      std::swap(inputs_, other.inputs_);
      return;
    }
    // The larger unit wins: the other side is scaled by a ratio ≤ 1, which cannot overflow; the
    // sums are added into a new buffer that replaces ours only when all of it is finite.
    const bool rescale_ours = unit_ < other.unit_;
    const double ratio = rescale_ours ? unit_ / other.unit_ : other.unit_ / unit_;
    const auto f = static_cast<float>(ratio);
    const float fa = rescale_ours ? f : 1.0F, fb = rescale_ours ? 1.0F : f;
    std::vector<float> merged(sum_.size());
    for (std::size_t i = 0; i < sum_.size(); ++i) merged[i] = sum_[i] * fa + other.sum_[i] * fb;
    for (std::size_t i = 0; i < merged.size(); ++i)
      if (!std::isfinite(merged[i]))
        throw invalid_config("compressed_fedavg::merge: element " + std::to_string(i) + " of the sums, " +
                             detail::show(sum_[i] * fa) + " + " + detail::show(other.sum_[i] * fb) +
                             ", overflows float");
    sum_.swap(merged);
    total_ = rescale_ours ? total_ * ratio + other.total_ : total_ + other.total_ * ratio;
    unit_ = std::max(unit_, other.unit_);
    inputs_ += other.inputs_;
  }

  [[nodiscard]] std::size_t num_inputs() const noexcept { return inputs_; }
  [[nodiscard]] bool can_report() const noexcept { return inputs_ > 0; }
  /// Σ_k w_k in units of unit() (≥ 1 once an input was absorbed).
  [[nodiscard]] double total_weight() const noexcept { return total_; }
  /// The reference weight the sum is kept relative to (0 before the first input).
  [[nodiscard]] double unit() const noexcept { return unit_; }

  /// Σ w_k decode(p_k) / Σ w_k. Finite: the sum is finite (decode.hpp) and the total ≥ 1, so
  /// every element is scaled by 1/total ≤ 1.
  [[nodiscard]] flat_model<float> report() && {
    if (!can_report()) throw invalid_config("compressed_fedavg::report: no inputs");
    flat_model<float> out(layout_);
    const auto inv = static_cast<float>(1.0 / total_);
    auto s = out.span();
    for (std::size_t i = 0; i < sum_.size(); ++i) s[i] = sum_[i] * inv;
    return out;
  }

private:
  /// u's weight becomes the unit: decode u into a fresh buffer (everything validated, the sum
  /// untouched), then sum ← sum·(unit/w) + decoded in one pass. Finite: |sum_i·ratio| ≤
  /// FLT_MAX·2^-32 < 2^100, and adding that to a finite float stays finite (finite_bounds.hpp).
  void rebase_and_add(const compressed_update& u) {
    std::vector<float> decoded(sum_.size(), 0.0F);
    decode_accumulate(u.payload, 1.0F, decoded);
    const double ratio = unit_ / u.weight; // < 2^-32
    const auto f = static_cast<float>(ratio);
    for (std::size_t i = 0; i < sum_.size(); ++i) sum_[i] = sum_[i] * f + decoded[i];
    total_ = total_ * ratio + 1.0;
    unit_ = u.weight;
  }

  model_layout layout_;
  std::vector<float> sum_;
  double unit_ = 0;  // reference weight
  double total_ = 0; // Σ w_k / unit_
  std::size_t inputs_ = 0;
};

static_assert(aggregator<compressed_fedavg>);

} // namespace fedpp::compression
