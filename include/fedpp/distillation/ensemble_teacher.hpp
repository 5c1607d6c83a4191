/// \file ensemble_teacher.hpp
/// The teacher of ensemble distillation: the logits of K member models on the same n proxy rows,
/// combined per (row, class). FedDF's rule (Lin et al. 2020, Algorithm 1, "AVGLOGITS") is the
/// unweighted mean t = (1/K) Σ_k z_k, whose softmax at temperature T is the teacher distribution;
/// the coordinate-wise median (for an even K the mean of the two middle values) is a robust
/// alternative: a minority of members with arbitrary (finite) logits moves it at most to the range
/// of the honest members' values, where it moves the mean without bound.
#pragma once

#include "fedpp/error.hpp"

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace fedpp::distillation {

/// How the members' logits are combined.
enum class ensemble_rule {
  mean_logits,  ///< (1/K) Σ_k z_k: FedDF's AVGLOGITS (memory: n × C doubles)
  median_logits ///< coordinate-wise median over k (memory: K × n × C values)
};

/// Name of an ensemble rule ("mean", "median").
[[nodiscard]] inline const char* to_string(ensemble_rule r) noexcept {
  return r == ensemble_rule::mean_logits ? "mean" : "median";
}

/// Accumulates the members' logits (n × C each) and reports the combined teacher logits.
/// Validates before it changes anything; merge() combines partial ensembles over disjoint members.
template <std::floating_point V>
class ensemble_teacher {
public:
  /// An empty ensemble over `rows` × `classes` logits. Throws invalid_config when either is 0.
  ensemble_teacher(std::size_t rows, std::size_t classes, ensemble_rule rule = ensemble_rule::mean_logits)
      : rows_(rows), classes_(classes), rule_(rule) {
    if (rows == 0 || classes == 0)
      throw invalid_config("ensemble_teacher: rows and classes must be > 0, got " + std::to_string(rows) +
                           " and " + std::to_string(classes));
    if (rule_ == ensemble_rule::mean_logits) sum_.assign(rows * classes, 0.0);
  }

  [[nodiscard]] std::size_t rows() const noexcept { return rows_; }
  [[nodiscard]] std::size_t classes() const noexcept { return classes_; }
  [[nodiscard]] ensemble_rule rule() const noexcept { return rule_; }
  /// K, the members added (merged ones included).
  [[nodiscard]] std::size_t members() const noexcept { return members_; }

  /// Throws invalid_config unless `logits` are rows × classes finite values (naming the first bad
  /// one). What add() checks; callers that must refuse a member before touching other state call
  /// it first.
  void check(std::span<const V> logits) const {
    if (logits.size() != rows_ * classes_)
      throw invalid_config("ensemble_teacher: " + std::to_string(logits.size()) + " logits, expected " +
                           std::to_string(rows_) + " rows x " + std::to_string(classes_) + " classes");
    for (std::size_t i = 0; i < logits.size(); ++i)
      if (!std::isfinite(static_cast<double>(logits[i])))
        throw invalid_config("ensemble_teacher: logit of row " + std::to_string(i / classes_) + " class " +
                             std::to_string(i % classes_) + " is not finite");
  }

  /// Makes room for `more` members so that commit() cannot fail (median rule).
  void reserve(std::size_t more) {
    if (rule_ == ensemble_rule::median_logits) stored_.reserve(stored_.size() + more);
  }

  /// Adds one member's logits: check(), then commit(). Throws invalid_config, nothing changed.
  void add(std::vector<V> logits) {
    check(logits);
    reserve(1);
    commit(std::move(logits));
  }

  /// Adds a member's checked logits; cannot fail after reserve(1) (the caller ran check()).
  void commit(std::vector<V>&& logits) noexcept {
    if (rule_ == ensemble_rule::mean_logits) {
      for (std::size_t i = 0; i < sum_.size(); ++i) sum_[i] += static_cast<double>(logits[i]);
    } else {
      stored_.push_back(std::move(logits)); // capacity reserved: no reallocation, no throw
    }
    ++members_;
  }

  /// This ensemble becomes the ensemble of both member sets. Throws invalid_config (nothing
  /// changed) for another shape or rule, or a merge into itself.
  void merge(ensemble_teacher&& other) {
    if (&other == this) throw invalid_config("ensemble_teacher::merge: cannot merge an ensemble into itself");
    if (other.rows_ != rows_ || other.classes_ != classes_ || other.rule_ != rule_)
      throw invalid_config("ensemble_teacher::merge: the ensembles differ in shape or rule");
    if (rule_ == ensemble_rule::mean_logits) {
      for (std::size_t i = 0; i < sum_.size(); ++i) sum_[i] += other.sum_[i];
    } else {
      stored_.reserve(stored_.size() + other.stored_.size());
      for (auto& m : other.stored_) stored_.push_back(std::move(m));
      other.stored_.clear();
    }
    members_ += other.members_;
    other.members_ = 0;
  }

  /// The teacher's logits (rows × classes, double): the mean or the coordinate-wise median of the
  /// members'. Throws invalid_config when there is no member.
  [[nodiscard]] std::vector<double> logits() const {
    if (members_ == 0) throw invalid_config("ensemble_teacher: no member to teach");
    std::vector<double> out(rows_ * classes_);
    if (rule_ == ensemble_rule::mean_logits) {
      const double inv = 1.0 / static_cast<double>(members_);
      for (std::size_t i = 0; i < out.size(); ++i) out[i] = sum_[i] * inv;
      return out;
    }
    std::vector<double> column(stored_.size());
    const std::size_t k = column.size();
    const auto mid = static_cast<std::ptrdiff_t>(k / 2);
    for (std::size_t i = 0; i < out.size(); ++i) {
      for (std::size_t m = 0; m < k; ++m) column[m] = static_cast<double>(stored_[m][i]);
      std::nth_element(column.begin(), column.begin() + mid, column.end());
      double median = column[k / 2];
      if (k % 2 == 0) median = 0.5 * (median + *std::max_element(column.begin(), column.begin() + mid));
      out[i] = median;
    }
    return out;
  }

private:
  std::size_t rows_, classes_;
  ensemble_rule rule_;
  std::size_t members_ = 0;
  std::vector<double> sum_;            // mean rule
  std::vector<std::vector<V>> stored_; // median rule
};

} // namespace fedpp::distillation
