/// \file local_dp_hooks.hpp
/// Client hooks for local DP: each client clips its delta to L2 norm C and adds N(0, (σC)² I) itself
/// before upload (the server then sees only noised updates; per-client (ε, δ) is that of one
/// Gaussian mechanism per round it takes part in). With clipping only (σ = 0) the same hooks give
/// the client-side clipping for central DP.
///
/// Hosts hold copies of the hooks (in_process_federation copies them to every host thread), so a
/// copy must never add the noise another copy adds: the server could cancel it by subtracting two
/// uploads. An OS-keyed generator is therefore re-keyed from the OS in every copy, and a
/// reproducible one keys the noise of each upload by (client, round) (secure_rng::derive), so a
/// simulation gives the same noise whichever host a client runs on.
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
#include <utility>

namespace fedpp::privacy {

/// Clip (and optionally noise) every upload.
class local_dp_hooks {
public:
  /// Throws invalid_config unless C > 0 and σ ≥ 0 (both finite). `gen` draws the noise: OS-keyed
  /// by default; secure_rng::reproducible(seed) for tests and documented simulations only.
  local_dp_hooks(double clip_norm, double noise_multiplier, secure_rng gen = secure_rng{})
      : clip_(clip_norm), sigma_(noise_multiplier), gen_(std::move(gen)) {
    if (!(clip_norm > 0) || !std::isfinite(clip_norm) || !(noise_multiplier >= 0) ||
        !std::isfinite(noise_multiplier))
      throw invalid_config("local_dp_hooks: need C > 0 and sigma >= 0, got C = " + std::to_string(clip_norm) +
                           ", sigma = " + std::to_string(noise_multiplier));
  }
  /// A copy with the same C and σ whose noise is independent of `other`'s: a fresh OS key, or for
  /// a reproducible generator the same seed (noise keyed by client and round).
  local_dp_hooks(const local_dp_hooks& other)
      : clip_(other.clip_), sigma_(other.sigma_), gen_(independent_copy(other.gen_)) {}
  local_dp_hooks& operator=(const local_dp_hooks& other) {
    if (this != &other) {
      gen_ = independent_copy(other.gen_);
      clip_ = other.clip_;
      sigma_ = other.sigma_;
    }
    return *this;
  }
  local_dp_hooks(local_dp_hooks&&) noexcept = default;
  local_dp_hooks& operator=(local_dp_hooks&&) noexcept = default;
  ~local_dp_hooks() = default;

  /// Client hook: clip to C, then add N(0, (σC)²).
  template <std::floating_point T>
  void process_update(std::uint64_t client, const round_config& config, std::span<T> delta) {
    clip_flat(delta, clip_);
    if (!(sigma_ > 0)) return;
    if (gen_.is_reproducible()) {
      secure_rng upload_gen = gen_.derive(client, config.round);
      add_gaussian_noise(upload_gen, delta, sigma_ * clip_);
    } else {
      add_gaussian_noise(gen_, delta, sigma_ * clip_);
    }
  }

private:
  static secure_rng independent_copy(const secure_rng& gen) {
    return gen.is_reproducible() ? gen : secure_rng{};
  }

  double clip_, sigma_;
  secure_rng gen_;
};

} // namespace fedpp::privacy
