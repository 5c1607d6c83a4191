/// \file frechet.hpp
/// The Fréchet distance between two Gaussians fitted to feature sets, as in the Fréchet
/// Inception Distance (FID, Heusel et al. 2017) but in whatever feature space the caller supplies
/// (fedpp's example 19: the hidden layer of its own Fashion-MNIST classifier):
///
///   d²((μ₁, Σ₁), (μ₂, Σ₂)) = ‖μ₁ − μ₂‖² + Tr(Σ₁ + Σ₂ − 2 (Σ₁ Σ₂)^{1/2})   (Dowson & Landau 1982)
///
/// Tr((Σ₁Σ₂)^{1/2}) is computed as Tr((Σ₁^{1/2} Σ₂ Σ₁^{1/2})^{1/2}): both matrices are similar
/// (Σ₁Σ₂ = Σ₁^{1/2} M Σ₁^{−1/2} with M = Σ₁^{1/2} Σ₂ Σ₁^{1/2}, and the principal square roots
/// correspond), and M is symmetric positive semi-definite, so its square root's trace is the sum
/// of √λᵢ over M's eigenvalues. Both eigen-decompositions use Eigen's SelfAdjointEigenSolver in
/// double; eigenvalues below 0 (rounding of a semi-definite matrix) count as 0. pytorch-fid
/// instead takes scipy.linalg.sqrtm of the non-symmetric Σ₁Σ₂ and drops an imaginary part.
/// Needs Eigen (CMake component fedpp::eigen).
#pragma once

#include "fedpp/error.hpp"

#include <Eigen/Core>
#include <Eigen/Eigenvalues>

#include <cmath>
#include <concepts>
#include <cstddef>
#include <span>
#include <string>
#include <vector>

namespace fedpp::gan {

/// Mean and covariance of a feature set: `count` rows of `dim` values.
struct gaussian_statistics {
  std::size_t dim = 0;
  std::size_t count = 0;
  std::vector<double> mean;       ///< dim values
  std::vector<double> covariance; ///< dim × dim, row-major, unbiased (divided by count − 1, as numpy's cov)
};

/// The statistics of `features` (row-major, rows × dim). Accumulated in double, two passes (mean,
/// then centred products). Throws invalid_config for dim 0, fewer than 2 rows, a size that is not
/// rows × dim, or a non-finite value (naming its row and column).
template <std::floating_point T>
[[nodiscard]] gaussian_statistics feature_statistics(std::span<const T> features, std::size_t dim) {
  if (dim == 0 || features.size() % dim != 0 || features.size() / dim < 2)
    throw invalid_config("feature_statistics: " + std::to_string(features.size()) +
                         " values are not >= 2 rows of " + std::to_string(dim));
  const std::size_t n = features.size() / dim;
  for (std::size_t i = 0; i < features.size(); ++i)
    if (!std::isfinite(static_cast<double>(features[i])))
      throw invalid_config("feature_statistics: row " + std::to_string(i / dim) + " column " +
                           std::to_string(i % dim) + " is not finite");
  using matrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const auto rows = static_cast<Eigen::Index>(n), cols = static_cast<Eigen::Index>(dim);
  matrix x(rows, cols);
  for (Eigen::Index r = 0; r < rows; ++r)
    for (Eigen::Index c = 0; c < cols; ++c)
      x(r, c) =
          static_cast<double>(features[static_cast<std::size_t>(r) * dim + static_cast<std::size_t>(c)]);
  const Eigen::RowVectorXd mu = x.colwise().mean();
  x.rowwise() -= mu;
  matrix cov = (x.transpose() * x) / static_cast<double>(n - 1);
  gaussian_statistics s;
  s.dim = dim;
  s.count = n;
  s.mean.assign(mu.data(), mu.data() + dim);
  s.covariance.assign(cov.data(), cov.data() + dim * dim);
  return s;
}

/// d² between the Gaussians of `a` and `b` (see the file comment). Throws invalid_config for
/// statistics of different or inconsistent dimensions, or with a non-finite entry.
[[nodiscard]] inline double frechet_distance(const gaussian_statistics& a, const gaussian_statistics& b) {
  for (const auto* s : {&a, &b}) {
    if (s->dim == 0 || s->mean.size() != s->dim || s->covariance.size() != s->dim * s->dim)
      throw invalid_config("frechet_distance: statistics of dim " + std::to_string(s->dim) + " with " +
                           std::to_string(s->mean.size()) + " means and " +
                           std::to_string(s->covariance.size()) + " covariance entries");
    for (double v : s->mean)
      if (!std::isfinite(v)) throw invalid_config("frechet_distance: a non-finite mean");
    for (double v : s->covariance)
      if (!std::isfinite(v)) throw invalid_config("frechet_distance: a non-finite covariance entry");
  }
  if (a.dim != b.dim)
    throw invalid_config("frechet_distance: dimensions " + std::to_string(a.dim) + " and " +
                         std::to_string(b.dim));
  using matrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const auto d = static_cast<Eigen::Index>(a.dim);
  const Eigen::Map<const matrix> s1(a.covariance.data(), d, d), s2(b.covariance.data(), d, d);
  const Eigen::Map<const Eigen::VectorXd> m1(a.mean.data(), d), m2(b.mean.data(), d);
  // Σ₁^{1/2} = V diag(√max(λ, 0)) Vᵀ (symmetrised first: the accumulation may leave 1-ulp asymmetry).
  const matrix sym1 = (s1 + s1.transpose()) / 2;
  Eigen::SelfAdjointEigenSolver<matrix> e1(sym1);
  if (e1.info() != Eigen::Success)
    throw invalid_config("frechet_distance: the eigen-decomposition of Σ₁ failed");
  const Eigen::VectorXd root = e1.eigenvalues().cwiseMax(0.0).cwiseSqrt();
  const matrix sqrt1 = e1.eigenvectors() * root.asDiagonal() * e1.eigenvectors().transpose();
  matrix m = sqrt1 * s2 * sqrt1;
  m = (m + m.transpose()).eval() / 2;
  Eigen::SelfAdjointEigenSolver<matrix> e2(m, Eigen::EigenvaluesOnly);
  if (e2.info() != Eigen::Success)
    throw invalid_config("frechet_distance: the eigen-decomposition of Σ₁^½ Σ₂ Σ₁^½ failed");
  const double trace_sqrt = e2.eigenvalues().cwiseMax(0.0).cwiseSqrt().sum();
  const double value = (m1 - m2).squaredNorm() + s1.trace() + s2.trace() - 2 * trace_sqrt;
  return value < 0 ? 0.0 : value; // rounding can leave −1e−12 for identical statistics
}

/// frechet_distance of the statistics of two feature sets (rows × dim each).
template <std::floating_point T>
[[nodiscard]] double frechet_distance(std::span<const T> a, std::span<const T> b, std::size_t dim) {
  return frechet_distance(feature_statistics(a, dim), feature_statistics(b, dim));
}

} // namespace fedpp::gan
