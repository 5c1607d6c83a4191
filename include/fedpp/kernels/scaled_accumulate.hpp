/// \file scaled_accumulate.hpp
/// acc += alpha * x ("axpy" into a possibly wider accumulator), the one-client FedAvg step.
#pragma once

#include "fedpp/config.hpp"
#include "fedpp/kernels/detail/host_span.hpp"
#include "fedpp/kernels/detail/x86_kernels.hpp"
#include "fedpp/kernels/dispatch.hpp"
#include "fedpp/kernels/simd.hpp"
#include "fedpp/tensor/tensor_view.hpp"

#include <cstddef>
#include <span>
#include <type_traits>

namespace fedpp::kernels {

namespace detail {

template <class Acc, class T>
concept accumulable = std::is_floating_point_v<Acc> && std::is_floating_point_v<T> &&
                      (std::is_same_v<Acc, float> ||
                       std::is_same_v<Acc, double>)&&(std::is_same_v<T, float> ||
                                                      std::is_same_v<T, double>)&&sizeof(Acc) >= sizeof(T);

/// The compile-time-architecture path.
template <class Acc, class T>
void scaled_accumulate_compiled(Acc* acc, Acc alpha, const T* x, std::size_t n) noexcept {
  constexpr std::size_t lanes = simd::width<Acc>;
  const auto a = simd::broadcast(alpha);
  std::size_t i = 0;
  for (; i + 4 * lanes <= n; i += 4 * lanes) {
    const auto s0 = simd::fma(a, simd::load_as<Acc>(x + i), simd::load_as<Acc>(acc + i));
    const auto s1 = simd::fma(a, simd::load_as<Acc>(x + i + lanes), simd::load_as<Acc>(acc + i + lanes));
    const auto s2 =
        simd::fma(a, simd::load_as<Acc>(x + i + 2 * lanes), simd::load_as<Acc>(acc + i + 2 * lanes));
    const auto s3 =
        simd::fma(a, simd::load_as<Acc>(x + i + 3 * lanes), simd::load_as<Acc>(acc + i + 3 * lanes));
    simd::store(acc + i, s0);
    simd::store(acc + i + lanes, s1);
    simd::store(acc + i + 2 * lanes, s2);
    simd::store(acc + i + 3 * lanes, s3);
  }
  for (; i + lanes <= n; i += lanes)
    simd::store(acc + i, simd::fma(a, simd::load_as<Acc>(x + i), simd::load_as<Acc>(acc + i)));
  for (; i < n; ++i) acc[i] = alpha * static_cast<Acc>(x[i]) + acc[i];
}

} // namespace detail

/// acc[i] += alpha * x[i] on an explicit code path (which must be available, see dispatch.hpp).
/// Acc and T are float or double, Acc at least as wide as T; sizes must match.
template <class Acc, class T>
requires detail::accumulable<Acc, T>
void scaled_accumulate_on(isa path, std::span<Acc> acc, Acc alpha, std::span<const T> x) noexcept {
  FEDPP_ASSERT(acc.size() == x.size());
  FEDPP_ASSERT(isa_available(path));
#if FEDPP_RUNTIME_DISPATCH
  if (path == isa::avx512)
    return detail::x86_avx512::scaled_accumulate(acc.data(), alpha, x.data(), x.size());
  if (path == isa::avx2) return detail::x86_avx2::scaled_accumulate(acc.data(), alpha, x.data(), x.size());
#endif
  (void)path;
  detail::scaled_accumulate_compiled(acc.data(), alpha, x.data(), x.size());
}

/// acc[i] += alpha * x[i], on the best path for this CPU (active_isa()).
template <class Acc, class T>
requires detail::accumulable<Acc, T>
void scaled_accumulate(std::span<Acc> acc, Acc alpha, std::span<const T> x) noexcept {
  scaled_accumulate_on(active_isa(), acc, alpha, x);
}

/// acc += alpha * x over host tensor views (device views do not compile).
template <class Acc, class SpaceA, class U, class SpaceX>
void scaled_accumulate(const tensor_view<Acc, SpaceA>& acc, std::type_identity_t<Acc> alpha,
                       const tensor_view<U, SpaceX>& x) noexcept {
  using T = std::remove_const_t<U>;
  scaled_accumulate<Acc, T>(detail::host_span(acc), alpha, std::span<const T>(detail::host_span(x)));
}

} // namespace fedpp::kernels
