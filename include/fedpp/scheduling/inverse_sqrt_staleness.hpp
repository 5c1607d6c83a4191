/// \file inverse_sqrt_staleness.hpp
/// s(d) = 1/√(1 + d): FedBuff's staleness discount (Nguyen et al. 2022, "Federated Learning
/// with Buffered Asynchronous Aggregation", §3 and Appendix: updates are scaled by
/// 1/√(1 + staleness)).
#pragma once

#include "fedpp/scheduling/staleness_function.hpp"

#include <cmath>
#include <cstdint>

namespace fedpp {

/// s(d) = 1/√(1 + d).
struct inverse_sqrt_staleness {
  /// 1/√(1 + d).
  [[nodiscard]] double operator()(std::uint64_t staleness) const noexcept {
    return 1.0 / std::sqrt(1.0 + static_cast<double>(staleness));
  }
};

static_assert(staleness_function<inverse_sqrt_staleness>);

} // namespace fedpp
