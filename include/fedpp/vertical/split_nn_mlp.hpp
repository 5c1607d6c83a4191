/// \file split_nn_mlp.hpp
/// The layer stack of a split neural network's bottom and top models: fully connected layers
/// w₀ → w₁ → … → w_L with ReLU between them (and, optionally, after the last), on one flat
/// parameter vector laid out as PyTorch's Linear ("<prefix>fc<l>.weight" [w_l, w_{l−1}] row-major,
/// "<prefix>fc<l>.bias" [w_l]). Forward and backward run on the simulation models' dense kernels
/// (simulation/detail/dense_kernels.hpp: run-time AVX2 / AVX-512 choice), in float or double.
/// Also split_nn_rows, a party's feature rows (row i = aligned example i).
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/kernels/dispatch.hpp"
#include "fedpp/random/rng.hpp"
#include "fedpp/simulation/detail/dense_kernels.hpp"
#include "fedpp/tensor/dtype.hpp"
#include "fedpp/tensor/model_layout.hpp"
#include "fedpp/tensor/tensor_shape.hpp"

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace fedpp::vertical {

/// A stack of fully connected layers on a flat parameter vector. Stateless: parameters,
/// gradients and scratch belong to the caller.
template <std::floating_point T>
class split_nn_mlp {
public:
  using value_type = T;

  /// Scratch of forward/backward: each layer's output (kept for backward), the gradient being
  /// propagated, and a transposed weight copy for large batches.
  struct workspace {
    std::vector<std::vector<T>> outputs; ///< outputs[l]: layer l's output, n × w_{l+1}
    std::vector<T> delta, next;          ///< gradients w.r.t. a layer's output / input
    std::vector<T> packed;
  };

  /// Layers widths[0] → widths[1] → … → widths.back(); ReLU after every layer but the last, and
  /// after the last too when `relu_output`. Tensor names start with `prefix`. Throws
  /// invalid_config for fewer than 2 widths or a width of 0.
  explicit split_nn_mlp(std::vector<std::size_t> widths, bool relu_output = false, std::string prefix = "")
      : widths_(std::move(widths)), relu_output_(relu_output) {
    if (widths_.size() < 2)
      throw invalid_config("split_nn_mlp: needs an input and at least one layer width, got " +
                           std::to_string(widths_.size()) + " width(s)");
    for (std::size_t w : widths_)
      if (w == 0) throw invalid_config("split_nn_mlp: a layer width is 0");
    for (std::size_t l = 1; l < widths_.size(); ++l) {
      const std::string name = prefix + "fc" + std::to_string(l);
      layout_.add(name + ".weight", {widths_[l], widths_[l - 1]}, dtype_of<T>)
          .add(name + ".bias", tensor_shape::vector(widths_[l]), dtype_of<T>);
    }
  }

  /// The flat parameter layout (weight then bias of each layer, in order).
  [[nodiscard]] const model_layout& layout() const noexcept { return layout_; }
  /// Number of parameters.
  [[nodiscard]] std::size_t num_parameters() const noexcept { return layout_.total_size(); }
  /// Input width w₀.
  [[nodiscard]] std::size_t input_width() const noexcept { return widths_.front(); }
  /// Output width w_L.
  [[nodiscard]] std::size_t output_width() const noexcept { return widths_.back(); }
  /// Number of layers L.
  [[nodiscard]] std::size_t num_layers() const noexcept { return widths_.size() - 1; }
  /// The widths w₀ … w_L.
  [[nodiscard]] const std::vector<std::size_t>& widths() const noexcept { return widths_; }
  /// True when the last layer is followed by a ReLU.
  [[nodiscard]] bool relu_output() const noexcept { return relu_output_; }

  /// Weights of layers followed by a ReLU ~ U(±√(6 / fan_in)) (He et al. 2015), of a final linear
  /// layer ~ U(±√(6 / (fan_in + fan_out))) (Glorot & Bengio 2010); biases 0. Deterministic in
  /// `seed`. Throws invalid_config when params has the wrong size.
  void initialize(std::span<T> params, std::uint64_t seed) const {
    check_size("initialize", "parameters", params.size(), num_parameters());
    rng gen(seed);
    for (std::size_t l = 0; l < num_layers(); ++l) {
      const double fan_in = static_cast<double>(widths_[l]), fan_out = static_cast<double>(widths_[l + 1]);
      const double limit = relu_after(l) ? std::sqrt(6.0 / fan_in) : std::sqrt(6.0 / (fan_in + fan_out));
      auto w = params.subspan(layout_[2 * l].offset, layout_[2 * l].size());
      for (auto& v : w) v = static_cast<T>((2.0 * gen.uniform() - 1.0) * limit);
      for (auto& v : params.subspan(layout_[2 * l + 1].offset, layout_[2 * l + 1].size())) v = T(0);
    }
  }

  /// Forward pass over n rows of x (row stride ldx ≥ w₀); returns the output (n × w_L, contiguous,
  /// inside `ws`, valid until the next call with `ws`). Throws invalid_config for a wrong
  /// parameter count or row stride.
  std::span<const T> forward(std::span<const T> params, std::size_t n, const T* x, std::size_t ldx,
                             workspace& ws) const {
    check_size("forward", "parameters", params.size(), num_parameters());
    if (ldx < input_width())
      throw invalid_config("split_nn_mlp::forward: row stride " + std::to_string(ldx) +
                           " is below the input width " + std::to_string(input_width()));
    const auto path = kernels::active_isa();
    ws.outputs.resize(num_layers());
    const T* in = x;
    std::size_t ld = ldx;
    for (std::size_t l = 0; l < num_layers(); ++l) {
      auto& out = ws.outputs[l];
      out.resize(n * widths_[l + 1]);
      if (n > 0)
        simulation::detail::dense_layer(
            path, n, widths_[l + 1], widths_[l], in, ld, params.data() + layout_[2 * l].offset,
            params.data() + layout_[2 * l + 1].offset, out.data(), relu_after(l), ws.packed);
      in = out.data();
      ld = widths_[l + 1];
    }
    return {ws.outputs.back().data(), n * output_width()};
  }

  /// Backward pass after forward(params, n, x, ldx, ws): given dy, the gradient of the loss
  /// w.r.t. the output (n × w_L), writes the gradient w.r.t. the parameters to `grad` and, when
  /// `dx` is not empty, w.r.t. the input (n × w₀, contiguous) to `dx`:
  /// per layer, dz = dy ⊙ [out > 0] (ReLU layers), ∂W = dzᵀ·in, ∂b = Σ_rows dz, d in = dz·W.
  void backward(std::span<const T> params, std::size_t n, const T* x, std::size_t ldx, std::span<const T> dy,
                std::span<T> grad, std::span<T> dx, workspace& ws) const {
    check_size("backward", "parameters", params.size(), num_parameters());
    check_size("backward", "gradient entries", grad.size(), num_parameters());
    check_size("backward", "output gradient values", dy.size(), n * output_width());
    if (!dx.empty()) check_size("backward", "input gradient values", dx.size(), n * input_width());
    if (ws.outputs.size() != num_layers() || ws.outputs.back().size() != n * output_width())
      throw invalid_config("split_nn_mlp::backward: the workspace does not hold a forward pass of " +
                           std::to_string(n) + " rows");
    const auto path = kernels::active_isa();
    ws.delta.assign(dy.begin(), dy.end());
    for (std::size_t l = num_layers(); l-- > 0;) {
      const std::size_t out_w = widths_[l + 1], in_w = widths_[l];
      T* dz = ws.delta.data();
      if (relu_after(l)) {
        const T* out = ws.outputs[l].data();
        for (std::size_t i = 0; i < n * out_w; ++i) dz[i] = out[i] > T(0) ? dz[i] : T(0);
      }
      const T* in = l == 0 ? x : ws.outputs[l - 1].data();
      const std::size_t ld = l == 0 ? ldx : in_w;
      T* gw = grad.data() + layout_[2 * l].offset;
      T* gb = grad.data() + layout_[2 * l + 1].offset;
      if (n == 0) {
        for (std::size_t i = 0; i < out_w * in_w; ++i) gw[i] = T(0);
        for (std::size_t j = 0; j < out_w; ++j) gb[j] = T(0);
        continue;
      }
      simulation::detail::gemm_on(path, out_w, in_w, n, simulation::detail::strided<T>{dz, 1, out_w}, in, ld,
                                  gw, in_w);
      simulation::detail::column_sums(n, out_w, dz, gb);
      if (l == 0 && dx.empty()) break;
      T* target = nullptr;
      if (l == 0) {
        target = dx.data();
      } else {
        ws.next.resize(n * in_w);
        target = ws.next.data();
      }
      simulation::detail::gemm_on(path, n, in_w, out_w, simulation::detail::strided<T>{dz, out_w, 1},
                                  params.data() + layout_[2 * l].offset, in_w, target, in_w);
      if (l > 0) std::swap(ws.delta, ws.next);
    }
  }

private:
  [[nodiscard]] bool relu_after(std::size_t l) const noexcept { return l + 1 < num_layers() || relu_output_; }

  static void check_size(const char* who, const char* what, std::size_t got, std::size_t expected) {
    if (got != expected)
      throw invalid_config(std::string("split_nn_mlp::") + who + ": " + std::to_string(got) + " " + what +
                           ", expected " + std::to_string(expected));
  }

  std::vector<std::size_t> widths_;
  bool relu_output_;
  model_layout layout_;
};

} // namespace fedpp::vertical

namespace fedpp::vertical {

/// A party's rows of features, row-major: row i (the aligned example with id i) starts at
/// data + i·stride and holds `width` values. The memory is the caller's and must outlive use.
template <std::floating_point T>
struct split_nn_rows {
  const T* data = nullptr; ///< first row
  std::size_t rows = 0;    ///< number of aligned examples
  std::size_t width = 0;   ///< features per example
  std::size_t stride = 0;  ///< distance between rows, in values (≥ width)

  /// Copies the rows `ids` into `out` (ids.size() × width, contiguous). Throws invalid_config
  /// for an id ≥ rows, or a view whose stride is below its width.
  void gather(std::span<const std::uint64_t> ids, std::vector<T>& out) const {
    if (stride < width || (rows > 0 && data == nullptr))
      throw invalid_config("split_nn_rows: a view of " + std::to_string(rows) + " rows of width " +
                           std::to_string(width) + " with stride " + std::to_string(stride));
    out.resize(ids.size() * width);
    for (std::size_t r = 0; r < ids.size(); ++r) {
      if (ids[r] >= rows)
        throw invalid_config("split_nn_rows: example id " + std::to_string(ids[r]) + " is not below the " +
                             std::to_string(rows) + " rows of this party");
      const T* src = data + static_cast<std::size_t>(ids[r]) * stride;
      std::copy(src, src + width, out.data() + r * width);
    }
  }
};

} // namespace fedpp::vertical
