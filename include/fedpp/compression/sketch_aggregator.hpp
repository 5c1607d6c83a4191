/// \file sketch_aggregator.hpp
/// Server-side aggregation of count sketches (FetchSGD, Rothchild et al. 2020, Algorithm 1):
/// the weighted mean of the clients' sketches, computed by summing tables — sketches are linear,
/// so mean(S(Δ_k)) = S(mean(Δ_k)) and nothing is decoded per client. The server then recovers
/// the heavy coordinates from the reported sketch (count_sketch::top_k) and applies them.
///
/// Weights are doubles kept relative to a unit weight, as in compressed_fedavg (see there): any
/// finite weight > 0 works, every factor applied to a float table is ≤ 2^32, the total stays ≥ 1
/// and finite, and a sketch whose weighted cells could overflow the float sum is refused
/// (detail/finite_bounds.hpp), so the sum and the reported mean are always finite.
#pragma once

#include "fedpp/aggregation/aggregator.hpp"
#include "fedpp/compression/count_sketch.hpp"
#include "fedpp/compression/detail/finite_bounds.hpp"
#include "fedpp/error.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <optional>
#include <string>
#include <utility>

namespace fedpp::compression {

/// One client's sketch and weight (the sketch must outlive the accumulate call).
struct sketch_update {
  client_id client = 0;
  double weight = 1.0;
  const count_sketch* sketch = nullptr;
};

/// Weighted mean of count sketches of one shape and seed.
class sketch_aggregator {
public:
  using input_type = sketch_update;
  using result_type = count_sketch;

  /// A weight more than this many times the current unit becomes the new unit.
  static constexpr double max_relative_weight = 0x1p32;

  /// An empty aggregate of r × c sketches of D-vectors hashed with `seed`.
  sketch_aggregator(std::size_t rows, std::size_t columns, std::size_t dimension, std::uint64_t seed)
      : sum_(rows, columns, dimension, seed) {}

  /// Adds w·S_k. Throws rejected_update (unchanged) for a weight that is not finite and > 0
  /// (bad_weight), a sketch of another shape/seed (layout_mismatch), or one whose weighted cells
  /// are not finite or could overflow the float sum (non_finite).
  void accumulate(const sketch_update& u) {
    if (u.sketch == nullptr) throw rejected_update(u.client, rejection_reason::other, "no sketch");
    if (!(u.weight > 0) || !std::isfinite(u.weight))
      throw rejected_update(u.client, rejection_reason::bad_weight,
                            "weight " + detail::show(u.weight) + " is not finite and > 0");
    if (!sum_.compatible(*u.sketch))
      throw rejected_update(u.client, rejection_reason::layout_mismatch,
                            "the sketch's shape, dimension or seed differs from the round's");
    const double largest = detail::max_magnitude(u.sketch->table());
    if (!std::isfinite(largest))
      throw rejected_update(u.client, rejection_reason::non_finite, "the sketch holds NaN or Inf");
    const bool rebase = inputs_ > 0 && !(u.weight / unit_ <= max_relative_weight);
    if (!rebase) {
      const double relative = inputs_ == 0 ? 1.0 : u.weight / unit_; // in (0, 2^32]
      const auto w = static_cast<float>(relative);
      // Each cell adds fl(w·cell): one rounding.
      check_headroom(u.client, w, largest * detail::rounding_slack, 1.0F);
      sum_.add_scaled(*u.sketch, w);
      if (inputs_ == 0) unit_ = u.weight;
      total_ += relative;
    } else {                                 // u's weight becomes the unit: sum ← sum·(unit/w) + S_k
      const double ratio = unit_ / u.weight; // < 2^-32
      const auto f = static_cast<float>(ratio);
      check_headroom(u.client, 1.0F, largest, f);
      sum_.scale(f);
      sum_ += *u.sketch;
      total_ = total_ * ratio + 1.0;
      unit_ = u.weight;
    }
    ++inputs_;
  }

  /// Absorbs another partial aggregate. Throws invalid_config (both unchanged) for incompatible
  /// sketches or sums that would overflow float when added.
  void merge(sketch_aggregator&& other) {
    if (!sum_.compatible(other.sum_))
      throw invalid_config("sketch_aggregator::merge: the sketches differ in shape, dimension or seed");
    if (other.inputs_ == 0) return;
    if (inputs_ == 0) {
      std::swap(sum_, other.sum_);
      std::swap(unit_, other.unit_);
      std::swap(total_, other.total_);
      std::swap(inputs_, other.inputs_);
      return;
    }
    // The larger unit wins; the other side is scaled by a ratio ≤ 1. Added in a copy that
    // replaces ours only when it is finite.
    const bool rescale_ours = unit_ < other.unit_;
    const double ratio = rescale_ours ? unit_ / other.unit_ : other.unit_ / unit_;
    count_sketch merged = rescale_ours ? other.sum_ : sum_;
    merged.add_scaled(rescale_ours ? sum_ : other.sum_, static_cast<float>(ratio));
    if (!std::isfinite(detail::max_magnitude(merged.table())))
      throw invalid_config("sketch_aggregator::merge: the sum of the two sketches overflows float");
    sum_ = std::move(merged);
    total_ = rescale_ours ? total_ * ratio + other.total_ : total_ + other.total_ * ratio;
    unit_ = std::max(unit_, other.unit_);
    inputs_ += other.inputs_;
  }

  [[nodiscard]] std::size_t num_inputs() const noexcept { return inputs_; }
  [[nodiscard]] bool can_report() const noexcept { return inputs_ > 0; }

  /// Σ w_k S_k / Σ w_k. Finite: the sum is finite and the total ≥ 1, so every cell is scaled by
  /// 1/total ≤ 1.
  [[nodiscard]] count_sketch report() && {
    if (!can_report()) throw invalid_config("sketch_aggregator::report: no inputs");
    sum_.scale(static_cast<float>(1.0 / total_));
    return std::move(sum_);
  }

private:
  /// Refuses (rejected_update, non_finite) cells bounded by `bound` added with weight `w` to the
  /// sum scaled by `sum_factor` (≤ 1) when the result could overflow (detail/finite_bounds.hpp).
  void check_headroom(client_id client, float w, double bound, float sum_factor) const {
    const double increment = static_cast<double>(w) * bound;
    if (increment <= detail::always_safe_increment) return; // any finite (scaled) sum stays finite
    const double sum_max = detail::max_magnitude(sum_.table()) * static_cast<double>(sum_factor);
    if (!(sum_max * detail::rounding_slack + increment <= detail::float_max))
      throw rejected_update(client, rejection_reason::non_finite,
                            "the sketch's cells (up to " + detail::show(bound) +
                                ") times its relative weight " + detail::show(w) +
                                " added to the sum's cells (up to " + detail::show(sum_max) +
                                ") would exceed float's largest value " + detail::show(detail::float_max));
  }

  count_sketch sum_;
  double unit_ = 0;  // reference weight
  double total_ = 0; // Σ w_k / unit_
  std::size_t inputs_ = 0;
};

static_assert(aggregator<sketch_aggregator>);

} // namespace fedpp::compression
