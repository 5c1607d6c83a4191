/// \file over_selection.hpp
/// Over-selection against dropouts (Bonawitz et al. 2019, "Towards Federated Learning at Scale:
/// System Design", §2.2: select ~130% of the target, keep the first reports): sample
/// m' = min(N, ⌈m·(1 + ε)⌉) clients so that m reports are likely to arrive; the round keeps the
/// first m (round_tracker with round_policy::target_reports = target_reports()) and counts the
/// rest as surplus.
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/random/rng.hpp"
#include "fedpp/scheduling/client_sampler.hpp"
#include "fedpp/scheduling/detail/format.hpp"
#include "fedpp/scheduling/uniform_sampler.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace fedpp {

/// Wraps a sampler that picks m clients so that it picks m' = min(N, ⌈m·(1 + ε)⌉) instead.
/// `sample` returns the m' clients; `target_reports()` is m, the reports the round keeps.
template <sized_client_sampler Sampler>
class over_selection {
public:
  /// Over-selects by the fraction `epsilon` (ε ≥ 0, finite) around `base`, whose sample size
  /// is the target m. Throws invalid_config for a negative, NaN or infinite ε.
  over_selection(Sampler base, double epsilon)
      : target_(base.sample_size()), epsilon_(epsilon),
        inner_(
            base.with_sample_size(over_selected_size(base.sample_size(), base.population_size(), epsilon))) {}

  /// The m' clients of this round (the base sampler's picks for size m').
  [[nodiscard]] std::vector<client_id> sample(std::uint64_t round, rng& gen) {
    return inner_.sample(round, gen);
  }

  /// N, the number of clients sampled from.
  [[nodiscard]] std::size_t population_size() const noexcept { return inner_.population_size(); }
  /// m', the number of clients each round picks.
  [[nodiscard]] std::size_t sample_size() const noexcept { return inner_.sample_size(); }
  /// m, the number of reports the round keeps.
  [[nodiscard]] std::size_t target_reports() const noexcept { return target_; }
  /// ε, the over-selection fraction.
  [[nodiscard]] double epsilon() const noexcept { return epsilon_; }
  /// The wrapped sampler, configured for m'.
  [[nodiscard]] const Sampler& inner() const noexcept { return inner_; }

  /// P(a client is sampled) for the m' draw, when the base sampler knows it (e.g. m'/N).
  /// (A member template so that explicit instantiation never instantiates it for samplers
  /// without one.)
  template <class S = Sampler>
  requires has_inclusion_probability<S>
  [[nodiscard]] double inclusion_probability() const { return inner_.inclusion_probability(); }

  /// The same target and base population, over-selected by `epsilon` instead.
  [[nodiscard]] over_selection with_epsilon(double epsilon) const {
    return over_selection(inner_.with_sample_size(target_), epsilon);
  }

  /// min(N, ⌈m·(1 + ε)⌉). m·ε within 1e-9 (relative) of an integer counts as that integer, so
  /// that ε = 0.3, m = 10 gives 13 although 10·0.3 is 3.0000000000000004 in binary.
  [[nodiscard]] static std::size_t over_selected_size(std::size_t m, std::size_t n, double epsilon) {
    if (!(epsilon >= 0) || !std::isfinite(epsilon))
      throw invalid_config("over_selection: epsilon = " + detail::format_number(epsilon) +
                           " must be finite and >= 0");
    double extra = static_cast<double>(m) * epsilon;
    const double nearest = std::round(extra);
    if (std::abs(extra - nearest) <= 1e-9 * std::max(1.0, nearest)) extra = nearest;
    extra = std::ceil(extra);
    const double total = static_cast<double>(m) + extra;
    if (total >= static_cast<double>(n)) return n;
    return static_cast<std::size_t>(total);
  }

private:
  std::size_t target_;
  double epsilon_;
  Sampler inner_;
};

static_assert(client_sampler<over_selection<uniform_sampler>>);
static_assert(has_inclusion_probability<over_selection<uniform_sampler>>);

} // namespace fedpp
