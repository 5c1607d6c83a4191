/// \file roc.hpp
/// ROC analysis of a membership (or any binary) attack: the curve, the area under it, and the true
/// positive rate at a small false positive rate (Carlini et al. 2022, "Membership Inference Attacks
/// From First Principles", argue the latter is the figure that matters).
///
/// Convention: a larger score means "more likely a member" (label 1). Tied scores form one step
/// of the curve, so the AUC counts a member/non-member tie as one half (Mann–Whitney U / (n₁ n₀)).
#pragma once

#include "fedpp/error.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <span>
#include <string>
#include <vector>

namespace fedpp::audit {

/// One point of a ROC curve: the rates of the rule "member when score ≥ threshold".
struct roc_point {
  double threshold = 0; ///< the score at and above which the rule says "member" (+∞ for the first point)
  double fpr = 0;       ///< false positive rate: non-members called members / non-members
  double tpr = 0;       ///< true positive rate: members called members / members
};

namespace detail {
inline void check_roc_input(const char* who, std::span<const double> scores,
                            std::span<const std::uint8_t> member) {
  if (scores.size() != member.size())
    throw invalid_config(std::string(who) + ": " + std::to_string(scores.size()) + " scores for " +
                         std::to_string(member.size()) + " labels");
  std::size_t positives = 0;
  for (std::size_t i = 0; i < scores.size(); ++i) {
    if (!std::isfinite(scores[i]))
      throw invalid_config(std::string(who) + ": score " + std::to_string(i) + " is not finite");
    if (member[i] > 1)
      throw invalid_config(std::string(who) + ": label " + std::to_string(i) + " is " +
                           std::to_string(member[i]) + ", expected 0 (non-member) or 1 (member)");
    positives += member[i];
  }
  if (positives == 0 || positives == scores.size())
    throw invalid_config(std::string(who) + ": needs at least one member and one non-member, got " +
                         std::to_string(positives) + " members of " + std::to_string(scores.size()));
}

/// Indices sorted by descending score (stable: equal scores keep their order).
inline std::vector<std::size_t> descending_order(std::span<const double> scores) {
  std::vector<std::size_t> order(scores.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return scores[a] > scores[b]; });
  return order;
}
} // namespace detail

/// The ROC curve from (fpr, tpr) = (0, 0) to (1, 1): one point per distinct score, in descending
/// threshold order. Throws invalid_config for sizes that differ, a non-finite score, a label other
/// than 0/1, or a set without both classes.
[[nodiscard]] inline std::vector<roc_point> roc_curve(std::span<const double> scores,
                                                      std::span<const std::uint8_t> member) {
  detail::check_roc_input("roc_curve", scores, member);
  const auto order = detail::descending_order(scores);
  double positives = 0;
  for (auto m : member) positives += m;
  const double negatives = static_cast<double>(scores.size()) - positives;
  std::vector<roc_point> curve{{HUGE_VAL, 0, 0}};
  double tp = 0, fp = 0;
  for (std::size_t k = 0; k < order.size();) {
    const double s = scores[order[k]];
    for (; k < order.size() && scores[order[k]] == s; ++k) (member[order[k]] ? tp : fp) += 1;
    curve.push_back({s, fp / negatives, tp / positives});
  }
  return curve;
}

/// Area under the ROC curve: P[score(member) > score(non-member)] + ½ P[equal], computed from
/// mid-ranks (Mann–Whitney U / (n₁ n₀)) in O(n log n). Same refusals as roc_curve.
[[nodiscard]] inline double roc_auc(std::span<const double> scores, std::span<const std::uint8_t> member) {
  detail::check_roc_input("roc_auc", scores, member);
  std::vector<std::size_t> order(scores.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return scores[a] < scores[b]; });
  double rank_sum = 0, positives = 0; // sum of the members' (1-based) mid-ranks
  for (std::size_t k = 0; k < order.size();) {
    std::size_t e = k;
    while (e < order.size() && scores[order[e]] == scores[order[k]]) ++e;
    const double mid_rank = 0.5 * static_cast<double>(k + 1 + e); // mean of ranks k+1 .. e
    for (std::size_t j = k; j < e; ++j)
      if (member[order[j]]) {
        rank_sum += mid_rank;
        positives += 1;
      }
    k = e;
  }
  const double negatives = static_cast<double>(scores.size()) - positives;
  return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives);
}

/// The largest true positive rate among the curve's points whose false positive rate is strictly
/// below `max_fpr` (Carlini et al.'s `tpr[np.where(fpr < max_fpr)[0][-1]]`). Throws invalid_config
/// for max_fpr outside (0, 1] and the roc_curve refusals.
[[nodiscard]] inline double tpr_at_fpr(std::span<const double> scores, std::span<const std::uint8_t> member,
                                       double max_fpr) {
  if (!(max_fpr > 0 && max_fpr <= 1))
    throw invalid_config("tpr_at_fpr: max_fpr must be in (0, 1], got " + std::to_string(max_fpr));
  double best = 0;
  for (const auto& p : roc_curve(scores, member))
    if (p.fpr < max_fpr) best = std::max(best, p.tpr);
  return best;
}

} // namespace fedpp::audit
