// Byzantine-robust aggregation throughput (single thread) against the read bandwidth measured in
// the same run (BM_reference_read_bandwidth). Bytes = K·D·4: the updates each rule must read.
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

void set_bytes(benchmark::State& state, std::size_t k) {
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(k * robust_dim * sizeof(float)));
}

void BM_robust_coordinate_median(benchmark::State& state) {
  const auto k = static_cast<std::size_t>(state.range(0));
  const auto& m = robust_updates(k);
  std::vector<float> out(robust_dim);
  for (auto _ : state) {
    fedpp::median_rule{}.reduce(m, std::span<float>(out));
    benchmark::DoNotOptimize(out.data());
  }
  set_bytes(state, k);
}
BENCHMARK(BM_robust_coordinate_median)->Arg(32)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_robust_trimmed_mean(benchmark::State& state) {
  const auto k = static_cast<std::size_t>(state.range(0));
  const auto& m = robust_updates(k);
  std::vector<float> out(robust_dim);
  for (auto _ : state) {
    fedpp::trimmed_mean_rule(0.2).reduce(m, std::span<float>(out));
    benchmark::DoNotOptimize(out.data());
  }
  set_bytes(state, k);
}
BENCHMARK(BM_robust_trimmed_mean)->Arg(32)->Unit(benchmark::kMillisecond)->UseRealTime();

// The distance phase of Krum/Multi-Krum: all K(K−1)/2 squared distances (Gram blocks + refine),
// on 1 thread or on a user-sized pool of 2 (the phase is compute bound: K²/2 FMAs per coordinate).
void BM_robust_krum_distances(benchmark::State& state) {
  const auto k = static_cast<std::size_t>(state.range(0));
  const auto threads = static_cast<std::size_t>(state.range(1));
  const auto& m = robust_updates(k);
  fedpp::parallel::thread_pool pool(threads);
  for (auto _ : state)
    benchmark::DoNotOptimize(fedpp::detail::pairwise_squared_distances(m, threads > 1 ? &pool : nullptr));
  set_bytes(state, k);
}
BENCHMARK(BM_robust_krum_distances)
    ->Args({64, 1})
    ->Args({64, 2})
    ->ArgNames({"K", "threads"})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// Whole Multi-Krum report (distances, scores, average of m = 10) for K = 64.
void BM_robust_multi_krum(benchmark::State& state) {
  const auto k = static_cast<std::size_t>(state.range(0));
  const auto& m = robust_updates(k);
  std::vector<float> out(robust_dim);
  for (auto _ : state) {
    fedpp::krum_rule(10, 10).reduce(m, std::span<float>(out));
    benchmark::DoNotOptimize(out.data());
  }
  set_bytes(state, k);
}
BENCHMARK(BM_robust_multi_krum)->Arg(64)->Unit(benchmark::kMillisecond)->UseRealTime();

} // namespace
