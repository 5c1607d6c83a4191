// The server hooks that aggregate in the compressed domain, on their own (without fedpp::server):
// they aggregate with the weight the server admitted (its weight policy applied), never the
// weight the message claims; finish_aggregate returns a finite mean or nothing; FetchSGD's
// momentum and error sketches stay exactly as they were when a round's step would overflow.
// Planted sparse deltas at coordinates distinct mod 64 (they never share a bucket) make the
// sketched results exact. Fixed seeds throughout.
#include "fedpp/compression/compression.hpp"
#include "fedpp/random/rng.hpp"
#include "fedpp/transport/wire_format.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <vector>

namespace fc = fedpp::compression;

namespace {

constexpr std::size_t dimension = 4096;
constexpr std::uint64_t sketch_seed = 11;
const std::vector<std::size_t> heavy{3, 100, 777, 1024, 2000, 2500, 3333, 4095};
constexpr double not_a_number = std::numeric_limits<double>::quiet_NaN();

fedpp::model_layout layout_of(std::size_t n = dimension) {
  fedpp::model_layout layout;
  layout.add("w", {n});
  return layout;
}

std::vector<float> values(std::size_t n, std::uint64_t seed) {
  fedpp::rng g(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>(g.uniform() * 2 - 1);
  return v;
}

// Client c's planted delta: (j + 1)·(1 + c)·(−1)^j at heavy coordinate j.
std::vector<float> planted(fedpp::client_id c) {
  std::vector<float> delta(dimension, 0.0F);
  for (std::size_t j = 0; j < heavy.size(); ++j)
    delta[heavy[j]] = static_cast<float>(j + 1) * static_cast<float>(1 + c) * (j % 2 == 0 ? 1.0F : -1.0F);
  return delta;
}

fedpp::wire::decoded_message sketch_message(std::span<const float> delta, fedpp::client_id c,
                                            double claimed_weight, std::uint64_t round = 0) {
  std::vector<std::byte> payload;
  fc::sketch_compressor(5, 4096, sketch_seed).compress(delta, 0, payload);
  return fedpp::wire::decode(fc::encode_compressed_update(round, c, layout_of(), payload, claimed_weight));
}

fc::fetchsgd_settings settings(std::size_t k, float step = 1.0F, float momentum = 0.0F) {
  fc::fetchsgd_settings s;
  s.rows = 5;
  s.columns = 4096;
  s.seed = sketch_seed;
  s.k = k;
  s.step = step;
  s.momentum = momentum;
  return s;
}

std::vector<float> table_of(const std::optional<fc::count_sketch>& s) {
  return s ? std::vector<float>(s->table().begin(), s->table().end()) : std::vector<float>{};
}

} // namespace

// ---- compressed_domain_server_hooks ----

TEST(CompressionHooks, CompressedDomainHooksAggregateWithTheAdmittedWeight) {
  const auto layout = layout_of(200);
  const auto x1 = values(200, 1), x2 = values(200, 2);
  std::vector<std::byte> p1, p2;
  fc::uniform_quantizer(8, 50).compress(x1, 3, p1);
  fc::uniform_quantizer(8, 50).compress(x2, 4, p2);
  // The messages claim absurd weights; the server admitted 1 and 3.
  const auto m1 = fedpp::wire::decode(fc::encode_compressed_update(2, 1, layout, p1, 1e39));
  const auto m2 = fedpp::wire::decode(fc::encode_compressed_update(2, 2, layout, p2, 1e-30));
  fc::compressed_domain_server_hooks<fc::compressed_fedavg> hooks;
  hooks.begin_round({1, 2}, 2);
  hooks.absorb_update(m1, 1.0, layout, 2);
  for (const double bad : {0.0, -2.0, not_a_number, std::numeric_limits<double>::infinity()})
    EXPECT_THROW(hooks.absorb_update(m2, bad, layout, 2), fedpp::rejected_update) << bad;
  hooks.absorb_update(m2, 3.0, layout, 2);
  const auto mean = hooks.finish_aggregate(layout, 2);
  ASSERT_TRUE(mean.has_value());
  std::vector<float> d1(200), d2(200);
  fc::decode(p1, d1);
  fc::decode(p2, d2);
  for (std::size_t i = 0; i < 200; ++i) EXPECT_NEAR(mean->span()[i], 0.25 * d1[i] + 0.75 * d2[i], 1e-6) << i;
}

TEST(CompressionHooks, MajorityVoteHooksCountOneVotePerClient) {
  const auto layout = layout_of(4);
  std::vector<std::byte> up, down;
  fc::sign_compressor(false).compress(std::vector<float>{1, 1, -1, 1}, 0, up);
  fc::sign_compressor(false).compress(std::vector<float>{-1, -1, -1, 1}, 0, down);
  fc::compressed_domain_server_hooks<fc::majority_vote> hooks;
  hooks.begin_round({}, 0);
  hooks.absorb_update(fedpp::wire::decode(fc::encode_compressed_update(0, 1, layout, up, 1.0)), 1000.0,
                      layout, 0);
  hooks.absorb_update(fedpp::wire::decode(fc::encode_compressed_update(0, 2, layout, down, 1.0)), 1.0, layout,
                      0);
  hooks.absorb_update(fedpp::wire::decode(fc::encode_compressed_update(0, 3, layout, down, 1.0)), 1.0, layout,
                      0);
  const auto vote = hooks.finish_aggregate(layout, 0);
  ASSERT_TRUE(vote.has_value());
  EXPECT_EQ(std::vector<float>(vote->span().begin(), vote->span().end()),
            (std::vector<float>{-1, -1, -1, 1}));
}

namespace {
// An aggregator of compressed updates whose result is not finite (a user's, say): the hooks must
// not hand it to the server.
struct poisoned_mean {
  using input_type = fc::compressed_update;
  using result_type = fedpp::flat_model<float>;
  explicit poisoned_mean(const fedpp::model_layout& l) : layout(l) {}
  void accumulate(const fc::compressed_update&) { ++n; }
  void merge(poisoned_mean&& o) { n += o.n; }
  [[nodiscard]] std::size_t num_inputs() const noexcept { return n; }
  [[nodiscard]] bool can_report() const noexcept { return n > 0; }
  [[nodiscard]] fedpp::flat_model<float> report() && {
    fedpp::flat_model<float> out(layout);
    out.span()[out.size() - 1] = std::numeric_limits<float>::infinity();
    return out;
  }
  fedpp::model_layout layout;
  std::size_t n = 0;
};
static_assert(fedpp::aggregator<poisoned_mean>);
} // namespace

TEST(CompressionHooks, CompressedDomainHooksNeverReturnANonFiniteMean) {
  const auto layout = layout_of(16);
  std::vector<std::byte> p;
  fc::float_cast().compress(values(16, 5), 0, p);
  fc::compressed_domain_server_hooks<poisoned_mean> hooks;
  hooks.begin_round({}, 0);
  hooks.absorb_update(fedpp::wire::decode(fc::encode_compressed_update(0, 1, layout, p, 1.0)), 1.0, layout,
                      0);
  EXPECT_FALSE(hooks.finish_aggregate(layout, 0).has_value());
}

// ---- fetchsgd_server_hooks ----

TEST(CompressionHooks, FetchSgdAggregatesWithTheAdmittedWeight) {
  const auto layout = layout_of();
  fc::fetchsgd_server_hooks h(settings(heavy.size()));
  h.begin_round({}, 0);
  // Both messages claim weight 1; the server admitted 1 and 3. A dense upload counts the same way.
  h.absorb_update(sketch_message(planted(0), 0, 1.0), 1.0, layout, 0);
  for (const double bad : {0.0, -1.0, not_a_number, std::numeric_limits<double>::infinity()})
    EXPECT_THROW(h.absorb_update(sketch_message(planted(1), 1, 1.0), bad, layout, 0), fedpp::rejected_update);
  h.absorb_update(sketch_message(planted(1), 1, 1.0), 3.0, layout, 0);
  const auto x2 = planted(2);
  h.absorb_update(fedpp::wire::decode(fedpp::wire::encode_client_update<float>(
                      0, 2, layout, std::span<const float>(x2), 1e30)),
                  4.0, layout, 0);
  const auto delta = h.finish_aggregate(layout, 0);
  ASSERT_TRUE(delta.has_value());
  const auto x0 = planted(0), x1 = planted(1);
  for (std::size_t j : heavy)
    EXPECT_NEAR(delta->span()[j], (1.0 * x0[j] + 3.0 * x1[j] + 4.0 * x2[j]) / 8.0, 1e-4) << j;
}

TEST(CompressionHooks, FetchSgdRefusesADenseUpdateWhoseSketchOverflows) {
  const auto layout = layout_of();
  fc::fetchsgd_server_hooks h(settings(4));
  h.begin_round({}, 0);
  const std::vector<float> huge(dimension, 3e38F); // finite, but buckets sum several of them
  try {
    h.absorb_update(fedpp::wire::decode(fedpp::wire::encode_client_update<float>(
                        0, 1, layout, std::span<const float>(huge), 1.0)),
                    1.0, layout, 0);
    ADD_FAILURE() << "not refused";
  } catch (const fedpp::rejected_update& e) {
    EXPECT_EQ(e.reason(), fedpp::rejection_reason::non_finite);
  }
  EXPECT_FALSE(h.finish_aggregate(layout, 0).has_value()); // nothing was absorbed
}

// One heavy coordinate of 2e38 per round: finite, and sketched exactly (a single nonzero
// coordinate fills one bucket per row with ±2e38).
TEST(CompressionHooks, FetchSgdMomentumOverflowLeavesTheStateUnchanged) {
  const auto layout = layout_of();
  std::vector<float> spike(dimension, 0.0F);
  spike[777] = 2e38F;
  fc::fetchsgd_server_hooks h(settings(1, 1.0F, 0.9F));
  h.begin_round({}, 0);
  h.absorb_update(sketch_message(spike, 1, 1.0), 1.0, layout, 0);
  const auto first = h.finish_aggregate(layout, 0);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->span()[777], 2e38F);
  const auto momentum = table_of(h.momentum_sketch()), error = table_of(h.error_sketch());
  // Round 1: S_u = 0.9·S_u + S reaches 3.8e38: no step, and S_u, S_e exactly as after round 0.
  h.begin_round({}, 1);
  h.absorb_update(sketch_message(spike, 1, 1.0, 1), 1.0, layout, 1);
  EXPECT_FALSE(h.finish_aggregate(layout, 1).has_value());
  EXPECT_EQ(table_of(h.momentum_sketch()), momentum);
  EXPECT_EQ(table_of(h.error_sketch()), error);
  EXPECT_EQ(h.last_applied(), 1U);
  // Round 2 with an ordinary delta: a finite step again (momentum carries 0.9·2e38).
  h.begin_round({}, 2);
  h.absorb_update(sketch_message(planted(0), 1, 1.0, 2), 1.0, layout, 2);
  const auto third = h.finish_aggregate(layout, 2);
  ASSERT_TRUE(third.has_value());
  for (float v : third->span()) ASSERT_TRUE(std::isfinite(v));
  EXPECT_NEAR(third->span()[777], 0.9 * 2e38, 1e32);
}

TEST(CompressionHooks, FetchSgdErrorOverflowLeavesTheStateUnchanged) {
  const auto layout = layout_of();
  std::vector<float> spike(dimension, 0.0F);
  spike[100] = -2e38F;
  fc::fetchsgd_server_hooks h(settings(1, 0.5F));
  for (std::uint64_t r = 0; r < 2; ++r) { // S_e: 2e38 → 1e38 left; 3e38 → 1.5e38 left
    h.begin_round({}, r);
    h.absorb_update(sketch_message(spike, 1, 1.0, r), 1.0, layout, r);
    ASSERT_TRUE(h.finish_aggregate(layout, r).has_value()) << r;
  }
  const auto error = table_of(h.error_sketch());
  h.begin_round({}, 2); // S_e + S = 3.5e38: beyond float
  h.absorb_update(sketch_message(spike, 1, 1.0, 2), 1.0, layout, 2);
  EXPECT_FALSE(h.finish_aggregate(layout, 2).has_value());
  EXPECT_EQ(table_of(h.error_sketch()), error);
  EXPECT_FALSE(h.momentum_sketch().has_value());
}
