/// \file pld_accountant.hpp
/// Privacy-loss-distribution (PLD) accountant for the Poisson-subsampled Gaussian mechanism, with
/// dp_accounting's conventions (Google, `dp_accounting.pld.PLDAccountant`, ADD_OR_REMOVE_ONE,
/// `value_discretization_interval` = 1e-4, pessimistic estimate).
///
/// Both directions of add/remove adjacency are accounted and the larger ε is reported. The
/// dominating pairs (Zhu, Dong, Wang 2022, "Optimal accounting of differential privacy via
/// characteristic function", Sec. 5), with x the released noisy sum of sensitivity 1:
///   remove: P = (1−q)N(0,σ²) + qN(1,σ²), Q = N(0,σ²), loss L(x) = log(1 − q + q e^{(2x−1)/(2σ²)});
///   add:    P = N(0,σ²), Q = (1−q)N(0,σ²) + qN(1,σ²), loss −L(x).
/// The PLD is the law of the loss under P; δ(ε) = E_P[(1 − e^{ε−L})₊] (+ P[L = ∞]).
///
/// One step is discretized by "connect the dots" (Doroshenko, Ghazi, Kamath, Kumar, Manurangsi 2022,
/// "Connect the Dots: Tighter Discrete Approximations of Privacy Loss Distributions", Alg. 1): the
/// loss mass in each grid interval (kh, (k+1)h] is split between its two end points so that both its
/// P-mass and its Q-mass (E_P[e^{−L}]) are kept. In Y = e^{−L} this is a mean-preserving spread, and
/// δ(ε) = E[(1 − e^{ε} Y)₊] is convex in Y, so the discrete PLD's δ is ≥ the exact one for every ε,
/// equal at grid points; independent spreads of the factors of a product are a spread of the product,
/// so T-fold composition stays pessimistic. The x-tails beyond the points where the Gaussian's tail
/// mass is ½·e^{−50} (dp_accounting's log_mass_truncation_bound) are rounded up: the high-loss tail
/// to +∞ (counted in δ), the low-loss one to the lowest grid point.
///
/// Composition: one FFT per step kind, pointwise power T (Koskela, Jälkö, Honkela 2020, "Computing
/// tight differential privacy guarantees using FFT"), on a window chosen by a Chernoff bound whose
/// order t is optimized (golden-section search: u(t) = (K(t) + log(2/τ))/t is unimodal in t) so that
/// at most τ/2 = 5e-16 of the composed mass lies on each side outside it (dp_accounting's
/// tail_mass_truncation = 1e-15). The mass above the window, which the cyclic convolution wraps onto
/// low losses, is added to P[L = ∞]; the mass below the window wraps onto higher losses
/// (pessimistic). Poisson rate q = 1 steps are Gaussian mechanisms and are composed exactly first
/// (μ² = Σ T/σ², Dong, Roth, Su 2019, "Gaussian Differential Privacy", Cor. 3.3) and discretized once.
///
/// Discretization error bound (see `epsilon_bounds`): couple the exact loss L_i with the discrete
/// one L'_i = L_i + w_i, where given L_i the spread w_i takes two values in [−h, h], with
/// E[e^{−w_i}] = 1, so 0 ≤ E[w_i] ≤ h²/8 and Var(w_i) ≤ h²/4. Bernstein's inequality bounds
/// P[Σ w_i > s] ≤ η for s = N h²/8 + (h/3)·log(1/η) + sqrt(((h/3)·log(1/η))² + 2·(N h²/4)·log(1/η)),
/// N the number of discretized steps (and Σ w_i ≤ N h always). Since (1 − e^{ε−L−w})₊ ≤ (1 − e^{ε−s−L})₊ when w ≤ s,
///   δ_PLD(ε) ≤ δ_exact(ε − s) + η + (truncated tail mass),
/// hence ε_exact(δ) ≥ ε_PLD(δ + η + truncated) − s. This lower bound is rigorous (up to
/// floating-point rounding) but first order in h (≈ h·sqrt(N log(1/η)/2)); the actual gap is usually
/// much smaller. When the single-step loss is much narrower than h (tiny q/σ), the spread dominates
/// and a finer `discretization` tightens ε.
///
/// Grid size: the composed window must fit in `max_grid_points` points; if it does not, h is doubled
/// until it does (the result stays pessimistic, with a larger error bound); `effective_discretization`
/// reports the h used.
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/privacy/rdp_accountant.hpp"

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstdint>
#include <limits>
#include <numbers>
#include <optional>
#include <string>
#include <vector>

namespace fedpp::privacy {

/// Options of the PLD accountant; the defaults are dp_accounting's.
struct pld_options {
  /// Grid width h of the privacy loss (dp_accounting's value_discretization_interval).
  double discretization = 1e-4;
  /// Composed mass allowed outside the FFT window (both sides together; added to δ).
  double tail_mass_truncation = 1e-15;
  /// log of the Gaussian tail mass per side beyond which one step's loss is rounded up.
  double log_mass_truncation_bound = -50;
  /// Largest FFT size; h is doubled until the composed window fits.
  std::size_t max_grid_points = std::size_t{1} << 20;
};

/// ε at a δ with its discretization error bound.
struct pld_epsilon_bounds {
  double epsilon = 0;              ///< the pessimistic ε (what `epsilon(δ)` returns): ε_exact ≤ epsilon
  double lower = 0;                ///< a rigorous lower bound on the exact ε
  double discretization_error = 0; ///< epsilon − lower
  double discretization = 0;       ///< the grid width h that was used
};

namespace detail {

/// Radix-2 FFT of real sequences of length n (a power of two ≥ 4) through one complex FFT of
/// length n/2 (even samples as real parts, odd as imaginary parts, then one butterfly pass that
/// separates them). The twiddles e^{−2πik/n}, k < n/2, are computed once per plan. Works on raw
/// doubles ([complex.numbers]: std::complex<double>[n] is layout-compatible with double[2n]), which
/// keeps unoptimized (Debug, sanitizer) builds fast.
class real_fft {
public:
  explicit real_fft(std::size_t n) : n_(n), w_(n) {
    const double angle = -2 * std::numbers::pi / static_cast<double>(n);
    for (std::size_t k = 0; k < n / 2; ++k) {
      w_[2 * k] = std::cos(angle * static_cast<double>(k));
      w_[2 * k + 1] = std::sin(angle * static_cast<double>(k));
    }
  }
  [[nodiscard]] std::size_t size() const noexcept { return n_; }

  /// X[k] = Σ_j x[j] e^{−2πijk/n} for k = 0 … n/2; `x` (n reals) is overwritten.
  void forward(std::vector<double>& x, std::vector<std::complex<double>>& out) const {
    const std::size_t m = n_ / 2;
    complex_fft(x.data(), false); // z[k] = x[2k] + i x[2k+1], transformed in place
    out.resize(m + 1);
    const double* z = x.data();
    for (std::size_t k = 0; k <= m; ++k) {
      const std::size_t k1 = k % m, k2 = (m - k) % m;
      const double zr = z[2 * k1], zi = z[2 * k1 + 1], cr = z[2 * k2], ci = -z[2 * k2 + 1];
      const double er = 0.5 * (zr + cr), ei = 0.5 * (zi + ci);   // E = (Z[k] + conj Z[m−k])/2
      const double orr = 0.5 * (zi - ci), oi = -0.5 * (zr - cr); // O = (Z[k] − conj Z[m−k])/(2i)
      const double wr = k < m ? w_[2 * k] : -1.0, wi = k < m ? w_[2 * k + 1] : 0.0;
      out[k] = {er + wr * orr - wi * oi, ei + wr * oi + wi * orr};
    }
  }

  /// The inverse of forward: x[j] = (1/n) Σ_k X[k] e^{+2πijk/n} over the Hermitian extension of
  /// X[0 … n/2]; `spec` is overwritten.
  void inverse(std::vector<std::complex<double>>& spec, std::vector<double>& x) const {
    const std::size_t m = n_ / 2;
    x.assign(n_, 0.0);
    for (std::size_t k = 0; k < m; ++k) {
      const std::complex<double> a = spec[k], b = std::conj(spec[m - k]);
      const std::complex<double> e = 0.5 * (a + b);
      const std::complex<double> wk(w_[2 * k], -w_[2 * k + 1]); // conj(W^k) = W^{−k}
      const std::complex<double> o = 0.5 * (a - b) * wk;
      const std::complex<double> zk = e + std::complex<double>(0, 1) * o;
      x[2 * k] = zk.real();
      x[2 * k + 1] = zk.imag();
    }
    complex_fft(x.data(), true);
  }

private:
  /// In-place iterative radix-2 complex FFT of length n/2 on interleaved (re, im) doubles;
  /// `inverse` uses e^{+i} and divides by the length.
  void complex_fft(double* x, bool inverse) const {
    const std::size_t n = n_ / 2;
    for (std::size_t i = 1, j = 0; i < n; ++i) {
      std::size_t bit = n >> 1;
      for (; j & bit; bit >>= 1) j ^= bit;
      j ^= bit;
      if (i < j) {
        std::swap(x[2 * i], x[2 * j]);
        std::swap(x[2 * i + 1], x[2 * j + 1]);
      }
    }
    const double sign = inverse ? -1.0 : 1.0;
    for (std::size_t len = 2; len <= n; len <<= 1) {
      const std::size_t half = len / 2, stride = 2 * (n_ / len); // e^{∓2πik/len} = w_[k·n_/len]
      for (std::size_t i = 0; i < n; i += len) {
        double* u = x + 2 * i;
        double* v = x + 2 * (i + half);
        const double* wp = w_.data();
        for (std::size_t k = 0; k < half; ++k, wp += stride) {
          const double wr = wp[0], wi = sign * wp[1];
          const double br = v[2 * k], bi = v[2 * k + 1];
          const double tr = br * wr - bi * wi, ti = br * wi + bi * wr;
          const double ur = u[2 * k], ui = u[2 * k + 1];
          u[2 * k] = ur + tr;
          u[2 * k + 1] = ui + ti;
          v[2 * k] = ur - tr;
          v[2 * k + 1] = ui - ti;
        }
      }
    }
    if (inverse) {
      const double inv = 1.0 / static_cast<double>(n);
      for (std::size_t i = 0; i < 2 * n; ++i) x[i] *= inv;
    }
  }

  std::size_t n_;
  std::vector<double> w_;
};

/// Φ(z) and its complement, accurate in both tails.
inline double normal_cdf(double z) noexcept { return 0.5 * std::erfc(-z / std::numbers::sqrt2); }
inline double normal_sf(double z) noexcept { return 0.5 * std::erfc(z / std::numbers::sqrt2); }

/// Φ(z) and Φ̄(z) with one erfc: the smaller one directly, the other as 1 − it (relative error
/// ≤ 2⁻⁵³ since it is ≥ ½).
inline void normal_cdf_sf(double z, double& cdf, double& sf) noexcept {
  if (z > 0) {
    sf = normal_sf(z);
    cdf = 1 - sf;
  } else {
    cdf = normal_cdf(z);
    sf = 1 - cdf;
  }
}

/// z > 0 with Φ̄(z) = p, for 0 < p < ½ (bisection; used once per single-step PLD).
inline double normal_isf(double p) noexcept {
  double lo = 0, hi = 40;
  for (int i = 0; i < 200 && hi - lo > 1e-13; ++i) {
    const double mid = 0.5 * (lo + hi);
    (normal_sf(mid) > p ? lo : hi) = mid;
  }
  return hi;
}

/// A discrete privacy-loss distribution: mass[i] at loss (first + i)·h, plus mass at +∞.
struct discrete_pld {
  std::int64_t first = 0;
  std::vector<double> mass;
  double infinity_mass = 0;
  double truncated = 0; ///< P-mass rounded up beyond the connect-the-dots spread (x-tails)

  /// Index variance of the finite part (normalized).
  [[nodiscard]] double variance_index() const {
    const double mu = mean_index() - static_cast<double>(first);
    double v = 0, total = 0;
    for (std::size_t i = 0; i < mass.size(); ++i) {
      v += mass[i] * (static_cast<double>(i) - mu) * (static_cast<double>(i) - mu);
      total += mass[i];
    }
    return total > 0 ? v / total : 0.0;
  }
  [[nodiscard]] double mean_index() const {
    double m = 0, total = 0;
    for (std::size_t i = 0; i < mass.size(); ++i) {
      m += mass[i] * static_cast<double>(i);
      total += mass[i];
    }
    return static_cast<double>(first) + (total > 0 ? m / total : 0.0);
  }
};

/// Noise multipliers above this are replaced by it (less noise: pessimistic), which keeps σ² finite.
inline constexpr double pld_sigma_max = 1e100;
/// Below this, a step is accounted as σ → 0 (no noise: pessimistic; every finite σ is a
/// post-processing of it): the sampled record is revealed.
inline constexpr double pld_sigma_min = 1e-100;

/// One direction of the Poisson-subsampled Gaussian's loss: P- and Q-masses of {L > ε} and
/// {L ≤ ε}, each computed directly (no 1 − x cancellation).
struct sgm_loss {
  double q, sigma;
  bool remove;

  /// log(1 − q + q e^a) (only bounds the grid; no cancellation matters here).
  [[nodiscard]] double log_mix(double a) const noexcept {
    if (q >= 1) return a;
    const double em = std::expm1(a);
    if (std::isfinite(em) && q * em > -0.5) return std::log1p(q * em);
    return log_add(std::log1p(-q), std::log(q) + a);
  }
  /// The loss at x.
  [[nodiscard]] double loss(double x) const noexcept {
    const double l = log_mix((2 * x - 1) / (2 * sigma * sigma));
    return remove ? l : -l;
  }
  /// Remove: L > ε ⟺ x > threshold(ε); add: L > ε ⟺ x < threshold(ε); −∞ when the event is
  /// everything (remove) or empty (add). With e = ±ε, threshold = σ² log((e^e − (1 − q))/q) + ½,
  /// the log taken as e + log1p(−(1 − q)e^{−e}) where e^e > 2(1 − q) (no cancellation for q → 1 or
  /// e ≪ 0) and as log(expm1(e) + q) below.
  [[nodiscard]] double threshold(double eps) const noexcept {
    const double e = remove ? eps : -eps;
    double log_v = 0;
    if (q >= 1) {
      log_v = e;
    } else if (e > std::numbers::ln2 + std::log1p(-q)) { // here (1 − q)e^{−e} < ½
      log_v = e + std::log1p(-(1 - q) * std::exp(-e));
    } else {
      const double v = std::expm1(e) + q;
      if (!(v > 0)) return -std::numeric_limits<double>::infinity();
      log_v = std::log(v);
    }
    return sigma * sigma * (log_v - std::log(q)) + 0.5;
  }
  struct masses {
    double p_gt, p_le, q_gt, q_le;
  };
  [[nodiscard]] masses at(double eps) const noexcept {
    const double x = threshold(eps);
    double a_cdf = 0, a_sf = 0, b_cdf = 0, b_sf = 0;
    normal_cdf_sf(x / sigma, a_cdf, a_sf);
    normal_cdf_sf((x - 1) / sigma, b_cdf, b_sf);
    const double mix_sf = (1 - q) * a_sf + q * b_sf, mix_cdf = (1 - q) * a_cdf + q * b_cdf;
    if (remove) return {mix_sf, mix_cdf, a_sf, a_cdf};
    return {a_cdf, a_sf, mix_cdf, mix_sf};
  }
};

/// One step's discretized loss (connect the dots, see the file comment). Returns nullopt when the
/// grid would exceed `max_points` (the caller coarsens h).
inline std::optional<discrete_pld> single_step_pld(double q, double sigma, double h, bool remove,
                                                   double log_tail, std::size_t max_points) {
  discrete_pld pld;
  if (q <= 0) { // no record sampled: identity
    pld.mass = {1.0};
    return pld;
  }
  if (sigma < pld_sigma_min) {
    // σ → 0: remove: L = +∞ w.p. q, log(1 − q) otherwise; add: L = −log(1 − q) (∞ for q = 1).
    const double l = remove ? std::log1p(-q) : -std::log1p(-q);
    if (remove) pld.infinity_mass = q;
    if (!std::isfinite(l)) {
      pld.infinity_mass = 1;
      pld.mass = {0.0};
      return pld;
    }
    pld.first = static_cast<std::int64_t>(std::ceil(l / h));
    pld.mass = {remove ? 1 - q : 1.0};
    return pld;
  }
  sigma = std::min(sigma, pld_sigma_max);
  const sgm_loss f{q, sigma, remove};
  const double z = normal_isf(0.5 * std::exp(log_tail));
  // x at the high-loss and the low-loss ends of the kept range
  const double x_high = remove ? 1 + z * sigma : -z * sigma;
  const double x_low = remove ? -z * sigma : 1 + z * sigma;
  const double l_hi = f.loss(x_high), l_lo = f.loss(x_low);
  if (!std::isfinite(l_hi) || !std::isfinite(l_lo) || std::abs(l_hi) / h > 1e15 || std::abs(l_lo) / h > 1e15)
    return std::nullopt;
  const auto k_lo = static_cast<std::int64_t>(std::floor(l_lo / h));
  const auto k_hi = std::max(k_lo, static_cast<std::int64_t>(std::ceil(l_hi / h)));
  if (static_cast<double>(k_hi - k_lo) + 1 > static_cast<double>(max_points)) return std::nullopt;
  const auto n = static_cast<std::size_t>(k_hi - k_lo + 1);
  pld.first = k_lo;
  pld.mass.assign(n, 0.0);
  const double spread = -std::expm1(-h); // 1 − e^{−h}
  auto prev = f.at(static_cast<double>(k_lo) * h);
  pld.mass[0] = prev.p_le; // L ≤ k_lo·h: rounded up to the lowest point
  pld.truncated = prev.p_le;
  for (std::size_t i = 0; i + 1 < n; ++i) {
    const double eps = static_cast<double>(k_lo + static_cast<std::int64_t>(i)) * h;
    const auto next = f.at(eps + h);
    // masses of the interval (eps, eps + h], each from the side where it is small
    const double p = std::max(0.0, prev.p_gt <= 0.5 ? prev.p_gt - next.p_gt : next.p_le - prev.p_le);
    const double r = std::max(0.0, prev.q_gt <= 0.5 ? prev.q_gt - next.q_gt : next.q_le - prev.q_le);
    // d = E_P[1 − e^{eps − L}; interval] ∈ [0, p(1 − e^{−h})]; the upper point gets d/(1 − e^{−h})
    const double d = std::clamp(p - std::exp(eps) * r, 0.0, p * spread);
    const double up = std::min(p, d / spread);
    pld.mass[i] += p - up;
    pld.mass[i + 1] += up;
    prev = next;
  }
  pld.infinity_mass = prev.p_gt; // L > k_hi·h: rounded up to +∞
  pld.truncated += prev.p_gt;
  return pld;
}

/// δ(ε) of a discrete PLD.
inline double pld_delta(const discrete_pld& pld, double h, double eps) {
  double delta = pld.infinity_mass;
  for (std::size_t i = 0; i < pld.mass.size(); ++i) {
    const double l = static_cast<double>(pld.first + static_cast<std::int64_t>(i)) * h;
    if (l > eps) delta += pld.mass[i] * -std::expm1(eps - l);
  }
  return std::min(1.0, delta);
}

/// The smallest ε ≥ 0 with δ(ε) ≤ delta (+∞ when P[L = ∞] > delta). δ(ε) is continuous and
/// non-increasing; for ε between grid points, with i the first point above ε,
/// δ(ε) = P[∞] + S₁(i) − e^{ε − l_i} R(i), where S₁(i) = Σ_{j ≥ i} p_j and R(i) = Σ_{j ≥ i} p_j e^{l_i − l_j}
/// = p_i + e^{−h} R(i + 1) (suffix sums in one pass, scaled so that nothing underflows even for losses
/// in the thousands). So: find the interval by binary search over i, then solve
/// ε = l_i + log((P[∞] + S₁(i) − δ)/R(i)) in closed form.
/// The suffix sums of pld_epsilon, computed once per composed PLD.
struct epsilon_table { // holds copies only (the accountant, and so its cache, is copyable)
  std::int64_t first = 0;
  std::size_t n = 0;
  double infinity_mass = 0, h = 0, decay = 0;
  std::size_t start = 0; ///< first point with loss > 0
  std::vector<double> s1, r;

  epsilon_table() = default;
  epsilon_table(const discrete_pld& p, double width)
      : first(p.first), n(p.mass.size()), infinity_mass(p.infinity_mass), h(width), decay(std::exp(-width)) {
    while (start < n && loss(start) <= 0) ++start;
    s1.assign(n - start + 1, 0.0);
    r.assign(n - start + 1, 0.0);
    for (std::size_t i = n; i-- > start;) {
      s1[i - start] = s1[i - start + 1] + p.mass[i];
      r[i - start] = p.mass[i] + decay * r[i - start + 1];
    }
  }
  [[nodiscard]] double loss(std::size_t i) const { return static_cast<double>(first + static_cast<std::int64_t>(i)) * h; }
  [[nodiscard]] double epsilon(double delta) const {
    const double inf_mass = infinity_mass;
    if (inf_mass > delta) return std::numeric_limits<double>::infinity();
    if (start == n) return 0;
    if (inf_mass + s1[0] - std::exp(-loss(start)) * r[0] <= delta) return 0; // δ(0)
    auto delta_at = [&](std::size_t k) { // δ at ε = loss(k): the points above are k + 1 …
      const std::size_t j = k + 1 - start;
      return inf_mass + s1[j] - decay * r[j];
    };
    std::size_t lo = start, hi = n - 1; // smallest k with δ(loss(k)) ≤ delta (δ(loss(n − 1)) = P[∞])
    while (lo < hi) {
      const std::size_t mid = lo + (hi - lo) / 2;
      if (delta_at(mid) <= delta)
        hi = mid;
      else
        lo = mid + 1;
    }
    const std::size_t j = lo - start; // ε ∈ (loss(lo − 1), loss(lo)]; points ≥ lo count there
    if (!(r[j] > 0)) return loss(lo);
    const double e = loss(lo) + std::log(std::max(0.0, inf_mass + s1[j] - delta) / r[j]);
    const double below = lo == start ? 0.0 : loss(lo - 1);
    return std::clamp(e, below, loss(lo));
  }
};

inline double pld_epsilon(const discrete_pld& pld, double h, double delta) {
  return epsilon_table(pld, h).epsilon(delta);
}

/// argmin over t in [a, b] of a unimodal f, golden-section search on log t (the best point seen).
template <class F>
double golden_argmin_log(F&& f, double a, double b, int iterations) {
  const double g = (std::sqrt(5.0) - 1) / 2;
  double la = std::log(a), lb = std::log(b);
  double l1 = lb - g * (lb - la), l2 = la + g * (lb - la);
  double f1 = f(std::exp(l1)), f2 = f(std::exp(l2));
  double best = f1 <= f2 ? f1 : f2, best_t = std::exp(f1 <= f2 ? l1 : l2);
  for (int i = 0; i < iterations; ++i) {
    double l = 0, v = 0;
    if (f1 <= f2) {
      lb = l2;
      l2 = l1;
      f2 = f1;
      l1 = l = lb - g * (lb - la);
      f1 = v = f(std::exp(l1));
    } else {
      la = l1;
      l1 = l2;
      f1 = f2;
      l2 = l = la + g * (lb - la);
      f2 = v = f(std::exp(l2));
    }
    if (v < best) {
      best = v;
      best_t = std::exp(l);
    }
  }
  return best_t;
}

} // namespace detail

/// PLD accountant: records (q, σ, steps) groups and composes them on demand (the composed
/// distributions are cached until the next `compose`; a const accountant is not safe to query from
/// two threads at once).
class pld_accountant {
public:
  /// At most this many steps (FFT round-off in f^T grows like T·2⁻⁵³).
  static constexpr std::uint64_t max_steps = std::uint64_t{1} << 30;

  /// `discretization` is the grid width h of the loss (dp_accounting's value_discretization_interval).
  explicit pld_accountant(double discretization = 1e-4) : pld_accountant(pld_options{discretization}) {}
  explicit pld_accountant(pld_options options) : opt_(options) {
    if (!(opt_.discretization > 0 && opt_.discretization < 1))
      throw invalid_config("pld_accountant: discretization " + std::to_string(opt_.discretization) +
                           " must be in (0, 1)");
    if (!(opt_.tail_mass_truncation > 0 && opt_.tail_mass_truncation < 1e-6))
      throw invalid_config("pld_accountant: tail_mass_truncation " + std::to_string(opt_.tail_mass_truncation) +
                           " must be in (0, 1e-6)");
    if (!(opt_.log_mass_truncation_bound < -10 && opt_.log_mass_truncation_bound > -700))
      throw invalid_config("pld_accountant: log_mass_truncation_bound " +
                           std::to_string(opt_.log_mass_truncation_bound) + " must be in (-700, -10)");
    if (opt_.max_grid_points < 1024 || opt_.max_grid_points > (std::size_t{1} << 28))
      throw invalid_config("pld_accountant: max_grid_points " + std::to_string(opt_.max_grid_points) +
                           " must be in [2^10, 2^28]");
  }

  /// Adds `steps` steps of the Poisson-subsampled Gaussian with rate q ∈ [0, 1] and noise multiplier
  /// σ > 0 (q = 0 steps release nothing about anyone). Throws invalid_config, leaving the accountant
  /// unchanged, on bad arguments or when the total would exceed `max_steps`.
  void compose(double q, double sigma, std::uint64_t steps = 1) {
    detail::check_sgm(q, sigma, "pld_accountant::compose");
    if (steps > max_steps || steps_ > max_steps - steps)
      throw invalid_config("pld_accountant::compose: " + std::to_string(steps_) + " + " + std::to_string(steps) +
                           " steps exceed the PLD accountant's limit of 2^30 steps; use rdp_accountant");
    if (steps == 0) return;
    if (!groups_.empty() && groups_.back().q == q && groups_.back().sigma == sigma)
      groups_.back().steps += steps;
    else
      groups_.push_back({q, sigma, steps});
    steps_ += steps;
    cache_.reset();
  }

  /// ε spent at δ (pessimistic: the exact ε is ≤ this): the larger of the add and remove
  /// directions; +∞ when no finite ε reaches δ.
  [[nodiscard]] double epsilon(double delta) const {
    check_delta(delta, "pld_accountant::epsilon");
    if (groups_.empty()) return 0;
    const auto& c = composed();
    return std::max(c.remove_table.epsilon(delta), c.add_table.epsilon(delta));
  }

  /// ε at δ with a rigorous lower bound on the exact ε and their difference, the discretization
  /// error bound (see the file comment).
  [[nodiscard]] pld_epsilon_bounds epsilon_bounds(double delta) const {
    check_delta(delta, "pld_accountant::epsilon_bounds");
    pld_epsilon_bounds b;
    b.discretization = effective_discretization();
    if (groups_.empty()) return b;
    const auto& c = composed();
    b.epsilon = std::max(c.remove_table.epsilon(delta), c.add_table.epsilon(delta));
    if (!std::isfinite(b.epsilon)) {
      b.lower = 0;
      b.discretization_error = std::numeric_limits<double>::infinity();
      return b;
    }
    double best_lower = 0;
    for (double frac : {1e-4, 1e-3, 1e-2, 0.1, 0.5}) {
      const double eta = frac * delta;
      const double l = std::log(1 / eta);
      const double n = static_cast<double>(c.discretized_steps), h = c.h;
      const double v = n * h * h / 4, a = h / 3 * l;
      // |Σ w_i| ≤ N h always
      const double s = std::min(n * h, n * h * h / 8 + a + std::sqrt(a * a + 2 * v * l));
      const double d2 = delta + eta + c.truncated;
      if (!(d2 < 1)) continue;
      const double lower = std::max(c.remove_table.epsilon(d2), c.add_table.epsilon(d2)) - s;
      best_lower = std::max(best_lower, lower);
    }
    b.lower = std::min(best_lower, b.epsilon);
    b.discretization_error = b.epsilon - b.lower;
    return b;
  }

  /// epsilon_bounds(δ).discretization_error.
  [[nodiscard]] double discretization_error(double delta) const { return epsilon_bounds(delta).discretization_error; }

  /// δ at ε (pessimistic): the larger of the add and remove directions.
  [[nodiscard]] double delta(double epsilon) const {
    if (std::isnan(epsilon))
      throw invalid_config("pld_accountant::delta: epsilon is NaN");
    if (groups_.empty()) return 0;
    const auto& c = composed();
    return std::max(detail::pld_delta(c.remove, c.h, epsilon),
                    c.symmetric ? 0.0 : detail::pld_delta(c.add, c.h, epsilon));
  }

  /// Steps composed so far.
  [[nodiscard]] std::uint64_t steps() const noexcept { return steps_; }
  /// The configured grid width h.
  [[nodiscard]] double discretization() const noexcept { return opt_.discretization; }
  /// The grid width used for the steps composed so far (≥ discretization(): doubled while the
  /// composed window did not fit in max_grid_points).
  [[nodiscard]] double effective_discretization() const {
    return groups_.empty() ? opt_.discretization : composed().h;
  }
  /// The options.
  [[nodiscard]] const pld_options& options() const noexcept { return opt_; }

private:
  struct group {
    double q, sigma;
    std::uint64_t steps;
  };
  struct result {
    double h = 0;
    detail::discrete_pld remove, add; ///< add is unused when `symmetric` (all steps have q = 1)
    bool symmetric = false;
    detail::epsilon_table remove_table, add_table;
    std::uint64_t discretized_steps = 0; ///< N in the error bound
    double truncated = 0;                ///< tail mass outside the connect-the-dots coupling (max of directions)
  };

  static void check_delta(double delta, const char* who) {
    if (!(delta > 0 && delta < 1))
      throw invalid_config(std::string(who) + ": delta = " + std::to_string(delta) + " must be in (0, 1)");
  }

  const result& composed() const {
    if (!cache_) {
      double h = opt_.discretization;
      for (int attempt = 0;; ++attempt) {
        double factor = 1;
        if (auto r = try_compose(h, factor)) {
          cache_ = std::move(*r);
          cache_->remove_table = detail::epsilon_table(cache_->remove, cache_->h);
          cache_->add_table = detail::epsilon_table(cache_->symmetric ? cache_->remove : cache_->add, cache_->h);
          break;
        }
        if (attempt > 2000 || !std::isfinite(h * factor))
          throw invalid_config("pld_accountant: the composed loss does not fit any grid");
        h *= std::exp2(std::ceil(std::log2(std::max(2.0, factor))));
      }
    }
    return *cache_;
  }

  /// The steps as (q, σ, T) with 0 < q < 1, plus one Gaussian (q = 1, T = 1) for all q = 1 steps.
  [[nodiscard]] std::vector<group> effective_groups() const {
    std::vector<group> out;
    double mu2 = 0; // Σ T/σ² of the q = 1 steps (∞ if some σ is below pld_sigma_min)
    bool any_gaussian = false;
    for (const auto& g : groups_) {
      if (g.q <= 0) continue;
      if (g.q >= 1) {
        any_gaussian = true;
        const double s = std::min(g.sigma, detail::pld_sigma_max);
        mu2 += static_cast<double>(g.steps) / (s * s);
        continue;
      }
      out.push_back(g);
    }
    if (any_gaussian) {
      const double sigma = std::isfinite(mu2) ? 1 / std::sqrt(mu2) : 0.0;
      out.push_back({1.0, sigma, 1});
    }
    return out;
  }

  /// Composes both directions on grid h; nullopt (with `factor` the needed coarsening) if too big.
  std::optional<result> try_compose(double h, double& factor) const {
    const auto groups = effective_groups();
    result res;
    res.h = h;
    if (groups.empty()) { // only q = 0 steps
      res.remove.mass = res.add.mass = {1.0};
      return res;
    }
    double window_factor = 1;
    // q = 1 steps have the same PLD in both directions (dp_accounting's `symmetric`)
    res.symmetric = groups.size() == 1 && groups[0].q >= 1;
    for (int dir = 0; dir < (res.symmetric ? 1 : 2); ++dir) {
      const bool remove = dir == 0;
      std::vector<detail::discrete_pld> singles;
      for (const auto& g : groups) {
        auto s = detail::single_step_pld(g.q, g.sigma, h, remove, opt_.log_mass_truncation_bound, opt_.max_grid_points);
        if (!s) {
          factor = 4;
          return std::nullopt;
        }
        singles.push_back(std::move(*s));
      }
      auto out = compose_direction(groups, singles, h, window_factor);
      if (!out) {
        factor = window_factor;
        return std::nullopt;
      }
      (remove ? res.remove : res.add) = std::move(*out);
    }
    for (const auto& g : groups) res.discretized_steps += g.steps;
    res.truncated = std::max(res.remove.truncated, res.symmetric ? 0.0 : res.add.truncated);
    return res;
  }

  /// T-fold composition of the singles (see the file comment).
  std::optional<detail::discrete_pld> compose_direction(const std::vector<group>& groups,
                                                        const std::vector<detail::discrete_pld>& singles, double h,
                                                        double& factor) const {
    detail::discrete_pld out;
    double log_keep = 0, truncated = 0; // log P[no step hit +∞]; tail mass outside the coupling
    for (std::size_t g = 0; g < groups.size(); ++g) {
      const double t = static_cast<double>(groups[g].steps);
      log_keep += t * std::log1p(-std::min(1.0, singles[g].infinity_mass));
      truncated += t * singles[g].truncated;
    }
    const double inf_mass = -std::expm1(log_keep);
    if (groups.size() == 1 && groups[0].steps == 1) {
      out = singles[0];
      out.truncated = truncated;
      return out;
    }
    // Support and Chernoff window (in loss units).
    double support_lo = 0, support_hi = 0, mean = 0;
    for (std::size_t g = 0; g < groups.size(); ++g) {
      const double t = static_cast<double>(groups[g].steps);
      support_lo += t * static_cast<double>(singles[g].first) * h;
      support_hi += t * static_cast<double>(singles[g].first + static_cast<std::int64_t>(singles[g].mass.size()) - 1) * h;
      mean += t * singles[g].mean_index() * h;
    }
    // K(t) = log E[e^{tS}] over the finite part, S the composed loss: Σ_g T_g log Σ_i p_gi e^{t l_gi}.
    // `exact` sums every grid point; the sketch (≤ 2048 blocks per step kind, each block's mass at
    // its centre) only locates the optimal t, and the bound is then evaluated exactly at that t
    // (any t > 0 gives a valid bound).
    struct term {
      double log_mass, loss;
    };
    std::vector<std::vector<term>> exact(groups.size()), sketch(groups.size());
    double var = 0;
    for (std::size_t g = 0; g < groups.size(); ++g) {
      const auto& sg = singles[g];
      const std::size_t block = (sg.mass.size() + 2047) / 2048;
      for (std::size_t i = 0; i < sg.mass.size(); i += block) {
        double m = 0;
        const std::size_t end = std::min(sg.mass.size(), i + block);
        for (std::size_t j = i; j < end; ++j) {
          m += sg.mass[j];
          if (sg.mass[j] > 0)
            exact[g].push_back({std::log(sg.mass[j]), static_cast<double>(sg.first + static_cast<std::int64_t>(j)) * h});
        }
        if (m > 0)
          sketch[g].push_back({std::log(m), (static_cast<double>(sg.first) + 0.5 * static_cast<double>(i + end - 1)) * h});
      }
      var += static_cast<double>(groups[g].steps) * sg.variance_index() * h * h;
    }
    auto K = [&](const std::vector<std::vector<term>>& terms, double t) {
      double k = 0;
      for (std::size_t g = 0; g < groups.size(); ++g) {
        double mx = detail::neg_inf;
        for (const auto& e : terms[g]) mx = std::max(mx, e.log_mass + t * e.loss);
        if (mx == detail::neg_inf) return detail::neg_inf;
        double sum = 0;
        for (const auto& e : terms[g]) sum += std::exp(e.log_mass + t * e.loss - mx);
        k += static_cast<double>(groups[g].steps) * (mx + std::log(sum));
      }
      return k;
    };
    const double c = std::log(2 / opt_.tail_mass_truncation);
    // Chernoff: P[S > u] ≤ e^{K(t) − tu}; the smallest u with bound τ/2 is min_t (K(t) + c)/t, a
    // unimodal function of t (its derivative's numerator tK'(t) − K(t) − c increases). The optimum
    // is near sqrt(2c/Var S) for Gaussian-like sums, and far below it for heavy right tails
    // (one step's high losses rare, as for small q and σ): the bracket reaches c/width.
    const double t0 = var > 0 ? std::sqrt(2 * c / var) : 1 / h;
    const double t_max = t0 * 1e2, t_min = std::min(t0 * 1e-2, c / std::max(h, support_hi - support_lo));
    double hi = support_hi, lo = support_lo;
    if (support_hi > support_lo) {
      const double t_hi =
          detail::golden_argmin_log([&](double t) { return (K(sketch, t) + c) / t; }, t_min, t_max, 32);
      const double t_lo =
          detail::golden_argmin_log([&](double t) { return (K(sketch, -t) + c) / t; }, t_min, t_max, 32);
      const double u_hi = (K(exact, t_hi) + c) / t_hi, u_lo = -(K(exact, -t_lo) + c) / t_lo;
      if (std::isfinite(u_hi)) hi = std::min(hi, std::max(u_hi, mean));
      if (std::isfinite(u_lo)) lo = std::max(lo, std::min(u_lo, mean));
    }
    const double span = (hi - lo) / h + 3;
    const double biggest = std::max(std::abs(lo), std::abs(hi)) / h;
    if (span > static_cast<double>(opt_.max_grid_points) || biggest > 1e15) {
      factor = std::max({2.0, span / static_cast<double>(opt_.max_grid_points), biggest / 1e15});
      return std::nullopt;
    }
    const auto k_lo = static_cast<std::int64_t>(std::floor(lo / h)) - 1;
    const auto k_hi = static_cast<std::int64_t>(std::ceil(hi / h)) + 1;
    std::size_t m = 1;
    while (m < static_cast<std::size_t>(k_hi - k_lo + 1)) m <<= 1;
    m = std::max<std::size_t>(m, 4);
    const auto mm = static_cast<std::int64_t>(m);
    // Each single is centred on its mean index (c_g), so the phases of f^T stay small.
    const detail::real_fft plan(m);
    std::vector<double> buf(m);
    std::vector<std::complex<double>> total(m / 2 + 1, 1.0), f;
    std::int64_t shift = 0; // Σ T_g c_g, each term ≈ T_g·mean_g/h, within the window's 1e15
    for (std::size_t g = 0; g < groups.size(); ++g) {
      const auto& s = singles[g];
      const double centre = std::round(s.mean_index());
      if (!(std::abs(centre * static_cast<double>(groups[g].steps)) < 2e15)) {
        factor = 2;
        return std::nullopt;
      }
      const auto cg = static_cast<std::int64_t>(centre);
      shift += static_cast<std::int64_t>(groups[g].steps) * cg;
      std::fill(buf.begin(), buf.end(), 0.0);
      for (std::size_t i = 0; i < s.mass.size(); ++i) {
        const std::int64_t k = s.first + static_cast<std::int64_t>(i) - cg;
        buf[static_cast<std::size_t>(((k % mm) + mm) % mm)] += s.mass[i];
      }
      plan.forward(buf, f);
      const auto n = static_cast<double>(groups[g].steps);
      for (std::size_t i = 0; i < f.size(); ++i) {
        if (groups[g].steps == 1) {
          total[i] *= f[i];
          continue;
        }
        // f^T = |f|^T e^{iT arg f}; skipped where |f|^T underflows
        const double log_abs = 0.5 * std::log(std::norm(f[i]));
        const double log_pow = n * log_abs;
        total[i] = log_pow < -745 ? std::complex<double>(0.0)
                                  : total[i] * std::polar(std::exp(log_pow), n * std::arg(f[i]));
      }
    }
    plan.inverse(total, buf);
    out.first = k_lo;
    out.mass.assign(m, 0.0);
    for (std::int64_t k = k_lo; k < k_lo + mm; ++k) {
      const std::int64_t b = (((k - shift) % mm) + mm) % mm;
      out.mass[static_cast<std::size_t>(k - k_lo)] = std::max(0.0, buf[static_cast<std::size_t>(b)]);
    }
    // trailing zeros cost time in ε(δ); drop them
    while (out.mass.size() > 1 && out.mass.back() == 0) out.mass.pop_back();
    const double upper = static_cast<double>(k_lo + mm - 1) * h;
    const double wrapped_up = upper >= support_hi ? 0.0 : opt_.tail_mass_truncation / 2;
    const double wrapped_down = static_cast<double>(k_lo) * h <= support_lo ? 0.0 : opt_.tail_mass_truncation / 2;
    out.infinity_mass = std::min(1.0, inf_mass + wrapped_up);
    out.truncated = truncated + wrapped_up + wrapped_down;
    return out;
  }

  pld_options opt_;
  std::vector<group> groups_;
  std::uint64_t steps_ = 0;
  mutable std::optional<result> cache_;
};

} // namespace fedpp::privacy
