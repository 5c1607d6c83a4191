/// \file secure_aggregation_hooks.hpp
/// Secure aggregation as one policy of `fedpp::server` rounds. `secagg_server_hooks` replaces the
/// server's plain collection with the four rounds of SecAgg (Bonawitz et al. 2017) or SecAgg+
/// (Bell et al. 2020) over the same transport; `secagg_client_hooks` takes a `client_host`'s
/// upload into the protocol. Each client encodes [w, w·clip(Δ)] in fixed point mod 2^b
/// (fixed_point_encoder; w = its integer number of examples) and masks it; the server learns only
/// the sum over the clients that survived, which it decodes into the weighted mean delta.
///
/// Distributed discrete Gaussian (optional, Kairouz, Liu & Steinke 2021, "The Distributed
/// Discrete Gaussian Mechanism for Federated Learning with Secure Aggregation"): each client adds
/// N_Z(0, σ_c²) (an exact integer sampler, privacy/discrete_gaussian.hpp, on the ChaCha20
/// secure_rng) to every encoded coordinate before masking, so the sum carries noise of variance
/// n·σ_c² in fixed-point units — no party sees a less noisy value. In the decoded mean that is a
/// standard deviation of √n·σ_c / (Σw · scale). The overflow check reserves 12·σ_c per client
/// (P[|N_Z(0, σ²)| > 12σ] < 1e-32 per coordinate).
///
/// The threshold t travels to the clients in round_config::extra (secagg_threshold_key): t =
/// ⌊n/2⌋ + 1 on the complete graph, secagg_plus_parameters::choose on SecAgg+ graphs. Settings
/// must be the same on both sides (they are the round's public parameters).
#pragma once

#include "fedpp/client/round_config.hpp"
#include "fedpp/error.hpp"
#include "fedpp/orchestration/round_metrics.hpp"
#include "fedpp/privacy/discrete_gaussian.hpp"
#include "fedpp/privacy/secure_rng.hpp"
#include "fedpp/secagg/fixed_point_encoder.hpp"
#include "fedpp/secagg/neighbor_graph.hpp"
#include "fedpp/secagg/secagg_client.hpp"
#include "fedpp/secagg/secagg_config.hpp"
#include "fedpp/secagg/secagg_counters.hpp"
#include "fedpp/secagg/secagg_plus_parameters.hpp"
#include "fedpp/secagg/secagg_server.hpp"
#include "fedpp/tensor/dtype.hpp"
#include "fedpp/tensor/flat_model.hpp"
#include "fedpp/tensor/model_layout.hpp"
#include "fedpp/transport/transport.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace fedpp::secagg {

/// round_config::extra key carrying the round's Shamir threshold to the clients.
inline constexpr const char* secagg_threshold_key = "fedpp.secagg.threshold";

/// The public parameters of secure rounds, identical on the server and every client.
struct secure_aggregation_settings {
  encoding_config encoding;                      ///< fixed point: bits, clip, scale, K, W
  bool secagg_plus = false;                      ///< SecAgg+ random regular graph instead of complete
  double dropout_rate = 0.1;                     ///< SecAgg+: clients expected to drop
  double adversary_rate = 0.0;                   ///< SecAgg+: clients assumed to collude with the server
  double sigma = 40;                             ///< SecAgg+: security parameter (−log2 failure)
  double eta = 20;                               ///< SecAgg+: correctness parameter (−log2 failure)
  std::chrono::milliseconds phase_timeout{2000}; ///< the server closes phases 2–4 after this
  double ddg_sigma = 0;                          ///< σ_c of each client's discrete Gaussian (0: none)
  std::optional<std::uint64_t> ddg_test_seed;    ///< reproducible noise (tests only; OS-keyed otherwise)

  /// The encoder; throws invalid_config when the encodings plus the noise margin can overflow.
  [[nodiscard]] fixed_point_encoder make_encoder() const {
    fixed_point_encoder encoder(encoding);
    if (!(ddg_sigma >= 0) || !std::isfinite(ddg_sigma))
      throw invalid_config("secure_aggregation_settings: ddg_sigma = " + std::to_string(ddg_sigma) +
                           " must be finite and >= 0");
    const long double q = std::round(static_cast<long double>(encoding.clip_bound) * encoding.scale);
    const long double k = static_cast<long double>(encoding.num_clients);
    const long double margin = std::ceil(12.0L * ddg_sigma);
    if (k * (static_cast<long double>(encoding.max_weight) * q + margin) > encoder.max_abs_sum())
      throw invalid_config("secure_aggregation_settings: with ddg_sigma = " + std::to_string(ddg_sigma) +
                           " the noisy sum can overflow 2^(b−1)−1 (K·(W·round(c·s) + 12σ) = " +
                           std::to_string(static_cast<double>(k * (encoding.max_weight * q + margin))) +
                           "); lower ddg_sigma, clip_bound, scale, max_weight or num_clients, or raise "
                           "modulus_bits");
    return encoder;
  }
};

namespace detail {

/// A host endpoint speaking as one of its clients: send() goes out as `client` (send_as where the
/// transport has it), so the server's envelope names the client.
template <class Endpoint>
class as_client {
public:
  as_client(Endpoint& ep, client_id client) : ep_(&ep), client_(client) {}
  [[nodiscard]] endpoint_id id() const noexcept { return client_; }
  void send(endpoint_id to, const message& m) {
    if constexpr (requires { ep_->send_as(client_, to, m); })
      ep_->send_as(client_, to, m);
    else
      ep_->send(to, m);
  }
  [[nodiscard]] std::optional<envelope> receive(transport_clock::time_point deadline) {
    return ep_->receive(deadline);
  }
  [[nodiscard]] std::uint64_t bytes_sent() const noexcept { return ep_->bytes_sent(); }
  [[nodiscard]] std::uint64_t bytes_received() const noexcept { return ep_->bytes_received(); }

private:
  Endpoint* ep_;
  client_id client_;
};

/// A server endpoint that counts the bytes of one secure round.
template <transport Endpoint>
class counting_endpoint {
public:
  explicit counting_endpoint(Endpoint& ep) : ep_(&ep) {}
  [[nodiscard]] endpoint_id id() const { return ep_->id(); }
  void send(endpoint_id to, const message& m) {
    sent_ += m.size();
    ep_->send(to, m);
  }
  [[nodiscard]] std::optional<envelope> receive(transport_clock::time_point deadline) {
    auto e = ep_->receive(deadline);
    if (e) received_ += e->message.size();
    return e;
  }
  [[nodiscard]] std::uint64_t bytes_sent() const noexcept { return sent_; }
  [[nodiscard]] std::uint64_t bytes_received() const noexcept { return received_; }

private:
  Endpoint* ep_;
  std::uint64_t sent_ = 0, received_ = 0;
};

} // namespace detail

/// Server side: runs each round's secure aggregation (see the file comment).
template <element_type T>
class secagg_server_hooks {
public:
  /// Throws invalid_config for settings that can overflow.
  secagg_server_hooks(secure_aggregation_settings settings, model_layout layout)
      : settings_(settings), layout_(std::move(layout)), encoder_(settings_.make_encoder()) {}

  /// Server hook: the round's graph and threshold (always ≥ 2) over its recipients. Throws
  /// invalid_config for fewer than 2 recipients or more than encoding.num_clients.
  void begin_round(const std::vector<client_id>& recipients, std::uint64_t round) {
    if (recipients.size() > settings_.encoding.num_clients)
      throw invalid_config("secagg_server_hooks: " + std::to_string(recipients.size()) +
                           " recipients exceed encoding.num_clients = " +
                           std::to_string(settings_.encoding.num_clients) + " (the overflow bound)");
    const std::size_t n = recipients.size();
    std::optional<neighbor_graph> graph;
    std::size_t threshold = 0;
    if (settings_.secagg_plus && n > 3) {
      const auto p = secagg_plus_parameters::choose(n, settings_.dropout_rate, settings_.adversary_rate,
                                                    settings_.sigma, settings_.eta);
      graph = neighbor_graph::random_regular(recipients, p.degree, round ^ 0x5ecA66ULL);
      threshold = p.threshold;
    } else {
      graph = neighbor_graph::complete(recipients);
      threshold = n / 2 + 1;
    }
    // neighbor_graph refuses n < 2, so t = ⌊n/2⌋ + 1 ≥ 2, and choose() never returns t < 2.
    if (threshold < shamir_min_threshold)
      throw invalid_config("secagg_server_hooks: threshold " + std::to_string(threshold) + " below 2");
    graph_ = std::move(graph);
    threshold_ = threshold;
    round_ = round;
  }

  /// Server hook: tells the clients the round's threshold.
  void extend_config(round_config& config) const {
    config.extra[secagg_threshold_key] = std::to_string(threshold_);
  }

  /// Server hook: the four rounds; the decoded weighted mean, or nullopt when the protocol
  /// aborted (too few survivors: nothing is revealed) or the unmasked sum cannot be a sum of
  /// honest encodings. The advertise phase waits for training until `deadline`; the later phases
  /// close after settings.phase_timeout.
  ///
  /// Whatever the clients send, nothing escapes and the mean is finite. Each refused message is
  /// counted once in `metrics`: a claimed sender that differs from the transport's sender
  /// (`envelope::from`) in `impersonations` (the real client's own message is still accepted
  /// afterwards), as is an `impersonation` thrown by `endpoint.receive` itself; every other
  /// refusal — bytes that do not decode, a sender outside `recipients`, another round or phase, a
  /// repeat, a bad payload — and any other `malformed_message` thrown by `endpoint.receive` in
  /// `malformed`. Refused messages are dropped without keeping
  /// anything of them. A sum whose weight slot or coordinates lie outside what |U3| honest
  /// encodings can produce (Σw outside [|U3|, |U3|·W]; |Σ w·q_i| above Σw·(round(c·s) + 1) plus
  /// the noise margin) is refused: `metrics.rejected` + 1, `metrics.reported` = 0, nullopt,
  /// counted in refused_sums(). Throws invalid_config (a usage mistake) when begin_round was not
  /// called for these recipients.
  template <transport Endpoint>
  std::optional<flat_model<T>> collect(Endpoint& endpoint, const std::vector<client_id>& recipients,
                                       std::uint64_t round, transport_clock::time_point deadline,
                                       round_metrics& metrics) {
    if (!graph_ || round != round_)
      throw invalid_config("secagg_server_hooks::collect: begin_round was not called for round " +
                           std::to_string(round));
    {
      std::vector<client_id> sorted = recipients;
      std::sort(sorted.begin(), sorted.end());
      if (sorted != graph_->clients())
        throw invalid_config("secagg_server_hooks::collect: " + std::to_string(recipients.size()) +
                             " recipients differ from the " + std::to_string(graph_->size()) +
                             " of begin_round for round " + std::to_string(round));
    }
    detail::counting_endpoint<Endpoint> ep(endpoint);
    const std::size_t d = layout_.total_size();
    secagg_server server(secagg_config{round, d + 1, settings_.encoding.modulus_bits, threshold_}, *graph_);
    std::optional<flat_model<T>> mean;
    try {
      auto phase_deadline = deadline;
      while (server.current_phase() != secagg_server::phase::done) {
        bool complete = false;
        while (!complete) {
          std::optional<envelope> e;
          try {
            e = ep.receive(phase_deadline);
          } catch (const malformed_message& refused) {
            // The transport refused an envelope (consumed); the collection goes on.
            if (dynamic_cast<const impersonation*>(&refused) != nullptr)
              ++metrics.impersonations; // a forged sender the transport caught itself
            else
              ++metrics.malformed;
            if (transport_clock::now() >= phase_deadline) break;
            continue;
          }
          if (!e) break;
          try {
            complete = server.handle(ep, *e);
          } catch (const protocol_violation& v) {
            // counted by the state machine too; the round goes on
            if (v.kind() == violation::impersonation)
              ++metrics.impersonations;
            else
              ++metrics.malformed;
          }
        }
        server.close_phase(ep);
        phase_deadline = transport_clock::now() + settings_.phase_timeout;
      }
      const auto sum = server.sum();
      const std::size_t survivors = server.answered(secagg_server::phase::masked_input).size();
      if (auto why = implausible_sum(sum, survivors)) { // not |U3| honest encodings: someone cheated
        ++metrics.rejected;
        metrics.reported = 0;
        ++refused_sums_;
        last_refusal_ = std::move(*why);
      } else {
        metrics.reported = survivors;
        metrics.total_examples = static_cast<double>(encoder_.centred(sum[0]));
        std::vector<float> decoded(d);
        encoder_.decode_weighted_mean(sum, decoded);
        flat_model<T> out(layout_);
        bool finite = true;
        for (std::size_t i = 0; i < d; ++i) {
          out.span()[i] = static_cast<T>(decoded[i]);
          finite = finite && is_finite_element(out.span()[i]);
        }
        if (finite) {
          mean.emplace(std::move(out));
        } else { // a clip bound beyond T's range: the round fails rather than moving to Inf
          ++metrics.rejected;
          metrics.reported = 0;
          ++refused_sums_;
          last_refusal_ = "the decoded mean does not fit the model's element type";
        }
      }
    } catch (const secagg_aborted&) {
      metrics.reported = 0;
      ++aborted_rounds_;
    }
    for (std::size_t v = 0; v < counters_.refused.size(); ++v)
      counters_.refused[v] += server.counters().refused[v];
    counters_.aborts += server.counters().aborts;
    metrics.bytes_up += ep.bytes_received();
    metrics.bytes_down += ep.bytes_sent();
    return mean;
  }

  /// Refused messages and aborts over all rounds so far.
  [[nodiscard]] const secagg_counters& counters() const noexcept { return counters_; }
  /// Rounds that aborted (fewer than t survivors).
  [[nodiscard]] std::size_t aborted_rounds() const noexcept { return aborted_rounds_; }
  /// The threshold of the current round.
  [[nodiscard]] std::size_t threshold() const noexcept { return threshold_; }
  /// The graph of the current round (nullptr before the first).
  [[nodiscard]] const neighbor_graph* graph() const noexcept { return graph_ ? &*graph_ : nullptr; }
  /// Rounds whose unmasked sum was refused (not a sum of honest encodings, see collect).
  [[nodiscard]] std::size_t refused_sums() const noexcept { return refused_sums_; }
  /// Why the last refused sum was refused (empty if none).
  [[nodiscard]] const std::string& last_refusal() const noexcept { return last_refusal_; }

private:
  /// Why `sum` cannot be the sum of `survivors` honest encode_weighted outputs (plus each one's
  /// discrete Gaussian noise within its 12σ margin), or nullopt when it can.
  [[nodiscard]] std::optional<std::string> implausible_sum(std::span<const std::uint32_t> sum,
                                                           std::size_t survivors) const {
    const auto& c = settings_.encoding;
    const std::int64_t w = encoder_.centred(sum[0]);
    const long double k = static_cast<long double>(survivors);
    if (w < static_cast<std::int64_t>(survivors) ||
        static_cast<long double>(w) > k * static_cast<long double>(c.max_weight))
      return "the weight sum decodes to " + std::to_string(w) + ", outside [" + std::to_string(survivors) +
             ", " + std::to_string(survivors) + " · max_weight " + std::to_string(c.max_weight) + "]";
    // |w_k·q| ≤ w_k·(round(c·s) + 1) per client (+ 1: llround of the double product), plus the
    // noise margin ceil(12σ) per client.
    const long double q = std::round(static_cast<long double>(c.clip_bound) * c.scale) + 1.0L;
    const long double bound =
        static_cast<long double>(w) * q + k * std::ceil(12.0L * static_cast<long double>(settings_.ddg_sigma));
    for (std::size_t i = 1; i < sum.size(); ++i)
      if (std::fabs(static_cast<long double>(encoder_.centred(sum[i]))) > bound)
        return "coordinate " + std::to_string(i - 1) + " decodes to " + std::to_string(encoder_.centred(sum[i])) +
               ", beyond the bound " + std::to_string(static_cast<double>(bound)) + " of " +
               std::to_string(survivors) + " clipped encodings";
    return std::nullopt;
  }

  static bool is_finite_element(T v) noexcept {
    if constexpr (std::is_floating_point_v<T>)
      return std::isfinite(v);
    else
      return true;
  }

  secure_aggregation_settings settings_;
  model_layout layout_;
  fixed_point_encoder encoder_;
  std::optional<neighbor_graph> graph_;
  std::uint64_t round_ = 0;
  std::size_t threshold_ = 2;
  secagg_counters counters_;
  std::size_t aborted_rounds_ = 0;
  std::size_t refused_sums_ = 0;
  std::string last_refusal_;
};

/// Client side, for a client_host: the upload becomes a secure-aggregation client (one per local
/// client and round). Copies start with no protocol in progress (one copy per host thread).
template <element_type T>
class secagg_client_hooks {
public:
  /// Throws invalid_config for settings that can overflow.
  explicit secagg_client_hooks(secure_aggregation_settings settings)
      : settings_(settings), encoder_(settings_.make_encoder()) {}
  secagg_client_hooks(const secagg_client_hooks& other) : secagg_client_hooks(other.settings_) {}
  secagg_client_hooks& operator=(const secagg_client_hooks& other) {
    if (this != &other) *this = secagg_client_hooks(other.settings_);
    return *this;
  }
  secagg_client_hooks(secagg_client_hooks&&) noexcept = default;
  secagg_client_hooks& operator=(secagg_client_hooks&&) noexcept = default;
  ~secagg_client_hooks() = default;

  /// Client hook: encodes [w, w·clip(Δ)] (+ discrete Gaussian noise) and starts the protocol.
  /// Throws invalid_config (nothing started) when the server sent no threshold, a threshold that
  /// is not an integer in [2, 2^32] (t = 1 would hand this client's secrets to any one holder), or
  /// the weight is not an integer in [1, max_weight].
  template <class Endpoint>
  void upload(Endpoint& endpoint, std::uint64_t round, client_id client, const round_config& config,
              std::span<const T> delta, double num_examples) {
    if (!config.extra.contains(secagg_threshold_key))
      throw invalid_config("secagg_client_hooks: the round config carries no '" +
                           std::string(secagg_threshold_key) +
                           "' (is the server running secagg_server_hooks?)");
    const double t = config.get_double(secagg_threshold_key, 0);
    if (!(t >= static_cast<double>(shamir_min_threshold) && t <= 4294967296.0 && t == std::floor(t)))
      throw invalid_config("secagg_client_hooks: the round config's threshold '" +
                           config.extra.at(secagg_threshold_key) + "' is not an integer in [2, 2^32]");
    const double w = std::round(num_examples);
    if (w != num_examples || w < 1 || w > static_cast<double>(settings_.encoding.max_weight))
      throw invalid_config("secagg_client_hooks: client " + std::to_string(client) + " weight " +
                           std::to_string(num_examples) + " is not an integer in [1, max_weight = " +
                           std::to_string(settings_.encoding.max_weight) + "]");
    std::vector<float> x(delta.begin(), delta.end());
    std::vector<std::uint32_t> words(x.size() + 1);
    (void)encoder_.encode_weighted(x, static_cast<std::uint64_t>(w), words);
    if (settings_.ddg_sigma > 0) add_discrete_gaussian(std::span(words).subspan(1), client, round);
    auto state = std::make_unique<secagg_client>(
        client,
        secagg_config{round, words.size(), settings_.encoding.modulus_bits, static_cast<std::size_t>(t)});
    state->set_input(std::move(words));
    detail::as_client<Endpoint> as(endpoint, client);
    state->start(as);
    active_[client] = std::move(state);
  }

  /// Client hook: a server message of the protocol for one of this host's clients. A refused
  /// message (any protocol_violation, malformed payloads included) is counted in counters() and
  /// consumed; the client's state is unchanged and the host loop goes on.
  template <class Endpoint>
  bool on_control(Endpoint& endpoint, const envelope& e) {
    const auto it = active_.find(e.to);
    if (it == active_.end()) return false;
    detail::as_client<Endpoint> as(endpoint, e.to);
    try {
      it->second->handle(as, e);
    } catch (const protocol_violation& v) {
      ++counters_.refused[static_cast<std::size_t>(v.kind())]; // nothing changed
      return true;
    }
    const auto s = it->second->current_state();
    if (s == secagg_client::state::aborted) ++counters_.aborts;
    if (s == secagg_client::state::done || s == secagg_client::state::aborted) active_.erase(it);
    return true;
  }

  /// Protocols in progress on this host.
  [[nodiscard]] std::size_t active() const noexcept { return active_.size(); }
  /// Server messages this host's clients refused, by violation, and rounds they saw aborted
  /// (this copy's; copies start at zero).
  [[nodiscard]] const secagg_counters& counters() const noexcept { return counters_; }

private:
  void add_discrete_gaussian(std::span<std::uint32_t> words, client_id client, std::uint64_t round) const {
    const privacy::discrete_gaussian noise(settings_.ddg_sigma);
    auto gen = settings_.ddg_test_seed
                   ? privacy::secure_rng::reproducible(privacy::reproducible_seed{
                         *settings_.ddg_test_seed ^ (client * 0x9e3779b97f4a7c15ULL) ^ (round << 32)})
                   : privacy::secure_rng{};
    const std::uint32_t mask = encoder_.modulus_mask();
    for (auto& word : words) word = (word + static_cast<std::uint32_t>(noise(gen))) & mask;
  }

  secure_aggregation_settings settings_;
  fixed_point_encoder encoder_;
  std::map<client_id, std::unique_ptr<secagg_client>> active_;
  secagg_counters counters_;
};

} // namespace fedpp::secagg
