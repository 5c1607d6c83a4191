/// \file distillation_adapter.hpp
/// distillation::distillable_model for the simulation's models (simulation::softmax_regression,
/// simulation::mlp): logits of feature rows through the model's own forward pass, and the backward pass from
/// a given logit gradient dZ (the models' loss_and_gradient backpropagates their cross-entropy's dZ the same
/// way): softmax regression ∂W = dZᵀ X, ∂b = Σ_rows dZ; MLP ∂W2 = dZᵀ H, ∂b2 = Σ dZ, dH = (dZ W2) ⊙ [H > 0],
/// ∂W1 = dHᵀ X, ∂b1 = Σ dH. Part of fedpp::simulation (Eigen), so it lives here rather than in distillation/
/// (whose headers need only a C++20 compiler).
#pragma once

#include "fedpp/distillation/distillable_model.hpp"
#include "fedpp/distillation/feddf_aggregator.hpp"
#include "fedpp/error.hpp"
#include "fedpp/kernels/dispatch.hpp"
#include "fedpp/simulation/detail/dense_kernels.hpp"
#include "fedpp/simulation/mlp.hpp"
#include "fedpp/simulation/softmax_regression.hpp"
#include "fedpp/tensor/model_layout.hpp"

#include <Eigen/Core>

#include <algorithm>
#include <cstddef>
#include <span>
#include <string>
#include <type_traits>

namespace fedpp::simulation {

namespace detail {
template <class M>
inline constexpr bool is_simulation_model = false;
template <class T>
inline constexpr bool is_simulation_model<softmax_regression<T>> = true;
template <class T>
inline constexpr bool is_simulation_model<mlp<T>> = true;
} // namespace detail

/// A simulation model (softmax_regression or mlp) seen as a distillation::distillable_model. Holds the
/// (stateless) architecture by value.
template <class Model>
requires detail::is_simulation_model<Model>
class distillation_adapter {
public:
  using value_type = typename Model::value_type;
  using model_type = Model;
  /// The model's own scratch, plus the logits it writes.
  struct workspace {
    typename Model::workspace model;
    row_matrix<value_type> z;
  };

  explicit distillation_adapter(Model model = Model()) : model_(std::move(model)) {}

  [[nodiscard]] const Model& model() const noexcept { return model_; }
  [[nodiscard]] const model_layout& layout() const noexcept { return model_.layout(); }
  [[nodiscard]] std::size_t num_features() const noexcept { return model_.num_features(); }
  [[nodiscard]] std::size_t num_classes() const noexcept { return model_.num_classes(); }

  /// The logits (n × C) of the n rows in `rows`. Throws invalid_config for sizes that disagree.
  void logits(std::span<const value_type> params, std::span<const value_type> rows, std::span<value_type> out,
              workspace& ws) const {
    const std::size_t n = check_rows("logits", rows, out.size());
    const Eigen::Map<const row_matrix<value_type>> x(rows.data(), idx(n), idx(num_features()));
    model_.forward(params, x, ws.z, ws.model);
    std::copy_n(ws.z.data(), n * num_classes(), out.begin());
  }

  /// grad = (∂z/∂θ)ᵀ dlogits for the rows of the preceding logits() call (same params, rows, ws).
  void backward(std::span<const value_type> params, std::span<const value_type> rows,
                std::span<const value_type> dlogits, std::span<value_type> grad, workspace& ws) const {
    using detail::column_sums;
    using detail::gemm_on;
    using detail::strided;
    const std::size_t n = check_rows("backward", rows, dlogits.size());
    if (grad.size() != layout().total_size() || params.size() != layout().total_size())
      throw invalid_config("distillation_adapter::backward: " + std::to_string(params.size()) +
                           " parameters and " + std::to_string(grad.size()) +
                           " gradient elements, the model has " + std::to_string(layout().total_size()));
    const auto path = kernels::active_isa();
    const std::size_t f = num_features(), c = num_classes();
    const value_type* x = rows.data();
    const value_type* dz = dlogits.data();
    value_type* g = grad.data();
    if constexpr (std::is_same_v<Model, softmax_regression<value_type>>) {
      gemm_on(path, c, f, n, strided<value_type>{dz, 1, c}, x, f, g, f);
      column_sums(n, c, dz, g + c * f);
    } else {
      const auto& l = layout();
      const std::size_t h = model_.num_hidden();
      if (static_cast<std::size_t>(ws.model.h.rows()) != n)
        throw invalid_config("distillation_adapter::backward: call logits() on the same rows first");
      const value_type* p = params.data();
      const value_type* hidden = ws.model.h.data();
      gemm_on(path, c, h, n, strided<value_type>{dz, 1, c}, hidden, h, g + l[2].offset, h);
      column_sums(n, c, dz, g + l[3].offset);
      ws.model.dh.resize(idx(n), idx(h));
      value_type* dh = ws.model.dh.data();
      gemm_on(path, n, h, c, strided<value_type>{dz, c, 1}, p + l[2].offset, h, dh, h);
      for (std::size_t i = 0; i < n * h; ++i) dh[i] = hidden[i] > value_type(0) ? dh[i] : value_type(0);
      gemm_on(path, h, f, n, strided<value_type>{dh, 1, h}, x, f, g + l[0].offset, f);
      column_sums(n, h, dh, g + l[1].offset);
    }
  }

private:
  static Eigen::Index idx(std::size_t v) noexcept { return static_cast<Eigen::Index>(v); }

  std::size_t check_rows(const char* who, std::span<const value_type> rows, std::size_t outputs) const {
    const std::size_t f = num_features();
    if (rows.size() % f != 0 || outputs != rows.size() / f * num_classes())
      throw invalid_config(std::string("distillation_adapter::") + who + ": " + std::to_string(rows.size()) +
                           " feature values and " + std::to_string(outputs) + " logits do not make rows of " +
                           std::to_string(f) + " features and " + std::to_string(num_classes()) + " classes");
    return rows.size() / f;
  }

  Model model_;
};

static_assert(distillation::distillable_model<distillation_adapter<softmax_regression<float>>>);
static_assert(distillation::distillable_model<distillation_adapter<mlp<double>>>);
static_assert(aggregator<distillation::feddf_aggregator<distillation_adapter<mlp<float>>>>);

} // namespace fedpp::simulation
