/// \file sketch_aggregator.hpp
/// Server-side aggregation of count sketches (FetchSGD, Rothchild et al. 2020, Algorithm 1):
/// the weighted mean of the clients' sketches, computed by summing tables — sketches are linear,
/// so mean(S(Δ_k)) = S(mean(Δ_k)) and nothing is decoded per client. The server then recovers
/// the heavy coordinates from the reported sketch (count_sketch::top_k) and applies them.
#pragma once

#include "fedpp/aggregation/aggregator.hpp"
#include "fedpp/compression/count_sketch.hpp"
#include "fedpp/error.hpp"

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

  /// An empty aggregate of r × c sketches of D-vectors hashed with `seed`.
  sketch_aggregator(std::size_t rows, std::size_t columns, std::size_t dimension, std::uint64_t seed)
      : sum_(rows, columns, dimension, seed) {}

  /// Adds w·S_k. Throws rejected_update (unchanged) for a bad weight or a sketch of another shape/seed.
  void accumulate(const sketch_update& u) {
    if (u.sketch == nullptr) throw rejected_update(u.client, rejection_reason::other, "no sketch");
    if (!(u.weight > 0) || !std::isfinite(u.weight))
      throw rejected_update(u.client, rejection_reason::bad_weight, "weight " + std::to_string(u.weight));
    if (!sum_.compatible(*u.sketch))
      throw rejected_update(u.client, rejection_reason::layout_mismatch,
                            "the sketch's shape, dimension or seed differs from the round's");
    sum_.add_scaled(*u.sketch, static_cast<float>(u.weight));
    total_ += u.weight;
    ++inputs_;
  }

  void merge(sketch_aggregator&& other) {
    sum_ += other.sum_; // throws invalid_config (unchanged) for incompatible sketches
    total_ += other.total_;
    inputs_ += other.inputs_;
  }

  [[nodiscard]] std::size_t num_inputs() const noexcept { return inputs_; }
  [[nodiscard]] bool can_report() const noexcept { return inputs_ > 0; }

  /// Σ w_k S_k / Σ w_k.
  [[nodiscard]] count_sketch report() && {
    if (!can_report()) throw invalid_config("sketch_aggregator::report: no inputs");
    sum_.scale(static_cast<float>(1.0 / total_));
    return std::move(sum_);
  }

private:
  count_sketch sum_;
  double total_ = 0;
  std::size_t inputs_ = 0;
};

static_assert(aggregator<sketch_aggregator>);

} // namespace fedpp::compression
