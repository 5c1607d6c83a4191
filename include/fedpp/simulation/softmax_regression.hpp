/// \file softmax_regression.hpp
/// Multinomial logistic regression z = W x + b, trained with softmax cross-entropy; parameters
/// "fc.weight" [classes, features] (row-major, as PyTorch's Linear) then "fc.bias" [classes] in
/// one flat vector.
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/kernels/dispatch.hpp"
#include "fedpp/random/rng.hpp"
#include "fedpp/simulation/detail/dense_kernels.hpp"
#include "fedpp/simulation/detail/model_common.hpp"
#include "fedpp/simulation/trainable_model.hpp"
#include "fedpp/tensor/dtype.hpp"
#include "fedpp/tensor/flat_model.hpp"
#include "fedpp/tensor/model_layout.hpp"

#include <Eigen/Core>

#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace fedpp::simulation {

/// Softmax regression (784 → 10 by default). A stateless architecture: parameters live in the
/// caller's flat vector, laid out by layout(), and are accessed through Eigen::Map.
template <std::floating_point T = float>
class softmax_regression {
public:
  using value_type = T;
  /// Scratch for forward/backward: the logits, and a transposed copy of the weights for large
  /// batches.
  struct workspace {
    row_matrix<T> z;
    std::vector<T> packed;
  };

  /// Throws invalid_config when either size is 0.
  explicit softmax_regression(std::size_t num_features = 784, std::size_t num_classes = 10)
      : features_(num_features), classes_(num_classes) {
    if (num_features == 0 || num_classes == 0)
      throw invalid_config("softmax_regression: num_features and num_classes must be > 0, got " +
                           std::to_string(num_features) + " and " + std::to_string(num_classes));
    layout_.add("fc.weight", {classes_, features_}, dtype_of<T>)
        .add("fc.bias", tensor_shape::vector(classes_), dtype_of<T>);
  }

  /// "fc.weight" [classes, features], "fc.bias" [classes].
  [[nodiscard]] const model_layout& layout() const noexcept { return layout_; }
  [[nodiscard]] std::size_t num_features() const noexcept { return features_; }
  [[nodiscard]] std::size_t num_classes() const noexcept { return classes_; }

  /// Glorot/Xavier uniform weights U(±√(6 / (features + classes))) (Glorot & Bengio 2010),
  /// zero biases; deterministic under `seed`.
  void initialize(std::span<T> params, std::uint64_t seed) const {
    detail::check_params("softmax_regression::initialize", layout_, params.size());
    rng gen(seed);
    const std::size_t nw = features_ * classes_;
    detail::fill_uniform(params.first(nw), std::sqrt(6.0 / static_cast<double>(features_ + classes_)), gen);
    for (auto& b : params.subspan(nw)) b = T(0);
  }

  /// A freshly initialized parameter vector.
  [[nodiscard]] flat_model<T> make_parameters(std::uint64_t seed) const {
    flat_model<T> model(layout_);
    initialize(model.span(), seed);
    return model;
  }

  /// logits = x Wᵀ + b for the rows of x (n × features, any row stride). Runs on
  /// kernels::active_isa() (see simulation/detail/dense_kernels.hpp).
  void forward(std::span<const T> params, const Eigen::Ref<const row_matrix<T>>& x, row_matrix<T>& logits,
               workspace& ws) const {
    detail::check_params("softmax_regression::forward", layout_, params.size());
    check_input(x);
    logits.resize(x.rows(), static_cast<Eigen::Index>(classes_));
    detail::dense_layer(kernels::active_isa(), static_cast<std::size_t>(x.rows()), classes_, features_,
                        x.data(), static_cast<std::size_t>(x.outerStride()), params.data(),
                        params.data() + classes_ * features_, logits.data(), false, ws.packed);
  }

  /// Mean cross-entropy over the rows of x; writes its gradient to `grad`:
  /// ∂/∂W = dZᵀ x, ∂/∂b = Σ_rows dZ with dZ = (softmax(z) − onehot(y)) / n.
  double loss_and_gradient(std::span<const T> params, const Eigen::Ref<const row_matrix<T>>& x,
                           std::span<const std::uint8_t> labels, std::span<T> grad, workspace& ws) const {
    detail::check_params("softmax_regression::loss_and_gradient", layout_, grad.size());
    detail::check_labels("softmax_regression::loss_and_gradient", x.rows(), labels, classes_);
    forward(params, x, ws.z, ws);
    const double loss = detail::softmax_cross_entropy_backward(ws.z, labels);
    const auto n = static_cast<std::size_t>(x.rows());
    detail::gemm_on(kernels::active_isa(), classes_, features_, n,
                    detail::strided<T>{ws.z.data(), 1, classes_}, x.data(),
                    static_cast<std::size_t>(x.outerStride()), grad.data(), features_);
    detail::column_sums(n, classes_, ws.z.data(), grad.data() + classes_ * features_);
    return loss;
  }

private:
  void check_input(const Eigen::Ref<const row_matrix<T>>& x) const {
    if (static_cast<std::size_t>(x.cols()) != features_)
      throw invalid_config("softmax_regression: input has " + std::to_string(x.cols()) +
                           " columns, the model " + std::to_string(features_) + " features");
  }

  std::size_t features_;
  std::size_t classes_;
  model_layout layout_;
};

static_assert(trainable_model<softmax_regression<float>>);
static_assert(trainable_model<softmax_regression<double>>);

} // namespace fedpp::simulation
