/// \file distributions.hpp
/// Platform-independent draws from the continuous distributions the simulation and scheduling
/// code needs (normal, exponential, log-normal, gamma, Dirichlet), on fedpp::rng.
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/random/rng.hpp"

#include <cmath>
#include <numbers>
#include <span>
#include <string>
#include <vector>

namespace fedpp::random {

/// Standard normal N(0, 1) by the Box–Muller transform (one draw per call, no cached state, so
/// the sequence depends only on the generator).
[[nodiscard]] inline double standard_normal(rng& gen) noexcept {
  const double u1 = gen.uniform_open();
  const double u2 = gen.uniform();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

/// Normal with mean mu and standard deviation sigma.
[[nodiscard]] inline double normal(rng& gen, double mu, double sigma) noexcept {
  return mu + sigma * standard_normal(gen);
}

/// Exponential with the given rate (mean 1/rate).
[[nodiscard]] inline double exponential(rng& gen, double rate) noexcept {
  return -std::log(gen.uniform_open()) / rate;
}

/// Log-normal: exp(N(mu, sigma²)).
[[nodiscard]] inline double lognormal(rng& gen, double mu, double sigma) noexcept {
  return std::exp(normal(gen, mu, sigma));
}

/// Gamma(shape, 1) by Marsaglia & Tsang (2000), "A Simple Method for Generating Gamma
/// Variables"; shape < 1 through Gamma(shape + 1)·U^(1/shape).
[[nodiscard]] inline double gamma(rng& gen, double shape) {
  if (!(shape > 0) || !std::isfinite(shape))
    throw invalid_config("gamma: shape must be finite and > 0, got " + std::to_string(shape));
  if (shape < 1) return gamma(gen, shape + 1.0) * std::pow(gen.uniform_open(), 1.0 / shape);
  const double d = shape - 1.0 / 3.0;
  const double c = 1.0 / std::sqrt(9.0 * d);
  for (;;) {
    double x = 0;
    double v = 0;
    do {
      x = standard_normal(gen);
      v = 1.0 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const double u = gen.uniform_open();
    if (u < 1.0 - 0.0331 * x * x * x * x) return d * v;
    if (std::log(u) < 0.5 * x * x + d * (1.0 - v + std::log(v))) return d * v;
  }
}

/// Dirichlet(alpha, ..., alpha) over `out.size()` categories, written to `out` (sums to 1).
inline void dirichlet(rng& gen, double alpha, std::span<double> out) {
  if (out.empty()) throw invalid_config("dirichlet: needs at least one category");
  double total = 0;
  for (auto& p : out) total += p = gamma(gen, alpha);
  if (total <= 0) { // every gamma underflowed (tiny alpha): put all mass on one category
    for (auto& p : out) p = 0;
    out[gen.below(out.size())] = 1;
    return;
  }
  for (auto& p : out) p /= total;
}

} // namespace fedpp::random
