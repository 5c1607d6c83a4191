/// \file split_nn_messages.hpp
/// The messages of a split neural network and their checks. Per batch, each feature party sends
/// its cut-layer activations to the label holder, which answers (in training) with the gradient
/// of the loss w.r.t. those activations. Both are wire-format control messages
/// (transport/wire_format.hpp: versioned header, CRC-32C) whose `round` is the session's step
/// counter, whose `tag` says the kind, and whose raw payload is, little-endian:
///
/// | offset  | bytes         | field                                                  |
/// |---------|---------------|--------------------------------------------------------|
/// |       0 | 4             | magic "SNN1"                                           |
/// |       4 | 1             | dtype of the values (f32 or f64)                       |
/// |       5 | 3             | reserved, zero                                         |
/// |       8 | 4             | party index (the feature party the tensor belongs to) |
/// |      12 | 4             | reserved, zero                                         |
/// |      16 | 8             | rows n (examples in the batch)                         |
/// |      24 | 8             | width k (the party's cut width)                        |
/// |      32 | 8·n           | the batch's aligned example ids, in row order          |
/// | 32 + 8n | n·k·sizeof(T) | the values, row-major                                  |
///
/// A receiver knows what it expects (split_nn_expected): the sender's endpoint, the kind, the
/// step, the party, the batch's ids and the width. read_split_nn_message refuses anything else
/// with a split_nn_protocol_error naming the mismatch, before the receiver's state changes.
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/tensor/dtype.hpp"
#include "fedpp/transport/message.hpp"
#include "fedpp/transport/transport.hpp"
#include "fedpp/transport/wire_format.hpp"
#include "fedpp/vertical/detail/split_nn_math.hpp"

#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace fedpp::vertical {

/// The kinds of split-NN messages; the values are the wire tags.
enum class split_nn_message_kind : std::uint32_t {
  train_activations = 0x534e0001U, ///< feature party → label holder, a training batch
  eval_activations = 0x534e0002U,  ///< feature party → label holder, an evaluation batch (no answer)
  gradients = 0x534e0003U, ///< label holder → feature party, ∂loss/∂activations of a training batch
};

/// Name of a message kind.
[[nodiscard]] constexpr const char* to_string(split_nn_message_kind k) noexcept {
  switch (k) {
  case split_nn_message_kind::train_activations:
    return "train_activations";
  case split_nn_message_kind::eval_activations:
    return "eval_activations";
  case split_nn_message_kind::gradients:
    return "gradients";
  }
  return "unknown";
}

/// Why a split-NN message (or the lack of one) was refused.
enum class split_nn_refusal : std::uint8_t {
  malformed,    ///< bytes that do not decode (wire format, payload header, sizes)
  wrong_sender, ///< from another endpoint than the expected party, or claiming another sender
  wrong_kind,   ///< another message kind than the protocol expects now
  out_of_order, ///< another step than the receiver's counter
  wrong_batch,  ///< the example ids differ from the batch the receiver expects (alignment)
  wrong_shape,  ///< rows, width, dtype or party index differ from the agreement
  non_finite,   ///< a NaN or infinite value (or a step whose loss or gradients would be)
  out_of_range, ///< a finite value above the agreed bound (split_nn_config::max_abs_value)
  timeout,      ///< nothing arrived before the deadline
};

/// Name of a refusal reason.
[[nodiscard]] constexpr const char* to_string(split_nn_refusal r) noexcept {
  switch (r) {
  case split_nn_refusal::malformed:
    return "malformed";
  case split_nn_refusal::wrong_sender:
    return "wrong sender";
  case split_nn_refusal::wrong_kind:
    return "wrong kind";
  case split_nn_refusal::out_of_order:
    return "out of order";
  case split_nn_refusal::wrong_batch:
    return "wrong batch";
  case split_nn_refusal::wrong_shape:
    return "wrong shape";
  case split_nn_refusal::non_finite:
    return "non-finite";
  case split_nn_refusal::out_of_range:
    return "out of range";
  case split_nn_refusal::timeout:
    return "timeout";
  }
  return "unknown";
}

/// A split-NN message was refused; the receiving party's state (parameters, step) is unchanged.
class split_nn_protocol_error : public error {
public:
  split_nn_protocol_error(split_nn_refusal reason, endpoint_id from, const std::string& detail)
      : error("split_nn: message from endpoint " + std::to_string(from) + " refused (" + to_string(reason) +
              "): " + detail),
        reason_(reason), from_(from) {}
  /// The category of the refusal.
  [[nodiscard]] split_nn_refusal reason() const noexcept { return reason_; }
  /// The endpoint the message came from (as the transport saw it), or was expected from.
  [[nodiscard]] endpoint_id from() const noexcept { return from_; }

private:
  split_nn_refusal reason_;
  endpoint_id from_;
};

/// What a receiver expects of the next message.
struct split_nn_expected {
  split_nn_message_kind kind;         ///< the kind
  std::uint64_t step;                 ///< the step counter (the wire header's round)
  endpoint_id from;                   ///< the sending endpoint, as the transport authenticates it
  std::uint32_t party;                ///< the feature party the tensor belongs to
  std::span<const std::uint64_t> ids; ///< the batch's aligned example ids, in row order
  std::size_t width;                  ///< the party's cut width
  double max_abs;                     ///< largest allowed |value|
};

/// Bytes of the split-NN payload header.
inline constexpr std::size_t split_nn_payload_header_bytes = 32;
/// Largest payload of one split-NN message (64 GiB).
inline constexpr std::size_t split_nn_max_payload_bytes = std::size_t{1} << 36;
/// "SNN1", little-endian.
inline constexpr std::uint32_t split_nn_magic = 0x314e4e53U;

namespace detail {
/// wire::encode_control with the payload size bounded first, which tells GCC 12 that header +
/// payload cannot wrap around (unbounded, it reports a spurious -Warray-bounds in
/// wire::detail::build_message at -O3).
inline message split_nn_control_message(std::uint64_t step, endpoint_id sender, std::uint32_t tag,
                                        std::span<const std::byte> payload) {
  if (payload.size() > std::size_t{1} << 36)
    throw invalid_config("encode_split_nn_message: a payload of " + std::to_string(payload.size()) +
                         " bytes exceeds 64 GiB");
  return wire::encode_control(step, sender, tag, payload);
}
} // namespace detail

/// Encodes a split-NN message: `values` (ids.size() × width, row-major) of `party`, for the batch
/// `ids`, at `step`, from endpoint `sender`. Throws invalid_config when the sizes disagree.
template <std::floating_point T>
[[nodiscard]] message encode_split_nn_message(split_nn_message_kind kind, std::uint64_t step,
                                              endpoint_id sender, std::uint32_t party,
                                              std::span<const std::uint64_t> ids, std::size_t width,
                                              std::span<const T> values) {
  if (values.size() != ids.size() * width)
    throw invalid_config("encode_split_nn_message: " + std::to_string(values.size()) + " values for " +
                         std::to_string(ids.size()) + " rows of width " + std::to_string(width));
  // Bounded before anything is allocated (which also tells GCC 12 that header + payload cannot
  // wrap around: unbounded, it reports a spurious -Warray-bounds in wire::detail::build_message).
  if (ids.size() > split_nn_max_payload_bytes / 8 || values.size() > split_nn_max_payload_bytes / sizeof(T) ||
      8 * ids.size() + values.size_bytes() > split_nn_max_payload_bytes - split_nn_payload_header_bytes)
    throw invalid_config("encode_split_nn_message: " + std::to_string(ids.size()) + " rows of width " +
                         std::to_string(width) + " exceed the largest payload, " +
                         std::to_string(split_nn_max_payload_bytes) + " bytes");
  using wire::detail::put_u32;
  using wire::detail::put_u64;
  std::vector<std::byte> payload(split_nn_payload_header_bytes + 8 * ids.size() + values.size_bytes());
  std::byte* p = payload.data();
  put_u32(p, split_nn_magic);
  p[4] = static_cast<std::byte>(dtype_of<T>);
  put_u32(p + 8, party);
  put_u64(p + 16, ids.size());
  put_u64(p + 24, width);
  for (std::size_t i = 0; i < ids.size(); ++i) put_u64(p + 32 + 8 * i, ids[i]);
  wire::detail::copy_little_endian(p + 32 + 8 * ids.size(), reinterpret_cast<const std::byte*>(values.data()),
                                   values.size(), sizeof(T));
  return detail::split_nn_control_message(step, sender, static_cast<std::uint32_t>(kind), payload);
}

/// Checks `e` against `x` and copies its values (ids.size() × width) into `out`, which must hold
/// exactly that many. Throws split_nn_protocol_error naming the first mismatch, in this order:
/// envelope sender; wire decoding (size bounded first, CRC); control kind, not chunked; claimed
/// sender; kind (tag); step; payload header (magic, dtype, party, rows, width, exact size); ids;
/// every value finite and within ±max_abs. Nothing but `out` is written, and `out` only once
/// every check but the values' has passed (a refused value leaves `out` written: it is the
/// receiver's scratch).
template <std::floating_point T>
void read_split_nn_message(const envelope& e, const split_nn_expected& x, std::span<T> out) {
  const auto refuse = [&](split_nn_refusal r, const std::string& why) {
    throw split_nn_protocol_error(
        r, e.from, std::string(to_string(x.kind)) + " of step " + std::to_string(x.step) + ": " + why);
  };
  if (out.size() != x.ids.size() * x.width)
    throw invalid_config("read_split_nn_message: the output holds " + std::to_string(out.size()) +
                         " values, the " + "expected tensor " + std::to_string(x.ids.size() * x.width));
  if (e.from != x.from)
    refuse(split_nn_refusal::wrong_sender, "expected it from endpoint " + std::to_string(x.from));
  const std::size_t payload_bytes = split_nn_payload_header_bytes + 8 * x.ids.size() + out.size_bytes();
  // A message larger than the expected tensor needs is refused before its checksum is computed.
  const std::size_t most = wire::header_bytes + wire::payload_alignment + payload_bytes;
  if (e.message.size() > most)
    refuse(split_nn_refusal::wrong_shape, std::to_string(e.message.size()) +
                                              " bytes, the expected tensor needs " + "at most " +
                                              std::to_string(most));
  std::optional<wire::decoded_message> decoded;
  try {
    decoded.emplace(wire::decode(e.message));
  } catch (const malformed_message& m) {
    refuse(split_nn_refusal::malformed, m.what());
  }
  const auto& d = *decoded;
  if (d.kind() != wire::message_kind::control || d.header().is_chunked())
    refuse(split_nn_refusal::malformed, std::string("a ") + wire::to_string(d.kind()) +
                                            (d.header().is_chunked() ? " chunk" : " message") +
                                            ", expected one unchunked control message");
  if (d.sender() != e.from)
    refuse(split_nn_refusal::wrong_sender, "the message claims sender " + std::to_string(d.sender()));
  if (d.tag() != static_cast<std::uint32_t>(x.kind))
    refuse(split_nn_refusal::wrong_kind, "got tag " + wire::detail::hex(d.tag()) + " (" +
                                             to_string(static_cast<split_nn_message_kind>(d.tag())) + ")");
  if (d.round() != x.step)
    refuse(split_nn_refusal::out_of_order, "the message is for step " + std::to_string(d.round()));
  const auto bytes = d.payload_bytes();
  if (bytes.size() < split_nn_payload_header_bytes)
    refuse(split_nn_refusal::malformed,
           "a payload of " + std::to_string(bytes.size()) + " bytes has no header");
  using wire::detail::get_u32;
  using wire::detail::get_u64;
  const std::byte* p = bytes.data();
  if (get_u32(p) != split_nn_magic) refuse(split_nn_refusal::malformed, "bad payload magic");
  if (p[4] != static_cast<std::byte>(dtype_of<T>))
    refuse(split_nn_refusal::wrong_shape, "values of dtype " +
                                              std::to_string(std::to_integer<unsigned>(p[4])) +
                                              ", expected " + to_string(dtype_of<T>));
  if (p[5] != std::byte{0} || p[6] != std::byte{0} || p[7] != std::byte{0} || get_u32(p + 12) != 0)
    refuse(split_nn_refusal::malformed, "reserved payload bytes are not zero");
  if (get_u32(p + 8) != x.party)
    refuse(split_nn_refusal::wrong_shape, "the tensor of party " + std::to_string(get_u32(p + 8)) +
                                              ", expected party " + std::to_string(x.party));
  const std::uint64_t rows = get_u64(p + 16), width = get_u64(p + 24);
  if (rows != x.ids.size() || width != x.width)
    refuse(split_nn_refusal::wrong_shape, std::to_string(rows) + " rows of width " + std::to_string(width) +
                                              ", expected " + std::to_string(x.ids.size()) + " of width " +
                                              std::to_string(x.width));
  if (bytes.size() != payload_bytes)
    refuse(split_nn_refusal::malformed, "a payload of " + std::to_string(bytes.size()) + " bytes, " +
                                            std::to_string(payload_bytes) +
                                            " expected for its rows and width");
  for (std::size_t i = 0; i < x.ids.size(); ++i) {
    const std::uint64_t id = get_u64(p + 32 + 8 * i);
    if (id != x.ids[i])
      refuse(split_nn_refusal::wrong_batch, "row " + std::to_string(i) + " is example " + std::to_string(id) +
                                                ", the batch has example " + std::to_string(x.ids[i]) +
                                                " there");
  }
  wire::detail::copy_little_endian(reinterpret_cast<std::byte*>(out.data()), p + 32 + 8 * x.ids.size(),
                                   out.size(), sizeof(T));
  for (std::size_t i = 0; i < out.size(); ++i) {
    const double v = static_cast<double>(out[i]);
    if (!std::isfinite(v))
      refuse(split_nn_refusal::non_finite,
             "value " + std::to_string(i) + " (row " + std::to_string(i / x.width) + ") is not finite");
    if (std::abs(v) > x.max_abs)
      refuse(split_nn_refusal::out_of_range, "value " + std::to_string(i) + " (row " +
                                                 std::to_string(i / x.width) + ") is " + std::to_string(v) +
                                                 ", beyond the agreed bound " + std::to_string(x.max_abs));
  }
}

} // namespace fedpp::vertical
