/// \file secagg_config.hpp
/// The public parameters of one secure-aggregation round, shared by the server and every client.
#pragma once

#include "fedpp/error.hpp"

#include <cstddef>
#include <cstdint>
#include <string>

namespace fedpp::secagg {

/// Parameters every participant of a round agrees on before it starts.
struct secagg_config {
  std::uint64_t round = 0;       ///< round number; bound into every message and key derivation
  std::size_t vector_length = 0; ///< D: words of each (encoded) input
  unsigned modulus_bits = 32;    ///< inputs and the sum are residues modulo 2^b, 1 ≤ b ≤ 32
  std::size_t threshold = 2;     ///< t ≥ 2: shares needed to reconstruct a secret (per neighbourhood in SecAgg+)

  /// Throws invalid_config when a field is out of range.
  void validate() const {
    if (vector_length == 0) throw invalid_config("secagg_config: vector_length must be at least 1");
    if (modulus_bits < 1 || modulus_bits > 32)
      throw invalid_config("secagg_config: modulus_bits = " + std::to_string(modulus_bits) +
                           " is outside [1, 32]");
    if (threshold < 2)
      throw invalid_config("secagg_config: threshold = " + std::to_string(threshold) +
                           " is below 2 (with t = 1 any single share is the secret itself)");
  }
  /// 2^b − 1.
  [[nodiscard]] std::uint32_t modulus_mask() const noexcept {
    return modulus_bits >= 32 ? 0xffffffffU : (std::uint32_t{1} << modulus_bits) - 1U;
  }
};

} // namespace fedpp::secagg
