/// \file proxy_set.hpp
/// The unlabeled data the server distills on (FedDF's proxy data; the transfer set of teacher →
/// student compression): n feature rows, checked finite, split once and reproducibly into a
/// training part and a validation part for early stopping.
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/random/rng.hpp"

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace fedpp::distillation {

/// Owning set of feature rows (n × F, row-major) with a seeded train/validation split. Immutable
/// after construction.
template <std::floating_point V>
class proxy_set {
public:
  /// Takes `features` (n × num_features). `validation_fraction` in [0, 1): ⌊n · fraction⌋ rows,
  /// drawn with a partial Fisher–Yates shuffle seeded by `seed`, form the validation part (0: none,
  /// no early stopping). Throws invalid_config for 0 features, an empty set, a size that is not a
  /// whole number of rows, a non-finite value (naming the row), a fraction outside [0, 1), a
  /// positive fraction that leaves no validation row (⌊n · fraction⌋ < n always leaves a training row).
  proxy_set(std::vector<V> features, std::size_t num_features, double validation_fraction = 0.0,
            std::uint64_t seed = 0)
      : features_(std::move(features)), num_features_(num_features) {
    if (num_features_ == 0) throw invalid_config("proxy_set: num_features must be > 0");
    if (features_.empty()) throw invalid_config("proxy_set: the proxy set is empty");
    if (features_.size() % num_features_ != 0)
      throw invalid_config("proxy_set: " + std::to_string(features_.size()) +
                           " values are not a whole number of rows of " + std::to_string(num_features_));
    for (std::size_t i = 0; i < features_.size(); ++i)
      if (!std::isfinite(static_cast<double>(features_[i])))
        throw invalid_config("proxy_set: row " + std::to_string(i / num_features_) + " feature " +
                             std::to_string(i % num_features_) + " is not finite");
    if (!(validation_fraction >= 0 && validation_fraction < 1))
      throw invalid_config("proxy_set: validation_fraction must be in [0, 1), got " +
                           std::to_string(validation_fraction));
    const std::size_t n = size();
    const auto n_val = static_cast<std::size_t>(std::floor(static_cast<double>(n) * validation_fraction));
    if (validation_fraction > 0 && n_val == 0)
      throw invalid_config("proxy_set: validation_fraction " + std::to_string(validation_fraction) + " of " +
                           std::to_string(n) + " rows leaves no validation row");
    std::vector<std::size_t> order(n);
    std::iota(order.begin(), order.end(), std::size_t{0});
    rng gen = rng::for_stream(seed, 0x70726f7879ULL); // "proxy"
    for (std::size_t i = 0; i < n_val; ++i) std::swap(order[i], order[i + gen.below(n - i)]);
    validation_.assign(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(n_val));
    train_.assign(order.begin() + static_cast<std::ptrdiff_t>(n_val), order.end());
    std::sort(validation_.begin(), validation_.end());
    std::sort(train_.begin(), train_.end());
  }

  /// Number of rows n.
  [[nodiscard]] std::size_t size() const noexcept { return features_.size() / num_features_; }
  /// F.
  [[nodiscard]] std::size_t num_features() const noexcept { return num_features_; }
  /// All rows, row-major.
  [[nodiscard]] std::span<const V> rows() const noexcept { return features_; }
  /// Row i.
  [[nodiscard]] std::span<const V> row(std::size_t i) const noexcept {
    return {features_.data() + i * num_features_, num_features_};
  }
  /// Indices of the training rows (ascending).
  [[nodiscard]] std::span<const std::size_t> train_indices() const noexcept { return train_; }
  /// Indices of the validation rows (ascending; empty without early stopping).
  [[nodiscard]] std::span<const std::size_t> validation_indices() const noexcept { return validation_; }

private:
  std::vector<V> features_;
  std::size_t num_features_;
  std::vector<std::size_t> train_, validation_;
};

} // namespace fedpp::distillation
