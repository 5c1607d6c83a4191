/// \file federated_evaluation.hpp
/// Federated evaluation (Flower's evaluate rounds): the clients evaluate the global model on
/// their own held-out data and report (examples, loss, accuracy); the server admits each report
/// like a training report and summarises them — the example-weighted mean (Flower's
/// `weighted_loss_avg`), the unweighted mean, the 10th/90th percentiles and the worst client.
///
/// The protocol reuses the training round's messages:
/// - request (server → client): a `global_model` message whose round_config carries
///   `extra["fedpp.evaluate"]` = the evaluation's sequence number (`evaluate_key`); its round is
///   the number of training rounds the model has had (server::round());
/// - answer (client → server): a control message, tag `evaluation_report_tag`, raw payload of
///   32 bytes: u64 evaluation number, f64 examples, f64 loss, f64 accuracy (little-endian); or
///   tag `evaluation_failed_tag` with the u64 evaluation number (the client could not evaluate).
///
/// Trust: everything in an answer is the client's word. evaluation_collector::admit checks the
/// sender against the transport (`may_speak_for`), the round and evaluation number, the
/// selection and repeats (round_tracker), and the values: examples a whole number in
/// [1, max_examples] and at most the client's known size when the server knows it, loss finite
/// in [0, max_loss], accuracy in [0, 1]. A refused answer is counted in evaluation_metrics and
/// settles that client; nothing a client sends throws out of admit.
#pragma once

#include "fedpp/aggregation/weighted_average.hpp"
#include "fedpp/client/round_config.hpp"
#include "fedpp/error.hpp"
#include "fedpp/random/rng.hpp"
#include "fedpp/scheduling/client_sampler.hpp"
#include "fedpp/scheduling/round_policy.hpp"
#include "fedpp/scheduling/round_tracker.hpp"
#include "fedpp/tensor/model_view.hpp"
#include "fedpp/transport/message.hpp"
#include "fedpp/transport/transport.hpp"
#include "fedpp/transport/wire_format.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <chrono>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace fedpp {

/// round_config::extra key by which the server asks for an evaluation instead of training; the
/// value is the evaluation's sequence number, echoed in the answer.
inline constexpr std::string_view evaluate_key = "fedpp.evaluate";

/// Control tag of an evaluation answer (also `control_tag::evaluation_report`, server.hpp);
/// clear of the secure-aggregation tags 1..8.
inline constexpr std::uint32_t evaluation_report_tag = 16;
/// Control tag of "this client could not evaluate" (`control_tag::evaluation_failed`).
inline constexpr std::uint32_t evaluation_failed_tag = 17;

/// What a client's evaluation of the global model on its held-out data returns.
struct evaluation_result {
  double num_examples = 0; ///< examples evaluated: a whole number ≥ 1 (the weight of the report)
  double loss = 0;         ///< mean loss over them: finite, ≥ 0
  double accuracy = 0;     ///< fraction of them predicted correctly, in [0, 1]
};

/// A trainer that can also evaluate: `c.evaluate(id, global, config)` → evaluation_result. A
/// client host serving such a trainer answers evaluation requests; others answer
/// "failed" (evaluation_failed_tag).
///
/// | expression                      | type / effect                                          |
/// |---------------------------------|--------------------------------------------------------|
/// | `c.evaluate(id, global, config)`| `evaluation_result`; `id` a `client_id`, `global` a    |
/// |                                 | `host_model_view<const T>`, `config` a `round_config`  |
template <class C, class T>
concept client_evaluator = element_type<T> &&
    requires(C& c, client_id id, const host_model_view<const T>& global, const round_config& config) {
  { c.evaluate(id, global, config) } -> std::convertible_to<evaluation_result>;
};

/// A training callable and an evaluation callable as one trainer (e.g. two lambdas):
/// `evaluating_trainer{train, evaluate}` trains through `train` and evaluates through `evaluator`.
template <class Train, class Evaluate>
struct evaluating_trainer {
  Train train;        ///< `train(id, global, config)` → client_result<T>
  Evaluate evaluator; ///< `evaluator(id, global, config)` → evaluation_result

  /// Local training: forwards to `train`.
  template <class... Args>
  auto operator()(Args&&... args) -> decltype(train(std::forward<Args>(args)...)) {
    return train(std::forward<Args>(args)...);
  }
  /// Local training: forwards to `train`.
  template <class... Args>
  auto operator()(Args&&... args) const -> decltype(train(std::forward<Args>(args)...)) {
    return train(std::forward<Args>(args)...);
  }
  /// Evaluation: forwards to `evaluator`.
  template <class View>
  evaluation_result evaluate(client_id id, const View& global, const round_config& config) {
    return evaluator(id, global, config);
  }
};
template <class Train, class Evaluate>
evaluating_trainer(Train, Evaluate) -> evaluating_trainer<Train, Evaluate>;

/// Settings of federated evaluation rounds (server_options::evaluation). Defaults follow Flower's
/// FedAvg: fraction_evaluate = 1.0, min_evaluate_clients = 2.
struct federated_evaluation_options {
  /// Cadence: server::evaluation_due() after every `every`-th training round; 0 = never due
  /// (server::run_evaluation_round still runs one on demand).
  std::size_t every = 0;
  /// Flower's fraction_evaluate: ask max(⌊fraction · N⌋, min_clients) of the N clients (at most
  /// N), through the training sampler resized (see select_evaluation_clients). In (0, 1].
  double fraction = 1.0;
  /// Flower's min_evaluate_clients: ask at least this many (≥ 1; capped at N).
  std::size_t min_clients = 2;
  /// Fewer accepted answers: evaluation_metrics::succeeded is false.
  std::size_t min_reports = 1;
  /// Wall-clock time an evaluation round waits for answers (> 0).
  std::chrono::nanoseconds max_wait{std::chrono::minutes(10)};
  /// Largest example count one answer may report (finite, ≥ 1).
  double max_examples = 1e6;
  /// Largest loss one answer may report (finite, > 0).
  double max_loss = 1e15;
  /// The number of held-out examples the server knows client `c` has, if it knows: an answer
  /// reporting more is refused. Empty = only max_examples bounds the count.
  std::function<std::optional<double>(client_id)> known_examples;

  /// Throws invalid_config naming the field for a fraction outside (0, 1], min_clients or
  /// min_reports 0, max_wait ≤ 0, or bounds that are not finite and positive (max_examples ≥ 1).
  void validate() const {
    if (!(fraction > 0 && fraction <= 1))
      throw invalid_config("federated_evaluation_options: fraction must be in (0, 1], got " +
                           std::to_string(fraction));
    if (min_clients == 0) throw invalid_config("federated_evaluation_options: min_clients must be >= 1");
    if (min_reports == 0) throw invalid_config("federated_evaluation_options: min_reports must be >= 1");
    if (max_wait.count() <= 0) throw invalid_config("federated_evaluation_options: max_wait must be > 0");
    if (!(std::isfinite(max_examples) && max_examples >= 1))
      throw invalid_config("federated_evaluation_options: max_examples must be finite and >= 1, got " +
                           std::to_string(max_examples));
    if (!(std::isfinite(max_loss) && max_loss > 0))
      throw invalid_config("federated_evaluation_options: max_loss must be finite and > 0, got " +
                           std::to_string(max_loss));
  }

  /// Flower's num_evaluation_clients: max(⌊N · fraction⌋, min_clients), capped at N (N > 0).
  [[nodiscard]] std::size_t clients_to_ask(std::size_t population) const noexcept {
    const auto share = static_cast<std::size_t>(std::floor(static_cast<double>(population) * fraction));
    return std::min(population, std::max(share, min_clients));
  }

  /// True when an evaluation is due after `trained_rounds` training rounds: every ≠ 0 and
  /// trained_rounds a non-zero multiple of it.
  [[nodiscard]] bool due_after(std::uint64_t trained_rounds) const noexcept {
    return every != 0 && trained_rounds != 0 && trained_rounds % every == 0;
  }
};

/// The clients asked in the evaluation after `round` training rounds. Samplers with a fixed
/// sample size (`sized_client_sampler`, or a wrapper whose `inner()` is one, as over_selection)
/// are resized to options.clients_to_ask(N) and draw from their own population; other samplers
/// (Poisson) pick by their own rule, as in training. The draw uses its own stream of (seed,
/// round), apart from training's, so evaluating changes no training round's clients.
template <client_sampler Sampler>
[[nodiscard]] std::vector<client_id> select_evaluation_clients(Sampler& sampler,
                                                               const federated_evaluation_options& options,
                                                               std::uint64_t seed, std::uint64_t round) {
  std::uint64_t salt = seed ^ 0x6576616c75617465ULL; // "evaluate"
  rng gen = rng::for_stream(splitmix64(salt), round);
  if constexpr (sized_client_sampler<Sampler>) {
    auto resized = sampler.with_sample_size(options.clients_to_ask(sampler.population_size()));
    return resized.sample(round, gen);
  } else if constexpr (requires(const Sampler& s) {
                         requires sized_client_sampler<std::remove_cvref_t<decltype(s.inner())>>;
                       }) {
    auto resized =
        sampler.inner().with_sample_size(options.clients_to_ask(sampler.inner().population_size()));
    return resized.sample(round, gen);
  } else {
    return sampler.sample(round, gen);
  }
}

/// One client's accepted evaluation.
struct client_evaluation {
  client_id client = 0;
  double num_examples = 0;
  double loss = 0;
  double accuracy = 0;
  friend bool operator==(const client_evaluation&, const client_evaluation&) = default;
};

/// How one metric is spread over the clients of an evaluation.
struct metric_summary {
  double weighted_mean = 0; ///< Σ n_k m_k / Σ n_k (Flower's weighted_loss_avg; sum, then divide)
  double mean = 0;          ///< Σ m_k / K: every client counts once
  double p10 = 0;           ///< 10th percentile over the clients (percentile_linear)
  double p90 = 0;           ///< 90th percentile over the clients
  double min = 0;           ///< lowest client value (worst accuracy)
  double max = 0;           ///< highest client value (worst loss)
  friend bool operator==(const metric_summary&, const metric_summary&) = default;
};

/// The p-th percentile (p in [0, 100]) of `sorted` (ascending, non-empty) by linear interpolation
/// between closest ranks — numpy.percentile's default method "linear" (R's type 7): h = (K − 1)
/// · p/100, i = ⌊h⌋, g = h − i, result x_i + g (x_{i+1} − x_i), computed as numpy's _lerp does
/// (from x_{i+1} downwards when g ≥ 0.5), so it matches numpy bit for bit. Throws invalid_config
/// for an empty list or p outside [0, 100].
[[nodiscard]] inline double percentile_linear(std::span<const double> sorted, double p) {
  if (sorted.empty()) throw invalid_config("percentile_linear: no values");
  if (!(p >= 0 && p <= 100))
    throw invalid_config("percentile_linear: p must be in [0, 100], got " + std::to_string(p));
  const double h = static_cast<double>(sorted.size() - 1) * (p / 100);
  const double below = std::floor(h);
  const auto i = static_cast<std::size_t>(below);
  const std::size_t j = std::min(i + 1, sorted.size() - 1);
  const double g = h - below;
  const double a = sorted[i], b = sorted[j];
  const double diff = b - a;
  return g >= 0.5 ? b - diff * (1 - g) : a + diff * g;
}

/// The summary of (n_k, m_k) pairs in the given order (non-empty, n_k > 0, m_k finite).
[[nodiscard]] inline metric_summary
summarize_metric(std::span<const std::pair<double, double>> weight_value) {
  metric_summary s;
  s.weighted_mean = weighted_average(weight_value, average_order::sum_then_divide);
  std::vector<double> values;
  values.reserve(weight_value.size());
  double sum = 0;
  for (const auto& [n, v] : weight_value) {
    values.push_back(v);
    sum += v;
  }
  s.mean = sum / static_cast<double>(values.size());
  std::sort(values.begin(), values.end());
  s.p10 = percentile_linear(values, 10);
  s.p90 = percentile_linear(values, 90);
  s.min = values.front();
  s.max = values.back();
  return s;
}

/// What one federated evaluation round did: who was asked, who answered, what was refused, and
/// the summaries of the accepted answers.
struct evaluation_metrics {
  std::uint64_t round = 0;         ///< training rounds the evaluated model has had (server::round())
  std::uint64_t evaluation = 0;    ///< this evaluation's sequence number on its server (1, 2, ...)
  bool succeeded = false;          ///< reported ≥ min_reports
  std::size_t sampled = 0;         ///< clients asked
  std::size_t reported = 0;        ///< answers accepted
  std::size_t dropped = 0;         ///< asked clients that never answered (max_wait passed)
  std::size_t client_failures = 0; ///< asked clients that answered "could not evaluate"
  std::size_t impersonations = 0;  ///< answers whose claimed sender the transport contradicts
  std::size_t malformed = 0;       ///< answers that did not decode or did not fit the evaluation
  std::size_t rejected = 0;        ///< answers from clients not asked
  std::size_t duplicates = 0;      ///< repeated answers from a client
  std::size_t stale = 0; ///< messages of an earlier round or evaluation (e.g. late training reports)
  std::size_t examples_refused = 0;       ///< answers whose example count is not a whole number in [1, bound]
  std::size_t metrics_refused = 0;        ///< answers whose loss or accuracy is not finite or out of range
  double total_examples = 0;              ///< Σ n_k over accepted answers
  metric_summary loss;                    ///< over accepted answers (worst client: max)
  metric_summary accuracy;                ///< over accepted answers (worst client: min)
  client_id worst_client = 0;             ///< lowest accuracy (ties: higher loss, then lower id)
  std::vector<client_evaluation> clients; ///< the accepted answers, by ascending client id
  std::uint64_t bytes_down = 0;           ///< server → clients (the requests)
  std::uint64_t bytes_up = 0;             ///< clients → server (every received message)
  double seconds = 0;                     ///< wall-clock time of the evaluation round

  /// Answers refused for any reason (not counting clients that failed or never answered).
  [[nodiscard]] std::size_t refused() const noexcept {
    return impersonations + malformed + rejected + duplicates + stale + examples_refused + metrics_refused;
  }
};

/// Fills `m.reported`, `total_examples`, `loss`, `accuracy`, `worst_client` and `clients` from
/// the accepted answers (any order; summed in ascending client order, so the result does not
/// depend on arrival order). Answers must already be admitted (finite, n ≥ 1, distinct clients).
inline void summarize_evaluations(std::vector<client_evaluation> answers, evaluation_metrics& m) {
  std::sort(answers.begin(), answers.end(),
            [](const client_evaluation& a, const client_evaluation& b) { return a.client < b.client; });
  m.reported = answers.size();
  m.total_examples = 0;
  m.loss = {};
  m.accuracy = {};
  m.worst_client = 0;
  if (!answers.empty()) {
    std::vector<std::pair<double, double>> loss, accuracy;
    const client_evaluation* worst = &answers.front();
    for (const auto& a : answers) {
      m.total_examples += a.num_examples;
      loss.emplace_back(a.num_examples, a.loss);
      accuracy.emplace_back(a.num_examples, a.accuracy);
      if (a.accuracy < worst->accuracy || (a.accuracy == worst->accuracy && a.loss > worst->loss)) worst = &a;
    }
    m.loss = summarize_metric(loss);
    m.accuracy = summarize_metric(accuracy);
    m.worst_client = worst->client;
  }
  m.clients = std::move(answers);
}

/// The payload of an evaluation answer (see the file comment).
struct evaluation_answer {
  std::uint64_t evaluation = 0; ///< the evaluation number the client was sent
  evaluation_result result;     ///< unused in a "failed" answer
};

/// Bytes of an evaluation_report_tag payload, and of an evaluation_failed_tag payload.
inline constexpr std::size_t evaluation_report_bytes = 32;
inline constexpr std::size_t evaluation_failed_bytes = 8;

/// Client `client`'s answer to evaluation `evaluation` of round `round` (tag evaluation_report_tag).
[[nodiscard]] inline message encode_evaluation_report(std::uint64_t round, client_id client,
                                                      std::uint64_t evaluation, const evaluation_result& r) {
  std::array<std::byte, evaluation_report_bytes> bytes{};
  wire::detail::put_u64(bytes.data(), evaluation);
  wire::detail::put_u64(bytes.data() + 8, std::bit_cast<std::uint64_t>(r.num_examples));
  wire::detail::put_u64(bytes.data() + 16, std::bit_cast<std::uint64_t>(r.loss));
  wire::detail::put_u64(bytes.data() + 24, std::bit_cast<std::uint64_t>(r.accuracy));
  return wire::encode_control(round, client, evaluation_report_tag, bytes);
}

/// Client `client` could not evaluate (tag evaluation_failed_tag); the reason stays local.
[[nodiscard]] inline message encode_evaluation_failed(std::uint64_t round, client_id client,
                                                      std::uint64_t evaluation) {
  std::array<std::byte, evaluation_failed_bytes> bytes{};
  wire::detail::put_u64(bytes.data(), evaluation);
  return wire::encode_control(round, client, evaluation_failed_tag, bytes);
}

/// The answer in an evaluation message's payload (`tag` says which kind); throws
/// malformed_message for a payload of the wrong size or another tag. Values are not judged here.
[[nodiscard]] inline evaluation_answer decode_evaluation_answer(std::uint32_t tag,
                                                                std::span<const std::byte> payload) {
  const std::size_t expected = tag == evaluation_report_tag   ? evaluation_report_bytes
                               : tag == evaluation_failed_tag ? evaluation_failed_bytes
                                                              : 0;
  if (expected == 0)
    throw malformed_message("evaluation answer: tag " + std::to_string(tag) + " is not an evaluation tag");
  if (payload.size() != expected)
    throw malformed_message("evaluation answer: a payload of " + std::to_string(payload.size()) +
                            " bytes, expected " + std::to_string(expected));
  evaluation_answer a;
  a.evaluation = wire::detail::get_u64(payload.data());
  if (tag == evaluation_report_tag) {
    a.result.num_examples = std::bit_cast<double>(wire::detail::get_u64(payload.data() + 8));
    a.result.loss = std::bit_cast<double>(wire::detail::get_u64(payload.data() + 16));
    a.result.accuracy = std::bit_cast<double>(wire::detail::get_u64(payload.data() + 24));
  }
  return a;
}

/// The server's side of one evaluation round: the clients asked, the admission of their answers
/// (see the file comment) and the metrics. fedpp::server::run_evaluation_round drives it; it
/// stands alone for servers of one's own.
class evaluation_collector {
public:
  /// Evaluation number `evaluation` of the model after `round` training rounds, asking the
  /// distinct clients `asked`, under `options` (validated by the caller).
  evaluation_collector(std::uint64_t round, std::uint64_t evaluation, std::vector<client_id> asked,
                       federated_evaluation_options options)
      : options_(std::move(options)), started_(transport_clock::now()), asked_(std::move(asked)) {
    metrics_.round = round;
    metrics_.evaluation = evaluation;
    metrics_.sampled = asked_.size();
    if (!asked_.empty())
      tracker_.emplace(asked_, round_policy{asked_.size(), std::min(options_.min_reports, asked_.size()),
                                            std::chrono::nanoseconds{0}});
  }

  /// The clients asked, in the sampler's order.
  [[nodiscard]] const std::vector<client_id>& asked() const noexcept { return asked_; }
  [[nodiscard]] std::uint64_t round() const noexcept { return metrics_.round; }
  [[nodiscard]] std::uint64_t evaluation() const noexcept { return metrics_.evaluation; }
  [[nodiscard]] transport_clock::time_point started() const noexcept { return started_; }
  /// The metrics so far (the server adds bytes and receive errors here).
  [[nodiscard]] evaluation_metrics& metrics() noexcept { return metrics_; }

  /// True when every asked client has answered (accepted, refused or failed).
  [[nodiscard]] bool settled() const noexcept { return !tracker_ || tracker_->missing() == 0; }

  /// Judges one received message; `endpoint` is the transport that authenticated `received.from`.
  /// Every refusal is counted; nothing the message holds makes this throw.
  template <class Transport>
  void admit(const Transport& endpoint, const envelope& received) {
    evaluation_metrics& m = metrics_;
    m.bytes_up += received.message.size();
    std::optional<wire::decoded_message> decoded;
    try {
      decoded.emplace(wire::decode(received.message));
    } catch (const malformed_message&) {
      ++m.malformed;
      return;
    }
    const wire::message_header& h = decoded->header();
    const client_id client = h.sender;
    if (!may_speak_for(endpoint, received.from, client)) {
      ++m.impersonations;
      return;
    }
    const bool answer = h.kind == wire::message_kind::control &&
                        (h.tag == evaluation_report_tag || h.tag == evaluation_failed_tag);
    if (h.round < m.round) { // e.g. a training report that came after its round ended
      ++m.stale;
      return;
    }
    if (!answer || h.round > m.round || h.is_chunked()) {
      ++m.malformed;
      return;
    }
    std::optional<evaluation_answer> a;
    try {
      a = decode_evaluation_answer(h.tag, decoded->payload_bytes());
    } catch (const malformed_message&) {
    }
    if (a && a->evaluation < m.evaluation) { // an earlier evaluation of the same model
      ++m.stale;
      return;
    }
    if (!tracker_ || !tracker_->is_selected(client)) {
      if (tracker_) (void)tracker_->on_report(client, std::chrono::nanoseconds{0}); // not selected
      ++m.rejected;
      return;
    }
    if (!tracker_->is_pending(client)) {
      (void)tracker_->on_report(client, std::chrono::nanoseconds{0}); // counted as a duplicate
      return;
    }
    // From here on: the authenticated answer of an asked, pending client; a refusal settles it.
    const auto refuse = [&](std::size_t& counter) {
      ++counter;
      (void)tracker_->on_failure(client);
    };
    if (!a || a->evaluation != m.evaluation) return refuse(m.malformed);
    if (h.tag == evaluation_failed_tag) return refuse(m.client_failures);
    const evaluation_result& r = a->result;
    if (!examples_admissible(client, r.num_examples)) return refuse(m.examples_refused);
    if (!(std::isfinite(r.loss) && r.loss >= 0 && r.loss <= options_.max_loss) ||
        !(r.accuracy >= 0 && r.accuracy <= 1))
      return refuse(m.metrics_refused);
    (void)tracker_->on_report(client, transport_clock::now() - started_); // accepted: no deadline, no target
    answers_.push_back({client, r.num_examples, r.loss, r.accuracy});
  }

  /// The round's metrics: counts, the accepted answers and their summaries.
  [[nodiscard]] evaluation_metrics finish() && {
    if (tracker_) {
      const round_outcome o = tracker_->outcome();
      metrics_.dropped = o.missing;
      metrics_.duplicates = o.duplicates;
    }
    summarize_evaluations(std::move(answers_), metrics_);
    metrics_.succeeded = metrics_.reported >= options_.min_reports;
    metrics_.seconds = std::chrono::duration<double>(transport_clock::now() - started_).count();
    return std::move(metrics_);
  }

private:
  /// A whole number of examples in [1, max_examples], at most the client's known size.
  [[nodiscard]] bool examples_admissible(client_id client, double n) const {
    if (!(n >= 1 && n <= options_.max_examples) || n != std::floor(n)) return false;
    if (options_.known_examples) {
      const std::optional<double> known = options_.known_examples(client);
      if (known && !(n <= *known)) return false;
    }
    return true;
  }

  federated_evaluation_options options_;
  transport_clock::time_point started_;
  std::vector<client_id> asked_;
  std::optional<round_tracker> tracker_;
  std::vector<client_evaluation> answers_;
  evaluation_metrics metrics_;
};

} // namespace fedpp
