/// \file hook_chain.hpp
/// Composes client hooks (client_host's policy) into one: `client_hook_chain<A, B, ...>` runs
/// every member's `process_update` in order — e.g. clipping, then an attack model — and hands the
/// upload to the one member that speaks for the client (`encode_update`: compression; `upload` /
/// `on_control`: secure aggregation). Two members offering the same one of those does not compile:
/// which of them should send the update would be ambiguous.
///
///     fedpp::client_hook_chain clip_then_compress(
///         fedpp::privacy::local_dp_hooks(/*C*/ 1.0, /*σ*/ 0.0),
///         fedpp::compression::compressing_client_hooks(fedpp::compression::uniform_quantizer(8)));
#pragma once

#include "fedpp/client/round_config.hpp"
#include "fedpp/transport/transport.hpp"
#include "fedpp/transport/wire_format.hpp"

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>
#include <tuple>
#include <type_traits>
#include <utility>

namespace fedpp {

/// Client hooks made of several (see the file comment); members are called in the order given.
template <class... Hooks>
class client_hook_chain {
  template <class H, class T>
  static constexpr bool processes = requires(H& h, client_id c, const round_config& config,
                                             std::span<T> delta) {
    h.process_update(c, config, delta);
  };
  template <class H, class T>
  static constexpr bool encodes = requires(H& h, std::uint64_t r, client_id c, const model_layout& layout,
                                           std::span<const T> delta, double n, const wire::metrics_map& m) {
    { h.encode_update(r, c, layout, delta, n, m) } -> std::convertible_to<message>;
  };
  template <class H, class E, class T>
  static constexpr bool uploads = requires(H& h, E& endpoint, std::uint64_t r, client_id c,
                                           const round_config& config, std::span<const T> delta, double n) {
    h.upload(endpoint, r, c, config, delta, n);
  };
  template <class H, class E>
  static constexpr bool controls = requires(H& h, E& endpoint, const envelope& e) {
    { h.on_control(endpoint, e) } -> std::convertible_to<bool>;
  };

public:
  explicit client_hook_chain(Hooks... hooks) : hooks_(std::move(hooks)...) {}

  /// Every member's process_update, in order (members without one are skipped).
  template <class T>
  void process_update(client_id client, const round_config& config, std::span<T> delta) {
    std::apply([&](auto&... h) { (process_one(h, client, config, delta), ...); }, hooks_);
  }

  /// The encoding member's encode_update (present when exactly one member encodes).
  template <class T>
  requires((encodes<Hooks, T> + ...) >= 1) message
      encode_update(std::uint64_t round, client_id client, const model_layout& layout,
                    std::span<const T> delta, double num_examples, const wire::metrics_map& metrics) {
    static_assert((encodes<Hooks, T> + ...) == 1, "client_hook_chain: two members encode the upload");
    message out;
    std::apply(
        [&](auto&... h) {
          (
              [&](auto& one) {
                if constexpr (encodes<std::remove_reference_t<decltype(one)>, T>)
                  out = one.encode_update(round, client, layout, delta, num_examples, metrics);
              }(h),
              ...);
        },
        hooks_);
    return out;
  }

  /// The uploading member's upload (present when exactly one member uploads).
  template <class Endpoint, class T>
  requires((uploads<Hooks, Endpoint, T> + ...) >=
           1) void upload(Endpoint& endpoint, std::uint64_t round, client_id client,
                          const round_config& config, std::span<const T> delta, double num_examples) {
    static_assert((uploads<Hooks, Endpoint, T> + ...) == 1, "client_hook_chain: two members upload");
    std::apply(
        [&](auto&... h) {
          (
              [&](auto& one) {
                if constexpr (uploads<std::remove_reference_t<decltype(one)>, Endpoint, T>)
                  one.upload(endpoint, round, client, config, delta, num_examples);
              }(h),
              ...);
        },
        hooks_);
  }

  /// The member that handles control messages (present when exactly one does).
  template <class Endpoint>
  requires((controls<Hooks, Endpoint> + ...) >= 1) bool on_control(Endpoint& endpoint, const envelope& e) {
    static_assert((controls<Hooks, Endpoint> + ...) == 1,
                  "client_hook_chain: two members handle control messages");
    bool handled = false;
    std::apply(
        [&](auto&... h) {
          (
              [&](auto& one) {
                if constexpr (controls<std::remove_reference_t<decltype(one)>, Endpoint>)
                  handled = one.on_control(endpoint, e);
              }(h),
              ...);
        },
        hooks_);
    return handled;
  }

  /// Member I (e.g. to read a compressor's residuals).
  template <std::size_t I>
  [[nodiscard]] auto& get() noexcept {
    return std::get<I>(hooks_);
  }

private:
  template <class H, class T>
  static void process_one(H& h, client_id client, const round_config& config, std::span<T> delta) {
    if constexpr (processes<H, T>) h.process_update(client, config, delta);
  }

  std::tuple<Hooks...> hooks_;
};

} // namespace fedpp
