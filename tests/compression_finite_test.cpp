// Compressed payloads never make anything non-finite: every decoder refuses (malformed_message,
// accumulator unchanged) a payload whose decoded values — or weight × those values, added to
// what the accumulator holds — would overflow float; the aggregators of compressed updates
// (compressed_fedavg, majority_vote, sketch_aggregator) keep finite sums for any finite weight
// > 0 and refuse what would overflow them; compressors refuse inputs whose payload would not
// decode. Fixed seeds throughout.
#include "fedpp/compression/compression.hpp"
#include "fedpp/random/rng.hpp"

#include <gtest/gtest.h>

#include <bit>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace fc = fedpp::compression;

namespace {

constexpr float inf = std::numeric_limits<float>::infinity();

std::vector<float> values(std::size_t n, std::uint64_t seed) {
  fedpp::rng g(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>(g.uniform() * 2 - 1);
  return v;
}

template <class C>
std::vector<std::byte> payload(const C& c, std::span<const float> x, std::uint64_t seed = 5) {
  std::vector<std::byte> p;
  c.compress(x, seed, p);
  return p;
}

// A payload header followed by nothing yet.
std::vector<std::byte> header(fc::payload_scheme scheme, std::uint8_t param, std::uint8_t flags,
                              std::uint32_t chunk, std::uint64_t size) {
  std::vector<std::byte> p;
  fc::detail::byte_writer w(p);
  fc::payload_header{scheme, param, flags, chunk, size}.write(w);
  return p;
}

bool all_finite(std::span<const float> x) {
  for (float v : x)
    if (!std::isfinite(v)) return false;
  return true;
}

// Decoding must throw malformed_message whose text contains `needle`, and leave acc bit-for-bit unchanged.
void expect_refused(std::span<const std::byte> p, float weight, std::vector<float> acc,
                    const std::string& needle) {
  const auto before = acc;
  try {
    fc::decode_accumulate(p, weight, acc);
    ADD_FAILURE() << "not refused; acc[0] = " << acc[0] << " (expected a message with '" << needle << "')";
  } catch (const fedpp::malformed_message& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
  for (std::size_t i = 0; i < acc.size(); ++i)
    ASSERT_EQ(std::bit_cast<std::uint32_t>(acc[i]), std::bit_cast<std::uint32_t>(before[i])) << i;
}

} // namespace

// The case from the issue: min and step finite, min + 255·step = +Inf, in 97 bytes.
TEST(CompressionFinite, UniformRefusesLevelsBeyondFloat) {
  auto p = header(fc::payload_scheme::uniform, 8, 0, 0, 73);
  fc::detail::byte_writer w(p);
  w.f32(1e38F); // min
  w.f32(1e37F); // step: min + 255·step ≈ 2.6e39
  for (int i = 0; i < 73; ++i) w.u8(255);
  ASSERT_EQ(p.size(), 97U);
  expect_refused(p, 1.0F, std::vector<float>(73, 0.0F), "min + 255·step reaches");
  // A step that keeps the top level finite is accepted and decodes.
  auto ok = header(fc::payload_scheme::uniform, 8, 0, 0, 73);
  fc::detail::byte_writer w2(ok);
  w2.f32(-1e38F);
  w2.f32(1e36F); // min + 255·step = 1.55e38
  for (int i = 0; i < 73; ++i) w2.u8(static_cast<std::uint8_t>(i));
  std::vector<float> acc(73, 0.0F);
  fc::decode_accumulate(ok, 1.0F, acc);
  EXPECT_TRUE(all_finite(acc));
  EXPECT_FLOAT_EQ(acc[72], -1e38F + 72 * 1e36F);
}

// A rotated payload whose every rotated value is 1e36: finite, but the inverse rotation of
// P = 1024 elements sums them to 1024e36 before scaling — beyond float.
TEST(CompressionFinite, UniformRefusesRotationsThatOverflow) {
  const std::size_t d = 1024;
  auto p = header(fc::payload_scheme::uniform, 8, 2, 0, d);
  fc::detail::byte_writer w(p);
  w.u64(7); // rotation seed
  w.f32(1e36F);
  w.f32(0.0F);
  for (std::size_t i = 0; i < d; ++i) w.u8(0);
  expect_refused(p, 1.0F, std::vector<float>(d, 0.0F), "inverse rotation of 1024 elements");
  // 1e34 per rotated value: the sums stay below 1.1e37, accepted, and the output is finite.
  auto ok = p;
  for (int b = 0; b < 4; ++b)
    ok[16 + 8 + static_cast<std::size_t>(b)] =
        static_cast<std::byte>((std::bit_cast<std::uint32_t>(1e34F) >> (8 * b)) & 0xffU);
  std::vector<float> acc(d, 0.0F);
  fc::decode_accumulate(ok, 1.0F, acc);
  EXPECT_TRUE(all_finite(acc));
}

// QSGD decodes a + b·q with q up to 2s: a norm above FLT_MAX/2 overflows the intermediate.
TEST(CompressionFinite, QsgdRefusesNormsTooLargeToDecode) {
  auto p = header(fc::payload_scheme::qsgd, 1, 1, 0, 8); // s = 1: 2-bit codes 0..2
  fc::detail::byte_writer w(p);
  w.f32(2e38F); // norm
  w.u8(0xaa);   // codes 2, 2, 2, 2
  w.u8(0xaa);
  expect_refused(p, 1.0F, std::vector<float>(8, 0.0F),
                 "qsgd: weight 1 times the payload's decoded magnitude bound");
  // And the compressor refuses the input that would produce it.
  std::vector<std::byte> out;
  EXPECT_THROW(fc::qsgd(1).compress(std::vector<float>{2e38F, 0, 0}, 1, out), fedpp::invalid_config);
  EXPECT_TRUE(out.empty());
}

// Each scheme's largest decoded value fits float, but weight × it does not: refused, for every
// scheme; the same payload with weight 1 decodes.
TEST(CompressionFinite, WeightTimesDecodedValuesMustFitFloat) {
  std::vector<float> big(64, 0.0F), positive(64, 0.0F);
  for (std::size_t i = 0; i < big.size(); ++i) {
    positive[i] = 1e38F * (1.0F + 0.01F * static_cast<float>(i));
    big[i] = (i % 2 == 0 ? 1.0F : -1.0F) * positive[i];
  }
  big[5] = positive[5] = 3e38F;
  const std::vector<std::vector<std::byte>> ps{
      payload(fc::float_cast(fc::half_format::bf16), big), payload(fc::uniform_quantizer(8, 16), positive),
      payload(fc::qsgd(7, 1), std::vector<float>(64, 1.5e38F)), payload(fc::sign_compressor(true, 8), big),
      payload(fc::sparsifier::top_k(3), big)};
  for (const auto& p : ps) {
    const auto scheme = fc::to_string(fc::peek_header(p).scheme);
    expect_refused(p, 3.0F, std::vector<float>(64, 0.0F), std::string(scheme) + ": weight 3 times");
    std::vector<float> acc(64, 0.0F);
    fc::decode_accumulate(p, 1.0F, acc); // decodes alone
    EXPECT_TRUE(all_finite(acc)) << scheme;
  }
  // fp16 (largest 65504) and unscaled signs (±1) overflow only with absurd weights.
  expect_refused(payload(fc::float_cast(fc::half_format::fp16), std::vector<float>(64, 60000.0F)), 1e34F,
                 std::vector<float>(64, 0.0F), "float_cast: weight");
  expect_refused(payload(fc::sign_compressor(false), values(64, 2)), FLT_MAX, std::vector<float>(64, 0.0F),
                 "sign: weight");
}

// Values and weight that fit, added to an accumulator already near float's limit: refused with
// the accumulator's magnitude in the message; into a modest accumulator: accepted.
TEST(CompressionFinite, AccumulatorHeadroomIsChecked) {
  const std::vector<float> x(32, 2e38F);
  for (const auto& p :
       {payload(fc::float_cast(fc::half_format::bf16), x), payload(fc::sparsifier::top_k(4), x),
        payload(fc::sign_compressor(true), x), payload(fc::uniform_quantizer(4), x)}) {
    std::vector<float> acc(32, 1.0F);
    acc[9] = -2e38F;
    acc[17] = 2e38F;
    expect_refused(p, 1.0F, acc, "added to the accumulator's largest magnitude");
    std::vector<float> modest(32, -1e37F);
    fc::decode_accumulate(p, 1.0F, modest);
    EXPECT_TRUE(all_finite(modest));
  }
}

// The fast path's claim (finite_bounds.hpp): increments up to 2^100 never overflow a finite
// accumulator, however many are added — here 2^99-sized values onto ±FLT_MAX, 200 times.
TEST(CompressionFinite, SmallIncrementsSaturateInsteadOfOverflowing) {
  std::vector<float> x(16, 0x1p99F);
  x[3] = -0x1p99F;
  const auto p = payload(fc::float_cast(fc::half_format::bf16), x);
  std::vector<float> acc(16, FLT_MAX);
  acc[3] = -FLT_MAX;
  for (int k = 0; k < 200; ++k) fc::decode_accumulate(p, 1.0F, acc);
  for (float v : acc) EXPECT_EQ(std::fabs(v), FLT_MAX);
}

TEST(CompressionFinite, HalfFloatInfAndNaNAreRefused) {
  for (const unsigned bits : {0x7c00U, 0xfc00U, 0x7e00U, 0x7c01U}) { // fp16 +Inf, −Inf, NaN, sNaN
    auto p = header(fc::payload_scheme::float_cast, 0, 0, 0, 3);
    fc::detail::byte_writer w(p);
    w.u16(0x3c00); // 1.0
    w.u16(static_cast<std::uint16_t>(bits));
    w.u16(0x3c00);
    expect_refused(p, 1.0F, std::vector<float>(3, 0.0F), "element 1 is");
  }
  for (const unsigned bits : {0x7f80U, 0xff80U, 0x7fc0U}) { // bf16 +Inf, −Inf, NaN
    auto p = header(fc::payload_scheme::float_cast, 1, 0, 0, 2);
    fc::detail::byte_writer w(p);
    w.u16(static_cast<std::uint16_t>(bits));
    w.u16(0x3f80);
    expect_refused(p, 1.0F, std::vector<float>(2, 0.0F), "element 0 is");
  }
}

TEST(CompressionFinite, NonFiniteWeightIsRefused) {
  const auto p = payload(fc::uniform_quantizer(8), values(10, 3));
  for (const float w : {std::numeric_limits<float>::quiet_NaN(), inf, -inf}) {
    std::vector<float> acc(10, 0.5F);
    EXPECT_THROW(fc::decode_accumulate(p, w, acc), fedpp::invalid_config) << w;
    for (float v : acc) EXPECT_EQ(v, 0.5F);
  }
}

// Compressors refuse inputs whose payload would not decode into a zero accumulator (or that
// would carry Inf): what they produce always decodes.
TEST(CompressionFinite, CompressorsRefuseWhatWouldNotDecode) {
  std::vector<std::byte> out{std::byte{42}};
  // random-k scales kept values by D/k = 100: 1e37 becomes 1e39.
  EXPECT_THROW(fc::sparsifier::random_fraction(0.01).compress(std::vector<float>(1000, 1e37F), 3, out),
               fedpp::invalid_config);
  // a range of exactly FLT_MAX: the step is finite, min + 255·step is not (with rounding)
  EXPECT_THROW(fc::uniform_quantizer(8).compress(std::vector<float>{-FLT_MAX / 2, FLT_MAX / 2}, 1, out),
               fedpp::invalid_config);
  // rotated: the rotated values (~1e36) are fine, the decoder's inverse sums over P = 1024 are not
  EXPECT_THROW(fc::uniform_quantizer(8, 0, fc::rounding::nearest, true)
                   .compress(std::vector<float>(1024, 2e35F), 1, out),
               fedpp::invalid_config);
  EXPECT_THROW(fc::sign_compressor(true).compress(std::vector<float>(8, FLT_MAX), 1, out),
               fedpp::invalid_config);
  EXPECT_THROW(fc::sketch_compressor(1, 64, 1).compress(std::vector<float>(4096, 3e38F), 1, out),
               fedpp::invalid_config);
  ASSERT_EQ(out.size(), 1U); // unchanged by every refusal
  // Inputs just inside the limits compress and decode.
  for (const auto& p :
       {payload(fc::uniform_quantizer(8), std::vector<float>{-1e38F, 1e38F}),
        payload(fc::uniform_quantizer(8, 0, fc::rounding::nearest, true), std::vector<float>(1024, 1e32F)),
        payload(fc::sparsifier::random_fraction(0.01), std::vector<float>(1000, 1e36F))}) {
    std::vector<float> acc(fc::peek_header(p).size, 0.0F);
    fc::decode_accumulate(p, 1.0F, acc);
    EXPECT_TRUE(all_finite(acc));
  }
}

// ---- compressed_fedavg ----

namespace {
fedpp::model_layout layout_of(std::size_t n) {
  fedpp::model_layout layout;
  layout.add("w", fedpp::tensor_shape{n});
  return layout;
}
std::vector<float> decoded(std::span<const std::byte> p, std::size_t n) {
  std::vector<float> out(n);
  fc::decode(p, out);
  return out;
}
std::vector<float> report(fc::compressed_fedavg a) {
  const auto m = std::move(a).report();
  return {m.span().begin(), m.span().end()};
}
} // namespace

// The case: weight 1e39 was cast to float (Inf) and poisoned the mean.
TEST(CompressionFinite, CompressedFedavgTakesAnyFiniteWeight) {
  const auto layout = layout_of(100);
  const auto p1 = payload(fc::uniform_quantizer(8, 32), values(100, 11));
  const auto p2 = payload(fc::qsgd(15, 10), values(100, 12));
  const auto d1 = decoded(p1, 100), d2 = decoded(p2, 100);
  {
    fc::compressed_fedavg a(layout);
    a.accumulate({1, 1e39, p1});
    const auto mean = report(std::move(a));
    for (std::size_t i = 0; i < 100; ++i) EXPECT_EQ(mean[i], d1[i]) << i;
  }
  // Weights whose sum overflows double (1e308 + 1.5e308), and pairs 1e300 apart.
  const std::vector<std::pair<double, double>> pairs{
      {1e308, 1.5e308}, {1e-300, 3e-300}, {2.0, 6e300}, {4e300, 1e-10}};
  for (const auto& [w1, w2] : pairs) {
    fc::compressed_fedavg a(layout);
    a.accumulate({1, w1, p1});
    a.accumulate({2, w2, p2});
    const auto mean = report(std::move(a));
    for (std::size_t i = 0; i < 100; ++i) {
      const double r = w2 / w1; // the shares w1/(w1 + w2) and w2/(w1 + w2), without overflowing
      const double expect = d1[i] / (1 + r) + d2[i] * (r / (1 + r));
      ASSERT_NEAR(mean[i], expect, 1e-6) << w1 << " " << w2 << " " << i;
    }
  }
}

// Ordinary weights: the same mean as before the relative-weight bookkeeping, whatever the order.
TEST(CompressionFinite, CompressedFedavgOrderAndUnitsDoNotMatter) {
  const auto layout = layout_of(300);
  std::vector<std::vector<std::byte>> ps;
  for (int k = 0; k < 5; ++k) ps.push_back(payload(fc::uniform_quantizer(4, 64), values(300, 40 + k)));
  const double w[] = {600, 1, 5e9, 37, 2e-3};
  std::vector<double> expect(300, 0.0);
  double total = 0;
  for (int k = 0; k < 5; ++k) total += w[k];
  for (int k = 0; k < 5; ++k) {
    const auto d = decoded(ps[static_cast<std::size_t>(k)], 300);
    for (std::size_t i = 0; i < 300; ++i) expect[i] += w[k] / total * d[i];
  }
  for (const auto& order :
       {std::vector<int>{0, 1, 2, 3, 4}, std::vector<int>{4, 3, 2, 1, 0}, std::vector<int>{1, 4, 0, 2, 3}}) {
    fc::compressed_fedavg a(layout);
    for (int k : order)
      a.accumulate({static_cast<fedpp::client_id>(k), w[k], ps[static_cast<std::size_t>(k)]});
    const auto mean = report(std::move(a));
    for (std::size_t i = 0; i < 300; ++i) ASSERT_NEAR(mean[i], expect[i], 2e-6) << i;
  }
  // Split in two partial aggregates with units 1e-3 and 5e9 apart, merged: the same mean.
  fc::compressed_fedavg a(layout), b(layout);
  a.accumulate({4, w[4], ps[4]});
  a.accumulate({1, w[1], ps[1]});
  b.accumulate({2, w[2], ps[2]});
  b.accumulate({0, w[0], ps[0]});
  b.accumulate({3, w[3], ps[3]});
  a.merge(std::move(b));
  EXPECT_EQ(a.num_inputs(), 5U);
  const auto mean = report(std::move(a));
  for (std::size_t i = 0; i < 300; ++i) ASSERT_NEAR(mean[i], expect[i], 2e-6) << i;
}

// Two payloads of 3e38 each fit alone but not summed: the second is refused, the state unchanged.
TEST(CompressionFinite, CompressedFedavgRefusesWhatWouldOverflowItsSum) {
  const auto layout = layout_of(8);
  std::vector<float> x(8, 3e38F);
  x[2] = -1.0F;
  const auto p = payload(fc::float_cast(fc::half_format::bf16), x);
  const auto small = payload(fc::float_cast(fc::half_format::bf16), values(8, 3));
  fc::compressed_fedavg a(layout);
  a.accumulate({1, 2.0, p});
  try {
    a.accumulate({2, 2.0, p});
    ADD_FAILURE() << "not refused";
  } catch (const fedpp::rejected_update& e) {
    EXPECT_EQ(e.reason(), fedpp::rejection_reason::malformed);
    EXPECT_EQ(e.client(), 2U);
  }
  EXPECT_EQ(a.num_inputs(), 1U);
  EXPECT_EQ(a.total_weight(), 1.0);
  // Bad weights: refused as such.
  for (const double w :
       {0.0, -1.0, std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity()}) {
    try {
      a.accumulate({3, w, small});
      ADD_FAILURE() << "weight " << w << " not refused";
    } catch (const fedpp::rejected_update& e) {
      EXPECT_EQ(e.reason(), fedpp::rejection_reason::bad_weight);
    }
  }
  // Merging two such aggregates overflows: refused, both unchanged.
  fc::compressed_fedavg b(layout);
  b.accumulate({4, 5.0, p});
  EXPECT_THROW(a.merge(std::move(b)), fedpp::invalid_config);
  EXPECT_EQ(a.num_inputs(), 1U);
  const auto mean = report(std::move(a));
  const auto d = decoded(p, 8);
  for (std::size_t i = 0; i < 8; ++i) EXPECT_EQ(mean[i], d[i]);
}

// ---- majority_vote ----

TEST(CompressionFinite, MajorityVoteCountsExactlyAndRefusesBeyondItsLimit) {
  const auto layout = layout_of(5);
  const auto up = payload(fc::sign_compressor(false), std::vector<float>{1, -1, 1, -1, 1});
  const auto down = payload(fc::sign_compressor(false), std::vector<float>{-1, -1, 1, 1, 1});
  fc::majority_vote v(layout, 3);
  v.accumulate({0, 1.0, up});
  v.accumulate({1, 600.0, down});
  for (const double w :
       {0.0, std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity()}) {
    try {
      v.accumulate({2, w, up});
      ADD_FAILURE() << "weight " << w << " not refused";
    } catch (const fedpp::rejected_update& e) {
      EXPECT_EQ(e.reason(), fedpp::rejection_reason::bad_weight);
    }
  }
  v.accumulate({2, 1.0, up});
  EXPECT_THROW(v.accumulate({3, 1.0, down}), fedpp::rejected_update); // a 4th vote: beyond max_votes 3
  EXPECT_EQ(v.num_inputs(), 3U);
  EXPECT_EQ(std::vector<std::int32_t>(v.votes().begin(), v.votes().end()),
            (std::vector<std::int32_t>{1, -3, 3, -1, 3}));
  fc::majority_vote other(layout, 3);
  other.accumulate({5, 1.0, down});
  EXPECT_THROW(v.merge(std::move(other)), fedpp::invalid_config);
  EXPECT_EQ(v.num_inputs(), 3U);
  EXPECT_THROW(fc::majority_vote(layout, 0), fedpp::invalid_config);
  EXPECT_THROW(fc::majority_vote(layout, fc::majority_vote::vote_limit + 1), fedpp::invalid_config);
  const auto r = std::move(v).report();
  EXPECT_EQ(std::vector<float>(r.span().begin(), r.span().end()), (std::vector<float>{1, -1, 1, -1, 1}));
}

// ---- count sketches ----

TEST(CompressionFinite, SketchEstimateOfEvenRowsDoesNotOverflow) {
  fc::count_sketch s(2, 64, 1, 9);
  s.insert(std::vector<float>{3e38F});
  EXPECT_EQ(s.estimate(0), 3e38F); // the mean of the two middle estimates, 3e38 and 3e38
}

TEST(CompressionFinite, SketchAggregatorTakesAnyFiniteWeightAndRefusesOverflow) {
  const std::size_t d = 500;
  fc::count_sketch a(3, 128, d, 4), b(3, 128, d, 4);
  a.insert(values(d, 1));
  b.insert(values(d, 2));
  const std::vector<std::pair<double, double>> pairs{{1e39, 1e39}, {1e308, 1.5e308}, {1e-300, 2.0}};
  for (const auto& [wa, wb] : pairs) {
    fc::sketch_aggregator agg(3, 128, d, 4);
    agg.accumulate({0, wa, &a});
    agg.accumulate({1, wb, &b});
    const auto mean = std::move(agg).report();
    for (std::size_t i = 0; i < mean.table().size(); ++i) {
      const double r = wb / wa; // the shares, without overflowing wa + wb
      const double expect = a.table()[i] / (1 + r) + b.table()[i] * (r / (1 + r));
      ASSERT_NEAR(mean.table()[i], expect, 1e-5) << wa << " " << wb << " " << i;
    }
  }
  // Cells of 3e38 twice: the second is refused, the sum unchanged.
  fc::count_sketch huge(3, 128, d, 4);
  std::vector<float> one(d, 0.0F);
  one[7] = 3e38F;
  huge.insert(one);
  fc::sketch_aggregator agg(3, 128, d, 4);
  agg.accumulate({0, 1.0, &huge});
  try {
    agg.accumulate({1, 1.0, &huge});
    ADD_FAILURE() << "not refused";
  } catch (const fedpp::rejected_update& e) {
    EXPECT_EQ(e.reason(), fedpp::rejection_reason::non_finite);
  }
  EXPECT_THROW(agg.accumulate({1, std::numeric_limits<double>::quiet_NaN(), &a}), fedpp::rejected_update);
  EXPECT_EQ(agg.num_inputs(), 1U);
  fc::sketch_aggregator other(3, 128, d, 4);
  other.accumulate({2, 1.0, &huge});
  EXPECT_THROW(agg.merge(std::move(other)), fedpp::invalid_config);
  const auto mean = std::move(agg).report();
  for (std::size_t i = 0; i < mean.table().size(); ++i) EXPECT_EQ(mean.table()[i], huge.table()[i]);
}

TEST(CompressionFinite, SketchDeserializeChecksTheDimensionFirst) {
  fc::count_sketch s(2, 64, 100, 1);
  std::vector<std::byte> p;
  s.serialize(p);
  EXPECT_THROW((void)fc::count_sketch::deserialize(p, 99), fedpp::invalid_config);
  EXPECT_EQ(fc::count_sketch::deserialize(p, 100).dimension(), 100U);
}
