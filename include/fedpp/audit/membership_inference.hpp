/// \file membership_inference.hpp
/// Membership inference scores against a trained (global) model, from per-example quantities the
/// caller computes with its own model:
///
/// - loss threshold (Yeom et al. 2018, "Privacy Risk in Machine Learning: Analyzing the Connection
///   to Overfitting", Sec. 3.2): "member when the loss is below τ"; the score is −loss;
/// - offline LiRA (Carlini et al. 2022, "Membership Inference Attacks From First Principles",
///   Sec. IV and Algorithm 1, offline variant): the attacker trains K shadow models on data that
///   excludes the targets ("OUT" models), fits per example a Gaussian N(μ_out, σ²_out) to the
///   logit-scaled confidence φ = log(p_y / (1 − p_y)) those models give it, and scores the target
///   model's φ by the one-sided test Λ = Pr[Z ≤ φ_obs], Z ~ N(μ_out, σ²_out). The score returned is
///   −log Pr[Z > φ_obs] (monotone in Λ, and finite far into the tail that low false-positive rates
///   read). With few shadow models the paper fits one global σ_out (its "fixed variance").
///
/// All of it is arithmetic over spans; roc.hpp turns scores into AUC and TPR at a low FPR.
#pragma once

#include "fedpp/error.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numbers>
#include <span>
#include <string>
#include <vector>

namespace fedpp::audit {

/// Loss-threshold scores (Yeom et al. 2018): −loss per example (higher = more likely a member).
/// Throws invalid_config for a non-finite or negative loss.
[[nodiscard]] inline std::vector<double> loss_threshold_scores(std::span<const double> losses) {
  std::vector<double> scores(losses.size());
  for (std::size_t i = 0; i < losses.size(); ++i) {
    if (!std::isfinite(losses[i]) || losses[i] < 0)
      throw invalid_config("loss_threshold_scores: loss " + std::to_string(i) + " is " +
                           std::to_string(losses[i]) + ", expected a finite value >= 0");
    scores[i] = -losses[i];
  }
  return scores;
}

/// Logit-scaled confidence of class `label` from one row of logits: φ = log(p_y / (1 − p_y))
/// = z_y − log Σ_{j≠y} exp(z_j), computed without forming p (stable for p_y near 1).
/// Throws invalid_config for fewer than 2 classes, a label out of range or a non-finite logit.
template <class T>
[[nodiscard]] double logit_confidence(std::span<const T> logits, std::size_t label) {
  if (logits.size() < 2 || label >= logits.size())
    throw invalid_config("logit_confidence: label " + std::to_string(label) + " for " +
                         std::to_string(logits.size()) + " logits (need >= 2 classes and label < classes)");
  double top = -HUGE_VAL;
  for (std::size_t j = 0; j < logits.size(); ++j) {
    if (!std::isfinite(static_cast<double>(logits[j])))
      throw invalid_config("logit_confidence: logit " + std::to_string(j) + " is not finite");
    if (j != label) top = std::max(top, static_cast<double>(logits[j]));
  }
  double sum = 0;
  for (std::size_t j = 0; j < logits.size(); ++j)
    if (j != label) sum += std::exp(static_cast<double>(logits[j]) - top);
  return static_cast<double>(logits[label]) - (top + std::log(sum));
}

/// log Pr[Z > t] for Z ~ N(0, 1), accurate in both tails (erfc, then the asymptotic series
/// log φ(t) − log t + log(1 − 1/t² + 3/t⁴) once erfc underflows).
[[nodiscard]] inline double log_normal_upper_tail(double t) noexcept {
  if (t < 30) return std::log(0.5 * std::erfc(t / std::numbers::sqrt2));
  const double t2 = t * t;
  return -0.5 * t2 - std::log(t) - 0.5 * std::log(2 * std::numbers::pi) + std::log1p(-1 / t2 + 3 / (t2 * t2));
}

/// How LiRA estimates σ_out.
enum class lira_variance {
  per_example, ///< each example's own σ_out over the K shadow models (the paper with many shadows)
  global,      ///< one σ_out: the root mean of the per-example variances ("fixed variance", few shadows)
};

/// Offline LiRA scores (see the file comment). `target[i]` is φ of example i under the attacked
/// model; `shadow` holds K values per example, row-major (n × K): φ of example i under each OUT
/// shadow model. μ_out is the per-example mean, σ_out the population standard deviation (per
/// example or global, `variance`), floored at `min_stddev`. Throws invalid_config for K < 2, sizes
/// that do not match, non-finite values or min_stddev ≤ 0.
[[nodiscard]] inline std::vector<double>
lira_offline_scores(std::span<const double> target, std::span<const double> shadow, std::size_t num_shadows,
                    lira_variance variance = lira_variance::global, double min_stddev = 1e-6) {
  const std::size_t n = target.size(), k = num_shadows;
  if (k < 2)
    throw invalid_config("lira_offline_scores: needs at least 2 shadow models, got " + std::to_string(k));
  if (shadow.size() / k != n || shadow.size() % k != 0)
    throw invalid_config("lira_offline_scores: " + std::to_string(shadow.size()) + " shadow values for " +
                         std::to_string(n) + " examples x " + std::to_string(k) + " shadow models");
  if (!(min_stddev > 0) || !std::isfinite(min_stddev))
    throw invalid_config("lira_offline_scores: min_stddev must be finite and > 0, got " +
                         std::to_string(min_stddev));
  for (std::size_t i = 0; i < shadow.size(); ++i)
    if (!std::isfinite(shadow[i]))
      throw invalid_config("lira_offline_scores: shadow value " + std::to_string(i) + " is not finite");
  for (std::size_t i = 0; i < n; ++i)
    if (!std::isfinite(target[i]))
      throw invalid_config("lira_offline_scores: target value " + std::to_string(i) + " is not finite");
  std::vector<double> mean(n), var(n);
  double mean_var = 0;
  for (std::size_t i = 0; i < n; ++i) {
    double m = 0;
    for (std::size_t j = 0; j < k; ++j) m += shadow[i * k + j];
    m /= static_cast<double>(k);
    double v = 0;
    for (std::size_t j = 0; j < k; ++j) v += (shadow[i * k + j] - m) * (shadow[i * k + j] - m);
    mean[i] = m;
    var[i] = v / static_cast<double>(k);
    mean_var += var[i] / static_cast<double>(n == 0 ? 1 : n);
  }
  std::vector<double> scores(n);
  for (std::size_t i = 0; i < n; ++i) {
    const double sd = std::max(min_stddev, std::sqrt(variance == lira_variance::global ? mean_var : var[i]));
    scores[i] = -log_normal_upper_tail((target[i] - mean[i]) / sd);
  }
  return scores;
}

} // namespace fedpp::audit
