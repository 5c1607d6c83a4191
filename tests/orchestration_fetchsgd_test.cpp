// FetchSGD as a server policy: clients upload count sketches through client_host's encode_update
// hook (sketch_compressor), fedpp::server hands every accepted report to fetchsgd_server_hooks,
// which sums the sketches, accumulates the error in sketch space and applies the unsketched top-k.
// Planted sparse deltas (8 heavy coordinates, distinct mod 64, so they never share a bucket)
// make the expected models exact.
#include "fedpp/compression/compression.hpp"
#include "fedpp/orchestration/in_process_federation.hpp"
#include "fedpp/orchestration/server.hpp"
#include "fedpp/scheduling/uniform_sampler.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

namespace {

using fedpp::client_id;
namespace fc = fedpp::compression;

constexpr std::size_t dimension = 4096;
constexpr std::size_t num_clients = 6;
constexpr std::uint64_t sketch_seed = 11;
const std::vector<std::size_t> heavy{3, 100, 777, 1024, 2000, 2500, 3333, 4095};

fedpp::model_layout layout_of() {
  fedpp::model_layout layout;
  layout.add("w", {dimension});
  return layout;
}

// Client c's delta: (j + 1)·(1 + 0.1c)·(−1)^j at heavy coordinate j, zero elsewhere, in the
// rounds before `rounds_with_delta` (zero afterwards); c + 1 examples.
float planted(std::size_t j, client_id c) {
  return static_cast<float>(j + 1) * (1.0F + 0.1F * static_cast<float>(c)) * (j % 2 == 0 ? 1.0F : -1.0F);
}

struct planted_trainer {
  std::uint64_t rounds_with_delta = 1;
  fedpp::client_result<float> operator()(client_id id, const fedpp::host_model_view<const float>& global,
                                         const fedpp::round_config& config) const {
    auto model = fedpp::flat_model<float>::copy_of(global);
    if (config.round < rounds_with_delta)
      for (std::size_t j = 0; j < heavy.size(); ++j) model.span()[heavy[j]] += planted(j, id);
    return {std::move(model), fedpp::update_kind::weights, static_cast<double>(id + 1), {}};
  }
};

// The weighted mean delta at heavy coordinate j.
double mean_delta(std::size_t j) {
  double sum = 0, weight = 0;
  for (client_id c = 0; c < num_clients; ++c) {
    sum += static_cast<double>(c + 1) * planted(j, c);
    weight += static_cast<double>(c + 1);
  }
  return sum / weight;
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

using sketch_client_hooks = fc::compressing_client_hooks<fc::sketch_compressor>;

template <class ClientHooks = sketch_client_hooks>
struct fetchsgd_run {
  fedpp::in_process_federation<float, planted_trainer, ClientHooks> federation;
  fedpp::server<float, fedpp::uniform_sampler, fedpp::server_sgd<float>, fedpp::fedavg<float>,
                fedpp::wall_clock_availability, fc::fetchsgd_server_hooks>
      server;

  fetchsgd_run(fc::fetchsgd_settings s, std::uint64_t rounds_with_delta, ClientHooks hooks)
      : federation(clients(), planted_trainer{rounds_with_delta}, layout_of(), 2, hooks),
        server(fedpp::flat_model<float>(layout_of()), fedpp::uniform_sampler(num_clients, num_clients), {},
               {}, {}, fc::fetchsgd_server_hooks(s)) {}

  fedpp::round_metrics round() {
    auto m = server.run_round(federation.server_endpoint());
    EXPECT_TRUE(m.succeeded);
    EXPECT_EQ(m.reported, num_clients);
    EXPECT_EQ(m.malformed + m.rejected, 0U);
    return m;
  }
  [[nodiscard]] float at(std::size_t i) const { return server.model().span()[i]; }
  [[nodiscard]] std::size_t nonzeros() const {
    const auto w = server.model().span();
    return static_cast<std::size_t>(std::count_if(w.begin(), w.end(), [](float v) { return v != 0.0F; }));
  }

  static std::vector<client_id> clients() {
    std::vector<client_id> ids(num_clients);
    for (std::size_t c = 0; c < num_clients; ++c) ids[c] = c;
    return ids;
  }
};

sketch_client_hooks sketching_clients() {
  return sketch_client_hooks(fc::sketch_compressor(5, 4096, sketch_seed));
}

double max_abs_cell(const fc::count_sketch& s) {
  double worst = 0;
  for (float v : s.table()) worst = std::max(worst, static_cast<double>(std::fabs(v)));
  return worst;
}

TEST(FetchSgdRound, AppliesTheWeightedMeanOfPlantedHeavyCoordinates) {
  fetchsgd_run<> run(settings(heavy.size()), 1, sketching_clients());
  const auto m = run.round();
  for (std::size_t j = 0; j < heavy.size(); ++j) EXPECT_NEAR(run.at(heavy[j]), mean_delta(j), 1e-5) << j;
  EXPECT_EQ(run.nonzeros(), heavy.size());
  // Everything was applied: the error sketch is empty again (up to rounding).
  ASSERT_TRUE(run.server.hooks().error_sketch().has_value());
  EXPECT_LT(max_abs_cell(*run.server.hooks().error_sketch()), 1e-5);
  // Real bytes on the wire: six sketches of 5 × 4096 cells.
  EXPECT_GT(m.bytes_up, num_clients * 5 * 4096 * 4);
  EXPECT_LT(m.bytes_up, num_clients * (5 * 4096 * 4 + 1024));
}

TEST(FetchSgdRound, ErrorAccumulationDeliversWhatTopKHeldBack) {
  fetchsgd_run<> run(settings(4), 1, sketching_clients());
  run.round();
  // Round 0 applies the 4 coordinates of largest |mean|: j = 4..7 (|mean| grows with j).
  EXPECT_EQ(run.nonzeros(), 4U);
  for (std::size_t j = 4; j < heavy.size(); ++j) EXPECT_NEAR(run.at(heavy[j]), mean_delta(j), 1e-5) << j;
  // Round 1: the clients' deltas are zero; the rest comes out of the error sketch.
  run.round();
  for (std::size_t j = 0; j < heavy.size(); ++j) EXPECT_NEAR(run.at(heavy[j]), mean_delta(j), 1e-5) << j;
  EXPECT_EQ(run.nonzeros(), heavy.size());
}

TEST(FetchSgdRound, DampedStepLeavesTheRestInTheErrorSketch) {
  fetchsgd_run<> run(settings(heavy.size(), 0.5F), 1, sketching_clients());
  run.round();
  for (std::size_t j = 0; j < heavy.size(); ++j) EXPECT_NEAR(run.at(heavy[j]), 0.5 * mean_delta(j), 1e-5);
  run.round();
  for (std::size_t j = 0; j < heavy.size(); ++j) EXPECT_NEAR(run.at(heavy[j]), 0.75 * mean_delta(j), 1e-5);
}

TEST(FetchSgdRound, SketchSpaceMomentum) {
  // The same delta g every round, ρ = 0.5: S_u = g then 1.5g, everything applied each round, so
  // the model moves by g and then by 1.5g.
  fetchsgd_run<> run(settings(heavy.size(), 1.0F, 0.5F), 2, sketching_clients());
  run.round();
  run.round();
  for (std::size_t j = 0; j < heavy.size(); ++j) EXPECT_NEAR(run.at(heavy[j]), 2.5 * mean_delta(j), 1e-4);
}

TEST(FetchSgdRound, DenseUploadsAreSketchedOnArrival) {
  fetchsgd_run<> sketched(settings(4), 1, sketching_clients());
  fetchsgd_run<fedpp::no_client_hooks> dense(settings(4), 1, fedpp::no_client_hooks{});
  for (int r = 0; r < 2; ++r) {
    sketched.round();
    dense.round();
  }
  for (std::size_t i = 0; i < dimension; ++i) EXPECT_NEAR(sketched.at(i), dense.at(i), 1e-5) << i;
}

// The hooks on their own: bad reports throw and leave the round's sum as it was.
class FetchSgdHooks : public ::testing::Test {
protected:
  fedpp::model_layout layout = layout_of();

  fedpp::message sketch_message(client_id c, std::uint64_t seed, std::size_t columns = 4096,
                                std::uint64_t round = 0) const {
    std::vector<float> delta(dimension, 0.0F);
    for (std::size_t j = 0; j < heavy.size(); ++j) delta[heavy[j]] = planted(j, c);
    std::vector<std::byte> payload;
    fc::sketch_compressor(5, columns, seed).compress(delta, 0, payload);
    return fc::encode_compressed_update(round, c, layout, payload, static_cast<double>(c + 1));
  }
  // What fedpp::server does with an accepted report: hands it over with the weight it admitted
  // (here the message's own weight, which no bound would change).
  void absorb(fc::fetchsgd_server_hooks& h, const fedpp::message& m) const {
    const auto d = fedpp::wire::decode(m);
    h.absorb_update(d, d.weight(), layout, /*round*/ 0);
  }
  std::vector<float> finish(fc::fetchsgd_server_hooks& h) const {
    auto delta = h.finish_aggregate(layout, 0);
    EXPECT_TRUE(delta.has_value());
    return std::vector<float>(delta->span().begin(), delta->span().end());
  }
};

TEST_F(FetchSgdHooks, BadReportsAreRejectedAndChangeNothing) {
  fc::fetchsgd_server_hooks clean(settings(heavy.size()));
  fc::fetchsgd_server_hooks attacked(settings(heavy.size()));
  clean.begin_round({}, 0);
  attacked.begin_round({}, 0);
  absorb(clean, sketch_message(0, sketch_seed));
  absorb(attacked, sketch_message(0, sketch_seed));

  // Another hash seed or shape: cannot be summed.
  EXPECT_THROW(absorb(attacked, sketch_message(1, sketch_seed + 1)), fedpp::rejected_update);
  EXPECT_THROW(absorb(attacked, sketch_message(1, sketch_seed, 2048)), fedpp::rejected_update);
  // A payload cut short.
  {
    std::vector<std::byte> payload;
    fc::sketch_compressor(5, 4096, sketch_seed).compress(std::vector<float>(dimension, 1.0F), 0, payload);
    payload.resize(payload.size() - 5);
    EXPECT_THROW(absorb(attacked, fc::encode_compressed_update(0, 1, layout, payload, 2.0)),
                 fedpp::malformed_message);
  }
  // A sketch whose cells hold NaN.
  {
    std::vector<std::byte> payload;
    fc::sketch_compressor(5, 4096, sketch_seed).compress(std::vector<float>(dimension, 1.0F), 0, payload);
    const float nan = std::numeric_limits<float>::quiet_NaN();
    std::memcpy(payload.data() + payload.size() - 4, &nan, 4);
    EXPECT_THROW(absorb(attacked, fc::encode_compressed_update(0, 1, layout, payload, 2.0)),
                 fedpp::malformed_message);
  }
  // A dense upload holding Inf.
  {
    std::vector<float> values(dimension, 0.5F);
    values[17] = std::numeric_limits<float>::infinity();
    const auto m =
        fedpp::wire::encode_client_update<float>(0, 2, layout, std::span<const float>(values), 3.0);
    EXPECT_THROW(absorb(attacked, m), fedpp::rejected_update);
  }
  // A compressed update for another round.
  EXPECT_THROW(absorb(attacked, sketch_message(1, sketch_seed, 4096, 7)), fedpp::malformed_message);

  absorb(clean, sketch_message(3, sketch_seed));
  absorb(attacked, sketch_message(3, sketch_seed));
  EXPECT_EQ(finish(clean), finish(attacked));
}

TEST_F(FetchSgdHooks, NothingAbsorbedMeansNoStep) {
  fc::fetchsgd_server_hooks h(settings(4));
  h.begin_round({}, 0);
  EXPECT_FALSE(h.finish_aggregate(layout, 0).has_value());
  EXPECT_FALSE(h.error_sketch().has_value());
}

TEST_F(FetchSgdHooks, InvalidSettingsAreRefused) {
  EXPECT_THROW(fc::fetchsgd_server_hooks(settings(0)), fedpp::invalid_config);
  EXPECT_THROW(fc::fetchsgd_server_hooks(settings(4, 0.0F)), fedpp::invalid_config);
  EXPECT_THROW(fc::fetchsgd_server_hooks(settings(4, 1.5F)), fedpp::invalid_config);
  EXPECT_THROW(fc::fetchsgd_server_hooks(settings(4, 1.0F, 1.0F)), fedpp::invalid_config);
  EXPECT_THROW(fc::fetchsgd_server_hooks(settings(4, 1.0F, -0.1F)), fedpp::invalid_config);
  auto s = settings(4);
  s.columns = 100;
  EXPECT_THROW(fc::fetchsgd_server_hooks{s}, fedpp::invalid_config);
  EXPECT_THROW(fc::sketch_compressor(0, 64, 1), fedpp::invalid_config);
  std::vector<std::byte> out;
  std::vector<float> nan_input(8, std::numeric_limits<float>::quiet_NaN());
  EXPECT_THROW(fc::sketch_compressor(5, 64, 1).compress(nan_input, 0, out), fedpp::invalid_config);
  EXPECT_TRUE(out.empty());
}

TEST(CountSketchSparseInsert, EqualsInsertingTheDenseVector) {
  fc::count_sketch sparse(5, 1024, 10000, 3), dense(5, 1024, 10000, 3);
  const std::vector<std::uint32_t> idx{0, 63, 64, 5000, 9999};
  const std::vector<float> val{1.5F, -2.0F, 0.25F, 7.0F, -3.5F};
  std::vector<float> x(10000, 0.0F);
  for (std::size_t j = 0; j < idx.size(); ++j) x[idx[j]] = val[j];
  sparse.insert_sparse(idx, val);
  dense.insert(x);
  ASSERT_EQ(sparse.table().size(), dense.table().size());
  for (std::size_t i = 0; i < sparse.table().size(); ++i) EXPECT_EQ(sparse.table()[i], dense.table()[i]) << i;
  const std::vector<std::uint32_t> outside{10000};
  const std::vector<float> one{1.0F};
  EXPECT_THROW(sparse.insert_sparse(outside, one), fedpp::invalid_config);
  EXPECT_THROW(sparse.insert_sparse(idx, one), fedpp::invalid_config);
}

} // namespace
