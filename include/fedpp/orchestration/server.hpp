/// \file server.hpp
/// The synchronous FL server, composed from policies: who takes part (sampler), how updates are
/// combined (aggregator), how the combination moves the model (server optimizer), what the
/// clients will do (availability: wall clock or simulation), and hooks where compression,
/// privacy and secure aggregation plug in. The transport is a per-call argument, so one server
/// runs in-process, over MPI, or over the user's own transport. Writing a custom FL algorithm
/// means replacing one policy, not copying this loop.
///
/// One round (McMahan et al. 2017, Algorithm 1, with the system-heterogeneity handling of
/// Bonawitz et al. 2019, "Towards Federated Learning at Scale"):
///  1. sample clients (seeded per round: the same seed and round give the same clients);
///  2. broadcast the global model with each client's round_config (capability hints);
///  3. collect client_update messages until the target number of reports is reached, every
///     selected client has answered, or the deadline passes; refuse malformed, duplicate,
///     unselected, late and invalid reports, counting each (they never touch the aggregate);
///  4. with at least min_reports accepted reports, aggregate the deltas, run the hooks and apply
///     the server optimizer; otherwise the round fails and the global model is unchanged.
#pragma once

#include "fedpp/aggregation/aggregator.hpp"
#include "fedpp/aggregation/client_update.hpp"
#include "fedpp/aggregation/fedavg.hpp"
#include "fedpp/client/round_config.hpp"
#include "fedpp/error.hpp"
#include "fedpp/optim/server_optimizer.hpp"
#include "fedpp/optim/server_sgd.hpp"
#include "fedpp/orchestration/availability.hpp"
#include "fedpp/orchestration/round_metrics.hpp"
#include "fedpp/orchestration/server_hooks.hpp"
#include "fedpp/random/rng.hpp"
#include "fedpp/scheduling/capability_hints.hpp"
#include "fedpp/scheduling/client_sampler.hpp"
#include "fedpp/scheduling/round_policy.hpp"
#include "fedpp/scheduling/round_tracker.hpp"
#include "fedpp/tensor/flat_model.hpp"
#include "fedpp/transport/transport.hpp"
#include "fedpp/transport/wire_format.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace fedpp {

/// Settings of a synchronous server.
struct server_options {
  round_config client_config{};         ///< base config sent to every client (hints may override)
  std::size_t target_reports = 0;       ///< m: reports kept per round; 0 = every selected client
                                        ///< (or the sampler's target under over-selection)
  std::size_t min_reports = 1;          ///< fewer accepted reports fail the round cleanly
  std::chrono::nanoseconds deadline{0}; ///< reports must arrive before this; 0 = none
  std::chrono::nanoseconds max_wait{std::chrono::minutes(10)}; ///< wall-clock cap when there is no deadline
  /// Flow control: at most this many clients hold the model without having answered; the next
  /// recipient is sent the model as a report arrives. Bounds the updates queued at the server,
  /// so a round's memory stays O(model size) however many clients it has. 0 = all at once.
  std::size_t max_in_flight = 0;
  std::uint64_t seed = 0;       ///< seeds client sampling (one stream per round)
  double client_lr_decay = 1.0; ///< round r's client learning rate is lr · decay^r (0 < decay ≤ 1)
};

/// Control-message tags the orchestration uses (wire::encode_control).
enum class control_tag : std::uint32_t {
  shutdown = 1 ///< server → client hosts: no more rounds
};

/// Synchronous FL server over a model of element type T.
template <element_type T, client_sampler Sampler, server_optimizer Optimizer = server_sgd<T>,
          aggregator Aggregator = fedavg<T>, availability_model Availability = wall_clock_availability,
          class Hooks = no_server_hooks>
requires std::same_as<typename Aggregator::input_type, client_update<T>> &&
    std::same_as<typename Aggregator::result_type, flat_model<T>> &&
    std::same_as<typename Optimizer::value_type, T>
class server {
public:
  using value_type = T;
  using aggregator_factory = std::function<Aggregator(const model_layout&)>;
  using evaluator = std::function<std::map<std::string, double>(const flat_model<T>&)>;

  /// A server starting from `initial`. Throws invalid_config for inconsistent options.
  server(flat_model<T> initial, Sampler sampler, Optimizer optimizer = Optimizer{},
         server_options options = {}, Availability availability = Availability{}, Hooks hooks = Hooks{},
         aggregator_factory make_aggregator = default_factory())
      : model_(std::move(initial)), sampler_(std::move(sampler)), optimizer_(std::move(optimizer)),
        options_(std::move(options)), availability_(std::move(availability)), hooks_(std::move(hooks)),
        make_aggregator_(std::move(make_aggregator)) {
    if (options_.min_reports == 0) throw invalid_config("server: min_reports must be >= 1");
    if (options_.target_reports != 0 && options_.min_reports > options_.target_reports)
      throw invalid_config("server: min_reports (" + std::to_string(options_.min_reports) +
                           ") exceeds target_reports (" + std::to_string(options_.target_reports) + ")");
    if (options_.deadline.count() < 0 || options_.max_wait.count() <= 0)
      throw invalid_config("server: deadline must be >= 0 and max_wait > 0");
    if (!make_aggregator_) throw invalid_config("server: the aggregator factory is empty");
    if (!(options_.client_lr_decay > 0 && options_.client_lr_decay <= 1))
      throw invalid_config("server: client_lr_decay must be in (0, 1], got " +
                           std::to_string(options_.client_lr_decay));
  }

  /// Per-client round_config overrides by device class.
  void set_capability_hints(capability_hints hints) { hints_ = std::move(hints); }
  /// Called on the new global model after each round; its results land in round_metrics::evaluation.
  void set_evaluator(evaluator evaluate) { evaluate_ = std::move(evaluate); }

  [[nodiscard]] const flat_model<T>& model() const noexcept { return model_; }
  [[nodiscard]] const model_layout& layout() const noexcept { return model_.layout(); }
  /// The next round's number.
  [[nodiscard]] std::uint64_t round() const noexcept { return round_; }
  [[nodiscard]] const Sampler& sampler() const noexcept { return sampler_; }
  [[nodiscard]] const Optimizer& optimizer() const noexcept { return optimizer_; }
  [[nodiscard]] Hooks& hooks() noexcept { return hooks_; }
  [[nodiscard]] const server_options& options() const noexcept { return options_; }

  /// Runs one synchronous round over `endpoint` (the server's endpoint of a transport).
  template <transport Transport>
  round_metrics run_round(Transport& endpoint) {
    using clock = transport_clock;
    const auto started = clock::now();
    const std::uint64_t r = round_++;
    round_metrics metrics;
    metrics.round = r;
    reassembler_.discard_before(r);

    rng gen = rng::for_stream(options_.seed, r);
    const std::vector<client_id> selected = sampler_.sample(r, gen);
    metrics.sampled = selected.size();
    const std::size_t target = std::min(target_reports(), selected.size());
    const bool release_always = releases_failed_rounds();
    if (selected.empty() || (target < options_.min_reports && !release_always)) {
      metrics.dropped = selected.size();
      if (release_always) release_without_quorum(std::nullopt, r, metrics);
      finish(metrics, started);
      return metrics;
    }
    // Hooks that release every round (central DP) have even a too-small sample trained.
    round_tracker tracker(selected,
                          round_policy{target, std::min(options_.min_reports, target), options_.deadline});

    // Who is sent the model. In simulation the forecasts say in advance who drops out, who is
    // late and who is surplus; those are not trained (their work would be discarded anyway).
    std::vector<client_id> recipients;
    std::vector<std::pair<client_id, std::chrono::nanoseconds>> late, surplus;
    std::map<client_id, std::chrono::nanoseconds> durations;
    if constexpr (Availability::simulated) {
      std::vector<std::pair<std::chrono::nanoseconds, client_id>> on_time;
      for (client_id c : selected) {
        const client_forecast f = availability_.forecast(c, r, config_for(c, r));
        if (f.drops_out) continue;
        if (options_.deadline.count() > 0 && f.duration >= options_.deadline)
          late.emplace_back(c, f.duration);
        else
          on_time.emplace_back(f.duration, c);
      }
      std::sort(on_time.begin(), on_time.end());
      for (std::size_t i = 0; i < on_time.size(); ++i) {
        durations[on_time[i].second] = on_time[i].first;
        if (i < target)
          recipients.push_back(on_time[i].second);
        else
          surplus.emplace_back(on_time[i].second, on_time[i].first);
      }
    } else {
      recipients = selected;
    }

    // Hooks that run their own collection (secure aggregation): they learn the participants,
    // everyone gets the model at once, and the hooks return the mean delta (or nothing).
    if constexpr (requires(transport_clock::time_point t) {
                    {
                      hooks_.collect(endpoint, recipients, r, t, metrics)
                      } -> std::same_as<std::optional<flat_model<T>>>;
                  }) {
      if constexpr (requires { hooks_.begin_round(recipients, r); }) hooks_.begin_round(recipients, r);
      for (client_id c : recipients) {
        const message m = wire::encode_global_model<T>(r, config_for(c, r), model_.layout(), model_.span());
        endpoint.send(c, m);
        metrics.bytes_down += m.size();
      }
      const auto t0 = clock::now();
      std::optional<flat_model<T>> mean_delta =
          hooks_.collect(endpoint, recipients, r, started + options_.max_wait, metrics);
      metrics.dropped = selected.size() - std::min(selected.size(), metrics.reported);
      if (mean_delta && metrics.reported >= options_.min_reports) {
        apply_mean_delta(mean_delta->span(), r);
        metrics.succeeded = true;
      }
      metrics.aggregation_seconds = std::chrono::duration<double>(clock::now() - t0).count();
      finish(metrics, started);
      return metrics;
    }

    if constexpr (requires { hooks_.begin_round(recipients, r); }) hooks_.begin_round(recipients, r);

    // Broadcast: one encoded message per distinct config, shared by its recipients; with flow
    // control, only the first max_in_flight now and one more per report.
    std::map<std::string, message> encoded;
    std::size_t sent = 0;
    auto send_next = [&] {
      const client_id c = recipients[sent++];
      const round_config config = config_for(c, r);
      const std::string key = config_key(config);
      auto it = encoded.find(key);
      if (it == encoded.end())
        it = encoded.emplace(key, wire::encode_global_model<T>(r, config, model_.layout(), model_.span()))
                 .first;
      endpoint.send(c, it->second);
      metrics.bytes_down += it->second.size();
    };
    const std::size_t window = options_.max_in_flight == 0 ? recipients.size() : options_.max_in_flight;
    while (sent < recipients.size() && sent < window) send_next();

    // Collect.
    // Hooks that aggregate reports themselves need no aggregator (nor its model-sized state).
    std::optional<Aggregator> aggregate;
    if constexpr (!hooks_absorb_updates) aggregate.emplace(make_aggregator_(model_.layout()));
    std::map<std::string, double> weighted_metrics;
    double aggregation_seconds = 0;
    const auto wait = (!Availability::simulated && options_.deadline.count() > 0)
                          ? std::min<std::chrono::nanoseconds>(options_.deadline, options_.max_wait)
                          : options_.max_wait;
    const auto give_up = started + wait;
    std::size_t answered = 0; // accepted reports
    std::size_t returned = 0; // messages received (frees a flow-control slot)
    absorbed_ = 0;
    while (answered < recipients.size()) {
      const auto now = clock::now();
      if (!Availability::simulated && tracker.done(now - started)) break;
      auto received = endpoint.receive(give_up);
      if (!received) break; // deadline (or max_wait) passed
      metrics.bytes_up += received->message.size();
      const auto t0 = clock::now();
      handle_report(received->message, r, started, durations, tracker, aggregate, weighted_metrics, metrics,
                    answered);
      aggregation_seconds += std::chrono::duration<double>(clock::now() - t0).count();
      ++returned;
      while (sent < recipients.size() && sent < returned + window) send_next();
    }
    for (const auto& [c, d] : late) (void)tracker.on_report(c, d);
    for (const auto& [c, d] : surplus) (void)tracker.on_report(c, d);

    const round_outcome outcome = tracker.outcome();
    metrics.dropped = outcome.missing;
    metrics.stragglers = outcome.late;
    metrics.surplus = outcome.surplus;
    metrics.duplicates = outcome.duplicates;
    // The round's mean delta: the aggregator's, or the hooks' when they aggregate themselves.
    auto report_mean = [&]() -> std::optional<flat_model<T>> {
      if constexpr (hooks_absorb_updates)
        return hooks_.finish_aggregate(model_.layout(), r);
      else if (aggregate->can_report())
        return std::move(*aggregate).report();
      else
        return std::nullopt;
    };
    if constexpr (hooks_absorb_updates)
      metrics.reported = absorbed_;
    else
      metrics.reported = aggregate->num_inputs();
    if (metrics.reported >= options_.min_reports) {
      const auto t0 = clock::now();
      if (std::optional<flat_model<T>> mean_delta = report_mean()) {
        apply_mean_delta(mean_delta->span(), r);
        metrics.succeeded = true;
        for (auto& [key, value] : weighted_metrics)
          metrics.client_metrics[key] = value / metrics.total_examples;
      }
      aggregation_seconds += std::chrono::duration<double>(clock::now() - t0).count();
    } else if (release_always) {
      const auto t0 = clock::now();
      release_without_quorum(report_mean(), r, metrics);
      aggregation_seconds += std::chrono::duration<double>(clock::now() - t0).count();
    }
    metrics.aggregation_seconds = aggregation_seconds;
    finish(metrics, started);
    return metrics;
  }

  /// Tells the client hosts behind `endpoint` that no more rounds follow.
  template <transport Transport>
  void shutdown(Transport& endpoint, const std::vector<endpoint_id>& hosts) {
    const message bye =
        wire::encode_control(round_, server_endpoint, static_cast<std::uint32_t>(control_tag::shutdown), {});
    for (endpoint_id host : hosts) endpoint.send(host, bye);
  }

private:
  /// Hooks that turn a compressed report into a dense delta for the aggregator.
  static constexpr bool hooks_decode_updates = requires(Hooks & h, const wire::decoded_message& d) {
    h.decode_update(d, std::span<T>{});
  };
  /// Hooks that aggregate reports themselves, in a compressed domain (FetchSGD sums sketches):
  /// `absorb_update(decoded, layout, round)` per accepted report, then
  /// `finish_aggregate(layout, round)` → optional mean delta; the aggregator is not used.
  static constexpr bool hooks_absorb_updates =
      requires(Hooks & h, const wire::decoded_message& d, const model_layout& l, std::uint64_t round) {
    h.absorb_update(d, l, round);
    { h.finish_aggregate(l, round) } -> std::same_as<std::optional<flat_model<T>>>;
  };

  static aggregator_factory default_factory() {
    if constexpr (std::constructible_from<Aggregator, const model_layout&>)
      return [](const model_layout& layout) { return Aggregator(layout); };
    else
      return {};
  }

  [[nodiscard]] std::size_t target_reports() const {
    if (options_.target_reports != 0) return options_.target_reports;
    if constexpr (requires { sampler_.target_reports(); }) return sampler_.target_reports();
    return std::numeric_limits<std::size_t>::max();
  }

  [[nodiscard]] round_config config_for(client_id c, std::uint64_t r) const {
    round_config config = hints_ ? hints_->config_for(c, options_.client_config) : options_.client_config;
    config.round = r;
    if (options_.client_lr_decay != 1.0)
      config.learning_rate *= std::pow(options_.client_lr_decay, static_cast<double>(r));
    if constexpr (requires(const Hooks& h) { h.extend_config(config); }) hooks_.extend_config(config);
    return config;
  }

  static std::string config_key(const round_config& c) {
    std::string key = std::to_string(c.local_epochs);
    key.append("/").append(std::to_string(c.batch_size));
    key.append("/").append(std::to_string(c.learning_rate));
    key.append("/").append(std::to_string(c.deadline.count()));
    for (const auto& [k, v] : c.extra) key.append("/").append(k).append("=").append(v);
    return key;
  }

  template <class Tracker>
  void handle_report(const message& m, std::uint64_t r, transport_clock::time_point started,
                     const std::map<client_id, std::chrono::nanoseconds>& durations, Tracker& tracker,
                     std::optional<Aggregator>& aggregate, std::map<std::string, double>& weighted_metrics,
                     round_metrics& metrics, std::size_t& answered) {
    std::optional<message> whole;
    try {
      whole = reassembler_.add(m);
    } catch (const malformed_message&) {
      ++metrics.malformed;
      return;
    }
    if (!whole) return; // more chunks to come
    std::optional<wire::decoded_message> decoded;
    try {
      decoded.emplace(wire::decode(*whole));
      if (decoded->kind() != wire::message_kind::client_update)
        throw malformed_message(std::string("server: expected a client_update, got ") +
                                to_string(decoded->kind()));
      if (decoded->round() < r) {
        ++metrics.stale;
        return;
      }
      if constexpr (hooks_decode_updates || hooks_absorb_updates) {
        // A compressed payload (raw bytes) is the hooks' to check; its header must still name
        // this round and this model.
        if (decoded->header().encoding != wire::payload_encoding::dense) {
          if (decoded->round() != r || decoded->layout_hash() != model_.layout().hash() ||
              decoded->header().is_chunked())
            throw malformed_message("server: a compressed update for another round or model");
        } else {
          wire::check_model_message(*decoded, model_.layout(), r);
        }
      } else {
        wire::check_model_message(*decoded, model_.layout(), r);
      }
    } catch (const malformed_message&) {
      ++metrics.malformed;
      return;
    }
    const client_id client = decoded->sender();
    std::chrono::nanoseconds elapsed = transport_clock::now() - started;
    if constexpr (Availability::simulated) {
      const auto it = durations.find(client);
      if (it != durations.end()) elapsed = it->second;
    }
    const report_verdict verdict = tracker.on_report(client, elapsed);
    if (verdict == report_verdict::not_selected) ++metrics.rejected;
    if (verdict != report_verdict::accepted) return;
    ++answered;
    try {
      if constexpr (hooks_absorb_updates) {
        hooks_.absorb_update(*decoded, model_.layout(), r);
        ++absorbed_;
      } else {
        std::span<const T> delta;
        if constexpr (hooks_decode_updates) {
          if (scratch_.size() != model_.size()) scratch_ = flat_model<T>(model_.layout());
          delta = hooks_.decode_update(*decoded, scratch_.span());
        } else {
          delta = decoded->template payload<T>();
        }
        aggregate->accumulate(client_update<T>::from_flat(client, model_.layout(), delta, decoded->weight()));
      }
    } catch (const rejected_update&) {
      ++metrics.rejected;
      return;
    } catch (const error&) { // a payload the hooks could not decode
      ++metrics.malformed;
      return;
    }
    metrics.total_examples += decoded->weight();
    for (const auto& [key, value] : decoded->metrics()) weighted_metrics[key] += decoded->weight() * value;
    if constexpr (Availability::simulated)
      metrics.simulated_seconds =
          std::max(metrics.simulated_seconds, std::chrono::duration<double>(elapsed).count());
  }

  /// The end of every round that moves the model: the hooks' on_aggregate (e.g. central DP noise),
  /// then the server optimizer.
  void apply_mean_delta(std::span<T> mean_delta, std::uint64_t r) {
    if constexpr (requires { hooks_.on_aggregate(mean_delta, r); }) hooks_.on_aggregate(mean_delta, r);
    optimizer_.step(model_.span(), std::span<const T>(mean_delta));
  }

  /// True when the hooks release a model step for every round, quorum or not (see server_hooks.hpp).
  [[nodiscard]] bool releases_failed_rounds() const {
    if constexpr (requires {
                    { hooks_.release_failed_rounds() } -> std::convertible_to<bool>;
                  })
      return hooks_.release_failed_rounds();
    return false;
  }

  /// A round below min_reports whose hooks release anyway: the partial mean (or zeros when
  /// nothing was accepted) goes through on_aggregate and the optimizer like a full round's.
  void release_without_quorum(std::optional<flat_model<T>> partial_mean, std::uint64_t r,
                              round_metrics& metrics) {
    flat_model<T> delta = partial_mean ? std::move(*partial_mean) : flat_model<T>(model_.layout());
    apply_mean_delta(delta.span(), r);
    metrics.released_without_quorum = true;
  }

  void finish(round_metrics& metrics, transport_clock::time_point started) {
    if ((metrics.succeeded || metrics.released_without_quorum) && evaluate_)
      metrics.evaluation = evaluate_(model_);
    metrics.round_seconds = std::chrono::duration<double>(transport_clock::now() - started).count();
    if constexpr (requires { hooks_.on_round_end(metrics); }) hooks_.on_round_end(metrics);
  }

  flat_model<T> model_;
  Sampler sampler_;
  Optimizer optimizer_;
  server_options options_;
  Availability availability_;
  Hooks hooks_;
  aggregator_factory make_aggregator_;
  std::optional<capability_hints> hints_;
  evaluator evaluate_;
  wire::chunk_reassembler reassembler_;
  flat_model<T> scratch_;
  std::size_t absorbed_ = 0; // reports the hooks absorbed this round (hooks_absorb_updates)
  std::uint64_t round_ = 0;
};

} // namespace fedpp
