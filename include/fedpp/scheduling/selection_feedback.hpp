/// \file selection_feedback.hpp
/// What guided samplers (oort_sampler, power_of_choice_sampler) learn about the clients of a round,
/// how it is checked, and the board on which server hooks (selection_feedback_hooks) leave it.
///
/// One client's feedback for the round it was picked in:
///
/// | field        | meaning                                                     | accepted when           |
/// |--------------|-------------------------------------------------------------|-------------------------|
/// | `client`     | the client                                                  | picked in that round, no
/// feedback yet | | `examples`   | |B_i|, examples the client trained on (the report's weight) | finite, > 0,
/// ≤ max_examples | | `loss`       | mean per-example training loss (metrics["train_loss"])      | finite, ≥
/// 0, ≤ max_loss | | `loss_sq`    | mean squared per-example loss (1/|B_i|) Σ_k loss(k)²        | finite, ≥
/// 0, ≤ max_loss² | |              | (metrics["train_loss_sq"]; when the client does not send it | | | | the
/// hooks use loss², a lower bound by Jensen's inequality)  |                         | | `duration`   |
/// seconds the client took: measured by the server (wall clock | finite, ≥ 0, ≤ max_duration | | | or the
/// simulation's forecast), never the client's own word  |                         |
///
/// Feedback that fails a check is refused as a whole (feedback_verdict says why) and changes
/// nothing. Feedback for a round other than the sampler's last one, or for a client it did not
/// pick in that round, or a second feedback for one client, is refused too: a client can only
/// speak about a round it was asked to train in, once.
#pragma once

#include "fedpp/error.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace fedpp {

/// One client's feedback for the round it was picked in (see the file comment).
struct selection_feedback {
  client_id client = 0;
  double examples = 0;
  double loss = 0;
  double loss_sq = 0;
  double duration = 0;
  friend bool operator==(const selection_feedback&, const selection_feedback&) = default;
};

/// Why a feedback was refused (or `accepted`).
enum class feedback_verdict : std::uint8_t {
  accepted = 0,
  wrong_round,  ///< not the round the sampler last picked for
  not_selected, ///< the client was not picked in that round
  repeated,     ///< the client already gave feedback for that round
  bad_examples, ///< examples not finite, ≤ 0 or > max_examples
  bad_loss,     ///< loss or loss_sq not finite, < 0 or above its bound
  bad_duration  ///< duration not finite, < 0 or > max_duration
};

/// The bounds feedback is checked against.
struct feedback_bounds {
  double max_examples = 1e6; ///< largest |B_i| (the server's default weight_policy::max_weight)
  double max_loss = 1e3;     ///< largest mean loss (loss_sq: max_loss²)
  double max_duration = 1e6; ///< largest duration, seconds

  /// Throws invalid_config unless every bound is finite and > 0.
  void validate() const {
    for (double b : {max_examples, max_loss, max_duration})
      if (!(std::isfinite(b) && b > 0))
        throw invalid_config("feedback_bounds: every bound must be finite and > 0 (max_examples " +
                             std::to_string(max_examples) + ", max_loss " + std::to_string(max_loss) +
                             ", max_duration " + std::to_string(max_duration) + ")");
  }

  /// The verdict on the values of `f` alone (not on the round or the selection).
  [[nodiscard]] feedback_verdict check_values(const selection_feedback& f) const noexcept {
    if (!(std::isfinite(f.examples) && f.examples > 0 && f.examples <= max_examples))
      return feedback_verdict::bad_examples;
    if (!(std::isfinite(f.loss) && f.loss >= 0 && f.loss <= max_loss)) return feedback_verdict::bad_loss;
    if (!(std::isfinite(f.loss_sq) && f.loss_sq >= 0 && f.loss_sq <= max_loss * max_loss))
      return feedback_verdict::bad_loss;
    if (!(std::isfinite(f.duration) && f.duration >= 0 && f.duration <= max_duration))
      return feedback_verdict::bad_duration;
    return feedback_verdict::accepted;
  }
};

/// Counts of one observe() call's verdicts.
struct feedback_counts {
  std::size_t accepted = 0;
  std::size_t refused = 0;
};

/// Where server hooks leave the feedback of the current round and a sampler picks it up at its
/// next sample(): shared (std::shared_ptr) between selection_feedback_hooks and the sampler. It
/// holds one round: begin() forgets the previous one. Reading does not consume, so a copy of the
/// sampler (e.g. one resized for an evaluation round) reads the same feedback into its own state
/// without taking it from the original.
class selection_feedback_board {
public:
  /// Starts round `round`: forgets the previous round's feedback.
  void begin(std::uint64_t round) {
    round_ = round;
    started_ = true;
    entries_.clear();
  }
  /// Adds one client's feedback for the current round (the sampler checks it when it reads it).
  void post(const selection_feedback& f) { entries_.push_back(f); }
  /// True once begin() was called.
  [[nodiscard]] bool started() const noexcept { return started_; }
  /// The round the feedback is for.
  [[nodiscard]] std::uint64_t round() const noexcept { return round_; }
  /// The feedback posted for round().
  [[nodiscard]] const std::vector<selection_feedback>& entries() const noexcept { return entries_; }

private:
  std::uint64_t round_ = 0;
  bool started_ = false;
  std::vector<selection_feedback> entries_;
};

namespace detail {

/// The last round a sampler picked for, its picks, and who has given feedback: the gate every
/// feedback passes before it may touch a sampler's per-client state. O(m) memory (m = picks).
class feedback_gate {
public:
  /// Records the picks of `round` (sorted by id internally); feedback for earlier rounds is
  /// refused from now on.
  void picked(std::uint64_t round, std::vector<client_id> ids) {
    round_ = round;
    has_round_ = true;
    std::sort(ids.begin(), ids.end());
    picks_ = std::move(ids);
    heard_.assign(picks_.size(), false);
  }

  /// The verdict on `f` for `round`; when accepted, the client is marked as heard.
  feedback_verdict admit(std::uint64_t round, const selection_feedback& f, const feedback_bounds& bounds) {
    if (!has_round_ || round != round_) return feedback_verdict::wrong_round;
    const auto it = std::lower_bound(picks_.begin(), picks_.end(), f.client);
    if (it == picks_.end() || *it != f.client) return feedback_verdict::not_selected;
    const auto k = static_cast<std::size_t>(it - picks_.begin());
    if (heard_[k]) return feedback_verdict::repeated;
    const feedback_verdict v = bounds.check_values(f);
    if (v == feedback_verdict::accepted) heard_[k] = true;
    return v;
  }

  /// Whether round `round`'s picks are the ones held (feedback for it can still be admitted).
  [[nodiscard]] bool holds(std::uint64_t round) const noexcept { return has_round_ && round == round_; }
  [[nodiscard]] bool has_round() const noexcept { return has_round_; }
  [[nodiscard]] std::uint64_t round() const noexcept { return round_; }
  /// The picks of round(), ascending.
  [[nodiscard]] const std::vector<client_id>& picks() const noexcept { return picks_; }
  /// Whether the k-th pick (ascending) has given accepted feedback.
  [[nodiscard]] bool heard(std::size_t k) const noexcept { return heard_[k]; }

private:
  std::uint64_t round_ = 0;
  bool has_round_ = false;
  std::vector<client_id> picks_;
  std::vector<bool> heard_;
};

} // namespace detail

} // namespace fedpp
