/// \file server.hpp
/// The synchronous FL server, composed from policies: who takes part (sampler), how updates are
/// combined (aggregator), how the combination moves the model (server optimizer), what the
/// clients will do (availability: wall clock or simulation), and hooks where compression,
/// privacy and secure aggregation plug in. The transport is a per-call argument, so one server
/// runs in-process, over MPI, or over the user's own transport. Writing a custom FL algorithm
/// means replacing one policy, not copying this loop.
///
/// One round (McMahan et al. 2017, Algorithm 1, with the system-heterogeneity handling of
/// Bonawitz et al. 2019, "Towards Federated Learning at Scale") runs as named stages:
///  1. select: sample clients (seeded per round: the same seed and round give the same clients);
///  2. broadcast: send the global model with each client's round_config (capability hints);
///  3. collect: admit client_update messages until the target number of reports is reached, every
///     selected client has answered, or the deadline passes (admission below);
///  4. conclude: with at least min_reports accepted reports, aggregate, run the hooks and apply
///     the server optimizer through a checked step; otherwise the round fails and the global model
///     is unchanged.
///
/// Evaluation rounds (run_evaluation_round, evaluate_if_due; federated_evaluation.hpp) are
/// separate from these: the clients evaluate the global model on their own held-out data and
/// answer through the same transport and trust rules; the model does not change.
///
/// Admission — what the server trusts. Nothing a client wrote is believed before it is checked
/// against what the server knows: the sender field against the transport's authenticated sender
/// (`may_speak_for`; impersonations are counted and the real client's report is still accepted),
/// the round against the current one, the sender against the selection, declared sizes against
/// the layout before any memory is reserved (partial chunked messages live under a per-round
/// budget), the weight against the weight_policy, every value against NaN/Inf (the aggregator),
/// the metrics against the client_metrics_policy. The mean and the stepped model must be finite,
/// else the round fails with the model and optimizer state untouched. Every refusal is counted in
/// round_metrics; no client input makes run_round throw.
#pragma once

#include "fedpp/aggregation/aggregator.hpp"
#include "fedpp/aggregation/client_update.hpp"
#include "fedpp/aggregation/fedavg.hpp"
#include "fedpp/aggregation/weight_policy.hpp"
#include "fedpp/client/round_config.hpp"
#include "fedpp/error.hpp"
#include "fedpp/kernels/finite.hpp"
#include "fedpp/optim/server_optimizer.hpp"
#include "fedpp/optim/server_sgd.hpp"
#include "fedpp/orchestration/availability.hpp"
#include "fedpp/orchestration/client_metrics_mean.hpp"
#include "fedpp/orchestration/federated_evaluation.hpp"
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
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <type_traits>
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
  /// The bound on a client's weight and what happens above it (default: refuse above 10^6).
  weight_policy weights{};
  /// Limits on the metrics a client reports (non-finite or huge values, too many keys are dropped).
  client_metrics_policy client_metrics{};
  /// Bytes all partial (chunked) messages of a round may hold together; a report whose chunks
  /// would exceed it is dropped (round_metrics::over_budget). 0 = automatic: 4 dense updates of
  /// the model plus 64 MiB. Raise it to (senders chunking at once) × (update bytes) when many
  /// clients upload chunked updates concurrently.
  std::uint64_t partial_message_budget = 0;
  /// Largest payload of a compressed (raw-bytes) update; larger declared sizes are refused before
  /// anything is reserved. 0 = automatic: what the hooks declare with `max_update_payload_bytes`,
  /// else twice the dense update plus 1 MiB.
  std::uint64_t max_compressed_update_bytes = 0;
  /// Federated evaluation rounds (run_evaluation_round): cadence, how many clients are asked,
  /// and the bounds their answers are checked against.
  federated_evaluation_options evaluation{};
};

/// Control-message tags the orchestration uses (wire::encode_control).
enum class control_tag : std::uint32_t {
  shutdown = 1,     ///< server → client hosts: no more rounds
  client_failed = 2, ///< client host → server: this client's local training failed this round
  evaluation_report = evaluation_report_tag, ///< client host → server: an evaluation's answer
  evaluation_failed = evaluation_failed_tag  ///< client host → server: this client could not evaluate
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

  /// A server starting from `initial`. Throws invalid_config for inconsistent options (among
  /// them a min_reports that the sampler's fixed sample size could never reach).
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
    if constexpr (requires { sampler_.sample_size(); }) {
      const std::size_t most = std::min<std::size_t>(target_reports(), sampler_.sample_size());
      if (options_.min_reports > most)
        throw invalid_config("server: min_reports (" + std::to_string(options_.min_reports) +
                             ") exceeds the " + std::to_string(most) +
                             " reports a round can keep (the sampler picks " +
                             std::to_string(sampler_.sample_size()) + " clients): every round would fail");
    }
    if (options_.deadline.count() < 0 || options_.max_wait.count() <= 0)
      throw invalid_config("server: deadline must be >= 0 and max_wait > 0");
    if (!make_aggregator_) throw invalid_config("server: the aggregator factory is empty");
    if (!(options_.client_lr_decay > 0 && options_.client_lr_decay <= 1))
      throw invalid_config("server: client_lr_decay must be in (0, 1], got " +
                           std::to_string(options_.client_lr_decay));
    options_.weights.validate();
    options_.client_metrics.validate();
    options_.evaluation.validate();
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
  [[nodiscard]] const Hooks& hooks() const noexcept { return hooks_; }
  [[nodiscard]] const server_options& options() const noexcept { return options_; }
  /// The partial-message budget in force (server_options::partial_message_budget resolved).
  [[nodiscard]] std::uint64_t partial_message_budget() const noexcept {
    if (options_.partial_message_budget != 0) return options_.partial_message_budget;
    return 4 * dense_update_bytes() + (std::uint64_t{64} << 20);
  }

  /// Replaces the state a checkpoint holds — the model, the optimizer and the next round's
  /// number — at once (restore_checkpoint's commit, orchestration/checkpoint.hpp, after it has
  /// validated everything). Throws invalid_config, nothing changed, when `model` has another
  /// layout; past that check nothing throws.
  void replace_state(flat_model<T>&& model, Optimizer&& optimizer,
                     std::uint64_t next_round) requires std::is_nothrow_move_assignable_v<Optimizer> {
    if (model.size() != model_.size() || model.layout().hash() != model_.layout().hash())
      throw invalid_config("server::replace_state: a model of " + std::to_string(model.size()) +
                           " elements (layout hash " + std::to_string(model.layout().hash()) +
                           ") for a server of " + std::to_string(model_.size()) + " (layout hash " +
                           std::to_string(model_.layout().hash()) + ")");
    static_assert(std::is_nothrow_move_assignable_v<flat_model<T>>);
    model_ = std::move(model);
    optimizer_ = std::move(optimizer);
    round_ = next_round;
  }

  /// Runs one synchronous round over `endpoint` (the server's endpoint of a transport).
  template <transport Transport>
  round_metrics run_round(Transport& endpoint) {
    round_state s(round_++, options_.client_metrics);
    reassembler_.clear(); // what an earlier round left half-received is of no use now
    reassembler_.set_limits({max_payload_bytes(), partial_message_budget()});

    if (!select(s)) return finish(s);
    if constexpr (hooks_collect<Transport>) {
      return run_collecting_hooks(endpoint, s);
    } else {
      if constexpr (requires { hooks_.begin_round(s.recipients, s.r); }) hooks_.begin_round(s.recipients, s.r);
      if constexpr (!hooks_absorb_updates) s.aggregate.emplace(make_aggregator_(model_.layout()));
      s.window = options_.max_in_flight == 0 ? s.recipients.size() : options_.max_in_flight;
      while (s.sent < s.recipients.size() && s.sent < s.window) send_next(endpoint, s);
      collect(endpoint, s);
      conclude(s);
      return finish(s);
    }
  }

  /// True when server_options::evaluation's cadence asks for an evaluation round now, after
  /// round() training rounds (every k-th; never when evaluation.every is 0).
  [[nodiscard]] bool evaluation_due() const noexcept { return options_.evaluation.due_after(round_); }

  /// A federated evaluation round (Flower's evaluate round), apart from the training rounds: the
  /// clients select_evaluation_clients picks are sent the global model with round_config's
  /// extra[evaluate_key], evaluate it on their own held-out data and answer (examples, loss,
  /// accuracy); each answer is admitted by evaluation_collector (sender authenticated, values
  /// bounded; refusals counted) until every asked client has answered or evaluation.max_wait
  /// passes. The model, the round number and the training rounds' sampling are unchanged.
  /// Nothing a client sends makes it throw.
  template <transport Transport>
  evaluation_metrics run_evaluation_round(Transport& endpoint) {
    evaluation_collector e(round_, ++evaluations_,
                           select_evaluation_clients(sampler_, options_.evaluation, options_.seed, round_),
                           options_.evaluation);
    send_evaluation_requests(endpoint, e);
    collect_evaluations(endpoint, e);
    return std::move(e).finish();
  }

  /// run_evaluation_round when evaluation_due(), else nothing: call it after each run_round.
  template <transport Transport>
  std::optional<evaluation_metrics> evaluate_if_due(Transport& endpoint) {
    if (!evaluation_due()) return std::nullopt;
    return run_evaluation_round(endpoint);
  }

  /// Tells the client hosts behind `endpoint` that no more rounds follow.
  template <transport Transport>
  void shutdown(Transport& endpoint, const std::vector<endpoint_id>& hosts) {
    const message bye =
        wire::encode_control(round_, server_endpoint, static_cast<std::uint32_t>(control_tag::shutdown), {});
    for (endpoint_id host : hosts) endpoint.send(host, bye);
  }

private:
  using nanoseconds = std::chrono::nanoseconds;

  /// Everything one round keeps between its stages.
  struct round_state {
    round_state(std::uint64_t round, client_metrics_policy policy)
        : r(round), started(transport_clock::now()), client_metrics(policy) {
      metrics.round = round;
    }
    std::uint64_t r;
    transport_clock::time_point started;
    round_metrics metrics;
    std::vector<client_id> selected;
    std::vector<client_id> recipients;
    std::vector<std::pair<client_id, nanoseconds>> late, surplus; // simulation: never sent the model
    std::map<client_id, nanoseconds> durations;                   // simulation: forecast durations
    std::optional<round_tracker> tracker;
    std::optional<Aggregator> aggregate;
    client_metrics_mean client_metrics;
    std::map<std::string, message> encoded; // one broadcast message per distinct config
    std::size_t sent = 0;                   // recipients sent the model
    std::size_t window = 0;                 // flow control: recipients allowed to hold it unanswered
    std::size_t settled = 0;                // recipients whose report was judged (or who failed)
    std::size_t absorbed = 0;               // reports the hooks absorbed (hooks_absorb_updates)
    double aggregation_seconds = 0;
  };

  /// Hooks that turn a compressed report into a dense delta for the aggregator.
  static constexpr bool hooks_decode_updates = requires(Hooks & h, const wire::decoded_message& d) {
    h.decode_update(d, std::span<T>{});
  };
  /// Hooks that aggregate reports themselves, in a compressed domain (FetchSGD sums sketches):
  /// `absorb_update(decoded, weight, layout, round)` per accepted report (`weight` is the one the
  /// weight policy admitted), then `finish_aggregate(layout, round)` → optional mean delta; the
  /// aggregator is not used.
  static constexpr bool hooks_absorb_updates =
      requires(Hooks & h, const wire::decoded_message& d, const model_layout& l, std::uint64_t round) {
    h.absorb_update(d, 1.0, l, round);
    { h.finish_aggregate(l, round) } -> std::same_as<std::optional<flat_model<T>>>;
  };
  /// Hooks that run a collection of their own (secure aggregation).
  template <class Transport>
  static constexpr bool hooks_collect =
      requires(Hooks & h, Transport& t, const std::vector<client_id>& c, transport_clock::time_point d,
               round_metrics& m) {
    { h.collect(t, c, std::uint64_t{0}, d, m) } -> std::same_as<std::optional<flat_model<T>>>;
  };
  static constexpr bool accepts_compressed = hooks_decode_updates || hooks_absorb_updates;

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

  [[nodiscard]] std::uint64_t dense_update_bytes() const noexcept {
    return static_cast<std::uint64_t>(model_.size()) * sizeof(T);
  }

  /// The largest total payload a client_update may declare: the dense model, or a compressed one.
  [[nodiscard]] std::uint64_t max_payload_bytes() const {
    if constexpr (!accepts_compressed) return dense_update_bytes();
    else return std::max(dense_update_bytes(), max_compressed_bytes());
  }
  [[nodiscard]] std::uint64_t max_compressed_bytes() const {
    if (options_.max_compressed_update_bytes != 0) return options_.max_compressed_update_bytes;
    if constexpr (requires(const Hooks& h) {
                    { h.max_update_payload_bytes(model_.layout()) } -> std::convertible_to<std::uint64_t>;
                  })
      return hooks_.max_update_payload_bytes(model_.layout());
    return 2 * dense_update_bytes() + (std::uint64_t{1} << 20);
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

  // --- Stage 1: select. -----------------------------------------------------------------------

  /// Samples the round's clients and decides who is sent the model. In simulation the forecasts
  /// say in advance who drops out, who is late and who is surplus; those are not trained (their
  /// work would be discarded anyway). False when the round cannot run (it is finished as failed,
  /// or released without quorum by hooks that release every round).
  bool select(round_state& s) {
    rng gen = rng::for_stream(options_.seed, s.r);
    s.selected = sampler_.sample(s.r, gen);
    s.metrics.sampled = s.selected.size();
    const std::size_t target = std::min(target_reports(), s.selected.size());
    // Hooks that release every round (central DP) have even a too-small sample trained.
    if (s.selected.empty() || (target < options_.min_reports && !releases_failed_rounds())) {
      s.metrics.dropped = s.selected.size();
      if (releases_failed_rounds()) release_without_quorum(std::nullopt, s);
      return false;
    }
    s.tracker.emplace(s.selected, round_policy{target, std::min(options_.min_reports, target), options_.deadline});
    if constexpr (Availability::simulated) {
      std::vector<std::pair<nanoseconds, client_id>> on_time;
      for (client_id c : s.selected) {
        const client_forecast f = availability_.forecast(c, s.r, config_for(c, s.r));
        if (f.drops_out) continue;
        if (options_.deadline.count() > 0 && f.duration >= options_.deadline)
          s.late.emplace_back(c, f.duration);
        else
          on_time.emplace_back(f.duration, c);
      }
      std::sort(on_time.begin(), on_time.end());
      for (std::size_t i = 0; i < on_time.size(); ++i) {
        s.durations[on_time[i].second] = on_time[i].first;
        if (i < target)
          s.recipients.push_back(on_time[i].second);
        else
          s.surplus.emplace_back(on_time[i].second, on_time[i].first);
      }
    } else {
      s.recipients = s.selected;
    }
    return true;
  }

  // --- Stage 2: broadcast. --------------------------------------------------------------------

  /// Sends the model to the next recipient; one encoded message per distinct config, shared.
  template <class Transport>
  void send_next(Transport& endpoint, round_state& s) {
    const client_id c = s.recipients[s.sent++];
    const round_config config = config_for(c, s.r);
    const std::string key = config_key(config);
    auto it = s.encoded.find(key);
    if (it == s.encoded.end())
      it = s.encoded.emplace(key, wire::encode_global_model<T>(s.r, config, model_.layout(), model_.span())).first;
    endpoint.send(c, it->second);
    s.metrics.bytes_down += it->second.size();
  }

  // --- Stage 3: collect. ----------------------------------------------------------------------

  template <class Transport>
  void collect(Transport& endpoint, round_state& s) {
    using clock = transport_clock;
    const auto wait = (!Availability::simulated && options_.deadline.count() > 0)
                          ? std::min<nanoseconds>(options_.deadline, options_.max_wait)
                          : options_.max_wait;
    const auto give_up = s.started + wait;
    while (s.settled < s.recipients.size()) {
      if (!Availability::simulated && s.tracker->done(clock::now() - s.started)) break;
      std::optional<envelope> received;
      try {
        received = endpoint.receive(give_up);
      } catch (const impersonation&) { // the transport refused a forged envelope
        ++s.metrics.impersonations;
        continue;
      } catch (const malformed_message&) {
        ++s.metrics.malformed;
        continue;
      }
      if (!received) break; // deadline (or max_wait) passed
      s.metrics.bytes_up += received->message.size();
      const auto t0 = clock::now();
      const std::size_t settled_before = s.settled;
      admit(endpoint, *received, s);
      s.aggregation_seconds += std::chrono::duration<double>(clock::now() - t0).count();
      // Flow control: a settled recipient frees its slot for the next one.
      s.window += s.settled - settled_before;
      while (s.sent < s.recipients.size() && s.sent < s.window) send_next(endpoint, s);
    }
    for (const auto& [c, d] : s.late) (void)s.tracker->on_report(c, d);
    for (const auto& [c, d] : s.surplus) (void)s.tracker->on_report(c, d);
  }

  /// Admission of one received message: authenticate, check against the round, reassemble under
  /// the budget, decode, then absorb. Every refusal is counted; nothing escapes.
  template <class Transport>
  void admit(const Transport& endpoint, const envelope& received, round_state& s) {
    round_metrics& m = s.metrics;
    std::optional<wire::decoded_message> part;
    try {
      part.emplace(wire::decode(received.message));
    } catch (const malformed_message&) {
      ++m.malformed;
      return;
    }
    const wire::message_header& h = part->header();
    const client_id client = h.sender;
    if (!may_speak_for(endpoint, received.from, client)) {
      ++m.impersonations;
      return;
    }
    if (h.kind == wire::message_kind::control && h.tag == static_cast<std::uint32_t>(control_tag::client_failed) &&
        h.round == s.r) {
      if (s.tracker->on_failure(client)) {
        ++m.client_failures;
        ++s.settled;
      } else if (!s.tracker->is_selected(client)) {
        ++m.rejected;
      }
      return;
    }
    if (h.kind != wire::message_kind::client_update) {
      ++m.malformed;
      return;
    }
    if (h.round < s.r) {
      ++m.stale;
      return;
    }
    if (h.round > s.r) {
      ++m.malformed; // nobody was sent a later round's model
      return;
    }
    if (!s.tracker->is_selected(client)) {
      (void)s.tracker->on_report(client, nanoseconds{0}); // counted as not selected
      ++m.rejected;
      return;
    }
    if (!s.tracker->is_pending(client)) { // the round already judged this client's report
      if (!h.is_chunked() || h.chunk_index == 0) (void)s.tracker->on_report(client, nanoseconds{0});
      return;
    }
    // From here on the message is the authenticated report of a selected, pending client: if it
    // is refused, that client is settled (its flow-control slot freed); nobody else can lose
    // a place this way, since nobody else can speak for it.
    const auto refuse = [&](std::size_t& counter) {
      ++counter;
      if (s.tracker->on_failure(client)) ++s.settled;
    };
    std::optional<wire::decoded_message> decoded;
    try {
      check_declared_size(h);
      if (h.is_chunked()) {
        std::optional<message> whole = reassembler_.add_decoded(*part);
        if (!whole) return; // more chunks to come
        part.reset();
        decoded.emplace(wire::decode(*whole));
      } else {
        decoded = std::move(part);
      }
      check_report(*decoded, s.r);
    } catch (const budget_exceeded&) {
      refuse(m.over_budget);
      return;
    } catch (const malformed_message&) {
      refuse(m.malformed);
      return;
    }
    nanoseconds elapsed = transport_clock::now() - s.started;
    if constexpr (Availability::simulated) {
      const auto it = s.durations.find(client);
      if (it != s.durations.end()) elapsed = it->second;
    }
    const report_verdict verdict = s.tracker->on_report(client, elapsed);
    ++s.settled; // pending before, so accepted, late or surplus now
    if (verdict != report_verdict::accepted) return;
    if (!absorb(*decoded, s)) {
      (void)s.tracker->on_refused(client); // its place in the target is free again
      return;
    }
    if constexpr (Availability::simulated)
      m.simulated_seconds = std::max(m.simulated_seconds, std::chrono::duration<double>(elapsed).count());
  }

  /// Declared sizes against the layout, before any memory is reserved for the message.
  void check_declared_size(const wire::message_header& h) const {
    if (h.layout_hash != model_.layout().hash())
      throw malformed_message("server: an update for another model layout (hash " + std::to_string(h.layout_hash) + ")");
    if (h.encoding == wire::payload_encoding::dense) {
      if (h.type != dtype_of<T> || h.element_count != model_.size())
        throw malformed_message("server: a dense update of " + std::to_string(h.element_count) + " " +
                                to_string(h.type) + " elements for a model of " + std::to_string(model_.size()) +
                                " " + to_string(dtype_of<T>));
      return;
    }
    if (!accepts_compressed)
      throw malformed_message("server: a compressed update, and no hooks to decode it");
    if (h.total_payload_bytes > max_compressed_bytes())
      throw malformed_message("server: a compressed update of " + std::to_string(h.total_payload_bytes) +
                              " bytes exceeds the limit of " + std::to_string(max_compressed_bytes()));
  }

  /// The whole (reassembled) report: this round, this model.
  void check_report(const wire::decoded_message& d, std::uint64_t r) const {
    if (d.header().encoding != wire::payload_encoding::dense && accepts_compressed) {
      // A compressed payload (raw bytes) is the hooks' to check; its header names this round and model.
      if (d.round() != r || d.layout_hash() != model_.layout().hash() || d.header().is_chunked())
        throw malformed_message("server: a compressed update for another round or model");
    } else {
      wire::check_model_message(d, model_.layout(), r);
    }
  }

  /// Weight policy, then the aggregator (or the hooks that aggregate). False when refused.
  bool absorb(const wire::decoded_message& decoded, round_state& s) {
    round_metrics& m = s.metrics;
    const client_id client = decoded.sender();
    const weight_policy::verdict admitted = options_.weights.admit(decoded.weight());
    if (!admitted.weight) {
      ++m.rejected;
      ++m.weight_rejected;
      return false;
    }
    const double weight = *admitted.weight;
    try {
      if constexpr (hooks_absorb_updates) {
        hooks_.absorb_update(decoded, weight, model_.layout(), s.r);
        ++s.absorbed;
      } else {
        std::span<const T> delta;
        if constexpr (hooks_decode_updates) {
          if (scratch_.size() != model_.size()) scratch_ = flat_model<T>(model_.layout());
          delta = hooks_.decode_update(decoded, scratch_.span());
        } else {
          delta = decoded.template payload<T>();
        }
        s.aggregate->accumulate(client_update<T>::from_flat(client, model_.layout(), delta, weight));
      }
    } catch (const rejected_update&) {
      ++m.rejected;
      return false;
    } catch (const error&) { // a payload the hooks could not decode
      ++m.malformed;
      return false;
    }
    if (admitted.clipped) ++m.weight_clipped;
    m.total_examples += weight;
    m.metrics_refused += s.client_metrics.add(weight, decoded.metrics());
    return true;
  }

  // --- Stage 4: conclude. ---------------------------------------------------------------------

  void conclude(round_state& s) {
    using clock = transport_clock;
    round_metrics& m = s.metrics;
    const round_outcome outcome = s.tracker->outcome();
    m.dropped = outcome.missing;
    m.stragglers = outcome.late;
    m.surplus = outcome.surplus;
    m.duplicates = outcome.duplicates;
    if constexpr (hooks_absorb_updates)
      m.reported = s.absorbed;
    else
      m.reported = s.aggregate->num_inputs();
    const auto t0 = clock::now();
    if (m.reported >= options_.min_reports) {
      if (std::optional<flat_model<T>> mean = report_mean(s)) {
        if (apply_mean_delta(mean->span(), s)) {
          m.succeeded = true;
          m.client_metrics = s.client_metrics.means();
        }
      } else if constexpr (hooks_absorb_updates) {
        m.aggregate_non_finite = true; // reports absorbed, yet the hooks had no (finite) mean to give
      }
    } else if (releases_failed_rounds()) {
      release_without_quorum(report_mean(s), s);
    }
    s.aggregation_seconds += std::chrono::duration<double>(clock::now() - t0).count();
    m.aggregation_seconds = s.aggregation_seconds;
  }

  /// The round's mean delta: the aggregator's, or the hooks' when they aggregate themselves.
  std::optional<flat_model<T>> report_mean(round_state& s) {
    if constexpr (hooks_absorb_updates) {
      return hooks_.finish_aggregate(model_.layout(), s.r);
    } else {
      if (!s.aggregate || !s.aggregate->can_report()) return std::nullopt;
      return std::move(*s.aggregate).report();
    }
  }

  /// Secure aggregation and other hooks with a collection of their own: they learn the
  /// participants, everyone gets the model at once, and the hooks return the mean delta.
  template <class Transport>
  round_metrics run_collecting_hooks(Transport& endpoint, round_state& s) {
    if constexpr (requires { hooks_.begin_round(s.recipients, s.r); }) hooks_.begin_round(s.recipients, s.r);
    while (s.sent < s.recipients.size()) send_next(endpoint, s);
    const auto t0 = transport_clock::now();
    std::optional<flat_model<T>> mean = hooks_.collect(endpoint, s.recipients, s.r, s.started + options_.max_wait, s.metrics);
    s.metrics.dropped = s.selected.size() - std::min(s.selected.size(), s.metrics.reported);
    if (mean && s.metrics.reported >= options_.min_reports && apply_mean_delta(mean->span(), s))
      s.metrics.succeeded = true;
    s.metrics.aggregation_seconds = std::chrono::duration<double>(transport_clock::now() - t0).count();
    return finish(s);
  }

  /// The end of every round that moves the model: the hooks' on_aggregate (e.g. central DP
  /// noise), then a checked optimizer step. The mean must be finite (before and after the hooks),
  /// and so must the stepped model and, where the optimizer can tell (`state_is_finite()`), its
  /// state; otherwise both are restored and the round fails (round_metrics::aggregate_non_finite).
  bool apply_mean_delta(std::span<T> mean_delta, round_state& s) {
    const auto refuse = [&] {
      s.metrics.aggregate_non_finite = true;
      return false;
    };
    if (!kernels::all_finite(std::span<const T>(mean_delta))) return refuse();
    if constexpr (requires { hooks_.on_aggregate(mean_delta, s.r); }) {
      hooks_.on_aggregate(mean_delta, s.r);
      if (!kernels::all_finite(std::span<const T>(mean_delta))) return refuse();
    }
    return checked_step(std::span<const T>(mean_delta)) || refuse();
  }

  /// optimizer.step with the strong guarantee against overflow: the model (and the optimizer, when
  /// it can be copied) are kept, and put back if the step produced a non-finite model or state.
  bool checked_step(std::span<const T> mean_delta) {
    if (model_backup_.size() != model_.size()) model_backup_ = flat_model<T>(model_.layout());
    std::memcpy(model_backup_.span().data(), model_.span().data(), model_.size() * sizeof(T));
    std::optional<Optimizer> optimizer_backup;
    if constexpr (std::is_copy_constructible_v<Optimizer>) optimizer_backup.emplace(optimizer_);
    optimizer_.step(model_.span(), mean_delta);
    bool finite = kernels::all_finite(std::span<const T>(model_.span()));
    if constexpr (requires(const Optimizer& o) {
                    { o.state_is_finite() } -> std::convertible_to<bool>;
                  })
      finite = finite && optimizer_.state_is_finite();
    if (finite) return true;
    std::memcpy(model_.span().data(), model_backup_.span().data(), model_.size() * sizeof(T));
    if constexpr (std::is_copy_constructible_v<Optimizer>) {
      if constexpr (std::is_move_assignable_v<Optimizer>) optimizer_ = std::move(*optimizer_backup);
    }
    return false;
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
  void release_without_quorum(std::optional<flat_model<T>> partial_mean, round_state& s) {
    flat_model<T> delta = partial_mean ? std::move(*partial_mean) : flat_model<T>(model_.layout());
    if (apply_mean_delta(delta.span(), s)) s.metrics.released_without_quorum = true;
  }

  // --- Evaluation rounds (run_evaluation_round): their own stages, not run_round's. -------------

  /// Sends the model to every asked client with extra[evaluate_key] = the evaluation number;
  /// one encoded message per distinct config, shared. All at once: answers are 128 bytes.
  template <class Transport>
  void send_evaluation_requests(Transport& endpoint, evaluation_collector& e) {
    std::map<std::string, message> encoded;
    for (client_id c : e.asked()) {
      round_config config = config_for(c, e.round());
      config.extra[std::string(evaluate_key)] = std::to_string(e.evaluation());
      const std::string key = config_key(config);
      auto it = encoded.find(key);
      if (it == encoded.end())
        it = encoded.emplace(key, wire::encode_global_model<T>(e.round(), config, model_.layout(), model_.span()))
                 .first;
      endpoint.send(c, it->second);
      e.metrics().bytes_down += it->second.size();
    }
  }

  /// Receives answers until every asked client is settled or evaluation.max_wait has passed.
  template <class Transport>
  void collect_evaluations(Transport& endpoint, evaluation_collector& e) {
    const auto give_up = e.started() + options_.evaluation.max_wait;
    while (!e.settled()) {
      std::optional<envelope> received;
      try {
        received = endpoint.receive(give_up);
      } catch (const impersonation&) { // the transport refused a forged envelope
        ++e.metrics().impersonations;
        continue;
      } catch (const malformed_message&) {
        ++e.metrics().malformed;
        continue;
      }
      if (!received) break;
      e.admit(endpoint, *received);
    }
  }

  round_metrics finish(round_state& s) {
    round_metrics& m = s.metrics;
    if ((m.succeeded || m.released_without_quorum) && evaluate_) m.evaluation = evaluate_(model_);
    m.round_seconds = std::chrono::duration<double>(transport_clock::now() - s.started).count();
    if constexpr (requires { hooks_.on_round_end(m); }) hooks_.on_round_end(m);
    reassembler_.clear();
    return std::move(m);
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
  flat_model<T> model_backup_; // checked_step's copy of the model, reused every round
  std::uint64_t round_ = 0;
  std::uint64_t evaluations_ = 0; // evaluation rounds run (the last one's number)
};

} // namespace fedpp
