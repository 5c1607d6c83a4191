/// \file distillable_model.hpp
/// The concept a model satisfies to be distilled or to teach: logits of a batch of feature rows
/// for a flat parameter vector, and the gradient w.r.t. the parameters of any loss whose gradient
/// w.r.t. those logits is given (one backward pass). Nothing else is assumed about the model, so a
/// user's own network plugs in; simulation/distillation_adapter.hpp adapts the simulation's
/// softmax_regression and mlp.
///
/// | expression                                  | meaning                                                 |
/// |---------------------------------------------|---------------------------------------------------------|
/// | `M::value_type`                             | float or double: parameters, features and logits        |
/// | `M::workspace`                              | default-constructible scratch, reused across calls      |
/// | `m.layout()`                                | the parameters' model_layout                            |
/// | `m.num_features()`, `m.num_classes()`       | F, the width of a feature row; C, the number of logits  |
/// | `m.logits(params, rows, out, ws)`           | rows: n × F row-major; writes the n × C logits to out   |
/// | `m.backward(params, rows, dlogits, grad, ws)` | grad = (∂z/∂θ)ᵀ · dlogits (overwrites every element),  |
/// |                                             | right after logits() on the same params, rows and ws    |
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/tensor/model_layout.hpp"

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <span>
#include <string>

namespace fedpp::distillation {

/// See the table above.
template <class M>
concept distillable_model = std::floating_point<typename M::value_type> &&
    std::default_initializable<typename M::workspace> &&
    requires(const M& m, std::span<const typename M::value_type> params,
             std::span<const typename M::value_type> rows, std::span<typename M::value_type> out,
             std::span<const typename M::value_type> dlogits, std::span<typename M::value_type> grad,
             typename M::workspace& ws) {
  { m.layout() } -> std::convertible_to<const model_layout&>;
  { m.num_features() } -> std::convertible_to<std::size_t>;
  { m.num_classes() } -> std::convertible_to<std::size_t>;
  m.logits(params, rows, out, ws);
  m.backward(params, rows, dlogits, grad, ws);
};

/// The logits (n × C) of every row of `rows` (n × F), computed `batch` rows at a time so the
/// model's scratch stays small. Throws invalid_config for sizes that disagree with the model.
template <distillable_model M>
void logits_of_rows(const M& model, std::span<const typename M::value_type> params,
                    std::span<const typename M::value_type> rows, std::span<typename M::value_type> out,
                    typename M::workspace& ws, std::size_t batch = 256) {
  const std::size_t f = model.num_features();
  const std::size_t c = model.num_classes();
  if (params.size() != model.layout().total_size())
    throw invalid_config("logits_of_rows: " + std::to_string(params.size()) + " parameters, the model has " +
                         std::to_string(model.layout().total_size()));
  if (f == 0 || rows.size() % f != 0 || out.size() != rows.size() / f * c)
    throw invalid_config("logits_of_rows: " + std::to_string(rows.size()) + " feature values and " +
                         std::to_string(out.size()) + " outputs do not make rows of " + std::to_string(f) +
                         " features and " + std::to_string(c) + " classes");
  if (batch == 0) throw invalid_config("logits_of_rows: batch must be > 0");
  const std::size_t n = rows.size() / f;
  for (std::size_t b = 0; b < n; b += batch) {
    const std::size_t k = std::min(batch, n - b);
    model.logits(params, rows.subspan(b * f, k * f), out.subspan(b * c, k * c), ws);
  }
}

} // namespace fedpp::distillation
