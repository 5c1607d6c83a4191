/// \file gradient_inversion.hpp
/// Exact reconstruction of an input from the gradient of a fully connected first layer, and the
/// error measures of any reconstruction.
///
/// For a layer a = W x + b and one example, ∂L/∂W_i = (∂L/∂a_i) xᵀ and ∂L/∂b_i = ∂L/∂a_i, so every
/// row i with ∂L/∂b_i ≠ 0 gives x = (∂L/∂W_i) / (∂L/∂b_i) exactly (Phong et al. 2017, "Privacy-
/// Preserving Deep Learning via Additively Homomorphic Encryption", Sec. 3; Geiping et al. 2020,
/// "Inverting Gradients", Prop. D.1). A client's update after one SGD step on one example is
/// −η × that gradient, so the ratio is the same. With several examples (a batch, or a sum of
/// clients under secure aggregation) each row's ratio is a mixture Σ_n (δ_{n,i} / Σ_m δ_{m,i}) x_n:
/// what the attack recovers then is measured, not assumed.
///
/// This header combines the rows by least squares, x̂ = Σ_i g_i G_i / Σ_i g_i² over the rows with
/// |g_i| > threshold (G_i = ∂L/∂W_i, g_i = ∂L/∂b_i): exact for one example, and the best single-
/// vector fit of G ≈ g x̂ᵀ when the gradient is noisy (DP) or compressed.
#pragma once

#include "fedpp/error.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <span>
#include <string>
#include <vector>

namespace fedpp::audit {

/// What invert_fully_connected found.
struct fc_inversion {
  std::vector<double> input;     ///< the reconstructed x (features values)
  std::size_t rows_used = 0;     ///< rows with |∂L/∂b_i| above the threshold
  std::size_t strongest_row = 0; ///< the row with the largest |∂L/∂b_i|
};

/// Reconstructs x from a fully connected layer's weight gradient `weight_grad` (rows × features,
/// row-major) and bias gradient `bias_grad` (rows), using the rows with |∂L/∂b_i| > `threshold`
/// (see the file comment). Throws invalid_config when the sizes disagree, a value is not finite,
/// the threshold is negative or not finite, or no row's bias gradient exceeds the threshold (the
/// update reveals no input through this layer).
template <class T>
[[nodiscard]] fc_inversion invert_fully_connected(std::span<const T> weight_grad,
                                                  std::span<const T> bias_grad, std::size_t features,
                                                  double threshold = 0) {
  const std::size_t rows = bias_grad.size();
  if (features == 0 || rows == 0 || weight_grad.size() / features != rows ||
      weight_grad.size() % features != 0)
    throw invalid_config("invert_fully_connected: a weight gradient of " +
                         std::to_string(weight_grad.size()) + " values is not " + std::to_string(rows) +
                         " rows x " + std::to_string(features) + " features");
  if (!(threshold >= 0) || !std::isfinite(threshold))
    throw invalid_config("invert_fully_connected: threshold must be finite and >= 0, got " +
                         std::to_string(threshold));
  for (std::size_t i = 0; i < weight_grad.size(); ++i)
    if (!std::isfinite(static_cast<double>(weight_grad[i])))
      throw invalid_config("invert_fully_connected: weight gradient value " + std::to_string(i) +
                           " is not finite");
  fc_inversion out;
  out.input.assign(features, 0.0);
  double denominator = 0, strongest = -1;
  for (std::size_t i = 0; i < rows; ++i) {
    const double g = static_cast<double>(bias_grad[i]);
    if (!std::isfinite(g))
      throw invalid_config("invert_fully_connected: bias gradient " + std::to_string(i) + " is not finite");
    if (!(std::abs(g) > threshold)) continue;
    ++out.rows_used;
    denominator += g * g;
    if (std::abs(g) > strongest) {
      strongest = std::abs(g);
      out.strongest_row = i;
    }
    const T* row = weight_grad.data() + i * features;
    for (std::size_t j = 0; j < features; ++j) out.input[j] += g * static_cast<double>(row[j]);
  }
  if (out.rows_used == 0)
    throw invalid_config("invert_fully_connected: no bias gradient exceeds the threshold " +
                         std::to_string(threshold) + " (of " + std::to_string(rows) + " rows)");
  for (auto& v : out.input) v /= denominator;
  return out;
}

/// Mean squared error between two equally long vectors. Throws invalid_config for different or
/// zero sizes.
template <class A, class B>
[[nodiscard]] double mean_squared_error(std::span<const A> a, std::span<const B> b) {
  if (a.size() != b.size() || a.empty())
    throw invalid_config("mean_squared_error: sizes " + std::to_string(a.size()) + " and " +
                         std::to_string(b.size()) + " (need equal, non-zero)");
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double d = static_cast<double>(a[i]) - static_cast<double>(b[i]);
    s += d * d;
  }
  return s / static_cast<double>(a.size());
}

/// Peak signal-to-noise ratio in dB, 10 log10(peak² / mse); +∞ for mse = 0. Pixels in [0, 1]
/// have peak 1. Throws invalid_config for mse < 0 or peak ≤ 0 (or either not finite).
[[nodiscard]] inline double psnr(double mse, double peak = 1.0) {
  if (!(mse >= 0) || !std::isfinite(mse) || !(peak > 0) || !std::isfinite(peak))
    throw invalid_config("psnr: needs finite mse >= 0 and peak > 0, got mse " + std::to_string(mse) +
                         ", peak " + std::to_string(peak));
  return mse == 0 ? std::numeric_limits<double>::infinity() : 10 * std::log10(peak * peak / mse);
}

/// Batch reconstruction error: the reconstructions may come in any order, so each true example
/// (row of `truth`, n × features) is paired with a distinct reconstructed row greedily by smallest
/// MSE (all n² pairs sorted); returns the mean MSE over the pairs and, in `pairing`, the
/// reconstructed row paired with each true row. Throws invalid_config for sizes that disagree.
template <class A, class B>
[[nodiscard]] double batch_reconstruction_mse(std::span<const A> truth, std::span<const B> recon,
                                              std::size_t features,
                                              std::vector<std::size_t>* pairing = nullptr) {
  if (features == 0 || truth.size() != recon.size() || truth.empty() || truth.size() % features != 0)
    throw invalid_config("batch_reconstruction_mse: " + std::to_string(truth.size()) + " and " +
                         std::to_string(recon.size()) + " values are not equal batches of " +
                         std::to_string(features) + " features");
  const std::size_t n = truth.size() / features;
  struct pair_error {
    double mse;
    std::size_t t, r;
  };
  std::vector<pair_error> all;
  all.reserve(n * n);
  for (std::size_t t = 0; t < n; ++t)
    for (std::size_t r = 0; r < n; ++r)
      all.push_back(
          {mean_squared_error(truth.subspan(t * features, features), recon.subspan(r * features, features)),
           t, r});
  std::stable_sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.mse < b.mse; });
  std::vector<std::size_t> paired(n, n);
  std::vector<bool> used(n, false);
  double total = 0;
  for (const auto& p : all)
    if (paired[p.t] == n && !used[p.r]) {
      paired[p.t] = p.r;
      used[p.r] = true;
      total += p.mse;
    }
  if (pairing) *pairing = std::move(paired);
  return total / static_cast<double>(n);
}

} // namespace fedpp::audit
