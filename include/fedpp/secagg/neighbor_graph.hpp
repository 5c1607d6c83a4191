/// \file neighbor_graph.hpp
/// Who masks with whom: the complete graph (SecAgg, Bonawitz et al. 2017) or a random k-regular
/// Harary graph (SecAgg+, Bell et al., "Secure single-server aggregation with (poly)logarithmic
/// overhead", CCS 2020, §3): clients are placed on a ring in a random order and each is joined to
/// the k/2 nearest on either side, so every client has exactly k neighbours.
#pragma once

#include "fedpp/error.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace fedpp::secagg {

/// An undirected graph over the participating clients; neighbour lists are sorted.
class neighbor_graph {
public:
  /// Every client neighbours every other one (plain SecAgg). Ids must be distinct.
  [[nodiscard]] static neighbor_graph complete(std::vector<client_id> clients) {
    neighbor_graph g(std::move(clients));
    for (const auto u : g.clients_) {
      auto& list = g.adjacency_[u];
      list.reserve(g.clients_.size() - 1);
      for (const auto v : g.clients_)
        if (v != u) list.push_back(v);
    }
    g.degree_ = g.clients_.size() - 1;
    return g;
  }

  /// A random k-regular Harary graph (k even; k ≥ n − 1 gives the complete graph). The layout is
  /// public: `seed` need not be secret, only fresh per round.
  [[nodiscard]] static neighbor_graph random_regular(std::vector<client_id> clients, std::size_t degree,
                                                     std::uint64_t seed) {
    if (degree + 1 >= clients.size()) return complete(std::move(clients));
    if (degree < 2 || degree % 2 != 0)
      throw invalid_config(
          "neighbor_graph::random_regular: degree " + std::to_string(degree) +
          " must be even and at least 2 (or ≥ n − 1 = " + std::to_string(clients.size() - 1) + ")");
    neighbor_graph g(std::move(clients));
    std::vector<client_id> ring = g.clients_;
    std::mt19937_64 gen(seed);
    for (std::size_t i = ring.size(); i > 1; --i) { // Fisher–Yates with a portable bounded draw
      const auto j = static_cast<std::size_t>(gen() % i);
      std::swap(ring[i - 1], ring[j]);
    }
    const auto n = ring.size();
    for (std::size_t i = 0; i < n; ++i) {
      auto& list = g.adjacency_[ring[i]];
      for (std::size_t d = 1; d <= degree / 2; ++d) {
        list.push_back(ring[(i + d) % n]);
        list.push_back(ring[(i + n - d) % n]);
      }
      std::sort(list.begin(), list.end());
    }
    g.degree_ = degree;
    return g;
  }

  /// The clients, sorted.
  [[nodiscard]] const std::vector<client_id>& clients() const noexcept { return clients_; }
  /// Number of clients.
  [[nodiscard]] std::size_t size() const noexcept { return clients_.size(); }
  /// Neighbours of each client.
  [[nodiscard]] std::size_t degree() const noexcept { return degree_; }
  /// True when `u` is a client of the graph.
  [[nodiscard]] bool contains(client_id u) const { return adjacency_.count(u) != 0; }
  /// The sorted neighbours of `u` (throws invalid_config for a non-member).
  [[nodiscard]] const std::vector<client_id>& neighbors(client_id u) const {
    const auto it = adjacency_.find(u);
    if (it == adjacency_.end())
      throw invalid_config("neighbor_graph: client " + std::to_string(u) + " is not in the graph");
    return it->second;
  }
  /// True when u and v are neighbours.
  [[nodiscard]] bool adjacent(client_id u, client_id v) const {
    const auto& list = neighbors(u);
    return std::binary_search(list.begin(), list.end(), v);
  }

private:
  explicit neighbor_graph(std::vector<client_id> clients) : clients_(std::move(clients)) {
    std::sort(clients_.begin(), clients_.end());
    if (clients_.size() < 2)
      throw invalid_config("neighbor_graph: needs at least 2 clients, got " +
                           std::to_string(clients_.size()));
    if (std::adjacent_find(clients_.begin(), clients_.end()) != clients_.end())
      throw invalid_config("neighbor_graph: client ids must be distinct");
    // Shamir evaluation points are id + 1 in GF(2^61 − 1).
    if (clients_.back() >= (std::uint64_t{1} << 60))
      throw invalid_config("neighbor_graph: client id " + std::to_string(clients_.back()) +
                           " is not below 2^60");
    for (const auto u : clients_) adjacency_[u];
  }

  std::vector<client_id> clients_;
  std::map<client_id, std::vector<client_id>> adjacency_;
  std::size_t degree_ = 0;
};

} // namespace fedpp::secagg
