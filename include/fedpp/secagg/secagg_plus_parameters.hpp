/// \file secagg_plus_parameters.hpp
/// Chooses the SecAgg+ neighbourhood size k and threshold t from the number of clients and the
/// dropout and adversary rates the user states (Bell et al., CCS 2020, §4, in a simplified form
/// with explicit binomial tails and a union bound over the n clients):
///
/// - each client's secrets are held by its k neighbours and itself (k + 1 holders);
/// - correctness: a secret must stay recoverable, P[Bin(k, 1 − δ) < t] ≤ 2^−η / n, with δ the
///   probability that a client drops out at some point of the round;
/// - privacy: the server plus the corrupted clients (each independently with probability γ) must
///   not gather t shares of both secrets of one honest client. Honest holders reveal one of the two
///   for each client, so this needs 2t − (k + 1) > #corrupted neighbours:
///   P[Bin(k, γ) ≥ 2t − (k + 1)] ≤ 2^−σ / n (with γ = 0: 2t > k + 1).
///
/// The smallest even k (then the smallest t) meeting both is returned; k grows as O(log n) for
/// fixed rates, against n − 1 for SecAgg. When even k = n − 1 fails, the rates are refused.
/// The threshold is never below 2 (Shamir with t = 1 hands the secret to every holder), and
/// sigma/eta must be finite and positive, so a degenerate budget cannot produce one either.
#pragma once

#include "fedpp/error.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>

namespace fedpp::secagg {

/// k and t for a round of SecAgg+.
struct secagg_plus_parameters {
  std::size_t degree = 0;    ///< k: neighbours per client (n − 1: complete graph)
  std::size_t threshold = 0; ///< t: shares needed among the k + 1 holders

  /// See the file comment. `dropout_rate` δ ∈ [0, 1), `adversary_rate` γ ∈ [0, 0.5),
  /// `sigma`/`eta`: security and correctness parameters in bits.
  [[nodiscard]] static secagg_plus_parameters choose(std::size_t num_clients, double dropout_rate,
                                                     double adversary_rate, double sigma = 40,
                                                     double eta = 20) {
    if (num_clients < 2) throw invalid_config("secagg_plus_parameters: needs at least 2 clients");
    if (!(dropout_rate >= 0 && dropout_rate < 1))
      throw invalid_config("secagg_plus_parameters: dropout_rate " + std::to_string(dropout_rate) +
                           " is outside [0, 1)");
    if (!(adversary_rate >= 0 && adversary_rate < 0.5))
      throw invalid_config("secagg_plus_parameters: adversary_rate " + std::to_string(adversary_rate) +
                           " is outside [0, 0.5)");
    if (!(sigma > 0) || !std::isfinite(sigma))
      throw invalid_config("secagg_plus_parameters: sigma = " + std::to_string(sigma) +
                           " must be finite and > 0 (bits of privacy)");
    if (!(eta > 0) || !std::isfinite(eta))
      throw invalid_config("secagg_plus_parameters: eta = " + std::to_string(eta) +
                           " must be finite and > 0 (bits of correctness)");
    const double n = static_cast<double>(num_clients);
    const double log2_budget_sec = -sigma - std::log2(n);
    const double log2_budget_cor = -eta - std::log2(n);
    const std::size_t full = num_clients - 1;
    for (std::size_t k = 2;; k += 2) {
      const std::size_t kk = k >= full ? full : k;
      // t ≥ 2 always (t = 1 would make every share the secret itself; only kk = 1, n = 2, could
      // otherwise start there).
      for (std::size_t t = std::max<std::size_t>(2, kk / 2 + 1); t <= kk + 1; ++t) {
        const auto corrupt_limit = 2 * t - (kk + 1); // corrupted neighbours must stay below this
        const bool secure = log2_tail_at_least(kk, adversary_rate, corrupt_limit) <= log2_budget_sec;
        const bool correct = log2_tail_below(kk, 1 - dropout_rate, t) <= log2_budget_cor;
        if (secure && correct) return {kk, t};
        if (!correct) break; // larger t only loses correctness
      }
      if (kk == full)
        throw invalid_config(
            "secagg_plus_parameters: no (k, t) reaches 2^−" + std::to_string(sigma) + " privacy and 2^−" +
            std::to_string(eta) + " correctness failure with n = " + std::to_string(num_clients) +
            ", dropout_rate " + std::to_string(dropout_rate) + ", adversary_rate " +
            std::to_string(adversary_rate) + "; lower the rates or sigma/eta, or add clients");
    }
  }

  /// log2 P[Bin(k, p) ≥ m].
  [[nodiscard]] static double log2_tail_at_least(std::size_t k, double p, std::size_t m) {
    if (m == 0) return 0;
    if (m > k) return -std::numeric_limits<double>::infinity();
    if (p <= 0) return -std::numeric_limits<double>::infinity();
    double s = 0;
    for (std::size_t i = m; i <= k; ++i) s += std::exp(log_pmf(k, p, i));
    return std::log2(s);
  }
  /// log2 P[Bin(k, p) < m].
  [[nodiscard]] static double log2_tail_below(std::size_t k, double p, std::size_t m) {
    if (m == 0) return -std::numeric_limits<double>::infinity();
    if (p >= 1) return m > k ? 0 : -std::numeric_limits<double>::infinity();
    double s = 0;
    for (std::size_t i = 0; i < m && i <= k; ++i) s += std::exp(log_pmf(k, p, i));
    return std::log2(s);
  }

private:
  static double log_pmf(std::size_t k, double p, std::size_t i) {
    const double kd = static_cast<double>(k);
    const double id = static_cast<double>(i);
    const double lp = i == 0 ? 0 : id * std::log(p);
    const double lq = i == k ? 0 : (kd - id) * std::log1p(-p);
    return std::lgamma(kd + 1) - std::lgamma(id + 1) - std::lgamma(kd - id + 1) + lp + lq;
  }
};

} // namespace fedpp::secagg
