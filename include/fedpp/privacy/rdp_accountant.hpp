/// \file rdp_accountant.hpp
/// Rényi-DP accountant for the Poisson-subsampled Gaussian mechanism (Mironov, Talwar, Zhang 2019,
/// "Rényi Differential Privacy of the Sampled Gaussian Mechanism"), composed over rounds by adding
/// RDP at each order (Mironov 2017, Prop. 1), converted to (ε, δ) with the improved conversion of
/// Balle et al. 2020 ("Hypothesis Testing Interpretations and Renyi Differential Privacy", Thm. 21):
///   ε(δ) = min_α  RDP(α) + log((α−1)/α) − (log δ + log α)/(α − 1).
/// Adjacency: add/remove one client (one example for DP-SGD); sensitivity 1, σ = noise multiplier.
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/privacy/detail/log_math.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace fedpp::privacy {

/// The default order grid: TensorFlow Privacy's / Opacus's
/// [1 + x/10 for x in 1..99] ∪ [12..63], plus 128, 256, 512 as in dp_accounting.
inline std::vector<double> default_rdp_orders() {
  std::vector<double> orders;
  for (int x = 1; x < 100; ++x) orders.push_back(1.0 + x / 10.0);
  for (int a = 12; a < 64; ++a) orders.push_back(a);
  for (double a : {128.0, 256.0, 512.0}) orders.push_back(a);
  return orders;
}

namespace detail {

inline void check_sgm(double q, double sigma, const char* who) {
  if (!(q > 0 && q <= 1))
    throw invalid_config(std::string(who) + ": sampling rate q = " + std::to_string(q) +
                         " must be in (0, 1]");
  if (!(sigma > 0) || !std::isfinite(sigma))
    throw invalid_config(std::string(who) + ": noise multiplier sigma = " + std::to_string(sigma) +
                         " must be positive and finite");
}

/// log A_α for integer α (MTZ 2019, Sec. 3.3):
/// A_α = Σ_{k=0}^{α} binom(α,k) (1−q)^{α−k} q^k exp((k² − k)/(2σ²)).
inline double log_a_int(double q, double sigma, int alpha) {
  double log_a = neg_inf;
  for (int k = 0; k <= alpha; ++k) {
    const double term = log_abs_binom(alpha, k) + k * std::log(q) + (alpha - k) * std::log1p(-q) +
                        (k * k - k) / (2 * sigma * sigma);
    log_a = log_add(log_a, term);
  }
  return log_a;
}

/// log A_α for fractional α (MTZ 2019, Sec. 3.3): the integral split at
/// z₀ = σ² log(1/q − 1) + 1/2 and both halves expanded in the generalized binomial series,
///   A = Σ_i binom(α,i) [ q^i (1−q)^{α−i} e^{(i²−i)/(2σ²)} ½ erfc((i − z₀)/(√2 σ))
///                      + q^{α−i} (1−q)^i e^{((α−i)²−(α−i))/(2σ²)} ½ erfc((z₀ − (α−i))/(√2 σ)) ].
inline double log_a_frac(double q, double sigma, double alpha) {
  double log_a0 = neg_inf, log_a1 = neg_inf;
  const double z0 = sigma * sigma * std::log(1 / q - 1) + 0.5;
  const double s2 = std::sqrt(2.0) * sigma;
  for (int i = 0; i < 100000; ++i) {
    const double coef = log_abs_binom(alpha, i);
    const int sign = binom_sign(alpha, i);
    const double j = alpha - i;
    const double t0 = coef + i * std::log(q) + j * std::log1p(-q);
    const double t1 = coef + j * std::log(q) + i * std::log1p(-q);
    const double e0 = std::log(0.5) + log_erfc((i - z0) / s2);
    const double e1 = std::log(0.5) + log_erfc((z0 - j) / s2);
    const double s0 = t0 + (i * i - i) / (2 * sigma * sigma) + e0;
    const double s1 = t1 + (j * j - j) / (2 * sigma * sigma) + e1;
    if (sign > 0) {
      log_a0 = log_add(log_a0, s0);
      log_a1 = log_add(log_a1, s1);
    } else {
      log_a0 = log_sub(log_a0, s0);
      log_a1 = log_sub(log_a1, s1);
    }
    if (std::max(s0, s1) < -30) break;
  }
  return log_add(log_a0, log_a1);
}

} // namespace detail

/// RDP ε_α of one step of the Poisson-subsampled Gaussian mechanism with sampling rate q and
/// noise multiplier σ, at order α > 1: log(A_α)/(α − 1); q = 1 gives the Gaussian α/(2σ²).
inline double sampled_gaussian_rdp(double q, double sigma, double alpha) {
  detail::check_sgm(q, sigma, "sampled_gaussian_rdp");
  if (!(alpha > 1))
    throw invalid_config("sampled_gaussian_rdp: order alpha = " + std::to_string(alpha) + " must be > 1");
  if (q == 1.0) return alpha / (2 * sigma * sigma);
  if (std::isinf(alpha)) return std::numeric_limits<double>::infinity();
  const double log_a = alpha == std::floor(alpha) ? detail::log_a_int(q, sigma, static_cast<int>(alpha))
                                                  : detail::log_a_frac(q, sigma, alpha);
  return log_a / (alpha - 1);
}

/// (ε, δ) from RDP values by Balle et al. 2020, Thm. 21 (the conversion TF Privacy and Opacus use),
/// minimized over the orders; also the order that attains it.
struct rdp_conversion {
  double epsilon = 0; ///< the smallest ε over the orders
  double order = 0;   ///< the order that gives it
};

/// ε(δ) = min_α rdp(α) + log1p(−1/α) − (log δ + log α)/(α − 1), clamped at 0.
inline rdp_conversion rdp_to_epsilon(const std::vector<double>& orders, const std::vector<double>& rdp,
                                     double delta) {
  if (!(delta > 0 && delta < 1))
    throw invalid_config("rdp_to_epsilon: delta = " + std::to_string(delta) + " must be in (0, 1)");
  if (orders.size() != rdp.size() || orders.empty())
    throw invalid_config("rdp_to_epsilon: " + std::to_string(orders.size()) + " orders but " +
                         std::to_string(rdp.size()) + " RDP values");
  rdp_conversion best{std::numeric_limits<double>::infinity(), 0};
  for (std::size_t i = 0; i < orders.size(); ++i) {
    const double a = orders[i];
    const double eps = rdp[i] + std::log1p(-1 / a) - (std::log(delta) + std::log(a)) / (a - 1);
    if (eps < best.epsilon) best = {eps, a};
  }
  best.epsilon = std::max(0.0, best.epsilon);
  return best;
}

/// Composes Poisson-subsampled Gaussian steps (possibly heterogeneous: σ or q may change across
/// rounds) by summing RDP per order, and reports (ε, δ).
class rdp_accountant {
public:
  /// An accountant over `orders` (each > 1); the default grid is default_rdp_orders().
  explicit rdp_accountant(std::vector<double> orders = default_rdp_orders())
      : orders_(std::move(orders)), rdp_(orders_.size(), 0.0) {
    if (orders_.empty()) throw invalid_config("rdp_accountant: no orders");
    for (double a : orders_)
      if (!(a > 1)) throw invalid_config("rdp_accountant: order " + std::to_string(a) + " must be > 1");
  }

  /// Adds `steps` steps of the sampled Gaussian mechanism with rate q and noise multiplier σ.
  void compose(double q, double sigma, std::uint64_t steps = 1) {
    detail::check_sgm(q, sigma, "rdp_accountant::compose");
    std::vector<double> next = rdp_; // strong guarantee
    for (std::size_t i = 0; i < orders_.size(); ++i)
      next[i] += static_cast<double>(steps) * sampled_gaussian_rdp(q, sigma, orders_[i]);
    rdp_ = std::move(next);
    steps_ += steps;
  }

  /// ε spent at δ (Balle et al. 2020 conversion).
  [[nodiscard]] double epsilon(double delta) const { return rdp_to_epsilon(orders_, rdp_, delta).epsilon; }
  /// ε and the order that gives it.
  [[nodiscard]] rdp_conversion conversion(double delta) const { return rdp_to_epsilon(orders_, rdp_, delta); }
  /// The orders.
  [[nodiscard]] const std::vector<double>& orders() const noexcept { return orders_; }
  /// Composed RDP at each order.
  [[nodiscard]] const std::vector<double>& rdp() const noexcept { return rdp_; }
  /// Steps composed so far.
  [[nodiscard]] std::uint64_t steps() const noexcept { return steps_; }

private:
  std::vector<double> orders_;
  std::vector<double> rdp_;
  std::uint64_t steps_ = 0;
};

} // namespace fedpp::privacy
