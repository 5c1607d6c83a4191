/// \file client_state_store.hpp
/// Per-client state kept on the client side between rounds (stateful clients: FedPer/FedRep's
/// local tensors, Ditto's personal models). Copies share one store, so a trainer copied to every
/// host thread (in_process_federation) sees the same state whichever thread serves a client.
#pragma once

#include "fedpp/error.hpp"

#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

namespace fedpp {

/// A thread-safe map client_id → State. Each client's entry has its own lock: calls for
/// different clients run concurrently, calls for one client one at a time. Entries are never
/// removed, so memory is (clients that ever trained) × sizeof(State).
template <class State>
class client_state_store {
public:
  client_state_store() : impl_(std::make_shared<impl>()) {}

  /// Runs `f(State&)` on `client`'s state under its lock and returns what `f` returns; the state
  /// is created by `init()` first when the client has none. When `init` or `f` throws, no state
  /// is created (an existing one is what `f` left: callers that need all-or-nothing work on a copy
  /// and assign at the end, as the personalization wrappers do).
  template <class Init, class F>
  decltype(auto) update(client_id client, Init&& init, F&& f) {
    slot& s = slot_of(client);
    std::lock_guard lock(s.mutex);
    if (!s.state) {
      State fresh = std::forward<Init>(init)();
      s.state.emplace(std::move(fresh));
    }
    return std::forward<F>(f)(*s.state);
  }

  /// Runs `f(const State*)` under `client`'s lock: a pointer to its state, or nullptr when it has
  /// none (nothing is created).
  template <class F>
  decltype(auto) read(client_id client, F&& f) const {
    std::shared_ptr<slot> s;
    {
      std::lock_guard lock(impl_->mutex);
      const auto it = impl_->slots.find(client);
      if (it != impl_->slots.end()) s = it->second;
    }
    if (!s) return std::forward<F>(f)(static_cast<const State*>(nullptr));
    std::lock_guard lock(s->mutex);
    return std::forward<F>(f)(s->state ? &*s->state : static_cast<const State*>(nullptr));
  }

  /// True when `client` has state.
  [[nodiscard]] bool contains(client_id client) const {
    return read(client, [](const State* s) { return s != nullptr; });
  }
  /// Clients with state.
  [[nodiscard]] std::size_t size() const {
    std::lock_guard lock(impl_->mutex);
    std::size_t n = 0;
    for (const auto& [c, s] : impl_->slots) {
      std::lock_guard inner(s->mutex);
      n += s->state ? 1 : 0;
    }
    return n;
  }

private:
  struct slot {
    std::mutex mutex;
    std::optional<State> state;
  };
  struct impl {
    mutable std::mutex mutex;
    std::map<client_id, std::shared_ptr<slot>> slots;
  };

  slot& slot_of(client_id client) {
    std::lock_guard lock(impl_->mutex);
    auto& s = impl_->slots[client];
    if (!s) s = std::make_shared<slot>();
    return *s;
  }

  std::shared_ptr<impl> impl_;
};

} // namespace fedpp
