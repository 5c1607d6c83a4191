/// \file decode.hpp
/// Decoding of any dense-decodable payload (float_cast, uniform, qsgd, sign, sparse):
/// `decode_accumulate(payload, w, acc)` adds w × the decoded vector to `acc` without a dense
/// temporary (except the rotated quantizer, which needs one P-sized buffer for the inverse
/// rotation). Every payload is validated completely before `acc` is touched: a malformed payload
/// throws malformed_message and leaves `acc` unchanged; a well-formed payload of the wrong size
/// throws invalid_config (checked before anything the payload sizes is allocated).
///
/// Finite output: every decoder bounds the magnitudes it will add from the payload's scalars and
/// the weight, and refuses (malformed_message) a payload that could make a finite `acc` infinite
/// or NaN — so `acc` stays finite however many payloads are added (detail/finite_bounds.hpp). A
/// payload a compressor produced always decodes into a zero accumulator with weight 1.
/// Count sketches are not decoded here: sum them (sketch_aggregator).
#pragma once

#include "fedpp/compression/detail/finite_bounds.hpp"
#include "fedpp/compression/detail/payload_io.hpp"
#include "fedpp/compression/float_cast.hpp"
#include "fedpp/compression/payload_header.hpp"
#include "fedpp/compression/qsgd.hpp"
#include "fedpp/compression/sign_compressor.hpp"
#include "fedpp/compression/sparsifier.hpp"
#include "fedpp/compression/uniform_quantizer.hpp"
#include "fedpp/error.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <span>
#include <string>
#include <vector>

namespace fedpp::compression {

/// acc += weight × decode(payload), `acc` finite. See the file comment for the guarantees; a
/// non-finite weight throws invalid_config (acc unchanged).
inline void decode_accumulate(std::span<const std::byte> payload, float weight, std::span<float> acc) {
  if (!std::isfinite(weight))
    throw invalid_config("decode_accumulate: weight " + detail::show(weight) + " is not finite");
  detail::byte_reader r(payload);
  const auto h = payload_header::read(r);
  switch (h.scheme) {
  case payload_scheme::float_cast:
    return detail::float_cast_decode_accumulate(h, r, weight, acc);
  case payload_scheme::uniform:
    return detail::uniform_decode_accumulate(h, r, weight, acc);
  case payload_scheme::qsgd:
    return detail::qsgd_decode_accumulate(h, r, weight, acc);
  case payload_scheme::sign:
    return detail::sign_decode_accumulate(h, r, weight, acc);
  case payload_scheme::sparse:
    return detail::sparse_decode_accumulate(h, r, weight, acc);
  case payload_scheme::count_sketch:
    break;
  }
  detail::malformed("a count_sketch payload cannot be decoded to a dense vector; sum the sketches instead");
}

/// out = decode(payload) (out is overwritten; unchanged on error).
inline void decode(std::span<const std::byte> payload, std::span<float> out) {
  const auto h = peek_header(payload);
  detail::check_target(h, out.size(), "decode");
  // Decode into a fresh buffer so that a malformed payload leaves `out` unchanged.
  std::vector<float> tmp(out.size(), 0.0F);
  decode_accumulate(payload, 1.0F, tmp);
  std::copy(tmp.begin(), tmp.end(), out.begin());
}

} // namespace fedpp::compression
