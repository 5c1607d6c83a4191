/// \file split_nn_math.hpp
/// Private arithmetic of the split neural network: softmax cross-entropy on plain row-major
/// arrays, per-row L2 clipping with its backward pass, finiteness checks.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>

namespace fedpp::vertical::detail {

/// Mean softmax cross-entropy of the logits z (n × c, row-major) against `labels`; z is
/// overwritten with the gradient of that mean w.r.t. the logits, (softmax(z) − onehot(y)) / n.
/// Per row: ℓ = log Σ_j exp(z_j − m) − (z_y − m), m = max_j z_j (stable log-sum-exp).
/// `correct` receives the number of rows whose argmax (first maximum) is the label.
template <class T>
double softmax_cross_entropy_backward(std::span<T> z, std::size_t n, std::size_t c,
                                      std::span<const std::uint8_t> labels, std::size_t& correct) noexcept {
  correct = 0;
  if (n == 0) return 0;
  double loss = 0;
  const T inv_n = T(1) / static_cast<T>(n);
  for (std::size_t r = 0; r < n; ++r) {
    T* row = z.data() + r * c;
    std::size_t arg = 0;
    for (std::size_t j = 1; j < c; ++j)
      if (row[j] > row[arg]) arg = j;
    const T m = row[arg];
    const std::size_t y = labels[r];
    if (arg == y) ++correct;
    const T zy = row[y] - m;
    T s = 0;
    for (std::size_t j = 0; j < c; ++j) {
      row[j] = std::exp(row[j] - m);
      s += row[j];
    }
    loss += std::log(static_cast<double>(s)) - static_cast<double>(zy);
    const T k = inv_n / s;
    for (std::size_t j = 0; j < c; ++j) row[j] *= k;
    row[y] -= inv_n;
  }
  return loss / static_cast<double>(n);
}

/// Sum of the per-row cross-entropies of z (unchanged) and the number of correct argmax rows.
template <class T>
double softmax_cross_entropy_sum(std::span<const T> z, std::size_t n, std::size_t c,
                                 std::span<const std::uint8_t> labels, std::size_t& correct) noexcept {
  correct = 0;
  double loss = 0;
  for (std::size_t r = 0; r < n; ++r) {
    const T* row = z.data() + r * c;
    std::size_t arg = 0;
    for (std::size_t j = 1; j < c; ++j)
      if (row[j] > row[arg]) arg = j;
    const T m = row[arg];
    double s = 0;
    for (std::size_t j = 0; j < c; ++j) s += std::exp(static_cast<double>(row[j] - m));
    const std::size_t y = labels[r];
    loss += std::log(s) - static_cast<double>(row[y] - m);
    if (arg == y) ++correct;
  }
  return loss;
}

/// True when every value is finite.
template <class T>
[[nodiscard]] bool all_finite(std::span<const T> x) noexcept {
  bool ok = true;
  for (const T v : x) ok &= std::isfinite(v);
  return ok;
}

/// The index of the first non-finite value, or x.size().
template <class T>
[[nodiscard]] std::size_t first_non_finite(std::span<const T> x) noexcept {
  for (std::size_t i = 0; i < x.size(); ++i)
    if (!std::isfinite(x[i])) return i;
  return x.size();
}

/// ‖row‖₂ in double.
template <class T>
[[nodiscard]] double row_norm(const T* row, std::size_t width) noexcept {
  double s = 0;
  for (std::size_t j = 0; j < width; ++j) s += static_cast<double>(row[j]) * static_cast<double>(row[j]);
  return std::sqrt(s);
}

/// Scales each row of x (n × width) whose L2 norm exceeds `bound` down to that norm, scaled by
/// `unit` first: row ← row · min(1, bound / (unit · ‖row‖)). Writes each row's factor
/// min(1, bound / (unit·‖row‖)) to `factors` (n values) and its norm before clipping to `norms`.
template <class T>
void clip_rows(std::span<T> x, std::size_t n, std::size_t width, double bound, double unit,
               std::span<double> factors, std::span<double> norms) noexcept {
  for (std::size_t r = 0; r < n; ++r) {
    T* row = x.data() + r * width;
    const double norm = row_norm(row, width);
    norms[r] = norm;
    const double scaled = unit * norm;
    const double f = scaled > bound ? bound / scaled : 1.0;
    factors[r] = f;
    if (f < 1.0)
      for (std::size_t j = 0; j < width; ++j) row[j] = static_cast<T>(static_cast<double>(row[j]) * f);
  }
}

/// Backward pass of clip_rows (unit 1) for one row: the gradient g w.r.t. the clipped row
/// c(h) = h·min(1, C/‖h‖) becomes the gradient w.r.t. h, in place. Unclipped rows pass g through;
/// a clipped row (‖h‖ > C, factor s = C/‖h‖) has Jacobian s·(I − h hᵀ/‖h‖²), so
/// g ← s·(g − (h·g / ‖h‖²)·h). `h` is the row before clipping.
template <class T>
void clip_row_backward(const T* h, T* g, std::size_t width, double factor, double norm) noexcept {
  if (!(factor < 1.0)) return;
  double dot = 0;
  for (std::size_t j = 0; j < width; ++j) dot += static_cast<double>(h[j]) * static_cast<double>(g[j]);
  const double k = dot / (norm * norm);
  for (std::size_t j = 0; j < width; ++j)
    g[j] = static_cast<T>(factor * (static_cast<double>(g[j]) - k * static_cast<double>(h[j])));
}

} // namespace fedpp::vertical::detail
