// Server optimizer steps on D = 4M floats (FedAvgM, FedAdam, FedYogi, FedAdagrad), float and
// double state. Bytes processed = bytes read + written per step: model x (r+w), delta (r),
// each state buffer (r+w). Read against BM_reference_read_bandwidth in the same run
// (--benchmark_filter='BM_reference_read_bandwidth|BM_optim_').
#include "fedpp/detail/aligned_buffer.hpp"
#include "fedpp/optim/fedopt.hpp"
#include "fedpp/optim/server_momentum.hpp"
#include "fedpp/optim/server_sgd.hpp"

#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <random>
#include <span>

namespace {

constexpr std::size_t optim_elements = std::size_t{4} << 20;

fedpp::detail::aligned_buffer<float> optim_random(std::size_t n, std::uint64_t seed, float scale) {
  fedpp::detail::aligned_buffer<float> b(n);
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<float> dist(-scale, scale);
  for (auto& x : b.span()) x = dist(gen);
  return b;
}

template <class Opt>
void run_optimizer(benchmark::State& state, Opt opt, std::size_t state_buffers, std::size_t state_bytes) {
  auto x = optim_random(optim_elements, 1, 1.0F);
  const auto d = optim_random(optim_elements, 2, 1e-3F);
  for (auto _ : state) {
    opt.step(x.span(), std::span<const float>(d.span()));
    benchmark::ClobberMemory();
  }
  const std::size_t per_element = 3 * sizeof(float) + 2 * state_buffers * state_bytes;
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(optim_elements * per_element));
}

void BM_optim_server_sgd(benchmark::State& state) {
  run_optimizer(state, fedpp::server_sgd<float>(0.5), 0, 0);
}
void BM_optim_fedavgm(benchmark::State& state) {
  run_optimizer(state, fedpp::server_momentum<float>(optim_elements, 1.0, 0.9), 1, sizeof(float));
}
void BM_optim_fedavgm_double_state(benchmark::State& state) {
  run_optimizer(state, fedpp::server_momentum<float, double>(optim_elements, 1.0, 0.9), 1, sizeof(double));
}
void BM_optim_fedadam(benchmark::State& state) {
  run_optimizer(state, fedpp::fedadam<float>(optim_elements), 2, sizeof(float));
}
void BM_optim_fedyogi(benchmark::State& state) {
  run_optimizer(state, fedpp::fedyogi<float>(optim_elements), 2, sizeof(float));
}
void BM_optim_fedadagrad(benchmark::State& state) {
  run_optimizer(state, fedpp::fedadagrad<float>(optim_elements), 2, sizeof(float));
}
void BM_optim_fedadam_double_state(benchmark::State& state) {
  run_optimizer(state, fedpp::fedadam<float, double>(optim_elements), 2, sizeof(double));
}

BENCHMARK(BM_optim_server_sgd)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_optim_fedavgm)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_optim_fedavgm_double_state)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_optim_fedadam)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_optim_fedyogi)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_optim_fedadagrad)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_optim_fedadam_double_state)->Unit(benchmark::kMillisecond)->UseRealTime();

} // namespace
