/// \file compressor.hpp
/// The compressor concept: what error_feedback, the client hooks and the benchmarks need of a
/// compression scheme. Payloads are self-describing (payload_header), so one decoder
/// (decode_accumulate) serves every scheme.
///
/// | expression                       | type / effect                                              |
/// |----------------------------------|------------------------------------------------------------|
/// | `c.compress(x, seed, out)`       | appends the payload of `x` (std::span<const float>) to     |
/// |                                  | `out` (std::vector<std::byte>&); `seed` (u64) drives any   |
/// |                                  | randomness; throws invalid_config with `out` unchanged for |
/// |                                  | inputs it cannot encode (NaN/Inf)                          |
/// | `C::scheme()`                    | the payload_scheme it writes                               |
#pragma once

#include "fedpp/compression/float_cast.hpp"
#include "fedpp/compression/payload_header.hpp"
#include "fedpp/compression/qsgd.hpp"
#include "fedpp/compression/sign_compressor.hpp"
#include "fedpp/compression/sparsifier.hpp"
#include "fedpp/compression/uniform_quantizer.hpp"

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace fedpp::compression {

/// See the table above.
template <class C>
concept compressor = requires(const C& c, std::span<const float> x, std::uint64_t seed,
                              std::vector<std::byte>& out) {
  c.compress(x, seed, out);
  { C::scheme() } -> std::same_as<payload_scheme>;
};

static_assert(compressor<float_cast>);
static_assert(compressor<uniform_quantizer>);
static_assert(compressor<qsgd>);
static_assert(compressor<sign_compressor>);
static_assert(compressor<sparsifier>);

} // namespace fedpp::compression
