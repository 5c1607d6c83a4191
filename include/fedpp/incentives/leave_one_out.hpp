/// \file leave_one_out.hpp
/// Leave-one-out contribution: φ_i = v(N) − v(N ∖ {i}), what the federation loses without i
/// (n + 1 evaluations of the utility, plus v(∅) for the result; Cook 1977's deletion diagnostics in
/// data-valuation terms).
///
/// Cheap, but not a fair division: it is not efficient (Σ φ_i ≠ v(N) − v(∅) in general) and two
/// players who duplicate each other both get 0 (each is redundant given the other), where the
/// Shapley value splits their joint worth. It satisfies symmetry and null player (a null player
/// gets 0), and equals the Shapley value on additive games.
#pragma once

#include "fedpp/incentives/coalition.hpp"

#include <cstddef>

namespace fedpp::incentives {

/// The largest game leave_one_out accepts.
inline constexpr std::size_t leave_one_out_max_players = 1u << 16;

/// Leave-one-out values of the game (`players` players, utility `v`): n + 2 evaluations (v(N), v(∅)
/// for the result's empty_utility, and each v(N ∖ {i})). Throws invalid_config unless
/// 1 ≤ players ≤ leave_one_out_max_players, or when v returns a non-finite value.
template <coalition_utility U>
[[nodiscard]] contribution_result leave_one_out(U& v, std::size_t players) {
  detail::check_players(players, leave_one_out_max_players, "leave_one_out");
  contribution_result r;
  const coalition all = coalition::all(players);
  r.full_utility = evaluate_utility(v, all);
  r.empty_utility = evaluate_utility(v, coalition(players));
  r.values.resize(players);
  for (std::size_t i = 0; i < players; ++i)
    r.values[i] = r.full_utility - evaluate_utility(v, all.without(i));
  r.utility_evaluations = players + 2;
  return r;
}

} // namespace fedpp::incentives
