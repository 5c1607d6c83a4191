/// \file split_nn_config.hpp
/// What the parties of a split neural network agree on before training (vertical FL,
/// Vepakomma et al. 2018, "Split learning for health"): who takes part (party 0 holds the labels
/// and the top model; parties 1 … P−1 hold features only), each party's cut-layer width, how the
/// label holder combines the cut-layer activations (concatenation or sum), and the batch size.
/// Every party builds the same config; each checks the other parties' messages against it.
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/transport/message.hpp"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace fedpp::vertical {

/// How the label holder joins the cut-layer activations h_p (n × k_p) into the top model's input.
enum class split_nn_combine : std::uint8_t {
  concat = 1, ///< [h_0 | h_1 | … ] (n × Σ k_p); party p receives its own columns of the gradient
  sum = 2,    ///< Σ_p h_p (n × k, every k_p = k); every party receives the same gradient
};

/// Name of a combine mode ("concat", "sum").
[[nodiscard]] constexpr const char* to_string(split_nn_combine c) noexcept {
  return c == split_nn_combine::concat ? "concat" : c == split_nn_combine::sum ? "sum" : "unknown";
}

/// The agreement of a split-NN session. Party 0 is the label holder.
class split_nn_config {
public:
  /// Parties at `endpoints` (endpoints[0]: the label holder) with cut widths `cut_widths`
  /// (one per party), combined by `combine`, in batches of at most `batch_size` examples; every
  /// value a message carries (activation or gradient) must be finite with |v| ≤ max_abs_value.
  /// Throws invalid_config for fewer than 2 parties, sizes that disagree, a width or batch size
  /// of 0, repeated endpoints, widths that differ under `sum`, widths or batches above 2^20, or a
  /// bound that is not positive and finite.
  split_nn_config(std::vector<endpoint_id> endpoints, std::vector<std::size_t> cut_widths,
                  split_nn_combine combine, std::size_t batch_size,
                  double max_abs_value = default_max_abs_value)
      : endpoints_(std::move(endpoints)), widths_(std::move(cut_widths)), combine_(combine),
        batch_size_(batch_size), max_abs_(max_abs_value) {
    if (!(max_abs_ > 0) || !std::isfinite(max_abs_))
      throw invalid_config("split_nn_config: the bound on message values, " + std::to_string(max_abs_) +
                           ", must be positive and finite");
    if (endpoints_.size() < 2)
      throw invalid_config("split_nn_config: needs the label holder and at least one feature party, got " +
                           std::to_string(endpoints_.size()) + " part(y/ies)");
    if (widths_.size() != endpoints_.size())
      throw invalid_config("split_nn_config: " + std::to_string(widths_.size()) + " cut widths for " +
                           std::to_string(endpoints_.size()) + " parties");
    if (combine_ != split_nn_combine::concat && combine_ != split_nn_combine::sum)
      throw invalid_config("split_nn_config: unknown combine mode " +
                           std::to_string(static_cast<unsigned>(combine_)));
    if (batch_size_ == 0 || batch_size_ > max_batch_size)
      throw invalid_config("split_nn_config: batch size " + std::to_string(batch_size_) + " is outside 1.." +
                           std::to_string(max_batch_size));
    for (std::size_t p = 0; p < widths_.size(); ++p) {
      if (widths_[p] == 0 || widths_[p] > max_cut_width)
        throw invalid_config("split_nn_config: cut width " + std::to_string(widths_[p]) + " of party " +
                             std::to_string(p) + " is outside 1.." + std::to_string(max_cut_width));
      if (combine_ == split_nn_combine::sum && widths_[p] != widths_[0])
        throw invalid_config("split_nn_config: combine = sum needs equal cut widths; party " +
                             std::to_string(p) + " has " + std::to_string(widths_[p]) + ", party 0 " +
                             std::to_string(widths_[0]));
      for (std::size_t q = 0; q < p; ++q)
        if (endpoints_[q] == endpoints_[p])
          throw invalid_config("split_nn_config: parties " + std::to_string(q) + " and " + std::to_string(p) +
                               " share endpoint " + std::to_string(endpoints_[p]));
    }
    std::size_t offset = 0;
    for (std::size_t w : widths_) {
      offsets_.push_back(combine_ == split_nn_combine::concat ? offset : 0);
      offset += w;
    }
    top_width_ = combine_ == split_nn_combine::concat ? offset : widths_[0];
  }

  /// The default bound on |value| of what crosses the cut: far above the activations and
  /// gradients of a network that trains (ReLU outputs of normalised inputs are O(1–100)), far
  /// below what overflows a float step.
  static constexpr double default_max_abs_value = 1e6;
  /// Largest batch a config accepts (a message holds at most this many rows).
  static constexpr std::size_t max_batch_size = std::size_t{1} << 20;
  /// Largest cut width a config accepts.
  static constexpr std::size_t max_cut_width = std::size_t{1} << 20;

  /// Number of parties P (the label holder included).
  [[nodiscard]] std::size_t num_parties() const noexcept { return endpoints_.size(); }
  /// The endpoint of party p.
  [[nodiscard]] endpoint_id endpoint(std::size_t p) const { return endpoints_.at(p); }
  /// Cut width k_p of party p.
  [[nodiscard]] std::size_t cut_width(std::size_t p) const { return widths_.at(p); }
  /// First column of party p's activations in the top model's input (0 under sum).
  [[nodiscard]] std::size_t top_offset(std::size_t p) const { return offsets_.at(p); }
  /// Width of the top model's input: Σ k_p (concat) or k (sum).
  [[nodiscard]] std::size_t top_input_width() const noexcept { return top_width_; }
  /// How activations are combined.
  [[nodiscard]] split_nn_combine combine() const noexcept { return combine_; }
  /// Largest batch.
  [[nodiscard]] std::size_t batch_size() const noexcept { return batch_size_; }
  /// Largest |value| a message may carry.
  [[nodiscard]] double max_abs_value() const noexcept { return max_abs_; }

private:
  std::vector<endpoint_id> endpoints_;
  std::vector<std::size_t> widths_;
  std::vector<std::size_t> offsets_;
  split_nn_combine combine_;
  std::size_t batch_size_;
  double max_abs_;
  std::size_t top_width_ = 0;
};

} // namespace fedpp::vertical
