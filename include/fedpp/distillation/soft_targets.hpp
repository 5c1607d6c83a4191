/// \file soft_targets.hpp
/// Soft targets and the knowledge-distillation loss with its gradient w.r.t. the student's logits
/// (Hinton, Vinyals, Dean 2015, "Distilling the Knowledge in a Neural Network"):
///
///   p_i = softmax(t_i / T)   (teacher, temperature T)      q_i = softmax(s_i / T)   (student)
///   L   = (1/n) Σ_i [ (1 − α) T² KL(p_i ‖ q_i) + α CE(softmax(s_i), y_i) ]
///   ∂L/∂s_i = (1/n) [ (1 − α) T (q_i − p_i) + α (softmax(s_i) − onehot(y_i)) ]
///
/// The T² factor keeps the soft term's gradient magnitude independent of T (Hinton et al. §2);
/// α = 0 (no labels) is the pure soft-label loss FedDF uses (Lin et al. 2020, with T = 1).
/// Everything is computed in double with the row maximum subtracted before exp (stable
/// log-sum-exp); 0 · log 0 is taken as 0.
#pragma once

#include "fedpp/error.hpp"

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>

namespace fedpp::distillation {

/// The loss's two settings.
struct loss_options {
  double temperature = 1.0;       ///< T > 0, finite
  double hard_label_weight = 0.0; ///< α in [0, 1]; > 0 needs labels

  /// Throws invalid_config naming the bad value.
  void validate() const {
    if (!(std::isfinite(temperature) && temperature > 0 && temperature <= 1e4))
      throw invalid_config("distillation: temperature must be finite and in (0, 1e4], got " +
                           std::to_string(temperature));
    if (!(hard_label_weight >= 0 && hard_label_weight <= 1))
      throw invalid_config("distillation: hard_label_weight must be in [0, 1], got " +
                           std::to_string(hard_label_weight));
  }
};

/// p = softmax(z / T) of one row, in double (max subtracted first).
template <std::floating_point V>
void softmax_row(std::span<const V> z, double temperature, std::span<double> p) noexcept {
  double m = -std::numeric_limits<double>::infinity();
  for (const V v : z) m = std::max(m, static_cast<double>(v) / temperature);
  double s = 0;
  for (std::size_t j = 0; j < z.size(); ++j)
    s += p[j] = std::exp(static_cast<double>(z[j]) / temperature - m);
  for (double& v : p) v /= s;
}

/// Teacher probabilities softmax(t_i / T) for every row of `logits` (rows × classes), in double.
/// Throws invalid_config for a size that is not rows × classes, 0 classes, or a non-finite logit.
template <std::floating_point V>
void soft_targets(std::span<const V> logits, std::size_t classes, double temperature, std::span<double> out) {
  if (classes == 0 || logits.size() % classes != 0 || out.size() != logits.size())
    throw invalid_config("soft_targets: " + std::to_string(logits.size()) + " logits and " +
                         std::to_string(out.size()) + " outputs for " + std::to_string(classes) + " classes");
  for (std::size_t i = 0; i < logits.size(); ++i)
    if (!std::isfinite(static_cast<double>(logits[i])))
      throw invalid_config("soft_targets: logit " + std::to_string(i) + " is not finite");
  for (std::size_t r = 0; r < logits.size() / classes; ++r)
    softmax_row(logits.subspan(r * classes, classes), temperature, out.subspan(r * classes, classes));
}

/// The mean distillation loss L above over the n = student.size() / classes rows, and its
/// gradient w.r.t. the student's logits written to `dlogits` (skipped when empty). `teacher` holds
/// the teacher's probabilities at the same temperature (soft_targets); `labels` one label per row
/// when α > 0 (ignored otherwise). Sizes are the caller's contract (the distiller checks them
/// once); a mismatch is an assertion, not a refusal.
template <std::floating_point V>
double distillation_loss(std::span<const V> student, std::span<const double> teacher,
                         std::span<const std::uint8_t> labels, std::size_t classes, const loss_options& o,
                         std::span<V> dlogits) noexcept {
  const std::size_t n = classes == 0 ? 0 : student.size() / classes;
  if (n == 0) return 0.0;
  const double T = o.temperature;
  const double alpha = o.hard_label_weight;
  const double inv_n = 1.0 / static_cast<double>(n);
  double total = 0;
  for (std::size_t r = 0; r < n; ++r) {
    const auto s = student.subspan(r * classes, classes);
    const auto p = teacher.subspan(r * classes, classes);
    // log q_j = s_j/T − (m + log Σ exp(s/T − m)).
    double m = -std::numeric_limits<double>::infinity();
    for (const V v : s) m = std::max(m, static_cast<double>(v) / T);
    double z = 0;
    for (const V v : s) z += std::exp(static_cast<double>(v) / T - m);
    const double lse = m + std::log(z);
    double kl = 0;
    for (std::size_t j = 0; j < classes; ++j)
      if (p[j] > 0) kl += p[j] * (std::log(p[j]) - (static_cast<double>(s[j]) / T - lse));
    double row = (1 - alpha) * T * T * kl;
    // Hard-label term at temperature 1.
    double m1 = 0, lse1 = 0;
    if (alpha > 0) {
      m1 = -std::numeric_limits<double>::infinity();
      for (const V v : s) m1 = std::max(m1, static_cast<double>(v));
      double z1 = 0;
      for (const V v : s) z1 += std::exp(static_cast<double>(v) - m1);
      lse1 = m1 + std::log(z1);
      row += alpha * (lse1 - static_cast<double>(s[labels[r]]));
    }
    total += row;
    if (dlogits.empty()) continue;
    for (std::size_t j = 0; j < classes; ++j) {
      const double q = std::exp(static_cast<double>(s[j]) / T - lse);
      double g = (1 - alpha) * T * (q - p[j]);
      if (alpha > 0) g += alpha * (std::exp(static_cast<double>(s[j]) - lse1) - (j == labels[r] ? 1.0 : 0.0));
      dlogits[r * classes + j] = static_cast<V>(g * inv_n);
    }
  }
  return total * inv_n;
}

} // namespace fedpp::distillation
