// round_tracker and round_policy: every verdict, deadline, dropout and minimum behaviour, the
// done() conditions, the outcome counts and validation.
#include "fedpp/scheduling/round_policy.hpp"
#include "fedpp/scheduling/round_tracker.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;
using fedpp::client_id;
using fedpp::report_verdict;
using fedpp::round_policy;
using fedpp::round_tracker;
using testing::ElementsAre;
using testing::HasSubstr;

round_policy policy(std::size_t target, std::size_t min, std::chrono::nanoseconds deadline = 0ns) {
  round_policy p;
  p.target_reports = target;
  p.min_reports = min;
  p.deadline = deadline;
  return p;
}

void expect_invariant(const round_tracker& t) {
  EXPECT_EQ(t.sampled(), t.accepted() + t.late() + t.surplus() + t.missing());
}

TEST(RoundTracker, EveryVerdict) {
  round_tracker t({10, 11, 12, 13, 14}, policy(2, 1, 60s));
  EXPECT_EQ(t.on_report(12, 5s), report_verdict::accepted);
  EXPECT_EQ(t.on_report(99, 6s), report_verdict::not_selected);
  EXPECT_EQ(t.on_report(12, 7s), report_verdict::duplicate);
  EXPECT_EQ(t.on_report(13, 61s), report_verdict::late);
  EXPECT_EQ(t.on_report(13, 62s), report_verdict::duplicate); // a late client reporting again
  EXPECT_EQ(t.on_report(10, 8s), report_verdict::accepted);
  EXPECT_EQ(t.on_report(11, 9s), report_verdict::surplus);
  EXPECT_EQ(t.on_report(11, 9s), report_verdict::duplicate);
  expect_invariant(t);
  EXPECT_THAT(t.accepted_clients(), ElementsAre(12, 10)); // acceptance order
  EXPECT_THAT(t.missing_clients(), ElementsAre(14));
  const auto o = t.outcome();
  EXPECT_TRUE(o.succeeded());
  EXPECT_EQ(o.sampled, 5U);
  EXPECT_EQ(o.accepted, 2U);
  EXPECT_EQ(o.late, 1U);
  EXPECT_EQ(o.surplus, 1U);
  EXPECT_EQ(o.duplicates, 3U);
  EXPECT_EQ(o.not_selected, 1U);
  EXPECT_EQ(o.missing, 1U);
  EXPECT_STREQ(fedpp::to_string(report_verdict::late), "late");
  EXPECT_STREQ(fedpp::to_string(report_verdict::not_selected), "not selected");
}

TEST(RoundTracker, VerdictPrecedence) {
  // Not selected beats everything; a late report after the target is late, not surplus.
  round_tracker t({1, 2, 3}, policy(1, 1, 10s));
  EXPECT_EQ(t.on_report(1, 1s), report_verdict::accepted);
  EXPECT_EQ(t.on_report(2, 11s), report_verdict::late);
  EXPECT_EQ(t.on_report(4, 11s), report_verdict::not_selected);
  EXPECT_EQ(t.on_report(1, 11s), report_verdict::duplicate);
  EXPECT_EQ(t.on_report(3, 2s), report_verdict::surplus);
}

TEST(RoundTracker, OverSelectionKeepsTheFirstTargetReports) {
  // 13 selected for a target of 10 (over_selection with ε = 0.3): the first 10 are kept.
  std::vector<client_id> selected;
  for (client_id c = 100; c < 113; ++c) selected.push_back(c);
  round_tracker t(selected, policy(10, 8));
  std::vector<client_id> kept;
  for (client_id c = 112; c >= 100; --c) {
    const auto v = t.on_report(c, std::chrono::milliseconds(200 - c));
    if (v == report_verdict::accepted) kept.push_back(c);
    if (t.accepted() < 10) {
      EXPECT_FALSE(t.done(1s));
    }
  }
  EXPECT_EQ(kept.size(), 10U);
  EXPECT_EQ(kept.front(), 112U);
  EXPECT_EQ(kept.back(), 103U);
  EXPECT_EQ(t.surplus(), 3U);
  EXPECT_TRUE(t.done(1s));
  EXPECT_TRUE(t.outcome().succeeded());
}

TEST(RoundTracker, DeadlineIsHalfOpen) {
  round_tracker t({1, 2, 3}, policy(3, 1, 500ms));
  EXPECT_FALSE(t.done(0ns));
  EXPECT_FALSE(t.done(499ms));
  EXPECT_TRUE(t.done(500ms));
  EXPECT_EQ(t.on_report(1, 499'999'999ns), report_verdict::accepted);
  EXPECT_EQ(t.on_report(2, 500ms), report_verdict::late);
  EXPECT_FALSE(t.done(499ms));
  EXPECT_EQ(t.on_report(3, 2s), report_verdict::late);
  // Everyone has now reported: done whatever the time.
  EXPECT_TRUE(t.done(0ns));
  const auto o = t.outcome();
  EXPECT_TRUE(o.succeeded());
  EXPECT_EQ(o.late, 2U);
  EXPECT_EQ(o.missing, 0U);
}

TEST(RoundTracker, NoDeadlineWaitsForever) {
  round_tracker t({1, 2}, policy(2, 2));
  EXPECT_EQ(t.on_report(1, std::chrono::hours(1000)), report_verdict::accepted);
  EXPECT_FALSE(t.done(std::chrono::hours(100000)));
  EXPECT_EQ(t.on_report(2, std::chrono::hours(2000)), report_verdict::accepted);
  EXPECT_TRUE(t.done(0ns));
}

TEST(RoundTracker, DropoutsBelowTheMinimumFailTheRound) {
  // 5 selected, want 4, need 3; two clients drop out (never report), one is late.
  round_tracker t({1, 2, 3, 4, 5}, policy(4, 3, 30s));
  EXPECT_EQ(t.on_report(1, 1s), report_verdict::accepted);
  EXPECT_EQ(t.on_report(2, 31s), report_verdict::late);
  EXPECT_EQ(t.on_report(3, 2s), report_verdict::accepted);
  EXPECT_FALSE(t.done(29s)); // 2 accepted + 2 pending ≥ 3: success still possible
  EXPECT_TRUE(t.done(30s));
  auto o = t.outcome();
  EXPECT_EQ(o.status, fedpp::round_status::failed_too_few_reports);
  EXPECT_FALSE(o.succeeded());
  EXPECT_EQ(o.accepted, 2U);
  EXPECT_EQ(o.missing, 2U);
  EXPECT_EQ(o.late, 1U);
  expect_invariant(t);
  EXPECT_THAT(t.missing_clients(), ElementsAre(4, 5));
  // Exactly the minimum succeeds.
  EXPECT_EQ(t.on_report(4, 3s), report_verdict::accepted);
  EXPECT_TRUE(t.outcome().succeeded());
}

TEST(RoundTracker, DoneEarlyWhenSuccessBecomesImpossible) {
  round_tracker t({1, 2, 3}, policy(3, 3, 10s));
  EXPECT_FALSE(t.done(1s));
  EXPECT_EQ(t.on_report(2, 11s), report_verdict::late);
  EXPECT_TRUE(t.done(1s)); // 0 accepted + 2 pending < 3
  EXPECT_FALSE(t.outcome().succeeded());
}

TEST(RoundTracker, QueriesAndMillisecondsConvert) {
  const round_policy p = policy(1, 1, std::chrono::milliseconds(250));
  round_tracker t({7, 3, 9}, p);
  EXPECT_EQ(t.policy(), p);
  EXPECT_TRUE(t.is_selected(3));
  EXPECT_FALSE(t.is_selected(4));
  EXPECT_EQ(t.sampled(), 3U);
  EXPECT_THAT(t.missing_clients(), ElementsAre(3, 7, 9));
  EXPECT_EQ(t.on_report(9, std::chrono::milliseconds(249)), report_verdict::accepted);
  EXPECT_EQ(t.outcome(), (fedpp::round_outcome{fedpp::round_status::succeeded, 3, 1, 0, 0, 0, 0, 2}));
}

TEST(RoundTracker, NegativeElapsedIsRejectedWithoutRecording) {
  round_tracker t({1, 2}, policy(1, 1));
  try {
    (void)t.on_report(1, -1ns);
    ADD_FAILURE();
  } catch (const fedpp::invalid_config& e) {
    EXPECT_THAT(e.what(), HasSubstr("client 1"));
    EXPECT_THAT(e.what(), HasSubstr("-1 ns"));
  }
  EXPECT_EQ(t.missing(), 2U);
  EXPECT_EQ(t.on_report(1, 0ns), report_verdict::accepted);
}

TEST(RoundPolicy, Validation) {
  auto message = [](std::vector<client_id> selected, round_policy p) {
    try {
      round_tracker t(std::move(selected), p);
    } catch (const fedpp::invalid_config& e) {
      return std::string(e.what());
    }
    return std::string("no exception");
  };
  EXPECT_THAT(message({1, 2, 3}, policy(2, 3)), HasSubstr("min_reports = 3 exceeds target_reports = 2"));
  EXPECT_THAT(message({1, 2, 3}, policy(4, 1)), HasSubstr("target_reports = 4 exceeds the 3 selected"));
  EXPECT_THAT(message({1, 2, 3}, policy(2, 0)), HasSubstr("min_reports must be >= 1"));
  EXPECT_THAT(message({1, 2, 3}, policy(0, 0)), HasSubstr("min_reports must be >= 1"));
  EXPECT_THAT(message({}, policy(1, 1)), HasSubstr("exceeds the 0 selected"));
  EXPECT_THAT(message({1, 2, 3}, policy(2, 1, -5ns)), HasSubstr("negative"));
  EXPECT_THAT(message({4, 2, 4}, policy(1, 1)), HasSubstr("client 4 is selected more than once"));
  EXPECT_EQ(message({1, 2, 3}, policy(3, 3, 1s)), "no exception");
  EXPECT_NO_THROW(policy(3, 1).validate(3));
  EXPECT_THROW(policy(3, 1).validate(2), fedpp::invalid_config);
}

} // namespace
