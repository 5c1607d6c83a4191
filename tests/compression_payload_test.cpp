// Compressed payloads on the wire: exact sizes, the compressed client_update message, the
// aggregators (compressed FedAvg, majority vote, sketch sums) and every corrupt-payload case.
#include "fedpp/compression/compression.hpp"
#include "fedpp/random/rng.hpp"
#include "fedpp/transport/wire_format.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <vector>

namespace fc = fedpp::compression;

namespace {

std::vector<float> values(std::size_t n, std::uint64_t seed) {
  fedpp::rng g(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>(g.uniform() * 2 - 1);
  return v;
}

template <class C>
std::vector<std::byte> payload(const C& c, std::span<const float> x) {
  std::vector<std::byte> p;
  c.compress(x, 5, p);
  return p;
}

std::vector<std::vector<std::byte>> all_payloads(std::span<const float> x) {
  return {payload(fc::float_cast(fc::half_format::fp16), x),
          payload(fc::float_cast(fc::half_format::bf16), x),
          payload(fc::uniform_quantizer(8, 64), x),
          payload(fc::uniform_quantizer(2, 0), x),
          payload(fc::uniform_quantizer(4, 0, fc::rounding::stochastic, true), x),
          payload(fc::qsgd(7, 50), x),
          payload(fc::sign_compressor(true, 30), x),
          payload(fc::sign_compressor(false), x),
          payload(fc::sparsifier::top_fraction(0.05), x),
          payload(fc::sparsifier::top_fraction(0.6), x)};
}

// Decoding must throw malformed_message and leave the accumulator bit-for-bit unchanged.
void expect_malformed(std::span<const std::byte> p, std::size_t d, const char* what) {
  std::vector<float> acc(d, 0.25F);
  EXPECT_THROW(fc::decode_accumulate(p, 1.0F, acc), fedpp::malformed_message) << what;
  for (float v : acc) ASSERT_EQ(v, 0.25F) << what;
}

void set_u64(std::vector<std::byte>& p, std::size_t at, std::uint64_t v) {
  for (int i = 0; i < 8; ++i)
    p[at + static_cast<std::size_t>(i)] = static_cast<std::byte>((v >> (8 * i)) & 0xff);
}
void set_u32(std::vector<std::byte>& p, std::size_t at, std::uint32_t v) {
  for (int i = 0; i < 4; ++i)
    p[at + static_cast<std::size_t>(i)] = static_cast<std::byte>((v >> (8 * i)) & 0xff);
}

} // namespace

TEST(CompressionPayload, SizesAreExactAndPredicted) {
  const auto x = values(1001, 1);
  EXPECT_EQ(payload(fc::uniform_quantizer(8, 64), x).size(),
            fc::uniform_quantizer(8, 64).payload_bytes(1001));
  EXPECT_EQ(payload(fc::uniform_quantizer(4, 0, fc::rounding::nearest, true), x).size(),
            fc::uniform_quantizer(4, 0, fc::rounding::nearest, true).payload_bytes(1001));
  EXPECT_EQ(payload(fc::qsgd(7, 50), x).size(), fc::qsgd(7, 50).payload_bytes(1001));
  EXPECT_EQ(payload(fc::sign_compressor(true, 30), x).size(),
            fc::sign_compressor(true, 30).payload_bytes(1001));
  EXPECT_EQ(payload(fc::float_cast(), x).size(), fc::float_cast::payload_bytes(1001));
}

TEST(CompressionPayload, EveryTruncationIsMalformed) {
  const auto x = values(203, 2);
  for (const auto& p : all_payloads(x))
    for (std::size_t n = 0; n < p.size(); ++n) expect_malformed(std::span(p).first(n), x.size(), "truncated");
  fc::count_sketch s(3, 128, 203, 1);
  s.insert(x);
  std::vector<std::byte> sp;
  s.serialize(sp);
  for (std::size_t n = 0; n < sp.size(); ++n)
    EXPECT_THROW((void)fc::count_sketch::deserialize(std::span(sp).first(n)), fedpp::malformed_message);
}

TEST(CompressionPayload, TrailingBytesAreMalformed) {
  const auto x = values(100, 3);
  for (auto p : all_payloads(x)) {
    p.push_back(std::byte{0});
    expect_malformed(p, x.size(), "trailing byte");
  }
}

TEST(CompressionPayload, HeaderCorruptions) {
  const auto x = values(100, 4);
  auto p = payload(fc::uniform_quantizer(8), x);
  auto bad = p;
  bad[0] = std::byte{99};
  expect_malformed(bad, 100, "unknown scheme");
  bad = p;
  bad[1] = std::byte{2};
  expect_malformed(bad, 100, "version");
  bad = p;
  bad[2] = std::byte{3};
  expect_malformed(bad, 100, "wrong bit width");
  bad = p;
  bad[2] = std::byte{4}; // a valid width but the body no longer matches
  expect_malformed(bad, 100, "bit width vs body");
  bad = p;
  bad[3] = std::byte{0x80};
  expect_malformed(bad, 100, "unknown flag");
  bad = p;
  set_u64(bad, 8, std::uint64_t{1} << 62);
  expect_malformed(bad, 100, "absurd element count");
  bad = p;
  set_u64(bad, 8, 101);
  expect_malformed(bad, 100, "element count vs body");
  bad = p;
  set_u32(bad, 16 + 4, 0x7fc00000U); // NaN step
  expect_malformed(bad, 100, "NaN scale");
  bad = p;
  set_u32(bad, 16 + 4, 0xbf800000U); // step -1
  expect_malformed(bad, 100, "negative step");
  // a well-formed payload for another model size is a usage error, also without mutation
  std::vector<float> acc(99, 0.5F);
  EXPECT_THROW(fc::decode_accumulate(p, 1.0F, acc), fedpp::invalid_config);
  for (float v : acc) EXPECT_EQ(v, 0.5F);
}

TEST(CompressionPayload, QsgdCodeAboveTwoSIsMalformed) {
  const auto x = values(10, 5);
  auto p = payload(fc::qsgd(2), x); // 3-bit codes 0..4
  p[16 + 4] = std::byte{0x07};      // first code 7 > 4
  expect_malformed(p, 10, "qsgd code");
}

TEST(CompressionPayload, SparseIndexCorruptions) {
  std::vector<float> x(1000, 0.0F);
  x[10] = 5;
  x[20] = -4;
  x[990] = 3;
  const auto p = payload(fc::sparsifier::top_k(3), x); // varints: 10, 10, 970
  ASSERT_EQ(fc::peek_header(p).param, 0);
  const std::size_t k_at = 16, n_at = 24, v_at = 32;
  auto bad = p;
  set_u64(bad, k_at, 1001);
  expect_malformed(bad, 1000, "k > D");
  bad = p;
  set_u64(bad, k_at, std::uint64_t{1} << 60);
  expect_malformed(bad, 1000, "absurd k");
  bad = p;
  bad[v_at + 1] = std::byte{0};
  expect_malformed(bad, 1000, "non-increasing index (gap 0)");
  bad = p;
  set_u64(bad, n_at, 1000000);
  expect_malformed(bad, 1000, "varint byte count beyond the payload");
  // out of range: make the last gap 0x7f | (0x7f << 7) > D
  bad = p;
  bad[v_at + 2] = std::byte{0xff};
  bad[v_at + 3] = std::byte{0x7f};
  expect_malformed(bad, 1000, "out-of-range index");
  // NaN value
  bad = p;
  set_u32(bad, bad.size() - 4, 0x7fc00000U);
  expect_malformed(bad, 1000, "NaN value");
  // overlong varint (11 continuation bytes)
  std::vector<std::byte> ov(p.begin(), p.begin() + 32);
  set_u64(ov, n_at, 11);
  for (int i = 0; i < 10; ++i) ov.push_back(std::byte{0x80});
  ov.push_back(std::byte{0x01});
  for (int i = 0; i < 12; ++i) ov.push_back(std::byte{0});
  set_u64(ov, k_at, 3);
  expect_malformed(ov, 1000, "overlong varint");
}

TEST(CompressionPayload, SparseBitmaskCorruptions) {
  const auto x = values(20, 6);
  const auto p = payload(fc::sparsifier::top_fraction(0.5), x);
  ASSERT_EQ(fc::peek_header(p).param, 1);
  auto bad = p;
  bad[24 + 2] |= std::byte{0x80}; // bit 23 ≥ D = 20
  expect_malformed(bad, 20, "mask bit beyond D");
  bad = p;
  set_u64(bad, 16, 9); // popcount 10 ≠ k 9
  expect_malformed(bad, 20, "mask popcount vs k");
}

TEST(CompressionPayload, CountSketchCorruptions) {
  fc::count_sketch s(2, 64, 50, 1);
  std::vector<std::byte> p;
  s.serialize(p);
  auto bad = p;
  bad[2] = std::byte{0};
  EXPECT_THROW((void)fc::count_sketch::deserialize(bad), fedpp::malformed_message);
  bad = p;
  set_u32(bad, 4, 100);
  EXPECT_THROW((void)fc::count_sketch::deserialize(bad), fedpp::malformed_message);
  bad = p;
  set_u32(bad, 4, 0xffffffc0U);
  EXPECT_THROW((void)fc::count_sketch::deserialize(bad), fedpp::malformed_message);
  std::vector<float> acc(50);
  EXPECT_THROW(fc::decode_accumulate(p, 1.0F, acc), fedpp::malformed_message);
}

TEST(CompressionPayload, RandomBitFlipsNeverEscapeTheErrorTypes) {
  const auto x = values(300, 7);
  fedpp::rng g(11);
  for (const auto& p : all_payloads(x))
    for (int trial = 0; trial < 300; ++trial) {
      auto bad = p;
      const auto flips = 1 + g.below(4);
      for (std::uint64_t f = 0; f < flips; ++f)
        bad[g.below(bad.size())] ^= static_cast<std::byte>(1U << g.below(8));
      std::vector<float> acc(x.size(), 0.0F);
      try {
        fc::decode_accumulate(bad, 1.0F, acc);
      } catch (const fedpp::malformed_message&) {
      } catch (const fedpp::invalid_config&) {
      }
    }
}

TEST(CompressionWire, ClientHooksToServerHooksRoundTrip) {
  fedpp::model_layout layout;
  layout.add("w", fedpp::tensor_shape{{10, 30}}).add("b", fedpp::tensor_shape{10});
  const auto delta = values(layout.total_size(), 8);
  fc::compressing_client_hooks hooks(fc::uniform_quantizer(8, 128), 99);
  const auto m = hooks.encode_update(4, 17, layout, delta, 12.0, {{"loss", 0.5}});
  const auto d = fedpp::wire::decode(m);
  const auto u = fc::read_compressed_update(d, layout, 4);
  EXPECT_EQ(m.size(), fedpp::wire::detail::payload_offset(d.sections_bytes().size()) + u.payload.size());
  EXPECT_EQ(u.client, 17U);
  EXPECT_EQ(u.weight, 12.0);
  EXPECT_EQ(u.payload.size(), fc::uniform_quantizer(8, 128).payload_bytes(layout.total_size()));
  EXPECT_EQ(d.metrics().at("loss"), 0.5);
  EXPECT_THROW((void)fc::read_compressed_update(d, layout, 5), fedpp::malformed_message);
  std::vector<float> scratch(layout.total_size(), 9.0F);
  const auto dec = fc::decompressing_server_hooks{}.decode_update(d, scratch);
  for (std::size_t i = 0; i < delta.size(); ++i) EXPECT_NEAR(dec[i], delta[i], 2.0 / 255 + 1e-6);
}

TEST(CompressionWire, ErrorFeedbackHooksKeepPerClientState) {
  fedpp::model_layout layout;
  layout.add("w", fedpp::tensor_shape{500});
  fc::compressing_client_hooks hooks(fc::error_feedback<fc::sparsifier>(fc::sparsifier::top_fraction(0.01)),
                                     1);
  const auto delta = values(500, 9);
  (void)hooks.encode_update(0, 1, layout, delta, 1.0, {});
  (void)hooks.encode_update(0, 2, layout, delta, 1.0, {});
  EXPECT_EQ(hooks.compressor().num_clients(), 2U);
  EXPECT_EQ(hooks.compressor().residual(1).size(), 500U);
}

TEST(CompressionAggregators, CompressedFedavgEqualsFedavgOfDecodedUpdates) {
  fedpp::model_layout layout;
  layout.add("w", fedpp::tensor_shape{777});
  fc::compressed_fedavg agg(layout);
  std::vector<std::vector<std::byte>> ps;
  std::vector<double> expect(777, 0.0);
  const double weights[] = {3, 1, 6};
  for (int k = 0; k < 3; ++k) {
    const auto x = values(777, 20 + static_cast<std::uint64_t>(k));
    ps.push_back(payload(fc::uniform_quantizer(4, 100), x));
    std::vector<float> dec(777);
    fc::decode(ps.back(), dec);
    for (std::size_t i = 0; i < 777; ++i) expect[i] += weights[k] * dec[i] / 10.0;
    agg.accumulate({static_cast<fedpp::client_id>(k), weights[k], ps.back()});
  }
  // a malformed and a mis-sized payload are rejected for that client only
  auto bad = ps[0];
  bad.pop_back();
  EXPECT_THROW(agg.accumulate({9, 1.0, bad}), fedpp::rejected_update);
  const auto other = payload(fc::uniform_quantizer(4), values(10, 1));
  EXPECT_THROW(agg.accumulate({9, 1.0, other}), fedpp::rejected_update);
  EXPECT_THROW(agg.accumulate({9, 0.0, ps[0]}), fedpp::rejected_update);
  EXPECT_EQ(agg.num_inputs(), 3U);
  const auto mean = std::move(agg).report();
  for (std::size_t i = 0; i < 777; ++i) EXPECT_NEAR(mean.span()[i], expect[i], 1e-5);
}

TEST(CompressionAggregators, MajorityVote) {
  fedpp::model_layout layout;
  layout.add("w", fedpp::tensor_shape{3});
  fc::majority_vote vote(layout);
  for (const auto& x :
       {std::vector<float>{1, -1, 1}, std::vector<float>{1, -1, -1}, std::vector<float>{-1, -1, 0.5F}})
    vote.accumulate({0, 1.0, payload(fc::sign_compressor(false), x)});
  EXPECT_THROW(vote.accumulate({0, 1.0, payload(fc::sign_compressor(true), std::vector<float>{1, 1, 1})}),
               fedpp::rejected_update);
  const auto r = std::move(vote).report();
  EXPECT_EQ(r.span()[0], 1.0F);
  EXPECT_EQ(r.span()[1], -1.0F);
  EXPECT_EQ(r.span()[2], 1.0F);
}

TEST(CompressionAggregators, SketchAggregatorSumsWithoutDecoding) {
  const std::size_t d = 5000;
  fc::sketch_aggregator agg(5, 512, d, 3);
  std::vector<float> mean(d, 0.0F);
  std::vector<fc::count_sketch> sketches;
  for (int k = 0; k < 4; ++k) {
    auto x = values(d, 30 + static_cast<std::uint64_t>(k));
    for (auto& v : x) v *= 0.01F;
    x[42] = 4.0F;
    for (std::size_t i = 0; i < d; ++i) mean[i] += x[i] / 4;
    sketches.emplace_back(5, 512, d, 3);
    sketches.back().insert(x);
  }
  for (int k = 0; k < 4; ++k)
    agg.accumulate({static_cast<fedpp::client_id>(k), 1.0, &sketches[static_cast<std::size_t>(k)]});
  fc::count_sketch wrong(5, 512, d, 4);
  EXPECT_THROW(agg.accumulate({7, 1.0, &wrong}), fedpp::rejected_update);
  const auto s = std::move(agg).report();
  fc::count_sketch direct(5, 512, d, 3);
  direct.insert(mean);
  for (std::size_t i = 0; i < s.table().size(); ++i) EXPECT_NEAR(s.table()[i], direct.table()[i], 1e-4);
  EXPECT_NEAR(s.estimate(42), 4.0F, 0.05F);
}
