/// \file weighted_sum.hpp
/// out (+)= Σ_k w_k x_k over K inputs, blocked: the FedAvg batch step (McMahan et al. 2017,
/// Algorithm 1, the numerator of w ← Σ_k (n_k/n) w_k).
///
/// Memory traffic: out is split into blocks of weighted_sum_tuning::block_elements that stay in
/// L1 while all K inputs are folded in, `group` inputs per pass, so out is read and written once
/// per call from memory (and once per group from L1) instead of once per input; the K inputs are
/// each streamed once. For float inputs into double accumulators that is K·D·4 + 2·D·8 bytes.
#pragma once

#include "fedpp/config.hpp"
#include "fedpp/kernels/detail/host_span.hpp"
#include "fedpp/kernels/detail/x86_kernels.hpp"
#include "fedpp/kernels/dispatch.hpp"
#include "fedpp/kernels/scaled_accumulate.hpp"
#include "fedpp/kernels/simd.hpp"
#include "fedpp/kernels/tuning.hpp"
#include "fedpp/kernels/write_mode.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace fedpp::kernels {

namespace detail {

/// One pass over [b0, b1) folding G inputs (compile-time-architecture path):
/// out[i] = (src ? src[i] : 0) + Σ_g w[g] x[g][i]. With Check, also tells whether every input
/// element read was finite: x·0 is NaN exactly when x is Inf or NaN, so one extra multiply-add
/// per vector into `z` (which stays 0 otherwise) checks the data already in registers.
template <std::size_t G, bool Check, class Acc, class T>
inline bool fold_group_compiled(Acc* out, const Acc* src, const T* const* x, const Acc* w, std::size_t b0,
                                std::size_t b1) noexcept {
  constexpr std::size_t lanes = simd::width<Acc>;
  constexpr std::uintptr_t ahead = weighted_sum_tuning::prefetch_elements * sizeof(T);
  simd::batch<Acc> wv[G];
#if defined(__GNUC__)
#pragma GCC unroll 16
#endif
  for (std::size_t g = 0; g < G; ++g) wv[g] = simd::broadcast(w[g]);
  const auto zero = simd::broadcast(Acc(0));
  auto z = zero;
  std::size_t i = b0;
  for (; i + lanes <= b1; i += lanes) {
    auto s = src != nullptr ? simd::load_as<Acc>(src + i) : zero;
#if defined(__GNUC__)
    // Near the end of an input this hints an address past it: prefetches never fault.
    if constexpr (ahead != 0)
      for (std::size_t g = 0; g < G; ++g)
        // NOLINTNEXTLINE(performance-no-int-to-ptr): integer arithmetic: no UB past the end
        __builtin_prefetch(reinterpret_cast<const void*>(reinterpret_cast<std::uintptr_t>(x[g] + i) + ahead));
#endif
#if defined(__GNUC__)
#pragma GCC unroll 16 // -O2 would keep the G-loop (and wv[] on the stack) otherwise
#endif
    for (std::size_t g = 0; g < G; ++g) {
      const auto v = simd::load_as<Acc>(x[g] + i);
      if constexpr (Check) z = simd::fma(v, zero, z);
      s = simd::fma(wv[g], v, s);
    }
    simd::store(out + i, s);
  }
  Acc zt = Acc(0);
  for (; i < b1; ++i) {
    Acc s = src != nullptr ? src[i] : Acc(0);
    for (std::size_t g = 0; g < G; ++g) {
      const Acc v = static_cast<Acc>(x[g][i]);
      if constexpr (Check) zt += v * Acc(0);
      s = w[g] * v + s;
    }
    out[i] = s;
  }
  if constexpr (Check) {
    const Acc total = simd::reduce_add(z) + zt; // NaN iff some lane or the tail saw Inf/NaN
    return total == total;                      // NOLINT(misc-redundant-expression): false only for NaN
  }
  return true;
}

/// out = (base ? base : 0) + Σ_k w[k] x[k], blocked; `base` may equal `out`. With Check, stops
/// and returns false at the first block group that read a non-finite input element.
template <bool Check, class Acc, class T>
bool weighted_sum_compiled(Acc* out, const Acc* base, const T* const* x, const Acc* w, std::size_t num_inputs,
                           std::size_t n) noexcept {
  constexpr std::size_t block = weighted_sum_tuning::block_elements;
  constexpr std::size_t group = weighted_sum_tuning::group;
  if (num_inputs == 0) {
    for (std::size_t i = 0; i < n; ++i) out[i] = base != nullptr ? base[i] : Acc(0);
    return true;
  }
  for (std::size_t b0 = 0; b0 < n; b0 += block) {
    const std::size_t b1 = n - b0 < block ? n : b0 + block;
    const Acc* src = base; // the first group starts from base, the others from out
    bool ok = true;
    std::size_t k = 0;
    for (; k + group <= num_inputs; k += group, src = out)
      ok = fold_group_compiled<group, Check>(out, src, x + k, w + k, b0, b1) && ok;
    for (; k + 4 <= num_inputs; k += 4, src = out)
      ok = fold_group_compiled<4, Check>(out, src, x + k, w + k, b0, b1) && ok;
    for (; k + 2 <= num_inputs; k += 2, src = out)
      ok = fold_group_compiled<2, Check>(out, src, x + k, w + k, b0, b1) && ok;
    for (; k < num_inputs; ++k, src = out)
      ok = fold_group_compiled<1, Check>(out, src, x + k, w + k, b0, b1) && ok;
    if (!ok) return false;
  }
  return true;
}

/// Input pointers for the x86 kernels: a small stack array, a vector beyond it.
template <class T>
class pointer_list {
public:
  explicit pointer_list(std::span<const std::span<const T>> inputs) {
    if (inputs.size() > local_capacity) heap_.resize(inputs.size());
    const T** p = data();
    for (std::size_t k = 0; k < inputs.size(); ++k) p[k] = inputs[k].data();
  }
  [[nodiscard]] const T** data() noexcept { return heap_.empty() ? local_ : heap_.data(); }

private:
  static constexpr std::size_t local_capacity = 64;
  const T* local_[local_capacity] = {};
  std::vector<const T*> heap_;
};

} // namespace detail

namespace detail {

/// out = (base ? base : 0) + Σ_k weights[k] inputs[k] on `path`; see weighted_sum_compiled.
template <bool Check, class Acc, class T>
bool run_weighted_sum(isa path, Acc* out, const Acc* base, std::span<const std::span<const T>> inputs,
                      const Acc* weights, std::size_t n) {
  pointer_list<T> pointers(inputs);
#if FEDPP_RUNTIME_DISPATCH
  if (path == isa::avx512)
    return x86_avx512::weighted_sum<Check>(out, base, pointers.data(), weights, inputs.size(), n);
  if (path == isa::avx2)
    return x86_avx2::weighted_sum<Check>(out, base, pointers.data(), weights, inputs.size(), n);
#endif
  (void)path;
  return weighted_sum_compiled<Check>(out, base, pointers.data(), weights, inputs.size(), n);
}

} // namespace detail

/// out[i] (+)= Σ_k weights[k] * inputs[k][i] on an explicit code path (which must be available).
/// Every input has out.size() elements; inputs.size() == weights.size(). With
/// write_mode::overwrite, out's previous contents are ignored.
template <class Acc, class T>
requires detail::accumulable<Acc, T>
void weighted_sum_on(isa path, std::span<Acc> out, std::span<const std::span<const T>> inputs,
                     std::span<const Acc> weights, write_mode mode = write_mode::accumulate) {
  FEDPP_ASSERT(inputs.size() == weights.size());
  FEDPP_ASSERT(isa_available(path));
#ifndef NDEBUG
  for (const auto& in : inputs) FEDPP_ASSERT(in.size() == out.size());
#endif
  const Acc* base = mode == write_mode::overwrite ? nullptr : out.data();
  detail::run_weighted_sum<false, Acc, T>(path, out.data(), base, inputs, weights.data(), out.size());
}

/// out[i] (+)= Σ_k weights[k] * inputs[k][i] on the best path for this CPU (active_isa()).
template <class Acc, class T>
requires detail::accumulable<Acc, T>
void weighted_sum(std::span<Acc> out, std::span<const std::span<const T>> inputs,
                  std::span<const Acc> weights, write_mode mode = write_mode::accumulate) {
  weighted_sum_on<Acc, T>(active_isa(), out, inputs, weights, mode);
}

/// weighted_sum into a host tensor view (device views do not compile).
template <class Acc, class Space, class T>
void weighted_sum(const tensor_view<Acc, Space>& out, std::span<const std::span<const T>> inputs,
                  std::span<const Acc> weights, write_mode mode = write_mode::accumulate) {
  weighted_sum<Acc, T>(detail::host_span(out), inputs, weights, mode);
}

} // namespace fedpp::kernels
