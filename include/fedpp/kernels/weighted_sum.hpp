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

/// One pass over out[b0, b1) folding G inputs (compile-time-architecture path).
template <std::size_t G, class Acc, class T>
inline void fold_group_compiled(Acc* out, const std::span<const T>* x, const Acc* w, std::size_t b0,
                                std::size_t b1, bool first) noexcept {
  constexpr std::size_t lanes = simd::width<Acc>;
  constexpr std::uintptr_t ahead = weighted_sum_tuning::prefetch_elements * sizeof(T);
  simd::batch<Acc> wv[G];
  const T* p[G];
  for (std::size_t g = 0; g < G; ++g) {
    wv[g] = simd::broadcast(w[g]);
    p[g] = x[g].data();
  }
  std::size_t i = b0;
  for (; i + lanes <= b1; i += lanes) {
    auto s = first ? simd::broadcast(Acc(0)) : simd::load_as<Acc>(out + i);
#if defined(__GNUC__)
    // Near the end of an input this hints an address past it: prefetches never fault.
    if constexpr (ahead != 0)
      for (std::size_t g = 0; g < G; ++g)
        __builtin_prefetch(reinterpret_cast<const void*>(reinterpret_cast<std::uintptr_t>(p[g] + i) + ahead));
#endif
    for (std::size_t g = 0; g < G; ++g) s = simd::fma(wv[g], simd::load_as<Acc>(p[g] + i), s);
    simd::store(out + i, s);
  }
  for (; i < b1; ++i) {
    Acc s = first ? Acc(0) : out[i];
    for (std::size_t g = 0; g < G; ++g) s = w[g] * static_cast<Acc>(p[g][i]) + s;
    out[i] = s;
  }
}

template <class Acc, class T>
void weighted_sum_compiled(std::span<Acc> out, std::span<const std::span<const T>> inputs,
                           std::span<const Acc> weights, bool overwrite) noexcept {
  constexpr std::size_t block = weighted_sum_tuning::block_elements;
  constexpr std::size_t group = weighted_sum_tuning::group;
  const std::size_t n = out.size();
  const std::size_t num_inputs = inputs.size();
  if (num_inputs == 0) {
    if (overwrite)
      for (auto& o : out) o = Acc(0);
    return;
  }
  const auto* x = inputs.data();
  const Acc* w = weights.data();
  for (std::size_t b0 = 0; b0 < n; b0 += block) {
    const std::size_t b1 = n - b0 < block ? n : b0 + block;
    bool first = overwrite;
    std::size_t k = 0;
    for (; k + group <= num_inputs; k += group, first = false)
      fold_group_compiled<group>(out.data(), x + k, w + k, b0, b1, first);
    for (; k + 4 <= num_inputs; k += 4, first = false)
      fold_group_compiled<4>(out.data(), x + k, w + k, b0, b1, first);
    for (; k + 2 <= num_inputs; k += 2, first = false)
      fold_group_compiled<2>(out.data(), x + k, w + k, b0, b1, first);
    for (; k < num_inputs; ++k, first = false)
      fold_group_compiled<1>(out.data(), x + k, w + k, b0, b1, first);
  }
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
  const bool overwrite = mode == write_mode::overwrite;
#if FEDPP_RUNTIME_DISPATCH
  if (path == isa::avx512 || path == isa::avx2) {
    detail::pointer_list<T> pointers(inputs);
    if (path == isa::avx512)
      detail::x86_avx512::weighted_sum(out.data(), pointers.data(), weights.data(), inputs.size(), out.size(),
                                       overwrite);
    else
      detail::x86_avx2::weighted_sum(out.data(), pointers.data(), weights.data(), inputs.size(), out.size(),
                                     overwrite);
    return;
  }
#endif
  (void)path;
  detail::weighted_sum_compiled<Acc, T>(out, inputs, weights, overwrite);
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
