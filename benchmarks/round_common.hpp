// Shared by the orchestration benchmarks: a synthetic federation of many clients over a model of
// D parameters, with a trainer whose cost is chosen by the benchmark.
#pragma once

#include "fedpp/orchestration/in_process_federation.hpp"
#include "fedpp/orchestration/server.hpp"
#include "fedpp/scheduling/uniform_sampler.hpp"

#include <atomic>
#include <chrono>
#include <ctime>
#include <memory>

#include <sys/resource.h>

namespace round_bench {

/// CPU seconds of the calling thread.
inline double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

/// CPU seconds of the whole process (all threads).
inline double process_cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         1e-6 * static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

/// Peak resident set of the process so far, in MiB.
inline double peak_rss_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

inline fedpp::model_layout layout_of(std::size_t parameters) {
  fedpp::model_layout layout;
  layout.add("body.weight", {parameters - parameters / 100}).add("head.weight", {parameters / 100});
  return layout;
}

/// "Training": copies the global model, nudges every weight, and spins for `work` of CPU time
/// (standing in for the user's computation); records its own CPU time.
struct synthetic_trainer {
  std::chrono::microseconds work{0};
  std::shared_ptr<std::atomic<std::int64_t>> cpu_ns = std::make_shared<std::atomic<std::int64_t>>(0);

  fedpp::client_result<float> operator()(fedpp::client_id id,
                                         const fedpp::host_model_view<const float>& global,
                                         const fedpp::round_config&) const {
    const double start = thread_cpu_seconds();
    auto model = fedpp::flat_model<float>::copy_of(global);
    const float step = 1e-3F * static_cast<float>(id % 7 + 1);
    for (auto& w : model.span()) w += step;
    const double until = start + 1e-6 * static_cast<double>(work.count());
    while (thread_cpu_seconds() < until) {
    }
    cpu_ns->fetch_add(static_cast<std::int64_t>((thread_cpu_seconds() - start) * 1e9));
    return {std::move(model), fedpp::update_kind::weights, 100.0, {}};
  }
};

} // namespace round_bench
