/// \file sign_compressor.hpp
/// 1-bit sign compression. Unscaled: signSGD (Bernstein et al. 2018, "signSGD: Compressed
/// Optimisation for Non-Convex Problems"), decoded as ±1, meant for majority_vote on the server.
/// Scaled: C(x) = (‖x_c‖₁/|c|)·sgn(x) per chunk c (Karimireddy et al. 2019, "Error Feedback Fixes
/// SignSGD and other Gradient Compression Schemes", Algorithm 1), meant to be wrapped in
/// error_feedback. sgn(0) = +1. Body (param = 1 scaled / 0 unscaled): [n_chunks × f32 scale if
/// scaled] [D bits, bit set = negative].
#pragma once

#include "fedpp/compression/bit_packing.hpp"
#include "fedpp/compression/detail/finite_bounds.hpp"
#include "fedpp/compression/detail/kernels.hpp"
#include "fedpp/compression/detail/payload_io.hpp"
#include "fedpp/compression/payload_header.hpp"
#include "fedpp/error.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace fedpp::compression {

/// Sign compressor, scaled (mean |x| per chunk) or not (signSGD).
class sign_compressor {
public:
  explicit sign_compressor(bool scaled = true, std::uint32_t chunk = 0) : scaled_(scaled), chunk_(chunk) {}

  [[nodiscard]] bool scaled() const noexcept { return scaled_; }
  [[nodiscard]] static constexpr payload_scheme scheme() noexcept { return payload_scheme::sign; }
  [[nodiscard]] std::size_t payload_bytes(std::size_t d) const noexcept {
    return payload_header_bytes + (scaled_ ? 4 * detail::chunk_count(d, chunk_) : 0) + packed_bytes(d, 1);
  }

  /// Appends the payload of `x` (the seed is unused: the scheme is deterministic).
  void compress(std::span<const float> x, std::uint64_t /*seed*/, std::vector<std::byte>& out) const {
    if (!detail::all_finite(x.data(), x.size()))
      throw invalid_config("sign_compressor: the input holds NaN or Inf");
    const std::size_t d = x.size();
    const std::uint64_t chunks = detail::chunk_count(d, chunk_);
    const std::size_t per = chunk_ == 0 ? d : chunk_;
    const std::size_t start = out.size();
    out.reserve(out.size() + payload_bytes(d));
    detail::byte_writer w(out);
    payload_header{payload_scheme::sign, static_cast<std::uint8_t>(scaled_ ? 1 : 0), 0, chunk_, d}.write(w);
    if (scaled_)
      for (std::uint64_t c = 0; c < chunks; ++c) {
        const std::size_t begin = c * per, len = std::min(per, d - begin);
        double l1 = 0;
        for (std::size_t i = begin; i < begin + len; ++i) l1 += std::fabs(x[i]);
        const auto scale = static_cast<float>(l1 / static_cast<double>(len));
        // ≤ max|x_i|, so finite; the decoder also wants room for its rounding (finite_bounds.hpp).
        if (!(scale * detail::rounding_slack <= detail::float_max)) {
          out.resize(start);
          throw invalid_config("sign_compressor: the scale " + detail::show(scale) + " of chunk " +
                               std::to_string(c) + " is too close to float's largest value to decode");
        }
        w.f32(scale);
      }
    auto* bits = reinterpret_cast<std::uint8_t*>(w.grow(packed_bytes(d, 1)));
    for (std::size_t i = 0; i < d; ++i)
      bits[i / 8] = static_cast<std::uint8_t>(bits[i / 8] | ((x[i] < 0 ? 1U : 0U) << (i % 8)));
  }

private:
  bool scaled_;
  std::uint32_t chunk_;
};

namespace detail {

/// The validated parts of a sign payload (read_sign_body).
struct sign_body {
  bool scaled = false;
  std::uint64_t size = 0; ///< D
  std::uint64_t chunks = 0;
  std::size_t per = 0;                 ///< elements per chunk
  const std::byte* scales = nullptr;   ///< chunks × f32 when scaled, each finite ≥ 0
  const std::uint8_t* signs = nullptr; ///< ⌈D/8⌉ bytes, bit set = negative
  double max_scale = 1;                ///< largest scale (1 when unscaled)
};

/// Reads and validates a sign payload's body for a target of `target` elements: sizes against the
/// bytes present, then the target, then every scale finite ≥ 0. Allocates nothing.
inline sign_body read_sign_body(const payload_header& h, byte_reader& r, std::size_t target) {
  if (h.param > 1) malformed("sign: scale flag " + std::to_string(h.param) + " is not 0 or 1");
  if (h.flags != 0) malformed("sign: unknown flags " + std::to_string(h.flags));
  sign_body b;
  b.scaled = h.param == 1;
  b.size = h.size; // ≤ 2^40: no overflow below
  b.chunks = chunk_count(b.size, h.chunk);
  const std::uint64_t need = (b.scaled ? 4 * b.chunks : 0) + (b.size + 7) / 8;
  if (need != r.remaining())
    malformed("sign: " + std::to_string(b.size) + " elements need " + std::to_string(need) +
              " body bytes, the payload has " + std::to_string(r.remaining()));
  check_target(h, target, "decode_accumulate");
  b.per = h.chunk == 0 ? b.size : h.chunk;
  if (b.scaled) {
    b.scales = r.bytes(4 * b.chunks, "scales").data();
    b.max_scale = 0;
    for (std::uint64_t c = 0; c < b.chunks; ++c) {
      const float s = load_le_f32(b.scales + 4 * c);
      if (!std::isfinite(s) || s < 0)
        malformed("sign: chunk " + std::to_string(c) + " has scale " + show(s) + ", not finite >= 0");
      b.max_scale = std::max(b.max_scale, static_cast<double>(s));
    }
  }
  b.signs = reinterpret_cast<const std::uint8_t*>(r.bytes(r.remaining(), "signs").data());
  return b;
}

/// Validates a sign payload and adds weight × its decoded vector to acc (acc unchanged on error).
inline void sign_decode_accumulate(const payload_header& h, byte_reader& r, float weight,
                                   std::span<float> acc) {
  const sign_body b = read_sign_body(h, r, acc.size());
  // Every increment is ±fl(weight·scale): one rounding.
  require_headroom("sign", weight, b.max_scale * rounding_slack, acc);
  for (std::uint64_t c = 0; c < b.chunks; ++c) {
    const float m = weight * (b.scaled ? load_le_f32(b.scales + 4 * c) : 1.0F);
    const std::size_t end = std::min<std::size_t>(b.size, (c + 1) * b.per);
    for (std::size_t i = c * b.per; i < end; ++i) acc[i] += ((b.signs[i / 8] >> (i % 8)) & 1U) != 0 ? -m : m;
  }
}

} // namespace detail
} // namespace fedpp::compression
