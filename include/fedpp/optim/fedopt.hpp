/// \file fedopt.hpp
/// Adaptive server optimizers on the pseudo-gradient Δ_t = mean client delta: FedAdagrad,
/// FedAdam and FedYogi (Reddi et al. 2021, "Adaptive Federated Optimization", Algorithm 2):
///
///   m_t = β1 m_{t−1} + (1 − β1) Δ_t
///   v_t = v_{t−1} + Δ_t²                                      (FedAdagrad)
///   v_t = β2 v_{t−1} + (1 − β2) Δ_t²                          (FedAdam)
///   v_t = v_{t−1} − (1 − β2) Δ_t² sign(v_{t−1} − Δ_t²)        (FedYogi)
///   x_{t+1} = x_t + η_t m_t / (√v_t + τ)
///
/// element-wise (τ outside the root), with m_{−1} = 0. fedpp's defaults follow the paper:
/// v_{−1} = τ² (the paper asks v_{−1} ≥ τ²) and η_t = η (no bias correction). Two conventions are
/// options (fedopt_params::initial_v, ::bias_correction), so that Flower's strategies can be
/// reproduced: Flower starts v at 0 (`np.zeros_like`) and its FedAdam (flwrlabs/flower#4362, 2024)
/// steps with η_t = η √(1 − β2^{t+1}) / (1 − β1^{t+1}) where t = server_round = 1, 2, …; the
/// Kingma & Ba form (exponent t) is offered too. See docs/optimizers.md and docs/flower.md.
/// FedAdagrad has no β2: its options struct (fedadagrad_params) has none, its saved β2 slot is +0.0.
#pragma once

#include "fedpp/config.hpp"
#include "fedpp/detail/aligned_buffer.hpp"
#include "fedpp/error.hpp"
#include "fedpp/kernels/finite.hpp"
#include "fedpp/kernels/simd.hpp"
#include "fedpp/optim/detail/state_codec.hpp"
#include "fedpp/optim/server_optimizer.hpp"
#include "fedpp/tensor/dtype.hpp"

#include <array>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

namespace fedpp {

/// The second-moment rule that tells the three FedOpt optimizers apart.
enum class fedopt_rule : std::uint8_t {
  adagrad = 4, ///< v += Δ²
  adam = 2,    ///< v = β2 v + (1 − β2) Δ²
  yogi = 3     ///< v −= (1 − β2) Δ² sign(v − Δ²)
};

/// Where FedOpt's second moment v starts.
enum class fedopt_initial_v : std::uint8_t {
  tau_squared = 0, ///< v_{−1} = τ² (Reddi et al. 2021 ask v_{−1} ≥ τ²): fedpp's default
  zero = 1         ///< v_{−1} = 0: Flower's FedAdam, FedYogi and FedAdagrad
};

/// FedOpt's step-size bias correction, for the rules with a β2 (FedAdam, FedYogi). t = 1, 2, …
/// numbers this optimizer's steps (steps() after the step).
enum class fedopt_bias_correction : std::uint8_t {
  none = 0,     ///< η_t = η (Reddi et al. 2021): fedpp's default, Flower's FedYogi and older FedAdam
  flower = 1,   ///< η_t = η √(1 − β2^{t+1}) / (1 − β1^{t+1}): Flower's FedAdam since
                ///< flwrlabs/flower#4362 (exponent server_round + 1, server_round = 1, 2, …)
  kingma_ba = 2 ///< η_t = η √(1 − β2^t) / (1 − β1^t): Adam's α_t (Kingma & Ba 2015, before §2.1)
};

/// Hyper-parameters of a FedAdam / FedYogi server step (defaults: Reddi et al. 2021, §5 and App. D).
struct fedopt_params {
  double learning_rate = 0.01; ///< η (server), finite and > 0
  double beta1 = 0.9;          ///< first-moment decay, in [0, 1)
  double beta2 = 0.99;         ///< second-moment decay, in [0, 1) (ignored by FedAdagrad, see below)
  double tau = 1e-3;           ///< adaptivity τ, finite and > 0: larger τ, less adaptive
  fedopt_initial_v initial_v = fedopt_initial_v::tau_squared;            ///< where v starts
  fedopt_bias_correction bias_correction = fedopt_bias_correction::none; ///< η_t schedule
};

/// Hyper-parameters of a FedAdagrad server step: FedAdagrad's v has no decay, so there is no β2
/// (and no bias correction). Flower's FedAdagrad is {η, 0, τ, fedopt_initial_v::zero}.
struct fedadagrad_params {
  double learning_rate = 0.01; ///< η (server), finite and > 0
  double beta1 = 0.9;          ///< first-moment decay, in [0, 1) (Flower fixes it at 0: m = Δ)
  double tau = 1e-3;           ///< adaptivity τ, finite and > 0
  fedopt_initial_v initial_v = fedopt_initial_v::tau_squared; ///< where v starts
};

/// FedAdagrad / FedAdam / FedYogi server optimizer over D elements of type T, with the m and v
/// buffers kept in `State` (T by default: the fastest step, 2·D·sizeof(T) bytes of state;
/// `double` at twice the memory for long runs where float rounding of v matters). Satisfies
/// server_optimizer.
template <fedopt_rule Rule, element_type T = float, class State = T>
class fedopt {
  static_assert(std::is_floating_point_v<T> && std::is_floating_point_v<State>,
                "fedopt works on floating-point models and state");

public:
  using value_type = T;
  using state_type = State;
  /// fedadagrad_params for FedAdagrad (no β2), fedopt_params for FedAdam and FedYogi.
  using params_type = std::conditional_t<Rule == fedopt_rule::adagrad, fedadagrad_params, fedopt_params>;
  static constexpr fedopt_rule rule = Rule;

  /// D elements and hyper-parameters; throws invalid_config naming a bad value (β outside
  /// [0, 1), τ ≤ 0, η ≤ 0, non-finite, an unknown convention).
  explicit fedopt(std::size_t size, params_type params = {})
      : params_(validated(params)), m_(size), v_(size) {
    if (params_.initial_v == fedopt_initial_v::tau_squared) {
      const auto v0 = static_cast<State>(params_.tau * params_.tau);
      for (auto& v : v_.span()) v = v0;
    } // zero: aligned_buffer starts zeroed
  }

  /// FedAdagrad from the four-slot fedopt_params (its form before fedadagrad_params): β2 is
  /// ignored and not saved, but must be finite; bias correction must be none (invalid_config
  /// otherwise, naming the value).
  template <std::same_as<fedopt_params> P>
  requires(Rule == fedopt_rule::adagrad) fedopt(std::size_t size, const P& legacy)
      : fedopt(size, from_fedopt_params(legacy)) {}

  /// One server step from the mean client delta (see the file comment). Throws invalid_config,
  /// with nothing changed, when the spans do not have D elements.
  void step(std::span<T> global, std::span<const T> delta) {
    detail::check_step_sizes(name(), m_.size(), global.size(), delta.size());
    const double eta = next_learning_rate();
    std::size_t i = 0;
    if constexpr (kernels::simd::vectorized &&
                  (std::is_same_v<State, T> || (std::is_same_v<T, float> && std::is_same_v<State, double>)))
      i = step_vector(global, delta, eta);
    step_scalar(global, delta, i, eta);
    ++steps_;
  }

  /// "fedadam", "fedyogi" or "fedadagrad".
  [[nodiscard]] static const char* name() noexcept {
    return Rule == fedopt_rule::adam ? "fedadam" : Rule == fedopt_rule::yogi ? "fedyogi" : "fedadagrad";
  }
  /// Model size D.
  [[nodiscard]] std::size_t size() const noexcept { return m_.size(); }
  /// Steps taken (restored ones included).
  [[nodiscard]] std::uint64_t steps() const noexcept { return steps_; }
  /// The hyper-parameters.
  [[nodiscard]] const params_type& params() const noexcept { return params_; }
  /// β2 (0 for FedAdagrad, which has none).
  [[nodiscard]] double beta2() const noexcept {
    if constexpr (Rule == fedopt_rule::adagrad)
      return 0.0;
    else
      return params_.beta2;
  }
  /// The bias correction (none for FedAdagrad).
  [[nodiscard]] fedopt_bias_correction bias_correction() const noexcept {
    if constexpr (Rule == fedopt_rule::adagrad)
      return fedopt_bias_correction::none;
    else
      return params_.bias_correction;
  }
  /// η_t of the next step (t = steps() + 1), in double: η, or η √(1 − β2^e) / (1 − β1^e) with
  /// e = t (kingma_ba) or t + 1 (flower), evaluated in that order (as Flower's FedAdam does).
  [[nodiscard]] double next_learning_rate() const noexcept {
    const fedopt_bias_correction bc = bias_correction();
    if (bc == fedopt_bias_correction::none) return params_.learning_rate;
    const double e = static_cast<double>(steps_) + (bc == fedopt_bias_correction::flower ? 2.0 : 1.0);
    return params_.learning_rate * std::sqrt(1 - std::pow(beta2(), e)) / (1 - std::pow(params_.beta1, e));
  }
  /// First moment m.
  [[nodiscard]] std::span<const State> first_moment() const noexcept { return m_.span(); }
  /// Second moment v.
  [[nodiscard]] std::span<const State> second_moment() const noexcept { return v_.span(); }
  /// True when m and v hold only finite values (a step with a huge finite delta can overflow v);
  /// fedpp::server checks it after each step and restores the previous state when false.
  [[nodiscard]] bool state_is_finite() const noexcept {
    return kernels::all_finite(first_moment()) && kernels::all_finite(second_moment());
  }

  /// Serialization hook: hands to_bytes() to `sink(std::span<const std::byte>)`.
  template <class Sink>
  requires std::invocable<Sink&, std::span<const std::byte>>
  void save(Sink&& sink) const { sink(std::span<const std::byte>(to_bytes())); }

  /// The state as bytes: header (kind, conventions in the flags byte, D, steps, η, β1, β2 — +0.0
  /// for FedAdagrad —, τ; optim/detail/state_codec.hpp) then m and v.
  [[nodiscard]] std::vector<std::byte> to_bytes() const {
    std::vector<std::byte> out;
    const std::array<std::span<const State>, 2> buffers{m_.span(), v_.span()};
    detail::optimizer_header h;
    h.kind = static_cast<detail::optimizer_kind>(Rule);
    h.state_bytes = sizeof(State);
    h.size = m_.size();
    h.steps = steps_;
    h.params = {params_.learning_rate, params_.beta1, beta2(), params_.tau};
    h.flags = static_cast<std::uint8_t>(static_cast<unsigned>(params_.initial_v) |
                                        (static_cast<unsigned>(bias_correction()) << 1U));
    detail::write_optimizer_state<State>(out, h, buffers);
    return out;
  }

  /// Rebuilds an optimizer from to_bytes()'s output; throws malformed_message (and nothing
  /// else) for bytes of another kind or width, a length other than header + 2·D·sizeof(State),
  /// bad or non-finite hyper-parameters, undefined convention flags, FedAdagrad's β2 slot not
  /// +0.0, non-finite m or v, v < 0. Checks the length before it allocates; accepted bytes
  /// re-encode (to_bytes) to the same bytes.
  [[nodiscard]] static fedopt restore(std::span<const std::byte> bytes) {
    const std::string who = std::string(name()) + "::restore";
    const auto h = read_header(bytes);
    std::optional<fedopt> out;
    try {
      out.emplace(static_cast<std::size_t>(h.size), params_from_header(h));
    } catch (const invalid_config& e) {
      throw malformed_message(who + ": " + e.what());
    }
    detail::read_optimizer_buffer<State>(who.c_str(), bytes, 0, out->m_.span(), false);
    detail::read_optimizer_buffer<State>(who.c_str(), bytes, 1, out->v_.span(), true);
    out->steps_ = h.steps;
    return std::move(*out);
  }

  /// Replaces this optimizer's state by a saved one of the same D; throws (state unchanged)
  /// malformed_message for bad bytes, invalid_config for another D (checked from the header,
  /// before anything is allocated).
  void load(std::span<const std::byte> bytes) {
    const auto h = read_header(bytes);
    if (h.size != size())
      throw invalid_config(std::string(name()) + "::load: saved for " + std::to_string(h.size) +
                           " elements, this optimizer has " + std::to_string(size()));
    fedopt other = restore(bytes);
    *this = std::move(other);
  }

private:
  // Bit 0 of the flags byte: initial_v; bits 1–2: bias correction (FedAdam/FedYogi only).
  static constexpr std::uint8_t allowed_flags = Rule == fedopt_rule::adagrad ? 0x1 : 0x7;

  static detail::optimizer_header read_header(std::span<const std::byte> bytes) {
    const std::string who = std::string(name()) + "::restore";
    // FedAdagrad has no β2: its slot (2) is written +0.0 and must read back so.
    const detail::optimizer_header_rules rules{
        static_cast<std::uint8_t>(Rule == fedopt_rule::adagrad ? 0x4 : 0x0), allowed_flags};
    return detail::read_optimizer_header(who.c_str(), bytes, static_cast<detail::optimizer_kind>(Rule),
                                         sizeof(State), 2, rules);
  }

  static params_type params_from_header(const detail::optimizer_header& h) {
    const auto initial_v = static_cast<fedopt_initial_v>(h.flags & 0x1U);
    if constexpr (Rule == fedopt_rule::adagrad) {
      return fedadagrad_params{h.params[0], h.params[1], h.params[3], initial_v};
    } else {
      return fedopt_params{h.params[0], h.params[1],
                           h.params[2], h.params[3],
                           initial_v,   static_cast<fedopt_bias_correction>((h.flags >> 1U) & 0x3U)};
    }
  }

  static fedadagrad_params from_fedopt_params(const fedopt_params& p) {
    if (!std::isfinite(p.beta2)) // ignored, but a NaN there is a configuration mistake
      throw invalid_config(std::string(name()) + ": β2 (unused) must be finite, got " +
                           detail::format_param(p.beta2));
    if (p.bias_correction != fedopt_bias_correction::none)
      throw invalid_config(std::string(name()) +
                           ": FedAdagrad has no β2 and no bias correction, got bias correction " +
                           std::to_string(static_cast<unsigned>(p.bias_correction)));
    return fedadagrad_params{p.learning_rate, p.beta1, p.tau, p.initial_v};
  }

  static params_type validated(const params_type& p) {
    detail::check_positive(name(), "learning rate η", p.learning_rate);
    detail::check_beta(name(), "β1", p.beta1);
    if constexpr (Rule != fedopt_rule::adagrad) {
      detail::check_beta(name(), "β2", p.beta2);
      if (static_cast<unsigned>(p.bias_correction) > 2)
        throw invalid_config(std::string(name()) + ": unknown bias correction " +
                             std::to_string(static_cast<unsigned>(p.bias_correction)));
    }
    detail::check_positive(name(), "τ", p.tau);
    if (static_cast<unsigned>(p.initial_v) > 1)
      throw invalid_config(std::string(name()) + ": unknown initial v convention " +
                           std::to_string(static_cast<unsigned>(p.initial_v)));
    return p;
  }

  // The second-moment update of one element (scalar or batch; sign(0) = 0).
  template <class V>
  static V next_v(const V& v, const V& d2, const V& one_minus_b2, const V& b2) {
    if constexpr (Rule == fedopt_rule::adagrad) {
      (void)one_minus_b2;
      (void)b2;
      return v + d2;
    } else if constexpr (Rule == fedopt_rule::adam) {
      return b2 * v + one_minus_b2 * d2;
    } else {
      const V diff = v - d2;
      if constexpr (std::is_floating_point_v<V>) {
        const V sign = diff > V(0) ? V(1) : (diff < V(0) ? V(-1) : V(0));
        return v - one_minus_b2 * d2 * sign;
      } else {
        const V zero(0);
        // select found by argument-dependent lookup on the batch type.
        const V step = one_minus_b2 * d2;
        return select(diff > zero, v - step, select(diff < zero, v + step, v));
      }
    }
  }

  void step_scalar(std::span<T> global, std::span<const T> delta, std::size_t begin, double eta_t) noexcept {
    const auto b1 = static_cast<State>(params_.beta1), b2 = static_cast<State>(beta2());
    const State omb1 = State(1) - b1, omb2 = State(1) - b2;
    const auto eta = static_cast<State>(eta_t), tau = static_cast<State>(params_.tau);
    State* m = m_.data();
    State* v = v_.data();
    for (std::size_t i = begin; i < m_.size(); ++i) {
      const auto d = static_cast<State>(delta[i]);
      const State mi = b1 * m[i] + omb1 * d;
      const State vi = next_v<State>(v[i], d * d, omb2, b2);
      m[i] = mi;
      v[i] = vi;
      global[i] = static_cast<T>(static_cast<State>(global[i]) + eta * mi / (std::sqrt(vi) + tau));
    }
  }

  // Whole registers of State through the SIMD shim (sqrt of a register: no errno, unlike
  // std::sqrt, which keeps GCC from vectorizing the scalar loop); float model and delta with double
  // state are widened on load and the model narrowed on store. Returns where the scalar tail starts.
  std::size_t step_vector(std::span<T> global, std::span<const T> delta, double eta_t) noexcept {
    namespace simd = kernels::simd;
    using B = simd::batch<State>;
    constexpr std::size_t w = simd::width<State>;
    const B b1 = simd::broadcast(static_cast<State>(params_.beta1)),
            b2 = simd::broadcast(static_cast<State>(beta2()));
    const B omb1 = simd::broadcast(static_cast<State>(1 - static_cast<State>(params_.beta1)));
    const B omb2 = simd::broadcast(static_cast<State>(1 - static_cast<State>(beta2())));
    const B eta = simd::broadcast(static_cast<State>(eta_t));
    const B tau = simd::broadcast(static_cast<State>(params_.tau));
    State* m = m_.data();
    State* v = v_.data();
    T* x = global.data();
    const T* dp = delta.data();
    const std::size_t n = m_.size() - m_.size() % w;
    for (std::size_t i = 0; i < n; i += w) {
      const B d = simd::load_as<State>(dp + i);
      const B mi = simd::fma(b1, simd::load_as<State>(m + i), omb1 * d);
      const B vi = next_v<B>(simd::load_as<State>(v + i), d * d, omb2, b2);
      simd::store(m + i, mi);
      simd::store(v + i, vi);
      simd::store_as(x + i, simd::load_as<State>(x + i) + eta * mi / (simd::sqrt(vi) + tau));
    }
    return n;
  }

  params_type params_;
  detail::aligned_buffer<State> m_;
  detail::aligned_buffer<State> v_;
  std::uint64_t steps_ = 0;
};

/// FedAdam (Reddi et al. 2021).
template <element_type T = float, class State = T>
using fedadam = fedopt<fedopt_rule::adam, T, State>;
/// FedYogi (Reddi et al. 2021; Yogi: Zaheer et al. 2018).
template <element_type T = float, class State = T>
using fedyogi = fedopt<fedopt_rule::yogi, T, State>;
/// FedAdagrad (Reddi et al. 2021).
template <element_type T = float, class State = T>
using fedadagrad = fedopt<fedopt_rule::adagrad, T, State>;

static_assert(server_optimizer<fedadam<float>>);
static_assert(server_optimizer<fedyogi<float>>);
static_assert(server_optimizer<fedadagrad<float>>);
static_assert(server_optimizer<fedadam<float, double>>);
static_assert(server_optimizer<fedadam<double>>);

} // namespace fedpp
