/// \file thread_pool.hpp
/// A fixed-size pool of worker threads that the user constructs and sizes; fedpp never starts
/// threads on its own (no hidden global pool). Used by parallel_for and the parallel kernels.
#pragma once

#include "fedpp/error.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

namespace fedpp::parallel {

/// Runs batches of indexed tasks on `size()` threads: size() - 1 workers plus the thread that
/// calls run(). One batch runs at a time (concurrent run() calls queue up); a run() issued from
/// inside a task of the same pool executes its tasks inline, so nesting cannot deadlock.
class thread_pool {
public:
  /// Polling time of default-constructed pools (see the constructor).
  static constexpr std::chrono::microseconds default_spin{100};

  /// A pool of `num_threads` threads in all (the caller of run() counts as one, so 1 means
  /// serial execution with no extra thread). Throws invalid_config for 0. After a batch, idle
  /// workers (and a caller waiting for the last task) poll for up to `spin` before they sleep:
  /// waking a sleeping thread costs tens of microseconds (more under a hypervisor), which a
  /// batch that follows another at once — a norm pass, then the noise pass that uses it — would
  /// pay every time. Zero sleeps at once (no CPU burnt between sparse batches).
  explicit thread_pool(std::size_t num_threads, std::chrono::microseconds spin = default_spin)
      : size_(num_threads), spin_(spin) {
    if (num_threads == 0)
      throw invalid_config("thread_pool: the number of threads must be at least 1, got 0");
    workers_.reserve(num_threads - 1);
    try {
      for (std::size_t t = 1; t < num_threads; ++t) workers_.emplace_back([this] { worker_loop(); });
    } catch (...) {
      shut_down();
      throw;
    }
  }

  thread_pool(const thread_pool&) = delete;
  thread_pool& operator=(const thread_pool&) = delete;

  /// Joins every worker (waits for a running batch to finish first).
  ~thread_pool() { shut_down(); }

  /// Number of threads that run tasks, the caller of run() included.
  [[nodiscard]] std::size_t size() const noexcept { return size_; }

  /// Calls task(i) once for every i in [0, num_tasks), spread over the pool's threads, and
  /// returns when all have finished. If tasks throw, the tasks not yet started are skipped and
  /// the first exception is rethrown here (the others are dropped).
  template <class Task>
  void run(std::size_t num_tasks, Task&& task) {
    if (num_tasks == 0) return;
    if (size_ == 1 || num_tasks == 1 || current_pool() == this) {
      for (std::size_t i = 0; i < num_tasks; ++i) task(i); // inline: serial pool, one task, or nested
      return;
    }
    std::unique_lock<std::mutex> serial(run_mutex_);
    batch b;
    b.num_tasks = num_tasks;
    b.context = &task;
    b.invoke = [](void* context, std::size_t i) {
      (*static_cast<std::remove_reference_t<Task>*>(context))(i);
    };
    {
      std::lock_guard<std::mutex> lock(mutex_);
      batch_ = &b;
      ++generation_;
      published_generation_.store(generation_, std::memory_order_release);
    }
    wake_.notify_all();
    work_on(b);
    spin_until([&] { return b.settled.load(std::memory_order_acquire); });
    std::unique_lock<std::mutex> lock(mutex_);
    // Wait until every task has finished and every worker has let go of the batch.
    done_.wait(lock, [&] { return b.finished == num_tasks && b.attached == 0; });
    batch_ = nullptr;
    lock.unlock();
    if (b.error) std::rethrow_exception(b.error);
  }

private:
  struct batch {
    std::size_t num_tasks = 0;
    void* context = nullptr;
    void (*invoke)(void*, std::size_t) = nullptr;
    std::size_t next = 0;             // next task to hand out (guarded by mutex_)
    std::size_t finished = 0;         // tasks finished or skipped (guarded by mutex_)
    std::size_t attached = 0;         // workers currently inside work_on (guarded by mutex_)
    std::exception_ptr error;         // first exception (guarded by mutex_)
    std::atomic<bool> settled{false}; // finished == num_tasks && attached == 0 (a hint for polling)
  };

  // Polls `ready` for up to spin_ (the guarded wait that follows decides; this only saves a
  // sleep and a wake-up when the answer comes soon).
  template <class Ready>
  void spin_until(Ready&& ready) const {
    if (spin_.count() <= 0 || ready()) return;
    const auto until = std::chrono::steady_clock::now() + spin_;
    do {
      for (int k = 0; k < 32; ++k) cpu_relax();
      if (ready()) return;
    } while (std::chrono::steady_clock::now() < until);
  }

  static void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  }

  // Under mutex_: marks b settled once every task has finished and no worker holds it.
  static void note_if_settled(batch& b) noexcept {
    if (b.finished == b.num_tasks && b.attached == 0) b.settled.store(true, std::memory_order_release);
  }

  // The pool whose task this thread is running, if any (detects nested run()).
  static thread_pool*& current_pool() noexcept {
    thread_local thread_pool* pool = nullptr;
    return pool;
  }

  // Takes tasks from b until none is left. Tasks are coarse (one chunk of a kernel), so a
  // mutex per hand-out costs nothing measurable and keeps the bookkeeping obviously race-free.
  void work_on(batch& b) {
    thread_pool* const outer = current_pool();
    current_pool() = this;
    std::unique_lock<std::mutex> lock(mutex_);
    while (b.next < b.num_tasks) {
      const std::size_t i = b.next++;
      if (b.error) { // a task failed: skip the rest
        ++b.finished;
        continue;
      }
      lock.unlock();
      std::exception_ptr failure;
      try {
        b.invoke(b.context, i);
      } catch (...) {
        failure = std::current_exception();
      }
      lock.lock();
      if (failure && !b.error) b.error = failure;
      ++b.finished;
    }
    note_if_settled(b);
    lock.unlock();
    current_pool() = outer;
    done_.notify_all();
  }

  void worker_loop() {
    std::uint64_t seen = 0;
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      if (!stopping_ && (batch_ == nullptr || generation_ == seen)) { // nothing yet: poll, then sleep
        lock.unlock();
        spin_until([&] {
          return published_generation_.load(std::memory_order_acquire) != seen ||
                 stopping_flag_.load(std::memory_order_acquire);
        });
        lock.lock();
      }
      wake_.wait(lock, [&] { return stopping_ || (batch_ != nullptr && generation_ != seen); });
      if (stopping_) return;
      seen = generation_;
      batch& b = *batch_;
      ++b.attached;
      lock.unlock();
      work_on(b);
      lock.lock();
      --b.attached;
      note_if_settled(b);
      done_.notify_all();
    }
  }

  void shut_down() noexcept {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
      stopping_flag_.store(true, std::memory_order_release);
    }
    wake_.notify_all();
    for (auto& w : workers_)
      if (w.joinable()) w.join();
    workers_.clear();
  }

  std::size_t size_;
  std::vector<std::thread> workers_;
  std::mutex run_mutex_; // one batch at a time
  std::mutex mutex_;     // guards everything below and the batch's counters
  std::condition_variable wake_;
  std::condition_variable done_;
  batch* batch_ = nullptr;
  std::uint64_t generation_ = 0;
  bool stopping_ = false;
  std::chrono::microseconds spin_;
  std::atomic<std::uint64_t> published_generation_{0}; // generation_, for polling without the lock
  std::atomic<bool> stopping_flag_{false};             // stopping_, likewise
};

} // namespace fedpp::parallel
