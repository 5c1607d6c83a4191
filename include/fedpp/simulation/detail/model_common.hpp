/// \file model_common.hpp
/// Pieces the simulation models share: softmax cross-entropy with its gradient, parameter
/// checks, and the seeded uniform initializer.
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/random/rng.hpp"
#include "fedpp/simulation/trainable_model.hpp"
#include "fedpp/tensor/model_layout.hpp"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace fedpp::simulation::detail {

/// Mean softmax cross-entropy of logits z (n × C) against labels; z is overwritten with the
/// gradient of that mean w.r.t. the logits, (softmax(z) − onehot(y)) / n.
/// Per row: loss = log Σ_j exp(z_j − m) − (z_y − m) with m = max_j z_j (stable log-sum-exp).
template <class T>
double softmax_cross_entropy_backward(row_matrix<T>& z, std::span<const std::uint8_t> labels) {
  const auto n = z.rows();
  if (n == 0) return 0.0;
  double loss = 0;
  const T inv_n = T(1) / static_cast<T>(n);
  for (Eigen::Index r = 0; r < n; ++r) {
    auto row = z.row(r);
    const T m = row.maxCoeff();
    const T zy = row(labels[static_cast<std::size_t>(r)]) - m;
    row.array() = (row.array() - m).exp();
    const T s = row.sum();
    loss += std::log(static_cast<double>(s)) - static_cast<double>(zy);
    row *= inv_n / s;
    row(labels[static_cast<std::size_t>(r)]) -= inv_n;
  }
  return loss / static_cast<double>(n);
}

/// Sum of per-row cross-entropies and number of correct argmax predictions (z unchanged).
struct score {
  double loss_sum = 0;
  std::size_t correct = 0;
};
template <class T>
score score_logits(const row_matrix<T>& z, std::span<const std::uint8_t> labels) {
  score s;
  for (Eigen::Index r = 0; r < z.rows(); ++r) {
    Eigen::Index arg = 0;
    const T m = z.row(r).maxCoeff(&arg);
    const double lse = std::log(static_cast<double>((z.row(r).array() - m).exp().sum()));
    const auto y = labels[static_cast<std::size_t>(r)];
    s.loss_sum += lse - static_cast<double>(z(r, y) - m);
    if (static_cast<std::size_t>(arg) == y) ++s.correct;
  }
  return s;
}

/// Throws invalid_config unless `size` matches the layout.
inline void check_params(const char* who, const model_layout& layout, std::size_t size) {
  if (size != layout.total_size())
    throw invalid_config(std::string(who) + ": got " + std::to_string(size) + " parameters, the model has " +
                         std::to_string(layout.total_size()));
}

/// Throws invalid_config unless there is one label per row, each below num_classes.
inline void check_labels(const char* who, Eigen::Index rows, std::span<const std::uint8_t> labels,
                         std::size_t num_classes) {
  if (labels.size() != static_cast<std::size_t>(rows))
    throw invalid_config(std::string(who) + ": " + std::to_string(labels.size()) + " labels for " +
                         std::to_string(rows) + " rows");
  for (auto y : labels)
    if (y >= num_classes)
      throw invalid_config(std::string(who) + ": label " + std::to_string(y) + " is not below the model's " +
                           std::to_string(num_classes) + " classes");
}

/// Fills `out` with U(−limit, limit) draws from `gen`.
template <class T>
void fill_uniform(std::span<T> out, double limit, rng& gen) noexcept {
  for (auto& v : out) v = static_cast<T>((2.0 * gen.uniform() - 1.0) * limit);
}

} // namespace fedpp::simulation::detail
