// FedAvg streaming accumulate through the real fedpp::fedavg<float>, K = 32 clients, D = 4M
// float32 (one tensor), the peer of benchmarks/fedavg_numpy_peer.py. Bytes = K·D·4 input bytes.
#include "fedpp/aggregation/client_update.hpp"
#include "fedpp/aggregation/fedavg.hpp"
#include "fedpp/detail/aligned_buffer.hpp"
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

void BM_fedavg_accumulate_batch(benchmark::State& state) {
  const auto& in = inputs();
  fedavg<float> agg(in.layout);
  for (auto _ : state) {
    agg.accumulate(std::span<const client_update<float>>(in.updates));
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(
      static_cast<std::int64_t>(state.iterations() * clients * model_size * sizeof(float)));
}
BENCHMARK(BM_fedavg_accumulate_batch)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_fedavg_accumulate_one_at_a_time(benchmark::State& state) {
  const auto& in = inputs();
  fedavg<float> agg(in.layout);
  for (auto _ : state) {
    for (const auto& u : in.updates) agg.accumulate(u);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(
      static_cast<std::int64_t>(state.iterations() * clients * model_size * sizeof(float)));
}
BENCHMARK(BM_fedavg_accumulate_one_at_a_time)->Unit(benchmark::kMillisecond)->UseRealTime();

} // namespace
