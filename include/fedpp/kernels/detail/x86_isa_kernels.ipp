// Body of the run-time dispatched x86 kernels, included once per instruction set by
// x86_kernels.hpp with FEDPP_X86_NS (namespace), FEDPP_X86_TARGET (attribute target string) and
// FEDPP_X86_BYTES (vector width in bytes) defined. Written with GCC vector extensions so one text
// serves every width; every function is a template or `inline` with its own target attribute and
// lives in its own namespace, so no symbol is ever compiled for two targets (ODR).

namespace FEDPP_X86_NS {

typedef double vdouble __attribute__((vector_size(FEDPP_X86_BYTES)));
typedef float vfloat __attribute__((vector_size(FEDPP_X86_BYTES)));
typedef float vfloat_half __attribute__((vector_size(FEDPP_X86_BYTES / 2)));

/// Vector types for accumulating T into Acc.
template <class Acc, class T>
struct vtypes;
template <>
struct vtypes<double, double> {
  using acc = vdouble;
  using in = vdouble;
};
template <>
struct vtypes<double, float> {
  using acc = vdouble;
  using in = vfloat_half;
};
template <>
struct vtypes<float, float> {
  using acc = vfloat;
  using in = vfloat;
};

template <class Acc, class T>
__attribute__((target(FEDPP_X86_TARGET), always_inline)) inline typename vtypes<Acc, T>::acc
load_as(const T* p) noexcept {
  typename vtypes<Acc, T>::in v;
  __builtin_memcpy(&v, p, sizeof v);
  return __builtin_convertvector(v, typename vtypes<Acc, T>::acc);
}

/// acc[i] += alpha * x[i] for i < n.
template <class Acc, class T>
__attribute__((target(FEDPP_X86_TARGET))) void scaled_accumulate(Acc* acc, Acc alpha, const T* x,
                                                                 std::size_t n) noexcept {
  using vacc = typename vtypes<Acc, T>::acc;
  constexpr std::size_t lanes = sizeof(vacc) / sizeof(Acc);
  const vacc a = vacc{} + alpha;
  std::size_t i = 0;
  for (; i + 4 * lanes <= n; i += 4 * lanes) {
    for (std::size_t u = 0; u < 4; ++u) {
      vacc s;
      __builtin_memcpy(&s, acc + i + u * lanes, sizeof s);
      s = a * load_as<Acc, T>(x + i + u * lanes) + s;
      __builtin_memcpy(acc + i + u * lanes, &s, sizeof s);
    }
  }
  for (; i + lanes <= n; i += lanes) {
    vacc s;
    __builtin_memcpy(&s, acc + i, sizeof s);
    s = a * load_as<Acc, T>(x + i) + s;
    __builtin_memcpy(acc + i, &s, sizeof s);
  }
  for (; i < n; ++i) acc[i] = alpha * static_cast<Acc>(x[i]) + acc[i];
}

/// One pass over [b0, b1) folding G inputs: out[i] = (src ? src[i] : 0) + Σ_g w[g] x[g][i];
/// with Check, returns false when an input element read was Inf or NaN (x·0 is NaN exactly then).
template <std::size_t G, bool Check, class Acc, class T>
__attribute__((target(FEDPP_X86_TARGET), always_inline)) inline bool
fold_group(Acc* out, const Acc* src, const T* const* x, const Acc* w, std::size_t b0,
           std::size_t b1) noexcept {
  using vacc = typename vtypes<Acc, T>::acc;
  constexpr std::size_t lanes = sizeof(vacc) / sizeof(Acc);
  constexpr std::uintptr_t ahead = weighted_sum_tuning::prefetch_elements * sizeof(T);
  vacc wv[G];
#pragma GCC unroll 16
  for (std::size_t g = 0; g < G; ++g) wv[g] = vacc{} + w[g];
  const vacc zero = vacc{};
  vacc z = zero;
  std::size_t i = b0;
  for (; i + lanes <= b1; i += lanes) {
    vacc s = zero;
    if (src != nullptr) __builtin_memcpy(&s, src + i, sizeof s);
    if constexpr (ahead != 0) // prefetches never fault, even past the end
#pragma GCC unroll 16
      for (std::size_t g = 0; g < G; ++g)
        // NOLINTNEXTLINE(performance-no-int-to-ptr): integer arithmetic, so a look-ahead past the end is no UB
        __builtin_prefetch(reinterpret_cast<const void*>(reinterpret_cast<std::uintptr_t>(x[g] + i) + ahead));
#pragma GCC unroll 16 // -O2 would keep the G-loop (and wv[] on the stack) otherwise
    for (std::size_t g = 0; g < G; ++g) {
      const vacc v = load_as<Acc, T>(x[g] + i);
      if constexpr (Check) z = v * zero + z;
      s = wv[g] * v + s;
    }
    __builtin_memcpy(out + i, &s, sizeof s);
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
    for (std::size_t l = 0; l < lanes; ++l) zt += z[l]; // NaN iff some lane saw Inf/NaN
    return zt == zt; // NOLINT(misc-redundant-expression): false only for NaN
  }
  return true;
}

/// out = (base ? base : 0) + Σ_k w[k] x[k] for n elements, blocked (see weighted_sum_tuning);
/// `base` may equal `out`. With Check, returns false after the first block that read Inf/NaN.
template <bool Check, class Acc, class T>
__attribute__((target(FEDPP_X86_TARGET))) bool weighted_sum(Acc* out, const Acc* base, const T* const* x,
                                                            const Acc* w, std::size_t num_inputs,
                                                            std::size_t n) noexcept {
  constexpr std::size_t block = weighted_sum_tuning::block_elements;
  constexpr std::size_t group = weighted_sum_tuning::group;
  if (num_inputs == 0) {
    for (std::size_t i = 0; i < n; ++i) out[i] = base != nullptr ? base[i] : Acc(0);
    return true;
  }
  for (std::size_t b0 = 0; b0 < n; b0 += block) {
    const std::size_t b1 = n - b0 < block ? n : b0 + block;
    const Acc* src = base;
    bool ok = true;
    std::size_t k = 0;
    for (; k + group <= num_inputs; k += group, src = out)
      ok = fold_group<group, Check>(out, src, x + k, w + k, b0, b1) && ok;
    for (; k + 4 <= num_inputs; k += 4, src = out)
      ok = fold_group<4, Check>(out, src, x + k, w + k, b0, b1) && ok;
    for (; k + 2 <= num_inputs; k += 2, src = out)
      ok = fold_group<2, Check>(out, src, x + k, w + k, b0, b1) && ok;
    for (; k < num_inputs; ++k, src = out) ok = fold_group<1, Check>(out, src, x + k, w + k, b0, b1) && ok;
    if (!ok) return false;
  }
  return true;
}

/// Σ x[i]·y[i] in double with four independent accumulators.
template <class T>
__attribute__((target(FEDPP_X86_TARGET))) double dot(const T* x, const T* y, std::size_t n) noexcept {
  constexpr std::size_t lanes = sizeof(vdouble) / sizeof(double);
  vdouble s0 = {}, s1 = {}, s2 = {}, s3 = {};
  std::size_t i = 0;
  for (; i + 4 * lanes <= n; i += 4 * lanes) {
    s0 = load_as<double, T>(x + i) * load_as<double, T>(y + i) + s0;
    s1 = load_as<double, T>(x + i + lanes) * load_as<double, T>(y + i + lanes) + s1;
    s2 = load_as<double, T>(x + i + 2 * lanes) * load_as<double, T>(y + i + 2 * lanes) + s2;
    s3 = load_as<double, T>(x + i + 3 * lanes) * load_as<double, T>(y + i + 3 * lanes) + s3;
  }
  for (; i + lanes <= n; i += lanes) s0 = load_as<double, T>(x + i) * load_as<double, T>(y + i) + s0;
  const vdouble s = (s0 + s1) + (s2 + s3);
  double total = 0;
  for (std::size_t l = 0; l < lanes; ++l) total += s[l];
  for (; i < n; ++i) total += static_cast<double>(x[i]) * static_cast<double>(y[i]);
  return total;
}

} // namespace FEDPP_X86_NS
