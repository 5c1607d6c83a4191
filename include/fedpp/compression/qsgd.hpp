/// \file qsgd.hpp
/// QSGD with s levels (Alistarh et al. 2017, "QSGD: Communication-Efficient SGD via Gradient
/// Quantization and Encoding", §3.1): per bucket (chunk) of elements with norm ‖v‖₂,
/// Q(v_i) = ‖v‖₂ · sgn(v_i) · ξ_i / s where ξ_i = ℓ + 1 with probability |v_i|/‖v‖₂·s − ℓ, else ℓ
/// (ℓ = ⌊|v_i|/‖v‖₂·s⌋). Unbiased: E[Q(v)] = v; Var ≤ min(n/s², √n/s)·‖v‖² (Lemma 3.1).
///
/// Encoding (intentional difference from the paper's Elias coding): each element stores the signed
/// level as the code s + sgn·ξ ∈ [0, 2s] in b = ⌈log2(2s + 1)⌉ bits, bit-packed, so the size is
/// exact and known in advance. Body after the common header (param = s, chunk = bucket size):
/// [n_chunks × f32 norm] [packed codes of D elements].
#pragma once

#include "fedpp/compression/bit_packing.hpp"
#include "fedpp/compression/counter_hash.hpp"
#include "fedpp/compression/detail/finite_bounds.hpp"
#include "fedpp/compression/detail/kernels.hpp"
#include "fedpp/compression/detail/payload_io.hpp"
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
/// Bound on every float the QSGD decoder computes for a bucket of norm ‖v‖ (weight 1): a code
/// q ∈ [0, 2s] decodes as a + b·q with b = ‖v‖/s and a = −b·s, so the intermediate b·q reaches
/// 2‖v‖ (the results stay within ±‖v‖); rounding_slack covers the roundings.
[[nodiscard]] inline double qsgd_decode_bound(float norm) noexcept {
  return 2.0 * static_cast<double>(norm) * rounding_slack;
}
} // namespace detail

/// QSGD quantizer with s ∈ [1, 127] levels and bucket size `chunk` (0 = whole vector).
class qsgd {
public:
  explicit qsgd(unsigned levels = 127, std::uint32_t chunk = 0) : levels_(levels), chunk_(chunk) {
    if (levels < 1 || levels > 127)
      throw invalid_config("qsgd: " + std::to_string(levels) + " levels, expected 1..127");
  }

  [[nodiscard]] unsigned levels() const noexcept { return levels_; }
  [[nodiscard]] std::uint32_t chunk() const noexcept { return chunk_; }
  /// Bits per element: ⌈log2(2s + 1)⌉.
  [[nodiscard]] static constexpr unsigned bits_for(unsigned levels) noexcept {
    return static_cast<unsigned>(std::bit_width(2 * levels));
  }
  [[nodiscard]] static constexpr payload_scheme scheme() noexcept { return payload_scheme::qsgd; }
  [[nodiscard]] std::size_t payload_bytes(std::size_t d) const noexcept {
    return payload_header_bytes + 4 * detail::chunk_count(d, chunk_) + packed_bytes(d, bits_for(levels_));
  }

  /// Appends the payload of `x`; `seed` drives the stochastic levels. Throws invalid_config for
  /// NaN/Inf inputs.
  void compress(std::span<const float> x, std::uint64_t seed, std::vector<std::byte>& out) const {
    if (!detail::all_finite(x.data(), x.size())) throw invalid_config("qsgd: the input holds NaN or Inf");
    const std::size_t d = x.size();
    const std::uint64_t chunks = detail::chunk_count(d, chunk_);
    const std::size_t per = chunk_ == 0 ? d : chunk_;
    const unsigned bits = bits_for(levels_);
    std::vector<float> norms(chunks);
    for (std::uint64_t c = 0; c < chunks; ++c) {
      double s = 0;
      for (std::size_t i = c * per; i < std::min(d, (c + 1) * per); ++i) s += double(x[i]) * x[i];
      norms[c] = static_cast<float>(std::sqrt(s));
      if (!std::isfinite(norms[c]))
        throw invalid_config("qsgd: the norm of bucket " + std::to_string(c) + " overflows float");
      if (!(detail::qsgd_decode_bound(norms[c]) <= detail::float_max))
        throw invalid_config("qsgd: the norm " + detail::show(norms[c]) + " of bucket " + std::to_string(c) +
                             " is too large to decode: the decoder's intermediates reach " +
                             detail::show(detail::qsgd_decode_bound(norms[c])) +
                             ", beyond float's largest value");
    }
    out.reserve(out.size() + payload_bytes(d));
    detail::byte_writer w(out);
    payload_header{payload_scheme::qsgd, static_cast<std::uint8_t>(levels_), 1, chunk_, d}.write(w);
    for (float nrm : norms) w.f32(nrm);
    std::byte* packed = w.grow(packed_bytes(d, bits));
    const counter_key key = counter_key::from_seed(seed);
    const auto s = static_cast<float>(levels_);
    std::vector<std::uint8_t> codes(d);
    for (std::uint64_t c = 0; c < chunks; ++c) {
      const float scale = norms[c] > 0 ? s / norms[c] : 0.0F;
      for (std::size_t i = c * per; i < std::min(d, (c + 1) * per); ++i) {
        const float t = std::min(std::fabs(x[i]) * scale + unit_uniform(counter_hash(key, i)), s);
        const auto level = static_cast<int>(t);
        codes[i] = static_cast<std::uint8_t>(static_cast<int>(levels_) + (x[i] < 0 ? -level : level));
      }
    }
    pack_bits(codes, bits, {packed, packed_bytes(d, bits)});
  }

private:
  unsigned levels_;
  std::uint32_t chunk_;
};

namespace detail {

/// Validates a QSGD payload and adds weight × its decoded vector to acc: sizes against the bytes
/// present and the target before any allocation, norms finite ≥ 0 and the decoded magnitudes
/// they bound against float's range (finite_bounds.hpp), every code ≤ 2s — all before acc is touched.
inline void qsgd_decode_accumulate(const payload_header& h, byte_reader& r, float weight,
                                   std::span<float> acc) {
  const unsigned levels = h.param;
  if (levels < 1 || levels > 127) malformed("qsgd: " + std::to_string(levels) + " levels, expected 1..127");
  if (h.flags != 1) malformed("qsgd: unknown flags " + std::to_string(h.flags));
  const unsigned bits = qsgd::bits_for(levels);
  const std::uint64_t d = h.size, chunks = chunk_count(d, h.chunk); // d ≤ 2^40: no overflow below
  const std::uint64_t need = 4 * chunks + (d / 8) * bits + ((d % 8) * bits + 7) / 8;
  if (need != r.remaining())
    malformed("qsgd: " + std::to_string(d) + " elements need " + std::to_string(need) +
              " body bytes, the payload has " + std::to_string(r.remaining()));
  check_target(h, acc.size(), "decode_accumulate");
  const std::byte* norms = r.bytes(4 * chunks, "norms").data();
  double bound = 0;
  for (std::uint64_t c = 0; c < chunks; ++c) {
    const float n = load_le_f32(norms + 4 * c);
    if (!std::isfinite(n) || n < 0)
      malformed("qsgd: bucket " + std::to_string(c) + " has norm " + show(n) + ", not finite >= 0");
    bound = std::max(bound, qsgd_decode_bound(n));
  }
  require_headroom("qsgd", weight, bound, acc);
  std::vector<std::uint8_t> codes(d); // d = acc.size()
  unpack_bits(r.bytes(r.remaining(), "codes"), bits, codes);
  for (std::size_t i = 0; i < d; ++i)
    if (codes[i] > 2 * levels)
      malformed("qsgd: code " + std::to_string(codes[i]) + " of element " + std::to_string(i) +
                " exceeds 2s = " + std::to_string(2 * levels));
  const std::size_t per = h.chunk == 0 ? d : h.chunk;
  for (std::uint64_t c = 0; c < chunks; ++c) {
    const float b = weight * load_le_f32(norms + 4 * c) / static_cast<float>(levels);
    const float a = -b * static_cast<float>(levels);
    dequantize_accumulate(codes.data() + c * per, std::min<std::size_t>(per, d - c * per), a, b,
                          acc.data() + c * per);
  }
}

} // namespace detail
} // namespace fedpp::compression
