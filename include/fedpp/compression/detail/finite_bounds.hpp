/// \file finite_bounds.hpp
/// Why decoding a payload into a float accumulator never makes it infinite or NaN, and the
/// checks that make it so. Used by every decoder and by the aggregators of compressed updates.
///
/// Each decoder bounds, from the payload's few scalars (min/step, norms, scales, largest value)
/// and the weight, the magnitude B of every float its per-element arithmetic produces —
/// intermediates included, with rounding slack — before it touches the accumulator, so the hot
/// loops carry no per-element check. Then:
/// - B ≤ 2^100 (always_safe_increment): safe for any finite accumulator. Float's largest finite
///   value is FLT_MAX = (2 − 2^-23)·2^127 and its spacing there is 2^104, so a rounded sum is
///   infinite only when its exact value reaches FLT_MAX + 2^103 (the tie rounds to even, 2^128).
///   |acc_i| ≤ FLT_MAX and |increment| ≤ 2^100 give an exact sum of at most FLT_MAX + 2^100,
///   which rounds to a finite float — however many payloads are added.
/// - B > 2^100 (a payload with values above ~1.3e30: never an ordinary update): the accumulator
///   is read once for its largest magnitude A, and the payload is refused unless A + B ≤ FLT_MAX
///   (then the exact sum is at most FLT_MAX, up to the 2^75 by which the double test may round,
///   and rounds to a finite float).
/// Compressors refuse inputs whose payload would not decode into a zero accumulator with
/// weight 1 (B > FLT_MAX), so everything they produce decodes.
#pragma once

#include "fedpp/compression/detail/payload_io.hpp"

#include <cfloat>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <span>
#include <string>

namespace fedpp::compression::detail {

/// FLT_MAX as a double.
inline constexpr double float_max = static_cast<double>(FLT_MAX);
/// Increments up to this magnitude keep any finite float finite (see the file comment).
inline constexpr double always_safe_increment = 0x1p100;
/// Relative slack covering the float roundings of a decoder's per-element arithmetic, the
/// weight's multiplication included: up to 15 roundings of relative size 2^-24 each
/// ((1 + 2^-24)^15 < 1 + 2^-20); the decoders need at most four.
inline constexpr double rounding_slack = 1.0 + 0x1p-20;

/// A double for messages: 9 significant digits, exponent form when large or small.
[[nodiscard]] inline std::string show(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

/// Largest |x_i| (0 for an empty span; +Inf when some element is Inf or NaN). Compares the
/// magnitudes' bit patterns, which order like the magnitudes: one vectorizable max reduction.
[[nodiscard]] inline double max_magnitude(std::span<const float> x) noexcept {
  std::uint32_t m = 0;
  for (const float v : x) {
    std::uint32_t b;
    std::memcpy(&b, &v, 4);
    b &= 0x7fffffffU;
    m = b > m ? b : m;
  }
  if (m >= 0x7f800000U) return std::numeric_limits<double>::infinity();
  float f;
  std::memcpy(&f, &m, 4);
  return f;
}

/// Whether adding increments of magnitude ≤ `bound` (rounding included) to every element of the
/// finite accumulator `acc` keeps it finite (see the file comment); `acc_max` receives the
/// accumulator's largest magnitude when it had to be read (−1 otherwise).
[[nodiscard]] inline bool increments_fit(double bound, std::span<const float> acc, double& acc_max) noexcept {
  acc_max = -1;
  if (bound <= always_safe_increment) return true;
  if (!(bound <= float_max)) return false; // also NaN
  acc_max = max_magnitude(acc);
  return acc_max + bound <= float_max;
}

/// Refuses (malformed_message naming the values) a payload whose decoded magnitudes, bounded by
/// `magnitude` for weight 1, times `weight` could make `acc` non-finite.
inline void require_headroom(const char* scheme, double weight, double magnitude,
                             std::span<const float> acc) {
  const double bound = std::fabs(weight) * magnitude;
  double acc_max = -1;
  if (increments_fit(bound, acc, acc_max)) return;
  if (acc_max < 0)
    malformed(std::string(scheme) + ": weight " + show(weight) +
              " times the payload's decoded magnitude bound " + show(magnitude) + " is " + show(bound) +
              ", beyond float's largest value " + show(float_max));
  malformed(std::string(scheme) + ": weight " + show(weight) +
            " times the payload's decoded magnitude bound " + show(magnitude) + " (" + show(bound) +
            ") added to the accumulator's largest magnitude " + show(acc_max) +
            " would exceed float's largest value " + show(float_max));
}

} // namespace fedpp::compression::detail
