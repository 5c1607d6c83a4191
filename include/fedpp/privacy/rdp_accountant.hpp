/// \file rdp_accountant.hpp
/// Rényi-DP accountant for the Poisson-subsampled Gaussian mechanism (Mironov, Talwar, Zhang 2019,
/// "Rényi Differential Privacy of the Sampled Gaussian Mechanism"), composed over rounds by adding
/// RDP at each order (Mironov 2017, Prop. 1), converted to (ε, δ) with the improved conversion of
/// Balle et al. 2020 ("Hypothesis Testing Interpretations and Renyi Differential Privacy", Thm. 21):
///   ε(δ) = min_α  RDP(α) + log((α−1)/α) − (log δ + log α)/(α − 1).
/// Adjacency: add/remove one client (one example for DP-SGD); sensitivity 1, σ = noise multiplier.
/// Conventions (order grid, conversion, edge cases) are dp_accounting's `RdpAccountant`.
#pragma once

#include "fedpp/detail/state_io.hpp"
#include "fedpp/error.hpp"
#include "fedpp/privacy/detail/log_math.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <numbers>
#include <span>
#include <string>
#include <vector>

namespace fedpp::privacy {

/// The default order grid, dp_accounting's (`DEFAULT_RDP_ORDERS`, 0.4–0.6):
/// [1 + x/10 for x in 1..99] ∪ [11..63] ∪ {128, 256, 512, 1024}. (TF Privacy and Opacus use
/// [1 + x/10 for x in 1..99] ∪ [12..63]; `tf_privacy_rdp_orders()` gives that grid.)
inline std::vector<double> default_rdp_orders() {
  std::vector<double> orders;
  for (int x = 1; x < 100; ++x) orders.push_back(1.0 + x / 10.0);
  for (int a = 11; a < 64; ++a) orders.push_back(a);
  for (double a : {128.0, 256.0, 512.0, 1024.0}) orders.push_back(a);
  return orders;
}

/// TF Privacy's / Opacus's order grid: [1 + x/10 for x in 1..99] ∪ [12..63].
inline std::vector<double> tf_privacy_rdp_orders() {
  std::vector<double> orders;
  for (int x = 1; x < 100; ++x) orders.push_back(1.0 + x / 10.0);
  for (int a = 12; a < 64; ++a) orders.push_back(a);
  return orders;
}

/// The most steps an accountant takes in total: counts are doubles inside, exact up to 2^53.
inline constexpr std::uint64_t max_accounted_steps = std::uint64_t{1} << 53;

/// How the series for A_α at fractional α (MTZ 2019, Sec. 3.3) is summed.
enum class fractional_series {
  /// Adding the terms' magnitudes, as dp_accounting 0.5–0.6 do (the default, so that ε matches the
  /// reference): an upper bound on A_α, hence still a valid RDP bound, but larger than the exact
  /// value at small fractional orders (q = 0.1, σ = 2.5, α = 1.5: 0.001766 against 0.001290).
  term_magnitudes,
  /// With the signs of the generalized binomial coefficients: the exact value, as TF Privacy, Opacus
  /// and dp_accounting ≤ 0.4 compute it. Never larger than term_magnitudes.
  signed_terms,
};

namespace detail {

/// q ∈ [0, 1] (q = 0: nobody is sampled, no privacy loss), σ > 0 and finite.
inline void check_sgm(double q, double sigma, const char* who) {
  if (!(q >= 0 && q <= 1))
    throw invalid_config(std::string(who) + ": sampling rate q = " + std::to_string(q) + " must be in [0, 1]");
  if (!(sigma > 0) || !std::isfinite(sigma))
    throw invalid_config(std::string(who) + ": noise multiplier sigma = " + std::to_string(sigma) +
                         " must be positive and finite");
}

/// log A_α for integer α (MTZ 2019, Sec. 3.3), 0 < q < 1:
/// A_α = Σ_{k=0}^{α} binom(α,k) (1−q)^{α−k} q^k exp((k² − k)/(2σ²)).
/// `inv_2s2` = 1/(2σ²), finite (the caller handles σ² underflow).
inline double log_a_int(double q, double inv_2s2, int alpha) {
  double log_a = neg_inf;
  const double log_q = std::log(q), log_1mq = std::log1p(-q);
  for (int k = 0; k <= alpha; ++k) {
    const double kd = k;
    const double term = log_abs_binom(alpha, kd) + kd * log_q + (alpha - kd) * log_1mq + (kd * kd - kd) * inv_2s2;
    log_a = log_add(log_a, term);
  }
  return log_a;
}

/// log A_α for fractional α (MTZ 2019, Sec. 3.3): the integral split at
/// z₀ = σ² log(1/q − 1) + 1/2 and both halves expanded in the generalized binomial series,
///   A = Σ_i binom(α,i) [ q^i (1−q)^{α−i} e^{(i²−i)/(2σ²)} ½ erfc((i − z₀)/(√2 σ))
///                      + q^{α−i} (1−q)^i e^{((α−i)²−(α−i))/(2σ²)} ½ erfc((z₀ − (α−i))/(√2 σ)) ].
/// Terms are summed until both decrease and are below e^{−30} of the total (dp_accounting's rule);
/// +∞ (the order is then useless, never optimistic) if that has not happened after 1000 terms.
/// All index arithmetic is in double (no integer overflow).
inline double log_a_frac(double q, double sigma, double alpha,
                         fractional_series series = fractional_series::term_magnitudes) {
  double log_a0 = neg_inf, log_a1 = neg_inf;
  const double s2sq = 2 * sigma * sigma;
  const double z0 = sigma * sigma * (std::log1p(-q) - std::log(q)) + 0.5;
  const double s2 = std::numbers::sqrt2 * sigma;
  const double log_q = std::log(q), log_1mq = std::log1p(-q);
  double last0 = neg_inf, last1 = neg_inf;
  for (int step = 0; step < 1000; ++step) {
    const double i = step;
    const double coef = log_abs_binom(alpha, i);
    const int sign = series == fractional_series::signed_terms ? binom_sign(alpha, i) : 1;
    const double j = alpha - i;
    const double t0 = coef + i * log_q + j * log_1mq;
    const double t1 = coef + j * log_q + i * log_1mq;
    const double e0 = std::log(0.5) + log_erfc((i - z0) / s2);
    const double e1 = std::log(0.5) + log_erfc((z0 - j) / s2);
    const double s0 = t0 + (i * i - i) / s2sq + e0;
    const double s1 = t1 + (j * j - j) / s2sq + e1;
    if (std::isnan(s0) || std::isnan(s1)) return std::numeric_limits<double>::infinity();
    if (sign > 0) {
      log_a0 = log_add(log_a0, s0);
      log_a1 = log_add(log_a1, s1);
    } else {
      log_a0 = log_sub(log_a0, s0);
      log_a1 = log_sub(log_a1, s1);
    }
    const double total = log_add(log_a0, log_a1);
    if (s0 < last0 && s1 < last1 && std::max(s0, s1) < total - 30) return total;
    last0 = s0;
    last1 = s1;
  }
  return std::numeric_limits<double>::infinity();
}

} // namespace detail

/// RDP ε_α of one step of the Poisson-subsampled Gaussian mechanism with sampling rate q ∈ [0, 1]
/// and noise multiplier σ > 0, at order α > 1: log(A_α)/(α − 1); q = 1 gives the Gaussian α/(2σ²),
/// q = 0 gives 0. Never UB: when 1/(2σ²) overflows (σ ≲ 1e-154) or a term diverges, the value is
/// +∞ (test with std::isinf); for huge σ it underflows to 0. Where the fractional-order series
/// does not converge within 1000 terms, the Jensen bound log(1 − q + q e^{α(α−1)/(2σ²)})/(α − 1) is
/// used instead (dp_accounting excludes such an order; both are valid, ours is never larger). With
/// signed_terms the value is also capped by that bound.
inline double sampled_gaussian_rdp(double q, double sigma, double alpha,
                                   fractional_series series = fractional_series::term_magnitudes) {
  detail::check_sgm(q, sigma, "sampled_gaussian_rdp");
  if (!(alpha > 1))
    throw invalid_config("sampled_gaussian_rdp: order alpha = " + std::to_string(alpha) + " must be > 1");
  if (q == 0) return 0;
  if (std::isinf(alpha)) return std::numeric_limits<double>::infinity();
  const double inv_2s2 = 1 / (2 * sigma * sigma);
  const double gaussian = alpha * inv_2s2; // RDP of the unsampled Gaussian, an upper bound for any q
  if (q == 1.0 || !(gaussian > 0)) return gaussian; // +∞ when σ² underflows, 0 when it overflows
  if (!std::isfinite(inv_2s2)) return std::numeric_limits<double>::infinity();
  double log_a = 0;
  if (alpha == std::floor(alpha) && alpha <= 1e6)
    log_a = detail::log_a_int(q, inv_2s2, static_cast<int>(alpha));
  else
    log_a = detail::log_a_frac(q, sigma, alpha, series);
  // Jensen on (1 − q + q r)^α ≤ 1 − q + q r^α: A_α ≤ 1 − q + q e^{α(α−1)/(2σ²)}, a valid RDP bound
  // that replaces an order whose series did not converge (dp_accounting drops such orders).
  const double cap =
      std::min(gaussian, detail::log_add(std::log1p(-q), std::log(q) + alpha * (alpha - 1) * inv_2s2) / (alpha - 1));
  const double r = log_a / (alpha - 1);
  if (std::isnan(r) || std::isinf(r)) return cap;
  // the magnitude sum is left as dp_accounting computes it (it may exceed the cap)
  return series == fractional_series::signed_terms ? std::min(r, cap) : r;
}

/// (ε, δ) from RDP values by Balle et al. 2020, Thm. 21 (the conversion TF Privacy and Opacus use),
/// minimized over the orders; also the order that attains it.
struct rdp_conversion {
  double epsilon = 0; ///< the smallest ε over the orders
  double order = 0;   ///< the order that gives it
};

/// ε(δ) = min_α rdp(α) + log1p(−1/α) − (log δ + log α)/(α − 1), clamped at 0, as dp_accounting's
/// `compute_epsilon`: an order with rdp(α) < 0 (round-off) gives 0; an order whose RDP is below the KL
/// bound (δ² > 1 − e^{−rdp(α)}, δ ≤ sqrt(1 − e^{−KL})) gives 0; orders ≤ 1.01 are skipped (the
/// conversion is unstable there). +∞ (order 0) when every order's RDP is +∞.
inline rdp_conversion rdp_to_epsilon(const std::vector<double>& orders, const std::vector<double>& rdp,
                                     double delta) {
  if (!(delta > 0 && delta < 1))
    throw invalid_config("rdp_to_epsilon: delta = " + std::to_string(delta) + " must be in (0, 1)");
  if (orders.size() != rdp.size() || orders.empty())
    throw invalid_config("rdp_to_epsilon: " + std::to_string(orders.size()) + " orders but " +
                         std::to_string(rdp.size()) + " RDP values");
  rdp_conversion best{std::numeric_limits<double>::infinity(), 0};
  for (std::size_t i = 0; i < orders.size(); ++i) {
    const double a = orders[i], r = rdp[i];
    if (std::isnan(r)) continue;
    double eps = std::numeric_limits<double>::infinity();
    if (r < 0 || delta * delta + std::expm1(-r) > 0)
      eps = 0;
    else if (a > 1.01)
      eps = r + std::log1p(-1 / a) - (std::log(delta) + std::log(a)) / (a - 1);
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
  /// `series`: the default reproduces dp_accounting 0.5–0.6; fractional_series::signed_terms gives
  /// the exact (never larger) RDP at fractional orders, as TF Privacy and Opacus.
  explicit rdp_accountant(std::vector<double> orders = default_rdp_orders(),
                          fractional_series series = fractional_series::term_magnitudes)
      : orders_(std::move(orders)), rdp_(orders_.size(), 0.0), series_(series) {
    if (orders_.empty()) throw invalid_config("rdp_accountant: no orders");
    for (double a : orders_)
      if (!(a > 1)) throw invalid_config("rdp_accountant: order " + std::to_string(a) + " must be > 1");
  }

  /// Adds `steps` steps of the sampled Gaussian mechanism with rate q ∈ [0, 1] and noise multiplier
  /// σ > 0. Throws invalid_config, leaving the accountant unchanged, on bad arguments or when the
  /// total would exceed 2^53 steps. RDP values may become +∞ (σ too small): ε is then +∞.
  void compose(double q, double sigma, std::uint64_t steps = 1) {
    detail::check_sgm(q, sigma, "rdp_accountant::compose");
    if (steps > max_accounted_steps || steps_ > max_accounted_steps - steps)
      throw invalid_config("rdp_accountant::compose: " + std::to_string(steps_) + " + " + std::to_string(steps) +
                           " steps exceed 2^53");
    if (steps == 0) return;
    std::vector<double> next = rdp_; // strong guarantee
    for (std::size_t i = 0; i < orders_.size(); ++i)
      next[i] += static_cast<double>(steps) * sampled_gaussian_rdp(q, sigma, orders_[i], series_);
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
  /// How fractional orders are summed.
  [[nodiscard]] fractional_series series() const noexcept { return series_; }

  /// The accountant as bytes, for checkpoints: ["FPRA"][version u8 = 1][series u8][reserved u16 = 0]
  /// [n u64][steps u64][orders n × f64][composed RDP n × f64], little-endian.
  [[nodiscard]] std::vector<std::byte> to_bytes() const {
    std::vector<std::byte> out;
    fedpp::detail::state_writer w(out);
    w.bytes(std::as_bytes(std::span<const char>("FPRA", 4)));
    w.u8(1);
    w.u8(static_cast<std::uint8_t>(series_));
    w.zeros(2);
    w.u64(orders_.size());
    w.u64(steps_);
    w.values(std::span<const double>(orders_));
    w.values(std::span<const double>(rdp_));
    return out;
  }

  /// Rebuilds an accountant from to_bytes()'s output. Saved bytes are input: throws
  /// malformed_message for a bad magic or version, an unknown series, a reserved field other than
  /// 0, a count the bytes do not hold (checked before anything is allocated), an order that is
  /// not finite and > 1, an RDP value that is NaN or negative (+∞ is a state compose can reach),
  /// more than 2^53 steps, or RDP values other than +0 after 0 steps. Accepted bytes re-encode
  /// (to_bytes) to the same bytes.
  [[nodiscard]] static rdp_accountant restore(std::span<const std::byte> bytes) {
    fedpp::detail::state_reader r("rdp_accountant::restore", bytes);
    const auto magic = r.bytes(4, "magic");
    if (std::memcmp(magic.data(), "FPRA", 4) != 0) r.fail("bad magic (not a saved rdp_accountant)");
    const std::uint8_t version = r.u8("version");
    if (version != 1) r.fail("unsupported version " + std::to_string(version));
    const std::uint8_t series = r.u8("series");
    if (series > static_cast<std::uint8_t>(fractional_series::signed_terms))
      r.fail("unknown fractional series " + std::to_string(series));
    r.expect_zero(r.u8("reserved byte 6"), "reserved byte 6");
    r.expect_zero(r.u8("reserved byte 7"), "reserved byte 7");
    const std::uint64_t declared = r.u64("order count");
    const std::uint64_t steps = r.u64("steps");
    const std::size_t n = r.count(declared, 16, "orders and RDP values");
    if (n == 0) r.fail("no orders");
    std::vector<double> orders(n), rdp(n);
    r.values(std::span<double>(orders), "orders");
    r.values(std::span<double>(rdp), "RDP values");
    r.expect_end("after the RDP values");
    if (steps > max_accounted_steps) r.fail(std::to_string(steps) + " steps exceed 2^53");
    for (std::size_t i = 0; i < n; ++i) {
      if (!(orders[i] > 1) || !std::isfinite(orders[i]))
        r.fail("order " + std::to_string(i) + " is " + std::to_string(orders[i]) +
               ", expected finite and > 1");
      if (std::isnan(rdp[i]) || rdp[i] < 0 || std::signbit(rdp[i]))
        r.fail("RDP at order " + std::to_string(orders[i]) + " is " + std::to_string(rdp[i]) +
               ", expected >= +0 or +inf");
      if (steps == 0 && rdp[i] != 0)
        r.fail("RDP at order " + std::to_string(orders[i]) + " is " + std::to_string(rdp[i]) +
               " after 0 steps");
    }
    rdp_accountant out(std::move(orders), static_cast<fractional_series>(series));
    out.rdp_ = std::move(rdp);
    out.steps_ = steps;
    return out;
  }

private:
  std::vector<double> orders_;
  std::vector<double> rdp_;
  fractional_series series_;
  std::uint64_t steps_ = 0;
};

} // namespace fedpp::privacy
