/// \file compressed_fedavg.hpp
/// FedAvg over compressed updates that decodes each payload straight into the running weighted
/// sum (McMahan et al. 2017): no dense per-client copy, one D-sized accumulator for any number of
/// clients. Valid because every dense-decodable scheme is linear in its decoded values:
/// Σ_k w_k·decode(p_k) is accumulated coordinate by coordinate.
#pragma once

#include "fedpp/aggregation/aggregator.hpp"
#include "fedpp/compression/compressed_update.hpp"
#include "fedpp/compression/decode.hpp"
#include "fedpp/error.hpp"
#include "fedpp/tensor/flat_model.hpp"
#include "fedpp/tensor/model_layout.hpp"

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

  /// An empty aggregate for `layout` (all f32).
  explicit compressed_fedavg(model_layout layout)
      : layout_(std::move(layout)), sum_(layout_.total_size(), 0.0F) {
    if (!layout_.is_uniform(dtype::f32)) throw invalid_config("compressed_fedavg: the layout is not all f32");
  }

  /// Adds w·decode(payload). Throws rejected_update (state unchanged) for a bad weight, a
  /// malformed payload or one of the wrong size.
  void accumulate(const compressed_update& u) {
    if (!(u.weight > 0) || !std::isfinite(u.weight))
      throw rejected_update(u.client, rejection_reason::bad_weight, "weight " + std::to_string(u.weight));
    try {
      decode_accumulate(u.payload, static_cast<float>(u.weight), sum_);
    } catch (const malformed_message& e) {
      throw rejected_update(u.client, rejection_reason::malformed, e.what());
    } catch (const invalid_config& e) {
      throw rejected_update(u.client, rejection_reason::layout_mismatch, e.what());
    }
    total_ += u.weight;
    ++inputs_;
  }

  /// Absorbs another partial aggregate of the same layout.
  void merge(compressed_fedavg&& other) {
    if (!(other.layout_ == layout_)) throw invalid_config("compressed_fedavg::merge: layouts differ");
    for (std::size_t i = 0; i < sum_.size(); ++i) sum_[i] += other.sum_[i];
    total_ += other.total_;
    inputs_ += other.inputs_;
  }

  [[nodiscard]] std::size_t num_inputs() const noexcept { return inputs_; }
  [[nodiscard]] bool can_report() const noexcept { return inputs_ > 0; }

  /// Σ w_k decode(p_k) / Σ w_k.
  [[nodiscard]] flat_model<float> report() && {
    if (!can_report()) throw invalid_config("compressed_fedavg::report: no inputs");
    flat_model<float> out(layout_);
    const auto inv = static_cast<float>(1.0 / total_);
    auto s = out.span();
    for (std::size_t i = 0; i < sum_.size(); ++i) s[i] = sum_[i] * inv;
    return out;
  }

private:
  model_layout layout_;
  std::vector<float> sum_;
  double total_ = 0;
  std::size_t inputs_ = 0;
};

static_assert(aggregator<compressed_fedavg>);

} // namespace fedpp::compression
