/// \file availability.hpp
/// Availability models tell the server, before a round, what each selected client will do — in
/// simulation, where device speeds and dropouts are simulated; a real deployment learns it from
/// the wall clock instead (`wall_clock_availability`, the default).
///
/// | expression                        | type / effect                                              |
/// |-----------------------------------|------------------------------------------------------------|
/// | `A::simulated`                    | `bool` constant: true when forecasts replace the wall clock |
/// | `a.forecast(id, round, config)`   | `client_forecast` (only needed when `simulated`)            |
#pragma once

#include "fedpp/client/round_config.hpp"
#include "fedpp/error.hpp"

#include <chrono>
#include <concepts>
#include <cstdint>

namespace fedpp {

/// What a simulated client will do in a round.
struct client_forecast {
  bool drops_out = false;               ///< never reports
  std::chrono::nanoseconds duration{0}; ///< simulated time from the broadcast to its report
};

/// See the table above.
template <class A>
concept availability_model = requires {
  { A::simulated } -> std::convertible_to<bool>;
}
&&(!A::simulated || requires(const A& a, client_id id, std::uint64_t round, const round_config& config) {
  { a.forecast(id, round, config) } -> std::convertible_to<client_forecast>;
});

/// Real time: reports are judged by when they arrive.
struct wall_clock_availability {
  static constexpr bool simulated = false;
};

static_assert(availability_model<wall_clock_availability>);

} // namespace fedpp
