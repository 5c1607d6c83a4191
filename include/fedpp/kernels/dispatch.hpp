/// \file dispatch.hpp
/// Run-time instruction-set selection for the hot kernels (weighted_sum, scaled_accumulate).
///
/// A library built with plain `-O2` targets x86-64's SSE2 baseline; on a CPU with AVX2 or
/// AVX-512 the hot kernels then switch, once, to code compiled for those sets with
/// `__attribute__((target(...)))` (see kernels/detail/x86_kernels.hpp). A path is chosen only
/// when it is wider than what the compiler flags already target. Tests run every path with
/// `available_isas()` and the explicit `*_on(isa, ...)` entry points.
#pragma once

#include "fedpp/config.hpp"

#include <atomic>
#include <cstdint>
#include <vector>

namespace fedpp::kernels {

/// A code path of the hot kernels.
enum class isa : std::uint8_t {
  compiled = 0, ///< what the compiler flags target (xsimd batches, or plain loops without xsimd)
  avx2 = 1,     ///< x86-64 AVX2 + FMA, selected at run time
  avx512 = 2    ///< x86-64 AVX-512 F/DQ/VL/BW, selected at run time
};

/// Name of a path ("compiled", "avx2", "avx512").
[[nodiscard]] inline const char* to_string(isa path) noexcept {
  switch (path) {
  case isa::avx2:
    return "avx2";
  case isa::avx512:
    return "avx512";
  case isa::compiled:
    break;
  }
  return "compiled";
}

namespace detail {

/// Width in bytes of the widest vectors the compiler flags allow (16 = the x86-64 SSE2 baseline).
inline constexpr int compiled_vector_bytes =
#if defined(__AVX512F__)
    64;
#elif defined(__AVX2__) && defined(__FMA__)
    32;
#else
    16;
#endif

/// -1: no override; otherwise the isa forced by scoped_isa_override.
inline std::atomic<int> isa_override{-1};

} // namespace detail

/// True when this build contains the path and this CPU can run it.
[[nodiscard]] inline bool isa_available(isa path) noexcept {
  switch (path) {
  case isa::compiled:
    return true;
#if FEDPP_RUNTIME_DISPATCH
  case isa::avx2:
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  case isa::avx512:
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw");
#else
  case isa::avx2:
  case isa::avx512:
    return false;
#endif
  }
  return false;
}

/// Every path this build and CPU can run, `compiled` first.
[[nodiscard]] inline std::vector<isa> available_isas() {
  std::vector<isa> paths;
  for (isa p : {isa::compiled, isa::avx2, isa::avx512})
    if (isa_available(p)) paths.push_back(p);
  return paths;
}

/// The path the hot kernels take by default: the widest run-time path that beats the
/// compile-time one, else `compiled`. Decided once per process.
[[nodiscard]] inline isa best_isa() noexcept {
  static const isa best = [] {
    if (detail::compiled_vector_bytes < 64 && isa_available(isa::avx512)) return isa::avx512;
    if (detail::compiled_vector_bytes < 32 && isa_available(isa::avx2)) return isa::avx2;
    return isa::compiled;
  }();
  return best;
}

/// The path the hot kernels take now: best_isa(), unless a scoped_isa_override is alive.
[[nodiscard]] inline isa active_isa() noexcept {
  const int forced = detail::isa_override.load(std::memory_order_relaxed);
  return forced < 0 ? best_isa() : static_cast<isa>(forced);
}

/// Forces every hot kernel onto one path while alive (process-wide; for tests and benchmarks,
/// not for concurrent use). The path must be available.
class scoped_isa_override {
public:
  /// Forces `path` until destruction.
  explicit scoped_isa_override(isa path) noexcept
      : previous_(detail::isa_override.exchange(static_cast<int>(path))) {
    FEDPP_ASSERT(isa_available(path));
  }
  scoped_isa_override(const scoped_isa_override&) = delete;
  scoped_isa_override& operator=(const scoped_isa_override&) = delete;
  ~scoped_isa_override() { detail::isa_override.store(previous_); }

private:
  int previous_;
};

} // namespace fedpp::kernels
