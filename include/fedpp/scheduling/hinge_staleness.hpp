/// \file hinge_staleness.hpp
/// s(d) = 1 for d ≤ b, 1/(a(d − b) + 1) beyond: FedAsync's hinge staleness function (Xie,
/// Koyejo & Gupta 2019, "Asynchronous Federated Optimization", §5, with d = t − τ from 0).
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/scheduling/detail/format.hpp"
#include "fedpp/scheduling/staleness_function.hpp"

#include <cmath>
#include <cstdint>
#include <string>

namespace fedpp {

/// Full weight up to staleness b, then decaying like 1/(a(d − b) + 1); a > 0, b ≥ 0.
class hinge_staleness {
public:
  /// Throws invalid_config unless a is finite and > 0 and b is finite and ≥ 0.
  hinge_staleness(double a, double b) : a_(a), b_(b) {
    if (!(a > 0) || !std::isfinite(a))
      throw invalid_config("hinge_staleness: slope a = " + detail::format_number(a) +
                           " must be finite and > 0");
    if (!(b >= 0) || !std::isfinite(b))
      throw invalid_config("hinge_staleness: threshold b = " + detail::format_number(b) +
                           " must be finite and >= 0");
  }

  /// 1 if d ≤ b, else 1/(a(d − b) + 1).
  [[nodiscard]] double operator()(std::uint64_t staleness) const noexcept {
    const auto d = static_cast<double>(staleness);
    return d <= b_ ? 1.0 : 1.0 / (a_ * (d - b_) + 1.0);
  }

  /// The slope a.
  [[nodiscard]] double slope() const noexcept { return a_; }
  /// The threshold b.
  [[nodiscard]] double threshold() const noexcept { return b_; }

private:
  double a_;
  double b_;
};

static_assert(staleness_function<hinge_staleness>);

} // namespace fedpp
