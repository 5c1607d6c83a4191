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

/// One pass over out[b0, b1) folding G inputs: out[i] = (first ? 0 : out[i]) + Σ_g w[g] x[g][i].
template <std::size_t G, class Acc, class T>
__attribute__((target(FEDPP_X86_TARGET), always_inline)) inline void
fold_group(Acc* out, const T* const* x, const Acc* w, std::size_t b0, std::size_t b1, bool first) noexcept {
  using vacc = typename vtypes<Acc, T>::acc;
  constexpr std::size_t lanes = sizeof(vacc) / sizeof(Acc);
  constexpr std::uintptr_t ahead = weighted_sum_tuning::prefetch_elements * sizeof(T);
  vacc wv[G];
  const T* p[G];
  for (std::size_t g = 0; g < G; ++g) {
    wv[g] = vacc{} + w[g];
    p[g] = x[g];
  }
  std::size_t i = b0;
  for (; i + lanes <= b1; i += lanes) {
    vacc s = vacc{};
    if (!first) __builtin_memcpy(&s, out + i, sizeof s);
    if constexpr (ahead != 0) // prefetches never fault, even past the end
      for (std::size_t g = 0; g < G; ++g)
        __builtin_prefetch(reinterpret_cast<const void*>(reinterpret_cast<std::uintptr_t>(p[g] + i) + ahead));
    for (std::size_t g = 0; g < G; ++g) s = wv[g] * load_as<Acc, T>(p[g] + i) + s;
    __builtin_memcpy(out + i, &s, sizeof s);
  }
  for (; i < b1; ++i) {
    Acc s = first ? Acc(0) : out[i];
    for (std::size_t g = 0; g < G; ++g) s = w[g] * static_cast<Acc>(p[g][i]) + s;
    out[i] = s;
  }
}

/// out[i] (+)= Σ_k w[k] x[k][i] for i < n, blocked (see weighted_sum_tuning).
template <class Acc, class T>
__attribute__((target(FEDPP_X86_TARGET))) void weighted_sum(Acc* out, const T* const* x, const Acc* w,
                                                            std::size_t num_inputs, std::size_t n,
                                                            bool overwrite) noexcept {
  constexpr std::size_t block = weighted_sum_tuning::block_elements;
  constexpr std::size_t group = weighted_sum_tuning::group;
  if (num_inputs == 0) {
    if (overwrite)
      for (std::size_t i = 0; i < n; ++i) out[i] = Acc(0);
    return;
  }
  for (std::size_t b0 = 0; b0 < n; b0 += block) {
    const std::size_t b1 = n - b0 < block ? n : b0 + block;
    bool first = overwrite;
    std::size_t k = 0;
    for (; k + group <= num_inputs; k += group, first = false)
      fold_group<group>(out, x + k, w + k, b0, b1, first);
    for (; k + 4 <= num_inputs; k += 4, first = false) fold_group<4>(out, x + k, w + k, b0, b1, first);
    for (; k + 2 <= num_inputs; k += 2, first = false) fold_group<2>(out, x + k, w + k, b0, b1, first);
    for (; k < num_inputs; ++k, first = false) fold_group<1>(out, x + k, w + k, b0, b1, first);
  }
}

} // namespace FEDPP_X86_NS
