/// \file async_server.hpp
/// Asynchronous rounds: a fixed number of clients train at any time; each arriving update is
/// applied at once (FedAsync) or buffered until K have arrived (FedBuff), discounted by its
/// staleness, and the freed slot goes to a new client with the current model.
///
/// With a simulated availability model the run is a discrete-event simulation: updates are
/// applied in the order of their simulated completion times (dispatch time + forecast
/// duration), whatever order the transport delivers them in, so a seed fixes the whole run.
/// With the wall clock, updates are applied in arrival order.
///
/// Admission follows the synchronous server's rules (server.hpp): the claimed sender must be one
/// the transport's sender may speak for, and a client currently in flight; chunks are sized
/// against the layout before anything is reserved and held under a budget; weights go through
/// the weight_policy, metrics through the client_metrics_policy; a client whose training failed
/// frees its slot at once. Refusals are counted in the step's round_metrics.
#pragma once

#include "fedpp/aggregation/weight_policy.hpp"
#include "fedpp/error.hpp"
#include "fedpp/orchestration/availability.hpp"
#include "fedpp/orchestration/client_host.hpp"
#include "fedpp/orchestration/client_metrics_mean.hpp"
#include "fedpp/orchestration/round_metrics.hpp"
#include "fedpp/random/rng.hpp"
#include "fedpp/scheduling/fedasync.hpp"
#include "fedpp/scheduling/fedbuff.hpp"
#include "fedpp/tensor/flat_model.hpp"
#include "fedpp/transport/transport.hpp"
#include "fedpp/transport/wire_format.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace fedpp {

/// An asynchronous update rule: `p.apply(client, model, update, pulled_version)` folds one
/// client's update into `model` (advancing `p.version()` when the model changed).
/// `async_upload<P>::weights` says whether clients upload weights (FedAsync) or deltas (FedBuff).
template <class P, class T>
concept async_policy = requires(P& p, client_id c, std::span<T> model, std::span<const T> update,
                                std::uint64_t v) {
  {p.apply(c, model, update, v)};
  { p.version() } -> std::convertible_to<std::uint64_t>;
};

/// Whether a policy mixes client models (true) or adds client deltas (false, the default).
template <class P>
struct async_upload {
  static constexpr bool weights = false;
};
template <class T, class S>
struct async_upload<fedasync<T, S>> {
  static constexpr bool weights = true;
};

/// Settings of an asynchronous server.
struct async_options {
  std::size_t concurrency = 10;                                ///< clients training at any time
  round_config client_config{};                                ///< sent with every model
  std::uint64_t seed = 0;                                      ///< seeds the choice of clients
  std::chrono::nanoseconds max_wait{std::chrono::minutes(10)}; ///< wall-clock cap on one wait
  weight_policy weights{};                                     ///< bound on a client's weight
  client_metrics_policy client_metrics{};                      ///< limits on client metrics
  /// Bytes partial (chunked) uploads may hold together; 0 = 4 dense updates plus 64 MiB.
  std::uint64_t partial_message_budget = 0;
};

/// Asynchronous FL server (FedAsync, FedBuff or any async_policy).
template <element_type T, class Policy, availability_model Availability = wall_clock_availability>
requires async_policy<Policy, T>
class async_server {
public:
  using value_type = T;
  using step_callback = std::function<void(const round_metrics&, const flat_model<T>&)>;

  /// Clients are drawn uniformly from `population` among those not already training.
  async_server(flat_model<T> initial, std::vector<client_id> population, Policy policy,
               async_options options = {}, Availability availability = Availability{})
      : model_(std::move(initial)), population_(std::move(population)), policy_(std::move(policy)),
        options_(std::move(options)), availability_(std::move(availability)) {
    std::sort(population_.begin(), population_.end());
    if (std::adjacent_find(population_.begin(), population_.end()) != population_.end())
      throw invalid_config("async_server: the population lists a client twice");
    if (options_.concurrency == 0 || options_.concurrency > population_.size())
      throw invalid_config("async_server: concurrency " + std::to_string(options_.concurrency) +
                           " must be in [1, " + std::to_string(population_.size()) + "]");
    options_.client_config.extra.erase(std::string(upload_weights_key));
    if (async_upload<Policy>::weights) options_.client_config.extra[std::string(upload_weights_key)] = "1";
    options_.weights.validate();
    options_.client_metrics.validate();
    const std::uint64_t update_bytes = model_.layout().total_bytes();
    reassembler_.set_limits({update_bytes, options_.partial_message_budget != 0
                                               ? options_.partial_message_budget
                                               : 4 * update_bytes + (std::uint64_t{64} << 20)});
  }

  [[nodiscard]] const flat_model<T>& model() const noexcept { return model_; }
  [[nodiscard]] const Policy& policy() const noexcept { return policy_; }

  /// Runs until `steps` server versions have been produced; `on_step` sees each version's
  /// metrics and model. Returns the metrics of every step.
  template <transport Transport>
  std::vector<round_metrics> run(Transport& endpoint, std::size_t steps, const step_callback& on_step = {}) {
    std::vector<round_metrics> history;
    const std::uint64_t final_version = policy_.version() + steps;
    round_metrics current = fresh_metrics();
    client_metrics_mean client_metrics(options_.client_metrics);
    double staleness_sum = 0;
    auto step_started = transport_clock::now();
    while (in_flight_.size() < options_.concurrency) dispatch(endpoint, current);
    while (policy_.version() < final_version) {
      auto arrival = next_arrival(endpoint, current);
      if (!arrival)
        throw error("async_server: no client reported within max_wait; " + std::to_string(in_flight_.size()) +
                    " clients in flight");
      auto& [client, decoded] = *arrival;
      const auto flight = in_flight_.at(client);
      in_flight_.erase(client);
      sim_now_ = std::max(sim_now_, flight.completion);
      const std::uint64_t staleness = policy_.version() - flight.version;
      bool advanced = false;
      const weight_policy::verdict admitted = options_.weights.admit(decoded.weight());
      if (!admitted.weight) {
        ++current.rejected;
        ++current.weight_rejected;
      } else {
        try {
          const std::uint64_t version_before = policy_.version();
          policy_.apply(client, model_.span(), decoded.template payload<T>(), flight.version);
          advanced = policy_.version() != version_before; // FedAsync: every update; FedBuff: every K-th
          ++current.reported;
          if (admitted.clipped) ++current.weight_clipped;
          current.total_examples += *admitted.weight;
          staleness_sum += static_cast<double>(staleness);
          if (staleness > 0) ++current.stale;
          current.metrics_refused += client_metrics.add(*admitted.weight, decoded.metrics());
        } catch (const rejected_update&) {
          ++current.rejected;
        } catch (const malformed_message&) {
          ++current.malformed;
        }
      }
      dispatch(endpoint, current);
      if (advanced) {
        current.succeeded = true;
        current.round = policy_.version();
        if (current.reported > 0)
          current.mean_staleness = staleness_sum / static_cast<double>(current.reported);
        current.client_metrics = client_metrics.means();
        client_metrics.clear();
        current.round_seconds = std::chrono::duration<double>(transport_clock::now() - step_started).count();
        current.simulated_seconds = std::chrono::duration<double>(sim_now_).count();
        if (on_step) on_step(current, model_);
        history.push_back(current);
        current = fresh_metrics();
        staleness_sum = 0;
        step_started = transport_clock::now();
      }
    }
    return history;
  }

  /// Clients still training (their updates arrive during a later run()).
  [[nodiscard]] std::size_t in_flight() const noexcept { return in_flight_.size(); }

private:
  struct flight_info {
    std::uint64_t version = 0;              // model version the client pulled
    std::chrono::nanoseconds completion{0}; // simulated completion time
  };

  static round_metrics fresh_metrics() { return round_metrics{}; }

  template <class Transport>
  void dispatch(Transport& endpoint, round_metrics& metrics) {
    // Draw among idle clients; in simulation, a client forecast to drop out is counted and
    // another one drawn (bounded: give up after a full population's worth of draws).
    for (std::size_t attempt = 0; attempt < 4 * population_.size(); ++attempt) {
      rng gen = rng::for_stream(options_.seed, dispatches_++);
      std::vector<client_id> idle;
      idle.reserve(population_.size());
      for (client_id c : population_)
        if (!in_flight_.contains(c)) idle.push_back(c);
      if (idle.empty()) return;
      const client_id c = idle[gen.below(idle.size())];
      round_config config = options_.client_config;
      config.round = policy_.version();
      flight_info info{policy_.version(), sim_now_};
      if constexpr (Availability::simulated) {
        const client_forecast f = availability_.forecast(c, dispatches_, config);
        ++metrics.sampled;
        if (f.drops_out) {
          ++metrics.dropped;
          continue;
        }
        info.completion = sim_now_ + f.duration;
      } else {
        ++metrics.sampled;
      }
      const message m =
          wire::encode_global_model<T>(policy_.version(), config, model_.layout(), model_.span());
      endpoint.send(c, m);
      metrics.bytes_down += m.size();
      in_flight_[c] = info;
      return;
    }
    throw error("async_server: every draw of a client to dispatch dropped out");
  }

  // The next update to apply: in simulation the in-flight client with the earliest completion
  // (its message may have to be waited for while others are held back); else the next arrival.
  template <class Transport>
  std::optional<std::pair<client_id, wire::decoded_message>> next_arrival(Transport& endpoint,
                                                                          round_metrics& metrics) {
    for (;;) {
      if constexpr (Availability::simulated) {
        const auto next =
            std::min_element(in_flight_.begin(), in_flight_.end(), [](const auto& a, const auto& b) {
              return a.second.completion != b.second.completion ? a.second.completion < b.second.completion
                                                                : a.first < b.first;
            });
        if (auto held = held_.find(next->first); held != held_.end()) {
          auto decoded = wire::decode(held->second);
          held_.erase(held);
          return std::make_pair(next->first, std::move(decoded));
        }
      }
      std::optional<envelope> received;
      try {
        received = endpoint.receive(transport_clock::now() + options_.max_wait);
      } catch (const impersonation&) {
        ++metrics.impersonations;
        continue;
      } catch (const malformed_message&) {
        ++metrics.malformed;
        continue;
      }
      if (!received) return std::nullopt;
      metrics.bytes_up += received->message.size();
      try {
        auto part = wire::decode(received->message);
        const client_id sender = part.sender();
        if (!may_speak_for(endpoint, received->from, sender)) {
          ++metrics.impersonations;
          continue;
        }
        const auto flight = in_flight_.find(sender);
        if (flight == in_flight_.end()) {
          ++metrics.rejected; // not in flight: unknown, duplicate or already applied
          continue;
        }
        if (part.kind() == wire::message_kind::control &&
            part.tag() == static_cast<std::uint32_t>(control_tag::client_failed) &&
            part.round() == flight->second.version) {
          in_flight_.erase(flight); // its training failed: the slot goes to another client
          held_.erase(sender);
          ++metrics.client_failures;
          dispatch(endpoint, metrics);
          continue;
        }
        if (part.kind() != wire::message_kind::client_update)
          throw malformed_message("async_server: expected a client_update");
        std::optional<message> whole;
        if (part.header().is_chunked()) {
          wire::check_model_message_size(part, model_.layout()); // before anything is reserved
          whole = reassembler_.add_decoded(part);
          if (!whole) continue;
        } else {
          whole = received->message;
        }
        auto decoded = wire::decode(*whole);
        wire::check_model_message(decoded, model_.layout(), flight->second.version);
        if constexpr (Availability::simulated) {
          held_.insert_or_assign(decoded.sender(), *whole);
          continue;
        } else {
          return std::make_pair(decoded.sender(), std::move(decoded));
        }
      } catch (const budget_exceeded&) {
        ++metrics.over_budget;
      } catch (const malformed_message&) {
        ++metrics.malformed;
      }
    }
  }

  flat_model<T> model_;
  std::vector<client_id> population_;
  Policy policy_;
  async_options options_;
  Availability availability_;
  std::map<client_id, flight_info> in_flight_;
  std::map<client_id, message> held_;
  wire::chunk_reassembler reassembler_;
  std::chrono::nanoseconds sim_now_{0};
  std::uint64_t dispatches_ = 0;
};

} // namespace fedpp
