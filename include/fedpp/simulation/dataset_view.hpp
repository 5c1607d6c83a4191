/// \file dataset_view.hpp
/// A non-owning view of a dataset or of a subset of its examples by index list (a client's
/// shard), without copying features.
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/simulation/dataset.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace fedpp::simulation {

/// The examples of a dataset, all of them or those at `indices` (in that order, repeats
/// allowed). Holds a pointer to the dataset and a span of the index list: both must outlive it.
class dataset_view {
public:
  /// Every example of `data`, in order.
  dataset_view(
      const dataset& data) noexcept // NOLINT(google-explicit-constructor): a dataset is a view of itself
      : data_(&data), size_(data.size()) {}

  /// The examples of `data` at `indices`; throws invalid_config when an index is out of range.
  dataset_view(const dataset& data, std::span<const std::size_t> indices)
      : data_(&data), indices_(indices), size_(indices.size()), subset_(true) {
    for (std::size_t i = 0; i < indices.size(); ++i)
      if (indices[i] >= data.size())
        throw invalid_config("dataset_view: index " + std::to_string(indices[i]) + " at position " +
                             std::to_string(i) + " is out of range for a dataset of " +
                             std::to_string(data.size()) + " examples");
  }

  /// Views of temporaries would dangle.
  dataset_view(const dataset&&) = delete;
  dataset_view(const dataset&&, std::span<const std::size_t>) = delete;

  /// The underlying dataset.
  [[nodiscard]] const dataset& data() const noexcept { return *data_; }
  /// Number of examples in the view.
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
  [[nodiscard]] std::size_t num_features() const noexcept { return data_->num_features(); }
  [[nodiscard]] std::size_t num_classes() const noexcept { return data_->num_classes(); }
  /// False when the view is the whole dataset in order (its i-th example is the dataset's),
  /// true when it reads an index list.
  [[nodiscard]] bool is_subset() const noexcept { return subset_; }
  /// Index in the dataset of the view's i-th example.
  [[nodiscard]] std::size_t index(std::size_t i) const noexcept { return subset_ ? indices_[i] : i; }
  /// Features of the view's i-th example.
  [[nodiscard]] std::span<const float> example(std::size_t i) const noexcept {
    return data_->example(index(i));
  }
  /// Label of the view's i-th example.
  [[nodiscard]] std::uint8_t label(std::size_t i) const noexcept { return data_->label(index(i)); }

private:
  const dataset* data_;
  std::span<const std::size_t> indices_;
  std::size_t size_;
  bool subset_ = false;
};

} // namespace fedpp::simulation
