// The simulation models' dense kernels (simulation/detail/dense_kernels.hpp) against plain
// double-precision references, on every code path this machine runs (kernels::available_isas()),
// for float and double, odd sizes, padded row strides, transposed operands and both epilogues;
// then the models on every path against a double reference, and the parallel evaluation against
// the serial one.
#include "fedpp/kernels/dispatch.hpp"
#include "fedpp/parallel/thread_pool.hpp"
#include "fedpp/random/distributions.hpp"
#include "fedpp/simulation/detail/dense_kernels.hpp"
#include "fedpp/simulation/local_training.hpp"
#include "fedpp/simulation/mlp.hpp"
#include "fedpp/simulation/softmax_regression.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

namespace {

using namespace fedpp::simulation;
using fedpp::kernels::isa;
namespace dk = fedpp::simulation::detail;

// Edges of every tile shape: 1..7 around the 6-row and 4/6-column tiles, vector widths 4, 8, 16
// and their neighbours, and the main job's 200 / 784.
const std::vector<std::size_t> dims = {0, 1, 2, 3, 5, 6, 7, 8, 13, 16, 17, 31, 33, 64, 65, 200};

template <class T>
std::vector<T> random_vector(std::size_t n, fedpp::rng& gen, double lo = -1, double hi = 1) {
  std::vector<T> v(n);
  for (auto& x : v) x = static_cast<T>(lo + (hi - lo) * gen.uniform());
  return v;
}

/// |computed − exact| ≤ tol: each output is a sum of `depth` products, so float rounding is
/// bounded by about depth · 2⁻²⁴ · Σ|a b| (2⁻⁵³ for double); a factor 4 of slack.
template <class T>
double tolerance(std::size_t depth, double magnitude) {
  const double eps = std::numeric_limits<T>::epsilon();
  return 4 * eps * static_cast<double>(depth + 2) * (magnitude + 1e-30);
}

std::string where(isa path, std::size_t m, std::size_t n, std::size_t k) {
  return std::string("isa=") + fedpp::kernels::to_string(path) + " m=" + std::to_string(m) +
         " n=" + std::to_string(n) + " depth=" + std::to_string(k);
}

/// c = act(a · b + bias) in double, and Σ|a b| + |bias| per element for the tolerance.
template <class T, class A, class B>
void reference(std::size_t m, std::size_t n, std::size_t depth, A a, B b, const T* bias, bool relu,
               std::vector<double>& c, std::vector<double>& magnitude) {
  c.assign(m * n, 0.0);
  magnitude.assign(m * n, 0.0);
  for (std::size_t i = 0; i < m; ++i)
    for (std::size_t j = 0; j < n; ++j) {
      double s = 0, mag = 0;
      for (std::size_t k = 0; k < depth; ++k) {
        s += static_cast<double>(a(i, k)) * static_cast<double>(b(k, j));
        mag += std::abs(static_cast<double>(a(i, k)) * static_cast<double>(b(k, j)));
      }
      if (bias != nullptr) {
        s += static_cast<double>(bias[j]);
        mag += std::abs(static_cast<double>(bias[j]));
      }
      c[i * n + j] = relu ? std::max(s, 0.0) : s;
      magnitude[i * n + j] = mag;
    }
}

template <class T>
void check_gemm(bool transposed_a) {
  fedpp::rng gen(11);
  for (isa path : fedpp::kernels::available_isas())
    for (std::size_t m : dims)
      for (std::size_t n : dims)
        for (std::size_t depth : {std::size_t{0}, std::size_t{1}, std::size_t{3}, std::size_t{17},
                                  std::size_t{64}, std::size_t{201}}) {
          if (m * n * depth > 200000) continue;
          const bool with_bias = (m + n) % 2 == 0, relu = (m + depth) % 2 == 1;
          // a is m × depth (row stride depth + 3), or stored transposed (depth × m, stride m + 1).
          const std::size_t lda = transposed_a ? m + 1 : depth + 3, ldb = n + 5, ldc = n + 2;
          const auto a = random_vector<T>((transposed_a ? depth : m) * lda + 1, gen);
          const auto b = random_vector<T>(depth * ldb + 1, gen);
          const auto bias = random_vector<T>(n, gen);
          std::vector<T> c(m * ldc + 1, T(-7));
          const dk::strided<T> sa =
              transposed_a ? dk::strided<T>{a.data(), 1, lda} : dk::strided<T>{a.data(), lda, 1};
          dk::gemm_on(path, m, n, depth, sa, b.data(), ldb, c.data(), ldc, with_bias ? bias.data() : nullptr,
                      relu);
          std::vector<double> expected, magnitude;
          reference<T>(
              m, n, depth,
              [&](std::size_t i, std::size_t k) { return sa.data[i * sa.row_stride + k * sa.col_stride]; },
              [&](std::size_t k, std::size_t j) { return b[k * ldb + j]; }, with_bias ? bias.data() : nullptr,
              relu, expected, magnitude);
          for (std::size_t i = 0; i < m; ++i) {
            for (std::size_t j = 0; j < n; ++j)
              ASSERT_NEAR(c[i * ldc + j], expected[i * n + j], tolerance<T>(depth, magnitude[i * n + j]))
                  << where(path, m, n, depth) << " at " << i << "," << j;
            for (std::size_t j = n; j < ldc && i * ldc + j < c.size(); ++j)
              ASSERT_EQ(c[i * ldc + j], T(-7)) << "wrote past the row, " << where(path, m, n, depth);
          }
          ASSERT_EQ(c.back(), T(-7)) << where(path, m, n, depth);
        }
}

template <class T>
void check_gemm_nt() {
  fedpp::rng gen(12);
  for (isa path : fedpp::kernels::available_isas())
    for (std::size_t m : dims)
      for (std::size_t n : dims)
        for (std::size_t depth : {std::size_t{0}, std::size_t{1}, std::size_t{7}, std::size_t{16},
                                  std::size_t{33}, std::size_t{200}}) {
          if (m * n * depth > 200000) continue;
          const bool with_bias = (m + n) % 2 == 1, relu = (n + depth) % 2 == 0;
          const std::size_t lda = depth + 1, ldb = depth + 4, ldc = n + 3;
          const auto a = random_vector<T>(m * lda + 1, gen);
          const auto b = random_vector<T>(n * ldb + 1, gen);
          const auto bias = random_vector<T>(n, gen);
          std::vector<T> c(m * ldc + 1, T(-7));
          dk::gemm_nt_on(path, m, n, depth, a.data(), lda, b.data(), ldb, c.data(), ldc,
                         with_bias ? bias.data() : nullptr, relu);
          std::vector<double> expected, magnitude;
          reference<T>(
              m, n, depth, [&](std::size_t i, std::size_t k) { return a[i * lda + k]; },
              [&](std::size_t k, std::size_t j) { return b[j * ldb + k]; }, with_bias ? bias.data() : nullptr,
              relu, expected, magnitude);
          for (std::size_t i = 0; i < m; ++i) {
            for (std::size_t j = 0; j < n; ++j)
              ASSERT_NEAR(c[i * ldc + j], expected[i * n + j], tolerance<T>(depth, magnitude[i * n + j]))
                  << where(path, m, n, depth) << " at " << i << "," << j;
            for (std::size_t j = n; j < ldc && i * ldc + j < c.size(); ++j)
              ASSERT_EQ(c[i * ldc + j], T(-7)) << "wrote past the row, " << where(path, m, n, depth);
          }
        }
}

/// n examples of d features, a quarter of them exactly 0 (like image backgrounds), labels < classes.
dataset synthetic(std::size_t n, std::size_t d, std::size_t classes, std::uint64_t seed) {
  fedpp::rng gen(seed);
  std::vector<float> x(n * d);
  for (auto& v : x) v = gen.uniform() < 0.25 ? 0.0F : static_cast<float>(gen.uniform());
  std::vector<std::uint8_t> y(n);
  for (auto& v : y) v = static_cast<std::uint8_t>(gen.below(classes));
  return dataset(std::move(x), std::move(y), d, classes);
}

/// The MLP's loss and gradient in double with plain loops (the definition, no kernels).
double mlp_reference(const mlp<float>& net, std::span<const float> p, const dataset& data,
                     std::vector<double>& grad) {
  const std::size_t d = net.num_features(), h = net.num_hidden(), c = net.num_classes(), n = data.size();
  const auto& l = net.layout();
  const auto w1 = [&](std::size_t j, std::size_t k) { return double{p[l[0].offset + j * d + k]}; };
  const auto b1 = [&](std::size_t j) { return double{p[l[1].offset + j]}; };
  const auto w2 = [&](std::size_t j, std::size_t k) { return double{p[l[2].offset + j * h + k]}; };
  const auto b2 = [&](std::size_t j) { return double{p[l[3].offset + j]}; };
  grad.assign(p.size(), 0.0);
  double loss = 0;
  for (std::size_t r = 0; r < n; ++r) {
    const auto x = data.example(r);
    std::vector<double> hid(h), z(c);
    for (std::size_t j = 0; j < h; ++j) {
      double s = b1(j);
      for (std::size_t k = 0; k < d; ++k) s += w1(j, k) * x[k];
      hid[j] = std::max(s, 0.0);
    }
    for (std::size_t j = 0; j < c; ++j) {
      double s = b2(j);
      for (std::size_t k = 0; k < h; ++k) s += w2(j, k) * hid[k];
      z[j] = s;
    }
    const double m = *std::max_element(z.begin(), z.end());
    double sum = 0;
    for (double v : z) sum += std::exp(v - m);
    const std::size_t y = data.label(r);
    loss += std::log(sum) - (z[y] - m);
    std::vector<double> dz(c), dh(h, 0.0);
    for (std::size_t j = 0; j < c; ++j) dz[j] = (std::exp(z[j] - m) / sum - (j == y ? 1.0 : 0.0)) / double(n);
    for (std::size_t j = 0; j < c; ++j) {
      grad[l[3].offset + j] += dz[j];
      for (std::size_t k = 0; k < h; ++k) {
        grad[l[2].offset + j * h + k] += dz[j] * hid[k];
        dh[k] += dz[j] * w2(j, k);
      }
    }
    for (std::size_t k = 0; k < h; ++k) {
      if (hid[k] <= 0) continue;
      grad[l[1].offset + k] += dh[k];
      for (std::size_t q = 0; q < d; ++q) grad[l[0].offset + k * d + q] += dh[k] * x[q];
    }
  }
  return loss / double(n);
}

} // namespace

TEST(DenseKernels, GemmMatchesDoubleReferenceFloat) { check_gemm<float>(false); }
TEST(DenseKernels, GemmMatchesDoubleReferenceDouble) { check_gemm<double>(false); }
TEST(DenseKernels, GemmTransposedOperandFloat) { check_gemm<float>(true); }
TEST(DenseKernels, GemmTransposedOperandDouble) { check_gemm<double>(true); }
TEST(DenseKernels, GemmNtMatchesDoubleReferenceFloat) { check_gemm_nt<float>(); }
TEST(DenseKernels, GemmNtMatchesDoubleReferenceDouble) { check_gemm_nt<double>(); }

TEST(DenseKernels, TransposeAndColumnSums) {
  fedpp::rng gen(3);
  for (std::size_t rows : {0, 1, 5, 16, 17, 40})
    for (std::size_t cols : {0, 1, 3, 16, 33}) {
      const auto src = random_vector<float>(rows * (cols + 2), gen);
      std::vector<float> dst(cols * (rows + 1), -1.0F);
      dk::transpose(rows, cols, src.data(), cols + 2, dst.data(), rows + 1);
      for (std::size_t i = 0; i < rows; ++i)
        for (std::size_t j = 0; j < cols; ++j) ASSERT_EQ(dst[j * (rows + 1) + i], src[i * (cols + 2) + j]);
      std::vector<float> sums(cols + 2);
      dk::column_sums(rows, cols + 2, src.data(), sums.data());
      for (std::size_t j = 0; j < cols + 2; ++j) {
        double s = 0;
        for (std::size_t i = 0; i < rows; ++i) s += src[i * (cols + 2) + j];
        ASSERT_NEAR(sums[j], s, 1e-5);
      }
    }
}

TEST(DenseKernels, DenseLayerAgreesAcrossBatchSizes) {
  // Below pack_min_rows the layer takes dot products (gemm_nt), above it repacks the weights
  // (gemm): both must give the reference's values.
  fedpp::rng gen(5);
  const std::size_t in = 37, out = 21;
  const auto w = random_vector<float>(out * in, gen);
  const auto b = random_vector<float>(out, gen);
  for (isa path : fedpp::kernels::available_isas())
    for (std::size_t n :
         {std::size_t{1}, std::size_t{31}, dk::pack_min_rows - 1, dk::pack_min_rows, std::size_t{301}}) {
      const auto x = random_vector<float>(n * in, gen);
      std::vector<float> y(n * out), packed;
      dk::dense_layer(path, n, out, in, x.data(), in, w.data(), b.data(), y.data(), true, packed);
      std::vector<double> expected, magnitude;
      reference<float>(
          n, out, in, [&](std::size_t i, std::size_t k) { return x[i * in + k]; },
          [&](std::size_t k, std::size_t j) { return w[j * in + k]; }, b.data(), true, expected, magnitude);
      for (std::size_t i = 0; i < n * out; ++i)
        ASSERT_NEAR(y[i], expected[i], tolerance<float>(in, magnitude[i])) << where(path, n, out, in);
    }
}

TEST(DenseKernels, MlpOnEveryPathMatchesDoubleReference) {
  const auto data = synthetic(45, 29, 4, 7);
  const mlp<float> net(29, 19, 4);
  const auto params = net.make_parameters(3);
  std::vector<double> expected_grad;
  const double expected_loss = mlp_reference(net, params.span(), data, expected_grad);
  row_matrix<float> x(45, 29);
  std::vector<std::uint8_t> y(45);
  for (std::size_t r = 0; r < 45; ++r) {
    for (std::size_t k = 0; k < 29; ++k)
      x(static_cast<Eigen::Index>(r), static_cast<Eigen::Index>(k)) = data.example(r)[k];
    y[r] = data.label(r);
  }
  for (isa path : fedpp::kernels::available_isas()) {
    const fedpp::kernels::scoped_isa_override on(path);
    std::vector<float> grad(params.size());
    mlp<float>::workspace ws;
    const double loss = net.loss_and_gradient(params.span(), x, y, grad, ws);
    EXPECT_NEAR(loss, expected_loss, 1e-5 * expected_loss) << fedpp::kernels::to_string(path);
    double worst = 0;
    for (std::size_t i = 0; i < grad.size(); ++i)
      worst = std::max(worst, std::abs(grad[i] - expected_grad[i]) / (1e-3 + std::abs(expected_grad[i])));
    EXPECT_LT(worst, 1e-3) << fedpp::kernels::to_string(path);
  }
}

TEST(DenseKernels, SoftmaxRegressionOnEveryPathAgrees) {
  const auto data = synthetic(300, 23, 5, 8); // ≥ pack_min_rows: evaluate's batches take the packed path
  const softmax_regression<double> model(23, 5);
  std::vector<double> p(model.layout().total_size());
  fedpp::rng gen(4);
  for (auto& v : p) v = fedpp::random::standard_normal(gen) * 0.3;
  // Logits by hand in double.
  double loss = 0;
  std::size_t correct = 0;
  for (std::size_t r = 0; r < data.size(); ++r) {
    std::vector<double> z(5);
    for (std::size_t c = 0; c < 5; ++c) {
      z[c] = p[5 * 23 + c];
      for (std::size_t k = 0; k < 23; ++k) z[c] += p[c * 23 + k] * data.example(r)[k];
    }
    const auto best = static_cast<std::size_t>(std::max_element(z.begin(), z.end()) - z.begin());
    correct += best == data.label(r);
    const double m = z[best];
    double s = 0;
    for (double v : z) s += std::exp(v - m);
    loss += std::log(s) - (z[data.label(r)] - m);
  }
  for (isa path : fedpp::kernels::available_isas()) {
    const fedpp::kernels::scoped_isa_override on(path);
    for (std::size_t batch : {std::size_t{7}, std::size_t{1024}}) {
      const auto e = evaluate(model, std::span<const double>(p), data, batch);
      EXPECT_EQ(e.accuracy, static_cast<double>(correct) / 300.0) << fedpp::kernels::to_string(path);
      EXPECT_NEAR(e.mean_loss, loss / 300.0, 1e-12) << fedpp::kernels::to_string(path);
    }
  }
}

TEST(Evaluate, ParallelEqualsSerialForAnyPoolSize) {
  const auto data = synthetic(2500, 40, 6, 9);
  const mlp<float> net(40, 33, 6);
  const auto params = net.make_parameters(2);
  for (std::size_t batch : {std::size_t{100}, std::size_t{1024}}) {
    const auto serial = evaluate(net, params.span(), data, batch);
    for (std::size_t threads : {1, 2, 3}) {
      fedpp::parallel::thread_pool pool(threads);
      const auto parallel = evaluate(net, params.span(), data, pool, batch);
      EXPECT_EQ(parallel.accuracy, serial.accuracy) << threads << " threads, batch " << batch;
      EXPECT_EQ(parallel.mean_loss, serial.mean_loss) << threads << " threads, batch " << batch;
      EXPECT_EQ(parallel.num_examples, serial.num_examples);
    }
  }
  // The whole dataset is read in place, a subset view is gathered: the same rows give the same scores.
  std::vector<std::size_t> all(data.size());
  std::iota(all.begin(), all.end(), std::size_t{0});
  const auto in_place = evaluate(net, params.span(), data, 500);
  const auto gathered = evaluate(net, params.span(), dataset_view(data, all), 500);
  EXPECT_EQ(in_place.accuracy, gathered.accuracy);
  EXPECT_EQ(in_place.mean_loss, gathered.mean_loss);
}
