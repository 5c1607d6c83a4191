/// \file local_dp_hooks.hpp
/// Client hooks for local DP: each client clips its delta to L2 norm C and adds N(0, (σC)² I) itself
/// before upload (the server then sees only noised updates; per-client (ε, δ) is that of one
/// Gaussian mechanism per round it takes part in). With clipping only (σ = 0) the same hooks give
/// the client-side clipping for central DP.
#pragma once

#include "fedpp/client/round_config.hpp"
#include "fedpp/error.hpp"
#include "fedpp/privacy/clipping.hpp"
#include "fedpp/privacy/gaussian_noise.hpp"
#include "fedpp/privacy/secure_rng.hpp"

#include <cmath>
#include <cstdint>
#include <span>
#include <string>

namespace fedpp::privacy {

/// Clip (and optionally noise) every upload.
class local_dp_hooks {
public:
  /// Throws invalid_config unless C > 0 and σ ≥ 0 (both finite).
  local_dp_hooks(double clip_norm, double noise_multiplier, secure_rng gen = secure_rng{})
      : clip_(clip_norm), sigma_(noise_multiplier), gen_(gen) {
    if (!(clip_norm > 0) || !std::isfinite(clip_norm) || !(noise_multiplier >= 0) ||
        !std::isfinite(noise_multiplier))
      throw invalid_config("local_dp_hooks: need C > 0 and sigma >= 0, got C = " + std::to_string(clip_norm) +
                           ", sigma = " + std::to_string(noise_multiplier));
  }
  /// Client hook: clip to C, then add N(0, (σC)²).
  template <std::floating_point T>
  void process_update(std::uint64_t /*client*/, const round_config& /*config*/, std::span<T> delta) {
    clip_flat(delta, clip_);
    if (sigma_ > 0) add_gaussian_noise(gen_, delta, sigma_ * clip_);
  }

private:
  double clip_, sigma_;
  secure_rng gen_;
};

} // namespace fedpp::privacy
