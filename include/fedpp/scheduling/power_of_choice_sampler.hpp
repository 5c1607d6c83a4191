/// \file power_of_choice_sampler.hpp
/// Power-of-choice client selection (Cho, Wang, Joshi 2022, "Towards Understanding Biased Client
/// Selection in Federated Learning", AISTATS; π_pow-d): each round a candidate set A of d clients
/// is drawn without replacement with probability ∝ data size p_k, and the m candidates with the
/// highest local loss F_k(w) are picked.
///
/// The paper's π_pow-d has every candidate evaluate F_k on the current global model (one extra
/// exchange per round). fedpp uses the loss each client last reported (its training loss, as the
/// paper's computation-efficient variants cpow-d / rpow-d use stale or estimated losses instead of
/// a fresh evaluation): a candidate that never gave feedback counts as +∞ (it is tried first);
/// equal losses go to the lower id. The candidate draw is the Efraimidis–Spirakis scheme of
/// weighted_sampler (N draws from the generator, in population order). d = m is weighted
/// sampling; d = N always takes the m highest losses.
///
/// Feedback: observe(round, feedback) or a connected selection_feedback_board, checked as for
/// oort_sampler (selection_feedback.hpp): only the last round's picks, once, within the bounds.
/// Memory: 12 bytes per registered client (the data size as double, the last loss as float).
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/random/rng.hpp"
#include "fedpp/scheduling/client_sampler.hpp"
#include "fedpp/scheduling/selection_feedback.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace fedpp {

/// π_pow-d over clients 0..N−1 with data sizes (see the file comment).
class power_of_choice_sampler {
public:
  /// Clients 0..N−1 with data sizes `sizes` (each finite and > 0), m picked per round from d
  /// candidates; throws invalid_config unless 0 < m ≤ d ≤ N.
  power_of_choice_sampler(std::vector<double> sizes, std::size_t m, std::size_t d,
                          feedback_bounds bounds = {})
      : sizes_(std::move(sizes)), loss_(sizes_.size(), unknown), m_(m), d_(d), bounds_(bounds) {
    bounds_.validate();
    for (std::size_t i = 0; i < sizes_.size(); ++i)
      if (!(std::isfinite(sizes_[i]) && sizes_[i] > 0))
        throw invalid_config("power_of_choice_sampler: client " + std::to_string(i) + " has data size " +
                             std::to_string(sizes_[i]) + "; sizes must be finite and > 0");
    check();
  }

  /// Reads the feedback server hooks post on `board` at each sample(), before picking.
  power_of_choice_sampler& connect(std::shared_ptr<const selection_feedback_board> board) {
    board_ = std::move(board);
    return *this;
  }

  /// The m clients of this round, ascending ids.
  [[nodiscard]] std::vector<client_id> sample(std::uint64_t round, rng& gen) {
    if (board_ && board_->started() && gate_.holds(board_->round())) {
      const auto& e = board_->entries();
      (void)observe(board_->round(), std::span<const selection_feedback>(e.data(), e.size()));
    }
    const std::vector<std::size_t> candidates = draw_candidates(gen);
    std::vector<std::size_t> picks = pick_highest(candidates);
    std::sort(picks.begin(), picks.end());
    std::vector<client_id> ids(picks.begin(), picks.end());
    gate_.picked(round, ids);
    return ids;
  }

  /// The d candidates of a draw (positions, in draw-key order): exposed for tests.
  [[nodiscard]] std::vector<std::size_t> draw_candidates(rng& gen) const {
    std::vector<std::pair<double, std::size_t>> keys(sizes_.size());
    for (std::size_t i = 0; i < sizes_.size(); ++i) keys[i] = {std::log(gen.uniform_open()) / sizes_[i], i};
    std::partial_sort(keys.begin(), keys.begin() + static_cast<std::ptrdiff_t>(d_), keys.end(),
                      [](const auto& a, const auto& b) {
                        return a.first > b.first || (a.first == b.first && a.second < b.second);
                      });
    std::vector<std::size_t> out;
    out.reserve(d_);
    for (std::size_t j = 0; j < d_; ++j) out.push_back(keys[j].second);
    return out;
  }

  /// The m candidates with the highest last loss (unknown = +∞; ties: lower id).
  [[nodiscard]] std::vector<std::size_t> pick_highest(std::vector<std::size_t> candidates) const {
    const auto key = [this](std::size_t i) {
      return std::isnan(loss_[i]) ? std::numeric_limits<double>::infinity() : static_cast<double>(loss_[i]);
    };
    std::sort(candidates.begin(), candidates.end(),
              [&](std::size_t a, std::size_t b) { return key(a) > key(b) || (key(a) == key(b) && a < b); });
    candidates.resize(std::min(m_, candidates.size()));
    return candidates;
  }

  /// Feedback of the clients picked in `round`; accepted ones set their last loss.
  feedback_counts observe(std::uint64_t round, std::span<const selection_feedback> feedback) {
    feedback_counts counts;
    for (const selection_feedback& f : feedback)
      (observe(round, f) == feedback_verdict::accepted ? counts.accepted : counts.refused) += 1;
    return counts;
  }

  /// One client's feedback for `round`; returns the verdict (state unchanged unless accepted).
  feedback_verdict observe(std::uint64_t round, const selection_feedback& f) {
    const feedback_verdict v = gate_.admit(round, f, bounds_);
    if (v == feedback_verdict::accepted)
      loss_[static_cast<std::size_t>(f.client)] = static_cast<float>(f.loss);
    return v;
  }

  /// Client c's last accepted loss, NaN when none.
  [[nodiscard]] double last_loss(client_id c) const {
    return static_cast<double>(loss_.at(static_cast<std::size_t>(c)));
  }
  [[nodiscard]] std::size_t population_size() const noexcept { return sizes_.size(); }
  [[nodiscard]] std::size_t sample_size() const noexcept { return m_; }
  [[nodiscard]] std::size_t candidates() const noexcept { return d_; }
  /// The same state picking k per round from max(d, k) candidates; invalid_config unless 0 < k ≤ N.
  [[nodiscard]] power_of_choice_sampler with_sample_size(std::size_t k) const {
    power_of_choice_sampler copy = *this;
    copy.m_ = k;
    copy.d_ = std::max(d_, k);
    copy.check();
    return copy;
  }
  /// Bytes kept per registered client (12).
  [[nodiscard]] static constexpr std::size_t bytes_per_client() noexcept {
    return sizeof(double) + sizeof(float);
  }

private:
  static constexpr float unknown = std::numeric_limits<float>::quiet_NaN();

  void check() const {
    if (m_ == 0 || m_ > d_ || d_ > sizes_.size())
      throw invalid_config("power_of_choice_sampler: need 0 < m <= d <= N, got m = " + std::to_string(m_) +
                           ", d = " + std::to_string(d_) + ", N = " + std::to_string(sizes_.size()));
  }

  std::vector<double> sizes_;
  std::vector<float> loss_;
  std::size_t m_;
  std::size_t d_;
  feedback_bounds bounds_;
  detail::feedback_gate gate_;
  std::shared_ptr<const selection_feedback_board> board_;
};

static_assert(sized_client_sampler<power_of_choice_sampler>);

} // namespace fedpp
