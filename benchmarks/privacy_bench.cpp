// Privacy samplers and clip + noise. Samplers report items/s (samples); the secure Gaussian is
// compared with std::normal_distribution + mt19937 (not secure) in the same run. Clip + noise of
// an aggregate of D = 4M float reports bytes/s with bytes = D·4 (the aggregate, read once for the
// norm and once more to rescale + noise), to be read against BM_reference_read_bandwidth
// (benchmarks/kernels_bench.cpp; run with a filter that includes it); both in real time.
#include "fedpp/parallel/thread_pool.hpp"
#include "fedpp/privacy/clipping.hpp"
#include "fedpp/privacy/discrete_gaussian.hpp"
#include "fedpp/privacy/gaussian_noise.hpp"
#include "fedpp/privacy/secure_rng.hpp"

#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <random>
#include <span>
#include <vector>

namespace {

using namespace fedpp::privacy;

constexpr std::size_t sampler_batch = std::size_t{1} << 16; // 256 KiB of float: stays in L2

void BM_privacy_secure_gaussian(benchmark::State& state) {
  secure_rng gen; // OS-keyed, the production path
  std::vector<float> out(sampler_batch);
  for (auto _ : state) {
    fill_gaussian(gen, std::span<float>(out), 1.0);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * sampler_batch));
}
BENCHMARK(BM_privacy_secure_gaussian);

// The same kernels on one instruction set (arg: 0 scalar, 1 AVX2, 2 AVX-512).
void BM_privacy_secure_gaussian_path(benchmark::State& state) {
  const auto path = static_cast<detail::simd_path>(state.range(0));
  if (!detail::cpu_supports(path)) {
    state.SkipWithError("instruction set not available on this CPU");
    return;
  }
  const std::array<std::uint32_t, 8> key{1, 2, 3, 4, 5, 6, 7, 8};
  const std::array<std::uint32_t, 3> nonce{9, 10, 11};
  std::uint32_t counter = 0;
  alignas(64) std::uint32_t words[256];
  std::vector<float> out(sampler_batch);
  for (auto _ : state) {
    for (std::size_t i = 0; i < sampler_batch; i += 256) {
      detail::chacha20_interleaved(path, key, nonce, counter, words);
      counter += 16;
      detail::box_muller(path, words, 1.0f, out.data() + i, false);
    }
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * sampler_batch));
}
BENCHMARK(BM_privacy_secure_gaussian_path)->Arg(0)->Arg(1)->Arg(2);

// The ChaCha20 keystream alone (bytes/s), 16 blocks per call, in the interleaved layout.
void BM_privacy_chacha20_keystream(benchmark::State& state) {
  secure_rng gen;
  alignas(64) std::array<std::uint32_t, secure_rng::buffer_words> words;
  for (auto _ : state) {
    gen.next_interleaved(words);
    benchmark::DoNotOptimize(words.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * sizeof words));
}
BENCHMARK(BM_privacy_chacha20_keystream);

// The same, 32 blocks per call (next_interleaved_pair: two ChaCha20 states in flight on AVX-512),
// as the Gaussian sampler draws them.
void BM_privacy_chacha20_keystream_pair(benchmark::State& state) {
  secure_rng gen;
  alignas(64) std::array<std::uint32_t, 2 * secure_rng::buffer_words> words;
  for (auto _ : state) {
    gen.next_interleaved_pair(words);
    benchmark::DoNotOptimize(words.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * sizeof words));
}
BENCHMARK(BM_privacy_chacha20_keystream_pair);

// The insecure yardstick of the issue: std::normal_distribution<float> on std::mt19937.
void BM_privacy_std_normal_mt19937(benchmark::State& state) {
  std::mt19937 rng(42);
  std::normal_distribution<float> normal;
  std::vector<float> out(sampler_batch);
  for (auto _ : state) {
    for (float& v : out) v = normal(rng);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * sampler_batch));
}
BENCHMARK(BM_privacy_std_normal_mt19937);

// Exact discrete Gaussian (Canonne, Kamath, Steinke 2020), σ = 100, one sample per call.
void BM_privacy_discrete_gaussian(benchmark::State& state) {
  secure_rng gen;
  discrete_gaussian dg(100.0);
  for (auto _ : state) benchmark::DoNotOptimize(dg(gen));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_privacy_discrete_gaussian);

constexpr std::size_t aggregate_size = std::size_t{4} << 20; // D = 4M float

std::vector<float> aggregate() {
  std::vector<float> x(aggregate_size);
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (float& v : x) v = u(rng);
  return x;
}

// Central DP on one aggregate: clip to C (norm pass + rescale) then add N(0, (σC)²) — separate calls.
void BM_privacy_clip_then_noise_4M(benchmark::State& state) {
  secure_rng gen;
  auto x = aggregate();
  for (auto _ : state) {
    clip_flat(std::span<float>(x), 1.0); // after the first pass x has norm 1; the rescale still runs
    add_gaussian_noise(gen, std::span<float>(x), 1e-4);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * aggregate_size * sizeof(float)));
}
BENCHMARK(BM_privacy_clip_then_noise_4M)->Unit(benchmark::kMillisecond)->UseRealTime();

// The same with the rescale fused into the noise pass: norm, then x ← f·x + N(0, (σC)²).
void BM_privacy_clip_and_noise_fused_4M(benchmark::State& state) {
  secure_rng gen;
  auto x = aggregate();
  for (auto _ : state) {
    const double norm = l2_norm(std::span<const float>(x));
    scale_and_add_gaussian_noise(gen, std::span<float>(x), norm > 1.0 ? 1.0 / norm : 1.0, 1e-4);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * aggregate_size * sizeof(float)));
}
BENCHMARK(BM_privacy_clip_and_noise_fused_4M)->Unit(benchmark::kMillisecond)->UseRealTime();

// The fused form with the norm and the noise on a pool of state.range(0) threads (same noise as
// serial). Read against BM_reference_read_bandwidth_pool too: it uses more cores.
void BM_privacy_clip_and_noise_fused_4M_pool(benchmark::State& state) {
  fedpp::parallel::thread_pool pool(static_cast<std::size_t>(state.range(0)));
  secure_rng gen;
  auto x = aggregate();
  for (auto _ : state) {
    const double norm = l2_norm(pool, std::span<const float>(x));
    scale_and_add_gaussian_noise(pool, gen, std::span<float>(x), norm > 1.0 ? 1.0 / norm : 1.0, 1e-4);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * aggregate_size * sizeof(float)));
}
BENCHMARK(BM_privacy_clip_and_noise_fused_4M_pool)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

} // namespace
