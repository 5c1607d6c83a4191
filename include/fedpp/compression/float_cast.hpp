/// \file float_cast.hpp
/// The cheapest compression: float32 → IEEE 754 binary16 (fp16) or bfloat16, round to nearest
/// even, 2 bytes per element (ratio 2). fp16 keeps 11 significant bits in [6.1e-5, 65504]
/// (subnormals below); bf16 keeps float's range with 8 significant bits. Values that would
/// overflow to infinity are refused. Lossless for values the format represents exactly.
/// Body after the common header (param = 0 fp16, 1 bf16): D × u16.
#pragma once

#include "fedpp/compression/detail/finite_bounds.hpp"
#include "fedpp/compression/detail/kernels.hpp"
#include "fedpp/compression/detail/payload_io.hpp"
#include "fedpp/compression/payload_header.hpp"
#include "fedpp/error.hpp"

#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace fedpp::compression {

/// The 16-bit format of a float_cast.
enum class half_format : std::uint8_t { fp16 = 0, bf16 = 1 };

/// float → fp16 bits, round to nearest even (|f| ≥ 65520 gives ±inf, NaN stays NaN).
[[nodiscard]] inline std::uint16_t to_fp16(float f) noexcept {
  std::uint32_t x = std::bit_cast<std::uint32_t>(f);
  const auto sign = static_cast<std::uint16_t>((x >> 16) & 0x8000U);
  x &= 0x7fffffffU;
  if (x >= 0x7f800000U) return static_cast<std::uint16_t>(sign | 0x7c00U | (x > 0x7f800000U ? 0x200U : 0U));
  if (x >= 0x477ff000U) return static_cast<std::uint16_t>(sign | 0x7c00U);
  if (x <
      0x38800000U) { // fp16 subnormal: a multiple of 2^-24 (the product is exact, nearbyint rounds to even)
    const auto m = static_cast<std::uint32_t>(std::nearbyint(std::bit_cast<float>(x) * 0x1.0p24F));
    return static_cast<std::uint16_t>(sign | m);
  }
  const std::uint32_t rounded = x + 0xfffU + ((x >> 13) & 1U);
  return static_cast<std::uint16_t>(sign | ((rounded - 0x38000000U) >> 13));
}

/// fp16 bits → float (exact).
[[nodiscard]] inline float from_fp16(std::uint16_t h) noexcept {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000U) << 16;
  const std::uint32_t e = (h >> 10) & 0x1fU, m = h & 0x3ffU;
  if (e == 0) {
    const float v = static_cast<float>(m) * 0x1.0p-24F;
    return sign != 0 ? -v : v;
  }
  if (e == 31) return std::bit_cast<float>(sign | 0x7f800000U | (m << 13));
  return std::bit_cast<float>(sign | ((e + 112) << 23) | (m << 13));
}

/// float → bf16 bits, round to nearest even (NaN stays NaN).
[[nodiscard]] inline std::uint16_t to_bf16(float f) noexcept {
  const std::uint32_t x = std::bit_cast<std::uint32_t>(f);
  if ((x & 0x7fffffffU) > 0x7f800000U) return static_cast<std::uint16_t>((x >> 16) | 0x40U);
  return static_cast<std::uint16_t>((x + 0x7fffU + ((x >> 16) & 1U)) >> 16);
}

/// bf16 bits → float (exact).
[[nodiscard]] inline float from_bf16(std::uint16_t h) noexcept {
  return std::bit_cast<float>(static_cast<std::uint32_t>(h) << 16);
}

/// Casting compressor to fp16 or bf16.
class float_cast {
public:
  explicit float_cast(half_format format = half_format::fp16) : format_(format) {}

  [[nodiscard]] half_format format() const noexcept { return format_; }
  [[nodiscard]] static constexpr payload_scheme scheme() noexcept { return payload_scheme::float_cast; }
  [[nodiscard]] static constexpr std::size_t payload_bytes(std::size_t d) noexcept {
    return payload_header_bytes + 2 * d;
  }

  /// Appends the payload; throws invalid_config (out unchanged) for NaN/Inf or values the format
  /// cannot hold (they would become infinite).
  void compress(std::span<const float> x, std::uint64_t /*seed*/, std::vector<std::byte>& out) const {
    if (!detail::all_finite(x.data(), x.size()))
      throw invalid_config("float_cast: the input holds NaN or Inf");
    const std::size_t start = out.size();
    detail::byte_writer w(out);
    payload_header{payload_scheme::float_cast, static_cast<std::uint8_t>(format_), 0, 0, x.size()}.write(w);
    auto* p = reinterpret_cast<std::uint8_t*>(w.grow(2 * x.size()));
    for (std::size_t i = 0; i < x.size(); ++i) {
      const std::uint16_t h = format_ == half_format::fp16 ? to_fp16(x[i]) : to_bf16(x[i]);
      if ((h & 0x7fffU) >= (format_ == half_format::fp16 ? 0x7c00U : 0x7f80U)) {
        out.resize(start);
        throw invalid_config("float_cast: element " + std::to_string(i) + " = " + std::to_string(x[i]) +
                             " overflows " + (format_ == half_format::fp16 ? "fp16" : "bf16"));
      }
      p[2 * i] = static_cast<std::uint8_t>(h & 0xffU);
      p[2 * i + 1] = static_cast<std::uint8_t>(h >> 8);
    }
  }

private:
  half_format format_;
};

namespace detail {

/// Validates a float_cast payload and adds weight × its values to acc (acc unchanged on error).
/// fp16 and bf16 both encode Inf and NaN (exponent all ones): refused. The largest finite values
/// (65504 and ≈ 3.39e38) fit float, so only the weight can overflow an increment; the largest
/// magnitude comes from the same validation pass (a max over the magnitude bits, which order
/// like the magnitudes).
inline void float_cast_decode_accumulate(const payload_header& h, byte_reader& r, float weight,
                                         std::span<float> acc) {
  if (h.param > 1)
    malformed("float_cast: format " + std::to_string(h.param) + " is not 0 (fp16) or 1 (bf16)");
  if (h.flags != 0 || h.chunk != 0) malformed("float_cast: nonzero flags or chunk");
  if (2 * h.size != r.remaining()) // size ≤ 2^40: no overflow
    malformed("float_cast: " + std::to_string(h.size) + " elements need " + std::to_string(2 * h.size) +
              " body bytes, the payload has " + std::to_string(r.remaining()));
  check_target(h, acc.size(), "decode_accumulate");
  const bool fp16 = h.param == 0;
  const auto* p = reinterpret_cast<const std::uint8_t*>(r.bytes(r.remaining(), "values").data());
  const unsigned inf = fp16 ? 0x7c00U : 0x7f80U;
  unsigned largest = 0; // largest magnitude, as bits
  for (std::size_t i = 0; i < h.size; ++i) {
    const unsigned v = (p[2 * i] | (p[2 * i + 1] << 8U)) & 0x7fffU;
    largest = v > largest ? v : largest;
  }
  if (largest >= inf)
    for (std::size_t i = 0; i < h.size; ++i) {
      const unsigned v = (p[2 * i] | (p[2 * i + 1] << 8U)) & 0x7fffU;
      if (v >= inf)
        malformed(std::string("float_cast: element ") + std::to_string(i) + " is " +
                  (v == inf ? "Inf" : "NaN") + " (" + (fp16 ? "fp16" : "bf16") + " bits " +
                  std::to_string(p[2 * i] | (p[2 * i + 1] << 8U)) + ")");
    }
  const auto top = static_cast<std::uint16_t>(largest);
  // Every increment is fl(weight·value): one rounding.
  require_headroom("float_cast", weight,
                   std::fabs(static_cast<double>(fp16 ? from_fp16(top) : from_bf16(top))) * rounding_slack,
                   acc);
  for (std::size_t i = 0; i < h.size; ++i) {
    const auto v = static_cast<std::uint16_t>(p[2 * i] | (p[2 * i + 1] << 8));
    acc[i] += weight * (fp16 ? from_fp16(v) : from_bf16(v));
  }
}

} // namespace detail
} // namespace fedpp::compression
