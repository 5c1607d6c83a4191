/// \file trainable_model.hpp
/// The concept a simulation model satisfies: an architecture object that publishes a
/// fedpp::model_layout and computes on parameters held in one flat vector (a flat_model's span),
/// so the federated code exchanges a model as a single vector.
///
/// | expression                                   | meaning                                               |
/// |----------------------------------------------|-------------------------------------------------------|
/// | `M::value_type`                              | float or double: the parameter and compute type       |
/// | `M::workspace`                               | default-constructible scratch, reused across calls    |
/// | `m.layout()`                                 | the parameters' model_layout (names, shapes, offsets) |
/// | `m.num_features()`, `m.num_classes()`        | input width and number of classes                     |
/// | `m.initialize(params, seed)`                 | deterministic initialization of a span of parameters  |
/// | `m.forward(params, x, logits, ws)`           | logits (n × classes) for the rows of x                |
/// | `m.loss_and_gradient(params, x, y, grad, ws)`| mean softmax cross-entropy over the rows; writes the  |
/// |                                              | full gradient to grad (overwrites every element)      |
#pragma once

#include "fedpp/tensor/model_layout.hpp"

#include <Eigen/Core>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>

namespace fedpp::simulation {

/// Dense row-major matrix: a batch has one example per row.
template <class T>
using row_matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// A model the simulation can train and evaluate (see the table above).
template <class M>
concept trainable_model = std::floating_point<typename M::value_type> &&
    std::default_initializable<typename M::workspace> &&
    requires(const M& m, std::span<const typename M::value_type> params,
             std::span<typename M::value_type> out_params, const row_matrix<typename M::value_type>& x,
             row_matrix<typename M::value_type>& logits, std::span<const std::uint8_t> labels,
             typename M::workspace& ws, std::uint64_t seed) {
  { m.layout() } -> std::convertible_to<const model_layout&>;
  { m.num_features() } -> std::convertible_to<std::size_t>;
  { m.num_classes() } -> std::convertible_to<std::size_t>;
  m.initialize(out_params, seed);
  m.forward(params, x, logits, ws);
  { m.loss_and_gradient(params, x, labels, out_params, ws) } -> std::convertible_to<double>;
};

} // namespace fedpp::simulation
