/// \file mlp.hpp
/// Two-layer perceptron z = W2 relu(W1 x + b1) + b2 (784-200-10 by default, the "2NN" of
/// McMahan et al. 2017 at one hidden layer), trained with softmax cross-entropy. Parameters
/// "fc1.weight" [hidden, features], "fc1.bias" [hidden], "fc2.weight" [classes, hidden],
/// "fc2.bias" [classes] (row-major, as PyTorch's Linear) in one flat vector.
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

/// One-hidden-layer ReLU network. A stateless architecture: parameters live in the caller's
/// flat vector, laid out by layout(), and are accessed through Eigen::Map.
template <std::floating_point T = float>
class mlp {
public:
  using value_type = T;
  /// Scratch for forward/backward: hidden activations, logits, hidden gradient, and a
  /// transposed copy of a weight matrix for large batches.
  struct workspace {
    row_matrix<T> h, z, dh;
    std::vector<T> packed;
  };

  /// Throws invalid_config when a size is 0.
  explicit mlp(std::size_t num_features = 784, std::size_t num_hidden = 200, std::size_t num_classes = 10)
      : features_(num_features), hidden_(num_hidden), classes_(num_classes) {
    if (num_features == 0 || num_hidden == 0 || num_classes == 0)
      throw invalid_config("mlp: sizes must be > 0, got features " + std::to_string(num_features) +
                           ", hidden " + std::to_string(num_hidden) + ", classes " +
                           std::to_string(num_classes));
    layout_.add("fc1.weight", {hidden_, features_}, dtype_of<T>)
        .add("fc1.bias", tensor_shape::vector(hidden_), dtype_of<T>)
        .add("fc2.weight", {classes_, hidden_}, dtype_of<T>)
        .add("fc2.bias", tensor_shape::vector(classes_), dtype_of<T>);
  }

  /// fc1.weight, fc1.bias, fc2.weight, fc2.bias (see the file comment).
  [[nodiscard]] const model_layout& layout() const noexcept { return layout_; }
  [[nodiscard]] std::size_t num_features() const noexcept { return features_; }
  [[nodiscard]] std::size_t num_hidden() const noexcept { return hidden_; }
  [[nodiscard]] std::size_t num_classes() const noexcept { return classes_; }

  /// He/Kaiming uniform fc1 weights U(±√(6 / features)) for the ReLU layer (He et al. 2015),
  /// Glorot uniform fc2 weights U(±√(6 / (hidden + classes))), zero biases; deterministic under
  /// `seed`.
  void initialize(std::span<T> params, std::uint64_t seed) const {
    detail::check_params("mlp::initialize", layout_, params.size());
    rng gen(seed);
    for (auto& v : params) v = T(0);
    detail::fill_uniform(params.subspan(layout_[0].offset, layout_[0].size()),
                         std::sqrt(6.0 / static_cast<double>(features_)), gen);
    detail::fill_uniform(params.subspan(layout_[2].offset, layout_[2].size()),
                         std::sqrt(6.0 / static_cast<double>(hidden_ + classes_)), gen);
  }

  /// A freshly initialized parameter vector.
  [[nodiscard]] flat_model<T> make_parameters(std::uint64_t seed) const {
    flat_model<T> model(layout_);
    initialize(model.span(), seed);
    return model;
  }

  /// logits for the rows of x (n × features, any row stride); leaves the hidden activations in
  /// ws.h. Runs on kernels::active_isa() (see simulation/detail/dense_kernels.hpp).
  void forward(std::span<const T> params, const Eigen::Ref<const row_matrix<T>>& x, row_matrix<T>& logits,
               workspace& ws) const {
    detail::check_params("mlp::forward", layout_, params.size());
    if (static_cast<std::size_t>(x.cols()) != features_)
      throw invalid_config("mlp: input has " + std::to_string(x.cols()) + " columns, the model " +
                           std::to_string(features_) + " features");
    const auto path = kernels::active_isa();
    const T* p = params.data();
    const auto n = static_cast<std::size_t>(x.rows());
    ws.h.resize(x.rows(), idx(hidden_));
    logits.resize(x.rows(), idx(classes_));
    // H = relu(X W1ᵀ + b1), then Z = H W2ᵀ + b2.
    detail::dense_layer(path, n, hidden_, features_, x.data(), static_cast<std::size_t>(x.outerStride()),
                        p + layout_[0].offset, p + layout_[1].offset, ws.h.data(), true, ws.packed);
    detail::dense_layer(path, n, classes_, hidden_, ws.h.data(), hidden_, p + layout_[2].offset,
                        p + layout_[3].offset, logits.data(), false, ws.packed);
  }

  /// Mean cross-entropy over the rows of x; writes its gradient to `grad` by backpropagation:
  /// dZ = (softmax(z) − onehot(y)) / n, ∂W2 = dZᵀ H, ∂b2 = Σ dZ, dH = (dZ W2) ⊙ [H > 0],
  /// ∂W1 = dHᵀ x, ∂b1 = Σ dH.
  double loss_and_gradient(std::span<const T> params, const Eigen::Ref<const row_matrix<T>>& x,
                           std::span<const std::uint8_t> labels, std::span<T> grad, workspace& ws) const {
    detail::check_params("mlp::loss_and_gradient", layout_, grad.size());
    detail::check_labels("mlp::loss_and_gradient", x.rows(), labels, classes_);
    forward(params, x, ws.z, ws);
    const double loss = detail::softmax_cross_entropy_backward(ws.z, labels);
    const auto path = kernels::active_isa();
    const auto n = static_cast<std::size_t>(x.rows());
    const T* p = params.data();
    T* g = grad.data();
    const T* dz = ws.z.data();
    detail::gemm_on(path, classes_, hidden_, n, detail::strided<T>{dz, 1, classes_}, ws.h.data(), hidden_,
                    g + layout_[2].offset, hidden_);
    detail::column_sums(n, classes_, dz, g + layout_[3].offset);
    ws.dh.resize(x.rows(), idx(hidden_));
    T* dh = ws.dh.data();
    detail::gemm_on(path, n, hidden_, classes_, detail::strided<T>{dz, classes_, 1}, p + layout_[2].offset,
                    hidden_, dh, hidden_);
    const T* h = ws.h.data();
    for (std::size_t i = 0; i < n * hidden_; ++i) dh[i] = h[i] > T(0) ? dh[i] : T(0);
    detail::gemm_on(path, hidden_, features_, n, detail::strided<T>{dh, 1, hidden_}, x.data(),
                    static_cast<std::size_t>(x.outerStride()), g + layout_[0].offset, features_);
    detail::column_sums(n, hidden_, dh, g + layout_[1].offset);
    return loss;
  }

private:
  static Eigen::Index idx(std::size_t n) noexcept { return static_cast<Eigen::Index>(n); }

  std::size_t features_;
  std::size_t hidden_;
  std::size_t classes_;
  model_layout layout_;
};

static_assert(trainable_model<mlp<float>>);
static_assert(trainable_model<mlp<double>>);

} // namespace fedpp::simulation
