// Saved FedAvg aggregates are input: fedavg::restore refuses truncated and extended bytes, another
// layout (a size or hash that does not match), a layout whose saved size overflows, an unknown
// mode, non-finite values, values the accumulator cannot hold exactly, and states no sequence of
// accumulate/merge produces — with malformed_message and nothing else, before allocating — and
// accepted bytes re-encode to the same bytes (−0.0 included).
#include "fedpp/aggregation/fedavg.hpp"
#include "fedpp/random/rng.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

namespace {

using fedpp::client_update;
using fedpp::fedavg;
using fedpp::flat_model;
using fedpp::model_layout;
using fedpp::weighting;

model_layout layout_of(std::size_t n, const char* name = "w") {
  model_layout l;
  l.add(name, {n});
  return l;
}

// save()'s bytes, into a buffer sized once (25 + 8·D).
template <class Acc>
std::vector<std::byte> bytes_of(const fedavg<float, Acc>& agg) {
  std::vector<std::byte> out(25 + agg.layout().total_size() * sizeof(double));
  std::size_t at = 0;
  agg.save([&](std::span<const std::byte> chunk) {
    if (chunk.empty()) return;
    std::memcpy(out.data() + at, chunk.data(), chunk.size());
    at += chunk.size();
  });
  EXPECT_EQ(at, out.size());
  return out;
}

// An aggregate of three seeded clients, as bytes.
template <class Acc>
std::vector<std::byte> aggregate_bytes(const model_layout& layout, weighting mode = weighting::by_examples) {
  fedavg<float, Acc> agg(layout, mode);
  fedpp::rng gen(23);
  for (fedpp::client_id c = 0; c < 3; ++c) {
    flat_model<float> m(layout);
    for (auto& v : m.span()) v = static_cast<float>(gen.uniform() * 2 - 1);
    agg.accumulate(client_update<float>::from_flat(c, layout, m.span(), 10.0 + static_cast<double>(c)));
  }
  return bytes_of(agg);
}

template <class Acc>
void expect_malformed(const model_layout& layout, const std::vector<std::byte>& bytes, const std::string& needle,
                      const char* what) {
  try {
    (void)fedavg<float, Acc>::restore(layout, bytes);
    ADD_FAILURE() << what << ": accepted";
  } catch (const fedpp::malformed_message& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << what << ": " << e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << what << ": threw something other than malformed_message: " << e.what();
  }
}

void put_f64(std::vector<std::byte>& b, std::size_t at, double v) { std::memcpy(b.data() + at, &v, 8); }
void put_u64(std::vector<std::byte>& b, std::size_t at, std::uint64_t v) { std::memcpy(b.data() + at, &v, 8); }

constexpr std::size_t sum_at = 25; // [hash 8][mode 1][count 8][weight 8] then the sums

template <class Acc>
struct FedAvgRestore : ::testing::Test {};
using accumulators = ::testing::Types<double, float>;
TYPED_TEST_SUITE(FedAvgRestore, accumulators);

TYPED_TEST(FedAvgRestore, RoundTripIsTheIdentityIncludingNegativeZeroAndEmptyAggregates) {
  using Acc = TypeParam;
  const auto layout = layout_of(6);
  for (const auto mode : {weighting::by_examples, weighting::uniform}) {
    const auto bytes = aggregate_bytes<Acc>(layout, mode);
    const auto back = fedavg<float, Acc>::restore(layout, bytes);
    EXPECT_EQ(bytes_of(back), bytes);
    EXPECT_EQ(back.num_inputs(), 3U);
    auto signed_zero = bytes;
    put_f64(signed_zero, sum_at + 8, -0.0);
    const auto z = fedavg<float, Acc>::restore(layout, signed_zero);
    EXPECT_EQ(bytes_of(z), signed_zero);
    EXPECT_TRUE(std::signbit(z.weighted_sum()[1]));
  }
  const auto empty = bytes_of(fedavg<float, Acc>(layout));
  EXPECT_EQ(bytes_of(fedavg<float, Acc>::restore(layout, empty)), empty);
  const model_layout none;
  const auto nothing = bytes_of(fedavg<float, Acc>(none));
  EXPECT_EQ(nothing.size(), 25U);
  EXPECT_EQ(bytes_of(fedavg<float, Acc>::restore(none, nothing)), nothing);
}

TYPED_TEST(FedAvgRestore, TruncatedAndExtendedBytesAreMalformed) {
  using Acc = TypeParam;
  const auto layout = layout_of(3);
  const auto bytes = aggregate_bytes<Acc>(layout);
  for (std::size_t len = 0; len < bytes.size(); ++len) {
    SCOPED_TRACE(len);
    expect_malformed<Acc>(layout,
                          std::vector<std::byte>(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(len)),
                          "expected 49 bytes", "truncated");
  }
  auto longer = bytes;
  longer.push_back(std::byte{0});
  expect_malformed<Acc>(layout, longer, "got 50", "extended");
}

TYPED_TEST(FedAvgRestore, AnotherLayoutAndAnOverflowingLayoutAreMalformedBeforeAnyAllocation) {
  using Acc = TypeParam;
  const auto bytes = aggregate_bytes<Acc>(layout_of(3));
  expect_malformed<Acc>(layout_of(4), bytes, "expected 57 bytes", "bigger model");
  expect_malformed<Acc>(layout_of(2), bytes, "expected 41 bytes", "smaller model");
  expect_malformed<Acc>(layout_of(3, "v"), bytes, "saved for another layout", "same size, other names");
  // 2^61 doubles: 25 + 8·2^61 wrapped to 25, so a bare header passed the size check and the
  // restore tried to allocate 2^61 accumulators.
  const auto huge = layout_of(std::size_t{1} << 61);
  std::vector<std::byte> header(25);
  put_u64(header, 0, huge.hash());
  expect_malformed<Acc>(huge, header, "overflows", "overflowing layout");
}

TYPED_TEST(FedAvgRestore, UnknownModeAndNonFiniteValuesAreMalformed) {
  using Acc = TypeParam;
  const auto layout = layout_of(3);
  const auto bytes = aggregate_bytes<Acc>(layout);
  auto bad = bytes;
  bad[8] = std::byte{2};
  expect_malformed<Acc>(layout, bad, "unknown weighting mode 2", "mode");
  bad = bytes;
  put_f64(bad, 17, std::numeric_limits<double>::infinity());
  expect_malformed<Acc>(layout, bad, "total weight inf", "weight inf");
  bad = bytes;
  put_f64(bad, 17, -1.0);
  expect_malformed<Acc>(layout, bad, "total weight -1", "negative weight");
  bad = bytes;
  put_f64(bad, sum_at + 16, std::nan(""));
  expect_malformed<Acc>(layout, bad, "sum element 2 is nan", "NaN sum");
}

TYPED_TEST(FedAvgRestore, StatesNoAggregateReachesAreMalformed) {
  using Acc = TypeParam;
  const auto layout = layout_of(3);
  const auto bytes = aggregate_bytes<Acc>(layout);
  auto bad = bytes;
  put_u64(bad, 9, 0); // no inputs, yet a weight and sums
  expect_malformed<Acc>(layout, bad, "no inputs but a total weight", "count 0");
  auto empty = bytes_of(fedavg<float, Acc>(layout));
  put_f64(empty, sum_at, 1.0);
  expect_malformed<Acc>(layout, empty, "no inputs but sum element 0 is 1", "count 0, a sum");
  bad = bytes;
  put_f64(bad, 17, 0.0);
  expect_malformed<Acc>(layout, bad, "3 inputs but a total weight of 0", "weight 0");
  auto uniform = aggregate_bytes<Acc>(layout, weighting::uniform);
  put_f64(uniform, 17, 4.0);
  expect_malformed<Acc>(layout, uniform, "uniform weighting with 3 inputs but a total weight of 4", "uniform 4");
  put_f64(uniform, 17, 2.5);
  expect_malformed<Acc>(layout, uniform, "total weight of 2.5", "uniform 2.5");
}

TEST(FedAvgRestoreFloatAccumulator, DoublesAFloatCannotHoldAreMalformed) {
  // fedavg<float, float> saves its float sums as doubles; a double that is not a float would be
  // rounded on restore and re-encode to other bytes.
  const auto layout = layout_of(3);
  const auto bytes = aggregate_bytes<float>(layout);
  auto bad = bytes;
  put_f64(bad, sum_at + 8, 0.1);
  expect_malformed<float>(layout, bad, "sum element 1 = 0.1", "0.1");
  bad = bytes;
  put_f64(bad, sum_at, 1e300); // beyond float's range
  expect_malformed<float>(layout, bad, "not exactly representable", "1e300");
  bad = bytes;
  put_f64(bad, sum_at, 1e-320); // a double denormal, zero as a float
  expect_malformed<float>(layout, bad, "not exactly representable", "1e-320");
  bad = bytes;
  put_f64(bad, 17, 33.3);
  expect_malformed<float>(layout, bad, "total weight 33.3", "weight 33.3");
  // The same doubles are fine with a double accumulator, and exact floats with a float one.
  EXPECT_NO_THROW((void)(fedavg<float, double>::restore(layout, bad)));
  bad = bytes;
  put_f64(bad, sum_at + 8, 0.5);
  EXPECT_EQ(bytes_of(fedavg<float, float>::restore(layout, bad)), bad);
}

} // namespace

// Found by the fedavg_restore fuzzer: a subnormal total weight made the mean 0 · (1/w) = NaN, and a
// sum beyond w · FLT_MAX a float Inf; the mean of a tiny weight is now computed by division, and a
// saved state whose mean would not be finite is refused.
namespace {
TEST(FedAvgMean, ASubnormalTotalWeightStillGivesTheMean) {
  model_layout layout;
  layout.add("w", {3});
  fedavg<float> avg(layout);
  flat_model<float> values(layout);
  for (float& v : values.span()) v = 2.5F;
  avg.accumulate(client_update<float>::from_flat(1, layout, values.span(), 1e-320));
  const auto mean = std::move(avg).report();
  for (float v : mean.span()) EXPECT_EQ(v, 2.5F);
}

TEST(FedAvgMean, RestoreRefusesAStateWhoseMeanIsNotFinite) {
  model_layout layout;
  layout.add("w", {2});
  auto saved = [&](double weight, double sum) {
    std::vector<std::byte> bytes(25 + 16);
    const std::uint64_t hash = layout.hash(), count = 1;
    const std::uint8_t mode = 0;
    std::memcpy(bytes.data(), &hash, 8);
    std::memcpy(bytes.data() + 8, &mode, 1);
    std::memcpy(bytes.data() + 9, &count, 8);
    std::memcpy(bytes.data() + 17, &weight, 8);
    std::memcpy(bytes.data() + 25, &sum, 8);
    std::memcpy(bytes.data() + 33, &sum, 8);
    return bytes;
  };
  EXPECT_THROW((void)fedavg<float>::restore(layout, saved(1.0, 1e39)), fedpp::malformed_message);
  EXPECT_NO_THROW((void)fedavg<float>::restore(layout, saved(1.0, 1e38)));
  auto tiny = fedavg<float>::restore(layout, saved(1e-320, 1e-320));
  const auto mean = std::move(tiny).report();
  for (float v : mean.span()) EXPECT_EQ(v, 1.F);
}
} // namespace
