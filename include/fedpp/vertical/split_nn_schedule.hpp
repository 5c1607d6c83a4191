/// \file split_nn_schedule.hpp
/// The batches of a split-NN session, which every party computes alike from the agreement: the N
/// aligned examples (ids 0 … N−1 in the order the parties aligned them, e.g. by private set
/// intersection) shuffled per epoch by a fedpp::rng stream of (seed, epoch) — a Fisher–Yates
/// permutation — and cut into batches of at most B. Evaluation batches take the ids in order.
/// Messages carry their batch's ids, and each receiver compares them with its own schedule.
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/random/rng.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <span>
#include <string>
#include <vector>

namespace fedpp::vertical {

/// The shared batch order of a split-NN session.
class split_nn_schedule {
public:
  /// N aligned examples in batches of at most `batch_size`, shuffled per epoch from `seed`.
  /// Throws invalid_config when N or batch_size is 0.
  split_nn_schedule(std::size_t num_examples, std::size_t batch_size, std::uint64_t seed)
      : n_(num_examples), batch_(batch_size), seed_(seed) {
    if (n_ == 0 || batch_ == 0)
      throw invalid_config("split_nn_schedule: " + std::to_string(n_) + " examples in batches of " +
                           std::to_string(batch_) + ": both must be > 0");
  }

  /// Number of aligned examples N.
  [[nodiscard]] std::size_t num_examples() const noexcept { return n_; }
  /// Largest batch B.
  [[nodiscard]] std::size_t batch_size() const noexcept { return batch_; }
  /// Batches per epoch, ⌈N / B⌉.
  [[nodiscard]] std::size_t num_batches() const noexcept { return (n_ + batch_ - 1) / batch_; }

  /// The example ids of epoch `epoch` in training order (batch b is [b·B, min(N, (b+1)·B))).
  [[nodiscard]] std::vector<std::uint64_t> epoch_order(std::uint64_t epoch) const {
    std::vector<std::uint64_t> order(n_);
    std::iota(order.begin(), order.end(), std::uint64_t{0});
    rng gen = rng::for_stream(seed_, epoch);
    for (std::size_t i = n_; i > 1; --i) std::swap(order[i - 1], order[gen.below(i)]);
    return order;
  }

  /// Batch b of an epoch's order (or of any id list cut into batches of B).
  [[nodiscard]] std::span<const std::uint64_t> batch(std::span<const std::uint64_t> order,
                                                     std::size_t b) const {
    const std::size_t first = b * batch_;
    if (first >= order.size())
      throw invalid_config("split_nn_schedule::batch: batch " + std::to_string(b) + " of " +
                           std::to_string(order.size()) + " ids in batches of " + std::to_string(batch_));
    return order.subspan(first, std::min(batch_, order.size() - first));
  }

private:
  std::size_t n_;
  std::size_t batch_;
  std::uint64_t seed_;
};

} // namespace fedpp::vertical
