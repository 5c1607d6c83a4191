/// \file robust_aggregator.hpp
/// An aggregator that keeps the round's updates (an update_matrix within a memory budget) and
/// combines them at report time with a robust rule (median, trimmed mean, Krum, Bulyan, ...).
///
/// The `robust_rule` concept:
///
/// | expression                    | type / effect                                                 |
/// |-------------------------------|---------------------------------------------------------------|
/// | `r.name()`                    | `const char*`, for messages ("krum")                          |
/// | `r.problem(n)`                | `std::optional<std::string>`: why the rule cannot run on n    |
/// |                               | updates, naming the numbers (e.g. Krum needs n > 2f + 2), or  |
/// |                               | nullopt when it can                                           |
/// | `r.reduce(m, out)`            | writes the aggregate of the rows of `m` (a const              |
/// |                               | `update_matrix<T>&`) into `out` (D); throws invalid_config    |
/// |                               | when `r.problem(m.rows())`                                    |
/// | optional `R::options_type`    | the rule's options struct, constructible as `R(options)`      |
///
/// A count the rule cannot work with is not an exception at report time: `can_report()` is
/// false and `report_blocker()` says why, so fedpp::server fails the round (counted in its
/// metrics) instead of throwing; `check(n)` refuses a planned count up front.
#pragma once

#include "fedpp/aggregation/aggregator.hpp"
#include "fedpp/aggregation/client_update.hpp"
#include "fedpp/aggregation/robust/update_matrix.hpp"
#include "fedpp/error.hpp"
#include "fedpp/kernels/finite.hpp"
#include "fedpp/tensor/flat_model.hpp"
#include "fedpp/tensor/model_layout.hpp"

#include <cmath>
#include <concepts>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace fedpp {

namespace detail {
/// R::options_type, or void for rules without options.
template <class R>
struct rule_options {
  using type = void;
};
template <class R>
requires requires { typename R::options_type; }
struct rule_options<R> {
  using type = typename R::options_type;
};
} // namespace detail

/// See the table above.
template <class R, class T>
concept robust_rule = element_type<T> && std::copy_constructible<R> &&
    requires(const R& r, std::size_t n, const update_matrix<T>& m, std::span<T> out) {
  { r.name() } -> std::convertible_to<const char*>;
  { r.problem(n) } -> std::convertible_to<std::optional<std::string>>;
  r.reduce(m, out);
};

/// Buffers the round's updates (deltas) and reduces them with `Rule` at report time.
/// Satisfies `aggregator` with input client_update<T> and result flat_model<T>, so it plugs
/// into fedpp::server as its Aggregator (through a factory when the rule has parameters).
template <element_type T, robust_rule<T> Rule>
class robust_aggregator {
  static_assert(std::is_floating_point_v<T>, "robust aggregators work on floating-point updates");

public:
  using input_type = client_update<T>;
  using result_type = flat_model<T>;
  using rule_type = Rule;

  /// An empty aggregate for models with this layout; its buffer may take `memory_budget` bytes.
  explicit robust_aggregator(model_layout layout, Rule rule = Rule{},
                             std::size_t memory_budget = default_memory_budget)
      : layout_(std::move(layout)), rule_(std::move(rule)), updates_(layout_.total_size(), memory_budget) {
    if (!layout_.is_uniform(dtype_of<T>))
      throw invalid_config(std::string(rule_.name()) + "<" + to_string(dtype_of<T>) +
                           ">: the layout has tensors of another dtype");
  }

  /// The same with the rule built from its options: `krum<float>(layout, {.byzantine = 2})`.
  template <class R = Rule>
  requires(!std::is_void_v<typename detail::rule_options<R>::type>)
      robust_aggregator(model_layout layout, const typename detail::rule_options<R>::type& options,
                        std::size_t memory_budget = default_memory_budget)
      : robust_aggregator(std::move(layout), Rule(options), memory_budget) {}

  /// Copies one client's update into the buffer. Throws rejected_update (state unchanged) for a
  /// layout that differs, a zero/negative/non-finite weight or a NaN/Inf value, and
  /// invalid_config (state unchanged) when the buffer would exceed the memory budget.
  void accumulate(const input_type& update) {
    validate(update);
    updates_.reserve_more(1, rule_.name());
    std::vector<std::span<const T>> pieces;
    pieces.reserve(update.model.tensors().size());
    for (const auto& t : update.model.tensors()) pieces.push_back(t.view.span());
    updates_.append(update.client, update.weight, pieces);
  }

  /// Takes over the other aggregate's updates (same layout and rule; within the budget), else
  /// throws invalid_config with this one unchanged.
  void merge(robust_aggregator&& other) {
    if (&other == this) throw invalid_config(std::string(rule_.name()) + "::merge: cannot merge into itself");
    if (auto diff = model_layout::describe_difference(layout_, other.layout_))
      throw invalid_config(std::string(rule_.name()) + "::merge: layouts differ: " + *diff);
    updates_.reserve_more(other.updates_.rows(), rule_.name());
    updates_.append_all(other.updates_);
    other.updates_.clear();
  }

  [[nodiscard]] std::size_t num_inputs() const noexcept { return updates_.rows(); }
  /// True when report() will succeed: at least one input, and as many as the rule needs.
  [[nodiscard]] bool can_report() const { return !report_blocker(); }
  /// Why report() would refuse now ("nothing to report", or the rule's reason with the numbers,
  /// e.g. "krum: needs n > 2f + 2 updates, got n = 6 for f = 2 (2f + 2 = 6)"), or nullopt.
  [[nodiscard]] std::optional<std::string> report_blocker() const {
    if (updates_.rows() == 0) return std::string(rule_.name()) + ": nothing to report (0 inputs accepted)";
    return rule_.problem(updates_.rows());
  }
  /// Throws invalid_config (naming the numbers) when the rule cannot run on n inputs: lets a
  /// server refuse a configuration when a round starts, before any client trains.
  void check(std::size_t n) const {
    if (auto why = rule_.problem(n)) throw invalid_config(*why);
  }
  [[nodiscard]] const model_layout& layout() const noexcept { return layout_; }
  [[nodiscard]] const Rule& rule() const noexcept { return rule_; }
  /// The buffered updates.
  [[nodiscard]] const update_matrix<T>& updates() const noexcept { return updates_; }

  /// Writes the robust aggregate into `out` (flat, layout order). Precondition: can_report();
  /// calling it anyway throws invalid_config with report_blocker()'s reason, as does an `out`
  /// of the wrong size.
  void report_into(std::span<T> out) const {
    if (auto why = report_blocker()) throw invalid_config(*why);
    if (out.size() != layout_.total_size())
      throw invalid_config(std::string(rule_.name()) + "::report_into: output has " +
                           std::to_string(out.size()) + " elements, the model " +
                           std::to_string(layout_.total_size()));
    rule_.reduce(updates_, out);
  }

  /// The robust aggregate as a model; consumes the aggregate. Precondition: can_report().
  [[nodiscard]] flat_model<T> report() && {
    flat_model<T> result(layout_);
    report_into(result.span());
    return result;
  }

  /// Forgets every input (keeps the allocation).
  void clear() noexcept { updates_.clear(); }

private:
  void validate(const input_type& update) const {
    if (auto diff = update.model.describe_mismatch(layout_))
      throw rejected_update(update.client, rejection_reason::layout_mismatch, *diff);
    if (!(std::isfinite(update.weight) && update.weight > 0))
      throw rejected_update(update.client, rejection_reason::bad_weight,
                            "weight " + std::to_string(update.weight) +
                                " (the number of examples must be finite and > 0)");
    for (const auto& t : update.model.tensors()) {
      const auto values = t.view.span();
      const std::size_t bad = kernels::find_non_finite(values);
      if (bad != values.size())
        throw rejected_update(update.client, rejection_reason::non_finite,
                              "tensor '" + t.name + "' element " + std::to_string(bad) + " is " +
                                  std::to_string(values[bad]));
    }
  }

  model_layout layout_;
  Rule rule_;
  update_matrix<T> updates_;
};

} // namespace fedpp
