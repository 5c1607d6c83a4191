/// \file in_process_federation.hpp
/// The embedded default deployment: a server and N virtual clients in one process, connected by
/// the in-process transport. Clients are spread over a user-sized set of host threads (virtual
/// client c lives on host c mod W, as on MPI ranks), each running a client_host; nothing is
/// started that the user did not ask for.
///
/// Memory per registered client: none when the clients are the consecutive ids [a, b) in any
/// order (routed by arithmetic, in_process_transport::route_range); otherwise one routing entry
/// each (≈ 48 bytes). See docs/scale.md.
#pragma once

#include "fedpp/client/client_result.hpp"
#include "fedpp/error.hpp"
#include "fedpp/orchestration/client_host.hpp"
#include "fedpp/tensor/model_layout.hpp"
#include "fedpp/transport/in_process_transport.hpp"

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

namespace fedpp {

/// Host threads serving virtual clients over an in-process hub; `server_endpoint()` is what a
/// server's run_round() takes. Destruction tells the hosts to stop and joins them.
template <element_type T, class Trainer, class ClientHooks = no_client_hooks>
requires client_trainer<Trainer, T>
class in_process_federation {
public:
  /// `trainer` and `hooks` are copied to every host thread and must be safe to call
  /// concurrently for different clients. `num_hosts` threads (≥ 1) serve the clients in `clients`.
  in_process_federation(const std::vector<client_id>& clients, const Trainer& trainer,
                        const model_layout& layout, std::size_t num_hosts,
                        const ClientHooks& hooks = ClientHooks{})
      : server_(hub_.server()) {
    if (num_hosts == 0) throw invalid_config("in_process_federation: needs at least one host thread");
    if (clients.empty()) throw invalid_config("in_process_federation: needs at least one client");
    for (std::size_t h = 0; h < num_hosts; ++h) hosts_.push_back(host_endpoint(h));
    for (client_id c : clients)
      if (c >= host_id_base)
        throw invalid_config("in_process_federation: client id " + std::to_string(c) + " is reserved");
    if (const auto range = consecutive(clients)) {
      hub_.route_range(range->first, range->second, hosts_); // c → hosts_[c mod W], no entry per client
    } else {
      for (client_id c : clients) hub_.route(c, hosts_[c % num_hosts]);
    }
    for (std::size_t h = 0; h < num_hosts; ++h)
      threads_.emplace_back([this, h, trainer, layout, hooks] {
        auto endpoint = hub_.endpoint(hosts_[h]);
        client_host<T, Trainer, in_process_endpoint, ClientHooks> host(endpoint, trainer, layout, hooks);
        host.serve(std::chrono::hours(24));
      });
  }

  in_process_federation(const in_process_federation&) = delete;
  in_process_federation& operator=(const in_process_federation&) = delete;
  in_process_federation(in_process_federation&&) = delete;
  in_process_federation& operator=(in_process_federation&&) = delete;

  ~in_process_federation() {
    hub_.close(); // wakes every host; each returns from serve()
    for (auto& t : threads_) t.join();
  }

  /// The server's endpoint.
  [[nodiscard]] in_process_endpoint& server_endpoint() noexcept { return server_; }
  /// The hub, e.g. to attach more endpoints.
  [[nodiscard]] in_process_transport& hub() noexcept { return hub_; }

private:
  static constexpr endpoint_id host_id_base = endpoint_id{1} << 62;
  static endpoint_id host_endpoint(std::size_t h) { return host_id_base + h; }

  /// [min, max + 1) when `clients` holds exactly those ids, each once; otherwise nullopt.
  static std::optional<std::pair<client_id, client_id>> consecutive(const std::vector<client_id>& clients) {
    const auto [lo, hi] = std::minmax_element(clients.begin(), clients.end());
    if (*hi - *lo + 1 != clients.size()) return std::nullopt;
    std::vector<bool> seen(clients.size(), false); // construction only, 1 bit per client
    for (client_id c : clients) {
      const auto i = static_cast<std::size_t>(c - *lo);
      if (seen[i]) return std::nullopt;
      seen[i] = true;
    }
    return std::pair<client_id, client_id>{*lo, *hi + 1};
  }

  in_process_transport hub_;
  in_process_endpoint server_;
  std::vector<endpoint_id> hosts_;
  std::vector<std::thread> threads_;
};

} // namespace fedpp
