// Byzantine-robust aggregation throughput, K updates of D = 1M float32 (the peer of
// robust_numpy_peer.py for the median and the trimmed mean). Bytes = K·D·4: the updates each rule
// must read.
//
// Each benchmark runs the read-bandwidth reference and the rule pass by pass
// (read_bandwidth_reference.hpp: fedpp_bench::same_run), the reference on as many threads as the
// rule, and reports besides GB/s
//   read_GBps   the reference's rate in the same passes,
//   x_read_bw   the rule's bytes/s over the reference's (pooled rows: over the pooled reference).
// scripts/robust_bench.sh runs them and prints one table of medians.
#include "read_bandwidth_reference.hpp"

#include "fedpp/aggregation/robust/robust.hpp"
#include "fedpp/parallel/thread_pool.hpp"

#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <random>
#include <span>
#include <vector>

namespace {

constexpr std::size_t robust_dim = std::size_t{1} << 20;

const fedpp::update_matrix<float>& robust_updates(std::size_t k) {
  static std::vector<std::pair<std::size_t, fedpp::update_matrix<float>>> cache;
  for (auto& [size, m] : cache)
    if (size == k) return m;
  fedpp::update_matrix<float> m(robust_dim, std::size_t{1} << 31);
  m.reserve_more(k, "bench");
  std::mt19937_64 gen(k);
  std::normal_distribution<float> dist(0.0F, 1.0F);
  std::vector<float> row(robust_dim);
  for (std::size_t i = 0; i < k; ++i) {
    for (auto& v : row) v = dist(gen);
    const std::span<const float> piece[1] = {row};
    m.append(i, 1.0, piece);
  }
  return cache.emplace_back(k, std::move(m)).second;
}

double bytes_of(std::size_t k) { return static_cast<double>(k * robust_dim * sizeof(float)); }

// A pool of `threads` (null for one thread): the rule's and the reference's.
struct threads_arg {
  explicit threads_arg(std::int64_t n) : pool(static_cast<std::size_t>(n)) {}
  fedpp::parallel::thread_pool pool;
  [[nodiscard]] fedpp::parallel::thread_pool* get() { return pool.size() > 1 ? &pool : nullptr; }
};

const auto all_cores = static_cast<std::int64_t>(fedpp_bench::all_cores());

void BM_robust_coordinate_median(benchmark::State& state) {
  const auto k = static_cast<std::size_t>(state.range(0));
  const auto& m = robust_updates(k);
  std::vector<float> out(robust_dim);
  fedpp_bench::same_run run(state);
  for (auto _ : state) run.iteration([&] { fedpp::median_rule{}.reduce(m, std::span<float>(out)); });
  run.finish(bytes_of(k));
}
BENCHMARK(BM_robust_coordinate_median)->Arg(32)->ArgName("K")->Unit(benchmark::kMillisecond)->UseManualTime();

void BM_robust_trimmed_mean(benchmark::State& state) {
  const auto k = static_cast<std::size_t>(state.range(0));
  const auto& m = robust_updates(k);
  const fedpp::trimmed_mean_rule rule({.beta = 0.2});
  std::vector<float> out(robust_dim);
  fedpp_bench::same_run run(state);
  for (auto _ : state) run.iteration([&] { rule.reduce(m, std::span<float>(out)); });
  run.finish(bytes_of(k));
}
BENCHMARK(BM_robust_trimmed_mean)->Arg(32)->ArgName("K")->Unit(benchmark::kMillisecond)->UseManualTime();

// The distance phase of Krum/Multi-Krum/Bulyan: all K(K−1)/2 squared distances (Gram blocks +
// refine), on 1 thread or on a pool of all cores (the phase is compute bound: K²/2 FMAs per
// coordinate).
void BM_robust_krum_distances(benchmark::State& state) {
  const auto k = static_cast<std::size_t>(state.range(0));
  threads_arg threads(state.range(1));
  const auto& m = robust_updates(k);
  fedpp_bench::same_run run(state, threads.get());
  for (auto _ : state)
    run.iteration(
        [&] { benchmark::DoNotOptimize(fedpp::detail::pairwise_squared_distances(m, threads.get())); });
  run.finish(bytes_of(k));
}
BENCHMARK(BM_robust_krum_distances)
    ->Args({64, 1})
    ->Args({64, all_cores})
    ->ArgNames({"K", "threads"})
    ->Unit(benchmark::kMillisecond)
    ->UseManualTime();

// Whole Multi-Krum report (distances, scores, average of m = 10) for K = 64, f = 10.
void BM_robust_multi_krum(benchmark::State& state) {
  const auto k = static_cast<std::size_t>(state.range(0));
  const auto& m = robust_updates(k);
  const fedpp::krum_rule rule({.byzantine = 10, .selected = 10});
  std::vector<float> out(robust_dim);
  fedpp_bench::same_run run(state);
  for (auto _ : state) run.iteration([&] { rule.reduce(m, std::span<float>(out)); });
  run.finish(bytes_of(k));
}
BENCHMARK(BM_robust_multi_krum)->Arg(64)->ArgName("K")->Unit(benchmark::kMillisecond)->UseManualTime();

// Whole Bulyan report for K = 64: the distances once, θ = K − 2f Krum passes over them, then
// mean_around_median over the θ rows (f = 15: θ = 34, β = 4; f = 10: θ = 44, β = 24); on one
// thread, or with both phases on a pool of all cores (bulyan_rule::with_pool).
void BM_robust_bulyan(benchmark::State& state) {
  const auto k = static_cast<std::size_t>(state.range(0));
  const auto f = static_cast<std::size_t>(state.range(1));
  threads_arg threads(state.range(2));
  const auto& m = robust_updates(k);
  fedpp::bulyan_rule rule({.byzantine = f});
  if (threads.get() != nullptr) rule = rule.with_pool(threads.pool);
  std::vector<float> out(robust_dim);
  fedpp_bench::same_run run(state, threads.get());
  for (auto _ : state) run.iteration([&] { rule.reduce(m, std::span<float>(out)); });
  run.finish(bytes_of(k));
}
BENCHMARK(BM_robust_bulyan)
    ->Args({64, 15, 1})
    ->Args({64, 15, all_cores})
    ->Args({64, 10, all_cores})
    ->ArgNames({"K", "f", "threads"})
    ->Unit(benchmark::kMillisecond)
    ->UseManualTime();

// Bulyan's coordinate-wise step alone: mean_around_median over the first `rows` updates of
// K = 64 with β = 4, one thread. Bytes = rows·D·4.
void BM_robust_mean_around_median(benchmark::State& state) {
  const auto rows = static_cast<std::size_t>(state.range(0));
  const auto& m = robust_updates(64);
  std::vector<std::size_t> chosen(rows);
  for (std::size_t i = 0; i < rows; ++i) chosen[i] = i;
  std::vector<float> out(robust_dim);
  fedpp_bench::same_run run(state);
  for (auto _ : state)
    run.iteration([&] {
      fedpp::mean_around_median(m, std::span<const std::size_t>(chosen), 4, std::span<float>(out));
    });
  run.finish(bytes_of(rows));
}
BENCHMARK(BM_robust_mean_around_median)
    ->Arg(34)
    ->ArgName("rows")
    ->Unit(benchmark::kMillisecond)
    ->UseManualTime();

} // namespace
