/// \file local_training.hpp
/// Training and evaluation of a trainable_model on a dataset_view: a client's local minibatch
/// SGD (with the optional FedProx proximal term), the central-training baseline, and batched
/// evaluation. All randomness comes from fedpp::rng, so a seed fixes the result everywhere.
#pragma once

#include "fedpp/client/round_config.hpp"
#include "fedpp/error.hpp"
#include "fedpp/kernels/scaled_accumulate.hpp"
#include "fedpp/parallel/thread_pool.hpp"
#include "fedpp/random/rng.hpp"
#include "fedpp/simulation/dataset_view.hpp"
#include "fedpp/simulation/detail/model_common.hpp"
#include "fedpp/simulation/trainable_model.hpp"

#include <Eigen/Core>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace fedpp::simulation {

/// Local-training hyper-parameters.
struct sgd_config {
  std::uint32_t epochs = 1;      ///< passes over the client's examples (E)
  std::uint32_t batch_size = 32; ///< minibatch size (B); the last batch of an epoch may be smaller
  double learning_rate = 0.01;   ///< step size (η)
  double proximal_mu = 0;        ///< FedProx μ; 0 = plain FedAvg local SGD

  /// The settings a round_config carries: local_epochs, batch_size, learning_rate, and
  /// extra["fedprox.mu"] (default 0).
  [[nodiscard]] static sgd_config from(const round_config& config) {
    return {config.local_epochs, config.batch_size, config.learning_rate,
            config.get_double("fedprox.mu", 0.0)};
  }
};

/// What one training call did.
struct train_result {
  std::size_t num_examples = 0; ///< examples processed (epochs × view size for local_train)
  std::size_t num_steps = 0;    ///< SGD steps taken
  double mean_loss = 0;         ///< cross-entropy averaged over all processed examples (at the
                                ///< parameters each batch saw, excluding the proximal term); 0 if none
};

/// Accuracy and loss of a model over a dataset view.
struct evaluation {
  double accuracy = 0;          ///< fraction of argmax predictions equal to the label; 0 if empty
  double mean_loss = 0;         ///< mean softmax cross-entropy; 0 if empty
  std::size_t num_examples = 0; ///< examples evaluated
};

namespace detail {

/// Copies the view's examples at positions order[begin, begin + count) into the rows of x and
/// their labels into y.
template <class T>
void gather(const dataset_view& data, std::span<const std::size_t> order, std::size_t begin,
            std::size_t count, row_matrix<T>& x, std::vector<std::uint8_t>& y) {
  const auto d = static_cast<Eigen::Index>(data.num_features());
  x.resize(static_cast<Eigen::Index>(count), d);
  y.resize(count);
  for (std::size_t r = 0; r < count; ++r) {
    const std::size_t i = order.empty() ? begin + r : order[begin + r];
    const auto features = data.example(i);
    x.row(static_cast<Eigen::Index>(r)) =
        Eigen::Map<const Eigen::Matrix<float, 1, Eigen::Dynamic>>(features.data(), d).template cast<T>();
    y[r] = data.label(i);
  }
}

template <trainable_model M>
void check_model_data(const char* who, const M& model, std::size_t num_params, const dataset_view& data) {
  check_params(who, model.layout(), num_params);
  if (data.num_features() != model.num_features())
    throw invalid_config(std::string(who) + ": the data has " + std::to_string(data.num_features()) +
                         " features, the model " + std::to_string(model.num_features()));
  if (data.num_classes() > model.num_classes())
    throw invalid_config(std::string(who) + ": the data has " + std::to_string(data.num_classes()) +
                         " classes, the model only " + std::to_string(model.num_classes()));
}

inline void check_sgd(const char* who, std::uint32_t batch_size, double learning_rate, double mu) {
  if (batch_size == 0) throw invalid_config(std::string(who) + ": batch_size must be > 0");
  if (!(learning_rate > 0) || !std::isfinite(learning_rate))
    throw invalid_config(std::string(who) + ": learning_rate must be finite and > 0, got " +
                         std::to_string(learning_rate));
  if (!(mu >= 0) || !std::isfinite(mu))
    throw invalid_config(std::string(who) + ": proximal_mu must be finite and ≥ 0, got " +
                         std::to_string(mu));
}

/// The stream of fedpp::rng that shuffles client `client`'s data in round `round`.
[[nodiscard]] inline rng client_round_rng(std::uint64_t seed, client_id client,
                                          std::uint64_t round) noexcept {
  std::uint64_t s = round;
  return rng::for_stream(seed, splitmix64(s) ^ client);
}

/// Minibatch SGD over `total` examples of `data`, reshuffling at the start of every pass:
/// w ← w − η (∇L_B(w) + μ (w − w_global)); the elements in `frozen` ranges do not move.
template <trainable_model M>
train_result sgd(const M& model, std::span<typename M::value_type> params, const dataset_view& data,
                 std::size_t total, std::uint32_t batch_size, double learning_rate, double mu,
                 std::span<const typename M::value_type> global, rng& gen,
                 std::span<const std::pair<std::size_t, std::size_t>> frozen = {}) {
  using T = typename M::value_type;
  train_result result;
  const std::size_t n = data.size();
  if (n == 0 || total == 0) return result;
  std::vector<std::size_t> order(n);
  std::vector<T> grad(params.size());
  typename M::workspace ws;
  row_matrix<T> x;
  std::vector<std::uint8_t> y;
  Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, 1>> w(params.data(),
                                                          static_cast<Eigen::Index>(params.size()));
  Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, 1>> g(grad.data(), static_cast<Eigen::Index>(grad.size()));
  Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, 1>> wg(global.data(),
                                                           static_cast<Eigen::Index>(global.size()));
  const T eta = static_cast<T>(learning_rate), mu_t = static_cast<T>(mu);
  double loss_sum = 0;
  while (result.num_examples < total) {
    std::iota(order.begin(), order.end(), std::size_t{0});
    for (std::size_t i = n; i > 1; --i) std::swap(order[i - 1], order[gen.below(i)]);
    for (std::size_t b = 0; b < n && result.num_examples < total;) {
      const std::size_t count = std::min({std::size_t{batch_size}, n - b, total - result.num_examples});
      gather(data, order, b, count, x, y);
      loss_sum += model.loss_and_gradient(std::span<const T>(params), x, y, std::span<T>(grad), ws) *
                  static_cast<double>(count);
      if (mu > 0) g += mu_t * (w - wg);
      for (const auto& [first, length] : frozen)
        std::fill_n(grad.begin() + static_cast<std::ptrdiff_t>(first), length, T(0));
      kernels::scaled_accumulate(params, -eta, std::span<const T>(grad)); // w ← w − η g
      b += count;
      result.num_examples += count;
      ++result.num_steps;
    }
  }
  result.mean_loss = loss_sum / static_cast<double>(result.num_examples);
  return result;
}

} // namespace detail

/// A client's local update: `config.epochs` passes of minibatch SGD over `data`, updating
/// `params` in place. Each epoch visits the examples in a fresh random order drawn from the
/// fedpp::rng stream of (seed, client, round), so a run is reproducible and clients/rounds are
/// decorrelated.
///
/// FedProx (Li et al. 2020, "Federated Optimization in Heterogeneous Networks"): with
/// config.proximal_mu = μ > 0 the local objective is L(w) + μ/2 ‖w − w_global‖², i.e. μ (w −
/// w_global) is added to each minibatch gradient. `global` is w_global; when empty it is a copy
/// of `params` at entry (the global model the client starts from).
///
/// `frozen` lists ranges [first, first + count) of `params` that do not move (their gradient is
/// zeroed each step): FedRep's frozen body or head (personalization/sharing_plan.hpp's
/// frozen_ranges).
///
/// Throws invalid_config (before touching `params`) for a parameter count that does not match
/// the model, a feature/class mismatch with the data, batch_size 0, η ≤ 0, μ < 0, a non-empty
/// `global` of the wrong size or a frozen range outside `params`.
template <trainable_model M>
train_result local_train(const M& model, std::span<typename M::value_type> params, const dataset_view& data,
                         const sgd_config& config, std::uint64_t seed, client_id client, std::uint64_t round,
                         std::span<const typename M::value_type> global = {},
                         std::span<const std::pair<std::size_t, std::size_t>> frozen = {}) {
  using T = typename M::value_type;
  detail::check_model_data("local_train", model, params.size(), data);
  detail::check_sgd("local_train", config.batch_size, config.learning_rate, config.proximal_mu);
  if (!global.empty() && global.size() != params.size())
    throw invalid_config("local_train: the global model has " + std::to_string(global.size()) +
                         " parameters, the local one " + std::to_string(params.size()));
  for (const auto& [first, count] : frozen)
    if (first > params.size() || count > params.size() - first)
      throw invalid_config("local_train: a frozen range [" + std::to_string(first) + ", +" +
                           std::to_string(count) + ") outside the " + std::to_string(params.size()) +
                           " parameters");
  std::vector<T> start;
  if (config.proximal_mu > 0 && global.empty()) {
    start.assign(params.begin(), params.end());
    global = start;
  }
  rng gen = detail::client_round_rng(seed, client, round);
  return detail::sgd(model, params, data, std::size_t{config.epochs} * data.size(), config.batch_size,
                     config.learning_rate, config.proximal_mu, global, gen, frozen);
}

/// The central-training baseline: minibatch SGD on all of `data` for `num_examples` processed
/// examples (e.g. as many as a federated run processed in total), reshuffling at every full
/// pass; the last pass may be partial. Throws invalid_config like local_train.
template <trainable_model M>
train_result train_central(const M& model, std::span<typename M::value_type> params, const dataset_view& data,
                           std::size_t num_examples, std::uint32_t batch_size, double learning_rate,
                           std::uint64_t seed) {
  detail::check_model_data("train_central", model, params.size(), data);
  detail::check_sgd("train_central", batch_size, learning_rate, 0.0);
  rng gen(seed);
  return detail::sgd(model, params, data, num_examples, batch_size, learning_rate, 0.0,
                     std::span<const typename M::value_type>{}, gen);
}

namespace detail {

/// Scores examples [begin, begin + count) of `data`. A whole float dataset is read in place
/// (a strided view of its rows); other views are gathered into `x` first.
template <trainable_model M>
score score_batch(const M& model, std::span<const typename M::value_type> params, const dataset_view& data,
                  std::size_t begin, std::size_t count, typename M::workspace& ws,
                  row_matrix<typename M::value_type>& x, row_matrix<typename M::value_type>& z,
                  std::vector<std::uint8_t>& y) {
  using T = typename M::value_type;
  if constexpr (std::is_same_v<T, float>) {
    if (!data.is_subset()) {
      const auto d = data.num_features();
      const Eigen::Map<const row_matrix<float>> rows(data.data().features().data() + begin * d,
                                                     static_cast<Eigen::Index>(count),
                                                     static_cast<Eigen::Index>(d));
      model.forward(params, rows, z, ws);
      return score_logits(z, data.data().labels().subspan(begin, count));
    }
  }
  gather(data, {}, begin, count, x, y);
  model.forward(params, x, z, ws);
  return score_logits(z, std::span<const std::uint8_t>(y));
}

/// evaluate's body: the batches' scores, computed by `run(tasks, task)`, are summed in batch
/// order, so the result does not depend on how many threads computed them.
template <trainable_model M, class Runner>
evaluation evaluate_batches(const M& model, std::span<const typename M::value_type> params,
                            const dataset_view& data, std::size_t batch_size, std::size_t max_tasks,
                            Runner&& run) {
  using T = typename M::value_type;
  check_model_data("evaluate", model, params.size(), data);
  if (batch_size == 0) throw invalid_config("evaluate: batch_size must be > 0");
  evaluation result;
  result.num_examples = data.size();
  if (data.empty()) return result;
  const std::size_t num_batches = (data.size() + batch_size - 1) / batch_size;
  std::vector<score> scores(num_batches);
  std::atomic<std::size_t> next{0};
  run(std::min(max_tasks, num_batches), [&](std::size_t) {
    typename M::workspace ws;
    row_matrix<T> x, z;
    std::vector<std::uint8_t> y;
    for (std::size_t b = next.fetch_add(1); b < num_batches; b = next.fetch_add(1)) {
      const std::size_t begin = b * batch_size;
      scores[b] =
          score_batch(model, params, data, begin, std::min(batch_size, data.size() - begin), ws, x, z, y);
    }
  });
  double loss_sum = 0;
  std::size_t correct = 0;
  for (const auto& s : scores) {
    loss_sum += s.loss_sum;
    correct += s.correct;
  }
  result.accuracy = static_cast<double>(correct) / static_cast<double>(data.size());
  result.mean_loss = loss_sum / static_cast<double>(data.size());
  return result;
}

} // namespace detail

/// Accuracy and mean cross-entropy of `params` over `data`, `batch_size` examples per forward
/// pass (batched matrix products). Throws invalid_config like local_train, or for batch_size 0.
template <trainable_model M>
evaluation evaluate(const M& model, std::span<const typename M::value_type> params, const dataset_view& data,
                    std::size_t batch_size = 1024) {
  return detail::evaluate_batches(model, params, data, batch_size, 1, [](std::size_t tasks, auto&& task) {
    for (std::size_t t = 0; t < tasks; ++t) task(t);
  });
}

/// evaluate() with the batches spread over the threads of `pool`; the same result as the
/// serial evaluate() with the same batch_size, for any pool size.
template <trainable_model M>
evaluation evaluate(const M& model, std::span<const typename M::value_type> params, const dataset_view& data,
                    parallel::thread_pool& pool, std::size_t batch_size = 1024) {
  return detail::evaluate_batches(model, params, data, batch_size, pool.size(),
                                  [&pool](std::size_t tasks, auto&& task) { pool.run(tasks, task); });
}

/// The full-view objective L(w) + μ/2 ‖w − w_global‖² (L = mean cross-entropy over `data`)
/// and its gradient, written to `grad` — the quantity local_train descends; used to check
/// backpropagation against finite differences. `global` must have the parameters' size when
/// μ > 0. Throws invalid_config for mismatched sizes.
template <trainable_model M>
double objective_and_gradient(const M& model, std::span<const typename M::value_type> params,
                              const dataset_view& data, std::span<typename M::value_type> grad,
                              std::span<const typename M::value_type> global = {}, double proximal_mu = 0) {
  using T = typename M::value_type;
  detail::check_model_data("objective_and_gradient", model, params.size(), data);
  detail::check_params("objective_and_gradient", model.layout(), grad.size());
  if (proximal_mu != 0) {
    detail::check_sgd("objective_and_gradient", 1, 1.0, proximal_mu);
    detail::check_params("objective_and_gradient (global)", model.layout(), global.size());
  }
  typename M::workspace ws;
  row_matrix<T> x;
  std::vector<std::uint8_t> y;
  detail::gather(data, {}, 0, data.size(), x, y);
  double value = model.loss_and_gradient(params, x, std::span<const std::uint8_t>(y), grad, ws);
  if (proximal_mu != 0) {
    for (std::size_t i = 0; i < params.size(); ++i) {
      const double diff = static_cast<double>(params[i]) - static_cast<double>(global[i]);
      value += 0.5 * proximal_mu * diff * diff;
      grad[i] += static_cast<T>(proximal_mu * diff);
    }
  }
  return value;
}

} // namespace fedpp::simulation
