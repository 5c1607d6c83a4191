// ECDH PSI over ristretto255 (fedpp/vertical/psi.hpp): ids per second for the protocol's steps
// and for whole two-party runs over the in-process transport, on 1 and 2 threads (per core:
// divide by the thread count). The 10^6-id run is examples/16_entity_alignment --ids 1000000.
#include "fedpp/vertical/psi.hpp"
#include "fedpp/parallel/thread_pool.hpp"
#include "fedpp/transport/in_process_transport.hpp"

#include <benchmark/benchmark.h>

#include <future>
#include <string>
#include <vector>

namespace {

using namespace fedpp::vertical;

std::vector<std::string> ids(std::size_t n, std::size_t offset) {
  std::vector<std::string> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = "customer-" + std::to_string(offset + i);
  return v;
}

// H(id): SHA-512 + from_hash (two Elligator maps).
void BM_psi_hash_to_group(benchmark::State& state) {
  const auto v = ids(1024, 0);
  std::size_t i = 0;
  for (auto _ : state) {
    auto p = psi_hash_to_group(v[i++ % v.size()], "fedpp/vertical/psi/v1");
    benchmark::DoNotOptimize(p);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_psi_hash_to_group);

// One blinding: crypto_scalarmult_ristretto255 (decode, variable-base multiplication, encode).
void BM_psi_blind(benchmark::State& state) {
  fedpp::secagg::random_source rng;
  const detail::psi_scalar s(rng);
  const psi_point p = psi_hash_to_group("x", "d");
  psi_point q{};
  for (auto _ : state) {
    detail::blind(q.data(), p.data(), s, "id", 0);
    benchmark::DoNotOptimize(q);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_psi_blind);

// A whole two-party run, n ids per side (half shared), both parties on a pool of range(1)
// threads each (2 threads each on a 2-core machine oversubscribes: compare per-core figures).
void BM_psi_two_party(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto a = ids(n, 0);
  const auto b = ids(n, n / 2);
  fedpp::parallel::thread_pool pool_a(static_cast<std::size_t>(state.range(1)));
  fedpp::parallel::thread_pool pool_b(static_cast<std::size_t>(state.range(1)));
  std::uint64_t session = 0;
  for (auto _ : state) {
    fedpp::in_process_transport hub;
    auto ta = hub.endpoint(1);
    auto tb = hub.endpoint(2);
    psi_options oa;
    oa.session = ++session;
    oa.pool = &pool_a;
    psi_options ob = oa;
    ob.pool = &pool_b;
    auto responder = std::async(std::launch::async, [&] {
      fedpp::secagg::random_source rng;
      return run_psi_responder(tb, 1, b, ob, rng);
    });
    fedpp::secagg::random_source rng;
    const auto r = run_psi_initiator(ta, 2, a, oa, rng);
    benchmark::DoNotOptimize(responder.get());
    if (r.size != n - n / 2) state.SkipWithError("wrong intersection size");
  }
  // Ids of both sides per second.
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(2 * n));
}
BENCHMARK(BM_psi_two_party)->Args({10000, 1})->Args({10000, 2})->Unit(benchmark::kMillisecond)->UseRealTime();

} // namespace
