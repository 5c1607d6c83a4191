/// \file message.hpp
/// An immutable, shareable, 64-byte-aligned byte buffer: what transports carry.
///
/// Copying a message copies a pointer, never the bytes, so broadcasting one encoded global model
/// to a thousand in-process clients keeps one buffer alive. The buffer is 64-byte aligned, and
/// the wire format puts payloads at 64-byte offsets, so decoded tensors are viewed in place.
#pragma once

#include "fedpp/detail/aligned_buffer.hpp"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <span>
#include <utility>

namespace fedpp {

/// Identifies an endpoint of a transport; client endpoints use their client_id.
using endpoint_id = std::uint64_t;

/// The reserved endpoint of the server (never a client id).
inline constexpr endpoint_id server_endpoint = std::numeric_limits<endpoint_id>::max();

/// Immutable, reference-counted byte buffer, 64-byte aligned. A default-constructed message is
/// empty. Thread-safe to share: nobody can write to the bytes once the message exists.
class message {
public:
  /// An empty message.
  message() noexcept = default;

  /// Takes ownership of a filled buffer (no copy).
  explicit message(detail::aligned_buffer<std::byte>&& bytes)
      : buffer_(std::make_shared<const detail::aligned_buffer<std::byte>>(std::move(bytes))) {}

  /// A message holding a copy of `bytes`.
  [[nodiscard]] static message copy_of(std::span<const std::byte> bytes) {
    detail::aligned_buffer<std::byte> buffer(bytes.size(), detail::uninitialized);
    if (!bytes.empty()) std::memcpy(buffer.data(), bytes.data(), bytes.size());
    return message(std::move(buffer));
  }

  /// The bytes (64-byte aligned; empty span for an empty message).
  [[nodiscard]] std::span<const std::byte> bytes() const noexcept {
    if (!buffer_) return {};
    return buffer_->span();
  }
  /// Pointer to the first byte (nullptr when empty).
  [[nodiscard]] const std::byte* data() const noexcept { return buffer_ ? buffer_->data() : nullptr; }
  /// Number of bytes.
  [[nodiscard]] std::size_t size() const noexcept { return buffer_ ? buffer_->size() : 0; }
  /// True when the message holds no bytes.
  [[nodiscard]] bool empty() const noexcept { return size() == 0; }
  /// How many message objects share this buffer (0 for an empty message), for tests and metrics.
  [[nodiscard]] long use_count() const noexcept { return buffer_.use_count(); }

  /// True when both share one buffer (or are both empty).
  [[nodiscard]] bool shares_buffer_with(const message& other) const noexcept {
    return buffer_ == other.buffer_;
  }

private:
  std::shared_ptr<const detail::aligned_buffer<std::byte>> buffer_;
};

} // namespace fedpp
