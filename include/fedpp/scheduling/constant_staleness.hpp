/// \file constant_staleness.hpp
/// s(d) = 1: staleness ignored (FedAsync's "constant" option, Xie et al. 2019, §5).
#pragma once

#include "fedpp/scheduling/staleness_function.hpp"

#include <cstdint>

namespace fedpp {

/// s(d) = 1 for every staleness d.
struct constant_staleness {
  /// 1.
  [[nodiscard]] constexpr double operator()(std::uint64_t /*staleness*/) const noexcept { return 1.0; }
};

static_assert(staleness_function<constant_staleness>);

} // namespace fedpp
