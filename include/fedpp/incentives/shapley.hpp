/// \file shapley.hpp
/// Shapley values of a cooperative game given as a coalition_utility: exact (all 2^n coalitions)
/// for small games, and Monte Carlo permutation sampling with optional truncation
/// (TMC-Shapley, Ghorbani & Zou 2019, "Data Shapley: Equitable Valuation of Data for Machine
/// Learning", Algorithm 1) for larger ones.
///
/// Shapley value (Shapley 1953), for n players and utility v:
///
///   φ_i = Σ_{S ⊆ N∖{i}} |S|! (n − |S| − 1)! / n! · ( v(S ∪ {i}) − v(S) )
///       = E_π [ v(P_i^π ∪ {i}) − v(P_i^π) ]      (π uniform over the n! orderings, P_i^π the
///                                                  players before i in π)
///
/// It is the one value with these properties (Shapley's axioms), which the tests check on games
/// whose values are known (glove, weighted majority, additive, airport):
/// - efficiency: Σ_i φ_i = v(N) − v(∅);
/// - symmetry: players with v(S ∪ {i}) = v(S ∪ {j}) for every S ∌ i, j get φ_i = φ_j;
/// - null player: a player with v(S ∪ {i}) = v(S) for every S gets φ_i = 0;
/// - additivity: φ(v + w) = φ(v) + φ(w).
///
/// exact_shapley evaluates each of the 2^n coalitions once (n ≤ exact_shapley_max_players = 20:
/// 2^20 evaluations and 8 MiB of values) and sums with the weights 1/(n·C(n−1, |S|)).
///
/// permutation_shapley samples orderings (Fisher–Yates on fedpp::rng, so a seed fixes the result on
/// every platform) and averages each player's marginal contributions; without truncation the
/// estimate is unbiased with variance Var_π(marginal_i)/permutations. With truncation
/// (Ghorbani & Zou's TMC): once |v(N) − v(prefix)| ≤ truncation_tolerance, the remaining players of
/// that ordering get marginal 0 without evaluating v; this is biased (by at most the tolerance per
/// truncated step) and saves most evaluations when a few players already reach v(N). Convention
/// vs the paper: the tolerance is absolute, in utility units; Ghorbani & Zou compare
/// against tolerance × v(N) (pass that product here to match them). Early stop: every
/// `convergence_window` orderings, the mean over players of |φ_i − φ_i(previous check)| / |φ_i| is
/// compared with convergence_tolerance (their criterion, with 0.05 and 100 orderings); 0 turns it
/// off. Coalitions seen before are not re-evaluated (memoized_utility), which matters for the short
/// prefixes every ordering shares.
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/incentives/coalition.hpp"
#include "fedpp/random/rng.hpp"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

namespace fedpp::incentives {

/// The largest game exact_shapley accepts (2^20 evaluations).
inline constexpr std::size_t exact_shapley_max_players = 20;

/// Exact Shapley values of the game (`players` players, utility `v`): 2^n evaluations of v, each
/// coalition once. Throws invalid_config unless 1 ≤ players ≤ exact_shapley_max_players, or when
/// v returns a non-finite value.
template <coalition_utility U>
[[nodiscard]] contribution_result exact_shapley(U& v, std::size_t players) {
  detail::check_players(players, exact_shapley_max_players, "exact_shapley");
  const std::size_t n = players;
  const std::uint64_t count = std::uint64_t{1} << n;
  std::vector<double> values(count);
  for (std::uint64_t mask = 0; mask < count; ++mask)
    values[mask] = evaluate_utility(v, coalition::from_mask(n, mask));
  // weight[s] = s!(n−s−1)!/n! = 1 / (n · C(n−1, s))
  std::vector<double> weight(n);
  double binom = 1; // C(n−1, s)
  for (std::size_t s = 0; s < n; ++s) {
    weight[s] = 1.0 / (static_cast<double>(n) * binom);
    binom = binom * static_cast<double>(n - 1 - s) / static_cast<double>(s + 1);
  }
  contribution_result r;
  r.values.assign(n, 0.0);
  for (std::uint64_t mask = 0; mask < count; ++mask) {
    const auto s = static_cast<std::size_t>(std::popcount(mask));
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint64_t bit = std::uint64_t{1} << i;
      if ((mask & bit) == 0) r.values[i] += weight[s] * (values[mask | bit] - values[mask]);
    }
  }
  r.empty_utility = values[0];
  r.full_utility = values[count - 1];
  r.utility_evaluations = static_cast<std::size_t>(count);
  return r;
}

/// Settings of permutation_shapley (see the file comment).
struct permutation_options {
  std::size_t permutations = 1000;      ///< orderings to scan at most, ≥ 1
  double truncation_tolerance = 0;      ///< TMC: ≥ 0, absolute (0: no truncation, plain Monte Carlo)
  double convergence_tolerance = 0;     ///< ≥ 0: stop early below this mean relative change (0: off)
  std::size_t convergence_window = 100; ///< orderings between convergence checks, ≥ 1
  std::uint64_t seed = 0;               ///< the orderings' generator
  std::size_t max_cached = std::size_t{1} << 20; ///< memoized coalition values, ≥ 1

  /// Throws invalid_config naming the bad field.
  void validate() const {
    if (permutations == 0) throw invalid_config("permutation_options: permutations must be >= 1");
    if (!(std::isfinite(truncation_tolerance) && truncation_tolerance >= 0))
      throw invalid_config("permutation_options: truncation_tolerance " +
                           std::to_string(truncation_tolerance) + " must be finite and >= 0");
    if (!(std::isfinite(convergence_tolerance) && convergence_tolerance >= 0))
      throw invalid_config("permutation_options: convergence_tolerance " +
                           std::to_string(convergence_tolerance) + " must be finite and >= 0");
    if (convergence_window == 0) throw invalid_config("permutation_options: convergence_window must be >= 1");
    if (max_cached == 0) throw invalid_config("permutation_options: max_cached must be >= 1");
  }
};

/// The largest game the sampling methods accept.
inline constexpr std::size_t sampling_max_players = 1u << 16;

namespace detail {

/// Fisher–Yates shuffle of `order[first..]` with draws from `gen` (platform-independent).
inline void shuffle_tail(std::vector<std::size_t>& order, std::size_t first, rng& gen) {
  for (std::size_t i = order.size(); i > first + 1; --i) {
    const auto j = first + static_cast<std::size_t>(gen.below(i - first));
    std::swap(order[i - 1], order[j]);
  }
}

/// Mean over players of |now_i − before_i| / |now_i| (0 where both are 0, +inf where only now is 0).
inline double mean_relative_change(const std::vector<double>& now, const std::vector<double>& before) {
  double sum = 0;
  for (std::size_t i = 0; i < now.size(); ++i) {
    const double d = std::abs(now[i] - before[i]);
    if (d == 0) continue;
    if (now[i] == 0) return std::numeric_limits<double>::infinity();
    sum += d / std::abs(now[i]);
  }
  return sum / static_cast<double>(now.size());
}

/// Scans one ordering: adds each player's marginal contribution into `sum` (running totals),
/// truncating once |v_full − v(prefix)| ≤ tol. Returns the number of truncated steps.
template <class Memo>
std::size_t scan_ordering(Memo& memo, const std::vector<std::size_t>& order, double v_empty, double v_full,
                          double tol, bool truncate, std::vector<double>& sum) {
  coalition prefix(order.size());
  double previous = v_empty;
  std::size_t truncated = 0;
  for (const std::size_t player : order) {
    prefix.add(player);
    if (truncate && std::abs(v_full - previous) <= tol) {
      ++truncated; // marginal 0: the prefix already does as well as everyone (within tol)
      continue;
    }
    const double now = memo(prefix);
    sum[player] += now - previous;
    previous = now;
  }
  return truncated;
}

} // namespace detail

/// Monte Carlo permutation Shapley values, TMC when options.truncation_tolerance > 0 (see the file
/// comment). Throws invalid_config for bad options, 0 players or more than sampling_max_players,
/// or a non-finite utility value.
template <coalition_utility U>
[[nodiscard]] contribution_result permutation_shapley(U& v, std::size_t players,
                                                      const permutation_options& options = {}) {
  options.validate();
  detail::check_players(players, sampling_max_players, "permutation_shapley");
  memoized_utility<std::reference_wrapper<U>> memo(std::ref(v), options.max_cached);
  contribution_result r;
  r.empty_utility = memo(coalition(players));
  r.full_utility = memo(coalition::all(players));
  const bool truncate = options.truncation_tolerance > 0;
  std::vector<double> sum(players, 0.0), estimate(players, 0.0), checked(players, 0.0);
  std::vector<std::size_t> order(players);
  rng gen(options.seed);
  for (std::size_t p = 0; p < options.permutations; ++p) {
    std::iota(order.begin(), order.end(), std::size_t{0});
    detail::shuffle_tail(order, 0, gen);
    r.truncated_steps += detail::scan_ordering(memo, order, r.empty_utility, r.full_utility,
                                               options.truncation_tolerance, truncate, sum);
    ++r.permutations;
    if (options.convergence_tolerance > 0 && r.permutations % options.convergence_window == 0) {
      for (std::size_t i = 0; i < players; ++i) estimate[i] = sum[i] / static_cast<double>(r.permutations);
      const bool first_check = r.permutations == options.convergence_window;
      if (!first_check && detail::mean_relative_change(estimate, checked) < options.convergence_tolerance)
        break;
      checked = estimate;
    }
  }
  r.values.resize(players);
  for (std::size_t i = 0; i < players; ++i) r.values[i] = sum[i] / static_cast<double>(r.permutations);
  r.utility_evaluations = memo.evaluations();
  return r;
}

} // namespace fedpp::incentives
