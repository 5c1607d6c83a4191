/// \file gan_trainer.hpp
/// Training a GAN locally (one party: a client, or the central baseline) and federated:
///
///  - `gan_learner`: Adam states of G and D and a generator of random numbers; `train_step` is
///    one alternating update (one D step on a real batch and as many fakes, then one G step on
///    fresh noise, Goodfellow et al. 2014, Algorithm 1 with k = discriminator_steps), and
///    `train_epochs` passes over a set of rows in shuffled minibatches;
///  - `federated_gan_trainer`: a `client_trainer` for `fedpp::server`. Client c takes the global
///    flat vector (G and D), trains local_epochs passes over its own rows, and returns its new
///    weights with FedAvg weight n_c (its rows). The server aggregates G's and D's tensors as
///    separate groups (gan/gan_plan.hpp) and broadcasts both back. Adam's moments stay on the
///    client between rounds (a client_state_store). With the plan's discriminator kept local,
///    each client trains its own D and never takes the broadcast D.
///
/// In the conditional variant the fake rows of a step carry the labels of the step's real rows,
/// so each client's D sees fakes of the classes it holds (under label skew it never sees others).
#pragma once

#include "fedpp/client/client_result.hpp"
#include "fedpp/client/round_config.hpp"
#include "fedpp/error.hpp"
#include "fedpp/gan/gan_models.hpp"
#include "fedpp/kernels/finite.hpp"
#include "fedpp/personalization/client_state_store.hpp"
#include "fedpp/random/rng.hpp"
#include "fedpp/tensor/flat_model.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <numeric>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace fedpp::gan {

/// Rows of training data, row-major: row i at features + i·dim, `dim` values in [0, 1], and its
/// label (only read by a conditional GAN). The memory is the caller's and must outlive its use.
struct gan_data_view {
  const float* features = nullptr;
  std::size_t rows = 0;
  std::size_t dim = 0;
  std::span<const std::uint8_t> labels; ///< `rows` labels, or empty for an unconditional GAN

  /// Throws invalid_config when the view does not fit `arch` (dim, labels present and below
  /// num_classes when conditional) or has no data pointer while holding rows.
  void validate(const gan_architecture& arch) const {
    if (rows > 0 && features == nullptr) throw invalid_config("gan_data_view: rows but no data");
    if (dim != arch.data_dim)
      throw invalid_config("gan_data_view: rows of " + std::to_string(dim) + " values for a GAN of " +
                           std::to_string(arch.data_dim));
    if (arch.conditional()) {
      if (labels.size() != rows)
        throw invalid_config("gan_data_view: " + std::to_string(labels.size()) + " labels for " +
                             std::to_string(rows) + " rows (conditional GAN)");
      for (auto y : labels)
        if (y >= arch.num_classes)
          throw invalid_config("gan_data_view: label " + std::to_string(y) + " is not below " +
                               std::to_string(arch.num_classes) + " classes");
    }
  }
};

/// Local training settings.
struct gan_training_options {
  adam_options generator{};              ///< G's Adam
  adam_options discriminator{};          ///< D's Adam
  std::uint32_t discriminator_steps = 1; ///< D steps per G step (k of Goodfellow et al. 2014)

  void validate() const {
    generator.validate("gan_training_options.generator");
    discriminator.validate("gan_training_options.discriminator");
    if (discriminator_steps < 1 || discriminator_steps > 100)
      throw invalid_config("gan_training_options: discriminator_steps must be in [1, 100], got " +
                           std::to_string(discriminator_steps));
  }
};

/// Means over the steps of a training call.
struct gan_training_stats {
  double discriminator_loss = 0; ///< L_D (mean over D steps)
  double generator_loss = 0;     ///< L_G (mean over G steps)
  double real_score = 0;         ///< mean σ(D(x)) on real rows at D's steps
  double fake_score = 0;         ///< mean σ(D(G(z))) at G's steps
  std::size_t steps = 0;         ///< G steps taken
  std::size_t examples = 0;      ///< real rows processed
};

/// One party's GAN training state: Adam for G and for D, and a random generator (noise,
/// shuffles). Copyable.
template <std::floating_point T = float>
class gan_learner {
public:
  /// Throws invalid_config for invalid options.
  gan_learner(const gan_model<T>& model, gan_training_options options, rng gen)
      : options_(validated(std::move(options))), gen_(gen), g_adam_(model.generator_size()),
        d_adam_(model.discriminator_size()) {}

  [[nodiscard]] const gan_training_options& options() const noexcept { return options_; }
  [[nodiscard]] rng& generator() noexcept { return gen_; }
  /// G steps taken since the last reset.
  [[nodiscard]] std::uint64_t steps() const noexcept { return g_adam_.steps(); }
  /// Zero Adam moments and step counters (the generator of random numbers goes on).
  void reset_optimizers() {
    g_adam_.reset();
    d_adam_.reset();
  }

  /// One alternating step on the real rows `batch` of `data` (1 ≤ size): discriminator_steps D
  /// updates against as many fakes G(z), then one G update on fresh z (labels: the batch's). Does
  /// not validate `data` (train_epochs does).
  gan_training_stats train_step(const gan_model<T>& model, std::span<T> params, const gan_data_view& data,
                                std::span<const std::size_t> batch) {
    const auto& arch = model.architecture();
    const std::size_t n = batch.size();
    if (n == 0) throw invalid_config("gan_learner::train_step: an empty batch");
    if (params.size() != model.num_parameters())
      throw invalid_config("gan_learner::train_step: " + std::to_string(params.size()) +
                           " parameters, the model has " + std::to_string(model.num_parameters()));
    real_.resize(n * arch.data_dim);
    labels_.clear();
    for (std::size_t i = 0; i < n; ++i) {
      if (batch[i] >= data.rows)
        throw invalid_config("gan_learner::train_step: row " + std::to_string(batch[i]) + " of " +
                             std::to_string(data.rows));
      const float* src = data.features + batch[i] * data.dim;
      for (std::size_t j = 0; j < arch.data_dim; ++j) real_[i * arch.data_dim + j] = static_cast<T>(src[j]);
      if (arch.conditional()) labels_.push_back(data.labels[batch[i]]);
    }
    gan_training_stats s;
    z_.resize(n * arch.noise_dim);
    d_grad_.resize(model.discriminator_size());
    g_grad_.resize(model.generator_size());
    const std::span<T> d_params = params.subspan(model.generator_size());
    for (std::uint32_t k = 0; k < options_.discriminator_steps; ++k) {
      fill_standard_normal(std::span<T>(z_), gen_);
      const auto fake = model.generate(params, n, z_, labels_, ws_);
      fake_.assign(fake.begin(), fake.end());
      const auto r =
          model.discriminator_loss_and_gradient(params, n, real_, labels_, n, fake_, labels_, d_grad_, ws_);
      d_adam_.step(d_params, d_grad_, options_.discriminator);
      s.discriminator_loss += r.loss / options_.discriminator_steps;
      s.real_score += r.real_score / options_.discriminator_steps;
    }
    fill_standard_normal(std::span<T>(z_), gen_);
    double fake_score = 0;
    s.generator_loss = model.generator_loss_and_gradient(params, n, z_, labels_, g_grad_, ws_, &fake_score);
    g_adam_.step(params.first(model.generator_size()), g_grad_, options_.generator);
    s.fake_score = fake_score;
    s.steps = 1;
    s.examples = n;
    return s;
  }

  /// `epochs` passes over `rows` (indices into data) in minibatches of `batch_size`, reshuffled
  /// each pass (the last batch of a pass may be smaller). Throws invalid_config, nothing
  /// changed, for a data view that does not fit the model, a row out of range, no rows, epochs
  /// or batch_size of 0.
  gan_training_stats train_epochs(const gan_model<T>& model, std::span<T> params, const gan_data_view& data,
                                  std::span<const std::size_t> rows, std::uint32_t epochs,
                                  std::size_t batch_size) {
    data.validate(model.architecture());
    if (rows.empty() || epochs == 0 || batch_size == 0)
      throw invalid_config("gan_learner::train_epochs: needs rows (" + std::to_string(rows.size()) +
                           "), epochs (" + std::to_string(epochs) + ") and batch_size (" +
                           std::to_string(batch_size) + ") >= 1");
    for (std::size_t r : rows)
      if (r >= data.rows)
        throw invalid_config("gan_learner::train_epochs: row " + std::to_string(r) + " of " +
                             std::to_string(data.rows));
    order_.assign(rows.begin(), rows.end());
    gan_training_stats total;
    for (std::uint32_t e = 0; e < epochs; ++e) {
      // Fisher–Yates with the learner's generator.
      for (std::size_t i = order_.size(); i > 1; --i) std::swap(order_[i - 1], order_[gen_.below(i)]);
      for (std::size_t at = 0; at < order_.size(); at += batch_size) {
        const std::size_t len = std::min(batch_size, order_.size() - at);
        const auto s = train_step(model, params, data, std::span<const std::size_t>(order_).subspan(at, len));
        total.discriminator_loss += s.discriminator_loss;
        total.generator_loss += s.generator_loss;
        total.real_score += s.real_score;
        total.fake_score += s.fake_score;
        total.steps += 1;
        total.examples += len;
      }
    }
    const double k = static_cast<double>(total.steps);
    total.discriminator_loss /= k;
    total.generator_loss /= k;
    total.real_score /= k;
    total.fake_score /= k;
    return total;
  }

private:
  static gan_training_options validated(gan_training_options o) {
    o.validate();
    return o;
  }

  gan_training_options options_;
  rng gen_;
  adam_state<T> g_adam_, d_adam_;
  typename gan_model<T>::workspace ws_;
  std::vector<T> real_, fake_, z_, d_grad_, g_grad_;
  std::vector<std::uint8_t> labels_;
  std::vector<std::size_t> order_;
};

/// Whether clients share their discriminator (the default) or keep it local.
enum class discriminator_sharing : std::uint8_t {
  federated, ///< D aggregated like G and broadcast back
  local      ///< each client trains its own D (the plan keeps "disc." local: a zero delta at the server)
};

/// Settings of a federated_gan_trainer.
struct federated_gan_setup {
  gan_architecture architecture{};
  gan_training_options training{};
  gan_data_view data{};                       ///< every client's rows are indices into this
  std::vector<std::vector<std::size_t>> rows; ///< client c's rows: rows[c] (non-empty)
  std::uint64_t seed = 0;                     ///< client c's generator: rng::for_stream(seed, c)
  discriminator_sharing sharing = discriminator_sharing::federated;
  std::uint32_t max_local_epochs = 1000;   ///< refuse round_configs asking for more
  std::uint32_t max_batch_size = 1u << 16; ///< refuse round_configs asking for more
};

/// A client_trainer (float) over a federated_gan_setup. Copies share the clients' states, so one
/// trainer serves every host thread of an in_process_federation.
class federated_gan_trainer {
public:
  /// Throws invalid_config for an invalid architecture, options or data view, no clients, a
  /// client without rows, a row out of range.
  explicit federated_gan_trainer(federated_gan_setup setup)
      : setup_(std::make_shared<const federated_gan_setup>(std::move(setup))),
        model_(std::make_shared<const gan_model<float>>(setup_->architecture)) {
    setup_->training.validate();
    setup_->data.validate(setup_->architecture);
    if (setup_->rows.empty()) throw invalid_config("federated_gan_trainer: no clients");
    for (std::size_t c = 0; c < setup_->rows.size(); ++c) {
      if (setup_->rows[c].empty())
        throw invalid_config("federated_gan_trainer: client " + std::to_string(c) + " holds no rows");
      for (std::size_t r : setup_->rows[c])
        if (r >= setup_->data.rows)
          throw invalid_config("federated_gan_trainer: client " + std::to_string(c) + " holds row " +
                               std::to_string(r) + " of " + std::to_string(setup_->data.rows));
    }
    if (setup_->max_local_epochs == 0 || setup_->max_batch_size == 0)
      throw invalid_config("federated_gan_trainer: max_local_epochs and max_batch_size must be >= 1");
  }

  [[nodiscard]] const gan_model<float>& model() const noexcept { return *model_; }
  [[nodiscard]] const model_layout& layout() const noexcept { return model_->layout(); }
  [[nodiscard]] std::size_t num_clients() const noexcept { return setup_->rows.size(); }

  /// One round for client `id`: from `global` (its D replaced by the client's own under
  /// discriminator_sharing::local), config.local_epochs passes over its rows in batches of
  /// config.batch_size; returns the new weights (update_kind::weights, weight = its rows) and the
  /// metrics d_loss, g_loss, d_real, d_fake (means over the round's steps). Throws invalid_config,
  /// the client's state unchanged, for an unknown client, a global model of another layout or with
  /// a non-finite value, local_epochs or batch_size outside [1, max]. A client whose training
  /// ends with non-finite parameters returns them (the server's checked aggregation refuses
  /// them) and restarts its Adam moments.
  client_result<float> operator()(client_id id, const host_model_view<const float>& global,
                                  const round_config& config) const {
    if (id >= num_clients())
      throw invalid_config("federated_gan_trainer: client " + std::to_string(id) + " is unknown (" +
                           std::to_string(num_clients()) + " clients)");
    if (config.local_epochs < 1 || config.local_epochs > setup_->max_local_epochs)
      throw invalid_config("federated_gan_trainer: local_epochs " + std::to_string(config.local_epochs) +
                           " is outside [1, " + std::to_string(setup_->max_local_epochs) + "]");
    if (config.batch_size < 1 || config.batch_size > setup_->max_batch_size)
      throw invalid_config("federated_gan_trainer: batch_size " + std::to_string(config.batch_size) +
                           " is outside [1, " + std::to_string(setup_->max_batch_size) + "]");
    flat_model<float> params = flat_model<float>::copy_of(global);
    if (params.layout() != layout())
      throw invalid_config("federated_gan_trainer: the global model's layout is not the GAN's (" +
                           model_layout::describe_difference(layout(), params.layout()).value_or("differs") +
                           ")");
    const std::size_t bad = kernels::find_non_finite(std::span<const float>(params.span()));
    if (bad != params.size())
      throw invalid_config("federated_gan_trainer: the global model's element " + std::to_string(bad) +
                           " is not finite");
    return states_.update(
        id,
        [&] {
          return client_state{
              gan_learner<float>(*model_, setup_->training, rng::for_stream(setup_->seed, id)), {}};
        },
        [&](client_state& st) {
          const std::size_t g = model_->generator_size();
          auto disc = params.span().subspan(g);
          if (setup_->sharing == discriminator_sharing::local) {
            if (st.local_disc.empty()) st.local_disc.assign(disc.begin(), disc.end());
            std::copy(st.local_disc.begin(), st.local_disc.end(), disc.begin());
          }
          const auto s = st.learner.train_epochs(*model_, params.span(), setup_->data, setup_->rows[id],
                                                 config.local_epochs, config.batch_size);
          if (!kernels::all_finite(std::span<const float>(params.span()))) st.learner.reset_optimizers();
          if (setup_->sharing == discriminator_sharing::local)
            std::copy(disc.begin(), disc.end(), st.local_disc.begin());
          return client_result<float>{std::move(params),
                                      update_kind::weights,
                                      static_cast<double>(setup_->rows[id].size()),
                                      {{"d_loss", s.discriminator_loss},
                                       {"g_loss", s.generator_loss},
                                       {"d_real", s.real_score},
                                       {"d_fake", s.fake_score}}};
        });
  }

  /// Client `id`'s own discriminator (discriminator_sharing::local; empty before its first round).
  [[nodiscard]] std::vector<float> local_discriminator(client_id id) const {
    return states_.read(id,
                        [](const client_state* st) { return st ? st->local_disc : std::vector<float>{}; });
  }

private:
  struct client_state {
    gan_learner<float> learner;
    std::vector<float> local_disc;
  };

  std::shared_ptr<const federated_gan_setup> setup_;
  std::shared_ptr<const gan_model<float>> model_;
  mutable client_state_store<client_state> states_;
};

} // namespace fedpp::gan
