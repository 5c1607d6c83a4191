/// \file central_dp_hooks.hpp
/// Server hooks for central DP-FedAvg (McMahan, Ramage, Talwar, Zhang 2018, "Learning
/// Differentially Private Recurrent Language Models", Alg. 1 with the fixed-denominator estimator):
/// - decode_update: each accepted report is copied, checked finite, and clipped to L2 norm C (flat,
///   or per layer with sensitivity √Σ C_i²) — the server enforces the sensitivity itself;
/// - on_aggregate: the server's FedAvg (use weighting::uniform) hands over mean = Σ_{k∈S} Δ_k / |S|;
///   the hook replaces it by  Σ_{k∈S} Δ_k / (qN) + N(0, (σ C / (qN))² I),  i.e. noise σC on the SUM
///   divided by the expected number of clients qN (not by |S|, which would itself leak);
/// - on_round_end: the accountant composes one step (q, σ) — for every round, also failed ones
///   (conservative) — and writes ε(δ) to round_metrics::evaluation["dp_epsilon"]; adaptive
///   clipping, when on, moves C with the noisy unclipped count;
/// - release_failed_rounds: true by default, so a round with fewer than the server's min_reports
///   (likely with small Poisson samples) still releases Σ/(qN) + noise over whatever reports
///   arrived — possibly pure noise. The mechanism the accountant charges is then exactly the one
///   run every round; skipping such rounds would publish a data-dependent event (too few of the
///   sampled clients) that the accountant does not cover.
/// Check `can_run_next_round()` (privacy_budget) before each run_round to stop within a budget.
#pragma once

#include "fedpp/detail/state_io.hpp"
#include "fedpp/error.hpp"
#include "fedpp/orchestration/round_metrics.hpp"
#include "fedpp/parallel/thread_pool.hpp"
#include "fedpp/privacy/adaptive_clipping.hpp"
#include "fedpp/privacy/clipping.hpp"
#include "fedpp/privacy/gaussian_noise.hpp"
#include "fedpp/privacy/privacy_budget.hpp"
#include "fedpp/privacy/rdp_accountant.hpp"
#include "fedpp/privacy/secure_rng.hpp"
#include "fedpp/tensor/dtype.hpp"
#include "fedpp/tensor/model_layout.hpp"
#include "fedpp/transport/wire_format.hpp"

#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace fedpp::privacy {

namespace detail {
/// σ·S/(qN) without checks (the hooks' own values are checked at construction).
[[nodiscard]] inline double central_noise_stddev_unchecked(double noise_multiplier, double sensitivity,
                                                           double expected_clients) noexcept {
  return noise_multiplier * sensitivity / expected_clients;
}
} // namespace detail

/// The standard deviation of central DP-FedAvg's noise on the mean: σ·S/(qN), noise σ·S on the
/// sum of the clipped updates divided by the expected number of clients qN (the fixed
/// denominator); S is the L2 sensitivity (the clip norm C, or √Σ C_i² per layer). Flower's
/// `compute_stdv(noise_multiplier, clipping_norm, num_sampled_clients)` is the same number with
/// qN = num_sampled_clients, computed in the same order ((σ·C)/m). central_dp_hooks uses it.
/// Throws invalid_config, naming the values, unless σ ≥ 0, S ≥ 0 and qN > 0 are all finite.
[[nodiscard]] inline double central_noise_stddev(double noise_multiplier, double sensitivity,
                                                 double expected_clients) {
  if (!(noise_multiplier >= 0) || !std::isfinite(noise_multiplier) || !(sensitivity >= 0) ||
      !std::isfinite(sensitivity) || !(expected_clients > 0) || !std::isfinite(expected_clients))
    throw invalid_config(
        "central_noise_stddev: need finite sigma >= 0, sensitivity >= 0 and expected clients > 0; "
        "got sigma = " +
        std::to_string(noise_multiplier) + ", sensitivity = " + std::to_string(sensitivity) +
        ", expected clients = " + std::to_string(expected_clients));
  return detail::central_noise_stddev_unchecked(noise_multiplier, sensitivity, expected_clients);
}

/// Settings of central DP-FedAvg.
struct central_dp_options {
  double noise_multiplier = 1.0;        ///< σ (noise std on the sum is σ·C)
  double clip_norm = 1.0;               ///< C (flat); ignored when per_layer_bounds is set
  std::vector<double> per_layer_bounds; ///< C_i per tensor of the layout (empty: flat)
  double sampling_rate = 0.01;          ///< q of the Poisson sampler
  std::size_t population = 1000;        ///< N; qN is the fixed denominator
  std::optional<privacy_budget> budget; ///< stop before a round that would exceed it
  /// Release Σ/(qN) + noise also for rounds below the server's min_reports (see the file comment).
  bool release_below_min_reports = true;
};

/// An accountant whose state can be saved and restored (rdp_accountant).
template <class A>
concept savable_accountant = requires(const A& a, std::span<const std::byte> bytes) {
  { a.to_bytes() } -> std::same_as<std::vector<std::byte>>;
  { A::restore(bytes) } -> std::same_as<A>;
};

/// See the file comment. `Accountant` is rdp_accountant or pld_accountant.
template <element_type T, class Accountant = rdp_accountant>
class central_dp_hooks {
public:
  /// Throws invalid_config for σ ≤ 0 (the accountant has nothing to charge for σ = 0: that is no
  /// DP), C ≤ 0, q outside (0, 1], N = 0, per-layer bounds that do not match the layout, or
  /// adaptive clipping with count noise 0 or together with per-layer bounds.
  central_dp_hooks(central_dp_options options, model_layout layout, secure_rng gen = secure_rng{},
                   Accountant accountant = Accountant{},
                   std::optional<adaptive_clipping> adaptive = std::nullopt)
      : options_(std::move(options)), layout_(std::move(layout)), gen_(gen),
        accountant_(std::move(accountant)), adaptive_(adaptive) {
    if (!(options_.noise_multiplier > 0) || !std::isfinite(options_.noise_multiplier) ||
        !(options_.clip_norm > 0) || !std::isfinite(options_.clip_norm) ||
        !(options_.sampling_rate > 0 && options_.sampling_rate <= 1) || options_.population == 0)
      throw invalid_config(
          "central_dp_hooks: need sigma > 0, C > 0 (finite), q in (0, 1], N > 0; got sigma = " +
          std::to_string(options_.noise_multiplier) + ", C = " + std::to_string(options_.clip_norm) +
          ", q = " + std::to_string(options_.sampling_rate) + ", N = " + std::to_string(options_.population));
    if (adaptive_ && !(adaptive_->count_noise() > 0))
      throw invalid_config(
          "central_dp_hooks: adaptive clipping needs count noise > 0 (a noiseless count is not "
          "private and cannot be accounted), got " +
          std::to_string(adaptive_->count_noise()));
    if (adaptive_ && !options_.per_layer_bounds.empty())
      throw invalid_config("central_dp_hooks: adaptive clipping adapts the flat bound; per-layer bounds (" +
                           std::to_string(options_.per_layer_bounds.size()) + ") cannot be combined with it");
    if (!options_.per_layer_bounds.empty() && options_.per_layer_bounds.size() != layout_.num_tensors())
      throw invalid_config("central_dp_hooks: " + std::to_string(options_.per_layer_bounds.size()) +
                           " per-layer bounds for " + std::to_string(layout_.num_tensors()) + " tensors");
  }

  /// Server hook: clip one accepted report into `scratch`.
  std::span<const T> decode_update(const wire::decoded_message& decoded, std::span<T> scratch) {
    const std::span<const T> in = decoded.template payload<T>();
    for (std::size_t i = 0; i < in.size(); ++i) {
      if (!std::isfinite(static_cast<double>(in[i])))
        throw rejected_update(decoded.sender(), rejection_reason::non_finite,
                              "central_dp_hooks: element " + std::to_string(i) + " is not finite");
      scratch[i] = in[i];
    }
    const double bound = current_bound();
    bool clipped = false;
    if (options_.per_layer_bounds.empty()) {
      clipped = clip_flat(scratch.first(in.size()), bound) > bound;
    } else {
      const auto norms = clip_per_layer(scratch.first(in.size()), layout_, options_.per_layer_bounds);
      for (std::size_t i = 0; i < norms.size(); ++i)
        clipped = clipped || norms[i] > options_.per_layer_bounds[i];
    }
    ++reports_;
    if (!clipped) ++unclipped_;
    return scratch.first(in.size());
  }

  /// Draws the aggregate's noise on `pool`'s threads from now on: the same noise as without a pool
  /// (ChaCha20 is seekable), about twice as fast on two cores. The pool must outlive the hooks.
  central_dp_hooks& with_pool(parallel::thread_pool& pool) noexcept {
    pool_ = &pool;
    return *this;
  }

  /// Server hook: mean over |S| → Σ/(qN) + N(0, (σC/(qN))²).
  void on_aggregate(std::span<T> mean_delta, std::uint64_t /*round*/) {
    const double qn = expected_clients();
    const double keep = static_cast<double>(reports_) / qn;
    const double stddev = noise_stddev();
    if (pool_ != nullptr)
      scale_and_add_gaussian_noise(*pool_, gen_, mean_delta, keep, stddev);
    else
      scale_and_add_gaussian_noise(gen_, mean_delta, keep, stddev);
  }

  /// Server hook: account for the round, report ε, adapt C.
  void on_round_end(round_metrics& metrics) {
    accountant_.compose(options_.sampling_rate, accounting_sigma(), 1);
    if (options_.budget) metrics.evaluation["dp_epsilon"] = accountant_.epsilon(options_.budget->delta());
    if (adaptive_)
      adaptive_->update(static_cast<double>(unclipped_), static_cast<double>(reports_),
                        options_.sampling_rate * static_cast<double>(options_.population), gen_);
    reports_ = unclipped_ = 0;
  }

  /// Server hook: whether rounds below min_reports still release a noisy step.
  [[nodiscard]] bool release_failed_rounds() const noexcept { return options_.release_below_min_reports; }

  /// False when one more round would take ε past the budget (true without a budget).
  [[nodiscard]] bool can_run_next_round() const {
    return !options_.budget ||
           options_.budget->can_afford(accountant_, options_.sampling_rate, accounting_sigma());
  }
  /// ε spent so far at δ.
  [[nodiscard]] double epsilon(double delta) const { return accountant_.epsilon(delta); }
  /// The accountant.
  [[nodiscard]] const Accountant& accountant() const noexcept { return accountant_; }
  /// The current clipping bound (adaptive or fixed flat C).
  [[nodiscard]] double current_bound() const noexcept {
    return adaptive_ ? adaptive_->bound() : options_.clip_norm;
  }
  /// qN, the fixed denominator.
  [[nodiscard]] double expected_clients() const noexcept {
    return options_.sampling_rate * static_cast<double>(options_.population);
  }
  /// The standard deviation of the noise the next on_aggregate adds to the mean:
  /// central_noise_stddev(σ, sensitivity(), qN) with the current bound (the same arithmetic;
  /// σ, C, q and N were checked at construction).
  [[nodiscard]] double noise_stddev() const {
    return detail::central_noise_stddev_unchecked(options_.noise_multiplier, sensitivity(),
                                                  expected_clients());
  }
  /// L2 sensitivity of one client's clipped update.
  [[nodiscard]] double sensitivity() const {
    return options_.per_layer_bounds.empty() ? current_bound()
                                             : per_layer_sensitivity(options_.per_layer_bounds);
  }

  /// What a server checkpoint keeps of these hooks (orchestration/checkpoint.hpp).
  struct saved_state {
    secure_rng gen;                            ///< the noise generator, where it stood
    Accountant accountant;                     ///< the privacy spent so far
    std::optional<adaptive_clipping> adaptive; ///< the adapted bound C, when adaptive
  };

  /// The state a checkpoint keeps, between rounds: [u64 n][n bytes: the noise generator's
  /// secure_rng::save_state — its secret key included, so the checkpoint must be kept like the
  /// key][u64 n][n bytes: the accountant's to_bytes][u8 adaptive 0 | 1][7 reserved zero bytes]
  /// [f64 C, when adaptive]. The per-round clipping counters are 0 between rounds and not saved.
  [[nodiscard]] std::vector<std::byte> checkpoint_state() const requires savable_accountant<Accountant> {
    std::vector<std::byte> out;
    fedpp::detail::state_writer w(out);
    const std::vector<std::byte> gen = gen_.save_state();
    const std::vector<std::byte> accountant = accountant_.to_bytes();
    w.u64(gen.size());
    w.bytes(gen);
    w.u64(accountant.size());
    w.bytes(accountant);
    w.u8(adaptive_ ? 1 : 0);
    w.zeros(7);
    if (adaptive_) w.f64(adaptive_->bound());
    return out;
  }

  /// Parses and checks checkpoint_state()'s bytes against these hooks, changing nothing: throws
  /// malformed_message for bytes that do not decode (every length checked against the bytes
  /// present; the generator's and accountant's own checks; a bound C that is not finite and > 0),
  /// invalid_config for a state these hooks cannot take (an accountant with other orders or
  /// series, adaptive clipping on in one and off in the other).
  [[nodiscard]] saved_state
  parse_checkpoint_state(std::span<const std::byte> bytes) const requires savable_accountant<Accountant> {
    fedpp::detail::state_reader r("central_dp_hooks state", bytes);
    secure_rng gen = secure_rng::restore_state(r.bytes(r.u64("generator bytes"), "generator"));
    Accountant accountant = Accountant::restore(r.bytes(r.u64("accountant bytes"), "accountant"));
    if constexpr (requires(const Accountant& a) {
                    { a.orders() == a.orders() } -> std::convertible_to<bool>;
                    { a.series() == a.series() } -> std::convertible_to<bool>;
                  }) {
      if (!(accountant.orders() == accountant_.orders()) || !(accountant.series() == accountant_.series()))
        throw invalid_config("central_dp_hooks: the saved accountant has " +
                             std::to_string(accountant.orders().size()) + " orders (series " +
                             std::to_string(static_cast<int>(accountant.series())) + "), these hooks' " +
                             std::to_string(accountant_.orders().size()) + " orders (series " +
                             std::to_string(static_cast<int>(accountant_.series())) + "): other settings");
    }
    const std::uint8_t adaptive = r.u8("adaptive flag");
    if (adaptive > 1) r.fail("adaptive flag is " + std::to_string(adaptive) + ", expected 0 or 1");
    for (int i = 0; i < 7; ++i)
      r.expect_zero(r.u8("reserved byte"), "a reserved byte after the adaptive flag");
    saved_state out{gen, std::move(accountant), std::nullopt};
    if ((adaptive == 1) != adaptive_.has_value())
      throw invalid_config(std::string("central_dp_hooks: the saved state has adaptive clipping ") +
                           (adaptive == 1 ? "on" : "off") + ", these hooks have it " +
                           (adaptive_ ? "on" : "off"));
    if (adaptive == 1) {
      const double bound = r.f64("adaptive bound C");
      if (!(bound > 0) || !std::isfinite(bound))
        r.fail("adaptive bound C is " + std::to_string(bound) + ", expected finite and > 0");
      out.adaptive = adaptive_->with_bound(bound);
    }
    r.expect_end("after the hooks' state");
    return out;
  }

  /// Takes a state parse_checkpoint_state accepted (no-throw: the commit of a restore).
  void adopt_checkpoint_state(saved_state&& state) noexcept {
    gen_ = state.gen;
    accountant_ = std::move(state.accountant);
    adaptive_ = state.adaptive;
    reports_ = unclipped_ = 0;
  }

private:
  [[nodiscard]] double accounting_sigma() const {
    return adaptive_ ? adaptive_->effective_noise_multiplier(options_.noise_multiplier)
                     : options_.noise_multiplier;
  }

  central_dp_options options_;
  model_layout layout_;
  secure_rng gen_;
  parallel::thread_pool* pool_ = nullptr; // noise on a pool when set (with_pool)
  Accountant accountant_;
  std::optional<adaptive_clipping> adaptive_;
  std::size_t reports_ = 0, unclipped_ = 0;
};

} // namespace fedpp::privacy
