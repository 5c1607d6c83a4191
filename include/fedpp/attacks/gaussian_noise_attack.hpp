/// \file gaussian_noise_attack.hpp
/// Gaussian attack (Blanchard et al. 2017, §5; Fang et al. 2020): an attacker uploads random
/// N(0, σ²) values instead of its change (mode replace) or adds them to it (mode add). The noise
/// is seeded by (seed, round, client), so runs repeat exactly. A client hook.
#pragma once

#include "fedpp/attacks/attacker_set.hpp"
#include "fedpp/client/round_config.hpp"
#include "fedpp/random/distributions.hpp"
#include "fedpp/random/rng.hpp"

#include <cstdint>
#include <span>

namespace fedpp::attacks {

/// Client hook: attackers send (or add) Gaussian noise.
struct gaussian_noise_attack {
  attacker_set attackers; ///< who attacks
  double sigma = 1.0;     ///< σ of the noise
  bool replace = true;    ///< true: send noise only; false: add it to Δ
  std::uint64_t seed = 0; ///< noise seed

  /// In place on the upload; honest clients pass through.
  template <class T>
  void process_update(client_id client, const round_config& config, std::span<T> delta) const {
    if (!attackers.contains(client)) return;
    rng gen = rng::for_stream(seed ^ (config.round * 0x9e3779b97f4a7c15ULL), client);
    for (T& v : delta)
      v = static_cast<T>((replace ? 0.0 : static_cast<double>(v)) + random::normal(gen, 0.0, sigma));
  }
};

} // namespace fedpp::attacks
