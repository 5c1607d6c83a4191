/// \file oort_sampler.hpp
/// Oort's guided participant selection (Lai, Zhu, Madhyastha, Chowdhury, OSDI 2021, "Oort:
/// Efficient Federated Learning via Guided Participant Selection", §4 and Algorithm 1), as a
/// client_sampler fed back after each round with the clients' losses and durations.
///
/// Utility of client i (explored: it was picked and gave accepted feedback):
///
///   statistical utility  U_i = |B_i| · sqrt( (1/|B_i|) Σ_{k∈B_i} loss(k)² )          (Oort §4.2)
///                            = examples · sqrt(loss_sq)       (selection_feedback's fields)
///   score_i = clip(U_i)/range  +  sqrt( w · ln R / L_i )                             (Alg. 1)
///           × (T / t_i)^α   when t_i > T                                             (system utility)
///
/// with R the 1-based number of the round being picked (server round + 1), L_i the 1-based round
/// in which i was last picked, w = staleness_weight (0.1 in the paper), t_i the client's last
/// duration, T the preferred round duration and α = round_penalty. Normalisation and clipping follow
/// the reference implementation (SymbioticLab/Oort, oort/oort.py, getTopK/get_norm): over the
/// explored clients with U > 0, clip(U) = min(U, the clip_quantile-quantile of those U), and
/// clip(U)/range means (min(U, clip) − 0.999·U_min) / max(U_max − 0.999·U_min, 1e-4), floored at 0
/// (fedpp's floor: a client with U = 0 would otherwise get a negative weight).
///
/// Each round (Algorithm 1): the exploration factor ε ← max(ε·decay, ε_min) first; then
/// (1 − ε)·m clients (rounded down) are exploited: the scores are sorted, the cut-off is
/// cutoff × the score just past the (1 − ε)·m best, and the exploited clients are drawn without
/// replacement among those at or above the cut-off with probability ∝ score. The other ε·m are
/// explored: drawn among the never-explored clients with probability ∝ their prior weight (data
/// size when given, else uniform). A shortfall on either side is taken from the other, then from
/// every remaining eligible client uniformly.
///
/// T, the preferred duration, is the P-th percentile of the explored clients' durations (the
/// reference's round_threshold; ∞ while P ≥ 100 or no duration is known). The pacer (§4.3): every W
/// rounds from round 2W on, it compares the exploited clients' mean utility summed over the last W
/// rounds with the W before; when it moved by at most 10 % (utility stalls), P ← min(100, P + Δ)
/// relaxes T; when it moved by 5× or more, P ← max(Δ, P − Δ) (the reference's tightening).
///
/// Feedback (selection_feedback.hpp): observe(round, feedback), or selection_feedback_hooks
/// posting on a selection_feedback_board this sampler is connected to (read at the next sample()).
/// Only the clients picked in the sampler's last round may give feedback, once each, with values
/// inside feedback_bounds; anything else is refused and changes nothing. A picked client that
/// gave no accepted feedback by the next sample() (dropped out, late, refused) counts as explored
/// with U = 0: it returns through the staleness bonus.
///
/// No monopoly: a client picked in `max_consecutive` rounds in a row sits the next round out
/// (unless fewer than m other clients remain); with bounded feedback and the clipping at the
/// quantile, a client's score is at most 1 + sqrt(w ln R / L_i), like any other top client.
///
/// Memory: 16 bytes per registered client (oort_client_state), plus 4 with prior weights;
/// sample() uses O(N) scratch (about 24 bytes per client) while it runs. Rounds above 2³² − 2
/// saturate L_i. Copies are independent (value semantics); a connected board is shared.
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/random/rng.hpp"
#include "fedpp/scheduling/client_sampler.hpp"
#include "fedpp/scheduling/selection_feedback.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <limits>
#include <memory>
#include <numeric>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace fedpp {

/// Oort's settings. Defaults: ε = 0.9 decaying by 0.98 to 0.2, and the cut-off, as the reference's
/// argument parser (cut_off_util 0.9 there: fedpp takes the selector's documented 95 %); α = 2,
/// P = 30, W = 20, Δ = 5 as FedScale's Oort examples; w = 0.1 as the paper.
struct oort_options {
  double exploration = 0.9;        ///< initial ε, in [0, 1]
  double exploration_decay = 0.98; ///< ε ← ε · decay each round, in (0, 1]
  double exploration_min = 0.2;    ///< ε never below this, in [0, 1]
  double cutoff = 0.95;            ///< exploitation cut-off as a fraction of the boundary score, (0, 1]
  double clip_quantile = 0.95;     ///< utilities clipped at this quantile, (0, 1]
  double round_penalty = 2.0;      ///< α ≥ 0 of (T/t)^α
  double preferred_percentile = 30; ///< initial P (T = P-th percentile of durations), (0, 100]; ≥ 100: T = ∞
  std::size_t pacer_window = 20;    ///< W ≥ 1 rounds
  double pacer_delta = 5;           ///< Δ > 0 percentile points
  double staleness_weight = 0.1;    ///< w ≥ 0 in sqrt(w ln R / L_i)
  std::uint32_t max_consecutive = 10; ///< rounds in a row one client may be picked, in [1, 255]
  feedback_bounds bounds{};           ///< bounds of accepted feedback

  /// Throws invalid_config naming the field outside its range.
  void validate() const {
    const auto in = [](double v, double lo, double hi) { return std::isfinite(v) && v >= lo && v <= hi; };
    const auto bad = [](const char* field, double v) {
      throw invalid_config(std::string("oort_options: ") + field + " = " + std::to_string(v) +
                           " is out of range");
    };
    if (!in(exploration, 0, 1)) bad("exploration", exploration);
    if (!(in(exploration_decay, 0, 1) && exploration_decay > 0)) bad("exploration_decay", exploration_decay);
    if (!in(exploration_min, 0, 1)) bad("exploration_min", exploration_min);
    if (!(in(cutoff, 0, 1) && cutoff > 0)) bad("cutoff", cutoff);
    if (!(in(clip_quantile, 0, 1) && clip_quantile > 0)) bad("clip_quantile", clip_quantile);
    if (!in(round_penalty, 0, 1e3)) bad("round_penalty", round_penalty);
    if (!(in(preferred_percentile, 0, 1e9) && preferred_percentile > 0))
      bad("preferred_percentile", preferred_percentile);
    if (pacer_window == 0) bad("pacer_window", 0);
    if (!(in(pacer_delta, 0, 100) && pacer_delta > 0)) bad("pacer_delta", pacer_delta);
    if (!in(staleness_weight, 0, 1e6)) bad("staleness_weight", staleness_weight);
    if (max_consecutive == 0 || max_consecutive > 255) bad("max_consecutive", max_consecutive);
    bounds.validate();
  }
};

/// What Oort keeps per registered client: 16 bytes.
struct oort_client_state {
  float utility = 0;            ///< statistical utility U_i of its last accepted feedback
  float duration = 0;           ///< its last duration t_i, seconds (valid when has_duration)
  std::uint32_t last_round = 0; ///< L_i: 1-based round it was last picked in, 0 = never
  std::uint8_t streak = 0;      ///< rounds in a row it was picked (saturates at 255)
  bool explored = false;        ///< picked at least once and settled (feedback or silence)
  bool has_duration = false;    ///< duration holds a measured value
  std::uint8_t reserved = 0;
};
static_assert(sizeof(oort_client_state) == 16);

/// Oort's training selector over clients 0..N−1 (see the file comment).
class oort_sampler {
public:
  /// N clients, m per round, uniform exploration prior. Throws invalid_config unless 0 < m ≤ N
  /// and the options are valid.
  oort_sampler(std::size_t population, std::size_t m, oort_options options = {})
      : options_(options), state_(population), m_(m), epsilon_(options.exploration),
        percentile_(options.preferred_percentile) {
    check();
  }

  /// As above with prior weights (e.g. data sizes) steering exploration; each finite and > 0.
  oort_sampler(std::vector<double> priors, std::size_t m, oort_options options = {})
      : oort_sampler(priors.size(), m, options) {
    prior_.reserve(priors.size());
    for (std::size_t i = 0; i < priors.size(); ++i) {
      if (!(std::isfinite(priors[i]) && priors[i] > 0 && priors[i] < 1e30))
        throw invalid_config("oort_sampler: client " + std::to_string(i) + " has prior weight " +
                             std::to_string(priors[i]) + "; weights must be finite and > 0");
      prior_.push_back(static_cast<float>(priors[i]));
    }
  }

  /// Reads the feedback that server hooks post on `board` (selection_feedback_hooks::board) at
  /// each sample(), before picking.
  oort_sampler& connect(std::shared_ptr<const selection_feedback_board> board) {
    board_ = std::move(board);
    return *this;
  }

  /// The m clients of round `round` (ascending ids); see the file comment.
  [[nodiscard]] std::vector<client_id> sample(std::uint64_t round, rng& gen) {
    read_board();
    settle_last_round();
    const std::uint64_t big_r = round + 1;
    epsilon_ = std::max(epsilon_ * options_.exploration_decay, options_.exploration_min);
    run_pacer(big_r);
    preferred_ = preferred_duration_now();

    const std::size_t n = state_.size();
    std::vector<std::pair<double, std::size_t>> scored; // (score, client)
    std::vector<std::size_t> unexplored;
    compute_scores(big_r, scored);
    for (std::size_t i = 0; i < n; ++i)
      if (!state_[i].explored && eligible(i)) unexplored.push_back(i);

    auto exploit_len = std::min(
        static_cast<std::size_t>(std::floor(static_cast<double>(m_) * (1.0 - epsilon_))), scored.size());
    const std::size_t explore_len = std::min(m_ - exploit_len, unexplored.size());
    exploit_len = std::min(m_ - explore_len, scored.size());

    std::vector<std::size_t> picks;
    picks.reserve(m_);
    exploited_.clear();
    // Exploitation: the cut-off, then a draw ∝ score among the clients at or above it.
    std::sort(scored.begin(), scored.end(), [](const auto& a, const auto& b) {
      return a.first > b.first || (a.first == b.first && a.second < b.second);
    });
    if (exploit_len > 0) {
      std::size_t candidates = scored.size();
      if (exploit_len < scored.size()) {
        const double cut = scored[exploit_len].first * options_.cutoff;
        candidates = exploit_len;
        while (candidates < scored.size() && scored[candidates].first >= cut) ++candidates;
      }
      std::vector<std::pair<double, std::size_t>> pool(
          scored.begin(), scored.begin() + static_cast<std::ptrdiff_t>(candidates));
      for (std::size_t c : weighted_draw(pool, exploit_len, gen)) {
        picks.push_back(c);
        exploited_.push_back(c);
      }
    }
    // Exploration: never-explored clients ∝ prior weight.
    if (explore_len > 0) {
      std::vector<std::pair<double, std::size_t>> pool;
      pool.reserve(unexplored.size());
      for (std::size_t i : unexplored) pool.emplace_back(prior_.empty() ? 1.0 : prior_[i], i);
      for (std::size_t c : weighted_draw(pool, explore_len, gen)) picks.push_back(c);
    }
    // Shortfall: every other eligible client uniformly, then the capped ones.
    if (picks.size() < m_) fill(picks, gen);

    std::sort(picks.begin(), picks.end());
    const auto stamp = static_cast<std::uint32_t>(std::min<std::uint64_t>(big_r, 0xFFFFFFFEULL));
    std::size_t k = 0;
    for (std::size_t i = 0; i < n; ++i) {
      if (k < picks.size() && picks[k] == i) {
        state_[i].last_round = stamp;
        if (state_[i].streak < 255) ++state_[i].streak;
        ++k;
      } else {
        state_[i].streak = 0;
      }
    }
    std::vector<client_id> ids(picks.begin(), picks.end());
    gate_.picked(round, ids);
    return ids;
  }

  /// Feedback of the clients picked in `round` (the last round sampled); each is judged alone
  /// (feedback_verdict), accepted ones update U_i and t_i. Returns the counts.
  feedback_counts observe(std::uint64_t round, std::span<const selection_feedback> feedback) {
    feedback_counts counts;
    for (const selection_feedback& f : feedback) {
      if (observe(round, f) == feedback_verdict::accepted)
        ++counts.accepted;
      else
        ++counts.refused;
    }
    return counts;
  }

  /// One client's feedback for `round`; returns the verdict (state unchanged unless accepted).
  feedback_verdict observe(std::uint64_t round, const selection_feedback& f) {
    const feedback_verdict v = gate_.admit(round, f, options_.bounds);
    if (v != feedback_verdict::accepted) {
      ++refused_;
      return v;
    }
    oort_client_state& s = state_[static_cast<std::size_t>(f.client)];
    s.utility = static_cast<float>(statistical_utility(f));
    s.duration = static_cast<float>(f.duration);
    s.has_duration = true;
    s.explored = true;
    ++accepted_;
    return v;
  }

  /// U = |B| sqrt((1/|B|) Σ loss²) = examples · sqrt(loss_sq) (Oort §4.2).
  [[nodiscard]] static double statistical_utility(const selection_feedback& f) noexcept {
    return f.examples * std::sqrt(f.loss_sq);
  }

  /// The exploitation scores the next sample(round) would use, given the current state, T and
  /// the current capping (explored, eligible clients only; ascending ids).
  [[nodiscard]] std::vector<std::pair<client_id, double>> scores(std::uint64_t round) const {
    std::vector<std::pair<double, std::size_t>> scored;
    compute_scores(round + 1, scored);
    std::vector<std::pair<client_id, double>> out;
    out.reserve(scored.size());
    for (const auto& [s, i] : scored) out.emplace_back(static_cast<client_id>(i), s);
    return out;
  }

  [[nodiscard]] std::size_t population_size() const noexcept { return state_.size(); }
  [[nodiscard]] std::size_t sample_size() const noexcept { return m_; }
  /// The same state, picking k per round; throws invalid_config unless 0 < k ≤ N.
  [[nodiscard]] oort_sampler with_sample_size(std::size_t k) const {
    oort_sampler copy = *this;
    copy.m_ = k;
    copy.check();
    return copy;
  }

  /// Client c's state (c < N).
  [[nodiscard]] const oort_client_state& state(client_id c) const {
    return state_.at(static_cast<std::size_t>(c));
  }
  /// The current exploration factor ε (after the last sample()'s decay).
  [[nodiscard]] double exploration_factor() const noexcept { return epsilon_; }
  /// The current P of the preferred duration T.
  [[nodiscard]] double preferred_percentile() const noexcept { return percentile_; }
  /// T as the last sample() computed it (∞ when none).
  [[nodiscard]] double preferred_duration() const noexcept { return preferred_; }
  /// The clients the last sample() exploited (the rest were explored or filled).
  [[nodiscard]] const std::vector<std::size_t>& exploited() const noexcept { return exploited_; }
  /// Accepted / refused feedback so far.
  [[nodiscard]] std::size_t feedback_accepted() const noexcept { return accepted_; }
  [[nodiscard]] std::size_t feedback_refused() const noexcept { return refused_; }
  /// Bytes kept per registered client (16, or 20 with prior weights).
  [[nodiscard]] std::size_t bytes_per_client() const noexcept {
    return sizeof(oort_client_state) + (prior_.empty() ? 0 : sizeof(float));
  }
  [[nodiscard]] const oort_options& options() const noexcept { return options_; }

private:
  void check() const {
    options_.validate();
    if (m_ == 0 || m_ > state_.size())
      throw invalid_config("oort_sampler: sample size m = " + std::to_string(m_) +
                           " must be in [1, N] with N = " + std::to_string(state_.size()));
    if (state_.size() > std::numeric_limits<std::uint32_t>::max())
      throw invalid_config("oort_sampler: more than 2^32 clients");
  }

  [[nodiscard]] bool eligible(std::size_t i) const noexcept {
    return state_[i].streak < options_.max_consecutive;
  }

  void read_board() {
    if (board_ && board_->started() && gate_.holds(board_->round())) {
      const auto& e = board_->entries();
      (void)observe(board_->round(), std::span<const selection_feedback>(e.data(), e.size()));
    }
  }

  /// The last round's picks that gave no accepted feedback: explored with U = 0. Records the
  /// exploited clients' mean utility for the pacer (the reference's calculateSumUtil).
  void settle_last_round() {
    if (!gate_.has_round()) return;
    const auto& picks = gate_.picks();
    for (std::size_t k = 0; k < picks.size(); ++k) {
      if (gate_.heard(k)) continue;
      oort_client_state& s = state_[static_cast<std::size_t>(picks[k])];
      s.utility = 0;
      s.explored = true;
    }
    double sum = 0, count = 1e-4;
    for (std::size_t c : exploited_) {
      const auto it = std::lower_bound(picks.begin(), picks.end(), static_cast<client_id>(c));
      if (it != picks.end() && gate_.heard(static_cast<std::size_t>(it - picks.begin()))) {
        sum += static_cast<double>(state_[c].utility);
        count += 1;
      }
    }
    history_.push_back(sum / count);
    while (history_.size() > 2 * options_.pacer_window) history_.pop_front();
  }

  void run_pacer(std::uint64_t big_r) {
    const std::size_t w = options_.pacer_window;
    if (big_r < 2 * w || big_r % w != 0 || history_.size() < 2 * w) return;
    const double last =
        std::accumulate(history_.begin(), history_.begin() + static_cast<std::ptrdiff_t>(w), 0.0);
    const double current =
        std::accumulate(history_.begin() + static_cast<std::ptrdiff_t>(w), history_.end(), 0.0);
    if (std::abs(current - last) <= last * 0.1)
      percentile_ = std::min(100.0, percentile_ + options_.pacer_delta);
    else if (std::abs(current - last) >= last * 5)
      percentile_ = std::max(options_.pacer_delta, percentile_ - options_.pacer_delta);
  }

  [[nodiscard]] double preferred_duration_now() const {
    if (percentile_ >= 100) return std::numeric_limits<double>::infinity();
    std::vector<float> d;
    for (const auto& s : state_)
      if (s.explored && s.has_duration) d.push_back(s.duration);
    if (d.empty()) return std::numeric_limits<double>::infinity();
    const auto idx =
        std::min(static_cast<std::size_t>(static_cast<double>(d.size()) * percentile_ / 100.0), d.size() - 1);
    std::nth_element(d.begin(), d.begin() + static_cast<std::ptrdiff_t>(idx), d.end());
    return static_cast<double>(d[idx]);
  }

  /// Scores of the explored, eligible clients for the 1-based round big_r (ascending clients).
  void compute_scores(std::uint64_t big_r, std::vector<std::pair<double, std::size_t>>& out) const {
    out.clear();
    std::vector<float> positive;
    for (std::size_t i = 0; i < state_.size(); ++i)
      if (state_[i].explored && eligible(i) && state_[i].utility > 0) positive.push_back(state_[i].utility);
    double clip = 0, lo = 0, range = 1e-4;
    if (!positive.empty()) {
      std::sort(positive.begin(), positive.end());
      const auto idx =
          std::min(static_cast<std::size_t>(static_cast<double>(positive.size()) * options_.clip_quantile),
                   positive.size() - 1);
      clip = positive[idx];
      lo = static_cast<double>(positive.front()) * 0.999;
      range = std::max(static_cast<double>(positive.back()) - lo, 1e-4);
    }
    const double ln_r = std::log(static_cast<double>(std::max<std::uint64_t>(big_r, 1)));
    const double t_pref = preferred_;
    for (std::size_t i = 0; i < state_.size(); ++i) {
      const oort_client_state& s = state_[i];
      if (!s.explored || !eligible(i)) continue;
      const double u = std::min(static_cast<double>(s.utility), clip);
      double sc = std::max(0.0, (u - lo) / range);
      if (s.last_round > 0)
        sc += std::sqrt(options_.staleness_weight * ln_r / static_cast<double>(s.last_round));
      if (s.has_duration && static_cast<double>(s.duration) > t_pref)
        sc *= std::pow(t_pref / std::max(1e-4, static_cast<double>(s.duration)), options_.round_penalty);
      out.emplace_back(sc, i);
    }
  }

  /// k of `pool` (weight, client) without replacement, P ∝ weight (Efraimidis–Spirakis keys
  /// log(u)/w, one draw per entry in pool order).
  static std::vector<std::size_t> weighted_draw(const std::vector<std::pair<double, std::size_t>>& pool,
                                                std::size_t k, rng& gen) {
    std::vector<std::pair<double, std::size_t>> keys(pool.size());
    for (std::size_t j = 0; j < pool.size(); ++j)
      keys[j] = {std::log(gen.uniform_open()) / std::max(pool[j].first, 1e-12), pool[j].second};
    const auto before = [](const auto& a, const auto& b) {
      return a.first > b.first || (a.first == b.first && a.second < b.second);
    };
    k = std::min(k, keys.size());
    std::partial_sort(keys.begin(), keys.begin() + static_cast<std::ptrdiff_t>(k), keys.end(), before);
    std::vector<std::size_t> out;
    out.reserve(k);
    for (std::size_t j = 0; j < k; ++j) out.push_back(keys[j].second);
    return out;
  }

  /// Completes `picks` to m: eligible clients not yet picked uniformly, then capped ones.
  void fill(std::vector<std::size_t>& picks, rng& gen) const {
    std::vector<bool> taken(state_.size(), false);
    for (std::size_t c : picks) taken[c] = true;
    for (const bool capped : {false, true}) {
      std::vector<std::pair<double, std::size_t>> pool;
      for (std::size_t i = 0; i < state_.size(); ++i)
        if (!taken[i] && eligible(i) != capped) pool.emplace_back(1.0, i);
      for (std::size_t c : weighted_draw(pool, m_ - picks.size(), gen)) {
        picks.push_back(c);
        taken[c] = true;
      }
      if (picks.size() == m_) return;
    }
  }

  oort_options options_;
  std::vector<oort_client_state> state_;
  std::vector<float> prior_;
  std::size_t m_;
  double epsilon_;
  double percentile_;
  double preferred_ = std::numeric_limits<double>::infinity();
  std::deque<double> history_; // exploited mean utility of the last 2W rounds (pacer)
  std::vector<std::size_t> exploited_;
  detail::feedback_gate gate_;
  std::size_t accepted_ = 0, refused_ = 0;
  std::shared_ptr<const selection_feedback_board> board_;
};

static_assert(sized_client_sampler<oort_sampler>);

} // namespace fedpp
