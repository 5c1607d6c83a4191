/// \file aggregator.hpp
/// The aggregator concept: a regular value type that absorbs client inputs one at a time,
/// merges with partial aggregates of the same kind, and reports once.
///
/// | expression               | type / effect                                                    |
/// |--------------------------|------------------------------------------------------------------|
/// | `A::input_type`          | what one client contributes (e.g. `client_update<float>`)        |
/// | `A::result_type`         | what `report()` yields (e.g. `flat_model<float>`)                |
/// | `a.accumulate(in)`       | adds one input; validates first, throws `rejected_update` with   |
/// |                          | `a` unchanged when the input is bad                              |
/// | `a.merge(std::move(b))`  | `a` becomes the aggregate of both input sets; throws             |
/// |                          | `invalid_config` with `a` unchanged when they are incompatible   |
/// | `ca.num_inputs()`        | inputs absorbed so far (merged ones included)                    |
/// | `ca.can_report()`        | true when `report()` would succeed                               |
/// | `std::move(a).report()`  | the aggregate; `a` is consumed                                   |
#pragma once

#include <concepts>
#include <cstddef>
#include <utility>
#include <vector>

#include "fedpp/error.hpp"

namespace fedpp {

/// See the table above.
template <class A>
concept aggregator = std::movable<A> &&
    requires(A& a, A&& other, const A& ca, const typename A::input_type& input) {
  typename A::input_type;
  typename A::result_type;
  a.accumulate(input);
  a.merge(std::move(other));
  { ca.num_inputs() } -> std::convertible_to<std::size_t>;
  { ca.can_report() } -> std::convertible_to<bool>;
  { std::move(a).report() } -> std::convertible_to<typename A::result_type>;
};

/// Merges partial aggregates (one per thread, or one per lower tier of a hierarchy) into the
/// first; throws invalid_config for an empty list.
template <aggregator A>
[[nodiscard]] A merge_all(std::vector<A>&& partials) {
  if (partials.empty()) throw invalid_config("merge_all: no partial aggregates to merge");
  A total = std::move(partials.front());
  for (std::size_t i = 1; i < partials.size(); ++i) total.merge(std::move(partials[i]));
  partials.clear();
  return total;
}

} // namespace fedpp
