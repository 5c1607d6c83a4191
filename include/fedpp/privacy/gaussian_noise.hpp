/// \file gaussian_noise.hpp
/// Vectorized Gaussian noise from secure_rng: Box–Muller (1958) in float on 16 ChaCha20 blocks
/// (256 words → 256 samples) taken in the lane-interleaved layout (secure_rng::next_interleaved),
/// with branch-free polynomial log/sin/cos and a correctly rounded square root, so one generic
/// kernel runs in 16-lane AVX-512, 8-lane AVX2 or scalar code (chosen at run time; the paths agree
/// to ≈ 5e-7 absolute per sample — the compiler may contract a·b + c differently — tested).
///
/// One 32-bit word per sample: in a pair (a, b), u₁ = (⌊a/2⌋ + ½)·2⁻³¹ ∈ (0, 1] gives the radius
/// r = √(−2 ln u₁); b gives an angle t ∈ [−π/4, π/4) (its top 24 bits) and a quarter turn k (its
/// low 2 bits), and (cos, sin)(t + kπ/2) is a uniform point on the circle.
/// Accuracy: ln by the atanh series (truncation < 1e-9), sin/cos by Taylor polynomials on
/// [−π/4, π/4] (truncation ≤ 2.5e-8), √ correctly rounded (GCC; Newton, ≤ 1e-7, under Clang):
/// relative error of a sample ≈ 3e-7, float rounding included. Tail: u₁ ≥ 2⁻³², so |z| ≤ r ≤ √(64 ln 2)
/// ≈ 6.66; the mass of the exact radius beyond that is P(R > 6.66) = 2⁻³² ≈ 2.3e-10 per pair, folded onto the
/// cap. These floating-point samples are for model-sized noise; integer / fixed-point aggregates (with secure
/// aggregation) use discrete_gaussian, which has no floating-point leak (Mironov 2012).
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/parallel/parallel_for.hpp"
#include "fedpp/parallel/thread_pool.hpp"
#include "fedpp/privacy/detail/simd_path.hpp"
#include "fedpp/privacy/secure_rng.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <type_traits>

namespace fedpp::privacy {

namespace detail {

inline constexpr std::size_t gaussian_block = secure_rng::buffer_words; // 256 samples per 16 blocks

/// −2 ln(x) for x in (0, 1], branch-free: x = m·2^e with m in [√½, √2), ln m = 2 atanh(s) with
/// s = (m − 1)/(m + 1), |s| ≤ 0.172, by its odd series to s⁹ (truncation < 1e-9); the factor −2
/// is folded into the coefficients.
template <class VU, class VI, class VF>
[[gnu::always_inline]] inline void lanes_minus_two_log(const VF& x, VF& out) noexcept {
  // shift so that m lands in [√½, √2): subtract the bits of √½ before taking the exponent
  const VU adj = __builtin_bit_cast(VU, x) - 0x3f3504f3u;
  const VF e = __builtin_convertvector(__builtin_bit_cast(VI, adj) >> 23, VF);
  const VF m = __builtin_bit_cast(VF, VU((adj & 0x007fffffu) + 0x3f3504f3u));
  const VF s = (m - 1.0f) / (m + 1.0f), s2 = s * s;
  const VF p = -4.0f + s2 * (-1.3333334f + s2 * (-0.8f + s2 * (-0.5714286f + s2 * -0.4444444f)));
  out = e * -1.3862944f + s * p;
}

/// √x on every lane (x ≥ 0).
/// GCC: correctly rounded — one vsqrtps on the vector paths, as inline asm because this generic
/// helper has no target attribute and may not call the intrinsics (it is inlined only into the
/// AVX-512 / AVX2 wrappers, which have the instruction), std::sqrt on the scalar path, so every
/// path gives the same bits. A Newton iteration from a bit-trick estimate took 9 vector operations
/// against the one instruction (sampler 1.82 -> 2.02 G samples/s on Zen 5).
/// Clang checks asm operand sizes against the enclosing template's (generic) target and rejects a
/// 64-byte register operand there, so under Clang every path takes that Newton iteration (relative
/// error ≤ 1e-7; again the same arithmetic on every path).
template <class VU, class VF>
[[gnu::always_inline]] inline void lanes_sqrt(const VF& x, VF& out) noexcept {
#if defined(__GNUC__) && !defined(__clang__)
#if defined(__x86_64__)
  if constexpr (sizeof(VF) == 64 || sizeof(VF) == 32) {
    asm("vsqrtps %1, %0" : "=v"(out) : "v"(x));
    return;
  }
#endif
  for (std::size_t l = 0; l < sizeof(VF) / sizeof(float); ++l) out[l] = std::sqrt(x[l]);
#else
  const VF v = x + 1e-30f; // v = 0 would give 0·∞; the offset changes no v ≥ 1e-7
  VF y = __builtin_bit_cast(VF, VU(0x5f375a86u - (__builtin_bit_cast(VU, v) >> 1))); // Lomont 2003
  const VF h = 0.5f * v;
  y = y * (1.5f - h * y * y);
  y = y * (1.5f - h * y * y);
  out = v * y;
#endif
}

/// Box–Muller on one column group: pairs of rows (2p, 2p + 1), p < 8, of a 16-wide word tile;
/// writes scale·z to out (or keep·out + scale·z when `add`), same positions. VU/VI/VF: 1, 8 or 16
/// lanes.
template <class VU, class VI, class VF>
[[gnu::always_inline]] inline void box_muller_lanes(const std::uint32_t* w, float scale, float* out, bool add,
                                                    float keep) noexcept {
  for (std::size_t p = 0; p < 8; ++p) {
    VU a, b;
    std::memcpy(&a, w + 32 * p, sizeof a);
    std::memcpy(&b, w + 32 * p + 16, sizeof b);
    // (⌊a/2⌋ + ½)·2⁻³¹ and (⌊b/256⌋·2⁻²⁴ − ½)·π/2, each as one multiply-add
    const VF u1 = __builtin_convertvector(__builtin_bit_cast(VI, VU(a >> 1)), VF) * 0x1.0p-31f + 0x1.0p-32f;
    VF v, r;
    lanes_minus_two_log<VU, VI, VF>(u1, v);
    lanes_sqrt<VU, VF>(v, r);
    r = r * scale;
    const VF t =
        __builtin_convertvector(__builtin_bit_cast(VI, VU(b >> 8)), VF) * 0x1.921fb6p-24f - 0.78539819f;
    const VF t2 = t * t;
    const VF c = 1.0f + t2 * (-0.5f + t2 * (0.041666668f + t2 * (-0.0013888889f + t2 * 2.4801587e-5f)));
    const VF s =
        t * (1.0f + t2 * (-0.16666667f + t2 * (0.008333334f + t2 * (-1.984127e-4f + t2 * 2.7557319e-6f))));
    // quarter turn k: (cos, sin)(t + kπ/2) = (c, s), (−s, c), (−c, −s), (s, −c)
    const VU k = b & 3u;
    const VU odd = VU(0u - (k & 1u)); // all ones when k is odd: swap
    const VU cb = __builtin_bit_cast(VU, c), sb = __builtin_bit_cast(VU, s);
    const VU xb = VU(((cb & ~odd) | (sb & odd)) ^ (((k ^ (k >> 1)) & 1u) << 31));
    const VU yb = VU(((sb & ~odd) | (cb & odd)) ^ ((k >> 1) << 31));
    VF z0 = r * __builtin_bit_cast(VF, xb), z1 = r * __builtin_bit_cast(VF, yb);
    float* o0 = out + 32 * p;
    float* o1 = o0 + 16;
    if (add) {
      VF d0, d1;
      std::memcpy(&d0, o0, sizeof d0);
      std::memcpy(&d1, o1, sizeof d1);
      z0 = keep * d0 + z0;
      z1 = keep * d1 + z1;
    }
    std::memcpy(o0, &z0, sizeof z0);
    std::memcpy(o1, &z1, sizeof z1);
  }
}

/// Scalar reference: the same arithmetic one lane at a time.
inline void box_muller_scalar(const std::uint32_t* w, float scale, float* out, bool add,
                              float keep = 1.0f) noexcept {
  for (std::size_t l = 0; l < 16; ++l)
    box_muller_lanes<u32x1, i32x1, f32x1>(w + l, scale, out + l, add, keep);
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
/// 16 lanes of AVX-512.
__attribute__((target("avx512f"))) inline void box_muller_avx512(const std::uint32_t* w, float scale,
                                                                 float* out, bool add, float keep) noexcept {
  box_muller_lanes<u32x16, i32x16, f32x16>(w, scale, out, add, keep);
}
/// Two halves of 8 AVX2 lanes.
__attribute__((target("avx2"))) inline void box_muller_avx2(const std::uint32_t* w, float scale, float* out,
                                                            bool add, float keep) noexcept {
  box_muller_lanes<u32x8, i32x8, f32x8>(w, scale, out, add, keep);
  box_muller_lanes<u32x8, i32x8, f32x8>(w + 8, scale, out + 8, add, keep);
}
#endif

/// 256 samples from 256 interleaved words on the given path (the caller checked it):
/// out = scale·z, or keep·out + scale·z when `add`.
inline void box_muller(simd_path path, const std::uint32_t* w, float scale, float* out, bool add,
                       float keep = 1.0f) noexcept {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  if (path == simd_path::avx512) return box_muller_avx512(w, scale, out, add, keep);
  if (path == simd_path::avx2) return box_muller_avx2(w, scale, out, add, keep);
#endif
  box_muller_scalar(w, scale, out, add, keep);
}

// x = scale·z (add false) or keep·x + scale·z (add true).
template <std::floating_point T>
void gaussian_into(secure_rng& gen, std::span<T> x, float scale, bool add, T keep = T(1)) {
  const simd_path path = best_simd_path();
  alignas(64) std::array<std::uint32_t, 2 * gaussian_block> pair;
  alignas(64) std::array<std::uint32_t, gaussian_block> words;
  alignas(64) std::array<float, gaussian_block> z;
  std::size_t i = 0;
  if constexpr (std::is_same_v<T, float>) { // whole blocks straight into x, two batches at a time
    // counted loops: GCC 12 at -O3 misreads `x.size() - i >= …` bounds as possible overflow
    const std::size_t pairs = x.size() / (2 * gaussian_block);
    for (std::size_t p = 0; p < pairs; ++p, i += 2 * gaussian_block) {
      gen.next_interleaved_pair(pair);
      box_muller(path, pair.data(), scale, x.data() + i, add, keep);
      box_muller(path, pair.data() + gaussian_block, scale, x.data() + i + gaussian_block, add, keep);
    }
    if (x.size() - i >= gaussian_block) { // at most one batch is left whole
      gen.next_interleaved(words);
      box_muller(path, words.data(), scale, x.data() + i, add, keep);
      i += gaussian_block;
    }
  }
  for (; i < x.size(); i += gaussian_block) {
    gen.next_interleaved(words);
    box_muller(path, words.data(), scale, z.data(), false);
    const std::size_t n = std::min(gaussian_block, x.size() - i);
    for (std::size_t j = 0; j < n; ++j) x[i + j] = (add ? keep * x[i + j] : T(0)) + static_cast<T>(z[j]);
  }
}

// The serial result on the pool: one contiguous range per thread (parallel_for, boundaries at whole
// pairs of batches), each from a copy of gen moved to the range's first batch. Contiguous
// per-thread ranges, like the pooled norm's (kernels::squared_norm), rather than many small chunks
// handed out dynamically: after a norm pass each thread finds its range in the caches that pass
// filled (fused clip + noise of a 4M aggregate on 2 threads: 1.60 -> 1.39 ms), and it starts one
// ChaCha20 stream, not dozens.
template <std::floating_point T>
void gaussian_into(parallel::thread_pool& pool, secure_rng& gen, std::span<T> x, float scale, bool add,
                   T keep = T(1)) {
  parallel::parallel_for(pool, 0, x.size(), 2 * gaussian_block, [&](std::size_t lo, std::size_t hi) {
    secure_rng local = gen;
    local.skip_batches(static_cast<std::uint64_t>(lo / gaussian_block));
    gaussian_into(local, x.subspan(lo, hi - lo), scale, add, keep);
  });
  gen.skip_batches((x.size() + gaussian_block - 1) / gaussian_block);
}

inline void check_stddev(const char* who, double stddev) {
  if (!(stddev >= 0) || !std::isfinite(stddev) || stddev > 3.0e38)
    throw invalid_config(std::string(who) + ": stddev = " + std::to_string(stddev) +
                         " must be finite, >= 0 and within float range");
}

} // namespace detail

/// Writes N(0, stddev²) samples into `out` (float arithmetic, see the file comment).
/// Throws invalid_config (out unchanged) for a negative or non-finite stddev.
template <std::floating_point T>
void fill_gaussian(secure_rng& gen, std::span<T> out, double stddev = 1.0) {
  detail::check_stddev("fill_gaussian", stddev);
  detail::gaussian_into(gen, out, static_cast<float>(stddev), false);
}

/// Adds N(0, stddev²) noise to every element of `x` in place (the Gaussian mechanism).
/// Throws invalid_config (x unchanged) for a negative or non-finite stddev.
template <std::floating_point T>
void add_gaussian_noise(secure_rng& gen, std::span<T> x, double stddev) {
  detail::check_stddev("add_gaussian_noise", stddev);
  detail::gaussian_into(gen, x, static_cast<float>(stddev), true);
}

/// x ← α·x + N(0, stddev²) in one pass (the fixed-denominator rescale of central DP and the
/// noise together). Throws invalid_config (x unchanged) for a bad stddev or a non-finite α.
template <std::floating_point T>
void scale_and_add_gaussian_noise(secure_rng& gen, std::span<T> x, double alpha, double stddev) {
  detail::check_stddev("scale_and_add_gaussian_noise", stddev);
  if (!std::isfinite(alpha))
    throw invalid_config("scale_and_add_gaussian_noise: alpha = " + std::to_string(alpha) +
                         " must be finite");
  detail::gaussian_into(gen, x, static_cast<float>(stddev), true, static_cast<T>(alpha));
}

/// add_gaussian_noise on a thread pool: the same noise as the serial call with the same
/// generator state (one contiguous range per thread, each from its own seek into the ChaCha20
/// stream), whatever the pool size.
template <std::floating_point T>
void add_gaussian_noise(parallel::thread_pool& pool, secure_rng& gen, std::span<T> x, double stddev) {
  detail::check_stddev("add_gaussian_noise", stddev);
  detail::gaussian_into(pool, gen, x, static_cast<float>(stddev), true);
}

/// scale_and_add_gaussian_noise on a thread pool (same result as the serial call).
template <std::floating_point T>
void scale_and_add_gaussian_noise(parallel::thread_pool& pool, secure_rng& gen, std::span<T> x, double alpha,
                                  double stddev) {
  detail::check_stddev("scale_and_add_gaussian_noise", stddev);
  if (!std::isfinite(alpha))
    throw invalid_config("scale_and_add_gaussian_noise: alpha = " + std::to_string(alpha) +
                         " must be finite");
  detail::gaussian_into(pool, gen, x, static_cast<float>(stddev), true, static_cast<T>(alpha));
}

} // namespace fedpp::privacy
