/// \file mlp.hpp
/// Two-layer perceptron z = W2 relu(W1 x + b1) + b2 (784-200-10 by default, the "2NN" of
/// McMahan et al. 2017 at one hidden layer), trained with softmax cross-entropy. Parameters
/// "fc1.weight" [hidden, features], "fc1.bias" [hidden], "fc2.weight" [classes, hidden],
/// "fc2.bias" [classes] (row-major, as PyTorch's Linear) in one flat vector.
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/random/rng.hpp"
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

namespace fedpp::simulation {

/// One-hidden-layer ReLU network. A stateless architecture: parameters live in the caller's
/// flat vector, laid out by layout(), and are accessed through Eigen::Map.
template <std::floating_point T = float>
class mlp {
public:
  using value_type = T;
  /// Scratch for forward/backward: hidden activations, logits, hidden gradient.
  struct workspace {
    row_matrix<T> h, z, dh;
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

  /// logits for the rows of x (n × features); leaves the hidden activations in ws.h.
  void forward(std::span<const T> params, const row_matrix<T>& x, row_matrix<T>& logits,
               workspace& ws) const {
    detail::check_params("mlp::forward", layout_, params.size());
    if (static_cast<std::size_t>(x.cols()) != features_)
      throw invalid_config("mlp: input has " + std::to_string(x.cols()) + " columns, the model " +
                           std::to_string(features_) + " features");
    const T* p = params.data();
    ws.h.resize(x.rows(), idx(hidden_));
    ws.h.noalias() = x * cmat(p + layout_[0].offset, hidden_, features_).transpose();
    ws.h.rowwise() += cvec(p + layout_[1].offset, hidden_).transpose();
    ws.h = ws.h.cwiseMax(T(0));
    logits.resize(x.rows(), idx(classes_));
    logits.noalias() = ws.h * cmat(p + layout_[2].offset, classes_, hidden_).transpose();
    logits.rowwise() += cvec(p + layout_[3].offset, classes_).transpose();
  }

  /// Mean cross-entropy over the rows of x; writes its gradient to `grad` by backpropagation:
  /// dZ = (softmax(z) − onehot(y)) / n, ∂W2 = dZᵀ H, ∂b2 = Σ dZ, dH = (dZ W2) ⊙ [H > 0],
  /// ∂W1 = dHᵀ x, ∂b1 = Σ dH.
  double loss_and_gradient(std::span<const T> params, const row_matrix<T>& x,
                           std::span<const std::uint8_t> labels, std::span<T> grad, workspace& ws) const {
    detail::check_params("mlp::loss_and_gradient", layout_, grad.size());
    detail::check_labels("mlp::loss_and_gradient", x.rows(), labels, classes_);
    forward(params, x, ws.z, ws);
    const double loss = detail::softmax_cross_entropy_backward(ws.z, labels);
    const T* p = params.data();
    T* g = grad.data();
    mat(g + layout_[2].offset, classes_, hidden_).noalias() = ws.z.transpose() * ws.h;
    vec(g + layout_[3].offset, classes_) = ws.z.colwise().sum().transpose();
    ws.dh.resize(x.rows(), idx(hidden_));
    ws.dh.noalias() = ws.z * cmat(p + layout_[2].offset, classes_, hidden_);
    ws.dh = (ws.h.array() > T(0)).select(ws.dh, T(0));
    mat(g + layout_[0].offset, hidden_, features_).noalias() = ws.dh.transpose() * x;
    vec(g + layout_[1].offset, hidden_) = ws.dh.colwise().sum().transpose();
    return loss;
  }

private:
  static Eigen::Index idx(std::size_t n) noexcept { return static_cast<Eigen::Index>(n); }
  static Eigen::Map<const row_matrix<T>> cmat(const T* p, std::size_t r, std::size_t c) {
    return {p, idx(r), idx(c)};
  }
  static Eigen::Map<row_matrix<T>> mat(T* p, std::size_t r, std::size_t c) { return {p, idx(r), idx(c)}; }
  static Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, 1>> cvec(const T* p, std::size_t n) {
    return {p, idx(n)};
  }
  static Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, 1>> vec(T* p, std::size_t n) { return {p, idx(n)}; }

  std::size_t features_;
  std::size_t hidden_;
  std::size_t classes_;
  model_layout layout_;
};

static_assert(trainable_model<mlp<float>>);
static_assert(trainable_model<mlp<double>>);

} // namespace fedpp::simulation
