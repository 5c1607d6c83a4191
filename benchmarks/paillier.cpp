// Paillier on GMP, 2048-bit keys (fedpp/vertical/paillier*.hpp): encryption and decryption per
// value, the operations of vertical FL, and their threaded batches. benchmarks/paillier_vs_phe.sh
// runs this and python-paillier (phe with gmpy2) in one invocation and prints the ratios.
//
// Rows: encrypt (public key: a fresh uniform r, r^n mod n² by mpz_powm_sec — what phe's encrypt
// does), encrypt_key_holder (the private key's CRT obfuscator: same distribution),
// encrypt_precomputed_obfuscator (the r^n computed beforehand: NOT like phe, labelled), decrypt
// (CRT), the threaded batches, packed values, and the homomorphic operations.
#include "fedpp/vertical/paillier.hpp"
#include "fedpp/parallel/thread_pool.hpp"
#include "fedpp/vertical/paillier_encoding.hpp"
#include "fedpp/vertical/paillier_packing.hpp"

#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

namespace {

using namespace fedpp::vertical;

random_source seeded(std::uint8_t s) {
  fedpp::secagg::key32 k{};
  k[0] = std::byte{s};
  return random_source::reproducible(k);
}

const paillier_keypair& keys() {
  static const paillier_keypair kp = [] {
    auto rng = seeded(1);
    return generate_paillier_keypair(2048, rng);
  }();
  return kp;
}

std::vector<double> values(std::size_t n) {
  std::vector<double> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = (static_cast<double>(i % 1000) - 500.0) * 0.0137;
  return v;
}

void BM_paillier_encrypt(benchmark::State& state) {
  const auto& pk = keys().public_key;
  random_source rng;
  double x = 0.125;
  for (auto _ : state) {
    auto c = encrypt(pk, x, rng);
    benchmark::DoNotOptimize(c);
    x += 1.0;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_paillier_encrypt)->Unit(benchmark::kMillisecond)->MinTime(2.0);

void BM_paillier_encrypt_key_holder(benchmark::State& state) {
  const auto& sk = keys().private_key;
  random_source rng;
  double x = 0.125;
  for (auto _ : state) {
    auto c = encrypt(sk, x, rng);
    benchmark::DoNotOptimize(c);
    x += 1.0;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_paillier_encrypt_key_holder)->Unit(benchmark::kMillisecond)->MinTime(2.0);

// NOT comparable with phe's encrypt: the obfuscator r^n was computed before the timed loop.
void BM_paillier_encrypt_precomputed_obfuscator(benchmark::State& state) {
  const auto& pk = keys().public_key;
  random_source rng;
  std::vector<bigint> obf;
  for (int i = 0; i < 64; ++i) obf.push_back(keys().private_key.obfuscator(rng));
  std::size_t i = 0;
  for (auto _ : state) {
    auto c =
        pk.encrypt_with_obfuscator(encode(pk, 0.125 + static_cast<double>(i)).encoding, obf[i % obf.size()]);
    benchmark::DoNotOptimize(c);
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_paillier_encrypt_precomputed_obfuscator)->Unit(benchmark::kMicrosecond);

void BM_paillier_decrypt(benchmark::State& state) {
  const auto& sk = keys().private_key;
  random_source rng;
  const auto c = encrypt(keys().public_key, 3.25, rng);
  for (auto _ : state) {
    double x = decrypt(sk, c);
    benchmark::DoNotOptimize(x);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_paillier_decrypt)->Unit(benchmark::kMillisecond)->MinTime(2.0);

// Batches of 64 values on a pool of state.range(0) threads.
void BM_paillier_encrypt_batch(benchmark::State& state) {
  const auto& pk = keys().public_key;
  fedpp::parallel::thread_pool pool(static_cast<std::size_t>(state.range(0)));
  random_source rng;
  const auto xs = values(64);
  for (auto _ : state) {
    auto cs = encrypt(pk, xs, rng, &pool);
    benchmark::DoNotOptimize(cs);
  }
  state.SetItemsProcessed(state.iterations() * 64);
}
BENCHMARK(BM_paillier_encrypt_batch)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_paillier_encrypt_key_holder_batch(benchmark::State& state) {
  const auto& sk = keys().private_key;
  fedpp::parallel::thread_pool pool(static_cast<std::size_t>(state.range(0)));
  random_source rng;
  const auto xs = values(64);
  for (auto _ : state) {
    auto cs = encrypt(sk, xs, rng, &pool);
    benchmark::DoNotOptimize(cs);
  }
  state.SetItemsProcessed(state.iterations() * 64);
}
BENCHMARK(BM_paillier_encrypt_key_holder_batch)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_paillier_decrypt_batch(benchmark::State& state) {
  const auto& sk = keys().private_key;
  fedpp::parallel::thread_pool pool(static_cast<std::size_t>(state.range(0)));
  random_source rng;
  const auto cs = encrypt(keys().public_key, values(64), rng);
  for (auto _ : state) {
    auto xs = decrypt(sk, cs, &pool);
    benchmark::DoNotOptimize(xs);
  }
  state.SetItemsProcessed(state.iterations() * 64);
}
BENCHMARK(BM_paillier_decrypt_batch)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

// Packed: 32-bit values with 2^10 additions of headroom, 48 per 2048-bit plaintext; per value.
void BM_paillier_packed_encrypt_decrypt(benchmark::State& state) {
  const auto& kp = keys();
  const paillier_packing packing(kp.public_key, 32, 1024);
  random_source rng;
  std::vector<std::int64_t> v(packing.slots());
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<std::int64_t>(i * 7919) - 100000;
  for (auto _ : state) {
    const auto c = packing.encrypt(v, rng);
    auto back = packing.decrypt(kp.private_key, c);
    benchmark::DoNotOptimize(back);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(packing.slots()));
  state.counters["slots"] = static_cast<double>(packing.slots());
}
BENCHMARK(BM_paillier_packed_encrypt_decrypt)->Unit(benchmark::kMillisecond);

void BM_paillier_add(benchmark::State& state) {
  const auto& pk = keys().public_key;
  random_source rng;
  const auto a = encrypt(pk, 1.5, rng);
  const auto b = encrypt(pk, -2.25, rng);
  for (auto _ : state) {
    auto c = add(pk, a, b);
    benchmark::DoNotOptimize(c);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_paillier_add)->Unit(benchmark::kMicrosecond);

void BM_paillier_multiply_scalar(benchmark::State& state) {
  const auto& pk = keys().public_key;
  random_source rng;
  const auto a = encrypt(pk, 1.5, rng);
  for (auto _ : state) {
    auto c = multiply(pk, a, -0.731);
    benchmark::DoNotOptimize(c);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_paillier_multiply_scalar)->Unit(benchmark::kMicrosecond);

} // namespace
