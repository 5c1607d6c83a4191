/// \file split_nn_label_party.hpp
/// The label holder of a split neural network (party 0): it runs its own bottom model on its own
/// features, joins its cut-layer activations with the feature parties' (split_nn_combine), runs
/// the top model and the softmax cross-entropy loss on its labels, and in training returns to
/// each feature party the gradient of the loss w.r.t. that party's activations (optionally
/// clipped and noised, split_nn_cut_noise.hpp), then takes an SGD step on its bottom and top
/// models. Labels, its features and both of its models never leave it.
///
/// The forward and backward passes are exactly those of the unsplit network
/// top(combine(bottom_0(x_0), …, bottom_{P−1}(x_{P−1}))) (Vepakomma et al. 2018): without noise,
/// the gradients every party applies are the unsplit network's (tested in double to 1e-10).
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
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace fedpp::vertical {

/// Options of the label holder.
struct split_nn_label_options {
  double learning_rate = 0.1;        ///< SGD step size of the bottom and top models
  split_nn_cut_noise gradient_noise; ///< clipping and noise of the returned gradients (off by default)
  /// Wait for each party's activations at most this long in train_epoch / evaluate.
  std::chrono::milliseconds timeout{std::chrono::seconds(60)};
};

/// Loss and accuracy of a batch, an epoch or an evaluation.
struct split_nn_scores {
  double loss_sum = 0;      ///< Σ of the examples' cross-entropies
  std::size_t correct = 0;  ///< examples whose argmax logit is the label
  std::size_t examples = 0; ///< examples scored

  /// Mean cross-entropy (0 without examples).
  [[nodiscard]] double mean_loss() const noexcept {
    return examples == 0 ? 0.0 : loss_sum / static_cast<double>(examples);
  }
  /// Fraction correct (0 without examples).
  [[nodiscard]] double accuracy() const noexcept {
    return examples == 0 ? 0.0 : static_cast<double>(correct) / static_cast<double>(examples);
  }
  /// Adds another batch's scores.
  split_nn_scores& operator+=(const split_nn_scores& o) noexcept {
    loss_sum += o.loss_sum;
    correct += o.correct;
    examples += o.examples;
    return *this;
  }
};

/// Party 0 of a split-NN session.
template <std::floating_point T>
class split_nn_label_party {
public:
  using value_type = T;

  /// What a training step yields: the batch's scores (on the parameters before the step) and
  /// one gradient message per feature party (index p − 1), to send to config().endpoint(p).
  struct step_result {
    split_nn_scores scores;
    std::vector<message> gradients;
  };

  /// The label holder of `config` with bottom model `bottom` (output width config.cut_width(0))
  /// at `bottom_parameters` and top model `top` (input width config.top_input_width(), one output
  /// per class) at `top_parameters`, drawing noise from `noise`. Throws invalid_config for
  /// models that do not fit the config, parameter vectors of the wrong size or with non-finite
  /// values, a top model with a ReLU output or fewer than 2 or more than 256 classes, a learning
  /// rate that is not positive and finite, or bad noise options.
  split_nn_label_party(split_nn_config config, split_nn_mlp<T> bottom, std::vector<T> bottom_parameters,
                       split_nn_mlp<T> top, std::vector<T> top_parameters,
                       split_nn_label_options options = {}, privacy::secure_rng noise = privacy::secure_rng())
      : config_(std::move(config)), bottom_(std::move(bottom)), top_(std::move(top)),
        bottom_params_(std::move(bottom_parameters)), top_params_(std::move(top_parameters)),
        options_(options), noise_(noise) {
    const std::string who = "split_nn_label_party";
    if (bottom_.output_width() != config_.cut_width(0))
      throw invalid_config(who + ": the bottom model outputs " + std::to_string(bottom_.output_width()) +
                           " values, the agreed cut width of party 0 is " +
                           std::to_string(config_.cut_width(0)));
    if (top_.input_width() != config_.top_input_width())
      throw invalid_config(who + ": the top model takes " + std::to_string(top_.input_width()) +
                           " inputs, the " + to_string(config_.combine()) + " of the cut layers has " +
                           std::to_string(config_.top_input_width()));
    if (top_.relu_output() || top_.output_width() < 2 || top_.output_width() > 256)
      throw invalid_config(who + ": the top model must output 2..256 class logits without a ReLU, got " +
                           std::to_string(top_.output_width()) + (top_.relu_output() ? " with a ReLU" : ""));
    if (bottom_params_.size() != bottom_.num_parameters() || top_params_.size() != top_.num_parameters())
      throw invalid_config(who + ": " + std::to_string(bottom_params_.size()) + " bottom and " +
                           std::to_string(top_params_.size()) + " top parameters, the models have " +
                           std::to_string(bottom_.num_parameters()) + " and " +
                           std::to_string(top_.num_parameters()));
    if (!detail::all_finite(std::span<const T>(bottom_params_)) ||
        !detail::all_finite(std::span<const T>(top_params_)))
      throw invalid_config(who + ": the initial parameters are not all finite");
    if (!(options_.learning_rate > 0) || !std::isfinite(options_.learning_rate))
      throw invalid_config(who + ": learning rate " + std::to_string(options_.learning_rate) +
                           " must be positive and finite");
    options_.gradient_noise.validate(who + " gradient noise");
    bottom_grad_.assign(bottom_params_.size(), T(0));
    top_grad_.assign(top_params_.size(), T(0));
    received_.resize(config_.num_parties());
  }

  /// The agreement.
  [[nodiscard]] const split_nn_config& config() const noexcept { return config_; }
  /// The label holder's bottom model.
  [[nodiscard]] const split_nn_mlp<T>& bottom() const noexcept { return bottom_; }
  /// The top model.
  [[nodiscard]] const split_nn_mlp<T>& top() const noexcept { return top_; }
  /// The bottom model's parameters.
  [[nodiscard]] std::span<const T> bottom_parameters() const noexcept { return bottom_params_; }
  /// The top model's parameters.
  [[nodiscard]] std::span<const T> top_parameters() const noexcept { return top_params_; }
  /// The bottom model's gradient of the last training step (zeros before the first).
  [[nodiscard]] std::span<const T> bottom_gradient() const noexcept { return bottom_grad_; }
  /// The top model's gradient of the last training step (zeros before the first).
  [[nodiscard]] std::span<const T> top_gradient() const noexcept { return top_grad_; }
  /// The step counter: the step of the next batch (training or evaluation).
  [[nodiscard]] std::uint64_t step() const noexcept { return step_; }
  /// The options.
  [[nodiscard]] const split_nn_label_options& options() const noexcept { return options_; }

  /// One training step on the batch `ids`: checks the feature parties' activations (one
  /// envelope per feature party, any order), runs the joint forward and backward passes on the
  /// own rows `data` and `labels` (labels[id] is example id's class), and returns the scores
  /// and the gradient messages. The SGD step and the step counter change only once everything
  /// checked out: a split_nn_protocol_error (refused message: unknown or repeated sender, kind,
  /// step, party, ids, width, finiteness; or a step whose loss or gradients are not finite)
  /// leaves the party as it was. invalid_config for a batch of bad size, data or labels.
  step_result train_step(std::span<const std::uint64_t> ids, const split_nn_rows<T>& data,
                         std::span<const std::uint8_t> labels, std::span<const envelope> activations) {
    const std::size_t n = ids.size();
    check_batch("train_step", ids, data, labels);
    accept(split_nn_message_kind::train_activations, ids, activations);
    const auto& logits = joint_forward(ids, data);
    // dL/dlogits for the batch-mean cross-entropy, then back through the top model.
    dlogits_.assign(logits.begin(), logits.end());
    split_nn_scores scores;
    scores.examples = n;
    gather_labels(ids, labels);
    scores.loss_sum = detail::softmax_cross_entropy_backward(std::span<T>(dlogits_), n, top_.output_width(),
                                                             batch_labels_, scores.correct) *
                      static_cast<double>(n);
    const std::size_t top_w = config_.top_input_width();
    new_top_grad_.resize(top_params_.size());
    dz_.resize(n * top_w);
    top_.backward(top_params_, n, z_.data(), top_w, dlogits_, new_top_grad_, dz_, top_ws_);
    // The label holder's own columns of dz go back through its bottom model.
    slice(0, n, g_own_);
    new_bottom_grad_.resize(bottom_params_.size());
    bottom_.backward(bottom_params_, n, x_.data(), bottom_.input_width(), g_own_, new_bottom_grad_, {},
                     bottom_ws_);
    if (!std::isfinite(scores.loss_sum) || !detail::all_finite(std::span<const T>(new_top_grad_)) ||
        !detail::all_finite(std::span<const T>(new_bottom_grad_)) ||
        !detail::all_finite(std::span<const T>(dz_)))
      throw split_nn_protocol_error(
          split_nn_refusal::non_finite, config_.endpoint(blamed_party()),
          "train_activations of step " + std::to_string(step_) +
              ": the step's loss or gradients are not finite (activations too large?)");
    // Everything checked: the gradients to send (noised as configured), then the SGD step.
    step_result result{scores, {}};
    result.gradients.reserve(config_.num_parties() - 1);
    for (std::size_t p = 1; p < config_.num_parties(); ++p) {
      const std::size_t k = config_.cut_width(p);
      slice(p, n, g_party_);
      factors_.assign(n, 1.0);
      norms_.assign(n, 0.0);
      split_nn_protect_gradients(std::span<T>(g_party_), n, k, options_.gradient_noise, noise_, factors_,
                                 norms_);
      result.gradients.push_back(encode_split_nn_message(split_nn_message_kind::gradients, step_,
                                                         config_.endpoint(0), static_cast<std::uint32_t>(p),
                                                         ids, k, std::span<const T>(g_party_)));
    }
    const T lr = static_cast<T>(options_.learning_rate);
    for (std::size_t i = 0; i < top_params_.size(); ++i) top_params_[i] -= lr * new_top_grad_[i];
    for (std::size_t i = 0; i < bottom_params_.size(); ++i) bottom_params_[i] -= lr * new_bottom_grad_[i];
    std::swap(top_grad_, new_top_grad_);
    std::swap(bottom_grad_, new_bottom_grad_);
    ++step_;
    return result;
  }

  /// One evaluation step on the batch `ids`: checks the feature parties' eval_activations as
  /// train_step does, and scores the joint model on `labels`. Only the step counter changes.
  split_nn_scores eval_step(std::span<const std::uint64_t> ids, const split_nn_rows<T>& data,
                            std::span<const std::uint8_t> labels, std::span<const envelope> activations) {
    check_batch("eval_step", ids, data, labels);
    accept(split_nn_message_kind::eval_activations, ids, activations);
    const auto& logits = joint_forward(ids, data);
    gather_labels(ids, labels);
    split_nn_scores s;
    s.examples = ids.size();
    s.loss_sum = detail::softmax_cross_entropy_sum(std::span<const T>(logits), ids.size(),
                                                   top_.output_width(), batch_labels_, s.correct);
    ++step_;
    return s;
  }

  /// One epoch of training over `t`: for each batch of schedule.epoch_order(epoch), receives
  /// every feature party's activations (options().timeout each), runs train_step and sends the
  /// gradients. Returns the epoch's training scores. Throws split_nn_protocol_error for a refused
  /// message or a timeout.
  template <transport Transport>
  split_nn_scores train_epoch(Transport& t, const split_nn_schedule& schedule, std::uint64_t epoch,
                              const split_nn_rows<T>& data, std::span<const std::uint8_t> labels) {
    const auto order = schedule.epoch_order(epoch);
    split_nn_scores total;
    for (std::size_t b = 0; b < schedule.num_batches(); ++b) {
      const auto ids = schedule.batch(order, b);
      collect(t);
      auto r = train_step(ids, data, labels, inbox_);
      for (std::size_t p = 1; p < config_.num_parties(); ++p) t.send(config_.endpoint(p), r.gradients[p - 1]);
      total += r.scores;
    }
    return total;
  }

  /// Scores the joint model on `ids` (batches of the config's batch size, in order) with the
  /// feature parties' eval_activations received over `t`.
  template <transport Transport>
  split_nn_scores evaluate(Transport& t, std::span<const std::uint64_t> ids, const split_nn_rows<T>& data,
                           std::span<const std::uint8_t> labels) {
    split_nn_scores total;
    for (std::size_t first = 0; first < ids.size(); first += config_.batch_size()) {
      const auto batch = ids.subspan(first, std::min(config_.batch_size(), ids.size() - first));
      collect(t);
      total += eval_step(batch, data, labels, inbox_);
    }
    return total;
  }

private:
  void check_batch(const char* who, std::span<const std::uint64_t> ids, const split_nn_rows<T>& data,
                   std::span<const std::uint8_t> labels) const {
    if (ids.empty() || ids.size() > config_.batch_size())
      throw invalid_config(std::string("split_nn_label_party::") + who + ": a batch of " +
                           std::to_string(ids.size()) + " examples, expected 1.." +
                           std::to_string(config_.batch_size()));
    if (data.width != bottom_.input_width())
      throw invalid_config(std::string("split_nn_label_party::") + who + ": rows of " +
                           std::to_string(data.width) + " features, the bottom model takes " +
                           std::to_string(bottom_.input_width()));
    if (labels.size() != data.rows)
      throw invalid_config(std::string("split_nn_label_party::") + who + ": " +
                           std::to_string(labels.size()) + " labels for " + std::to_string(data.rows) +
                           " rows");
  }

  /// Reads one message per feature party from `activations` into received_[p]; throws (state
  /// unchanged) for an unknown or repeated sender, a missing party, or a refused message.
  void accept(split_nn_message_kind kind, std::span<const std::uint64_t> ids,
              std::span<const envelope> activations) {
    std::vector<bool> seen(config_.num_parties(), false);
    for (const auto& e : activations) {
      std::size_t p = 1;
      while (p < config_.num_parties() && config_.endpoint(p) != e.from) ++p;
      if (p == config_.num_parties())
        throw split_nn_protocol_error(split_nn_refusal::wrong_sender, e.from,
                                      std::string(to_string(kind)) + " of step " + std::to_string(step_) +
                                          ": the endpoint is no feature party of this session");
      if (seen[p])
        throw split_nn_protocol_error(split_nn_refusal::out_of_order, e.from,
                                      std::string(to_string(kind)) + " of step " + std::to_string(step_) +
                                          ": a second message from party " + std::to_string(p));
      seen[p] = true;
      const std::size_t k = config_.cut_width(p);
      received_[p].resize(ids.size() * k);
      read_split_nn_message(e,
                            split_nn_expected{kind, step_, e.from, static_cast<std::uint32_t>(p), ids, k,
                                              config_.max_abs_value()},
                            std::span<T>(received_[p]));
    }
    for (std::size_t p = 1; p < config_.num_parties(); ++p)
      if (!seen[p])
        throw split_nn_protocol_error(split_nn_refusal::timeout, config_.endpoint(p),
                                      std::string(to_string(kind)) + " of step " + std::to_string(step_) +
                                          ": no message from party " + std::to_string(p));
  }

  /// Own bottom forward, the combination z (n × top width) and the top forward; returns the logits.
  std::span<const T> joint_forward(std::span<const std::uint64_t> ids, const split_nn_rows<T>& data) {
    const std::size_t n = ids.size(), top_w = config_.top_input_width();
    data.gather(ids, x_);
    const auto h0 = bottom_.forward(bottom_params_, n, x_.data(), data.width, bottom_ws_);
    z_.assign(n * top_w, T(0));
    for (std::size_t p = 0; p < config_.num_parties(); ++p) {
      const std::size_t k = config_.cut_width(p), off = config_.top_offset(p);
      const T* h = p == 0 ? h0.data() : received_[p].data();
      for (std::size_t r = 0; r < n; ++r)
        for (std::size_t j = 0; j < k; ++j) z_[r * top_w + off + j] += h[r * k + j];
    }
    return top_.forward(top_params_, n, z_.data(), top_w, top_ws_);
  }

  /// Party p's columns of dz_ (all of dz_ under sum) into `out` (n × k_p).
  void slice(std::size_t p, std::size_t n, std::vector<T>& out) const {
    const std::size_t k = config_.cut_width(p), off = config_.top_offset(p),
                      top_w = config_.top_input_width();
    out.resize(n * k);
    for (std::size_t r = 0; r < n; ++r)
      for (std::size_t j = 0; j < k; ++j) out[r * k + j] = dz_[r * top_w + off + j];
  }

  void gather_labels(std::span<const std::uint64_t> ids, std::span<const std::uint8_t> labels) {
    batch_labels_.resize(ids.size());
    for (std::size_t r = 0; r < ids.size(); ++r) {
      const auto y =
          labels[static_cast<std::size_t>(ids[r])]; // ids < data.rows = labels.size(): gather checked
      if (y >= top_.output_width())
        throw invalid_config("split_nn_label_party: label " + std::to_string(y) + " of example " +
                             std::to_string(ids[r]) + " is not below the " +
                             std::to_string(top_.output_width()) + " classes");
      batch_labels_[r] = y;
    }
  }

  /// The feature party whose activations are largest in magnitude (the likely cause of a
  /// non-finite step), for the error message.
  [[nodiscard]] std::size_t blamed_party() const noexcept {
    std::size_t worst = 1;
    double most = -1;
    for (std::size_t p = 1; p < config_.num_parties(); ++p)
      for (const T v : received_[p])
        if (std::abs(static_cast<double>(v)) > most) {
          most = std::abs(static_cast<double>(v));
          worst = p;
        }
    return worst;
  }

  /// Receives one message from every feature party into inbox_ (order of arrival).
  template <transport Transport>
  void collect(Transport& t) {
    inbox_.clear();
    while (inbox_.size() + 1 < config_.num_parties()) {
      auto e = t.receive(transport_clock::now() + options_.timeout);
      if (!e) {
        std::size_t missing = 1; // the first feature party not heard from, for the message
        while (missing + 1 < config_.num_parties() &&
               std::any_of(inbox_.begin(), inbox_.end(),
                           [&](const envelope& got) { return got.from == config_.endpoint(missing); }))
          ++missing;
        throw split_nn_protocol_error(split_nn_refusal::timeout, config_.endpoint(missing),
                                      "no activations for step " + std::to_string(step_) + " within " +
                                          std::to_string(options_.timeout.count()) + " ms (" +
                                          std::to_string(inbox_.size()) + " of " +
                                          std::to_string(config_.num_parties() - 1) + " parties answered)");
      }
      inbox_.push_back(std::move(*e));
    }
  }

  split_nn_config config_;
  split_nn_mlp<T> bottom_, top_;
  std::vector<T> bottom_params_, top_params_, bottom_grad_, top_grad_, new_bottom_grad_, new_top_grad_;
  split_nn_label_options options_;
  privacy::secure_rng noise_;
  std::uint64_t step_ = 0;
  std::vector<std::vector<T>> received_;
  std::vector<envelope> inbox_;
  typename split_nn_mlp<T>::workspace bottom_ws_, top_ws_;
  std::vector<T> x_, z_, dlogits_, dz_, g_own_, g_party_;
  std::vector<std::uint8_t> batch_labels_;
  std::vector<double> factors_, norms_;
};

} // namespace fedpp::vertical
