// FedAvg streaming accumulate through the real fedpp::fedavg<float>, K = 32 clients, D = 4M
// float32 (one tensor), the peer of benchmarks/fedavg_numpy_peer.py. Bytes = K·D·4 input bytes.
//
// Each benchmark runs the read-bandwidth reference and the accumulate pass by pass
// (read_bandwidth_reference.hpp: fedpp_bench::same_run) and reports, besides GB/s,
//   x_read_bw        input GB/s over the reference's GB/s, the reference on as many threads as
//                    the accumulate (the target: pooled on all cores ≥ 0.9);
//   x_traffic_bound  (input + accumulator) bytes per second over the reference's rate: the
//                    batch must also read the double sum (D·8) and write the new one (D·8), so
//                    a batch moving its bytes at the reference rate reaches x_read_bw =
//                    K·4 / (K·4 + 16) = 0.89 for K = 32 and x_traffic_bound = 1.
#include "read_bandwidth_reference.hpp"

#include "fedpp/aggregation/client_update.hpp"
#include "fedpp/aggregation/fedavg.hpp"
#include "fedpp/detail/aligned_buffer.hpp"
#include "fedpp/parallel/thread_pool.hpp"
#include "fedpp/tensor/model_layout.hpp"

#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <random>
#include <span>
#include <vector>

namespace {

using namespace fedpp;

constexpr std::size_t clients = 32;
constexpr std::size_t model_size = std::size_t{4} << 20;
constexpr double input_bytes = static_cast<double>(clients * model_size * sizeof(float));
// The batch reads the old double sum and writes the new one.
constexpr double accumulator_bytes = static_cast<double>(2 * model_size * sizeof(double));

struct fedavg_inputs {
  model_layout layout;
  std::vector<detail::aligned_buffer<float>> data;
  std::vector<client_update<float>> updates;

  fedavg_inputs() {
    layout.add("weights", tensor_shape::vector(model_size));
    std::mt19937_64 rng(7);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    for (std::size_t k = 0; k < clients; ++k) {
      detail::aligned_buffer<float> b(model_size);
      for (std::size_t i = 0; i < model_size; ++i) b[i] = dist(rng);
      data.push_back(std::move(b));
    }
    for (std::size_t k = 0; k < clients; ++k)
      updates.push_back(
          client_update<float>::from_flat(k, layout, data[k].span(), 100.0 + static_cast<double>(k)));
  }
};

const fedavg_inputs& inputs() {
  static const fedavg_inputs in;
  return in;
}

// fedavg::accumulate(span), one thread; ratios against the one-thread reference.
void BM_fedavg_accumulate_batch(benchmark::State& state) {
  const auto& in = inputs();
  fedavg<float> agg(in.layout);
  fedpp_bench::same_run run(state);
  for (auto _ : state)
    run.iteration([&] { agg.accumulate(std::span<const client_update<float>>(in.updates)); });
  run.finish(input_bytes, input_bytes + accumulator_bytes);
}
BENCHMARK(BM_fedavg_accumulate_batch)->Unit(benchmark::kMillisecond)->UseManualTime();

// fedavg::accumulate(pool, span) on a pool of `threads` (registered for all cores); ratios
// against the reference on a pool of the same size.
void BM_fedavg_accumulate_batch_pool(benchmark::State& state) {
  const auto& in = inputs();
  fedavg<float> agg(in.layout);
  parallel::thread_pool pool(static_cast<std::size_t>(state.range(0)));
  fedpp_bench::same_run run(state, &pool);
  for (auto _ : state)
    run.iteration([&] { agg.accumulate(pool, std::span<const client_update<float>>(in.updates)); });
  run.finish(input_bytes, input_bytes + accumulator_bytes);
}
BENCHMARK(BM_fedavg_accumulate_batch_pool)
    ->Arg(static_cast<std::int64_t>(fedpp_bench::all_cores()))
    ->ArgName("threads")
    ->Unit(benchmark::kMillisecond)
    ->UseManualTime();

// The same 32 updates through accumulate(update), one thread: each update is read twice (the
// NaN/Inf scan, then the fold) and the accumulator read and written once per update.
void BM_fedavg_accumulate_one_at_a_time(benchmark::State& state) {
  const auto& in = inputs();
  fedavg<float> agg(in.layout);
  fedpp_bench::same_run run(state);
  for (auto _ : state)
    run.iteration([&] {
      for (const auto& u : in.updates) agg.accumulate(u);
    });
  run.finish(input_bytes, 2 * input_bytes + static_cast<double>(clients) * accumulator_bytes);
}
BENCHMARK(BM_fedavg_accumulate_one_at_a_time)->Unit(benchmark::kMillisecond)->UseManualTime();

} // namespace
