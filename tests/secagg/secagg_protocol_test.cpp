// Secure aggregation end to end: exact cancellation for random dropout patterns (SecAgg and
// SecAgg+), dropouts in each phase, aborts below threshold, uniformity of masked inputs.
#include "secagg_sim.hpp"

#include "fedpp/secagg/fixed_point_encoder.hpp"
#include "fedpp/secagg/secagg_plus_parameters.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

using namespace secagg_test;

namespace {

std::vector<std::uint32_t> random_input(std::mt19937_64& gen, std::size_t d, std::uint32_t mask) {
  std::vector<std::uint32_t> x(d);
  for (auto& v : x) v = static_cast<std::uint32_t>(gen()) & mask;
  return x;
}

/// Runs one round with the given dropouts and checks the sum against the plain sum of the inputs
/// of the clients that sent a masked input.
void check_round(const secagg_config& config, const neighbor_graph& graph, const dropouts& drop,
                 std::uint64_t salt) {
  sim s(config, graph, salt);
  std::mt19937_64 gen(salt);
  std::vector<std::uint32_t> expected(config.vector_length, 0);
  for (const auto u : s.clients()) {
    auto x = random_input(gen, config.vector_length, config.modulus_mask());
    const auto it = drop.find(u);
    if (it == drop.end() || it->second >= 3)
      for (std::size_t i = 0; i < x.size(); ++i) expected[i] += x[i];
    s.client(u).set_input(std::move(x));
  }
  for (auto& v : expected) v &= config.modulus_mask();
  const auto sum = s.run(drop);
  EXPECT_EQ(sum, expected);
  EXPECT_EQ(s.server().counters().total_refused(), 0U);
}

} // namespace

TEST(secagg_protocol, no_dropout_sum_is_exact) {
  secagg_config c{7, 37, 32, 3};
  check_round(c, neighbor_graph::complete({1, 2, 3, 4, 5}), {}, 1);
}

TEST(secagg_protocol, dropout_in_each_phase) {
  secagg_config c{1, 19, 32, 4};
  const std::vector<client_id> ids{10, 11, 12, 13, 14, 15, 16, 17};
  for (int phase = 0; phase <= 3; ++phase) {
    SCOPED_TRACE(phase);
    check_round(c, neighbor_graph::complete(ids), {{11, phase}, {15, phase}},
                100 + static_cast<std::uint64_t>(phase));
  }
  // One dropout in every phase at once.
  check_round(c, neighbor_graph::complete(ids), {{10, 0}, {12, 1}, {14, 2}, {16, 3}}, 7);
}

TEST(secagg_protocol, masks_cancel_for_random_patterns_up_to_n_minus_t) {
  // Property: for any dropout pattern leaving ≥ t clients at every phase, the sum is exact.
  const std::size_t n = 9, t = 5;
  std::vector<client_id> ids;
  for (client_id i = 0; i < n; ++i) ids.push_back(100 + i);
  std::mt19937_64 gen(42);
  for (int trial = 0; trial < 12; ++trial) {
    SCOPED_TRACE(trial);
    const auto drops = static_cast<std::size_t>(gen() % (n - t + 1));
    auto order = ids;
    std::shuffle(order.begin(), order.end(), gen);
    dropouts drop;
    for (std::size_t i = 0; i < drops; ++i) drop[order[i]] = static_cast<int>(gen() % 4);
    const unsigned bits = trial % 3 == 0 ? 20U : 32U;
    check_round(secagg_config{static_cast<std::uint64_t>(trial), 33, bits, t}, neighbor_graph::complete(ids),
                drop, 1000 + static_cast<std::uint64_t>(trial));
  }
}

TEST(secagg_protocol, secagg_plus_sparse_graph_random_patterns) {
  std::vector<client_id> ids;
  for (client_id i = 0; i < 24; ++i) ids.push_back(i);
  const auto graph = neighbor_graph::random_regular(ids, 8, 5);
  EXPECT_EQ(graph.degree(), 8U);
  for (const auto u : ids) EXPECT_EQ(graph.neighbors(u).size(), 8U);
  std::mt19937_64 gen(3);
  for (int trial = 0; trial < 6; ++trial) {
    SCOPED_TRACE(trial);
    dropouts drop;
    // Few enough dropouts that every neighbourhood keeps t = 6 of its 9 holders.
    auto order = ids;
    std::shuffle(order.begin(), order.end(), gen);
    for (std::size_t i = 0; i < 2; ++i) drop[order[i]] = static_cast<int>(gen() % 4);
    check_round(secagg_config{3, 21, 32, 6}, graph, drop, 50 + static_cast<std::uint64_t>(trial));
  }
}

TEST(secagg_protocol, too_few_survivors_aborts_and_reveals_nothing) {
  secagg_config c{2, 16, 32, 4};
  sim s(c, neighbor_graph::complete({1, 2, 3, 4, 5}));
  for (const auto u : s.clients()) s.client(u).set_input(std::vector<std::uint32_t>(16, 7));
  EXPECT_THROW(s.run({{1, 2}, {2, 2}}), secagg_aborted);
  EXPECT_EQ(s.server().current_phase(), secagg_server::phase::aborted);
  EXPECT_EQ(s.server().counters().aborts, 1U);
  EXPECT_THROW((void)s.server().sum(), invalid_config);
  // The surviving clients are told and never send unmasking shares.
  s.deliver_to_clients(3, {{1, 2}, {2, 2}});
  for (const client_id u : {3, 4, 5})
    EXPECT_EQ(s.client(u).current_state(), secagg_client::state::aborted);
}

TEST(secagg_protocol, abort_when_unmasking_lacks_shares) {
  // 3 survivors of the masked round send nothing in unmasking except one: below t = 3.
  secagg_config c{2, 8, 32, 3};
  sim s(c, neighbor_graph::complete({1, 2, 3, 4}));
  for (const auto u : s.clients()) s.client(u).set_input(std::vector<std::uint32_t>(8, 1));
  EXPECT_THROW(s.run({{1, 2}, {2, 3}, {3, 3}}), secagg_aborted);
  EXPECT_EQ(s.server().counters().aborts, 1U);
}

TEST(secagg_protocol, weighted_mean_through_the_protocol) {
  encoding_config ec;
  ec.clip_bound = 1;
  ec.scale = 1 << 12;
  ec.num_clients = 4;
  ec.max_weight = 100;
  const fixed_point_encoder enc(ec);
  const std::size_t d = 5;
  secagg_config c{9, d + 1, 32, 3};
  sim s(c, neighbor_graph::complete({1, 2, 3, 4}));
  const std::vector<std::vector<float>> xs{{0.5F, -0.25F, 0, 1, -1},
                                           {0.1F, 0.2F, 0.3F, 0.4F, 0.5F},
                                           {-0.5F, 0.5F, -0.5F, 0.5F, 0},
                                           {0.9F, 0.9F, 0.9F, 0.9F, 0.9F}};
  const std::vector<std::uint64_t> ws{10, 30, 20, 40};
  std::vector<double> num(d, 0);
  double den = 0;
  for (std::size_t k = 0; k < 4; ++k) {
    std::vector<std::uint32_t> e(d + 1);
    (void)enc.encode_weighted(xs[k], ws[k], e);
    s.client(k + 1).set_input(e);
    if (k == 1) continue; // client 2 drops before its masked input
    den += static_cast<double>(ws[k]);
    for (std::size_t i = 0; i < d; ++i) num[i] += static_cast<double>(ws[k]) * xs[k][i];
  }
  const auto sum = s.run({{2, 2}});
  std::vector<float> mean(d);
  enc.decode_weighted_mean(sum, mean);
  for (std::size_t i = 0; i < d; ++i) EXPECT_NEAR(mean[i], num[i] / den, 1e-3);
}

TEST(secagg_protocol, integer_updates_compose) {
  encoding_config ec;
  ec.num_clients = 3;
  ec.max_abs_integer = 127; // 8-bit quantized updates
  ec.modulus_bits = 12;
  ec.scale = 1;
  const fixed_point_encoder enc(ec);
  secagg_config c{4, 4, 12, 2};
  sim s(c, neighbor_graph::complete({1, 2, 3}));
  const std::vector<std::vector<std::int32_t>> v{{127, -127, 3, 0}, {-5, -127, 100, 1}, {127, -127, -1, -1}};
  for (std::size_t k = 0; k < 3; ++k) {
    std::vector<std::uint32_t> e(4);
    enc.encode_integers(v[k], e);
    s.client(k + 1).set_input(e);
  }
  const auto sum = s.run({});
  for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(enc.centred(sum[i]), v[0][i] + v[1][i] + v[2][i]);
}

TEST(secagg_protocol, masked_inputs_the_server_sees_are_uniform) {
  // A client whose input is all zeros: the masked vector's top bytes must be uniform
  // (chi-square, 255 degrees of freedom, p = 0.001 critical value 330.5).
  secagg_config c{5, 1 << 15, 32, 2};
  sim s(c, neighbor_graph::complete({1, 2, 3}));
  for (const auto u : s.clients()) s.client(u).set_input(std::vector<std::uint32_t>(c.vector_length, 0));
  for (const auto u : s.clients()) s.client(u).start(s.endpoint(u));
  s.deliver_to_server();
  s.server().close_phase(s.server_endpoint());
  s.deliver_to_clients(1, {});
  s.deliver_to_server();
  s.server().close_phase(s.server_endpoint());
  s.deliver_to_clients(2, {});
  auto e = s.server_endpoint().try_receive();
  ASSERT_TRUE(e.has_value());
  const auto d = wire::decode(e->message);
  ASSERT_EQ(d.tag(), 5U);
  const auto bytes = d.payload_bytes();
  std::array<double, 256> counts{};
  for (std::size_t i = 3; i < bytes.size(); i += 4) counts[std::to_integer<std::size_t>(bytes[i])] += 1;
  const double expected = static_cast<double>(c.vector_length) / 256;
  double chi2 = 0;
  for (const auto n : counts) chi2 += (n - expected) * (n - expected) / expected;
  EXPECT_LT(chi2, 330.5);
  EXPECT_GT(chi2, 190.0); // not suspiciously flat either (p ≈ 0.999 lower tail)
}

TEST(secagg_plus, parameters_grow_logarithmically) {
  const auto p50 = secagg_plus_parameters::choose(50, 0.05, 0.02, 30, 20);
  const auto p1000 = secagg_plus_parameters::choose(1000, 0.05, 0.02, 30, 20);
  const auto p100k = secagg_plus_parameters::choose(100000, 0.05, 0.02, 30, 20);
  EXPECT_LE(p1000.degree, 999U);
  EXPECT_LT(p100k.degree, 200U);
  EXPECT_LE(p50.degree, p1000.degree);
  EXPECT_GT(2 * p1000.threshold, p1000.degree + 1);
  EXPECT_LE(p1000.threshold, p1000.degree + 1);
  EXPECT_THROW((void)secagg_plus_parameters::choose(1000, 1.5, 0.05), invalid_config);
  EXPECT_THROW((void)secagg_plus_parameters::choose(50, 0.1, 0.05), invalid_config); // infeasible at 2^-40
}

// The public in_process_round with operating-system randomness: the sum is exact with a dropout,
// and naming a client outside the graph is refused.
TEST(SecaggInProcessRound, SumsWithOsRandomnessAndRefusesUnknownClients) {
  const secagg_config c{.round = 5, .vector_length = 4, .modulus_bits = 16, .threshold = 3};
  in_process_round round(c, neighbor_graph::complete({1, 2, 3, 4}));
  for (const auto u : round.clients()) round.set_input(u, std::vector<std::uint32_t>(4, static_cast<std::uint32_t>(u)));
  const auto sum = round.run({{4, secagg_server::phase::unmasking}}); // 4 sent its input, then left
  for (const auto v : sum) EXPECT_EQ(v, 1U + 2U + 3U + 4U);
  EXPECT_THROW((void)round.client(9), fedpp::invalid_config);
  EXPECT_THROW((void)round.endpoint(9), fedpp::invalid_config);
}
