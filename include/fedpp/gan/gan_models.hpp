/// \file gan_models.hpp
/// A generator G and a discriminator D as small fully connected networks on ONE flat parameter
/// vector: G's tensors ("gen.fc<l>.weight" [out, in] row-major as PyTorch's Linear,
/// "gen.fc<l>.bias") first, then D's ("disc.fc<l>.*"), so the server can aggregate the two
/// halves separately (gan/gan_plan.hpp over aggregation/grouped_aggregator.hpp).
///
///   G: [z | onehot(y)] → LeakyReLU hidden layers → sigmoid(·) ∈ (0, 1)^data_dim
///   D: [x | onehot(y)] → LeakyReLU hidden layers → one logit
///
/// The one-hot label is present only in the conditional variant (num_classes > 0; Mirza &
/// Osindero 2014, "Conditional Generative Adversarial Nets": the label concatenated to the
/// inputs of both networks). Losses (Goodfellow et al. 2014, "Generative Adversarial Nets"):
///   L_D = mean_real softplus(−D(x)) + mean_fake softplus(D(G(z)))   (binary cross-entropy)
///   L_G = mean softplus(−D(G(z))) = −mean log σ(D(G(z)))          (the non-saturating loss, Sec. 3)
/// Forward and backward are written here over the simulation models' matrix products
/// (simulation/detail/dense_kernels.hpp, run-time AVX2 / AVX-512 choice); the backward pass of G
/// runs through D to D's input. Adam (Kingma & Ba 2015, Algorithm 1) updates either half.
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/kernels/dispatch.hpp"
#include "fedpp/random/distributions.hpp"
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

namespace fedpp::gan {

/// Activation after a dense layer.
enum class activation : std::uint8_t {
  identity,   ///< y = a
  leaky_relu, ///< y = a for a > 0, slope · a otherwise
  sigmoid     ///< y = 1 / (1 + e^(−a))
};

/// Numerically stable softplus(a) = log(1 + e^a).
[[nodiscard]] inline double softplus(double a) noexcept {
  return std::max(a, 0.0) + std::log1p(std::exp(-std::abs(a)));
}
/// σ(a) = 1 / (1 + e^(−a)), without overflow for large |a|.
[[nodiscard]] inline double sigmoid(double a) noexcept {
  if (a >= 0) return 1.0 / (1.0 + std::exp(-a));
  const double e = std::exp(a);
  return e / (1.0 + e);
}

/// A stack of dense layers w₀ → w₁ → … → w_L with one activation per layer, on a flat parameter
/// vector (tensors named "<prefix>fc<l>.weight" [w_l, w_{l−1}] and "<prefix>fc<l>.bias" [w_l]).
/// Stateless: parameters, gradients and scratch belong to the caller.
template <std::floating_point T>
class dense_stack {
public:
  /// Scratch of forward/backward: every layer's output (kept for backward), the gradient being
  /// propagated, a transposed weight copy for large batches.
  struct workspace {
    std::vector<std::vector<T>> outputs;
    std::vector<T> delta, next, packed;
  };

  /// Throws invalid_config for fewer than 2 widths, a zero width, a number of activations other
  /// than the number of layers, or a leaky slope outside (0, 1).
  dense_stack(std::vector<std::size_t> widths, std::vector<activation> activations, double leaky_slope,
              const std::string& prefix)
      : widths_(std::move(widths)), acts_(std::move(activations)), slope_(leaky_slope) {
    if (widths_.size() < 2) throw invalid_config("gan::dense_stack: needs at least two widths");
    for (std::size_t w : widths_)
      if (w == 0) throw invalid_config("gan::dense_stack: a layer width is 0");
    if (acts_.size() != widths_.size() - 1)
      throw invalid_config("gan::dense_stack: " + std::to_string(acts_.size()) + " activations for " +
                           std::to_string(widths_.size() - 1) + " layers");
    if (!(slope_ > 0 && slope_ < 1))
      throw invalid_config("gan::dense_stack: the leaky ReLU slope must be in (0, 1), got " +
                           std::to_string(slope_));
    for (std::size_t l = 1; l < widths_.size(); ++l) {
      const std::string name = prefix + "fc" + std::to_string(l);
      layout_.add(name + ".weight", {widths_[l], widths_[l - 1]}, dtype_of<T>)
          .add(name + ".bias", tensor_shape::vector(widths_[l]), dtype_of<T>);
    }
  }

  [[nodiscard]] const model_layout& layout() const noexcept { return layout_; }
  [[nodiscard]] std::size_t num_parameters() const noexcept { return layout_.total_size(); }
  [[nodiscard]] std::size_t input_width() const noexcept { return widths_.front(); }
  [[nodiscard]] std::size_t output_width() const noexcept { return widths_.back(); }
  [[nodiscard]] std::size_t num_layers() const noexcept { return widths_.size() - 1; }

  /// Weights before a leaky ReLU ~ U(±√(6 / ((1 + slope²) fan_in))) (He et al. 2015), others
  /// ~ U(±√(6 / (fan_in + fan_out))) (Glorot & Bengio 2010); biases 0. Draws from `gen`.
  void initialize(std::span<T> params, rng& gen) const {
    check("initialize", "parameters", params.size(), num_parameters());
    for (std::size_t l = 0; l < num_layers(); ++l) {
      const double fan_in = static_cast<double>(widths_[l]), fan_out = static_cast<double>(widths_[l + 1]);
      const double limit = acts_[l] == activation::leaky_relu
                               ? std::sqrt(6.0 / ((1 + slope_ * slope_) * fan_in))
                               : std::sqrt(6.0 / (fan_in + fan_out));
      for (auto& v : params.subspan(layout_[2 * l].offset, layout_[2 * l].size()))
        v = static_cast<T>((2.0 * gen.uniform() - 1.0) * limit);
      for (auto& v : params.subspan(layout_[2 * l + 1].offset, layout_[2 * l + 1].size())) v = T(0);
    }
  }

  /// Forward pass over n rows of x (row stride ldx ≥ w₀); the output (n × w_L) lives in `ws`
  /// until its next use.
  std::span<const T> forward(std::span<const T> params, std::size_t n, const T* x, std::size_t ldx,
                             workspace& ws) const {
    check("forward", "parameters", params.size(), num_parameters());
    if (ldx < input_width())
      throw invalid_config("gan::dense_stack::forward: row stride " + std::to_string(ldx) +
                           " below the width " + std::to_string(input_width()));
    const auto path = kernels::active_isa();
    ws.outputs.resize(num_layers());
    const T* in = x;
    std::size_t ld = ldx;
    for (std::size_t l = 0; l < num_layers(); ++l) {
      auto& out = ws.outputs[l];
      const std::size_t w = widths_[l + 1];
      out.resize(n * w);
      if (n > 0)
        simulation::detail::dense_layer(path, n, w, widths_[l], in, ld, params.data() + layout_[2 * l].offset,
                                        params.data() + layout_[2 * l + 1].offset, out.data(), false,
                                        ws.packed);
      apply(acts_[l], out);
      in = out.data();
      ld = w;
    }
    return {ws.outputs.back().data(), n * output_width()};
  }

  /// After forward(params, n, x, ldx, ws): dy is ∂loss/∂output (n × w_L). Writes ∂loss/∂params
  /// to `grad` (overwritten) and, when `dx` is not empty, ∂loss/∂x (n × w₀, contiguous) to dx.
  /// Per layer: da = dy ⊙ act′ (from the output: leaky 1 or slope by sign, sigmoid y(1 − y)),
  /// ∂W = daᵀ·in, ∂b = Σ_rows da, d in = da·W.
  void backward(std::span<const T> params, std::size_t n, const T* x, std::size_t ldx, std::span<const T> dy,
                std::span<T> grad, std::span<T> dx, workspace& ws) const {
    check("backward", "parameters", params.size(), num_parameters());
    check("backward", "gradient entries", grad.size(), num_parameters());
    check("backward", "output gradient values", dy.size(), n * output_width());
    if (!dx.empty()) check("backward", "input gradient values", dx.size(), n * input_width());
    if (ws.outputs.size() != num_layers() || ws.outputs.back().size() != n * output_width())
      throw invalid_config("gan::dense_stack::backward: the workspace holds no forward pass of " +
                           std::to_string(n) + " rows");
    const auto path = kernels::active_isa();
    ws.delta.assign(dy.begin(), dy.end());
    for (std::size_t l = num_layers(); l-- > 0;) {
      const std::size_t out_w = widths_[l + 1], in_w = widths_[l];
      T* da = ws.delta.data();
      const T* out = ws.outputs[l].data();
      switch (acts_[l]) {
      case activation::identity:
        break;
      case activation::leaky_relu:
        for (std::size_t i = 0; i < n * out_w; ++i)
          if (!(out[i] > T(0))) da[i] *= static_cast<T>(slope_);
        break;
      case activation::sigmoid:
        for (std::size_t i = 0; i < n * out_w; ++i) da[i] *= out[i] * (T(1) - out[i]);
        break;
      }
      const T* in = l == 0 ? x : ws.outputs[l - 1].data();
      const std::size_t ld = l == 0 ? ldx : in_w;
      T* gw = grad.data() + layout_[2 * l].offset;
      T* gb = grad.data() + layout_[2 * l + 1].offset;
      if (n == 0) {
        std::fill(gw, gw + out_w * in_w, T(0));
        std::fill(gb, gb + out_w, T(0));
        if (l == 0 && !dx.empty()) std::fill(dx.begin(), dx.end(), T(0));
        continue;
      }
      simulation::detail::gemm_on(path, out_w, in_w, n, simulation::detail::strided<T>{da, 1, out_w}, in, ld,
                                  gw, in_w);
      simulation::detail::column_sums(n, out_w, da, gb);
      if (l == 0 && dx.empty()) break;
      T* target = dx.data();
      if (l > 0) {
        ws.next.resize(n * in_w);
        target = ws.next.data();
      }
      simulation::detail::gemm_on(path, n, in_w, out_w, simulation::detail::strided<T>{da, out_w, 1},
                                  params.data() + layout_[2 * l].offset, in_w, target, in_w);
      if (l > 0) std::swap(ws.delta, ws.next);
    }
  }

private:
  void apply(activation a, std::vector<T>& v) const {
    switch (a) {
    case activation::identity:
      break;
    case activation::leaky_relu:
      for (auto& x : v)
        if (!(x > T(0))) x *= static_cast<T>(slope_);
      break;
    case activation::sigmoid:
      for (auto& x : v) x = static_cast<T>(sigmoid(static_cast<double>(x)));
      break;
    }
  }
  static void check(const char* who, const char* what, std::size_t got, std::size_t expected) {
    if (got != expected)
      throw invalid_config(std::string("gan::dense_stack::") + who + ": " + std::to_string(got) + " " + what +
                           ", expected " + std::to_string(expected));
  }

  std::vector<std::size_t> widths_;
  std::vector<activation> acts_;
  double slope_;
  model_layout layout_;
};

/// The sizes of a GAN. Defaults: Fashion-MNIST (784 pixels in [0, 1]), 64-dimensional noise,
/// one hidden layer of 256 units in each network, unconditional.
struct gan_architecture {
  std::size_t data_dim = 784;                         ///< values per sample, each in [0, 1]
  std::size_t noise_dim = 64;                         ///< z ~ N(0, I)
  std::size_t num_classes = 0;                        ///< 0: unconditional; > 0: conditional on a label
  std::vector<std::size_t> generator_hidden{256};     ///< G's hidden widths (≥ 1 layer)
  std::vector<std::size_t> discriminator_hidden{256}; ///< D's hidden widths (≥ 1 layer)
  double leaky_slope = 0.2;                           ///< LeakyReLU slope (Radford et al. 2016 use 0.2)

  [[nodiscard]] bool conditional() const noexcept { return num_classes > 0; }

  /// Throws invalid_config for a zero size, no hidden layer, more than 256 classes or 16 layers,
  /// or a slope outside (0, 1).
  void validate() const {
    if (data_dim == 0 || noise_dim == 0)
      throw invalid_config("gan_architecture: data_dim and noise_dim must be > 0");
    if (num_classes > 256)
      throw invalid_config("gan_architecture: at most 256 classes (labels are bytes), got " +
                           std::to_string(num_classes));
    for (const auto* h : {&generator_hidden, &discriminator_hidden}) {
      if (h->empty() || h->size() > 16)
        throw invalid_config("gan_architecture: each network needs 1 to 16 hidden layers, got " +
                             std::to_string(h->size()));
      for (std::size_t w : *h)
        if (w == 0) throw invalid_config("gan_architecture: a hidden width is 0");
    }
    if (!(leaky_slope > 0 && leaky_slope < 1))
      throw invalid_config("gan_architecture: leaky_slope must be in (0, 1), got " +
                           std::to_string(leaky_slope));
  }
};

/// What one discriminator evaluation saw.
struct discriminator_result {
  double loss = 0;       ///< L_D
  double real_score = 0; ///< mean σ(D(x)) over the real rows: D's probability that they are real
  double fake_score = 0; ///< mean σ(D(G(z))) over the fake rows
};

/// G and D on one flat vector (see the file comment). Stateless; scratch in a workspace.
template <std::floating_point T = float>
class gan_model {
public:
  using value_type = T;

  struct workspace {
    typename dense_stack<T>::workspace gen, disc;
    std::vector<T> input, dinput, dy, disc_scratch, fake;
  };

  /// Throws invalid_config for an invalid architecture.
  explicit gan_model(gan_architecture arch)
      : arch_(validated(std::move(arch))), gen_(make_gen(arch_)), disc_(make_disc(arch_)) {
    for (const auto& e : gen_.layout().entries()) layout_.add(e.name, e.shape, e.type);
    for (const auto& e : disc_.layout().entries()) layout_.add(e.name, e.shape, e.type);
  }

  [[nodiscard]] const gan_architecture& architecture() const noexcept { return arch_; }
  /// G's tensors, then D's (names "gen.…", "disc.…").
  [[nodiscard]] const model_layout& layout() const noexcept { return layout_; }
  [[nodiscard]] std::size_t num_parameters() const noexcept { return layout_.total_size(); }
  /// G's parameters are [0, generator_size()) of the flat vector, D's the rest.
  [[nodiscard]] std::size_t generator_size() const noexcept { return gen_.num_parameters(); }
  [[nodiscard]] std::size_t discriminator_size() const noexcept { return disc_.num_parameters(); }
  [[nodiscard]] const dense_stack<T>& generator() const noexcept { return gen_; }
  [[nodiscard]] const dense_stack<T>& discriminator() const noexcept { return disc_; }

  /// Fresh parameters, deterministic in `seed` (dense_stack::initialize for G, then D).
  void initialize(std::span<T> params, std::uint64_t seed) const {
    check_params("initialize", params.size());
    rng gen(seed);
    gen_.initialize(params.first(generator_size()), gen);
    disc_.initialize(params.subspan(generator_size()), gen);
  }

  /// G(z, y) for n rows: z is n × noise_dim, labels n values below num_classes (empty when
  /// unconditional). The n × data_dim samples stay in `ws` until its next use.
  std::span<const T> generate(std::span<const T> params, std::size_t n, std::span<const T> z,
                              std::span<const std::uint8_t> labels, workspace& ws) const {
    check_params("generate", params.size());
    build_input(n, z, arch_.noise_dim, labels, ws.input);
    return gen_.forward(params.first(generator_size()), n, ws.input.data(), gen_.input_width(), ws.gen);
  }

  /// D's logits for n rows of x (n × data_dim) and their labels; written to `logits` (n values).
  void discriminate(std::span<const T> params, std::size_t n, std::span<const T> x,
                    std::span<const std::uint8_t> labels, std::span<T> logits, workspace& ws) const {
    check_params("discriminate", params.size());
    if (logits.size() != n)
      throw invalid_config("gan_model::discriminate: " + std::to_string(logits.size()) + " logits for " +
                           std::to_string(n) + " rows");
    build_input(n, x, arch_.data_dim, labels, ws.input);
    const auto out =
        disc_.forward(params.subspan(generator_size()), n, ws.input.data(), disc_.input_width(), ws.disc);
    std::copy(out.begin(), out.end(), logits.begin());
  }

  /// L_D over n_real real rows (x_real, real_labels) and n_fake fake rows (x_fake, fake_labels),
  /// each mean over its own rows, and ∂L_D/∂(D's parameters) written to `grad_disc`
  /// (discriminator_size() values). ∂/∂a softplus(−a) = σ(a) − 1, ∂/∂a softplus(a) = σ(a).
  discriminator_result discriminator_loss_and_gradient(std::span<const T> params, std::size_t n_real,
                                                       std::span<const T> x_real,
                                                       std::span<const std::uint8_t> real_labels,
                                                       std::size_t n_fake, std::span<const T> x_fake,
                                                       std::span<const std::uint8_t> fake_labels,
                                                       std::span<T> grad_disc, workspace& ws) const {
    check_params("discriminator_loss_and_gradient", params.size());
    check_grad("discriminator_loss_and_gradient", grad_disc.size(), discriminator_size());
    if (n_real == 0 || n_fake == 0)
      throw invalid_config("gan_model::discriminator_loss_and_gradient: needs real and fake rows, got " +
                           std::to_string(n_real) + " and " + std::to_string(n_fake));
    const std::size_t n = n_real + n_fake, w = disc_.input_width();
    // One batch: the real rows, then the fake rows.
    std::vector<T>& in = ws.input;
    in.assign(n * w, T(0));
    fill_rows(in.data(), w, 0, n_real, x_real, arch_.data_dim, real_labels);
    fill_rows(in.data(), w, n_real, n_fake, x_fake, arch_.data_dim, fake_labels);
    const auto logits = disc_.forward(params.subspan(generator_size()), n, in.data(), w, ws.disc);
    ws.dy.resize(n);
    discriminator_result r;
    for (std::size_t i = 0; i < n; ++i) {
      const double a = static_cast<double>(logits[i]), s = sigmoid(a);
      if (i < n_real) {
        r.loss += softplus(-a) / static_cast<double>(n_real);
        r.real_score += s / static_cast<double>(n_real);
        ws.dy[i] = static_cast<T>((s - 1.0) / static_cast<double>(n_real));
      } else {
        r.loss += softplus(a) / static_cast<double>(n_fake);
        r.fake_score += s / static_cast<double>(n_fake);
        ws.dy[i] = static_cast<T>(s / static_cast<double>(n_fake));
      }
    }
    disc_.backward(params.subspan(generator_size()), n, in.data(), w, ws.dy, grad_disc, {}, ws.disc);
    return r;
  }

  /// The non-saturating L_G = mean softplus(−D(G(z, y), y)) over n rows and ∂L_G/∂(G's
  /// parameters) written to `grad_gen` (generator_size() values), backpropagated through D to its
  /// input and on through G. Returns L_G; `fake_score` gets mean σ(D(G(z))).
  double generator_loss_and_gradient(std::span<const T> params, std::size_t n, std::span<const T> z,
                                     std::span<const std::uint8_t> labels, std::span<T> grad_gen,
                                     workspace& ws, double* fake_score = nullptr) const {
    check_params("generator_loss_and_gradient", params.size());
    check_grad("generator_loss_and_gradient", grad_gen.size(), generator_size());
    if (n == 0) throw invalid_config("gan_model::generator_loss_and_gradient: needs at least one row");
    const auto gp = params.first(generator_size());
    const auto dp = params.subspan(generator_size());
    build_input(n, z, arch_.noise_dim, labels, ws.input);
    const auto fake = gen_.forward(gp, n, ws.input.data(), gen_.input_width(), ws.gen);
    const std::size_t w = disc_.input_width();
    ws.fake.assign(n * w, T(0));
    fill_rows(ws.fake.data(), w, 0, n, fake, arch_.data_dim, labels);
    const auto logits = disc_.forward(dp, n, ws.fake.data(), w, ws.disc);
    ws.dy.resize(n);
    double loss = 0, score = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const double a = static_cast<double>(logits[i]), s = sigmoid(a);
      loss += softplus(-a) / static_cast<double>(n);
      score += s / static_cast<double>(n);
      ws.dy[i] = static_cast<T>((s - 1.0) / static_cast<double>(n));
    }
    if (fake_score != nullptr) *fake_score = score;
    ws.disc_scratch.resize(discriminator_size());
    ws.dinput.resize(n * w);
    disc_.backward(dp, n, ws.fake.data(), w, ws.dy, ws.disc_scratch, ws.dinput, ws.disc);
    // ∂L/∂(G's output): the data columns of D's input gradient.
    ws.dy.resize(n * arch_.data_dim);
    for (std::size_t i = 0; i < n; ++i)
      std::copy_n(ws.dinput.data() + i * w, arch_.data_dim, ws.dy.data() + i * arch_.data_dim);
    // ws.input still holds G's input [z | onehot] (the D pass used ws.fake).
    gen_.backward(gp, n, ws.input.data(), gen_.input_width(), ws.dy, grad_gen, {}, ws.gen);
    return loss;
  }

private:
  static gan_architecture validated(gan_architecture a) {
    a.validate();
    return a;
  }
  static dense_stack<T> make_gen(const gan_architecture& a) {
    std::vector<std::size_t> w{a.noise_dim + a.num_classes};
    w.insert(w.end(), a.generator_hidden.begin(), a.generator_hidden.end());
    w.push_back(a.data_dim);
    std::vector<activation> acts(a.generator_hidden.size(), activation::leaky_relu);
    acts.push_back(activation::sigmoid);
    return dense_stack<T>(std::move(w), std::move(acts), a.leaky_slope, "gen.");
  }
  static dense_stack<T> make_disc(const gan_architecture& a) {
    std::vector<std::size_t> w{a.data_dim + a.num_classes};
    w.insert(w.end(), a.discriminator_hidden.begin(), a.discriminator_hidden.end());
    w.push_back(1);
    std::vector<activation> acts(a.discriminator_hidden.size(), activation::leaky_relu);
    acts.push_back(activation::identity);
    return dense_stack<T>(std::move(w), std::move(acts), a.leaky_slope, "disc.");
  }

  void check_params(const char* who, std::size_t size) const {
    if (size != num_parameters())
      throw invalid_config(std::string("gan_model::") + who + ": " + std::to_string(size) +
                           " parameters, the model has " + std::to_string(num_parameters()));
  }
  static void check_grad(const char* who, std::size_t got, std::size_t expected) {
    if (got != expected)
      throw invalid_config(std::string("gan_model::") + who + ": " + std::to_string(got) +
                           " gradient entries, expected " + std::to_string(expected));
  }
  void check_labels(std::size_t n, std::span<const std::uint8_t> labels) const {
    if (!arch_.conditional()) {
      if (!labels.empty()) throw invalid_config("gan_model: labels given to an unconditional GAN");
      return;
    }
    if (labels.size() != n)
      throw invalid_config("gan_model: " + std::to_string(labels.size()) + " labels for " +
                           std::to_string(n) + " rows");
    for (auto y : labels)
      if (y >= arch_.num_classes)
        throw invalid_config("gan_model: label " + std::to_string(y) + " is not below " +
                             std::to_string(arch_.num_classes) + " classes");
  }
  /// Rows [first, first + n) of `out` (row width w) = [values row | onehot(label)].
  void fill_rows(T* out, std::size_t w, std::size_t first, std::size_t n, std::span<const T> values,
                 std::size_t value_width, std::span<const std::uint8_t> labels) const {
    if (values.size() != n * value_width)
      throw invalid_config("gan_model: " + std::to_string(values.size()) + " values for " +
                           std::to_string(n) + " rows of " + std::to_string(value_width));
    check_labels(n, labels);
    for (std::size_t i = 0; i < n; ++i) {
      T* row = out + (first + i) * w;
      std::copy_n(values.data() + i * value_width, value_width, row);
      std::fill(row + value_width, row + w, T(0));
      if (arch_.conditional()) row[value_width + labels[i]] = T(1);
    }
  }
  void build_input(std::size_t n, std::span<const T> values, std::size_t value_width,
                   std::span<const std::uint8_t> labels, std::vector<T>& out) const {
    const std::size_t w = value_width + arch_.num_classes;
    out.resize(n * w);
    fill_rows(out.data(), w, 0, n, values, value_width, labels);
  }

  gan_architecture arch_;
  dense_stack<T> gen_;
  dense_stack<T> disc_;
  model_layout layout_;
};

/// Adam's settings (Kingma & Ba 2015); GAN defaults of Radford et al. 2016 (DCGAN): step 2·10⁻⁴,
/// β₁ = 0.5.
struct adam_options {
  double learning_rate = 2e-4;
  double beta1 = 0.5;
  double beta2 = 0.999;
  double epsilon = 1e-8;

  /// Throws invalid_config unless 0 < learning_rate ≤ 1, β₁, β₂ ∈ [0, 1), 0 < ε ≤ 1.
  void validate(const char* who = "adam_options") const {
    if (!(learning_rate > 0 && learning_rate <= 1) || !(beta1 >= 0 && beta1 < 1) ||
        !(beta2 >= 0 && beta2 < 1) || !(epsilon > 0 && epsilon <= 1))
      throw invalid_config(std::string(who) + ": need 0 < learning_rate <= 1 (got " +
                           std::to_string(learning_rate) + "), beta1 and beta2 in [0, 1) (got " +
                           std::to_string(beta1) + ", " + std::to_string(beta2) +
                           "), 0 < epsilon <= 1 (got " + std::to_string(epsilon) + ")");
  }
};

/// Adam's state for one parameter block: m ← β₁m + (1 − β₁)g, v ← β₂v + (1 − β₂)g²,
/// θ ← θ − η m̂ / (√v̂ + ε) with m̂ = m / (1 − β₁ᵗ), v̂ = v / (1 − β₂ᵗ) (Algorithm 1).
template <std::floating_point T>
class adam_state {
public:
  explicit adam_state(std::size_t size = 0) : m_(size, T(0)), v_(size, T(0)) {}

  /// One step of `params` along `grad` (same size as the state; invalid_config otherwise).
  void step(std::span<T> params, std::span<const T> grad, const adam_options& o) {
    if (params.size() != m_.size() || grad.size() != m_.size())
      throw invalid_config("adam_state::step: " + std::to_string(params.size()) + " parameters and " +
                           std::to_string(grad.size()) + " gradient entries for a state of " +
                           std::to_string(m_.size()));
    ++t_;
    const double c1 = 1.0 - std::pow(o.beta1, static_cast<double>(t_));
    const double c2 = 1.0 - std::pow(o.beta2, static_cast<double>(t_));
    for (std::size_t i = 0; i < m_.size(); ++i) {
      const double g = static_cast<double>(grad[i]);
      const double m = o.beta1 * static_cast<double>(m_[i]) + (1 - o.beta1) * g;
      const double v = o.beta2 * static_cast<double>(v_[i]) + (1 - o.beta2) * g * g;
      m_[i] = static_cast<T>(m);
      v_[i] = static_cast<T>(v);
      params[i] = static_cast<T>(static_cast<double>(params[i]) -
                                 o.learning_rate * (m / c1) / (std::sqrt(v / c2) + o.epsilon));
    }
  }
  /// Back to t = 0 and zero moments.
  void reset() {
    std::fill(m_.begin(), m_.end(), T(0));
    std::fill(v_.begin(), v_.end(), T(0));
    t_ = 0;
  }
  [[nodiscard]] std::uint64_t steps() const noexcept { return t_; }
  [[nodiscard]] std::size_t size() const noexcept { return m_.size(); }

private:
  std::vector<T> m_, v_;
  std::uint64_t t_ = 0;
};

/// Fills `out` with independent N(0, 1) draws from `gen` (fedpp's platform-independent sampler).
template <std::floating_point T>
void fill_standard_normal(std::span<T> out, rng& gen) noexcept {
  for (auto& v : out) v = static_cast<T>(random::standard_normal(gen));
}

} // namespace fedpp::gan
