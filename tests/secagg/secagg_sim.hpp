// Test helper: fedpp::secagg::in_process_round with reproducible seeds and integer dropout phases
// (a dropped client stops answering from that phase on).
#pragma once

#include "fedpp/secagg/in_process_round.hpp"

#include <map>
#include <vector>

namespace secagg_test {

using namespace fedpp;
using namespace fedpp::secagg;

inline fedpp::secagg::key32 seed_of(std::uint64_t id, std::uint64_t salt = 0) {
  fedpp::secagg::key32 k{};
  for (int i = 0; i < 8; ++i) k[static_cast<std::size_t>(i)] = static_cast<std::byte>((id >> (8 * i)) & 0xff);
  for (int i = 0; i < 8; ++i)
    k[static_cast<std::size_t>(8 + i)] = static_cast<std::byte>((salt >> (8 * i)) & 0xff);
  return k;
}

/// Dropout phase per client: 0 never advertises, 1 drops before sharing keys, 2 before sending its
/// masked input, 3 after sending it (never unmasks); absent: never drops.
using dropouts = std::map<client_id, int>;

inline dropout_plan plan_of(const dropouts& drop) {
  dropout_plan plan;
  for (const auto& [u, phase] : drop) plan.emplace(u, static_cast<secagg_server::phase>(phase));
  return plan;
}

/// The public in_process_round with reproducible per-client seeds and the integer phases above.
struct sim : in_process_round {
  sim(const secagg_config& config, const neighbor_graph& graph, std::uint64_t salt = 0)
      : in_process_round(config, graph,
                         [salt](client_id u) { return random_source::reproducible(seed_of(u, salt)); }) {}

  void deliver_to_clients(int phase, const dropouts& drop) {
    in_process_round::deliver_to_clients(static_cast<secagg_server::phase>(phase), plan_of(drop));
  }
  /// Runs the round; returns the sum (throws secagg_aborted).
  std::vector<std::uint32_t> run(const dropouts& drop) {
    const auto sum = in_process_round::run(plan_of(drop));
    return {sum.begin(), sum.end()};
  }
};

} // namespace secagg_test
