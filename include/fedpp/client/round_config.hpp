/// \file round_config.hpp
/// What the server tells a client about one round of local training.
#pragma once

#include "fedpp/error.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace fedpp {

/// Local-training settings for one round; `extra` carries algorithm-specific key/values
/// (e.g. "fedprox.mu" = "0.01") as text so that they travel in the wire format unchanged.
struct round_config {
  std::uint64_t round = 0;                  ///< round number, from 0
  std::uint32_t local_epochs = 1;           ///< passes over the client's data
  std::uint32_t batch_size = 32;            ///< minibatch size
  double learning_rate = 0.01;              ///< client step size
  std::chrono::milliseconds deadline{0};    ///< time the client has to report; 0 = none
  std::map<std::string, std::string> extra; ///< algorithm-specific settings

  /// `extra[key]` parsed as a double, or `fallback` when absent; throws invalid_config when the
  /// value is not a number.
  [[nodiscard]] double get_double(const std::string& key, double fallback) const {
    const auto it = extra.find(key);
    if (it == extra.end()) return fallback;
    std::size_t used = 0;
    double value = 0;
    try {
      value = std::stod(it->second, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != it->second.size() || it->second.empty())
      throw invalid_config("round_config: extra['" + key + "'] = '" + it->second + "' is not a number");
    return value;
  }

  friend bool operator==(const round_config&, const round_config&) = default;
};

} // namespace fedpp
