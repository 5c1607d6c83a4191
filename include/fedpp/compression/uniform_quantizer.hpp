/// \file uniform_quantizer.hpp
/// Uniform b-bit quantization (b ∈ {1, 2, 4, 8}) with a min and a step per chunk, deterministic
/// (nearest) or unbiased stochastic rounding, bit-packed codes, and an optional randomized
/// Hadamard rotation first (Suresh et al. 2017).
///
/// Per chunk with min m, max M and L = 2^b − 1 levels, step Δ = (M − m)/L; element x gets code
/// q = ⌊(x − m)/Δ + u⌋, decoded as m + q·Δ. Nearest: u = 1/2, |error| ≤ Δ/2. Stochastic:
/// u ~ U[0, 1) from a counter hash of (seed, index), so P[q = ⌈t⌉] = t − ⌊t⌋ and E[m + qΔ] = x
/// (unbiased), |error| < Δ. Bits per element: b + 64/chunk (two floats per chunk); the ratio vs
/// float32 is 32 / (b + 64/chunk).
///
/// Body after the common header (param = b, flags bit 0 = stochastic, bit 1 = rotated):
/// [u64 rotation seed if rotated] [n_chunks × (f32 min, f32 step)] [packed codes of n elements],
/// n = D, or P = 2^⌈log2 D⌉ when rotated.
#pragma once

#include "fedpp/compression/bit_packing.hpp"
#include "fedpp/compression/detail/finite_bounds.hpp"
#include "fedpp/compression/detail/kernels.hpp"
#include "fedpp/compression/detail/payload_io.hpp"
#include "fedpp/compression/hadamard_rotation.hpp"
#include "fedpp/compression/payload_header.hpp"
#include "fedpp/error.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace fedpp::compression {

namespace detail {
/// Bound on every float the uniform decoder computes for one chunk, for weight 1 and before any
/// inverse rotation: codes decode to min + q·step, q ∈ [0, L], evaluated as a + b·q, so the
/// intermediates are a = min and b·q ≤ L·step, and the results lie between min and
/// min + L·step; rounding_slack covers the roundings, the weight's included.
[[nodiscard]] inline double uniform_chunk_bound(float min, float step, unsigned levels) noexcept {
  const double lo = min, span = static_cast<double>(levels) * static_cast<double>(step);
  return std::max({std::fabs(lo), span, std::fabs(lo + span)}) * rounding_slack;
}
} // namespace detail

/// How a value between two levels picks one.
enum class rounding : std::uint8_t {
  nearest,   ///< deterministic, biased, |error| ≤ step/2
  stochastic ///< unbiased, |error| < step
};

/// Uniform b-bit quantizer; a regular value type (see the file comment for the format).
class uniform_quantizer {
public:
  /// `bits` ∈ {1, 2, 4, 8}; `chunk` elements share a min and step (0 = one for the whole vector).
  explicit uniform_quantizer(unsigned bits = 8, std::uint32_t chunk = 0, rounding mode = rounding::stochastic,
                             bool rotate = false)
      : bits_(bits), chunk_(chunk), mode_(mode), rotate_(rotate) {
    if (bits != 1 && bits != 2 && bits != 4 && bits != 8)
      throw invalid_config("uniform_quantizer: bit width " + std::to_string(bits) +
                           " is not one of 1, 2, 4, 8");
  }

  [[nodiscard]] unsigned bits() const noexcept { return bits_; }
  [[nodiscard]] std::uint32_t chunk() const noexcept { return chunk_; }
  [[nodiscard]] rounding mode() const noexcept { return mode_; }
  [[nodiscard]] bool rotates() const noexcept { return rotate_; }
  [[nodiscard]] static constexpr payload_scheme scheme() noexcept { return payload_scheme::uniform; }

  /// Exact payload bytes for D elements.
  [[nodiscard]] std::size_t payload_bytes(std::size_t d) const noexcept {
    const std::size_t n = rotate_ && d > 1 ? std::bit_ceil(d) : d;
    return payload_header_bytes + (rotate_ ? 8 : 0) + 8 * detail::chunk_count(n, chunk_) +
           packed_bytes(n, bits_);
  }

  /// Appends the payload of `x` to `out`; `seed` drives stochastic rounding and the rotation.
  /// Throws invalid_config for NaN/Inf inputs or a range that overflows float (out unchanged).
  void compress(std::span<const float> x, std::uint64_t seed, std::vector<std::byte>& out) const {
    std::vector<float> rotated;
    std::span<const float> v = x;
    const std::uint64_t rotation_seed = seed ^ 0x726f746174696f6eULL;
    if (rotate_) {
      // Checked before rotating: rotation spreads a NaN everywhere and may overflow finite values.
      if (!detail::all_finite(x.data(), x.size()))
        throw invalid_config("uniform_quantizer: the input holds NaN or Inf");
      const hadamard_rotation rot(x.size(), rotation_seed);
      rotated.resize(rot.padded_size());
      rot.forward(x, rotated);
      v = rotated;
    }
    const std::size_t n = v.size();
    const std::uint64_t chunks = detail::chunk_count(n, chunk_);
    const std::size_t per = chunk_ == 0 ? n : chunk_;
    const auto levels = static_cast<std::uint32_t>((1U << bits_) - 1U);
    const std::size_t start = out.size();
    out.reserve(start + payload_bytes(x.size()));
    detail::byte_writer w(out);
    payload_header{payload_scheme::uniform, static_cast<std::uint8_t>(bits_), flags(), chunk_, x.size()}
        .write(w);
    if (rotate_) w.u64(rotation_seed);
    std::byte* scales_out = w.grow(8 * chunks + packed_bytes(n, bits_));
    std::byte* codes_out = scales_out + 8 * chunks;
    const counter_key key = counter_key::from_seed(seed);
    std::uint8_t codes[detail::code_block];
    // One chunk at a time: its range and finiteness in one read, then its codes while it is still
    // in cache. A bad chunk truncates `out` back to where it was (out unchanged) and throws.
    for (std::uint64_t c = 0; c < chunks; ++c) {
      const std::size_t begin = c * per, end = std::min(n, begin + per);
      const auto range = detail::scan_range(v.data() + begin, end - begin);
      if (!range.finite) {
        out.resize(start);
        throw invalid_config("uniform_quantizer: the input holds NaN or Inf (chunk " + std::to_string(c) +
                             ")");
      }
      const float lo = range.lo, step = (range.hi - range.lo) / static_cast<float>(levels);
      if (!std::isfinite(step)) {
        out.resize(start);
        throw invalid_config("uniform_quantizer: the range [" + std::to_string(range.lo) + ", " +
                             std::to_string(range.hi) + "] of chunk " + std::to_string(c) +
                             " overflows float");
      }
      // What the decoder will compute must stay finite too (it refuses payloads where it would not).
      const double decoded = detail::uniform_chunk_bound(lo, step, levels) *
                             (rotate_ ? hadamard_rotation::intermediate_growth(n) : 1.0);
      if (!(decoded <= detail::float_max)) {
        out.resize(start);
        throw invalid_config(
            "uniform_quantizer: chunk " + std::to_string(c) + " (range [" + detail::show(range.lo) + ", " +
            detail::show(range.hi) + "]) would decode to magnitudes up to " + detail::show(decoded) +
            (rotate_ ? " through the inverse rotation of " + std::to_string(n) + " elements" : "") +
            ", beyond float's largest value " + detail::show(detail::float_max));
      }
      detail::store_le(scales_out + 8 * c, std::bit_cast<std::uint32_t>(lo));
      detail::store_le(scales_out + 8 * c + 4, std::bit_cast<std::uint32_t>(step));
      const float inv = step > 0 ? 1.0F / step : 0.0F;
      // Blocks of code_block elements never straddle a chunk boundary or a 2^32 index block, and
      // (code_block being a multiple of 8) start on a byte boundary of the packed stream.
      for (std::size_t b = begin; b < end;) {
        std::size_t len = std::min(detail::code_block, end - b);
        const std::size_t to_boundary = (std::size_t{1} << 32) - (b & 0xffffffffULL);
        len = std::min(len, to_boundary);
        // 8-bit codes go straight to the output; narrower ones through the stack block.
        auto* dst = bits_ == 8 ? reinterpret_cast<std::uint8_t*>(codes_out) + b : codes;
        // The same block of the next chunk, which the range scan reads next.
        const float* next = b + per + len <= n ? v.data() + b + per : nullptr;
        if (mode_ == rounding::stochastic)
          detail::quantize_codes<true>(v.data() + b, len, lo, inv, levels, key, b, dst, next);
        else
          detail::quantize_codes<false>(v.data() + b, len, lo, inv, levels, key, b, dst, next);
        if (bits_ != 8) {
          if ((b * bits_) % 8 == 0) {
            pack_bits({codes, len}, bits_, {codes_out + b * bits_ / 8, packed_bytes(len, bits_)});
          } else { // a chunk size that is not a multiple of 8/b: merge bits into shared bytes
            for (std::size_t i = 0; i < len; ++i) {
              const std::size_t bit = (b + i) * bits_;
              codes_out[bit / 8] |= static_cast<std::byte>(codes[i] << (bit % 8));
            }
          }
        }
        b += len;
      }
    }
  }

private:
  [[nodiscard]] std::uint8_t flags() const noexcept {
    return static_cast<std::uint8_t>((mode_ == rounding::stochastic ? 1U : 0U) | (rotate_ ? 2U : 0U));
  }

  unsigned bits_;
  std::uint32_t chunk_;
  rounding mode_;
  bool rotate_;
};

namespace detail {

/// Validates a uniform payload and adds weight × its decoded vector to acc. Everything read from
/// the payload is checked before acc is touched: the sizes against the bytes present and the
/// target (before any allocation), every min and step finite with step ≥ 0, and the decoded
/// magnitudes, bounded from those scalars, against float's range (finite_bounds.hpp) — so the
/// per-element loops need no check of their own.
inline void uniform_decode_accumulate(const payload_header& h, byte_reader& r, float weight,
                                      std::span<float> acc) {
  const unsigned bits = h.param;
  if (bits != 1 && bits != 2 && bits != 4 && bits != 8)
    malformed("uniform: bit width " + std::to_string(bits) + " is not one of 1, 2, 4, 8");
  if ((h.flags & ~3U) != 0) malformed("uniform: unknown flags " + std::to_string(h.flags));
  const bool rotated = (h.flags & 2U) != 0;
  const std::uint64_t d = h.size; // ≤ 2^40 (payload_header::read), so nothing below overflows
  const std::uint64_t n = rotated && d > 1 ? std::bit_ceil(d) : d;
  const std::uint64_t chunks = chunk_count(n, h.chunk);
  const std::uint64_t rotation_seed = rotated ? r.u64("rotation seed") : 0;
  const std::uint64_t need = 8 * chunks + (n / 8) * bits + ((n % 8) * bits + 7) / 8;
  if (need != r.remaining())
    malformed("uniform: " + std::to_string(d) + " elements of " + std::to_string(bits) + " bits in " +
              std::to_string(chunks) + " chunks need " + std::to_string(need) +
              " body bytes, the payload has " + std::to_string(r.remaining()));
  check_target(h, acc.size(), "decode_accumulate");
  const std::byte* scales = r.bytes(8 * chunks, "scales").data();
  const auto levels = static_cast<unsigned>((1U << bits) - 1U);
  double bound = 0; // of every decoded magnitude (weight 1, before the inverse rotation)
  for (std::uint64_t c = 0; c < chunks; ++c) {
    const float min = load_le_f32(scales + 8 * c), step = load_le_f32(scales + 8 * c + 4);
    if (!std::isfinite(min) || !std::isfinite(step) || step < 0)
      malformed("uniform: chunk " + std::to_string(c) + " has min " + show(min) + " and step " + show(step) +
                " (must be finite, step >= 0)");
    const double b = uniform_chunk_bound(min, step, levels);
    if (!(b <= float_max))
      malformed("uniform: chunk " + std::to_string(c) + " has min " + show(min) + " and step " + show(step) +
                ": min + " + std::to_string(levels) + "·step reaches " + show(b) +
                " (with rounding), beyond float's largest value " + show(float_max));
    bound = std::max(bound, b);
  }
  if (rotated) {
    const double grown = bound * hadamard_rotation::intermediate_growth(n);
    if (!(grown <= float_max))
      malformed("uniform: the inverse rotation of " + std::to_string(n) +
                " elements sums decoded magnitudes up to " + show(bound) + " into values up to " +
                show(grown) + ", beyond float's largest value " + show(float_max));
    require_headroom("uniform", weight, bound * hadamard_rotation::output_growth(n), acc);
  } else {
    require_headroom("uniform", weight, bound, acc);
  }
  const auto packed = r.bytes(r.remaining(), "codes");
  std::vector<float> rotated_buf;
  std::span<float> target = acc;
  float w = weight;
  if (rotated) {
    rotated_buf.assign(n, 0.0F); // n < 2·acc.size(), checked above
    target = rotated_buf;
    w = 1.0F;
  }
  const std::size_t per = h.chunk == 0 ? n : h.chunk;
  std::uint8_t codes[code_block];
  const auto* bytes8 = reinterpret_cast<const std::uint8_t*>(packed.data());
  for (std::uint64_t c = 0; c < chunks; ++c) {
    const std::size_t begin = c * per, end = std::min<std::size_t>(n, begin + per);
    const float a = w * load_le_f32(scales + 8 * c), b = w * load_le_f32(scales + 8 * c + 4);
    for (std::size_t i = begin; i < end;) {
      const std::size_t len = std::min(code_block, end - i);
      if (bits == 8) {
        dequantize_accumulate(bytes8 + i, len, a, b, target.data() + i);
      } else {
        for (std::size_t j = 0; j < len; ++j) {
          const std::size_t bit = (i + j) * bits;
          codes[j] = static_cast<std::uint8_t>((bytes8[bit / 8] >> (bit % 8)) & ((1U << bits) - 1U));
        }
        dequantize_accumulate(codes, len, a, b, target.data() + i);
      }
      i += len;
    }
  }
  if (rotated) {
    const hadamard_rotation rot(d, rotation_seed);
    std::vector<float> back(d);
    rot.inverse(rotated_buf, back);
    for (std::size_t i = 0; i < d; ++i) acc[i] += weight * back[i];
  }
}

} // namespace detail

} // namespace fedpp::compression
