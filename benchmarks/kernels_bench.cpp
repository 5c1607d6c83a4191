// Kernel throughput against this machine's read bandwidth, measured in the same run
// (BM_reference_read_bandwidth). Bytes processed = bytes the kernel must read plus write.
#include "read_bandwidth_reference.hpp"

#include "fedpp/detail/aligned_buffer.hpp"
#include "fedpp/kernels/kernels.hpp"
#include "fedpp/parallel/kernels.hpp"

#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <random>
#include <span>
#include <utility>
#include <vector>

namespace {

using namespace fedpp;

// Large enough (64 MiB of float) to stream from memory, not from the 32 MiB L3.
constexpr std::size_t stream_elements = std::size_t{16} << 20;

template <class T>
detail::aligned_buffer<T> random_buffer(std::size_t n, std::uint64_t seed) {
  detail::aligned_buffer<T> b(n);
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> dist(-1.0, 1.0);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<T>(dist(rng));
  return b;
}

// K = 32 client updates of D = 4M float, shared by the weighted_sum benchmarks.
constexpr std::size_t clients = 32, model_size = std::size_t{4} << 20;
const std::vector<std::span<const float>>& client_inputs() {
  static const std::vector<detail::aligned_buffer<float>> data = [] {
    std::vector<detail::aligned_buffer<float>> v;
    for (std::size_t j = 0; j < clients; ++j) v.push_back(random_buffer<float>(model_size, 100 + j));
    return v;
  }();
  static const std::vector<std::span<const float>> spans = [] {
    std::vector<std::span<const float>> v;
    for (const auto& b : data) v.push_back(b.span());
    return v;
  }();
  return spans;
}

// The read bandwidth every kernel figure is compared with (read_bandwidth_reference.hpp).
void BM_reference_read_bandwidth(benchmark::State& state) {
  const auto& data = fedpp_bench::reference_data();
  for (auto _ : state)
    benchmark::DoNotOptimize(fedpp_bench::sum_floats(data.data(), fedpp_bench::reference_floats));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(fedpp_bench::reference_floats * sizeof(float)));
}
BENCHMARK(BM_reference_read_bandwidth)->Unit(benchmark::kMillisecond)->UseRealTime();

// The same sum split over a user-sized pool (arg: threads; registered for all cores): the limit
// for kernels that run on a pool of that size.
void BM_reference_read_bandwidth_pool(benchmark::State& state) {
  parallel::thread_pool pool(static_cast<std::size_t>(state.range(0)));
  for (auto _ : state) benchmark::DoNotOptimize(fedpp_bench::reference_pass(&pool));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(fedpp_bench::reference_floats * sizeof(float)));
}
BENCHMARK(BM_reference_read_bandwidth_pool)
    ->Arg(static_cast<std::int64_t>(fedpp_bench::all_cores()))
    ->ArgName("threads")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// weighted_sum<double, float>, K = 32, D = 4M: the FedAvg batch kernel alone, per code path
// (arg 0: kernels::isa). Bytes = K·D·4 input bytes (as for FedAvg), so the figure reads
// directly against the read bandwidth.
void BM_weighted_sum_f32_to_f64(benchmark::State& state) {
  const auto path = static_cast<kernels::isa>(state.range(0));
  if (!kernels::isa_available(path)) {
    state.SkipWithError("isa not available on this CPU");
    return;
  }
  constexpr std::size_t k = clients, d = model_size;
  const auto& inputs = client_inputs();
  std::vector<double> weights(k);
  for (std::size_t j = 0; j < k; ++j) weights[j] = 10.0 + static_cast<double>(j);
  detail::aligned_buffer<double> out(d);
  for (auto _ : state) {
    kernels::weighted_sum_on<double, float>(path, out.span(), inputs, weights);
    benchmark::ClobberMemory();
  }
  state.SetLabel(kernels::to_string(path));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * k * d * sizeof(float)));
}
BENCHMARK(BM_weighted_sum_f32_to_f64)->Arg(0)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

// weighted_sum_checked<double, float>, K = 32, D = 4M, double-buffered (out != base, swapped
// each call) as an aggregator keeping the strong guarantee would run it: NaN/Inf check and
// accumulation in one read of the inputs. Bytes = K·D·4 input bytes.
void BM_weighted_sum_checked_f32_to_f64(benchmark::State& state) {
  constexpr std::size_t k = clients, d = model_size;
  const auto& inputs = client_inputs();
  std::vector<double> weights(k, 3.0);
  detail::aligned_buffer<double> a(d), b(d);
  for (auto _ : state) {
    const auto bad = kernels::weighted_sum_checked<double, float>(b.span(), a.span(), inputs, weights);
    benchmark::DoNotOptimize(bad);
    std::swap(a, b);
    benchmark::ClobberMemory();
  }
  state.SetLabel(kernels::to_string(kernels::active_isa()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * k * d * sizeof(float)));
}
BENCHMARK(BM_weighted_sum_checked_f32_to_f64)->Unit(benchmark::kMillisecond)->UseRealTime();

// scaled_accumulate<double, float>: reads x (4 B) and acc (8 B), writes acc (8 B) per element.
void BM_scaled_accumulate_f32_to_f64(benchmark::State& state) {
  const auto path = static_cast<kernels::isa>(state.range(0));
  if (!kernels::isa_available(path)) {
    state.SkipWithError("isa not available on this CPU");
    return;
  }
  const auto x = random_buffer<float>(stream_elements, 2);
  auto acc = random_buffer<double>(stream_elements, 3);
  for (auto _ : state) {
    kernels::scaled_accumulate_on<double, float>(path, acc.span(), 1e-3, x.span());
    benchmark::ClobberMemory();
  }
  state.SetLabel(kernels::to_string(path));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * stream_elements * (4 + 8 + 8)));
}
BENCHMARK(BM_scaled_accumulate_f32_to_f64)
    ->Arg(0)
    ->Arg(1)
    ->Arg(2)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// scaled_accumulate<float, float>: 4 + 4 + 4 bytes per element.
void BM_scaled_accumulate_f32(benchmark::State& state) {
  const auto x = random_buffer<float>(stream_elements, 2);
  auto acc = random_buffer<float>(stream_elements, 3);
  for (auto _ : state) {
    kernels::scaled_accumulate<float, float>(acc.span(), 1e-3f, x.span());
    benchmark::ClobberMemory();
  }
  state.SetLabel(kernels::to_string(kernels::active_isa()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * stream_elements * 12));
}
BENCHMARK(BM_scaled_accumulate_f32)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_dot_f32(benchmark::State& state) {
  const auto x = random_buffer<float>(stream_elements, 4);
  const auto y = random_buffer<float>(stream_elements, 5);
  for (auto _ : state) benchmark::DoNotOptimize(kernels::dot(x.span(), y.span()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * stream_elements * 8));
}
BENCHMARK(BM_dot_f32)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_squared_norm_f32(benchmark::State& state) {
  const auto x = random_buffer<float>(stream_elements, 6);
  for (auto _ : state) benchmark::DoNotOptimize(kernels::squared_norm(x.span()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * stream_elements * 4));
}
BENCHMARK(BM_squared_norm_f32)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_squared_norm_f64(benchmark::State& state) {
  const auto x = random_buffer<double>(stream_elements, 6);
  for (auto _ : state) benchmark::DoNotOptimize(kernels::squared_norm(x.span()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * stream_elements * 8));
}
BENCHMARK(BM_squared_norm_f64)->Unit(benchmark::kMillisecond)->UseRealTime();

// scale reads and writes 4 bytes per element.
void BM_scale_f32(benchmark::State& state) {
  auto x = random_buffer<float>(stream_elements, 7);
  for (auto _ : state) {
    kernels::scale(x.span(), 0.9999999f);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * stream_elements * 8));
}
BENCHMARK(BM_scale_f32)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_find_non_finite_f32(benchmark::State& state) {
  const auto x = random_buffer<float>(stream_elements, 8);
  for (auto _ : state) benchmark::DoNotOptimize(kernels::find_non_finite(x.span()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * stream_elements * 4));
}
BENCHMARK(BM_find_non_finite_f32)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_find_non_finite_f64(benchmark::State& state) {
  const auto x = random_buffer<double>(stream_elements, 8);
  for (auto _ : state) benchmark::DoNotOptimize(kernels::find_non_finite(x.span()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * stream_elements * 8));
}
BENCHMARK(BM_find_non_finite_f64)->Unit(benchmark::kMillisecond)->UseRealTime();

// Threaded weighted_sum on a user pool of 2 threads (arg), K = 32, D = 4M; bytes as above.
void BM_weighted_sum_f32_to_f64_threads(benchmark::State& state) {
  constexpr std::size_t k = clients, d = model_size;
  const auto& inputs = client_inputs();
  std::vector<double> weights(k, 3.0);
  detail::aligned_buffer<double> out(d);
  parallel::thread_pool pool(static_cast<std::size_t>(state.range(0)));
  for (auto _ : state) {
    kernels::weighted_sum<double, float>(pool, out.span(), inputs, weights);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * k * d * sizeof(float)));
}
BENCHMARK(BM_weighted_sum_f32_to_f64_threads)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

} // namespace
