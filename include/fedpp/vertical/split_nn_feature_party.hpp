/// \file split_nn_feature_party.hpp
/// A feature party of a split neural network (a party p ≥ 1 without labels): it runs its bottom
/// model on its own features, sends the cut-layer activations of each batch to the label holder
/// and, in training, applies the gradient the label holder returns (backpropagation through its
/// bottom model and a plain SGD step). Its features and parameters never leave it; what it
/// reveals is the activations (optionally clipped and noised, split_nn_cut_noise.hpp).
///
/// Per training step s: forward(train, ids) → message to the label holder → backward(envelope of
/// the gradient for step s) → step s + 1. An evaluation batch is forward(eval, ids) alone. Every
/// refused message leaves the party as it was (parameters, step, pending batch).
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/privacy/secure_rng.hpp"
#include "fedpp/transport/transport.hpp"
#include "fedpp/vertical/detail/split_nn_math.hpp"
#include "fedpp/vertical/split_nn_config.hpp"
#include "fedpp/vertical/split_nn_cut_noise.hpp"
#include "fedpp/vertical/split_nn_messages.hpp"
#include "fedpp/vertical/split_nn_mlp.hpp"
#include "fedpp/vertical/split_nn_schedule.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace fedpp::vertical {

/// Options of a feature party.
struct split_nn_feature_options {
  double learning_rate = 0.1;          ///< SGD step size of the bottom model
  split_nn_cut_noise activation_noise; ///< clipping and noise of the sent activations (off by default)
  /// Wait for each gradient at most this long in train_epoch.
  std::chrono::milliseconds timeout{std::chrono::seconds(60)};
};

/// Party p ≥ 1 of a split-NN session.
template <std::floating_point T>
class split_nn_feature_party {
public:
  using value_type = T;

  /// Party `party` of `config`, with bottom model `bottom` (its output is the cut layer: width
  /// config.cut_width(party)) at `parameters`, drawing noise from `noise`. Throws invalid_config
  /// for party 0 or beyond the config, a bottom model whose output width is not the cut width,
  /// a parameter vector of the wrong size or with non-finite values, a learning rate that is not
  /// positive and finite, or bad noise options.
  split_nn_feature_party(split_nn_config config, std::size_t party, split_nn_mlp<T> bottom,
                         std::vector<T> parameters, split_nn_feature_options options = {},
                         privacy::secure_rng noise = privacy::secure_rng())
      : config_(std::move(config)), party_(party), bottom_(std::move(bottom)), params_(std::move(parameters)),
        options_(options), noise_(noise) {
    const std::string who = "split_nn_feature_party";
    if (party_ == 0 || party_ >= config_.num_parties())
      throw invalid_config(who + ": party " + std::to_string(party_) + " is not a feature party 1.." +
                           std::to_string(config_.num_parties() - 1) + " (party 0 holds the labels)");
    if (bottom_.output_width() != config_.cut_width(party_))
      throw invalid_config(who + ": the bottom model outputs " + std::to_string(bottom_.output_width()) +
                           " values, the agreed cut width of party " + std::to_string(party_) + " is " +
                           std::to_string(config_.cut_width(party_)));
    if (params_.size() != bottom_.num_parameters())
      throw invalid_config(who + ": " + std::to_string(params_.size()) +
                           " parameters, the bottom model has " + std::to_string(bottom_.num_parameters()));
    if (!detail::all_finite(std::span<const T>(params_)))
      throw invalid_config(who + ": the initial parameters are not all finite");
    if (!(options_.learning_rate > 0) || !std::isfinite(options_.learning_rate))
      throw invalid_config(who + ": learning rate " + std::to_string(options_.learning_rate) +
                           " must be positive and finite");
    options_.activation_noise.validate(who + " activation noise");
    grad_.assign(params_.size(), T(0));
  }

  /// This party's index p.
  [[nodiscard]] std::size_t party() const noexcept { return party_; }
  /// The agreement.
  [[nodiscard]] const split_nn_config& config() const noexcept { return config_; }
  /// The bottom model.
  [[nodiscard]] const split_nn_mlp<T>& bottom() const noexcept { return bottom_; }
  /// The bottom model's parameters.
  [[nodiscard]] std::span<const T> parameters() const noexcept { return params_; }
  /// The gradient of the last applied training step (zeros before the first).
  [[nodiscard]] std::span<const T> gradient() const noexcept { return grad_; }
  /// The step counter: the step of the next forward().
  [[nodiscard]] std::uint64_t step() const noexcept { return step_; }
  /// True between a training forward() and its backward().
  [[nodiscard]] bool awaiting_gradient() const noexcept { return pending_; }
  /// The options.
  [[nodiscard]] const split_nn_feature_options& options() const noexcept { return options_; }

  /// Runs the bottom model on the rows `ids` of `data` and returns the message for the label
  /// holder (kind train_activations or eval_activations), clipped and noised as the options say.
  /// A training batch then waits for backward(); an evaluation batch completes the step.
  /// Throws invalid_config while a gradient is awaited, for another kind, an empty or too large
  /// batch, or data whose width is not the bottom model's input.
  [[nodiscard]] message forward(split_nn_message_kind kind, std::span<const std::uint64_t> ids,
                                const split_nn_rows<T>& data) {
    if (pending_)
      throw invalid_config("split_nn_feature_party::forward: step " + std::to_string(step_) +
                           " still awaits its gradient");
    if (kind != split_nn_message_kind::train_activations && kind != split_nn_message_kind::eval_activations)
      throw invalid_config(
          std::string("split_nn_feature_party::forward: a feature party sends activations, not ") +
          to_string(kind));
    if (ids.empty() || ids.size() > config_.batch_size())
      throw invalid_config("split_nn_feature_party::forward: a batch of " + std::to_string(ids.size()) +
                           " examples, expected 1.." + std::to_string(config_.batch_size()));
    if (data.width != bottom_.input_width())
      throw invalid_config("split_nn_feature_party::forward: rows of " + std::to_string(data.width) +
                           " features, the bottom model takes " + std::to_string(bottom_.input_width()));
    const std::size_t n = ids.size(), k = bottom_.output_width();
    data.gather(ids, x_);
    const auto h = bottom_.forward(params_, n, x_.data(), data.width, ws_);
    h_raw_.assign(h.begin(), h.end());
    h_sent_ = h_raw_;
    factors_.assign(n, 1.0);
    norms_.assign(n, 0.0);
    split_nn_protect_activations(std::span<T>(h_sent_), n, k, options_.activation_noise, noise_, factors_,
                                 norms_);
    auto m = encode_split_nn_message(kind, step_, config_.endpoint(party_),
                                     static_cast<std::uint32_t>(party_), ids, k, std::span<const T>(h_sent_));
    if (kind == split_nn_message_kind::train_activations) {
      pending_ids_.assign(ids.begin(), ids.end());
      pending_ = true;
    } else {
      ++step_;
    }
    return m;
  }

  /// Applies the label holder's gradient for the pending training step: checks it (sender, kind,
  /// step, party, ids, width, finiteness), backpropagates through the clipping (if any) and the
  /// bottom model, takes the SGD step and completes the step. Throws split_nn_protocol_error
  /// (nothing changed) for a refused message — also when the resulting parameter gradient is not
  /// finite — and invalid_config when no gradient is awaited.
  void backward(const envelope& e) {
    if (!pending_)
      throw invalid_config("split_nn_feature_party::backward: no training step awaits a gradient (step " +
                           std::to_string(step_) + ")");
    const std::size_t n = pending_ids_.size(), k = bottom_.output_width();
    g_.resize(n * k);
    read_split_nn_message(e,
                          split_nn_expected{split_nn_message_kind::gradients, step_, config_.endpoint(0),
                                            static_cast<std::uint32_t>(party_), pending_ids_, k,
                                            config_.max_abs_value()},
                          std::span<T>(g_));
    if (options_.activation_noise.clips())
      split_nn_clip_backward(std::span<const T>(h_raw_), std::span<T>(g_), n, k, factors_, norms_);
    scratch_grad_.resize(params_.size());
    bottom_.backward(params_, n, x_.data(), bottom_.input_width(), g_, scratch_grad_, {}, ws_);
    if (const auto bad = detail::first_non_finite(std::span<const T>(scratch_grad_));
        bad < scratch_grad_.size())
      throw split_nn_protocol_error(split_nn_refusal::non_finite, e.from,
                                    "gradients of step " + std::to_string(step_) +
                                        ": the bottom model's gradient " + std::to_string(bad) +
                                        " is not finite");
    const T lr = static_cast<T>(options_.learning_rate);
    for (std::size_t i = 0; i < params_.size(); ++i) params_[i] -= lr * scratch_grad_[i];
    std::swap(grad_, scratch_grad_);
    pending_ = false;
    ++step_;
  }

  /// One epoch of training over `t`: for each batch of schedule.epoch_order(epoch), forward,
  /// send to the label holder, wait for the gradient (options().timeout) and apply it. Throws
  /// split_nn_protocol_error for a refused message or a timeout (reason timeout).
  template <transport Transport>
  void train_epoch(Transport& t, const split_nn_schedule& schedule, std::uint64_t epoch,
                   const split_nn_rows<T>& data) {
    const auto order = schedule.epoch_order(epoch);
    for (std::size_t b = 0; b < schedule.num_batches(); ++b) {
      t.send(config_.endpoint(0),
             forward(split_nn_message_kind::train_activations, schedule.batch(order, b), data));
      backward(receive(t));
    }
  }

  /// Sends the evaluation activations of `ids`, in batches of the config's batch size, in order.
  template <transport Transport>
  void evaluate(Transport& t, std::span<const std::uint64_t> ids, const split_nn_rows<T>& data) {
    for (std::size_t first = 0; first < ids.size(); first += config_.batch_size()) {
      const auto batch = ids.subspan(first, std::min(config_.batch_size(), ids.size() - first));
      t.send(config_.endpoint(0), forward(split_nn_message_kind::eval_activations, batch, data));
    }
  }

private:
  template <transport Transport>
  envelope receive(Transport& t) {
    auto e = t.receive(transport_clock::now() + options_.timeout);
    if (!e)
      throw split_nn_protocol_error(split_nn_refusal::timeout, config_.endpoint(0),
                                    "no gradient for step " + std::to_string(step_) + " within " +
                                        std::to_string(options_.timeout.count()) + " ms");
    return std::move(*e);
  }

  split_nn_config config_;
  std::size_t party_;
  split_nn_mlp<T> bottom_;
  std::vector<T> params_, grad_, scratch_grad_;
  split_nn_feature_options options_;
  privacy::secure_rng noise_;
  std::uint64_t step_ = 0;
  bool pending_ = false;
  std::vector<std::uint64_t> pending_ids_;
  typename split_nn_mlp<T>::workspace ws_;
  std::vector<T> x_, h_raw_, h_sent_, g_;
  std::vector<double> factors_, norms_;
};

} // namespace fedpp::vertical
