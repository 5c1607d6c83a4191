/// \file reputation.hpp
/// Per-client reputation scores in [0, 1], updated after each round from how well a client's report
/// agreed with the round's aggregate and whether it was usable at all; read by reputation_sampler
/// (reputation_sampler.hpp) so that clients with a low reputation are sampled less.
///
/// Evidence and update. A round gives each client that was asked to train at most one piece of
/// evidence e ∈ [0, 1], and its score moves towards it (an exponential moving average):
///
///   r_i ← (1 − λ) · r_i + λ · e,      r_i = prior before any evidence
///
/// The built-in evidence (observe_round) is agreement with the aggregate times report quality,
///
///   e_i = max(0, cos(Δ_i, Δ̄)) · q_i,   cos(x, y) = ⟨x, y⟩ / (‖x‖ ‖y‖)   (0 when either norm is 0)
///
/// with Δ̄ the round's aggregate (FedAvg's mean or a robust rule's output) and q_i ∈ [0, 1] the
/// report's quality (1 when the caller gives none), and e_i = 0 for a report the server could not
/// use (observe_failure: refused, non-finite, wrong length). report_quality() gives the quality the
/// server can measure on its own validation data: how much the client's update alone improves the
/// model, relative to the best of the round,
///
///   q_i = clamp( (v({i}) − v(∅)) / max(v(N) − v(∅), max_j (v({j}) − v(∅))), 0, 1 )
///
/// (v a coalition_utility over the round's reports, e.g. gtg_shapley.hpp's reconstruction_utility:
/// n + 2 evaluations; all 0 when no update and not the aggregate improves on v(∅)). Agreement alone
/// catches free-riders (Δ = 0, or noise orthogonal to everyone: cos ≈ 0) but not label flippers,
/// whose softmax updates share the component common to every client's gradient (cos ≈ 0.3–0.6 on
/// IID Fashion-MNIST, like honest ones); quality catches them (their update alone lowers validation
/// accuracy: q = 0). Callers may feed any other evidence in [0, 1] with observe().
/// Similar schemes: Kang et al. 2019 ("Incentive mechanism for reliable federated learning: a joint
/// optimization approach combining reputation and contract theory"), FLTrust's cosine trust score
/// (Cao et al. 2021) against a server-held root update; fedpp uses the aggregate itself, so it needs
/// no server training data, but a majority of colluding clients would define the "agreement".
///
/// Checks (every observation, before anything changes): the client must be in the table
/// (unknown_client), the evidence finite in [0, 1] (bad_evidence), at most one observation per
/// client and round (repeated), and no round earlier than the client's last observation (stale).
/// A refused observation changes nothing; the verdict says why.
///
/// Memory: 16 bytes per client (score 8, observations 4, last observed round 4), plus 24 per client
/// for an explicit id list (the id, and the sorted (id, position) lookup). Rounds above 2^32 − 2 saturate the
/// stored round.
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/incentives/gtg_shapley.hpp"
#include "fedpp/kernels/finite.hpp"
#include "fedpp/kernels/reductions.hpp"
#include "fedpp/tensor/dtype.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace fedpp::incentives {

/// Settings of a reputation_table.
struct reputation_options {
  double prior = 0.5;         ///< score before any evidence, in [0, 1]
  double learning_rate = 0.3; ///< λ of the moving average, in (0, 1]

  /// Throws invalid_config naming the bad field.
  void validate() const {
    if (!(std::isfinite(prior) && prior >= 0 && prior <= 1))
      throw invalid_config("reputation_options: prior " + std::to_string(prior) + " must be in [0, 1]");
    if (!(std::isfinite(learning_rate) && learning_rate > 0 && learning_rate <= 1))
      throw invalid_config("reputation_options: learning_rate " + std::to_string(learning_rate) +
                           " must be in (0, 1]");
  }
};

/// Why an observation was refused (or `accepted`).
enum class reputation_verdict : std::uint8_t {
  accepted = 0,
  unknown_client, ///< not in the table
  bad_evidence,   ///< not finite, or outside [0, 1]
  repeated,       ///< the client already has an observation for this round
  stale           ///< a round earlier than the client's last observation
};

/// cos(Δ, Δ̄) in double: ⟨x, y⟩ / (‖x‖ ‖y‖), 0 when either norm is 0. Sizes must match (throws
/// invalid_config otherwise); values are assumed finite (the result is then in [−1, 1]).
template <element_type T>
[[nodiscard]] double agreement(std::span<const T> x, std::span<const T> y) {
  if (x.size() != y.size())
    throw invalid_config("agreement: vectors of " + std::to_string(x.size()) + " and " +
                         std::to_string(y.size()) + " elements");
  const double xx = kernels::squared_norm(x), yy = kernels::squared_norm(y);
  if (xx == 0 || yy == 0) return 0;
  return std::clamp(kernels::dot(x, y) / (std::sqrt(xx) * std::sqrt(yy)), -1.0, 1.0);
}

/// Each player's report quality (see the file comment): how much its update alone improves v over
/// v(∅), relative to the best of the round (v(N) or the best single player), clamped to [0, 1].
/// n + 2 evaluations of v. Throws invalid_config for 0 players, more than sampling_max_players, or a
/// non-finite value of v.
template <coalition_utility U>
[[nodiscard]] std::vector<double> report_quality(U& v, std::size_t players) {
  detail::check_players(players, sampling_max_players, "report_quality");
  const double empty = evaluate_utility(v, coalition(players));
  double scale = evaluate_utility(v, coalition::all(players)) - empty;
  std::vector<double> gain(players);
  for (std::size_t i = 0; i < players; ++i) {
    gain[i] = evaluate_utility(v, coalition(players).add(i)) - empty;
    scale = std::max(scale, gain[i]);
  }
  std::vector<double> q(players, 0.0);
  if (scale > 0)
    for (std::size_t i = 0; i < players; ++i) q[i] = std::clamp(gain[i] / scale, 0.0, 1.0);
  return q;
}

/// The clients' reputation scores (see the file comment).
class reputation_table {
public:
  /// Clients 0..clients−1; throws invalid_config for 0 clients, more than 2^32 − 1, or bad options.
  explicit reputation_table(std::size_t clients, reputation_options options = {}) : options_(options) {
    options.validate();
    check_count(clients);
    state_.assign(clients, entry{options.prior, 0, 0});
  }

  /// The clients `ids` (distinct, in this order); throws invalid_config for an empty list, a
  /// repeated id, or bad options.
  reputation_table(std::vector<client_id> ids, reputation_options options = {}) : options_(options) {
    options.validate();
    check_count(ids.size());
    index_.reserve(ids.size());
    for (std::size_t p = 0; p < ids.size(); ++p) index_.emplace_back(ids[p], static_cast<std::uint32_t>(p));
    std::sort(index_.begin(), index_.end());
    if (const auto dup = std::adjacent_find(index_.begin(), index_.end(),
                                            [](const auto& a, const auto& b) { return a.first == b.first; });
        dup != index_.end())
      throw invalid_config("reputation_table: client " + std::to_string(dup->first) + " is listed twice");
    ids_ = std::move(ids);
    state_.assign(ids_.size(), entry{options.prior, 0, 0});
  }

  /// Number of clients.
  [[nodiscard]] std::size_t size() const noexcept { return state_.size(); }
  /// The client at position p (< size()).
  [[nodiscard]] client_id id_at(std::size_t p) const noexcept {
    return ids_.empty() ? static_cast<client_id>(p) : ids_[p];
  }
  /// The position of client c, or nullopt when it is not in the table.
  [[nodiscard]] std::optional<std::size_t> position_of(client_id c) const noexcept {
    if (ids_.empty())
      return c < state_.size() ? std::optional<std::size_t>(static_cast<std::size_t>(c)) : std::nullopt;
    const auto it = std::lower_bound(index_.begin(), index_.end(), std::pair<client_id, std::uint32_t>{c, 0});
    if (it == index_.end() || it->first != c) return std::nullopt;
    return it->second;
  }
  /// Client c's score; throws invalid_config when c is not in the table.
  [[nodiscard]] double score(client_id c) const { return state_[checked(c)].score; }
  /// The score of the client at position p (< size()).
  [[nodiscard]] double score_at(std::size_t p) const noexcept { return state_[p].score; }
  /// Observations accepted for client c; throws invalid_config when c is not in the table.
  [[nodiscard]] std::uint32_t observations(client_id c) const { return state_[checked(c)].observations; }
  /// The settings.
  [[nodiscard]] const reputation_options& options() const noexcept { return options_; }
  /// Bytes of state per client (16, plus 24 with an explicit id list; the vectors' headers aside).
  [[nodiscard]] std::size_t bytes_per_client() const noexcept {
    return sizeof(entry) + (ids_.empty() ? 0 : sizeof(client_id) + sizeof(index_[0]));
  }

  /// One piece of evidence e ∈ [0, 1] about client c in round `round`: r ← (1 − λ) r + λ e.
  /// Refused (nothing changes) for the reasons of reputation_verdict.
  reputation_verdict observe(client_id c, std::uint64_t round, double evidence) {
    const std::optional<std::size_t> p = position_of(c);
    if (!p) return reputation_verdict::unknown_client;
    if (!(std::isfinite(evidence) && evidence >= 0 && evidence <= 1)) return reputation_verdict::bad_evidence;
    entry& e = state_[*p];
    const std::uint32_t stamp = stamp_of(round);
    if (e.last_round != 0) {
      if (stamp == e.last_round && round < saturated_round) return reputation_verdict::repeated;
      if (stamp < e.last_round) return reputation_verdict::stale;
    }
    const double lambda = options_.learning_rate;
    e.score = std::clamp((1 - lambda) * e.score + lambda * evidence, 0.0, 1.0);
    if (e.observations < std::numeric_limits<std::uint32_t>::max()) ++e.observations;
    e.last_round = stamp;
    return reputation_verdict::accepted;
  }

  /// Evidence 0 for client c in `round`: its report could not be used (refused, non-finite, missing).
  reputation_verdict observe_failure(client_id c, std::uint64_t round) { return observe(c, round, 0.0); }

  /// One round's reports against the round's aggregate: each client gets
  /// e = max(0, cos(Δ_i, Δ̄)) · quality[i] (quality empty: 1), or 0 when its delta has the wrong
  /// length or a non-finite value; a quality outside [0, 1] is that client's bad_evidence. Throws
  /// invalid_config (nothing changed) when the aggregate is empty or not finite, or quality is
  /// neither empty nor one value per update; returns one verdict per update.
  template <element_type T>
  std::vector<reputation_verdict> observe_round(std::uint64_t round, std::span<const round_update<T>> updates,
                                                std::span<const T> aggregate,
                                                std::span<const double> quality = {}) {
    if (aggregate.empty()) throw invalid_config("reputation_table::observe_round: an empty aggregate");
    if (!kernels::all_finite(aggregate))
      throw invalid_config("reputation_table::observe_round: the aggregate holds NaN or Inf");
    if (!quality.empty() && quality.size() != updates.size())
      throw invalid_config("reputation_table::observe_round: " + std::to_string(quality.size()) +
                           " quality values for " + std::to_string(updates.size()) + " updates");
    std::vector<reputation_verdict> verdicts;
    verdicts.reserve(updates.size());
    for (std::size_t k = 0; k < updates.size(); ++k) {
      const auto& u = updates[k];
      const double q = quality.empty() ? 1.0 : quality[k];
      if (!(std::isfinite(q) && q >= 0 && q <= 1)) {
        verdicts.push_back(position_of(u.client) ? reputation_verdict::bad_evidence
                                                 : reputation_verdict::unknown_client);
        continue;
      }
      const bool usable = u.delta.size() == aggregate.size() && kernels::all_finite(u.delta);
      verdicts.push_back(
          observe(u.client, round, usable ? std::max(0.0, agreement(u.delta, aggregate)) * q : 0.0));
    }
    return verdicts;
  }

private:
  struct entry {
    double score;
    std::uint32_t observations;
    std::uint32_t last_round; // round + 1 (0: never observed), saturating
  };
  static constexpr std::uint64_t saturated_round = std::numeric_limits<std::uint32_t>::max() - 1;

  static std::uint32_t stamp_of(std::uint64_t round) noexcept {
    return static_cast<std::uint32_t>(std::min(round, saturated_round) + 1);
  }
  static void check_count(std::size_t n) {
    if (n == 0) throw invalid_config("reputation_table: no clients");
    if (n > std::numeric_limits<std::uint32_t>::max())
      throw invalid_config("reputation_table: " + std::to_string(n) + " clients exceed 2^32 - 1");
  }
  std::size_t checked(client_id c) const {
    const std::optional<std::size_t> p = position_of(c);
    if (!p) throw invalid_config("reputation_table: client " + std::to_string(c) + " is not in the table");
    return *p;
  }

  reputation_options options_;
  std::vector<entry> state_;
  std::vector<client_id> ids_;                             // empty: the implicit ids 0..N−1
  std::vector<std::pair<client_id, std::uint32_t>> index_; // (id, position), sorted by id
};

} // namespace fedpp::incentives
