/// \file in_process_transport.hpp
/// The embedded default transport: endpoints in one process exchange messages through a hub
/// with one mailbox (mutex + condition variable) per endpoint. Messages are shared, not copied:
/// broadcasting one global model to 1,000 clients keeps one buffer.
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

struct in_process_state {
  std::mutex mutex;
  std::unordered_map<endpoint_id, std::shared_ptr<in_process_mailbox>> mailboxes;
  bool closed = false;

  /// The mailbox of `id`, created on first use (closed at once when the hub is closed).
  std::shared_ptr<in_process_mailbox> mailbox(endpoint_id id) {
    const std::lock_guard lock(mutex);
    auto& box = mailboxes[id];
    if (!box) {
      box = std::make_shared<in_process_mailbox>();
      box->closed = closed;
    }
    return box;
  }

  /// The mailbox of `id` if it exists (nothing is created).
  std::shared_ptr<in_process_mailbox> find(endpoint_id id) {
    const std::lock_guard lock(mutex);
    const auto it = mailboxes.find(id);
    return it == mailboxes.end() ? nullptr : it->second;
  }

  /// Makes `id` share `host`'s mailbox; false when `id` already has a mailbox of its own.
  bool alias(endpoint_id id, endpoint_id host) {
    const std::lock_guard lock(mutex);
    auto& target = mailboxes[host];
    if (!target) {
      target = std::make_shared<in_process_mailbox>();
      target->closed = closed;
    }
    auto& box = mailboxes[id];
    if (box && box != target) return false;
    box = target;
    return true;
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
