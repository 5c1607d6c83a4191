// thread_pool, parallel_for and the threaded kernels: coverage of every index exactly once,
// exceptions propagating, nesting, and bitwise equality with the serial kernels.
#include "fedpp/parallel/kernels.hpp"
#include "fedpp/parallel/parallel_for.hpp"
#include "fedpp/parallel/thread_pool.hpp"

#include "fedpp/error.hpp"
#include "fedpp/kernels/kernels.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <mutex>
#include <random>
#include <set>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace fedpp;

TEST(ParallelPool, ZeroThreadsIsRejected) {
  try {
    parallel::thread_pool pool(0);
    FAIL() << "expected invalid_config";
  } catch (const invalid_config& e) {
    EXPECT_NE(std::string(e.what()).find("got 0"), std::string::npos) << e.what();
  }
}

TEST(ParallelPool, RunsEveryTaskExactlyOnce) {
  for (std::size_t threads : {1u, 2u, 3u, 4u}) {
    parallel::thread_pool pool(threads);
    EXPECT_EQ(pool.size(), threads);
    for (std::size_t tasks : {0u, 1u, 2u, 7u, 100u}) {
      std::vector<std::atomic<int>> hits(tasks);
      pool.run(tasks, [&](std::size_t i) { hits[i].fetch_add(1); });
      for (std::size_t i = 0; i < tasks; ++i)
        EXPECT_EQ(hits[i].load(), 1) << "threads=" << threads << " i=" << i;
    }
  }
}

// Polling between batches (the default), sleeping at once (spin 0) and a long poll all run every
// task once, batch after batch, including batches issued back to back and after a pause longer
// than the poll; destroying a pool whose workers are polling (a 10 s poll) does not wait it out.
TEST(ParallelPool, EveryPollingTimeRunsEveryBatch) {
  using std::chrono::microseconds;
  for (microseconds spin : {microseconds(0), parallel::thread_pool::default_spin, microseconds(10000000)}) {
    const auto start = std::chrono::steady_clock::now();
    {
      parallel::thread_pool pool(3, spin);
      for (int batch = 0; batch < 50; ++batch) {
        if (batch == 25) std::this_thread::sleep_for(std::chrono::milliseconds(2)); // let workers sleep
        std::vector<std::atomic<int>> hits(17);
        pool.run(hits.size(), [&](std::size_t i) { hits[i].fetch_add(1); });
        for (std::size_t i = 0; i < hits.size(); ++i) ASSERT_EQ(hits[i].load(), 1) << spin.count() << " us";
      }
    } // workers may be polling here: shut-down must not wait out their poll
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5)) << spin.count() << " us";
  }
}

TEST(ParallelPool, UsesMoreThanOneThread) {
  parallel::thread_pool pool(3);
  std::mutex m;
  std::set<std::thread::id> ids;
  std::atomic<int> arrived{0};
  // Each task waits until two have started, which needs two threads at once.
  pool.run(3, [&](std::size_t) {
    {
      std::lock_guard<std::mutex> lock(m);
      ids.insert(std::this_thread::get_id());
    }
    arrived.fetch_add(1);
    while (arrived.load() < 2) std::this_thread::yield();
  });
  EXPECT_GE(ids.size(), 2u);
}

TEST(ParallelPool, ExceptionFromATaskPropagatesAndPoolStaysUsable) {
  parallel::thread_pool pool(3);
  std::atomic<int> ran{0};
  try {
    pool.run(50, [&](std::size_t i) {
      ran.fetch_add(1);
      if (i == 5) throw std::runtime_error("task 5 failed");
    });
    FAIL() << "expected the task's exception";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "task 5 failed");
  }
  EXPECT_GE(ran.load(), 1);
  EXPECT_LE(ran.load(), 50);
  std::atomic<int> after{0};
  pool.run(10, [&](std::size_t) { after.fetch_add(1); });
  EXPECT_EQ(after.load(), 10);
}

TEST(ParallelPool, EveryTaskThrowingRethrowsOne) {
  parallel::thread_pool pool(2);
  EXPECT_THROW(pool.run(8, [](std::size_t) { throw std::logic_error("x"); }), std::logic_error);
}

TEST(ParallelPool, NestedRunExecutesInline) {
  parallel::thread_pool pool(2);
  std::atomic<int> inner{0};
  pool.run(4, [&](std::size_t) { pool.run(3, [&](std::size_t) { inner.fetch_add(1); }); });
  EXPECT_EQ(inner.load(), 12);
}

TEST(ParallelPool, ConcurrentCallersAreSerialized) {
  parallel::thread_pool pool(2);
  std::atomic<int> total{0};
  std::thread other([&] {
    for (int r = 0; r < 20; ++r) pool.run(5, [&](std::size_t) { total.fetch_add(1); });
  });
  for (int r = 0; r < 20; ++r) pool.run(5, [&](std::size_t) { total.fetch_add(1); });
  other.join();
  EXPECT_EQ(total.load(), 200);
}

TEST(ParallelFor, CoversTheRangeWithAlignedChunks) {
  parallel::thread_pool pool(3);
  for (std::size_t begin : {0u, 5u})
    for (std::size_t n : {0u, 1u, 9u, 10u, 11u, 100u, 1001u})
      for (std::size_t grain : {1u, 4u, 10u}) {
        std::vector<std::atomic<int>> hits(begin + n);
        std::atomic<int> chunks{0};
        parallel::parallel_for(pool, begin, begin + n, grain, [&](std::size_t lo, std::size_t hi) {
          chunks.fetch_add(1);
          EXPECT_LT(lo, hi);
          EXPECT_EQ((lo - begin) % grain, 0u);
          if (hi != begin + n) {
            EXPECT_EQ((hi - begin) % grain, 0u);
          }
          for (std::size_t i = lo; i < hi; ++i) hits[i].fetch_add(1);
        });
        for (std::size_t i = 0; i < begin + n; ++i) EXPECT_EQ(hits[i].load(), i < begin ? 0 : 1);
        EXPECT_LE(static_cast<std::size_t>(chunks.load()), pool.size());
      }
}

TEST(ParallelFor, BadArgumentsAreRejected) {
  parallel::thread_pool pool(2);
  EXPECT_THROW(parallel::parallel_for(pool, 0, 10, 0, [](std::size_t, std::size_t) {}), invalid_config);
  EXPECT_THROW(parallel::parallel_for(pool, 10, 5, 1, [](std::size_t, std::size_t) {}), invalid_config);
}

TEST(ParallelFor, ExceptionFromABodyPropagates) {
  parallel::thread_pool pool(2);
  EXPECT_THROW(parallel::parallel_for(pool, 0, 100,
                                      [](std::size_t lo, std::size_t) {
                                        if (lo == 0) throw std::out_of_range("first chunk");
                                      }),
               std::out_of_range);
}

TEST(ParallelKernels, BitwiseEqualToSerialOnEveryPath) {
  std::mt19937_64 rng(2024);
  std::uniform_real_distribution<float> dist(-3.0f, 3.0f);
  const std::size_t k = 9;
  for (std::size_t n : {0u, 1u, 100u, 8191u, 8192u, 8193u, 40000u, 70001u}) {
    std::vector<std::vector<float>> data(k, std::vector<float>(n));
    for (auto& d : data)
      for (auto& v : d) v = dist(rng);
    std::vector<std::span<const float>> inputs(data.begin(), data.end());
    std::vector<double> weights;
    for (std::size_t j = 0; j < k; ++j) weights.push_back(1.0 + 0.5 * static_cast<double>(j));
    for (kernels::isa path : kernels::available_isas()) {
      kernels::scoped_isa_override force(path);
      for (std::size_t threads : {1u, 2u, 3u}) {
        parallel::thread_pool pool(threads);
        std::vector<double> serial(n, 0.5), threaded(n, 0.5);
        kernels::weighted_sum<double, float>(serial, inputs, weights);
        kernels::weighted_sum<double, float>(pool, threaded, inputs, weights);
        ASSERT_EQ(serial, threaded) << "weighted_sum n=" << n << " threads=" << threads;
        kernels::weighted_sum<double, float>(serial, inputs, weights, kernels::write_mode::overwrite);
        kernels::weighted_sum<double, float>(pool, threaded, inputs, weights, kernels::write_mode::overwrite);
        ASSERT_EQ(serial, threaded) << "overwrite n=" << n << " threads=" << threads;
        kernels::scaled_accumulate<double, float>(serial, 0.3, inputs[0]);
        kernels::scaled_accumulate<double, float>(pool, threaded, 0.3, inputs[0]);
        ASSERT_EQ(serial, threaded) << "scaled_accumulate n=" << n << " threads=" << threads;
        std::vector<float> fs(n, 1.0f), ft(n, 1.0f);
        kernels::scaled_accumulate<float, float>(fs, 0.7f, inputs[1]);
        kernels::scaled_accumulate<float, float>(pool, ft, 0.7f, inputs[1]);
        ASSERT_EQ(fs, ft) << "float scaled_accumulate n=" << n;
      }
    }
  }
}

TEST(ParallelKernels, MatchesReference) {
  parallel::thread_pool pool(2);
  const std::size_t n = 20000;
  std::vector<float> a(n), b(n);
  for (std::size_t i = 0; i < n; ++i) {
    a[i] = static_cast<float>(i % 97) - 48.0f;
    b[i] = static_cast<float>(i % 13) * 0.25f;
  }
  const std::span<const float> inputs[] = {a, b};
  const double w[] = {2.0, 4.0};
  std::vector<double> out(n, 1.0);
  kernels::weighted_sum<double, float>(pool, out, inputs, w);
  for (std::size_t i = 0; i < n; ++i)
    ASSERT_EQ(out[i], 1.0 + 2.0 * static_cast<double>(a[i]) + 4.0 * static_cast<double>(b[i])) << i;
}

} // namespace
