/// \file one_run_audit.hpp
/// Empirical DP auditing in one training run (Steinke, Nasr & Jagielski, NeurIPS 2023, "Privacy
/// Auditing with One (1) Training Run", arXiv:2305.08846).
///
/// m canaries are each included in the training input independently with probability ½ (S_i ∈
/// {−1, +1}); after the run the auditor scores every canary, guesses "in" for the k₊ highest
/// scores and "out" for the k₋ lowest and abstains on the rest (r = k₊ + k₋ guesses), and counts
/// v correct guesses. Their main theorem (Thm. 3.1) bounds what an (ε, δ)-DP mechanism allows:
///   P[V ≥ v] ≤ f(v) + 2mδ · max_{i ∈ {1..v}} (f(v − i) − f(v)) / i,
///   f(t) = P[Binomial(r, q) ≥ t],  q = e^ε / (1 + e^ε)  (ε-DP randomized response's accuracy),
/// the p-value the paper's appendix computes (p_value_DP_audit, with f(v−i) − f(v) = P[v − i ≤
/// Binomial(r, q) < v]). If that p-value is below β the mechanism is not (ε, δ)-DP at confidence
/// 1 − β; the ε lower bound is the largest such ε, found by bisection as the paper's
/// get_eps_audit does.
///
/// For DP-FedAvg a canary is a client whose update is a fixed vector of norm C (a "Dirac" canary:
/// C times a distinct coordinate vector, so canaries do not interfere), and a white-box auditor
/// scores it by the released noisy sums' value on that coordinate, summed over rounds.
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/random/rng.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <numeric>
#include <span>
#include <string>
#include <vector>

namespace fedpp::audit {

namespace detail {
/// log P[Binomial(r, q) = k] for all k = 0..r, with log q and log(1 − q) given.
inline std::vector<double> binomial_log_pmf(std::size_t r, double log_q, double log_1mq) {
  std::vector<double> out(r + 1);
  const double lr = std::lgamma(static_cast<double>(r) + 1);
  for (std::size_t k = 0; k <= r; ++k) {
    const double kd = static_cast<double>(k), rest = static_cast<double>(r - k);
    out[k] = lr - std::lgamma(kd + 1) - std::lgamma(rest + 1) + (k ? kd * log_q : 0.0) +
             (r - k ? rest * log_1mq : 0.0);
  }
  return out;
}

inline void check_counts(const char* who, std::size_t m, std::size_t r, std::size_t v) {
  if (!(v <= r && r <= m))
    throw invalid_config(std::string(who) + ": needs correct <= guesses <= canaries, got " +
                         std::to_string(v) + " correct of " + std::to_string(r) + " guesses over " +
                         std::to_string(m) + " canaries");
}
} // namespace detail

/// The p-value of v or more correct guesses out of r, m canaries, under the hypothesis that the
/// mechanism is (ε, δ)-DP (see the file comment), capped at 1. Throws invalid_config unless
/// v ≤ r ≤ m, ε ≥ 0 (finite) and δ ∈ [0, 1].
[[nodiscard]] inline double one_run_p_value(std::size_t m, std::size_t r, std::size_t v, double epsilon,
                                            double delta) {
  detail::check_counts("one_run_p_value", m, r, v);
  if (!(epsilon >= 0) || !std::isfinite(epsilon) || !(delta >= 0 && delta <= 1))
    throw invalid_config("one_run_p_value: needs finite epsilon >= 0 and delta in [0, 1], got epsilon " +
                         std::to_string(epsilon) + ", delta " + std::to_string(delta));
  const double log_q = -std::log1p(std::exp(-epsilon));             // log(e^ε / (1 + e^ε))
  const double log_1mq = -epsilon - std::log1p(std::exp(-epsilon)); // log(1 / (1 + e^ε))
  const auto lp = detail::binomial_log_pmf(r, log_q, log_1mq);
  double tail = 0; // f(v) = P[Bin ≥ v]
  for (std::size_t k = v; k <= r; ++k) tail += std::exp(lp[k]);
  double worst = 0, window = 0; // max_i P[v − i ≤ Bin < v] / i
  for (std::size_t i = 1; i <= v; ++i) {
    window += std::exp(lp[v - i]);
    worst = std::max(worst, window / static_cast<double>(i));
  }
  return std::min(1.0, tail + 2 * static_cast<double>(m) * delta * worst);
}

/// The ε lower bound at confidence 1 − β: the largest ε whose p-value is below β (bisection to a
/// relative 1e-9 between a bracket found by doubling from 1). 0 when even ε = 0 is not rejected.
/// Throws invalid_config for the one_run_p_value refusals and β outside (0, 1).
[[nodiscard]] inline double one_run_epsilon_lower_bound(std::size_t m, std::size_t r, std::size_t v,
                                                        double delta, double beta = 0.05) {
  if (!(beta > 0 && beta < 1))
    throw invalid_config("one_run_epsilon_lower_bound: beta must be in (0, 1), got " + std::to_string(beta));
  const auto p = [&](double eps) { return one_run_p_value(m, r, v, eps, delta); };
  if (p(0) >= beta) return 0;
  double lo = 0, hi = 1;
  while (p(hi) < beta) {
    lo = hi;
    hi *= 2;
    if (hi > 1e4) return std::numeric_limits<double>::infinity(); // not reached for finite r
  }
  for (int it = 0; it < 200 && hi - lo > 1e-9 * hi; ++it) {
    const double mid = 0.5 * (lo + hi);
    (p(mid) < beta ? lo : hi) = mid;
  }
  return lo;
}

/// Guesses and how many were right.
struct canary_guesses {
  std::size_t guesses = 0; ///< r = k₊ + k₋
  std::size_t correct = 0; ///< v
};

/// Guesses "in" for the k₊ highest scores and "out" for the k₋ lowest (ties broken by index),
/// and counts the correct guesses against `included` (1 = the canary was in the input). Throws
/// invalid_config when sizes differ, a score is not finite, an inclusion flag is not 0/1 or
/// k₊ + k₋ > m.
[[nodiscard]] inline canary_guesses guess_canaries(std::span<const double> scores,
                                                   std::span<const std::uint8_t> included, std::size_t k_plus,
                                                   std::size_t k_minus) {
  const std::size_t m = scores.size();
  if (included.size() != m || k_plus > m || k_minus > m - k_plus)
    throw invalid_config("guess_canaries: " + std::to_string(m) + " scores, " +
                         std::to_string(included.size()) +
                         " inclusion flags, k+ = " + std::to_string(k_plus) +
                         ", k- = " + std::to_string(k_minus) + " (need equal sizes and k+ + k- <= m)");
  for (std::size_t i = 0; i < m; ++i)
    if (!std::isfinite(scores[i]) || included[i] > 1)
      throw invalid_config("guess_canaries: canary " + std::to_string(i) +
                           " has a non-finite score or flag " + std::to_string(included[i]));
  std::vector<std::size_t> order(m);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return scores[a] > scores[b]; });
  canary_guesses out{k_plus + k_minus, 0};
  for (std::size_t i = 0; i < k_plus; ++i) out.correct += included[order[i]] == 1;
  for (std::size_t i = 0; i < k_minus; ++i) out.correct += included[order[m - 1 - i]] == 0;
  return out;
}

/// Independent fair coins for m canaries from fedpp::rng(seed): 1 = included.
[[nodiscard]] inline std::vector<std::uint8_t> draw_canary_inclusion(std::size_t m, std::uint64_t seed) {
  rng gen(seed);
  std::vector<std::uint8_t> in(m);
  for (auto& b : in) b = static_cast<std::uint8_t>(gen() >> 63);
  return in;
}

/// One audit's outcome.
struct one_run_audit_result {
  std::size_t canaries = 0;       ///< m
  canary_guesses guesses{};       ///< r and v
  double epsilon_lower_bound = 0; ///< at confidence 1 − β, for the given δ
};

/// guess_canaries, then one_run_epsilon_lower_bound(m, r, v, δ, β).
[[nodiscard]] inline one_run_audit_result one_run_audit(std::span<const double> scores,
                                                        std::span<const std::uint8_t> included,
                                                        std::size_t k_plus, std::size_t k_minus, double delta,
                                                        double beta = 0.05) {
  one_run_audit_result out;
  out.canaries = scores.size();
  out.guesses = guess_canaries(scores, included, k_plus, k_minus);
  out.epsilon_lower_bound =
      one_run_epsilon_lower_bound(out.canaries, out.guesses.guesses, out.guesses.correct, delta, beta);
  return out;
}

} // namespace fedpp::audit
