/// \file client_host.hpp
/// The client side of synchronous rounds: receives global models over a transport, runs the
/// user's local training, and uploads the change. One host serves every virtual client whose
/// messages reach its endpoint (one client on a device; many on a simulation worker or MPI rank).
#pragma once

#include "fedpp/client/client_result.hpp"
#include "fedpp/client/update_helpers.hpp"
#include "fedpp/error.hpp"
#include "fedpp/orchestration/server.hpp"
#include "fedpp/transport/transport.hpp"
#include "fedpp/transport/wire_format.hpp"

#include <charconv>
#include <concepts>
#include <exception>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

namespace fedpp {

/// round_config::extra key by which a server asks for weights instead of deltas.
inline constexpr std::string_view upload_weights_key = "fedpp.upload_weights";

/// What a client host did with one message.
enum class host_event : std::uint8_t {
  trained,  ///< trained a client and sent its update
  failed,   ///< the client's training (or its hooks) threw: the server was told, the host goes on
  handled,  ///< a control message the client hooks consumed (e.g. a secure-aggregation step)
  shutdown, ///< the server said no more rounds follow
  ignored,  ///< a malformed or unexpected message (counted)
  timed_out, ///< nothing arrived before the deadline (or the transport closed)
  evaluated  ///< evaluated the global model for a client and sent its answer (evaluation rounds)
};

/// What a client host needs of its transport: `receive(deadline)` like a transport endpoint,
/// and either `send_as(client, to, m)` (a host speaking for several local clients, e.g. an MPI
/// rank) or `send(to, m)`.
template <class H>
concept client_host_transport = requires(H& h, transport_clock::time_point deadline, client_id c,
                                         endpoint_id to, const message& m) {
  { h.receive(deadline) } -> std::same_as<std::optional<envelope>>;
}
&&(
    requires(H& h, client_id c, endpoint_id to, const message& m) { h.send_as(c, to, m); } ||
    requires(H & h, endpoint_id to, const message& m) { h.send(to, m); });

/// The default client hooks: the dense delta goes out as it is.
struct no_client_hooks {};

/// Serves local training for the clients reachable through one transport endpoint.
///
/// Client-side plug-in points, optional members of `Hooks` (detected with `requires`):
/// - `h.process_update(client, config, delta)`: in place on the upload (`std::span<T>`), e.g.
///   clipping, local DP noise, error feedback, simulated attacks;
/// - `h.encode_update(round, client, layout, delta, num_examples, metrics)` → `message`: the
///   upload's bytes, e.g. a compressed payload (default: the dense wire encoding);
/// - `h.upload(endpoint, round, client, config, delta, num_examples)`: takes the upload over
///   entirely, e.g. starts a secure-aggregation protocol (`endpoint` is the host's transport);
/// - `h.on_control(endpoint, envelope)` → bool: a control message other than shutdown, for one of
///   this host's clients; true when consumed (the protocol steps after the upload).
///
/// Evaluation requests (a global model whose config has extra[evaluate_key]) go to the
/// trainer's `evaluate(client, global, config)` when it has one (`client_evaluator`); the answer
/// is sent as it is, without the hooks. A trainer without `evaluate`, or one that throws, answers
/// "failed" (evaluation_failed_tag) so the server does not wait for it.
template <element_type T, class Trainer, client_host_transport Transport, class Hooks = no_client_hooks>
requires client_trainer<Trainer, T>
class client_host {
public:
  /// `layout` is the model's: global models with another layout are refused.
  client_host(Transport& endpoint, Trainer trainer, model_layout layout, Hooks hooks = Hooks{})
      : endpoint_(&endpoint), trainer_(std::move(trainer)), layout_(std::move(layout)),
        hooks_(std::move(hooks)),
        // Only the server's global models arrive in chunks: one model's bytes at a time.
        reassembler_(wire::reassembly_limits{layout_.total_bytes(), layout_.total_bytes() + (std::uint64_t{1} << 20)}) {}

  /// Handles the next message, waiting until `deadline` at most. Messages are taken only from
  /// the server (the transport's sender and the claimed sender must both be server_endpoint);
  /// anything else is counted and ignored. A trainer (or client hook) that throws fails that
  /// client only: the server is told (control_tag::client_failed) and the host goes on.
  host_event serve_one(transport_clock::time_point deadline) {
    std::optional<envelope> received;
    try {
      received = endpoint_->receive(deadline);
    } catch (const malformed_message&) { // the transport refused an envelope
      ++ignored_;
      return host_event::ignored;
    }
    if (!received) return host_event::timed_out;
    std::optional<message> whole;
    try {
      auto part = wire::decode(received->message);
      if (received->from != server_endpoint || part.sender() != server_endpoint) {
        ++impersonations_;
        throw malformed_message("client host: a message that does not come from the server");
      }
      if (part.header().is_chunked()) {
        if (part.kind() != wire::message_kind::global_model)
          throw malformed_message("client host: only global models arrive in chunks");
        wire::check_model_message_size(part, layout_);
        whole = reassembler_.add_decoded(part);
        if (!whole) return host_event::ignored; // a chunk; the rest will follow
      } else {
        whole = received->message;
      }
      auto decoded = wire::decode(*whole);
      if (decoded.kind() == wire::message_kind::control) {
        if (decoded.tag() == static_cast<std::uint32_t>(control_tag::shutdown)) return host_event::shutdown;
        if constexpr (requires {
                        { hooks_.on_control(*endpoint_, *received) } -> std::convertible_to<bool>;
                      }) {
          if (hooks_.on_control(*endpoint_, envelope{received->from, received->to, std::move(*whole)}))
            return host_event::handled;
        }
        throw malformed_message("client host: unexpected control message");
      }
      wire::check_model_message(decoded, layout_, decoded.round());
      if (decoded.kind() != wire::message_kind::global_model)
        throw malformed_message("client host: expected a global model");
      if (decoded.config().extra.contains(std::string(evaluate_key)))
        return evaluate_and_reply(received->to, decoded) ? host_event::evaluated : host_event::failed;
      return train_and_reply(received->to, decoded) ? host_event::trained : host_event::failed;
    } catch (const malformed_message&) {
      ++ignored_;
      return host_event::ignored;
    }
  }

  /// Serves until the server's shutdown message, the transport closing, or `idle_timeout`
  /// without any message. Returns the number of clients trained.
  std::size_t serve(std::chrono::nanoseconds idle_timeout = std::chrono::minutes(10)) {
    std::size_t trained = 0;
    for (;;) {
      switch (serve_one(transport_clock::now() + idle_timeout)) {
      case host_event::trained:
        ++trained;
        break;
      case host_event::evaluated:
      case host_event::failed:
      case host_event::handled:
      case host_event::ignored:
        break;
      case host_event::shutdown:
      case host_event::timed_out:
        return trained;
      }
    }
  }

  /// Messages refused as malformed or unexpected (impersonations included).
  [[nodiscard]] std::size_t ignored() const noexcept { return ignored_; }
  /// Messages refused because they did not come from the server.
  [[nodiscard]] std::size_t impersonations() const noexcept { return impersonations_; }
  /// Clients whose training (or client hooks) threw, or who could not evaluate; the server was
  /// told each time.
  [[nodiscard]] std::size_t failures() const noexcept { return failures_; }
  /// The message of the last failure (empty when none).
  [[nodiscard]] const std::string& last_failure() const noexcept { return last_failure_; }

private:
  /// Trains `to` and uploads; false when the training or a client hook threw (the server is sent
  /// a client_failed notice instead, so its round does not wait for this client).
  bool train_and_reply(endpoint_id to, const wire::decoded_message& decoded) {
    try {
      train_and_upload(to, decoded);
      return true;
    } catch (const std::exception& e) {
      last_failure_ = e.what();
    } catch (...) {
      last_failure_ = "a non-standard exception";
    }
    ++failures_;
    // The reason stays local: it may hold private details; the server only learns that it failed.
    const message notice = wire::encode_control(decoded.round(), to,
                                                static_cast<std::uint32_t>(control_tag::client_failed), {});
    try {
      if constexpr (requires { endpoint_->send_as(to, server_endpoint, notice); })
        endpoint_->send_as(to, server_endpoint, notice);
      else
        endpoint_->send(server_endpoint, notice);
    } catch (const error&) { // a transport that cannot send for `to`: the server's deadline ends its wait
    }
    return false;
  }

  /// Evaluates the global model for `to` and answers; false when the trainer cannot evaluate or
  /// threw (the answer is then "failed"). An evaluation number that does not parse is a
  /// malformed request (the caller counts it as ignored).
  bool evaluate_and_reply(endpoint_id to, const wire::decoded_message& decoded) {
    const std::string& number = decoded.config().extra.at(std::string(evaluate_key));
    std::uint64_t evaluation = 0;
    const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), evaluation);
    if (number.empty() || ec != std::errc{} || end != number.data() + number.size())
      throw malformed_message("client host: evaluation number '" + number + "' is not a number");
    const client_id client = to;
    std::optional<message> answer;
    if constexpr (client_evaluator<Trainer, T>) {
      try {
        const std::span<const T> global = decoded.template payload<T>();
        host_model_view<const T> view;
        for (const auto& e : layout_.entries()) view.add(e.name, {global.data() + e.offset, e.shape});
        const evaluation_result result = trainer_.evaluate(client, view, decoded.config());
        answer = encode_evaluation_report(decoded.round(), client, evaluation, result);
      } catch (const std::exception& e) {
        last_failure_ = e.what();
      } catch (...) {
        last_failure_ = "a non-standard exception";
      }
    } else {
      last_failure_ = "the trainer cannot evaluate (it has no evaluate member)";
    }
    const bool evaluated = answer.has_value();
    if (!evaluated) {
      ++failures_;
      answer = encode_evaluation_failed(decoded.round(), client, evaluation);
    }
    try {
      if constexpr (requires { endpoint_->send_as(client, server_endpoint, *answer); })
        endpoint_->send_as(client, server_endpoint, *answer);
      else
        endpoint_->send(server_endpoint, *answer);
    } catch (const error&) { // a transport that cannot send for `to`: the server's max_wait ends its wait
      return false;
    }
    return evaluated;
  }

  void train_and_upload(endpoint_id to, const wire::decoded_message& decoded) {
    const client_id client = to;
    const std::span<const T> global = decoded.template payload<T>();
    host_model_view<const T> view;
    for (const auto& e : layout_.entries()) view.add(e.name, {global.data() + e.offset, e.shape});
    client_result<T> result = trainer_(client, view, decoded.config());
    if (!(result.model.layout() == layout_))
      throw invalid_config("client " + std::to_string(client) +
                           ": the trainer returned a model with another layout");
    // Uploads are deltas unless the server asks for weights (FedAsync mixes models).
    const bool upload_weights = decoded.config().extra.contains(std::string(upload_weights_key));
    auto& values = result.model;
    if (result.kind == update_kind::weights && !upload_weights) {
      compute_delta(std::span<const T>(values.span()), global, values.span());
    } else if (result.kind == update_kind::delta && upload_weights) {
      for (std::size_t i = 0; i < values.size(); ++i) values.span()[i] += global[i];
    }
    const round_config& config = decoded.config();
    if constexpr (requires { hooks_.process_update(client, config, values.span()); })
      hooks_.process_update(client, config, values.span());
    const std::span<const T> upload(values.span());
    if constexpr (requires {
                    hooks_.upload(*endpoint_, decoded.round(), client, config, upload, result.num_examples);
                  }) {
      hooks_.upload(*endpoint_, decoded.round(), client, config, upload, result.num_examples);
      return;
    }
    message reply;
    if constexpr (requires {
                    {
                      hooks_.encode_update(decoded.round(), client, layout_, upload, result.num_examples,
                                           result.metrics)
                      } -> std::convertible_to<message>;
                  })
      reply =
          hooks_.encode_update(decoded.round(), client, layout_, upload, result.num_examples, result.metrics);
    else
      reply = wire::encode_client_update<T>(decoded.round(), client, layout_, upload, result.num_examples,
                                            result.metrics);
    if constexpr (requires { endpoint_->send_as(client, server_endpoint, reply); })
      endpoint_->send_as(client, server_endpoint, reply);
    else
      endpoint_->send(server_endpoint, reply);
  }

  Transport* endpoint_;
  Trainer trainer_;
  model_layout layout_;
  Hooks hooks_;
  wire::chunk_reassembler reassembler_;
  std::size_t ignored_ = 0;
  std::size_t impersonations_ = 0;
  std::size_t failures_ = 0;
  std::string last_failure_;
};

} // namespace fedpp
