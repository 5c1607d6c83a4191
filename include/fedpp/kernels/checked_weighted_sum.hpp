/// \file checked_weighted_sum.hpp
/// out = base + Σ_k w_k x_k with every input checked for NaN/Inf in the same pass over memory.
///
/// FedAvg must reject a client whose update holds a NaN or Inf before the update touches the
/// running sum (strong guarantee). Checking all inputs first and then accumulating reads every
/// input from memory twice. This kernel reads each input once: for each cache-sized block it
/// checks the data it has just loaded for the fold: x·0 is NaN exactly when x is Inf or NaN, so
/// one multiply-add per vector into a register that stays 0 otherwise is the whole test
/// (IEEE 754; not valid under -ffast-math / -ffinite-math-only). Keeping the caller's state intact
/// on a rejection is then a matter of writing into a buffer other than `base` and swapping on
/// success (an aggregator with a second accumulator). In place, each cache-sized block of all
/// inputs is checked first and folded from cache afterwards (slower: shorter memory bursts).
#pragma once

#include "fedpp/config.hpp"
#include "fedpp/kernels/dispatch.hpp"
#include "fedpp/kernels/finite.hpp"
#include "fedpp/kernels/scaled_accumulate.hpp"
#include "fedpp/kernels/tuning.hpp"
#include "fedpp/kernels/weighted_sum.hpp"
#include "fedpp/kernels/write_mode.hpp"

#include <algorithm>
#include <cstddef>
#include <optional>
#include <span>
#include <vector>

namespace fedpp::kernels {

/// Position of a NaN or Inf among weighted_sum_checked's inputs.
struct non_finite_element {
  std::size_t input; ///< index into `inputs`
  std::size_t index; ///< element index within that input
  friend bool operator==(const non_finite_element&, const non_finite_element&) = default;
};

namespace detail {

/// The first non-finite element in (input, index) order, if any (the rare, rejecting path).
template <class T>
[[nodiscard]] std::optional<non_finite_element> first_non_finite(std::span<const std::span<const T>> inputs) {
  for (std::size_t j = 0; j < inputs.size(); ++j) {
    const std::size_t bad = find_non_finite(inputs[j]);
    if (bad != inputs[j].size()) return non_finite_element{j, bad};
  }
  return std::nullopt;
}

} // namespace detail

/// Block length (elements) weighted_sum_checked uses in place for `num_inputs` inputs of type T.
template <class T>
[[nodiscard]] constexpr std::size_t checked_block_elements(std::size_t num_inputs) noexcept {
  using tuning = checked_weighted_sum_tuning;
  const std::size_t per_input =
      tuning::cache_budget_bytes / (std::max<std::size_t>(num_inputs, 1) * sizeof(T));
  const std::size_t rounded = per_input / 64 * 64;
  return std::clamp(rounded, tuning::min_block_elements, tuning::max_block_elements);
}

/// out[i] = base[i] + Σ_k weights[k] * inputs[k][i] on an explicit path, unless some input holds
/// a NaN or Inf: then returns the first one in (input, index) order. `out` may alias `base`
/// exactly (in place) or not overlap it at all. On a non-finite input, `base` is untouched when
/// distinct from `out` and `out` holds unspecified values; in place, the blocks before the one
/// holding the bad element are updated. Sizes as for weighted_sum. The distinct-buffer form is
/// the fast one: a single pass over the inputs, as fast as weighted_sum.
template <class Acc, class T>
requires detail::accumulable<Acc, T>
[[nodiscard]] std::optional<non_finite_element>
weighted_sum_checked_on(isa path, std::span<Acc> out, std::span<const Acc> base,
                        std::span<const std::span<const T>> inputs, std::span<const Acc> weights) {
  FEDPP_ASSERT(inputs.size() == weights.size());
  FEDPP_ASSERT(out.size() == base.size());
  FEDPP_ASSERT(out.data() == base.data() || out.data() + out.size() <= base.data() ||
               base.data() + base.size() <= out.data());
  FEDPP_ASSERT(isa_available(path));
  const std::size_t n = out.size();
  if (out.data() != base.data() || n == 0) {
    // Distinct buffers: one fused pass (the finiteness test rides on the loads of the fold);
    // on a hit, out is garbage, base untouched, and a full scan locates the first bad element.
    if (detail::run_weighted_sum<true, Acc, T>(path, out.data(), base.data(), inputs, weights.data(), n))
      return std::nullopt;
    return detail::first_non_finite(inputs);
  }
  // In place: each block of every input is checked (and so brought into cache) before any of
  // it is folded, so a rejection leaves the blocks from the bad one on untouched.
  const std::size_t block = checked_block_elements<T>(inputs.size());
  std::vector<std::span<const T>> slices(inputs.size());
  for (std::size_t b0 = 0; b0 < n; b0 += block) {
    const std::size_t len = std::min(block, n - b0);
    for (std::size_t k = 0; k < inputs.size(); ++k) {
      slices[k] = inputs[k].subspan(b0, len);
      if (find_non_finite(slices[k]) != len) return detail::first_non_finite(inputs);
    }
    weighted_sum_on<Acc, T>(path, out.subspan(b0, len), slices, weights, write_mode::accumulate);
  }
  return std::nullopt;
}

/// weighted_sum_checked_on on the best path for this CPU (active_isa()).
template <class Acc, class T>
requires detail::accumulable<Acc, T>
[[nodiscard]] std::optional<non_finite_element>
weighted_sum_checked(std::span<Acc> out, std::span<const Acc> base,
                     std::span<const std::span<const T>> inputs, std::span<const Acc> weights) {
  return weighted_sum_checked_on<Acc, T>(active_isa(), out, base, inputs, weights);
}

} // namespace fedpp::kernels
