// Secure-aggregation mask expansion against the ChaCha20 it is built on, measured in the same run:
// mask_expander::apply (ChaCha20 keystream added mod 2^32 into an accumulator) vs libsodium's raw
// crypto_stream_chacha20_ietf and crypto_stream_chacha20_ietf_xor over the same 16 MiB buffer, one
// core. Bytes processed = mask bytes (4 per word) for all three, so the ratios read directly.
// Run with --benchmark_filter='secagg|reference_read' to include the read-bandwidth reference.
#if defined(FEDPP_WITH_SECAGG)

#include "fedpp/secagg/detail/sodium.hpp"
#include "fedpp/secagg/mask_expander.hpp"
#include "fedpp/secagg/shamir.hpp"

#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace {

using fedpp::secagg::mask_expander;
using fedpp::secagg::key32;

// 4M words = 16 MiB: a D = 4M model, far larger than L2 (the accumulator streams from L3/DRAM).
constexpr std::size_t mask_words = std::size_t{4} << 20;

key32 bench_key(std::uint8_t salt) {
  key32 k{};
  for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<std::byte>(i * 7 + salt);
  return k;
}

// libsodium's ChaCha20 keystream alone (what "one core's ChaCha20" means).
void BM_secagg_chacha20_keystream(benchmark::State& state) {
  fedpp::secagg::detail::ensure_sodium();
  std::vector<unsigned char> out(mask_words * 4);
  const auto key = bench_key(1);
  unsigned char nonce[crypto_stream_chacha20_ietf_NONCEBYTES] = {};
  for (auto _ : state) {
    crypto_stream_chacha20_ietf(out.data(), out.size(), nonce, fedpp::secagg::detail::uc(key.data()));
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(mask_words * 4));
}
BENCHMARK(BM_secagg_chacha20_keystream)->Unit(benchmark::kMillisecond);

// libsodium's ChaCha20 xor in place (read + keystream + write, as a mask application must do).
void BM_secagg_chacha20_xor_in_place(benchmark::State& state) {
  fedpp::secagg::detail::ensure_sodium();
  std::vector<unsigned char> buf(mask_words * 4, 0x5a);
  const auto key = bench_key(2);
  unsigned char nonce[crypto_stream_chacha20_ietf_NONCEBYTES] = {};
  for (auto _ : state) {
    crypto_stream_chacha20_ietf_xor(buf.data(), buf.data(), buf.size(), nonce,
                                    fedpp::secagg::detail::uc(key.data()));
    benchmark::DoNotOptimize(buf.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(mask_words * 4));
}
BENCHMARK(BM_secagg_chacha20_xor_in_place)->Unit(benchmark::kMillisecond);

// The mask expansion of the protocol: acc += PRG(seed) mod 2^32 (arg 1: subtract instead).
void BM_secagg_mask_expand(benchmark::State& state) {
  std::vector<std::uint32_t> acc(mask_words, 12345U);
  const auto key = bench_key(3);
  const bool subtract = state.range(0) != 0;
  for (auto _ : state) {
    mask_expander::apply(acc, key, 1, subtract);
    benchmark::DoNotOptimize(acc.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(mask_words * 4));
}
BENCHMARK(BM_secagg_mask_expand)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

// Shamir split + reconstruct of one 32-byte secret, t of n = 2t − 1 (per-secret cost of the
// share-keys and unmasking rounds).
void BM_secagg_shamir_split_reconstruct(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const std::size_t t = n / 2 + 1;
  auto rng = fedpp::secagg::random_source::reproducible(bench_key(4));
  std::vector<std::uint64_t> xs(n);
  for (std::size_t i = 0; i < n; ++i) xs[i] = i + 1;
  const auto secret = bench_key(5);
  for (auto _ : state) {
    auto shares = fedpp::secagg::shamir_split(secret, t, xs, rng);
    shares.resize(t);
    auto back = fedpp::secagg::shamir_reconstruct(shares, t);
    benchmark::DoNotOptimize(back.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_secagg_shamir_split_reconstruct)->Arg(11)->Arg(101)->Unit(benchmark::kMicrosecond);

} // namespace

#endif // FEDPP_WITH_SECAGG
