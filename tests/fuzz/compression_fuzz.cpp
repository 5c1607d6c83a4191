// Fuzzes the compressed-payload decoders. One source, linked into one harness per decoder: the
// target's mode (compression_mode.cpp.in) fixes the scheme byte of every input, so each harness
// stays on its decoder — float_cast, uniform, hadamard (uniform with the rotation flag forced,
// plus hadamard_rotation::inverse directly), qsgd, sign, sparse, count_sketch.
//
// Input: [ctl u8][weight u8][payload]. ctl bits 0-1: the accumulator's start (zeros, small
// values, values near FLT_MAX, mixed); bit 2: a target one element longer than the payload's D.
// The weight byte picks the weight from a table (tiny, huge, negative, zero, NaN ...).
//
// Invariants (dense schemes): decode_accumulate throws only malformed_message, or invalid_config
// for a non-finite weight or a target of the wrong size, and then leaves the accumulator
// bit-identical; an accepted payload leaves a finite accumulator finite; decode() agrees with
// decode_accumulate into zeros and leaves its output unchanged when it throws;
// compressed_fedavg and majority_vote throw only rejected_update, leave their state unchanged
// when they do, and report finite means. Count sketches: deserialize throws only
// malformed_message (invalid_config for another dimension), an accepted sketch is finite and
// re-serializes to the input bytes, estimates are finite, sketch_aggregator and FetchSGD's
// server hooks refuse only with rejected_update / malformed_message and keep a refused state.
#include "fuzz_common.hpp"

#include "fedpp/compression/compressed_fedavg.hpp"
#include "fedpp/compression/compressed_update.hpp"
#include "fedpp/compression/count_sketch.hpp"
#include "fedpp/compression/decode.hpp"
#include "fedpp/compression/fetchsgd.hpp"
#include "fedpp/compression/hadamard_rotation.hpp"
#include "fedpp/compression/majority_vote.hpp"
#include "fedpp/compression/sketch_aggregator.hpp"

#include <array>
#include <bit>
#include <cfloat>
#include <limits>
#include <optional>

/// The decoder this harness binary targets (defined per target from compression_mode.cpp.in).
extern const int fedpp_fuzz_compression_mode;

namespace {

using namespace fedpp;
using namespace fedpp::compression;

enum mode : int { m_float_cast, m_uniform, m_hadamard, m_qsgd, m_sign, m_sparse, m_count_sketch };
constexpr std::array<const char*, 7> names{"compression_float_cast", "compression_uniform",
                                           "compression_hadamard",   "compression_qsgd",
                                           "compression_sign",       "compression_sparse",
                                           "compression_count_sketch"};
constexpr std::array<payload_scheme, 7> schemes{payload_scheme::float_cast, payload_scheme::uniform,
                                                payload_scheme::uniform,    payload_scheme::qsgd,
                                                payload_scheme::sign,       payload_scheme::sparse,
                                                payload_scheme::count_sketch};
constexpr std::size_t max_dense = std::size_t{1} << 16; // larger D: only the size checks are exercised

const char* harness() { return names[static_cast<std::size_t>(fedpp_fuzz_compression_mode)]; }

constexpr std::array<float, 16> weights{1.0F,  0.5F,    3.0F,     1e-30F, 1e30F,    3e38F,
                                        -1.0F, 0.0F,    -0.0F,    65504.0F, 0x1p32F, 1e-45F,
                                        -2e5F, 7.25F,   std::numeric_limits<float>::quiet_NaN(),
                                        std::numeric_limits<float>::infinity()};
constexpr std::array<double, 8> client_weights{1.0, 600.0, 1e-300, 1e300, 0x1p40, 0.75, 0x1p-40, 5e9};

std::vector<float> start_acc(std::size_t n, unsigned kind) {
  std::vector<float> acc(n, 0.0F);
  for (std::size_t i = 0; i < n; ++i) {
    const float s = (i % 2 == 0) ? 1.0F : -1.0F;
    switch (kind) {
    case 1:
      acc[i] = s * 0.001F * static_cast<float>(i % 97);
      break;
    case 2:
      acc[i] = s * (FLT_MAX - static_cast<float>(i % 3) * 1e31F);
      break;
    case 3:
      acc[i] = (i % 5 == 0) ? s * 1e38F : s * 1e-3F;
      break;
    default:
      break;
    }
  }
  return acc;
}

template <class F>
bool refused_with(F&& f, const char* call, bool& malformed, bool& invalid) {
  malformed = invalid = false;
  try {
    f();
    return false;
  } catch (const malformed_message&) {
    malformed = true;
  } catch (const invalid_config&) {
    invalid = true;
  } catch (...) {
    fuzz::undocumented(harness(), call);
  }
  return true;
}

// --- Dense schemes ----------------------------------------------------------------------------

void check_aggregators(std::span<const std::byte> payload, std::size_t d, std::uint8_t wbyte) {
  model_layout layout;
  layout.add("x", {d});
  compressed_fedavg agg(layout);
  majority_vote vote(layout, 3);
  for (int k = 0; k < 3; ++k) {
    const compressed_update u{static_cast<client_id>(k + 1), client_weights[(wbyte + 3 * k) % client_weights.size()],
                              payload};
    const compressed_fedavg before = agg;
    try {
      agg.accumulate(u);
    } catch (const rejected_update&) {
      if (agg.num_inputs() != before.num_inputs() || agg.total_weight() != before.total_weight() ||
          agg.unit() != before.unit())
        fuzz::fail(harness(), "compressed_fedavg changed its counts when it refused an update");
      if (before.can_report()) {
        compressed_fedavg a = before, b = agg;
        const auto ra = std::move(a).report(), rb = std::move(b).report();
        if (!fuzz::same_bits(ra.span(), rb.span()))
          fuzz::fail(harness(), "compressed_fedavg changed its sum when it refused an update");
      }
    } catch (...) {
      fuzz::undocumented(harness(), "compressed_fedavg::accumulate");
    }
    const std::vector<std::int32_t> votes_before(vote.votes().begin(), vote.votes().end());
    const std::size_t inputs_before = vote.num_inputs();
    try {
      vote.accumulate(u);
    } catch (const rejected_update&) {
      if (vote.num_inputs() != inputs_before ||
          !fuzz::same_bits(vote.votes(), std::span<const std::int32_t>(votes_before)))
        fuzz::fail(harness(), "majority_vote changed when it refused a vote");
    } catch (...) {
      fuzz::undocumented(harness(), "majority_vote::accumulate");
    }
  }
  if (agg.can_report()) {
    const auto mean = std::move(agg).report();
    if (!fuzz::all_finite(std::span<const float>(mean.span())))
      fuzz::fail(harness(), "compressed_fedavg reported a non-finite mean");
  }
  if (vote.can_report()) {
    const auto v = std::move(vote).report();
    for (const float x : v.span())
      if (x != 1.0F && x != -1.0F && x != 0.0F) fuzz::fail(harness(), "majority_vote reported a value not in {-1, 0, 1}");
  }
}

void dense(std::span<const std::byte> payload, std::uint8_t ctl, std::uint8_t wbyte) {
  std::optional<payload_header> h;
  try {
    h = peek_header(payload);
  } catch (const malformed_message&) {
  } catch (...) {
    fuzz::undocumented(harness(), "peek_header");
  }
  const std::uint64_t d = h ? h->size : 0;
  const bool fits = d <= max_dense;
  const bool longer = (ctl & 4) != 0;
  const std::size_t n = fits ? static_cast<std::size_t>(d) + (longer ? 1 : 0) : 7;
  const float w = weights[wbyte % weights.size()];

  std::vector<float> acc = start_acc(n, ctl & 3);
  const std::vector<float> before = acc;
  bool malformed = false, invalid = false;
  const bool refused = refused_with([&] { decode_accumulate(payload, w, acc); }, "decode_accumulate", malformed, invalid);
  if (refused) {
    if (!fuzz::same_bits(std::span<const float>(acc), std::span<const float>(before)))
      fuzz::fail(harness(), "decode_accumulate changed the accumulator and threw");
    if (invalid && std::isfinite(w) && h && d == n)
      fuzz::fail(harness(), "decode_accumulate threw invalid_config for a finite weight and the right size");
  } else {
    if (!std::isfinite(w)) fuzz::fail(harness(), "decode_accumulate accepted a non-finite weight");
    if (!h || d != n) fuzz::fail(harness(), "decode_accumulate accepted a payload of another size");
    if (!fuzz::all_finite(std::span<const float>(acc)))
      fuzz::fail(harness(), "decode_accumulate made a finite accumulator non-finite");
  }
  if (!fits) return;

  // decode() into a D-sized output: unchanged on error, else what decode_accumulate gives into zeros.
  std::vector<float> out(static_cast<std::size_t>(d), 42.0F);
  std::vector<float> zeros(static_cast<std::size_t>(d), 0.0F);
  const bool decode_refused = refused_with([&] { decode(payload, out); }, "decode", malformed, invalid);
  const bool acc_refused =
      refused_with([&] { decode_accumulate(payload, 1.0F, zeros); }, "decode_accumulate(w = 1)", malformed, invalid);
  if (decode_refused != acc_refused) fuzz::fail(harness(), "decode and decode_accumulate disagree on a payload");
  if (decode_refused) {
    for (const float x : out)
      if (x != 42.0F) fuzz::fail(harness(), "decode changed its output and threw");
    return;
  }
  if (!fuzz::same_bits(std::span<const float>(out), std::span<const float>(zeros)))
    fuzz::fail(harness(), "decode differs from decode_accumulate into zeros");
  if (!fuzz::all_finite(std::span<const float>(out))) fuzz::fail(harness(), "decode produced non-finite values");
  if (d > 0) check_aggregators(payload, static_cast<std::size_t>(d), wbyte);
}

// --- Hadamard rotation directly ---------------------------------------------------------------

void hadamard_direct(std::span<const std::byte> body, std::uint8_t wbyte) {
  const std::size_t d = (wbyte % 40) + 1;
  const hadamard_rotation rot(d, wbyte);
  const std::size_t p = rot.padded_size();
  std::vector<float> in(p, 0.0F);
  double largest = 0;
  for (std::size_t i = 0; i < p && 4 * i + 4 <= body.size(); ++i) {
    float v = 0;
    std::memcpy(&v, body.data() + 4 * i, 4);
    if (!std::isfinite(v)) v = 0;
    in[i] = v;
    largest = std::max(largest, std::fabs(static_cast<double>(v)));
  }
  std::vector<float> out(d);
  try {
    rot.inverse(in, out);
  } catch (...) {
    fuzz::undocumented(harness(), "hadamard_rotation::inverse");
  }
  if (largest * hadamard_rotation::intermediate_growth(p) <= compression::detail::float_max) {
    if (!fuzz::all_finite(std::span<const float>(out)))
      fuzz::fail(harness(), "hadamard_rotation::inverse of inputs within its documented bound is not finite");
    // output_growth's relative slack covers the roundings of normal floats; a subnormal result can
    // be off by up to half its spacing (2^-150) per rounding, so an absolute term is added.
    const double absolute = 64.0 * static_cast<double>(std::numeric_limits<float>::denorm_min());
    for (const float x : out)
      if (std::fabs(static_cast<double>(x)) > largest * hadamard_rotation::output_growth(p) + absolute)
        fuzz::fail(harness(), "hadamard_rotation::inverse exceeds output_growth");
  }
}

// --- Count sketches ---------------------------------------------------------------------------

void sketch(std::span<const std::byte> payload, std::uint8_t ctl, std::uint8_t wbyte) {
  std::optional<count_sketch> s;
  try {
    s.emplace(count_sketch::deserialize(payload));
  } catch (const malformed_message&) {
  } catch (...) {
    fuzz::undocumented(harness(), "count_sketch::deserialize");
  }
  // The dimension-checking overload: invalid_config only for another dimension.
  std::optional<payload_header> h;
  try {
    h = peek_header(payload);
  } catch (const malformed_message&) {
  }
  const std::size_t dim = h ? static_cast<std::size_t>(h->size) + ((ctl & 4) ? 1 : 0) : 0;
  bool malformed = false, invalid = false;
  const bool refused =
      refused_with([&] { (void)count_sketch::deserialize(payload, dim); }, "count_sketch::deserialize(dim)", malformed, invalid);
  if (refused && !malformed && !(ctl & 4)) fuzz::fail(harness(), "deserialize(dim) threw invalid_config for the right dimension");
  if (!refused && (ctl & 4)) fuzz::fail(harness(), "deserialize(dim) accepted another dimension");
  if (!refused && !s) fuzz::fail(harness(), "deserialize(dim) accepted what deserialize refused");
  // Count sketches never decode to a dense vector.
  std::vector<float> acc(h && h->size <= max_dense ? static_cast<std::size_t>(h->size) : 1, 0.0F);
  if (!refused_with([&] { decode_accumulate(payload, 1.0F, acc); }, "decode_accumulate(count sketch)", malformed, invalid))
    fuzz::fail(harness(), "decode_accumulate accepted a count sketch");
  if (!s) return;

  if (!fuzz::all_finite(s->table())) fuzz::fail(harness(), "an accepted sketch holds non-finite cells");
  std::vector<std::byte> again;
  s->serialize(again);
  if (!fuzz::same_bits(std::span<const std::byte>(again), payload))
    fuzz::fail(harness(), "an accepted sketch does not re-serialize to its bytes");
  if (s->dimension() > max_dense || s->table().size() > (std::size_t{1} << 20)) return;

  std::vector<float> est(s->dimension());
  s->estimate_all(est);
  if (!fuzz::all_finite(std::span<const float>(est))) fuzz::fail(harness(), "sketch estimates are not finite");

  sketch_aggregator agg(s->rows(), s->columns(), s->dimension(), s->seed());
  for (int k = 0; k < 3; ++k) {
    const sketch_aggregator before = agg;
    try {
      agg.accumulate({static_cast<client_id>(k + 1), client_weights[(wbyte + 3 * k) % client_weights.size()], &*s});
    } catch (const rejected_update&) {
      if (agg.num_inputs() != before.num_inputs()) fuzz::fail(harness(), "sketch_aggregator counted a refused sketch");
      if (before.can_report()) {
        sketch_aggregator a = before, b = agg;
        const auto ra = std::move(a).report(), rb = std::move(b).report();
        if (!fuzz::same_bits(ra.table(), rb.table())) fuzz::fail(harness(), "sketch_aggregator changed when it refused a sketch");
      }
    } catch (...) {
      fuzz::undocumented(harness(), "sketch_aggregator::accumulate");
    }
  }
  if (agg.can_report() && !fuzz::all_finite(std::move(agg).report().table()))
    fuzz::fail(harness(), "sketch_aggregator reported non-finite cells");

  // FetchSGD's server side, through a compressed client_update message.
  if (s->dimension() == 0) return;
  model_layout layout;
  layout.add("x", {s->dimension()});
  fetchsgd_settings settings;
  settings.rows = s->rows();
  settings.columns = s->columns();
  settings.seed = s->seed();
  settings.k = 1 + wbyte % 4;
  settings.momentum = (ctl & 8) ? 0.5F : 0.0F;
  fetchsgd_server_hooks hooks(settings);
  hooks.begin_round({1}, 0);
  const message m = encode_compressed_update(0, 1, layout, payload, 10.0);
  try {
    hooks.absorb_update(wire::decode(m), client_weights[wbyte % client_weights.size()], layout, 0);
  } catch (const rejected_update&) {
  } catch (const malformed_message&) {
  } catch (...) {
    fuzz::undocumented(harness(), "fetchsgd_server_hooks::absorb_update");
  }
  try {
    const auto delta = hooks.finish_aggregate(layout, 0);
    if (delta && !fuzz::all_finite(std::span<const float>(delta->span())))
      fuzz::fail(harness(), "FetchSGD produced a non-finite step");
  } catch (...) {
    fuzz::undocumented(harness(), "fetchsgd_server_hooks::finish_aggregate");
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::reader in(data, size);
  const std::uint8_t ctl = in.u8(), wbyte = in.u8();
  const auto rest = in.rest();
  std::vector<std::byte> payload(rest.begin(), rest.end());
  const int mode = fedpp_fuzz_compression_mode;
  if (!payload.empty()) payload[0] = static_cast<std::byte>(schemes[static_cast<std::size_t>(mode)]);
  if (mode == m_hadamard && payload.size() > 3) payload[3] |= std::byte{2};
  if (mode == m_count_sketch) {
    sketch(payload, ctl, wbyte);
  } else {
    dense(payload, ctl, wbyte);
    if (mode == m_hadamard) hadamard_direct(std::span<const std::byte>(payload).subspan(std::min<std::size_t>(payload.size(), 24)), wbyte);
  }
  return 0;
}
