/// \file in_process_transport.hpp
/// The embedded default transport: endpoints in one process exchange messages through a hub
/// with one mailbox (mutex + condition variable) per endpoint. Messages are shared, not copied:
/// broadcasting one global model to 1,000 clients keeps one buffer.
///
/// Routing many virtual clients to a few host threads: `route(client, host)` keeps one map entry
/// per client (≈ 48 bytes of heap each: hash node and bucket, measured at 10^6); `route_range(first, last,
/// hosts)` keeps none — client c in [first, last) reaches hosts[c mod W] by arithmetic — which is what a
/// population of 10^6 registered clients wants (docs/scale.md).
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/transport/message.hpp"
#include "fedpp/transport/transport.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace fedpp {

namespace detail {

struct in_process_mailbox {
  std::mutex mutex;
  std::condition_variable ready;
  std::deque<envelope> queue;
  bool closed = false;
  std::atomic<std::uint64_t> bytes_sent{0};
  std::atomic<std::uint64_t> bytes_received{0};
  std::atomic<std::uint64_t> messages_sent{0};
  std::atomic<std::uint64_t> messages_received{0};

  void close() {
    {
      const std::lock_guard lock(mutex);
      closed = true;
    }
    ready.notify_all();
  }
};

/// Clients [first, last) served by `hosts`: client c reaches hosts[c mod hosts.size()].
struct in_process_range_route {
  endpoint_id first = 0;
  endpoint_id last = 0;
  std::vector<std::shared_ptr<in_process_mailbox>> hosts;
};

struct in_process_state {
  std::mutex mutex;
  std::unordered_map<endpoint_id, std::shared_ptr<in_process_mailbox>> mailboxes;
  std::vector<in_process_range_route> ranges; // disjoint; no id in them has an entry in `mailboxes`
  bool closed = false;

  /// The mailbox of `id`, created on first use (closed at once when the hub is closed).
  std::shared_ptr<in_process_mailbox> mailbox(endpoint_id id) {
    const std::lock_guard lock(mutex);
    if (auto routed = in_range(id)) return routed;
    return own_box(id);
  }

  /// The mailbox of `id` if it exists (nothing is created).
  std::shared_ptr<in_process_mailbox> find(endpoint_id id) {
    const std::lock_guard lock(mutex);
    if (auto routed = in_range(id)) return routed;
    const auto it = mailboxes.find(id);
    return it == mailboxes.end() ? nullptr : it->second;
  }

  /// Makes `id` share `host`'s mailbox; false when `id` already has a mailbox of its own (or is
  /// routed by a range to another one).
  bool alias(endpoint_id id, endpoint_id host) {
    const std::lock_guard lock(mutex);
    auto target = in_range(host);
    if (!target) target = own_box(host);
    if (auto routed = in_range(id)) return routed == target;
    auto& box = mailboxes[id];
    if (box && box != target) return false;
    box = target;
    return true;
  }

  /// Routes [first, last) to `hosts` (their mailboxes are created); false, nothing changed, when
  /// an id of the range already has a mailbox, is a host, or lies in another range.
  bool alias_range(endpoint_id first, endpoint_id last, const std::vector<endpoint_id>& hosts) {
    const std::lock_guard lock(mutex);
    for (const auto& r : ranges)
      if (first < r.last && r.first < last) return false;
    for (const auto& [id, box] : mailboxes)
      if (id >= first && id < last) return false;
    for (endpoint_id h : hosts)
      if ((h >= first && h < last) || in_range(h)) return false;
    in_process_range_route route{first, last, {}};
    route.hosts.reserve(hosts.size());
    for (endpoint_id h : hosts) route.hosts.push_back(own_box(h));
    ranges.push_back(std::move(route));
    return true;
  }

private:
  // Both below: the caller holds `mutex`.
  std::shared_ptr<in_process_mailbox> in_range(endpoint_id id) const {
    for (const auto& r : ranges)
      if (id >= r.first && id < r.last) return r.hosts[static_cast<std::size_t>(id % r.hosts.size())];
    return nullptr;
  }
  std::shared_ptr<in_process_mailbox> own_box(endpoint_id id) {
    auto& box = mailboxes[id];
    if (!box) {
      box = std::make_shared<in_process_mailbox>();
      box->closed = closed;
    }
    return box;
  }
};

} // namespace detail

/// One endpoint of an in_process_transport; satisfies `transport`. Cheap to copy (copies share
/// the mailbox and its counters). Thread-safe: any number of threads may send and receive.
class in_process_endpoint {
public:
  /// This endpoint's id.
  [[nodiscard]] endpoint_id id() const noexcept { return id_; }

  /// Delivers `m` (shared, not copied) to endpoint `to`'s mailbox, which is created if nobody
  /// opened it yet. Dropped when `to` or the hub is closed.
  void send(endpoint_id to, const message& m) { deliver(id_, to, m); }

  /// send() on behalf of `from`, a client routed to this endpoint (a host thread answering for
  /// one of its virtual clients, as a rank does under MPI): the receiver's envelope says `from`.
  /// Throws invalid_config when `from` is neither this endpoint nor routed to it.
  void send_as(endpoint_id from, endpoint_id to, const message& m) {
    if (from != id_ && state_->find(from) != own_)
      throw invalid_config("in_process_endpoint::send_as: endpoint " + std::to_string(id_) +
                           " cannot speak for " + std::to_string(from) + ", which is not routed to it");
    deliver(from, to, m);
  }

  /// True when endpoint `from` may speak for `claimed`: they are the same endpoint, or both are
  /// served by one mailbox (`claimed` is routed to `from`'s host) — what `send_as` allows.
  [[nodiscard]] bool speaks_for(endpoint_id from, endpoint_id claimed) const {
    if (from == claimed) return true;
    const auto a = state_->find(from);
    return a != nullptr && a == state_->find(claimed);
  }

  /// The next message for this endpoint, waiting until `deadline` at most; nullopt on timeout.
  /// Once closed, returns the messages still queued, then nullopt without waiting.
  [[nodiscard]] std::optional<envelope> receive(transport_clock::time_point deadline) {
    std::unique_lock lock(own_->mutex);
    if (!own_->ready.wait_until(lock, deadline, [&] { return !own_->queue.empty() || own_->closed; }))
      return std::nullopt;
    return pop(lock);
  }

  /// receive() with a timeout instead of a deadline.
  template <class Rep, class Period>
  [[nodiscard]] std::optional<envelope> receive_for(std::chrono::duration<Rep, Period> timeout) {
    return receive(transport_clock::now() + timeout);
  }

  /// The next message if one is queued, without waiting.
  [[nodiscard]] std::optional<envelope> try_receive() {
    std::unique_lock lock(own_->mutex);
    return pop(lock);
  }

  /// Bytes of the messages this endpoint sent (and that were delivered).
  [[nodiscard]] std::uint64_t bytes_sent() const noexcept {
    return own_->bytes_sent.load(std::memory_order_relaxed);
  }
  /// Bytes of the messages this endpoint received.
  [[nodiscard]] std::uint64_t bytes_received() const noexcept {
    return own_->bytes_received.load(std::memory_order_relaxed);
  }
  /// Messages this endpoint sent (and that were delivered).
  [[nodiscard]] std::uint64_t messages_sent() const noexcept {
    return own_->messages_sent.load(std::memory_order_relaxed);
  }
  /// Messages this endpoint received.
  [[nodiscard]] std::uint64_t messages_received() const noexcept {
    return own_->messages_received.load(std::memory_order_relaxed);
  }

  /// Messages waiting in this endpoint's mailbox.
  [[nodiscard]] std::size_t pending() const {
    const std::lock_guard lock(own_->mutex);
    return own_->queue.size();
  }

  /// Closes this endpoint's mailbox: wakes its waiting receivers; later messages to it are dropped.
  void close() { own_->close(); }

  /// True once this endpoint (or the hub) is closed.
  [[nodiscard]] bool is_closed() const {
    const std::lock_guard lock(own_->mutex);
    return own_->closed;
  }

private:
  friend class in_process_transport;
  void deliver(endpoint_id from, endpoint_id to, const message& m) {
    auto box = state_->mailbox(to);
    {
      const std::lock_guard lock(box->mutex);
      if (box->closed) return;
      box->queue.push_back(envelope{from, to, m});
    }
    box->ready.notify_one();
    own_->bytes_sent.fetch_add(m.size(), std::memory_order_relaxed);
    own_->messages_sent.fetch_add(1, std::memory_order_relaxed);
  }
  std::optional<envelope> pop(std::unique_lock<std::mutex>& lock) {
    if (own_->queue.empty()) return std::nullopt;
    envelope e = std::move(own_->queue.front());
    own_->queue.pop_front();
    lock.unlock();
    own_->bytes_received.fetch_add(e.message.size(), std::memory_order_relaxed);
    own_->messages_received.fetch_add(1, std::memory_order_relaxed);
    return e;
  }

  in_process_endpoint(std::shared_ptr<detail::in_process_state> state, endpoint_id id)
      : state_(std::move(state)), own_(state_->mailbox(id)), id_(id) {}

  std::shared_ptr<detail::in_process_state> state_;
  std::shared_ptr<detail::in_process_mailbox> own_;
  endpoint_id id_;
};

static_assert(transport<in_process_endpoint>);

/// The hub: hands out endpoints and shuts them all down. Endpoints keep the hub's state alive,
/// so they may outlive this object. Thread-safe.
class in_process_transport {
public:
  in_process_transport() : state_(std::make_shared<detail::in_process_state>()) {}

  /// A handle for endpoint `id` (its mailbox is created on first use by anyone). Handles for
  /// one id share the mailbox and the counters.
  [[nodiscard]] in_process_endpoint endpoint(endpoint_id id) { return in_process_endpoint(state_, id); }

  /// Delivers messages addressed to `client` into `host`'s mailbox (envelope::to still says
  /// `client`), so one host thread can serve many virtual clients, as a rank does under MPI.
  /// Call before anything is sent to `client`; throws invalid_config when `client` already has
  /// a mailbox of its own.
  void route(endpoint_id client, endpoint_id host) {
    if (client == host) return;
    if (!state_->alias(client, host))
      throw invalid_config("in_process_transport::route: endpoint " + std::to_string(client) +
                           " already has its own mailbox");
  }

  /// Routes every client c in [first, last) to hosts[c mod W] (W = hosts.size()) as route()
  /// would one by one, but in O(W) memory instead of a map entry per client (docs/scale.md).
  /// Call before anything is sent to those clients; throws invalid_config (nothing changed) for
  /// an empty range or host list, a range overlapping another range or a client that already
  /// has its own mailbox, or a host inside a range.
  void route_range(endpoint_id first, endpoint_id last, const std::vector<endpoint_id>& hosts) {
    if (first >= last || hosts.empty())
      throw invalid_config("in_process_transport::route_range: an empty range [" + std::to_string(first) +
                           ", " + std::to_string(last) + ") or no hosts (" + std::to_string(hosts.size()) +
                           ")");
    if (!state_->alias_range(first, last, hosts))
      throw invalid_config("in_process_transport::route_range: [" + std::to_string(first) + ", " +
                           std::to_string(last) +
                           ") overlaps a routed range, an endpoint with its own mailbox, or a host");
  }

  /// The server's endpoint, `endpoint(server_endpoint)`.
  [[nodiscard]] in_process_endpoint server() { return endpoint(server_endpoint); }

  /// Closes every mailbox, present and future, and wakes every waiting receiver: receive()
  /// returns what is still queued, then nullopt at once; sends are dropped.
  void close() {
    std::unordered_map<endpoint_id, std::shared_ptr<detail::in_process_mailbox>> boxes;
    {
      const std::lock_guard lock(state_->mutex);
      state_->closed = true;
      boxes = state_->mailboxes;
    }
    for (auto& [id, box] : boxes) box->close();
  }

  /// True once close() was called.
  [[nodiscard]] bool is_closed() const {
    const std::lock_guard lock(state_->mutex);
    return state_->closed;
  }

  /// Mailboxes created so far.
  [[nodiscard]] std::size_t num_endpoints() const {
    const std::lock_guard lock(state_->mutex);
    return state_->mailboxes.size();
  }

private:
  std::shared_ptr<detail::in_process_state> state_;
};

} // namespace fedpp
