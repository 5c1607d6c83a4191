/// \file profiles.hpp
/// Named starting points for the two ends of federated learning (Kairouz et al. 2021, "Advances and
/// Open Problems in Federated Learning", Table 1): `profiles::cross_silo` — a few reliable,
/// powerful clients, all of them in every round, many local epochs — and `profiles::cross_device`
/// — a huge population, a small over-selected sample per round, flow control so that a round's
/// memory follows the model and the round, not the population (docs/scale.md). Each returns the
/// server_options and the sampler to build a `fedpp::server` with; change any field afterwards.
#pragma once

#include "fedpp/client/round_config.hpp"
#include "fedpp/error.hpp"
#include "fedpp/orchestration/server.hpp"
#include "fedpp/scheduling/over_selection.hpp"
#include "fedpp/scheduling/uniform_sampler.hpp"

#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>

namespace fedpp::profiles {

/// What the cross-silo profile needs to know.
struct cross_silo_settings {
  std::size_t silos = 0;          ///< S ≥ 2 silos, ids 0..S−1; every one takes part in every round
  std::uint32_t local_epochs = 5; ///< passes over a silo's data per round (> 0)
  std::uint32_t batch_size = 32;  ///< local minibatch (> 0)
  double learning_rate = 0.05;    ///< silo step size (finite, > 0)
  std::uint64_t seed = 0;         ///< the server's seed
  /// How long a round waits for the silos (> 0): they are slow (many epochs) but reliable.
  std::chrono::nanoseconds max_wait = std::chrono::hours(1);
};

/// A cross-silo server's options and sampler.
struct cross_silo_profile {
  server_options options;  ///< min_reports = target = S, no deadline, max_wait, the client config
  uniform_sampler sampler; ///< S of S: every silo, every round
};

/// Every silo in every round (`uniform_sampler(S, S)`), and a round that misses one fails
/// (`min_reports = S`) instead of moving the model with part of the federation; no deadline (a
/// silo trains as long as its epochs take), `max_wait` as given; the round_config carries the
/// epochs, batch size and learning rate. Secure aggregation and stateful clients are policies
/// added on top (example 12). Throws invalid_config for fewer than 2 silos, zero epochs or batch
/// size, a non-finite or non-positive learning rate, or a non-positive max_wait.
[[nodiscard]] inline cross_silo_profile cross_silo(const cross_silo_settings& s) {
  if (s.silos < 2)
    throw invalid_config("profiles::cross_silo: " + std::to_string(s.silos) +
                         " silo(s); cross-silo needs at least 2 (and secure aggregation 2 or more parties)");
  if (s.local_epochs == 0 || s.batch_size == 0)
    throw invalid_config("profiles::cross_silo: local_epochs (" + std::to_string(s.local_epochs) +
                         ") and batch_size (" + std::to_string(s.batch_size) + ") must be > 0");
  if (!(s.learning_rate > 0) || !std::isfinite(s.learning_rate))
    throw invalid_config("profiles::cross_silo: learning_rate must be finite and > 0, got " +
                         std::to_string(s.learning_rate));
  if (s.max_wait.count() <= 0) throw invalid_config("profiles::cross_silo: max_wait must be > 0");
  server_options o;
  o.client_config.local_epochs = s.local_epochs;
  o.client_config.batch_size = s.batch_size;
  o.client_config.learning_rate = s.learning_rate;
  o.target_reports = s.silos;
  o.min_reports = s.silos;
  o.deadline = std::chrono::nanoseconds{0};
  o.max_wait = s.max_wait;
  o.seed = s.seed;
  return {o, uniform_sampler(s.silos, s.silos)};
}

/// What the cross-device profile needs to know.
struct cross_device_settings {
  std::size_t population = 0;     ///< N registered clients, ids 0..N−1 (no memory per client)
  std::size_t per_round = 0;      ///< m reports kept per round (1 ≤ m ≤ N)
  double over_selection = 0.3;    ///< ε: sample ⌈m(1 + ε)⌉ against dropouts (Bonawitz et al. 2019)
  std::size_t min_reports = 0;    ///< fewer accepted reports fail the round; 0 = ⌈m/2⌉
  std::size_t max_in_flight = 64; ///< clients holding the model unanswered (flow control; 0 = all)
  std::uint32_t local_epochs = 1; ///< passes over a device's data (> 0)
  std::uint32_t batch_size = 32;  ///< local minibatch (> 0)
  double learning_rate = 0.05;    ///< device step size (finite, > 0)
  std::chrono::milliseconds deadline{0}; ///< reports must arrive before this (0 = none)
  std::uint64_t seed = 0;                ///< the server's seed
};

/// A cross-device server's options and sampler.
struct cross_device_profile {
  server_options options;                  ///< target m, min_reports, flow control, deadline
  over_selection<uniform_sampler> sampler; ///< ⌈m(1 + ε)⌉ of N, uniformly; O(m) per round
};

/// Samples ⌈m(1 + ε)⌉ of N clients uniformly (Floyd: O(m) time and memory per round, nothing per
/// registered client), keeps the first m reports, fails a round below min_reports, and lets at
/// most max_in_flight clients hold the model unanswered, so a round's memory is bounded by the
/// model size times that window (docs/scale.md). Throws invalid_config for N = 0, m outside
/// [1, N], a bad ε, min_reports above m, zero epochs or batch size, a bad learning rate, or a
/// negative deadline.
[[nodiscard]] inline cross_device_profile cross_device(const cross_device_settings& s) {
  if (s.population == 0 || s.per_round == 0 || s.per_round > s.population)
    throw invalid_config("profiles::cross_device: per_round = " + std::to_string(s.per_round) +
                         " must be in [1, population = " + std::to_string(s.population) + "]");
  const std::size_t min_reports = s.min_reports != 0 ? s.min_reports : (s.per_round + 1) / 2;
  if (min_reports > s.per_round)
    throw invalid_config("profiles::cross_device: min_reports = " + std::to_string(min_reports) +
                         " exceeds per_round = " + std::to_string(s.per_round));
  if (s.local_epochs == 0 || s.batch_size == 0)
    throw invalid_config("profiles::cross_device: local_epochs (" + std::to_string(s.local_epochs) +
                         ") and batch_size (" + std::to_string(s.batch_size) + ") must be > 0");
  if (!(s.learning_rate > 0) || !std::isfinite(s.learning_rate))
    throw invalid_config("profiles::cross_device: learning_rate must be finite and > 0, got " +
                         std::to_string(s.learning_rate));
  if (s.deadline.count() < 0) throw invalid_config("profiles::cross_device: deadline must be >= 0");
  server_options o;
  o.client_config.local_epochs = s.local_epochs;
  o.client_config.batch_size = s.batch_size;
  o.client_config.learning_rate = s.learning_rate;
  o.client_config.deadline = s.deadline;
  o.target_reports = s.per_round;
  o.min_reports = min_reports;
  o.deadline = s.deadline;
  o.max_in_flight = s.max_in_flight;
  o.seed = s.seed;
  return {o, over_selection<uniform_sampler>(uniform_sampler(s.population, s.per_round), s.over_selection)};
}

} // namespace fedpp::profiles
