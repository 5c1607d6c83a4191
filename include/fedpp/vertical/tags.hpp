/// \file tags.hpp
/// The control-message tags of fedpp::vertical's protocols (wire::encode_control's `tag`), one
/// block of 256 per protocol so they never collide with each other or with the tags of the
/// training protocols (secure aggregation 1–8, federated evaluation 16–17, the server's notices).
#pragma once

#include <cstdint>

namespace fedpp::vertical {

/// Tags of the vertical protocols' control messages. Values are part of the wire format.
enum class vertical_tag : std::uint32_t {
  psi_request = 0x56500001,         ///< PSI initiator -> responder: its blinded ids
  psi_response = 0x56500002,        ///< responder -> initiator: double-blinded ids, its blinded ids
  psi_result = 0x56500003,          ///< initiator -> responder: the alignment (or the size)
  paillier_public_key = 0x56500101, ///< a Paillier public key
  paillier_ciphertexts = 0x56500102 ///< a list of Paillier ciphertexts (optionally with exponents)
};

/// The tag as the wire's integer.
[[nodiscard]] constexpr std::uint32_t to_wire(vertical_tag t) noexcept {
  return static_cast<std::uint32_t>(t);
}

} // namespace fedpp::vertical
