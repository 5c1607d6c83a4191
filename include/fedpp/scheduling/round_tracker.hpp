/// \file round_tracker.hpp
/// Report bookkeeping for one synchronous round: which clients were selected, which reports the
/// round keeps, which it drops (late, duplicate, unknown, surplus), when the round is over and
/// whether it succeeded.
///
/// Reports are judged in call order, which the caller makes the arrival order. Time is the
/// elapsed time since the round started, as std::chrono::nanoseconds (any coarser integer
/// duration, e.g. round_config::deadline's milliseconds, converts implicitly).
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/scheduling/round_policy.hpp"

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace fedpp {

/// What the round did with one report.
enum class report_verdict : std::uint8_t {
  accepted,     ///< kept: aggregate it
  late,         ///< arrived at or after the deadline: dropped, the client counts as a straggler
  duplicate,    ///< the client had already reported this round (whatever that verdict was)
  not_selected, ///< the client was not selected for this round
  surplus       ///< on time, but target_reports reports were already accepted
};

/// Human-readable name of a verdict.
[[nodiscard]] inline const char* to_string(report_verdict verdict) noexcept {
  switch (verdict) {
  case report_verdict::accepted:
    return "accepted";
  case report_verdict::late:
    return "late";
  case report_verdict::duplicate:
    return "duplicate";
  case report_verdict::not_selected:
    return "not selected";
  case report_verdict::surplus:
    return "surplus";
  }
  return "unknown";
}

/// Whether a finished round may be aggregated.
enum class round_status : std::uint8_t {
  succeeded,             ///< at least min_reports reports were accepted
  failed_too_few_reports ///< fewer than min_reports: the round is skipped
};

/// Counts of one round, taken by round_tracker::outcome().
struct round_outcome {
  round_status status = round_status::failed_too_few_reports; ///< accepted ≥ min_reports?
  std::size_t sampled = 0;                                    ///< clients selected
  std::size_t accepted = 0;                                   ///< reports kept
  std::size_t late = 0;         ///< selected clients whose (first) report was late
  std::size_t surplus = 0;      ///< selected clients whose on-time report came after the target
  std::size_t duplicates = 0;   ///< repeated reports from a client that had already reported
  std::size_t not_selected = 0; ///< reports from clients not selected
  std::size_t missing = 0;      ///< selected clients that never reported
  std::size_t refused = 0;      ///< selected clients whose report was refused or who reported a failure

  /// True when the round may be aggregated.
  [[nodiscard]] bool succeeded() const noexcept { return status == round_status::succeeded; }
  friend bool operator==(const round_outcome&, const round_outcome&) = default;
};

/// Judges the reports of one round against its selection and round_policy.
///
/// Verdict of `on_report(c, t)`, first rule that applies: c not selected → not_selected;
/// c already reported → duplicate; deadline ≠ 0 and t ≥ deadline → late; target_reports
/// already accepted → surplus; otherwise accepted. An accepted report the aggregator then refuses
/// is taken back with `on_refused(c)`, and a client reporting a local failure is recorded with
/// `on_failure(c)`: either way the client is settled without a report, so a refused report never
/// holds one of the target's places. Invariant: sampled = accepted + late + surplus + refused + missing.
///
/// `done(now)` is true once the target is reached, every selected client has reported, the
/// deadline has passed (now ≥ deadline ≠ 0), or success has become impossible (accepted plus
/// the clients still pending < min_reports).
class round_tracker {
public:
  /// A round over the clients `selected` (distinct) under `policy`. Throws invalid_config when
  /// `selected` repeats a client or `policy.validate(selected.size())` fails.
  round_tracker(std::vector<client_id> selected, round_policy policy) : policy_(policy) {
    policy_.validate(selected.size());
    std::sort(selected.begin(), selected.end());
    const auto dup = std::adjacent_find(selected.begin(), selected.end());
    if (dup != selected.end())
      throw invalid_config("round_tracker: client " + std::to_string(*dup) + " is selected more than once");
    selected_ = std::move(selected);
    state_.assign(selected_.size(), state::pending);
    accepted_clients_.reserve(policy_.target_reports);
  }

  /// Judges one report from `client` arriving `elapsed` after the round started (see the class
  /// comment), records it and returns the verdict. Throws invalid_config (nothing recorded)
  /// for a negative `elapsed`.
  report_verdict on_report(client_id client, std::chrono::nanoseconds elapsed) {
    if (elapsed.count() < 0)
      throw invalid_config("round_tracker::on_report: client " + std::to_string(client) +
                           " reported at negative elapsed time " + std::to_string(elapsed.count()) + " ns");
    const auto it = std::lower_bound(selected_.begin(), selected_.end(), client);
    if (it == selected_.end() || *it != client) {
      ++not_selected_;
      return report_verdict::not_selected;
    }
    state& s = state_[static_cast<std::size_t>(it - selected_.begin())];
    if (s != state::pending) {
      ++duplicates_;
      return report_verdict::duplicate;
    }
    if (deadline_passed(elapsed)) {
      s = state::late;
      ++late_;
      return report_verdict::late;
    }
    if (accepted_clients_.size() >= policy_.target_reports) {
      s = state::surplus;
      ++surplus_;
      return report_verdict::surplus;
    }
    accepted_clients_.push_back(client);
    s = state::accepted;
    return report_verdict::accepted;
  }

  /// Takes back the acceptance of `client`'s report (the aggregator refused it): the client is
  /// settled as refused and its place in the target is free again. False (nothing changed) when
  /// `client`'s report was not accepted.
  bool on_refused(client_id client) {
    const auto i = index_of(client);
    if (!i || state_[*i] != state::accepted) return false;
    accepted_clients_.erase(std::find(accepted_clients_.begin(), accepted_clients_.end(), client));
    state_[*i] = state::refused;
    ++refused_;
    return true;
  }

  /// Records that `client` reported a local failure instead of an update: a pending client is
  /// settled as refused (true); anyone else is judged like a report (not selected, duplicate:
  /// counted; false).
  bool on_failure(client_id client) {
    const auto i = index_of(client);
    if (!i) {
      ++not_selected_;
      return false;
    }
    if (state_[*i] != state::pending) {
      ++duplicates_;
      return false;
    }
    state_[*i] = state::refused;
    ++refused_;
    return true;
  }

  /// True when `client` was selected and has not reported yet.
  [[nodiscard]] bool is_pending(client_id client) const noexcept {
    const auto i = index_of(client);
    return i && state_[*i] == state::pending;
  }

  /// True when the round is over at elapsed time `now` (see the class comment).
  [[nodiscard]] bool done(std::chrono::nanoseconds now) const noexcept {
    return accepted() >= policy_.target_reports || pending() == 0 || deadline_passed(now) ||
           accepted() + pending() < policy_.min_reports;
  }

  /// The counts so far and the status the round has if it ends now (call it once done()).
  [[nodiscard]] round_outcome outcome() const noexcept {
    round_outcome o;
    o.status =
        accepted() >= policy_.min_reports ? round_status::succeeded : round_status::failed_too_few_reports;
    o.sampled = sampled();
    o.accepted = accepted();
    o.late = late_;
    o.surplus = surplus_;
    o.duplicates = duplicates_;
    o.not_selected = not_selected_;
    o.refused = refused_;
    o.missing = pending();
    return o;
  }

  /// Clients selected.
  [[nodiscard]] std::size_t sampled() const noexcept { return selected_.size(); }
  /// Reports accepted so far.
  [[nodiscard]] std::size_t accepted() const noexcept { return accepted_clients_.size(); }
  /// Selected clients dropped as stragglers (late first report).
  [[nodiscard]] std::size_t late() const noexcept { return late_; }
  /// Selected clients whose on-time report exceeded the target.
  [[nodiscard]] std::size_t surplus() const noexcept { return surplus_; }
  /// Repeated reports.
  [[nodiscard]] std::size_t duplicates() const noexcept { return duplicates_; }
  /// Reports from clients that were not selected.
  [[nodiscard]] std::size_t not_selected() const noexcept { return not_selected_; }
  /// Selected clients settled without a report (refused report or reported failure).
  [[nodiscard]] std::size_t refused() const noexcept { return refused_; }
  /// Selected clients that have not reported (yet).
  [[nodiscard]] std::size_t missing() const noexcept { return pending(); }

  /// The accepted clients, in acceptance order.
  [[nodiscard]] std::span<const client_id> accepted_clients() const noexcept { return accepted_clients_; }
  /// The selected clients that have not reported, ascending.
  [[nodiscard]] std::vector<client_id> missing_clients() const {
    std::vector<client_id> out;
    for (std::size_t i = 0; i < selected_.size(); ++i)
      if (state_[i] == state::pending) out.push_back(selected_[i]);
    return out;
  }
  /// True when `client` was selected for this round.
  [[nodiscard]] bool is_selected(client_id client) const noexcept {
    return std::binary_search(selected_.begin(), selected_.end(), client);
  }
  /// The policy the round runs under.
  [[nodiscard]] const round_policy& policy() const noexcept { return policy_; }

private:
  enum class state : std::uint8_t { pending, accepted, late, surplus, refused };

  [[nodiscard]] std::optional<std::size_t> index_of(client_id client) const noexcept {
    const auto it = std::lower_bound(selected_.begin(), selected_.end(), client);
    if (it == selected_.end() || *it != client) return std::nullopt;
    return static_cast<std::size_t>(it - selected_.begin());
  }

  [[nodiscard]] bool deadline_passed(std::chrono::nanoseconds t) const noexcept {
    return policy_.deadline.count() > 0 && t >= policy_.deadline;
  }
  [[nodiscard]] std::size_t pending() const noexcept {
    return sampled() - accepted() - late_ - surplus_ - refused_;
  }

  round_policy policy_;
  std::vector<client_id> selected_; // ascending, for binary search
  std::vector<state> state_;        // parallel to selected_
  std::vector<client_id> accepted_clients_;
  std::size_t late_ = 0;
  std::size_t surplus_ = 0;
  std::size_t duplicates_ = 0;
  std::size_t not_selected_ = 0;
  std::size_t refused_ = 0;
};

} // namespace fedpp
