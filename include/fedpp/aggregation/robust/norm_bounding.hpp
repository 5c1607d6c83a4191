/// \file norm_bounding.hpp
/// Norm bounding (Sun et al. 2019, "Can You Really Backdoor Federated Learning?", §4): each
/// update is clipped to L2 norm at most M before the weighted average,
///     Δ = Σ_k n_k · Δ_k / max(1, ‖Δ_k‖ / M)  /  Σ_k n_k.
/// Streaming: one double accumulator per model element, whatever the number of clients (no
/// update buffer, no memory budget needed).
#pragma once

#include "fedpp/aggregation/aggregator.hpp"
#include "fedpp/aggregation/client_update.hpp"
#include "fedpp/aggregation/fedavg.hpp"
#include "fedpp/detail/aligned_buffer.hpp"
#include "fedpp/error.hpp"
#include "fedpp/kernels/kernels.hpp"
#include "fedpp/tensor/flat_model.hpp"
#include "fedpp/tensor/model_layout.hpp"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>

namespace fedpp {

/// Weighted mean of updates clipped to L2 norm `max_norm` (M).
template <element_type T = float>
class norm_bounding {
  static_assert(std::is_floating_point_v<T>, "norm_bounding averages floating-point updates");

public:
  using input_type = client_update<T>;
  using result_type = flat_model<T>;

  /// An empty aggregate; throws invalid_config for M ≤ 0 or non-finite, or a layout of another dtype.
  norm_bounding(model_layout layout, double max_norm, weighting mode = weighting::by_examples)
      : layout_(std::move(layout)), max_norm_(max_norm), mode_(mode), sum_(layout_.total_size()) {
    if (!(std::isfinite(max_norm_) && max_norm_ > 0))
      throw invalid_config("norm_bounding: max_norm must be finite and > 0, got " +
                           std::to_string(max_norm_));
    if (!layout_.is_uniform(dtype_of<T>))
      throw invalid_config("norm_bounding: the layout has tensors of another dtype");
  }

  /// Clips and adds one update; rejected_update (state unchanged) as fedavg.
  void accumulate(const input_type& update) {
    // fedavg's validation rules, checked by a throw-away instance would allocate: check here.
    if (auto diff = update.model.describe_mismatch(layout_))
      throw rejected_update(update.client, rejection_reason::layout_mismatch, *diff);
    if (mode_ == weighting::by_examples && !(std::isfinite(update.weight) && update.weight > 0))
      throw rejected_update(update.client, rejection_reason::bad_weight,
                            "weight " + std::to_string(update.weight) +
                                " (the number of examples must be finite and > 0)");
    double squared = 0;
    for (const auto& t : update.model.tensors()) {
      const auto values = t.view.span();
      const std::size_t bad = kernels::find_non_finite(values);
      if (bad != values.size())
        throw rejected_update(update.client, rejection_reason::non_finite,
                              "tensor '" + t.name + "' element " + std::to_string(bad) + " is " +
                                  std::to_string(values[bad]));
      squared += kernels::squared_norm(values);
    }
    const double norm = std::sqrt(squared);
    const double w = mode_ == weighting::by_examples ? update.weight : 1.0;
    const double factor = norm > max_norm_ ? max_norm_ / norm : 1.0;
    for (std::size_t t = 0; t < layout_.num_tensors(); ++t) {
      const auto& e = layout_.entries()[t];
      kernels::scaled_accumulate(sum_.span().subspan(e.offset, e.size()), w * factor,
                                 update.model[t].view.span());
    }
    total_weight_ += w;
    ++num_inputs_;
    if (factor < 1) ++num_clipped_;
  }

  /// Absorbs another partial aggregate (same layout and M), else invalid_config, unchanged.
  void merge(norm_bounding&& other) {
    if (&other == this) throw invalid_config("norm_bounding::merge: cannot merge into itself");
    if (auto diff = model_layout::describe_difference(layout_, other.layout_))
      throw invalid_config("norm_bounding::merge: layouts differ: " + *diff);
    if (other.max_norm_ != max_norm_ || other.mode_ != mode_)
      throw invalid_config("norm_bounding::merge: max_norm " + std::to_string(max_norm_) + " vs " +
                           std::to_string(other.max_norm_) + " or weighting differ");
    kernels::scaled_accumulate(sum_.span(), 1.0, std::span<const double>(other.sum_.span()));
    total_weight_ += other.total_weight_;
    num_inputs_ += other.num_inputs_;
    num_clipped_ += other.num_clipped_;
    other.sum_.fill_zero();
    other.total_weight_ = 0;
    other.num_inputs_ = other.num_clipped_ = 0;
  }

  [[nodiscard]] std::size_t num_inputs() const noexcept { return num_inputs_; }
  [[nodiscard]] bool can_report() const noexcept { return num_inputs_ > 0 && total_weight_ > 0; }
  /// Updates whose norm exceeded M.
  [[nodiscard]] std::size_t num_clipped() const noexcept { return num_clipped_; }
  /// M.
  [[nodiscard]] double max_norm() const noexcept { return max_norm_; }

  /// The weighted mean of the clipped updates; consumes the aggregate.
  [[nodiscard]] flat_model<T> report() && {
    if (!can_report()) throw invalid_config("norm_bounding: nothing to report (0 inputs accepted)");
    flat_model<T> mean(layout_);
    const double inv = 1.0 / total_weight_;
    for (std::size_t i = 0; i < mean.size(); ++i) mean.span()[i] = static_cast<T>(sum_[i] * inv);
    return mean;
  }

private:
  model_layout layout_;
  double max_norm_;
  weighting mode_;
  detail::aligned_buffer<double> sum_;
  double total_weight_ = 0;
  std::uint64_t num_inputs_ = 0;
  std::uint64_t num_clipped_ = 0;
};

static_assert(aggregator<norm_bounding<float>>);

} // namespace fedpp
