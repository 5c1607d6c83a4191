/// \file polynomial_staleness.hpp
/// s(d) = (d + 1)^(−a): FedAsync's polynomial staleness function (Xie, Koyejo & Gupta 2019,
/// "Asynchronous Federated Optimization", §5, with d = t − τ counted from 0).
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/scheduling/detail/format.hpp"
#include "fedpp/scheduling/staleness_function.hpp"

#include <cmath>
#include <cstdint>

namespace fedpp {

/// s(d) = (d + 1)^(−a), a > 0.
class polynomial_staleness {
public:
  /// Throws invalid_config unless a is finite and > 0.
  explicit polynomial_staleness(double a) : a_(a) {
    if (!(a > 0) || !std::isfinite(a))
      throw invalid_config("polynomial_staleness: exponent a = " + detail::format_number(a) +
                           " must be finite and > 0");
  }

  /// (d + 1)^(−a).
  [[nodiscard]] double operator()(std::uint64_t staleness) const noexcept {
    return std::pow(static_cast<double>(staleness) + 1.0, -a_);
  }

  /// The exponent a.
  [[nodiscard]] double exponent() const noexcept { return a_; }

private:
  double a_;
};

static_assert(staleness_function<polynomial_staleness>);

} // namespace fedpp
