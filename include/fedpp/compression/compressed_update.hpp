/// \file compressed_update.hpp
/// How a compressed client update travels inside the wire format, and how it is read back.
///
/// Until the wire format has its own encoding code for compressed payloads, a compressed update
/// is a `client_update` message with payload_encoding::raw_bytes (dtype u8, element_count =
/// payload bytes), tag = compressed_update_tag ("FPCZ"), the model's layout hash, the client's
/// weight and metrics, and the compressed payload (payload_header + body) as its payload. Its
/// size — message::size() — is the exact number of bytes on the wire.
#pragma once

#include "fedpp/compression/payload_header.hpp"
#include "fedpp/error.hpp"
#include "fedpp/tensor/model_layout.hpp"
#include "fedpp/transport/message.hpp"
#include "fedpp/transport/wire_format.hpp"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace fedpp::compression {

/// The `tag` of a compressed client_update ("FPCZ" little-endian).
inline constexpr std::uint32_t compressed_update_tag = 0x5a435046U;

/// One client's compressed contribution: the input of compressed_fedavg, majority_vote.
struct compressed_update {
  client_id client = 0;
  double weight = 1.0;                ///< number of examples
  std::span<const std::byte> payload; ///< a payload_header + body; must outlive the call
};

/// Wraps a compressed payload into a client_update message (see the file comment).
[[nodiscard]] inline message encode_compressed_update(std::uint64_t round, client_id client,
                                                      const model_layout& layout,
                                                      std::span<const std::byte> payload, double num_examples,
                                                      const wire::metrics_map& metrics = {}) {
  wire::message_header h;
  h.kind = wire::message_kind::client_update;
  h.encoding = wire::payload_encoding::raw_bytes;
  h.type = dtype::u8;
  h.tag = compressed_update_tag;
  h.round = round;
  h.sender = client;
  h.layout_hash = layout.hash();
  h.element_count = payload.size();
  h.weight = num_examples;
  h.total_payload_bytes = payload.size();
  h.payload_bytes = payload.size();
  const auto sections = wire::detail::encode_metrics_section(metrics);
  return wire::detail::build_message(h, sections, payload.data(), 1);
}

/// Checks that a decoded message is a compressed client_update for `layout` in `round` whose
/// payload holds layout.total_size() elements; returns it as a compressed_update (viewing the
/// message's bytes). Throws malformed_message naming the mismatch.
[[nodiscard]] inline compressed_update
read_compressed_update(const wire::decoded_message& m, const model_layout& layout, std::uint64_t round) {
  const auto& h = m.header();
  auto bad = [](const std::string& what) { throw malformed_message("compressed update: " + what); };
  if (h.kind != wire::message_kind::client_update)
    bad(std::string("a ") + wire::to_string(h.kind) + " message");
  if (h.encoding != wire::payload_encoding::raw_bytes || h.tag != compressed_update_tag)
    bad("not a compressed payload (encoding " + std::string(wire::to_string(h.encoding)) + ", tag " +
        std::to_string(h.tag) + ")");
  if (h.is_chunked()) bad("a chunk: reassemble first");
  if (h.round != round)
    bad("for round " + std::to_string(h.round) + ", expected round " + std::to_string(round));
  if (h.layout_hash != layout.hash()) bad("wrong layout hash");
  const auto ph = peek_header(m.payload_bytes());
  if (ph.size != layout.total_size())
    bad("the payload holds " + std::to_string(ph.size) + " elements, the model has " +
        std::to_string(layout.total_size()));
  return {m.sender(), m.weight(), m.payload_bytes()};
}

} // namespace fedpp::compression
