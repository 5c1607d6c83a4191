// Cross-device scale (docs/scale.md): the synchronous server's cost per round as the registered
// population grows — 10^4, 10^5, 10^6 clients, 1,000 of them per round, a small model (1,024
// parameters), in-process transport with 2 host threads. One round = sampling, routing the model
// to 1,000 clients, collecting and checking their reports, FedAvg and the server step.
//
// Its own executable (fedpp_scale_bench), not part of fedpp_bench: it replaces the global
// operator new to count heap bytes, which would tax every other benchmark. Counters:
//   round_ms              wall time of one round (the benchmark's own time is the same, per round)
//   round_alloc_KiB       bytes allocated during one round (all threads), whatever was freed
//   round_peak_KiB        the heap's peak during a round above its level before the round
//   registered_B_per_client  heap bytes the setup (federation + server + sampler) keeps, per client
//   peak_rss_MiB          the process's peak resident memory so far (process-wide: run one
//                         population per process for a clean figure; benchmarks/server_scale.sh)
#include "round_common.hpp"

#include "fedpp/scheduling/poisson_sampler.hpp"
#include "fedpp/scheduling/uniform_sampler.hpp"
#include "fedpp/scheduling/weighted_sampler.hpp"

#include <benchmark/benchmark.h>

#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <utility>
#include <vector>

namespace {
std::atomic<std::int64_t> live_bytes{0};
std::atomic<std::int64_t> peak_bytes{0};
std::atomic<std::int64_t> allocated_bytes{0};

void* allocate(std::size_t n, std::size_t align) {
  void* p = align <= alignof(std::max_align_t) ? std::malloc(n == 0 ? 1 : n)
                                               : std::aligned_alloc(align, (n + align - 1) / align * align);
  if (p == nullptr) throw std::bad_alloc();
  const auto size = static_cast<std::int64_t>(malloc_usable_size(p));
  allocated_bytes.fetch_add(size, std::memory_order_relaxed);
  const auto now = live_bytes.fetch_add(size, std::memory_order_relaxed) + size;
  std::int64_t seen = peak_bytes.load(std::memory_order_relaxed);
  while (now > seen && !peak_bytes.compare_exchange_weak(seen, now, std::memory_order_relaxed)) {
  }
  return p;
}
void release(void* p) noexcept {
  if (p == nullptr) return;
  live_bytes.fetch_sub(static_cast<std::int64_t>(malloc_usable_size(p)), std::memory_order_relaxed);
  std::free(p);
}
} // namespace

void* operator new(std::size_t n) { return allocate(n, 0); }
void* operator new[](std::size_t n) { return allocate(n, 0); }
void* operator new(std::size_t n, std::align_val_t a) { return allocate(n, static_cast<std::size_t>(a)); }
void* operator new[](std::size_t n, std::align_val_t a) { return allocate(n, static_cast<std::size_t>(a)); }
void operator delete(void* p) noexcept { release(p); }
void operator delete[](void* p) noexcept { release(p); }
void operator delete(void* p, std::size_t) noexcept { release(p); }
void operator delete[](void* p, std::size_t) noexcept { release(p); }
void operator delete(void* p, std::align_val_t) noexcept { release(p); }
void operator delete[](void* p, std::align_val_t) noexcept { release(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { release(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { release(p); }

namespace {

constexpr std::size_t clients_per_round = 1000;
constexpr std::size_t parameters = 1024;

std::vector<fedpp::client_id> consecutive_ids(std::size_t n) {
  std::vector<fedpp::client_id> ids(n);
  for (std::size_t i = 0; i < n; ++i) ids[i] = i;
  return ids;
}

/// One benchmark: a federation of `population` clients and a server whose sampler
/// `make_sampler(population)` builds; each iteration is one round.
template <class MakeSampler>
void run_rounds(benchmark::State& state, MakeSampler make_sampler) {
  const auto population = static_cast<std::size_t>(state.range(0));
  const auto layout = round_bench::layout_of(parameters);
  const std::int64_t before_setup = live_bytes.load();
  round_bench::synthetic_trainer trainer; // copy + nudge: a "small report" of 4 KiB
  fedpp::in_process_federation<float, round_bench::synthetic_trainer> federation(consecutive_ids(population),
                                                                                 trainer, layout, 2);
  fedpp::server_options options;
  options.max_in_flight = 64;
  fedpp::server<float, decltype(make_sampler(population))> server(fedpp::flat_model<float>(layout),
                                                                  make_sampler(population), {}, options);
  (void)server.run_round(federation.server_endpoint()); // warm: lazily built buffers
  const std::int64_t registered = live_bytes.load() - before_setup;
  std::int64_t allocated = 0, peak = 0;
  double seconds = 0;
  std::size_t rounds = 0, reported = 0;
  for (auto _ : state) {
    const std::int64_t start = live_bytes.load();
    peak_bytes.store(start);
    const std::int64_t allocated_start = allocated_bytes.load();
    const auto t0 = std::chrono::steady_clock::now();
    const auto m = server.run_round(federation.server_endpoint());
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    allocated += allocated_bytes.load() - allocated_start;
    peak = std::max(peak, peak_bytes.load() - start);
    reported += m.reported;
    ++rounds;
  }
  const auto per_round = static_cast<double>(rounds);
  state.counters["round_ms"] = 1e3 * seconds / per_round;
  state.counters["reports_per_round"] = static_cast<double>(reported) / per_round;
  state.counters["round_alloc_KiB"] = static_cast<double>(allocated) / per_round / 1024.0;
  state.counters["round_peak_KiB"] = static_cast<double>(peak) / 1024.0;
  state.counters["registered_B_per_client"] =
      static_cast<double>(registered) / static_cast<double>(population);
  state.counters["peak_rss_MiB"] = round_bench::peak_rss_mib();
}

void BM_server_round_uniform(benchmark::State& state) {
  run_rounds(state, [](std::size_t n) { return fedpp::uniform_sampler(n, clients_per_round); });
}

void BM_server_round_weighted(benchmark::State& state) {
  run_rounds(state, [](std::size_t n) {
    std::vector<double> sizes(n);
    for (std::size_t i = 0; i < n; ++i) sizes[i] = 50.0 + static_cast<double>(i % 500);
    return fedpp::weighted_sampler(std::move(sizes), clients_per_round);
  });
}

void BM_server_round_poisson_per_client(benchmark::State& state) {
  run_rounds(state, [](std::size_t n) {
    return fedpp::poisson_sampler(n, static_cast<double>(clients_per_round) / static_cast<double>(n));
  });
}

void BM_server_round_poisson_geometric(benchmark::State& state) {
  run_rounds(state, [](std::size_t n) {
    return fedpp::poisson_sampler(n, static_cast<double>(clients_per_round) / static_cast<double>(n),
                                  fedpp::poisson_draws::geometric_skips);
  });
}

void populations(benchmark::internal::Benchmark* b) {
  b->Arg(10'000)
      ->Arg(100'000)
      ->Arg(1'000'000)
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime()
      ->MinTime(0.3)
      ->Repetitions(5);
}

BENCHMARK(BM_server_round_uniform)->Apply(populations);
BENCHMARK(BM_server_round_weighted)->Apply(populations);
BENCHMARK(BM_server_round_poisson_per_client)->Apply(populations);
BENCHMARK(BM_server_round_poisson_geometric)->Apply(populations);

} // namespace
