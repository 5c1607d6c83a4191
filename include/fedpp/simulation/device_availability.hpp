/// \file device_availability.hpp
/// Adapter from the simulated device_model to the orchestration's availability_model concept:
/// the server asks it, before a round, whether each selected client drops out and how long its
/// local training plus upload will take.
#pragma once

#include "fedpp/client/round_config.hpp"
#include "fedpp/error.hpp"
#include "fedpp/orchestration/availability.hpp"
#include "fedpp/simulation/device_model.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace fedpp::simulation {

/// Forecasts from a device_model, given how many examples each client holds (client id k has
/// examples_per_client[k], e.g. partition[k].size()) and the bytes each client uploads.
class device_availability {
public:
  static constexpr bool simulated = true;

  device_availability(device_model devices, std::vector<std::size_t> examples_per_client,
                      std::size_t payload_bytes = 0)
      : devices_(std::move(devices)), examples_(std::move(examples_per_client)),
        payload_bytes_(payload_bytes) {}

  /// drops_out and simulated_duration(id, config.round, examples, config.local_epochs,
  /// payload bytes) of the device model. Throws invalid_config for an unknown client id.
  [[nodiscard]] client_forecast forecast(client_id id, std::uint64_t round,
                                         const round_config& config) const {
    if (id >= examples_.size())
      throw invalid_config("device_availability: client " + std::to_string(id) + " is not among the " +
                           std::to_string(examples_.size()) + " simulated clients");
    const auto seconds =
        devices_.simulated_duration(id, round, examples_[id], config.local_epochs, payload_bytes_);
    return {devices_.drops_out(id, round), std::chrono::duration_cast<std::chrono::nanoseconds>(seconds)};
  }

  [[nodiscard]] const device_model& devices() const noexcept { return devices_; }
  /// Sets the upload size (e.g. after compression is configured).
  void set_payload_bytes(std::size_t bytes) noexcept { payload_bytes_ = bytes; }

private:
  device_model devices_;
  std::vector<std::size_t> examples_;
  std::size_t payload_bytes_;
};

static_assert(availability_model<device_availability>);

} // namespace fedpp::simulation
