/// \file gtg_shapley.hpp
/// GTG-Shapley (Liu, Chen, Yu, Liu & Cui 2022, "GTG-Shapley: Efficient and Accurate Participant
/// Contribution Evaluation in Federated Learning", ACM TIST 13(4), Algorithm 1): per-round Shapley
/// values of the clients that reported in a round, from models reconstructed out of the round's
/// updates instead of retrained.
///
/// Reconstruction (the coalition's model, as FedAvg would have built it from those reports alone):
///
///   M_S = M_t + ( Σ_{k∈S} w_k Δ_k ) / ( Σ_{k∈S} w_k ),   M_∅ = M_t,   v(S) = V(M_S)
///
/// with M_t the round's global model, Δ_k client k's delta and w_k its weight (examples), and V a
/// server-side score of a model (fedpp's example: accuracy on a server-held validation set).
/// reconstruction_utility is this v as a coalition_utility; it keeps a running double sum along
/// the orderings, so extending the previous coalition by one client costs O(D), not O(|S|·D).
///
/// Sampling (gtg_shapley, over any coalition_utility):
/// - between-round truncation: v(∅) and v(N) first; when |v(N) − v(∅)| ≤ round_tolerance the round
///   changed nothing worth dividing and every value is 0 (2 evaluations);
/// - guided sampling: orderings come in batches of n, the k-th ordering of a batch led by player k
///   and the rest shuffled (fedpp::rng), so every player takes the first position — where the
///   marginal gains are largest and most variable — equally often;
/// - within-round truncation: in an ordering, once |v(N) − v(prefix)| ≤ tolerance the remaining
///   players get marginal 0 without an evaluation (as TMC, shapley.hpp);
/// - convergence: after each batch (from min_batches on) the mean over players of
///   |φ_i − φ_i(previous batch)| / |φ_i| is compared with convergence_tolerance; at most
///   max_batches batches. Coalitions already evaluated are not evaluated again (memoized_utility).
///
/// Conventions vs the paper: the tolerances are absolute, in utility units (the paper writes one ε
/// for both truncations; fedpp keeps two); the convergence rule is fedpp's reading of the paper's
/// "convergence criteria" (relative change of the estimates between consecutive batches); the
/// paper accumulates per-round values over rounds into a participant's total, which fedpp leaves
/// to the caller (sum contribution_result::values over the rounds a client took part in).
///
/// Trust: gtg_shapley_round checks every update before anything is computed — delta length equal
/// to the model's, all values finite, weight finite and > 0, client ids distinct — and throws
/// rejected_update naming the first bad client (nothing else happens; the caller drops it and calls
/// again). V must return finite values (invalid_config otherwise).
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/incentives/coalition.hpp"
#include "fedpp/incentives/shapley.hpp"
#include "fedpp/kernels/finite.hpp"
#include "fedpp/random/rng.hpp"
#include "fedpp/tensor/dtype.hpp"

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <numeric>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace fedpp::incentives {

/// Settings of gtg_shapley (see the file comment). Defaults: tolerances of 10^-3 utility units
/// (one example in 1,000 of validation accuracy), 5 % convergence, 2 to 10 batches.
struct gtg_options {
  double round_tolerance = 1e-3;       ///< between-round truncation, ≥ 0 (0: only an exact tie truncates)
  double tolerance = 1e-3;             ///< within-round truncation, ≥ 0 (0: only an exact tie truncates)
  double convergence_tolerance = 0.05; ///< ≥ 0 (0: run max_batches)
  std::size_t min_batches = 2;         ///< ≥ 1
  std::size_t max_batches = 10;        ///< ≥ min_batches
  std::uint64_t seed = 0;              ///< the orderings' generator
  std::size_t max_cached = std::size_t{1} << 16; ///< memoized coalition values, ≥ 1

  /// Throws invalid_config naming the bad field.
  void validate() const {
    for (const auto& [name, value] :
         {std::pair{"round_tolerance", round_tolerance}, std::pair{"tolerance", tolerance},
          std::pair{"convergence_tolerance", convergence_tolerance}})
      if (!(std::isfinite(value) && value >= 0))
        throw invalid_config(std::string("gtg_options: ") + name + " = " + std::to_string(value) +
                             " must be finite and >= 0");
    if (min_batches == 0) throw invalid_config("gtg_options: min_batches must be >= 1");
    if (max_batches < min_batches)
      throw invalid_config("gtg_options: max_batches " + std::to_string(max_batches) +
                           " is below min_batches " + std::to_string(min_batches));
    if (max_cached == 0) throw invalid_config("gtg_options: max_cached must be >= 1");
  }
};

/// GTG-Shapley values of the game (`players` players, utility `v`): see the file comment. Throws
/// invalid_config for bad options, 0 players or more than sampling_max_players, or a non-finite
/// utility value.
template <coalition_utility U>
[[nodiscard]] contribution_result gtg_shapley(U& v, std::size_t players, const gtg_options& options = {}) {
  options.validate();
  detail::check_players(players, sampling_max_players, "gtg_shapley");
  memoized_utility<std::reference_wrapper<U>> memo(std::ref(v), options.max_cached);
  contribution_result r;
  r.values.assign(players, 0.0);
  r.empty_utility = memo(coalition(players));
  r.full_utility = memo(coalition::all(players));
  if (std::abs(r.full_utility - r.empty_utility) <= options.round_tolerance) {
    r.round_truncated = true;
    r.utility_evaluations = memo.evaluations();
    return r;
  }
  std::vector<double> sum(players, 0.0), estimate(players, 0.0), previous(players, 0.0);
  std::vector<std::size_t> order(players);
  rng gen(options.seed);
  for (std::size_t batch = 1; batch <= options.max_batches; ++batch) {
    for (std::size_t lead = 0; lead < players; ++lead) {
      std::iota(order.begin(), order.end(), std::size_t{0});
      std::swap(order[0], order[lead]);
      detail::shuffle_tail(order, 1, gen);
      r.truncated_steps +=
          detail::scan_ordering(memo, order, r.empty_utility, r.full_utility, options.tolerance, true, sum);
      ++r.permutations;
    }
    for (std::size_t i = 0; i < players; ++i) estimate[i] = sum[i] / static_cast<double>(r.permutations);
    if (batch >= options.min_batches && batch > 1 && options.convergence_tolerance > 0 &&
        detail::mean_relative_change(estimate, previous) < options.convergence_tolerance)
      break;
    previous = estimate;
  }
  r.values = estimate;
  r.utility_evaluations = memo.evaluations();
  return r;
}

/// One client's report of a round, as the contribution methods see it (views, not copies).
template <element_type T>
struct round_update {
  client_id client = 0;     ///< who sent it
  std::span<const T> delta; ///< w_k − M_t
  double weight = 1;        ///< examples (FedAvg's weight)
};

/// Throws rejected_update naming the first bad update of `updates` against a model of `size`
/// elements: wrong length, non-finite value, weight not finite or ≤ 0, a client listed twice.
template <element_type T>
void check_round_updates(std::span<const round_update<T>> updates, std::size_t size) {
  std::vector<client_id> ids;
  ids.reserve(updates.size());
  for (const auto& u : updates) {
    if (u.delta.size() != size)
      throw rejected_update(u.client, rejection_reason::layout_mismatch,
                            "delta of " + std::to_string(u.delta.size()) + " elements for a model of " +
                                std::to_string(size));
    if (!(std::isfinite(u.weight) && u.weight > 0))
      throw rejected_update(u.client, rejection_reason::bad_weight,
                            "weight " + std::to_string(u.weight) + " must be finite and > 0");
    if (!kernels::all_finite(u.delta))
      throw rejected_update(u.client, rejection_reason::non_finite, "the delta holds NaN or Inf");
    ids.push_back(u.client);
  }
  std::sort(ids.begin(), ids.end());
  if (const auto dup = std::adjacent_find(ids.begin(), ids.end()); dup != ids.end())
    throw rejected_update(*dup, rejection_reason::duplicate, "the client is listed twice in the round");
}

/// v(S) = V(M_S) over a round's reports (see the file comment): a coalition_utility whose players
/// are the positions of `updates`. Holds views of the global model and the deltas (they must
/// outlive it) and O(D) scratch: a double running sum and one model of T.
template <element_type T, class ModelUtility>
requires std::invocable<ModelUtility&, std::span<const T>> &&
    std::convertible_to < std::invoke_result_t<ModelUtility&, std::span<const T>>,
double > class reconstruction_utility {
public:
  /// Checks the updates (check_round_updates: rejected_update naming the client) and that there is
  /// at least one (invalid_config).
  reconstruction_utility(std::span<const T> global, std::span<const round_update<T>> updates,
                         ModelUtility model_utility)
      : global_(global), updates_(updates.begin(), updates.end()), score_(std::move(model_utility)),
        sum_(global.size(), 0.0), members_(updates.size()), model_(global.size()) {
    if (updates.empty())
      throw invalid_config("reconstruction_utility: a round without updates has no players");
    check_round_updates<T>(updates, global.size());
  }

  /// V(M_S): the model FedAvg would build from S's reports alone, scored.
  double operator()(const coalition& s) {
    if (s.players() != updates_.size())
      throw invalid_config("reconstruction_utility: a coalition of a " + std::to_string(s.players()) +
                           "-player game for a round of " + std::to_string(updates_.size()) + " reports");
    ++reconstructions_;
    if (!members_.subset_of(s)) { // not an extension of the running sum: start over
      std::fill(sum_.begin(), sum_.end(), 0.0);
      members_ = coalition(updates_.size());
      weight_ = 0;
    }
    for (std::size_t k = 0; k < updates_.size(); ++k)
      if (s.contains(k) && !members_.contains(k)) {
        const auto& u = updates_[k];
        for (std::size_t j = 0; j < sum_.size(); ++j) sum_[j] += u.weight * static_cast<double>(u.delta[j]);
        weight_ += u.weight;
        members_.add(k);
      }
    if (weight_ == 0) return static_cast<double>(score_(global_));
    const double inv = 1.0 / weight_;
    for (std::size_t j = 0; j < sum_.size(); ++j)
      model_[j] = static_cast<T>(static_cast<double>(global_[j]) + sum_[j] * inv);
    return static_cast<double>(score_(std::span<const T>(model_)));
  }

  /// Models built and scored so far.
  [[nodiscard]] std::size_t reconstructions() const noexcept { return reconstructions_; }

private:
  std::span<const T> global_;
  std::vector<round_update<T>> updates_;
  ModelUtility score_;
  std::vector<double> sum_;
  coalition members_;
  double weight_ = 0;
  std::vector<T> model_;
  std::size_t reconstructions_ = 0;
};

/// GTG-Shapley values of one round's reports: values[k] belongs to updates[k].client. `score` is
/// V, a callable from the model (std::span<const T>) to a finite double. Throws rejected_update for
/// a bad update (nothing computed), invalid_config for bad options, no updates or a non-finite V.
template <element_type T, class ModelUtility>
[[nodiscard]] contribution_result gtg_shapley_round(std::span<const T> global,
                                                    std::span<const round_update<T>> updates,
                                                    ModelUtility score, const gtg_options& options = {}) {
  options.validate();
  reconstruction_utility<T, ModelUtility> v(global, updates, std::move(score));
  return gtg_shapley(v, updates.size(), options);
}

} // namespace fedpp::incentives
