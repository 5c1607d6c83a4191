/// \file staleness_function.hpp
/// The staleness_function concept: how much an asynchronous update is trusted given how many
/// server versions it lags behind.
///
/// Staleness d = (server version when the update is applied) − (version the client pulled),
/// so d = 0 for a client that trained on the current model. (Xie et al. 2019 write the same
/// quantity as t − τ, with t the version being produced, i.e. our d + 1; we count from 0 so
/// that every built-in gives a fresh update the full weight s(0) = 1.)
///
/// | expression   | type / effect                                                             |
/// |--------------|---------------------------------------------------------------------------|
/// | `cs(d)`      | `double` in (0, 1]: the weight of an update of staleness d (std::uint64_t), |
/// |              | non-increasing in d; noexcept, parameters validated at construction       |
///
/// Built-ins: constant_staleness, polynomial_staleness, hinge_staleness, inverse_sqrt_staleness.
#pragma once

#include <concepts>
#include <cstdint>

namespace fedpp {

/// See the table above.
template <class F>
concept staleness_function = std::copy_constructible<F> && requires(const F& cs, std::uint64_t d) {
  { cs(d) } -> std::convertible_to<double>;
};

} // namespace fedpp
