/// \file scaffold_control_store.hpp
/// Per-client SCAFFOLD control variates c_i that persist across rounds (a client that has not
/// taken part yet has c_i = 0, Karimireddy et al. 2020, Algorithm 1). Thread-safe, so clients
/// trained concurrently on host threads can share one store; savable as bytes.
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/tensor/dtype.hpp"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <mutex>
#include <span>
#include <string>
#include <vector>

namespace fedpp {

/// c_i for every client that has reported, each of D elements of type T.
template <element_type T = float>
class scaffold_control_store {
public:
  /// Control variates of `model_size` = D elements.
  explicit scaffold_control_store(std::size_t model_size) : size_(model_size) {}

  scaffold_control_store(const scaffold_control_store& other)
      : size_(other.size_), controls_(other.snapshot()) {}
  scaffold_control_store& operator=(const scaffold_control_store&) = delete;

  /// D.
  [[nodiscard]] std::size_t model_size() const noexcept { return size_; }
  /// Clients with a stored c_i.
  [[nodiscard]] std::size_t num_clients() const {
    const std::lock_guard lock(mutex_);
    return controls_.size();
  }

  /// A copy of client `client`'s c_i (zeros if it has none yet).
  [[nodiscard]] std::vector<T> get(client_id client) const {
    const std::lock_guard lock(mutex_);
    const auto it = controls_.find(client);
    return it == controls_.end() ? std::vector<T>(size_, T(0)) : it->second;
  }

  /// Stores client `client`'s new c_i; throws invalid_config (nothing stored) for a size other
  /// than D or a non-finite value.
  void put(client_id client, std::span<const T> control) {
    if (control.size() != size_)
      throw invalid_config("scaffold_control_store::put: client " + std::to_string(client) + " sent " +
                           std::to_string(control.size()) + " elements, D = " + std::to_string(size_));
    for (std::size_t i = 0; i < control.size(); ++i)
      if (!std::isfinite(control[i]))
        throw invalid_config("scaffold_control_store::put: client " + std::to_string(client) + " element " +
                             std::to_string(i) + " is " + std::to_string(control[i]));
    std::vector<T> copy(control.begin(), control.end());
    const std::lock_guard lock(mutex_);
    controls_[client] = std::move(copy);
  }

  /// Replaces every stored c_i by `other`'s (a restored checkpoint's), which is left empty; throws
  /// invalid_config, nothing changed, when `other` holds controls of another D.
  void replace_with(scaffold_control_store&& other) {
    if (other.size_ != size_)
      throw invalid_config("scaffold_control_store::replace_with: controls of D = " +
                           std::to_string(other.size_) + ", this store has D = " + std::to_string(size_));
    const std::scoped_lock lock(mutex_, other.mutex_);
    controls_.swap(other.controls_);
    other.controls_.clear();
  }

  /// ["FPSC"][element bytes u32][D u64][count u64] then per client [id u64][D × T], ids ascending.
  [[nodiscard]] std::vector<std::byte> to_bytes() const {
    const auto all = snapshot();
    std::vector<std::byte> out(header_bytes + all.size() * (8 + size_ * sizeof(T)));
    std::byte* p = out.data();
    auto put_raw = [&p](const void* src, std::size_t n) {
      if (n != 0) std::memcpy(p, src, n);
      p += n;
    };
    const std::uint32_t width = sizeof(T);
    const std::uint64_t d = size_, count = all.size();
    put_raw("FPSC", 4);
    put_raw(&width, 4);
    put_raw(&d, 8);
    put_raw(&count, 8);
    for (const auto& [id, c] : all) {
      const std::uint64_t id64 = id;
      put_raw(&id64, 8);
      put_raw(c.data(), c.size() * sizeof(T));
    }
    return out;
  }

  /// Rebuilds a store from to_bytes()'s output. Saved bytes are input: throws malformed_message
  /// (and nothing else — no length_error, bad_alloc or division by zero) for bad magic or element
  /// width, a D whose entry size overflows, a length that is not the header plus `count` entries
  /// of 8 + D·sizeof(T) bytes, ids not strictly ascending, or non-finite values; every size is
  /// checked against the bytes present before anything is allocated. An empty store (count 0)
  /// has no bytes that back its D, so this overload refuses it unless D = 0: restore it with the
  /// expected model size. Accepted bytes re-encode (to_bytes) to the same bytes.
  [[nodiscard]] static scaffold_control_store restore(std::span<const std::byte> bytes) {
    const auto h = read_header(bytes);
    if (h.count == 0 && h.size != 0)
      throw malformed_message("scaffold_control_store::restore: an empty store claims D = " +
                              std::to_string(h.size) +
                              ", which no stored control backs; restore it with the expected model size");
    return read_controls(bytes, h);
  }

  /// As restore(bytes), for a model of `expected_model_size` elements: a saved D other than it
  /// is malformed_message (checked first, before anything is allocated), and an empty store is
  /// accepted.
  [[nodiscard]] static scaffold_control_store restore(std::span<const std::byte> bytes,
                                                      std::size_t expected_model_size) {
    const auto h = read_header(bytes);
    if (h.size != expected_model_size)
      throw malformed_message("scaffold_control_store::restore: saved for D = " + std::to_string(h.size) +
                              ", the model has " + std::to_string(expected_model_size) + " elements");
    return read_controls(bytes, h);
  }

private:
  static constexpr std::size_t header_bytes = 24;

  struct header {
    std::size_t size = 0;   // D
    std::size_t count = 0;  // stored clients
    std::size_t entry = 0;  // 8 + D·sizeof(T)
  };

  // Magic, width, and count × (8 + D·sizeof(T)) == the bytes after the header, without overflow.
  [[nodiscard]] static header read_header(std::span<const std::byte> bytes) {
    if (bytes.size() < header_bytes)
      throw malformed_message("scaffold_control_store::restore: " + std::to_string(bytes.size()) +
                              " bytes, shorter than the " + std::to_string(header_bytes) + "-byte header");
    if (std::memcmp(bytes.data(), "FPSC", 4) != 0)
      throw malformed_message("scaffold_control_store::restore: bad magic (not a saved control store)");
    std::uint32_t width = 0;
    std::uint64_t d = 0, count = 0;
    std::memcpy(&width, bytes.data() + 4, 4);
    std::memcpy(&d, bytes.data() + 8, 8);
    std::memcpy(&count, bytes.data() + 16, 8);
    if (width != sizeof(T))
      throw malformed_message("scaffold_control_store::restore: elements of " + std::to_string(width) +
                              " bytes, expected " + std::to_string(sizeof(T)));
    const std::size_t payload = bytes.size() - header_bytes;
    // 8 + D·sizeof(T) must not wrap (D = 2^64 − 1 made it 4, or 0 for a divisor).
    if (d > (std::numeric_limits<std::size_t>::max() - 8) / sizeof(T))
      throw malformed_message("scaffold_control_store::restore: D = " + std::to_string(d) +
                              " elements of " + std::to_string(sizeof(T)) + " bytes overflow a size");
    const std::size_t entry = 8 + static_cast<std::size_t>(d) * sizeof(T);
    if (payload % entry != 0 || payload / entry != count)
      throw malformed_message("scaffold_control_store::restore: " + std::to_string(bytes.size()) +
                              " bytes do not hold " + std::to_string(count) + " clients of D = " +
                              std::to_string(d) + " (" + std::to_string(header_bytes) + " + count × " +
                              std::to_string(entry) + " bytes)");
    return {static_cast<std::size_t>(d), static_cast<std::size_t>(count), entry};
  }

  // The entries after a checked header: every allocation is backed by bytes present.
  [[nodiscard]] static scaffold_control_store read_controls(std::span<const std::byte> bytes, const header& h) {
    scaffold_control_store store(h.size);
    const std::byte* p = bytes.data() + header_bytes;
    for (std::size_t k = 0; k < h.count; ++k, p += h.entry) {
      std::uint64_t id = 0;
      std::memcpy(&id, p, 8);
      if (!store.controls_.empty() && id <= store.controls_.rbegin()->first)
        throw malformed_message("scaffold_control_store::restore: client id " + std::to_string(id) +
                                " at entry " + std::to_string(k) + " does not follow " +
                                std::to_string(store.controls_.rbegin()->first) + " (ids must be strictly ascending)");
      std::vector<T> c(h.size);
      if (!c.empty()) std::memcpy(c.data(), p + 8, c.size() * sizeof(T));
      for (std::size_t i = 0; i < c.size(); ++i)
        if (!std::isfinite(c[i]))
          throw malformed_message("scaffold_control_store::restore: client " + std::to_string(id) +
                                  " element " + std::to_string(i) + " is " + std::to_string(c[i]) +
                                  ", not finite");
      store.controls_.emplace(id, std::move(c));
    }
    return store;
  }

  [[nodiscard]] std::map<client_id, std::vector<T>> snapshot() const {
    const std::lock_guard lock(mutex_);
    return controls_;
  }

  std::size_t size_;
  mutable std::mutex mutex_;
  std::map<client_id, std::vector<T>> controls_;
};

} // namespace fedpp
