/// \file dlg.hpp
/// Optimization-based gradient inversion: Deep Leakage from Gradients (Zhu, Liu & Han 2019,
/// "Deep Leakage from Gradients", Algorithm 1). The attacker knows the model parameters θ and a
/// client's gradient ∇θL(x*, y*) and looks for inputs x minimizing the gradient distance
///   D(x) = Σ_k m_k (∇θ L(θ; x, y)_k − ∇θ L(θ; x*, y*)_k)²
/// (the L2 distance of the paper; m_k ∈ {0, 1} restricts it to transmitted coordinates, e.g.
/// after top-k sparsification) with L-BFGS, as the paper does. Labels are taken as known: for one
/// example iDLG (Zhao, Mopuri & Bilen 2020) reads it off the last layer's bias gradient
/// (idlg_label); for a batch they are given, as in Geiping et al. 2020's threat model.
///
/// The victim is a small twice-differentiable network (DLG replaces ReLU by sigmoid for that
/// reason): sigmoid_mlp, x (d) → σ(W₁x + b₁) (h) → W₂· + b₂ (c), softmax cross-entropy with
/// (soft) labels, averaged over the batch. ∂D/∂x is computed exactly by reverse-mode
/// differentiation of the gradient (a Hessian–vector product), written out in match().
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/random/rng.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <span>
#include <string>
#include <vector>

namespace fedpp::audit {

/// The DLG victim network in double precision. Parameters in one flat vector, PyTorch's Linear
/// layout: fc1.weight [h, d], fc1.bias [h], fc2.weight [c, h], fc2.bias [c].
class sigmoid_mlp {
public:
  /// Throws invalid_config for a zero size or fewer than 2 classes.
  sigmoid_mlp(std::size_t features, std::size_t hidden, std::size_t classes)
      : d_(features), h_(hidden), c_(classes) {
    if (d_ == 0 || h_ == 0 || c_ < 2)
      throw invalid_config("sigmoid_mlp: needs features > 0, hidden > 0, classes >= 2; got " +
                           std::to_string(d_) + ", " + std::to_string(h_) + ", " + std::to_string(c_));
  }

  [[nodiscard]] std::size_t num_features() const noexcept { return d_; }
  [[nodiscard]] std::size_t num_hidden() const noexcept { return h_; }
  [[nodiscard]] std::size_t num_classes() const noexcept { return c_; }
  [[nodiscard]] std::size_t num_parameters() const noexcept { return h_ * d_ + h_ + c_ * h_ + c_; }
  /// Offsets of fc1.bias, fc2.weight, fc2.bias (fc1.weight starts at 0).
  [[nodiscard]] std::size_t fc1_bias_offset() const noexcept { return h_ * d_; }
  [[nodiscard]] std::size_t fc2_weight_offset() const noexcept { return h_ * d_ + h_; }
  [[nodiscard]] std::size_t fc2_bias_offset() const noexcept { return h_ * d_ + h_ + c_ * h_; }

  /// PyTorch's default Linear initialization, U(±1/√fan_in) for weights and biases, from
  /// fedpp::rng(seed).
  void initialize(std::span<double> params, std::uint64_t seed) const {
    check_params("initialize", params.size());
    rng gen(seed);
    const double a1 = 1 / std::sqrt(static_cast<double>(d_)), a2 = 1 / std::sqrt(static_cast<double>(h_));
    for (std::size_t i = 0; i < fc2_weight_offset(); ++i) params[i] = a1 * (2 * gen.uniform_open() - 1);
    for (std::size_t i = fc2_weight_offset(); i < params.size(); ++i)
      params[i] = a2 * (2 * gen.uniform_open() - 1);
  }

  /// Mean cross-entropy over the batch (rows of `x`, n × d; `y` n × c label distributions) and its
  /// gradient with respect to the parameters, written to `grad` (every element).
  double gradient(std::span<const double> params, std::span<const double> x, std::span<const double> y,
                  std::span<double> grad) const {
    const std::size_t n = check_batch("gradient", params, x, y);
    if (grad.size() != num_parameters())
      throw invalid_config("sigmoid_mlp::gradient: gradient of " + std::to_string(grad.size()) +
                           " values for " + std::to_string(num_parameters()) + " parameters");
    std::fill(grad.begin(), grad.end(), 0.0);
    example_state st(h_, c_);
    const double inv_n = 1 / static_cast<double>(n);
    double loss = 0;
    for (std::size_t b = 0; b < n; ++b) {
      loss += forward(params, x.subspan(b * d_, d_), y.subspan(b * c_, c_), st);
      accumulate_gradient(params, x.subspan(b * d_, d_), st, inv_n, grad);
    }
    return loss * inv_n;
  }

  /// The gradient distance D(x) = Σ_k m_k (h(x)_k − target_k)² (m = `mask`, empty for all ones)
  /// and its derivative with respect to the inputs, written to `dx` (n × d). h = g when
  /// `clip_norm` is 0, else the clipped gradient g · min(1, C/‖g‖) (an attacker who knows DP's
  /// clipping bound C matches what a client would upload). See the file comment.
  double match(std::span<const double> params, std::span<const double> target, std::span<const double> mask,
               std::span<const double> x, std::span<const double> y, std::span<double> dx,
               double clip_norm = 0) const {
    const std::size_t n = check_batch("match", params, x, y);
    const std::size_t p = num_parameters();
    if (target.size() != p || (!mask.empty() && mask.size() != p) || dx.size() != x.size())
      throw invalid_config("sigmoid_mlp::match: target of " + std::to_string(target.size()) + ", mask of " +
                           std::to_string(mask.size()) + " and dx of " + std::to_string(dx.size()) +
                           " values for " + std::to_string(p) + " parameters and " +
                           std::to_string(x.size()) + " inputs");
    if (!(clip_norm >= 0) || !std::isfinite(clip_norm))
      throw invalid_config("sigmoid_mlp::match: clip_norm must be finite and >= 0, got " +
                           std::to_string(clip_norm));
    std::vector<double> g(p);
    gradient(params, x, y, g);
    double norm = 0;
    for (double v : g) norm += v * v;
    norm = std::sqrt(norm);
    const double scale = clip_norm > 0 && norm > clip_norm ? clip_norm / norm : 1.0; // h = g · min(1, C/‖g‖)
    double distance = 0, g_dot_G = 0;
    for (std::size_t k = 0; k < p; ++k) { // G = ∂D/∂h = 2 m (h − g*)
      const double m = mask.empty() ? 1.0 : mask[k];
      const double r = scale * g[k] - target[k];
      distance += m * r * r;
      const double G = 2 * m * r;
      g_dot_G += g[k] * G;
      g[k] = G; // (g is read again below only through g_dot_G and `original`)
    }
    if (scale < 1) { // ∂h/∂g = (C/‖g‖)(I − g gᵀ/‖g‖²): G_g = scale (G − g (gᵀG)/‖g‖²)
      std::vector<double> original(p);
      (void)gradient(params, x, y, original);
      for (std::size_t k = 0; k < p; ++k) g[k] = scale * (g[k] - original[k] * g_dot_G / (norm * norm));
    }
    const double* gw1 = g.data();
    const double* gb1 = g.data() + fc1_bias_offset();
    const double* gw2 = g.data() + fc2_weight_offset();
    const double* gb2 = g.data() + fc2_bias_offset();
    const double* w1 = params.data();
    const double* w2 = params.data() + fc2_weight_offset();
    const double inv_n = 1 / static_cast<double>(n);
    example_state st(h_, c_);
    std::vector<double> u(h_), ubar(h_), ebar(c_), sbar(h_), abar(h_), zbar(c_);
    for (std::size_t b = 0; b < n; ++b) {
      const auto xb = x.subspan(b * d_, d_);
      forward(params, xb, y.subspan(b * c_, c_), st);
      double* xbar = dx.data() + b * d_;
      for (std::size_t i = 0; i < h_; ++i) { // u = W₂ᵀe, δ = u ⊙ σ', ū = Gw₁ x + Gb₁
        double ui = 0;
        for (std::size_t k = 0; k < c_; ++k) ui += w2[k * h_ + i] * st.e[k];
        u[i] = ui;
        double v = gb1[i];
        for (std::size_t j = 0; j < d_; ++j) v += gw1[i * d_ + j] * xb[j];
        ubar[i] = v;
      }
      for (std::size_t j = 0; j < d_; ++j) xbar[j] = 0;
      for (std::size_t i = 0; i < h_; ++i) { // x̄ = Gw₁ᵀ δ (x's own appearance in ∂L/∂W₁ = δ xᵀ)
        const double delta = u[i] * st.ds[i];
        for (std::size_t j = 0; j < d_; ++j) xbar[j] += gw1[i * d_ + j] * delta;
      }
      for (std::size_t k = 0; k < c_; ++k) { // ē = Gw₂ s + Gb₂ + W₂ (ū ⊙ σ')
        double v = gb2[k];
        for (std::size_t i = 0; i < h_; ++i)
          v += gw2[k * h_ + i] * st.s[i] + w2[k * h_ + i] * ubar[i] * st.ds[i];
        ebar[k] = v;
      }
      double pe = 0; // z̄ = p ⊙ (ē − pᵀē): e = softmax(z) − y
      for (std::size_t k = 0; k < c_; ++k) pe += st.p[k] * ebar[k];
      for (std::size_t k = 0; k < c_; ++k) zbar[k] = st.p[k] * (ebar[k] - pe);
      for (std::size_t i = 0; i < h_; ++i) { // s̄ = Gw₂ᵀ e + W₂ᵀ z̄;  ā = s̄ ⊙ σ' + ū ⊙ u ⊙ σ''
        double v = 0;
        for (std::size_t k = 0; k < c_; ++k) v += gw2[k * h_ + i] * st.e[k] + w2[k * h_ + i] * zbar[k];
        sbar[i] = v;
        const double d2 = st.ds[i] * (1 - 2 * st.s[i]);
        abar[i] = v * st.ds[i] + ubar[i] * u[i] * d2;
      }
      for (std::size_t i = 0; i < h_; ++i) // x̄ += W₁ᵀ ā
        for (std::size_t j = 0; j < d_; ++j) xbar[j] += w1[i * d_ + j] * abar[i];
      for (std::size_t j = 0; j < d_; ++j) xbar[j] *= inv_n;
    }
    return distance;
  }

private:
  struct example_state {
    std::vector<double> s, ds, p, e; // σ(a), σ'(a), softmax(z), p − y
    example_state(std::size_t h, std::size_t c) : s(h), ds(h), p(c), e(c) {}
  };

  void check_params(const char* who, std::size_t size) const {
    if (size != num_parameters())
      throw invalid_config(std::string("sigmoid_mlp::") + who + ": " + std::to_string(size) +
                           " parameters, the model has " + std::to_string(num_parameters()));
  }
  std::size_t check_batch(const char* who, std::span<const double> params, std::span<const double> x,
                          std::span<const double> y) const {
    check_params(who, params.size());
    const std::size_t n = x.size() / d_;
    if (n == 0 || x.size() % d_ != 0 || y.size() != n * c_)
      throw invalid_config(std::string("sigmoid_mlp::") + who + ": " + std::to_string(x.size()) +
                           " inputs and " + std::to_string(y.size()) + " label values are not a batch of " +
                           std::to_string(d_) + "-feature examples with " + std::to_string(c_) + " classes");
    return n;
  }

  double forward(std::span<const double> params, std::span<const double> x, std::span<const double> y,
                 example_state& st) const {
    const double* w1 = params.data();
    const double* b1 = params.data() + fc1_bias_offset();
    const double* w2 = params.data() + fc2_weight_offset();
    const double* b2 = params.data() + fc2_bias_offset();
    for (std::size_t i = 0; i < h_; ++i) {
      double a = b1[i];
      for (std::size_t j = 0; j < d_; ++j) a += w1[i * d_ + j] * x[j];
      const double s = 1 / (1 + std::exp(-a));
      st.s[i] = s;
      st.ds[i] = s * (1 - s);
    }
    double top = -HUGE_VAL;
    for (std::size_t k = 0; k < c_; ++k) {
      double z = b2[k];
      for (std::size_t i = 0; i < h_; ++i) z += w2[k * h_ + i] * st.s[i];
      st.p[k] = z;
      top = std::max(top, z);
    }
    double sum = 0;
    for (std::size_t k = 0; k < c_; ++k) sum += std::exp(st.p[k] - top);
    const double log_sum = top + std::log(sum);
    double loss = 0;
    for (std::size_t k = 0; k < c_; ++k) {
      const double log_p = st.p[k] - log_sum;
      loss -= y[k] * log_p;
      st.p[k] = std::exp(log_p);
      st.e[k] = st.p[k] - y[k];
    }
    return loss;
  }

  void accumulate_gradient(std::span<const double> params, std::span<const double> x, const example_state& st,
                           double scale, std::span<double> grad) const {
    const double* w2 = params.data() + fc2_weight_offset();
    double* gw1 = grad.data();
    double* gb1 = grad.data() + fc1_bias_offset();
    double* gw2 = grad.data() + fc2_weight_offset();
    double* gb2 = grad.data() + fc2_bias_offset();
    for (std::size_t k = 0; k < c_; ++k) {
      gb2[k] += scale * st.e[k];
      for (std::size_t i = 0; i < h_; ++i) gw2[k * h_ + i] += scale * st.e[k] * st.s[i];
    }
    for (std::size_t i = 0; i < h_; ++i) {
      double u = 0;
      for (std::size_t k = 0; k < c_; ++k) u += w2[k * h_ + i] * st.e[k];
      const double delta = scale * u * st.ds[i];
      gb1[i] += delta;
      for (std::size_t j = 0; j < d_; ++j) gw1[i * d_ + j] += delta * x[j];
    }
  }

  std::size_t d_, h_, c_;
};

/// L-BFGS settings (Nocedal & Wright 2006, Algorithm 7.4 two-loop recursion, with Armijo
/// backtracking from the unit step).
struct lbfgs_options {
  std::size_t max_iterations = 500;  ///< iterations (each: one direction, a line search)
  std::size_t history = 10;          ///< correction pairs kept (m)
  double gradient_tolerance = 1e-12; ///< stop when max |∂f| is below this
  double value_tolerance = 0;        ///< stop when f is at or below this
};

/// What an L-BFGS run ended with.
struct lbfgs_result {
  double value = 0;            ///< f at the returned point
  std::size_t iterations = 0;  ///< iterations taken
  std::size_t evaluations = 0; ///< calls of f
};

/// Minimizes f over x in place; f(x, grad) returns the value and writes the gradient. Stops at
/// max_iterations, at the tolerances, or when no step along the direction decreases f.
template <class F>
lbfgs_result minimize_lbfgs(F&& f, std::span<double> x, const lbfgs_options& options = {}) {
  if (options.history == 0) throw invalid_config("minimize_lbfgs: history must be > 0");
  const std::size_t n = x.size();
  std::vector<double> g(n), d(n), x_new(n), g_new(n);
  std::deque<std::vector<double>> s_hist, y_hist;
  std::deque<double> rho_hist;
  lbfgs_result out;
  double fx = f(std::span<const double>(x), std::span<double>(g));
  ++out.evaluations;
  const auto dot = [](const std::vector<double>& a, const std::vector<double>& b) {
    double s = 0;
    for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
    return s;
  };
  std::vector<double> alpha(options.history);
  for (; out.iterations < options.max_iterations; ++out.iterations) {
    double gmax = 0;
    for (double v : g) gmax = std::max(gmax, std::abs(v));
    if (gmax < options.gradient_tolerance || fx <= options.value_tolerance) break;
    // two-loop recursion: d = −H g
    d = g;
    const std::size_t m = s_hist.size();
    for (std::size_t k = m; k-- > 0;) {
      alpha[k] = rho_hist[k] * dot(s_hist[k], d);
      for (std::size_t i = 0; i < n; ++i) d[i] -= alpha[k] * y_hist[k][i];
    }
    const double gamma = m > 0 ? dot(s_hist[m - 1], y_hist[m - 1]) / dot(y_hist[m - 1], y_hist[m - 1])
                               : 1 / std::max(1e-300, std::sqrt(dot(g, g)));
    for (auto& v : d) v *= gamma;
    for (std::size_t k = 0; k < m; ++k) {
      const double beta = rho_hist[k] * dot(y_hist[k], d);
      for (std::size_t i = 0; i < n; ++i) d[i] += (alpha[k] - beta) * s_hist[k][i];
    }
    for (auto& v : d) v = -v;
    double slope = dot(g, d);
    if (!(slope < 0)) { // not a descent direction: restart from steepest descent
      s_hist.clear(), y_hist.clear(), rho_hist.clear();
      const double scale = 1 / std::max(1e-300, std::sqrt(dot(g, g)));
      for (std::size_t i = 0; i < n; ++i) d[i] = -g[i] * scale;
      slope = dot(g, d);
    }
    double step = 1, f_new = 0;
    bool accepted = false;
    for (int tries = 0; tries < 60; ++tries, step *= 0.5) {
      for (std::size_t i = 0; i < n; ++i) x_new[i] = x[i] + step * d[i];
      f_new = f(std::span<const double>(x_new), std::span<double>(g_new));
      ++out.evaluations;
      if (std::isfinite(f_new) && f_new <= fx + 1e-4 * step * slope) {
        accepted = true;
        break;
      }
    }
    if (!accepted) break;
    std::vector<double> s(n), y(n);
    for (std::size_t i = 0; i < n; ++i) {
      s[i] = x_new[i] - x[i];
      y[i] = g_new[i] - g[i];
      x[i] = x_new[i];
    }
    g.swap(g_new);
    fx = f_new;
    const double sy = dot(s, y);
    if (sy > 1e-16 * std::sqrt(dot(s, s) * dot(y, y)) && sy > 0) {
      if (s_hist.size() == options.history) s_hist.pop_front(), y_hist.pop_front(), rho_hist.pop_front();
      s_hist.push_back(std::move(s));
      y_hist.push_back(std::move(y));
      rho_hist.push_back(1 / sy);
    }
  }
  out.value = fx;
  return out;
}

/// iDLG (Zhao et al. 2020): with one example and softmax cross-entropy, ∂L/∂b₂ = p − onehot(y)
/// is negative exactly at the true class. Returns that class. Throws invalid_config when no entry
/// is negative (not a single-example cross-entropy gradient) or one is not finite.
[[nodiscard]] inline std::size_t idlg_label(std::span<const double> last_bias_grad) {
  std::size_t label = last_bias_grad.size();
  double lowest = 0;
  for (std::size_t k = 0; k < last_bias_grad.size(); ++k) {
    if (!std::isfinite(last_bias_grad[k]))
      throw invalid_config("idlg_label: bias gradient " + std::to_string(k) + " is not finite");
    if (last_bias_grad[k] < lowest) lowest = last_bias_grad[k], label = k;
  }
  if (label == last_bias_grad.size())
    throw invalid_config("idlg_label: no negative entry in the last layer's bias gradient");
  return label;
}

/// DLG settings.
struct dlg_options {
  lbfgs_options optimizer{}; ///< L-BFGS settings
  std::uint64_t seed = 1;    ///< the dummy inputs start at U(0, 1) from fedpp::rng(seed)
  double clip_norm = 0;      ///< > 0: match the gradient clipped to this L2 norm (DP-aware attacker)
};

/// What dlg_reconstruct found.
struct dlg_result {
  std::vector<double> inputs; ///< n × d reconstructed inputs, in the order of the labels
  double distance = 0;        ///< the final gradient distance D
  std::size_t iterations = 0; ///< L-BFGS iterations
};

/// DLG (see the file comment): inputs for `labels` (one class per example of the batch) whose
/// gradient under `params` matches `target` on the coordinates where `mask` is 1 (empty: all).
/// Throws invalid_config for an empty batch, a label ≥ classes, non-finite target values, or sizes
/// that do not match the model.
[[nodiscard]] inline dlg_result dlg_reconstruct(const sigmoid_mlp& model, std::span<const double> params,
                                                std::span<const double> target,
                                                std::span<const std::size_t> labels,
                                                std::span<const double> mask = {},
                                                const dlg_options& options = {}) {
  if (labels.empty()) throw invalid_config("dlg_reconstruct: no labels (the batch is empty)");
  const std::size_t n = labels.size(), d = model.num_features(), c = model.num_classes();
  for (std::size_t b = 0; b < n; ++b)
    if (labels[b] >= c)
      throw invalid_config("dlg_reconstruct: label " + std::to_string(labels[b]) + " of example " +
                           std::to_string(b) + " is not below " + std::to_string(c) + " classes");
  for (std::size_t k = 0; k < target.size(); ++k)
    if (!std::isfinite(target[k]))
      throw invalid_config("dlg_reconstruct: target gradient value " + std::to_string(k) + " is not finite");
  std::vector<double> y(n * c, 0.0);
  for (std::size_t b = 0; b < n; ++b) y[b * c + labels[b]] = 1;
  dlg_result out;
  out.inputs.resize(n * d);
  rng gen(options.seed);
  for (auto& v : out.inputs) v = gen.uniform_open();
  std::vector<double> probe(n * d, 0.0); // validate sizes once, before optimizing
  (void)model.match(params, target, mask, out.inputs, y, probe, options.clip_norm);
  const auto r = minimize_lbfgs(
      [&](std::span<const double> x, std::span<double> grad) {
        return model.match(params, target, mask, x, y, grad, options.clip_norm);
      },
      std::span<double>(out.inputs), options.optimizer);
  out.distance = r.value;
  out.iterations = r.iterations;
  return out;
}

} // namespace fedpp::audit
