// Compression kernels against the read bandwidth measured in the same run
// (BM_reference_read_bandwidth, kernels_bench.cpp). D = 4M floats. Bytes processed = the dense
// float32 bytes of the update (4·D) for every benchmark, so each figure reads as "GB/s of
// model update handled" and compares directly with the read bandwidth and the numpy peer
// (compression_numpy_peer.py). The `ratio` counter is 4·D / payload bytes (theory: 32/b plus the
// per-chunk scale overhead).
#include "read_bandwidth_reference.hpp"

#include "fedpp/compression/compression.hpp"
#include "fedpp/parallel/thread_pool.hpp"

#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <random>
#include <span>
#include <vector>

namespace {

namespace fc = fedpp::compression;
constexpr std::size_t dim = std::size_t{4} << 20;

const std::vector<float>& update() {
  static const std::vector<float> x = [] {
    std::mt19937_64 g(7);
    std::normal_distribution<float> n(0.0F, 1.0F);
    std::vector<float> v(dim);
    for (auto& e : v) e = n(g);
    return v;
  }();
  return x;
}

void finish(benchmark::State& state, std::size_t payload) {
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(4 * dim));
  state.counters["ratio"] = static_cast<double>(4 * dim) / static_cast<double>(payload);
  state.counters["payload_MB"] = static_cast<double>(payload) / 1e6;
}

// Quantize + pack (args: bits, stochastic, chunk).
void BM_compression_quantize(benchmark::State& state) {
  const fc::uniform_quantizer q(static_cast<unsigned>(state.range(0)),
                                static_cast<std::uint32_t>(state.range(2)),
                                state.range(1) != 0 ? fc::rounding::stochastic : fc::rounding::nearest);
  std::vector<std::byte> out;
  out.reserve(q.payload_bytes(dim));
  std::uint64_t seed = 0;
  for (auto _ : state) {
    out.clear();
    q.compress(update(), ++seed, out);
    benchmark::DoNotOptimize(out.data());
  }
  finish(state, out.size());
}
BENCHMARK(BM_compression_quantize)
    ->Args({8, 1, 4096})
    ->Args({8, 0, 4096})
    ->Args({4, 1, 4096})
    ->Args({2, 1, 4096})
    ->Args({1, 1, 4096})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// Dequantize-and-accumulate into a float accumulator (arg: bits).
void BM_compression_dequantize_accumulate(benchmark::State& state) {
  const fc::uniform_quantizer q(static_cast<unsigned>(state.range(0)), 4096);
  std::vector<std::byte> p;
  q.compress(update(), 1, p);
  std::vector<float> acc(dim, 0.0F);
  for (auto _ : state) {
    fc::decode_accumulate(p, 0.5F, acc);
    benchmark::DoNotOptimize(acc.data());
  }
  finish(state, p.size());
}
BENCHMARK(BM_compression_dequantize_accumulate)->Arg(8)->Arg(4)->Unit(benchmark::kMillisecond)->UseRealTime();

// Exact top-k selection of the k = 1% largest magnitudes (indices only), then the full payload.
void BM_compression_top_k_select(benchmark::State& state) {
  std::vector<std::uint32_t> idx;
  for (auto _ : state) {
    fc::top_k_indices(update(), dim / 100, idx);
    benchmark::DoNotOptimize(idx.data());
  }
  finish(state, 16 + 16 + 8 * idx.size()); // upper bound of the sparse payload
}
BENCHMARK(BM_compression_top_k_select)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_compression_top_k_payload(benchmark::State& state) {
  const auto s = fc::sparsifier::top_fraction(0.01);
  std::vector<std::byte> out;
  for (auto _ : state) {
    out.clear();
    s.compress(update(), 0, out);
    benchmark::DoNotOptimize(out.data());
  }
  finish(state, out.size());
}
BENCHMARK(BM_compression_top_k_payload)->Unit(benchmark::kMillisecond)->UseRealTime();

// Count-sketch insert, r rows × 2^16 columns (arg: r), one thread, and with the rows spread
// over a pool of all cores (args: r, threads). Measured pass by pass against the read-bandwidth
// reference on as many threads (fedpp_bench::same_run: counters read_GBps and x_read_bw).
// Every coordinate costs r scattered adds into the table (r × 256 KiB, in L2): the rate is set
// by those, not by the reads.
void BM_compression_count_sketch_insert(benchmark::State& state) {
  fc::count_sketch s(static_cast<std::size_t>(state.range(0)), std::size_t{1} << 16, dim, 3);
  fedpp_bench::same_run run(state);
  for (auto _ : state) run.iteration([&] { s.insert(update()); });
  run.finish(static_cast<double>(4 * dim));
  state.counters["ratio"] = static_cast<double>(4 * dim) / static_cast<double>(s.payload_bytes());
}
BENCHMARK(BM_compression_count_sketch_insert)->Arg(5)->Arg(1)->Unit(benchmark::kMillisecond)->UseManualTime();

void BM_compression_count_sketch_insert_pool(benchmark::State& state) {
  fc::count_sketch s(static_cast<std::size_t>(state.range(0)), std::size_t{1} << 16, dim, 3);
  fedpp::parallel::thread_pool pool(static_cast<std::size_t>(state.range(1)));
  fedpp_bench::same_run run(state, &pool);
  for (auto _ : state) run.iteration([&] { s.insert(pool, update()); });
  run.finish(static_cast<double>(4 * dim));
}
BENCHMARK(BM_compression_count_sketch_insert_pool)
    ->Args({5, static_cast<std::int64_t>(fedpp_bench::all_cores())})
    ->ArgNames({"rows", "threads"})
    ->Unit(benchmark::kMillisecond)
    ->UseManualTime();

void BM_compression_sign_scaled(benchmark::State& state) {
  const fc::sign_compressor c(true, 4096);
  std::vector<std::byte> out;
  for (auto _ : state) {
    out.clear();
    c.compress(update(), 0, out);
    benchmark::DoNotOptimize(out.data());
  }
  finish(state, out.size());
}
BENCHMARK(BM_compression_sign_scaled)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_compression_fp16(benchmark::State& state) {
  const fc::float_cast c(fc::half_format::fp16);
  std::vector<std::byte> out;
  for (auto _ : state) {
    out.clear();
    c.compress(update(), 0, out);
    benchmark::DoNotOptimize(out.data());
  }
  finish(state, out.size());
}
BENCHMARK(BM_compression_fp16)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_compression_qsgd(benchmark::State& state) {
  const fc::qsgd c(127, 4096);
  std::vector<std::byte> out;
  std::uint64_t seed = 0;
  for (auto _ : state) {
    out.clear();
    c.compress(update(), ++seed, out);
    benchmark::DoNotOptimize(out.data());
  }
  finish(state, out.size());
}
BENCHMARK(BM_compression_qsgd)->Unit(benchmark::kMillisecond)->UseRealTime();

} // namespace
