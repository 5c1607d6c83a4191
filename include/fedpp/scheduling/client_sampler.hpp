/// \file client_sampler.hpp
/// The client_sampler concept: picks the clients of one round from a population fixed at
/// construction, drawing its randomness from a caller-supplied fedpp::rng.
///
/// | expression                     | type / effect                                                  |
/// |--------------------------------|----------------------------------------------------------------|
/// | `s.sample(round, gen)`         | `std::vector<client_id>`: the distinct clients picked for      |
/// |                                | round `round` (std::uint64_t), using only `gen` (fedpp::rng&)  |
/// |                                | for randomness, so the same generator state gives the same     |
/// |                                | picks on every platform; may be empty (Poisson)                |
/// | `cs.population_size()`         | `std::size_t`: number of clients the sampler draws from        |
///
/// Optional, detected by `has_inclusion_probability` / `sized_client_sampler`:
///
/// | expression                     | type / effect                                                  |
/// |--------------------------------|----------------------------------------------------------------|
/// | `cs.inclusion_probability()`   | `double`: P(a given client is picked in a round), the same for |
/// |                                | every client (m/N for uniform, q for Poisson; DP accounting)   |
/// | `cs.sample_size()`             | `std::size_t`: the fixed number of clients each round picks    |
/// | `cs.with_sample_size(k)`       | a copy of the sampler that picks k clients instead             |
///
/// The built-in samplers return the picked ids in population order (the order of the id list
/// they were built from, ascending for the implicit ids 0..N−1), never the draw order, so
/// the result is a set written as a sorted-by-position vector. `round` is for samplers whose
/// choice depends on the round (availability windows, cyclic schedules); the built-ins draw
/// only from `gen`. `sample_round(s, seed, round)` gives each (seed, round) its own stream,
/// which makes a round's picks a pure function of the seed and the round number.
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/random/rng.hpp"

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace fedpp {

/// See the first table above.
template <class S>
concept client_sampler = std::copy_constructible<S> &&
    requires(S& s, const S& cs, std::uint64_t round, rng& gen) {
  { s.sample(round, gen) } -> std::same_as<std::vector<client_id>>;
  { cs.population_size() } -> std::convertible_to<std::size_t>;
};

/// A sampler whose clients all have one known inclusion probability per round.
template <class S>
concept has_inclusion_probability = client_sampler<S> && requires(const S& cs) {
  { cs.inclusion_probability() } -> std::convertible_to<double>;
};

/// A sampler that picks a fixed number of clients and can be rebuilt for another number
/// (what over_selection needs).
template <class S>
concept sized_client_sampler = client_sampler<S> && requires(const S& cs, std::size_t k) {
  { cs.sample_size() } -> std::convertible_to<std::size_t>;
  { cs.with_sample_size(k) } -> std::same_as<S>;
};

/// The clients `s` picks for `round` under `seed`: draws from `rng::for_stream(seed, round)`,
/// so the result depends only on (seed, round), not on earlier rounds, on every platform.
template <client_sampler S>
[[nodiscard]] std::vector<client_id> sample_round(S& s, std::uint64_t seed, std::uint64_t round) {
  rng gen = rng::for_stream(seed, round);
  return s.sample(round, gen);
}

} // namespace fedpp
