/// \file dataset.hpp
/// An in-memory labelled dataset for the simulations: dense float features, row-major
/// (n × num_features), and one uint8 class label per example.
#pragma once

#include "fedpp/error.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace fedpp::simulation {

/// Owning labelled dataset. Immutable after construction, so views into it stay valid.
class dataset {
public:
  dataset() = default;

  /// Takes ownership of `features` (num_examples × num_features, row-major) and `labels`.
  /// Throws invalid_config when num_features is 0, num_classes is outside 1..256, the sizes
  /// disagree or a label is ≥ num_classes.
  dataset(std::vector<float> features, std::vector<std::uint8_t> labels, std::size_t num_features,
          std::size_t num_classes)
      : features_(std::move(features)), labels_(std::move(labels)), num_features_(num_features),
        num_classes_(num_classes) {
    if (num_features_ == 0) throw invalid_config("dataset: num_features must be > 0");
    if (num_classes_ == 0 || num_classes_ > 256)
      throw invalid_config("dataset: num_classes must be in 1..256, got " + std::to_string(num_classes_));
    if (features_.size() != labels_.size() * num_features_)
      throw invalid_config("dataset: " + std::to_string(features_.size()) + " feature values do not make " +
                           std::to_string(labels_.size()) + " examples of " + std::to_string(num_features_) +
                           " features");
    for (std::size_t i = 0; i < labels_.size(); ++i)
      if (labels_[i] >= num_classes_)
        throw invalid_config("dataset: label " + std::to_string(labels_[i]) + " of example " +
                             std::to_string(i) +
                             " is not below num_classes = " + std::to_string(num_classes_));
  }

  /// Number of examples.
  [[nodiscard]] std::size_t size() const noexcept { return labels_.size(); }
  /// Features per example (784 for 28×28 images).
  [[nodiscard]] std::size_t num_features() const noexcept { return num_features_; }
  /// Number of classes; every label is below it.
  [[nodiscard]] std::size_t num_classes() const noexcept { return num_classes_; }
  /// All features, row-major.
  [[nodiscard]] std::span<const float> features() const noexcept { return features_; }
  /// All labels.
  [[nodiscard]] std::span<const std::uint8_t> labels() const noexcept { return labels_; }
  /// Features of example i (unchecked beyond an assert-free span).
  [[nodiscard]] std::span<const float> example(std::size_t i) const noexcept {
    return {features_.data() + i * num_features_, num_features_};
  }
  /// Label of example i.
  [[nodiscard]] std::uint8_t label(std::size_t i) const noexcept { return labels_[i]; }

private:
  std::vector<float> features_;
  std::vector<std::uint8_t> labels_;
  std::size_t num_features_ = 0;
  std::size_t num_classes_ = 0;
};

} // namespace fedpp::simulation
