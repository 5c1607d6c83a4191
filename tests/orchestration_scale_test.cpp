// Cross-device scale (docs/scale.md): a synchronous round's memory grows with the clients of the
// round, not with the registered population. This binary replaces the global operator new to
// count the bytes alive on the heap and their peak (its own executable: the replacement is
// program-wide), runs the same rounds over populations of 10^4 and 10^6 clients, and compares
// the peaks. Also: the samplers' per-round memory, weighted sampling's picks against the full
// sort it replaced, Poisson sampling by geometric skips, and in-process range routing.
#include "fedpp/orchestration/in_process_federation.hpp"
#include "fedpp/orchestration/server.hpp"
#include "fedpp/random/rng.hpp"
#include "fedpp/scheduling/over_selection.hpp"
#include "fedpp/scheduling/poisson_sampler.hpp"
#include "fedpp/scheduling/uniform_sampler.hpp"
#include "fedpp/scheduling/weighted_sampler.hpp"
#include "fedpp/transport/in_process_transport.hpp"

#include <gtest/gtest.h>

#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <utility>
#include <vector>

// clang's ThreadSanitizer runtime defines operator new/delete itself (non-weak, in its static
// C++ part), so a TSan build cannot replace them: there the heap is not counted and the memory
// tests skip; the rounds' threads are exercised by the orchestration suites.
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define FEDPP_TEST_NO_COUNTING_NEW 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define FEDPP_TEST_NO_COUNTING_NEW 1
#endif
#if defined(FEDPP_TEST_NO_COUNTING_NEW)
constexpr bool heap_counted = false;
#else
constexpr bool heap_counted = true;
namespace {
std::atomic<std::int64_t> live_bytes{0};
std::atomic<std::int64_t> peak_bytes{0};

void* allocate(std::size_t n, std::size_t align) {
  void* p = align <= alignof(std::max_align_t) ? std::malloc(n == 0 ? 1 : n)
                                               : std::aligned_alloc(align, (n + align - 1) / align * align);
  if (p == nullptr) throw std::bad_alloc();
  const auto now =
      live_bytes.fetch_add(static_cast<std::int64_t>(malloc_usable_size(p)), std::memory_order_relaxed) +
      static_cast<std::int64_t>(malloc_usable_size(p));
  std::int64_t seen = peak_bytes.load(std::memory_order_relaxed);
  while (now > seen && !peak_bytes.compare_exchange_weak(seen, now, std::memory_order_relaxed)) {
  }
  return p;
}
void release(void* p) noexcept {
  if (p == nullptr) return;
  live_bytes.fetch_sub(static_cast<std::int64_t>(malloc_usable_size(p)), std::memory_order_relaxed);
  std::free(p);
}
} // namespace
void* operator new(std::size_t n) { return allocate(n, 0); }
void* operator new[](std::size_t n) { return allocate(n, 0); }
void* operator new(std::size_t n, std::align_val_t a) { return allocate(n, static_cast<std::size_t>(a)); }
void* operator new[](std::size_t n, std::align_val_t a) { return allocate(n, static_cast<std::size_t>(a)); }
void operator delete(void* p) noexcept { release(p); }
void operator delete[](void* p) noexcept { release(p); }
void operator delete(void* p, std::size_t) noexcept { release(p); }
void operator delete[](void* p, std::size_t) noexcept { release(p); }
void operator delete(void* p, std::align_val_t) noexcept { release(p); }
void operator delete[](void* p, std::align_val_t) noexcept { release(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { release(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { release(p); }
#endif
#define SKIP_UNLESS_HEAP_COUNTED()                                                                           \
  if (!heap_counted) GTEST_SKIP() << "operator new is not replaceable under this sanitizer"

namespace {

using fedpp::client_id;

/// Peak heap bytes (operator new) above the level at the start, while `f` runs.
template <class F>
std::int64_t peak_growth_during(F&& f) {
#if defined(FEDPP_TEST_NO_COUNTING_NEW)
  f();
  return 0;
#else
  const std::int64_t start = live_bytes.load();
  peak_bytes.store(start);
  f();
  return peak_bytes.load() - start;
#endif
}

fedpp::model_layout small_layout() {
  fedpp::model_layout layout;
  layout.add("w", {48}).add("b", {16});
  return layout;
}

/// Adds a small client-dependent step to every weight; reports a few metrics.
struct nudge_trainer {
  fedpp::client_result<float> operator()(client_id id, const fedpp::host_model_view<const float>& global,
                                         const fedpp::round_config&) const {
    auto model = fedpp::flat_model<float>::copy_of(global);
    for (auto& w : model.span()) w += 1e-3F * static_cast<float>(id % 5 + 1);
    return {std::move(model), fedpp::update_kind::weights, 10.0, {{"loss", 0.5}}};
  }
};

std::vector<client_id> consecutive_ids(std::size_t n) {
  std::vector<client_id> ids(n);
  for (std::size_t i = 0; i < n; ++i) ids[i] = i;
  return ids;
}

/// Peak heap growth of `rounds` rounds (after one warm-up round) of a server over a population of
/// `population` clients, `make_sampler(population)` picking the clients.
template <class MakeSampler>
std::int64_t round_peak(std::size_t population, MakeSampler make_sampler, int rounds = 2) {
  const auto layout = small_layout();
  fedpp::in_process_federation<float, nudge_trainer> federation(consecutive_ids(population), nudge_trainer{},
                                                                layout, 2);
  fedpp::server_options options;
  options.seed = 7;
  options.max_in_flight = 32;
  fedpp::server<float, decltype(make_sampler(population))> server(fedpp::flat_model<float>(layout),
                                                                  make_sampler(population), {}, options);
  EXPECT_TRUE(server.run_round(federation.server_endpoint()).succeeded); // warm-up: lazily built buffers
  return peak_growth_during([&] {
    for (int r = 0; r < rounds; ++r) {
      const auto m = server.run_round(federation.server_endpoint());
      EXPECT_TRUE(m.succeeded);
    }
  });
}

// 100 clients a round from 10^4 and from 10^6: the peak may differ by allocator noise (thread
// timing decides how many reports queue), never by anything of the population's size (10^6
// clients × even 1 byte would be 1 MB).
void expect_flat(std::int64_t small, std::int64_t large, const char* what) {
  SCOPED_TRACE(what);
  EXPECT_GT(small, 0);
  EXPECT_LT(large, small + small / 2 + (std::int64_t{128} << 10))
      << "peak bytes of a round: " << small << " with 10^4 clients, " << large << " with 10^6";
}

TEST(ServerScale, RoundMemoryDoesNotGrowWithPopulationUniform) {
  SKIP_UNLESS_HEAP_COUNTED();
  const auto make = [](std::size_t n) { return fedpp::uniform_sampler(n, 100); };
  expect_flat(round_peak(10'000, make), round_peak(1'000'000, make), "uniform_sampler");
}

TEST(ServerScale, RoundMemoryDoesNotGrowWithPopulationWeighted) {
  SKIP_UNLESS_HEAP_COUNTED();
  // The weights themselves (8 bytes per registered client) are built before the measurement;
  // each round used to sort N (key, position) pairs, 16 MB at 10^6.
  const auto make = [](std::size_t n) {
    std::vector<double> sizes(n);
    for (std::size_t i = 0; i < n; ++i) sizes[i] = 1.0 + static_cast<double>(i % 13);
    return fedpp::weighted_sampler(std::move(sizes), 100);
  };
  expect_flat(round_peak(10'000, make, 1), round_peak(1'000'000, make, 1), "weighted_sampler");
}

TEST(ServerScale, RoundMemoryDoesNotGrowWithPopulationOverSelectedAndPoisson) {
  SKIP_UNLESS_HEAP_COUNTED();
  const auto over = [](std::size_t n) {
    return fedpp::over_selection<fedpp::uniform_sampler>(fedpp::uniform_sampler(n, 100), 0.3);
  };
  expect_flat(round_peak(10'000, over), round_peak(1'000'000, over), "over_selection<uniform_sampler>");
  const auto poisson = [](std::size_t n) {
    return fedpp::poisson_sampler(n, 100.0 / static_cast<double>(n), fedpp::poisson_draws::geometric_skips);
  };
  expect_flat(round_peak(10'000, poisson), round_peak(1'000'000, poisson),
              "poisson_sampler, geometric skips");
}

TEST(ServerScale, EvaluationRoundsDoNotCopyThePopulation) {
  SKIP_UNLESS_HEAP_COUNTED();
  // Explicit ids (8 bytes per client) are shared by the resized copy an evaluation round samples
  // from (and by over-selection's): no per-round copy of the id list.
  std::vector<client_id> ids(1'000'000);
  for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = 3 * i + 1;
  const fedpp::uniform_sampler sampler(std::move(ids), 1000);
  std::vector<double> sizes(1'000'000, 2.0);
  const fedpp::weighted_sampler weighted(std::move(sizes), 1000);
  const auto grown = peak_growth_during([&] {
    auto resized = sampler.with_sample_size(50);
    fedpp::rng gen(3);
    EXPECT_EQ(resized.sample(0, gen).size(), 50U);
    auto resized_weighted = weighted.with_sample_size(50);
    EXPECT_EQ(resized_weighted.weights().size(), 1'000'000U);
  });
  EXPECT_LT(grown, std::int64_t{64} << 10);
}

TEST(ServerScale, SamplersAllocateWithTheSampleNotThePopulation) {
  SKIP_UNLESS_HEAP_COUNTED();
  constexpr std::size_t n = 1'000'000;
  constexpr std::size_t m = 1000;
  const fedpp::uniform_sampler uniform(n, m);
  std::vector<double> sizes(n);
  for (std::size_t i = 0; i < n; ++i) sizes[i] = 1.0 + static_cast<double>(i % 100);
  const fedpp::weighted_sampler weighted(std::move(sizes), m);
  const fedpp::poisson_sampler poisson(n, 1e-3, fedpp::poisson_draws::geometric_skips);
  fedpp::rng a(1), b(2), c(3);
  // m ids and positions, a heap of m (key, position) pairs, a hash set of 2m: well under 1 MB;
  // the former weighted sampler took 16 MB here.
  EXPECT_LT(peak_growth_during([&] { EXPECT_EQ(uniform.sample(0, a).size(), m); }), std::int64_t{1} << 20);
  EXPECT_LT(peak_growth_during([&] { EXPECT_EQ(weighted.sample(0, b).size(), m); }), std::int64_t{1} << 20);
  EXPECT_LT(peak_growth_during([&] { (void)poisson.sample(0, c); }), std::int64_t{1} << 20);
}

/// The weighted sampler's former rule, kept here as the reference: every key in a vector,
/// nth_element under (key desc, position asc), the first m positions sorted.
std::vector<client_id> weighted_reference(const std::vector<double>& w, std::size_t m, fedpp::rng& gen) {
  std::vector<std::pair<double, std::size_t>> keys(w.size());
  for (std::size_t i = 0; i < w.size(); ++i) keys[i] = {std::log(gen.uniform_open()) / w[i], i};
  const auto before = [](const auto& x, const auto& y) {
    return x.first > y.first || (x.first == y.first && x.second < y.second);
  };
  std::nth_element(keys.begin(), keys.begin() + static_cast<std::ptrdiff_t>(m - 1), keys.end(), before);
  std::vector<client_id> out;
  for (std::size_t k = 0; k < m; ++k) out.push_back(keys[k].second);
  std::sort(out.begin(), out.end());
  return out;
}

TEST(ServerScale, WeightedSamplerPicksAsTheFullSortDid) {
  for (const std::size_t n : {1UL, 2UL, 7UL, 100UL, 5'000UL}) {
    for (const std::size_t m : {1UL, 2UL, 3UL, 50UL, 5'000UL}) {
      if (m > n) continue;
      std::vector<double> w(n);
      for (std::size_t i = 0; i < n; ++i) w[i] = i % 4 == 0 ? 1.0 : 0.25 + static_cast<double>(i % 9);
      const fedpp::weighted_sampler sampler(w, m);
      for (std::uint64_t seed = 0; seed < 5; ++seed) {
        fedpp::rng g1 = fedpp::rng::for_stream(seed, 11), g2 = fedpp::rng::for_stream(seed, 11);
        EXPECT_EQ(sampler.sample(0, g1), weighted_reference(w, m, g2)) << "n=" << n << " m=" << m;
        EXPECT_EQ(g1(), g2()) << "both drew N values";
      }
    }
  }
}

TEST(ServerScale, PoissonGeometricSkipsIncludeEachClientWithProbabilityQ) {
  constexpr std::size_t n = 200;
  constexpr double q = 0.1;
  constexpr int rounds = 4000;
  const fedpp::poisson_sampler sampler(n, q, fedpp::poisson_draws::geometric_skips);
  EXPECT_EQ(sampler.draws(), fedpp::poisson_draws::geometric_skips);
  EXPECT_EQ(fedpp::poisson_sampler(n, q).draws(), fedpp::poisson_draws::per_client);
  std::vector<int> hits(n, 0);
  std::size_t total = 0;
  for (int r = 0; r < rounds; ++r) {
    fedpp::rng gen = fedpp::rng::for_stream(9, static_cast<std::uint64_t>(r));
    const auto picked = sampler.sample(static_cast<std::uint64_t>(r), gen);
    EXPECT_TRUE(std::is_sorted(picked.begin(), picked.end()));
    EXPECT_EQ(std::adjacent_find(picked.begin(), picked.end()), picked.end());
    for (client_id c : picked) {
      ASSERT_LT(c, n);
      ++hits[c];
    }
    total += picked.size();
  }
  // Each count is Binomial(4000, 0.1): mean 400, sd 19; 5 sd either way.
  for (std::size_t c = 0; c < n; ++c) EXPECT_NEAR(hits[c], 400, 95) << "client " << c;
  // The total is Binomial(800000, 0.1): mean 80000, sd 268.
  EXPECT_NEAR(static_cast<double>(total), 80000.0, 1350.0);
  // Consecutive clients are independent: P(both) = q^2.
  std::size_t pairs = 0;
  for (int r = 0; r < rounds; ++r) {
    fedpp::rng gen = fedpp::rng::for_stream(9, static_cast<std::uint64_t>(r));
    const auto picked = sampler.sample(static_cast<std::uint64_t>(r), gen);
    for (std::size_t k = 1; k < picked.size(); ++k) pairs += picked[k] == picked[k - 1] + 1 ? 1 : 0;
  }
  const double expected_pairs = rounds * (n - 1) * q * q; // 7960, sd ≈ 88
  EXPECT_NEAR(static_cast<double>(pairs), expected_pairs, 450.0);
}

TEST(ServerScale, PoissonGeometricSkipsEdgeCases) {
  std::vector<client_id> ids{40, 10, 30};
  const fedpp::poisson_sampler all(ids, 1.0, fedpp::poisson_draws::geometric_skips);
  fedpp::rng gen(4);
  EXPECT_EQ(all.sample(0, gen), ids); // population order, every client
  const fedpp::poisson_sampler tiny(1'000'000, 1e-300, fedpp::poisson_draws::geometric_skips);
  EXPECT_TRUE(tiny.sample(0, gen).empty()); // the gap is +inf or beyond N: nobody, no overflow
  const fedpp::poisson_sampler one(1, 0.5, fedpp::poisson_draws::geometric_skips);
  std::size_t picked = 0;
  for (int r = 0; r < 1000; ++r) picked += one.sample(0, gen).size();
  EXPECT_NEAR(static_cast<double>(picked), 500.0, 80.0);
}

TEST(ServerScale, RangeRoutingReachesTheHostByArithmetic) {
  fedpp::in_process_transport hub;
  const std::vector<fedpp::endpoint_id> hosts{1'000'000'001, 1'000'000'002, 1'000'000'003};
  const auto before = hub.num_endpoints();
  hub.route_range(0, 1'000'000, hosts);
  EXPECT_EQ(hub.num_endpoints(), before + 3); // the hosts' mailboxes, nothing per client
  auto server = hub.server();
  auto host1 = hub.endpoint(hosts[1]);
  const fedpp::message m;
  server.send(999'997, m); // 999,997 mod 3 = 1
  const auto got = host1.try_receive();
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->to, 999'997U);
  EXPECT_TRUE(host1.speaks_for(hosts[1], 4));
  EXPECT_FALSE(host1.speaks_for(hosts[1], 5));         // 5 lives on host 2
  EXPECT_FALSE(host1.speaks_for(hosts[1], 1'000'000)); // outside the range: nobody's
  host1.send_as(4, fedpp::server_endpoint, m);
  EXPECT_THROW(host1.send_as(5, fedpp::server_endpoint, m), fedpp::invalid_config);
  EXPECT_EQ(server.try_receive()->from, 4U);
  // Routing a client of the range elsewhere, or overlapping ranges, is refused.
  EXPECT_THROW(hub.route(7, hosts[0]), fedpp::invalid_config); // 7 lives on host 1
  hub.route(6, hosts[0]);                                      // already there: accepted, nothing changes
  EXPECT_THROW(hub.route_range(999'999, 1'000'005, hosts), fedpp::invalid_config);
  EXPECT_THROW(hub.route_range(5, 5, hosts), fedpp::invalid_config);
  EXPECT_THROW(hub.route_range(2'000'000, 2'000'010, {}), fedpp::invalid_config);
  (void)hub.endpoint(3'000'000); // its own mailbox now
  EXPECT_THROW(hub.route_range(2'999'999, 3'000'001, hosts), fedpp::invalid_config);
  EXPECT_THROW(hub.route_range(1'000'000'000, 1'000'000'005, {1'000'000'002}), fedpp::invalid_config);
  hub.close();
  EXPECT_TRUE(host1.is_closed());
}

TEST(ServerScale, FederationOfConsecutiveIdsKeepsNoRoutePerClient) {
  SKIP_UNLESS_HEAP_COUNTED();
  const auto layout = small_layout();
  std::int64_t grown = 0;
  {
    const std::vector<client_id> ids = consecutive_ids(1'000'000);
    grown = peak_growth_during([&] {
      fedpp::in_process_federation<float, nudge_trainer> federation(ids, nudge_trainer{}, layout, 2);
      EXPECT_EQ(federation.hub().num_endpoints(), 3U); // the server and two hosts
    });
  }
  EXPECT_LT(grown, std::int64_t{1} << 20); // a hash entry per client would be ~48 MB
  // Ids with gaps still work, one route each.
  std::vector<client_id> gappy{0, 2, 4, 6};
  fedpp::in_process_federation<float, nudge_trainer> federation(gappy, nudge_trainer{}, layout, 2);
  fedpp::server<float, fedpp::uniform_sampler> server(fedpp::flat_model<float>(layout),
                                                      fedpp::uniform_sampler(gappy, 4));
  const auto m = server.run_round(federation.server_endpoint());
  EXPECT_TRUE(m.succeeded);
  EXPECT_EQ(m.reported, 4U);
}

} // namespace
