// Compressed uploads end to end: 8-bit quantized deltas travel through client_host's
// encode_update hook and fedpp::server's decode_update hook; the round's model matches the
// uncompressed FedAvg within the quantization error, and the bytes on the wire shrink ~4x.
#include "fedpp/compression/compression.hpp"
#include "fedpp/orchestration/in_process_federation.hpp"
#include "fedpp/orchestration/server.hpp"
#include "fedpp/scheduling/uniform_sampler.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace {

using fedpp::client_id;

fedpp::model_layout layout_of(std::size_t n) {
  fedpp::model_layout layout;
  layout.add("w", {n});
  return layout;
}

// Client k's model: sin-shaped values scaled by k, so deltas differ between clients.
struct wave_trainer {
  fedpp::client_result<float> operator()(client_id id, const fedpp::host_model_view<const float>& global,
                                         const fedpp::round_config&) const {
    auto model = fedpp::flat_model<float>::copy_of(global);
    for (std::size_t i = 0; i < model.size(); ++i)
      model.span()[i] += static_cast<float>(id + 1) * std::sin(0.01F * static_cast<float>(i));
    return {std::move(model), fedpp::update_kind::weights, 1.0, {}};
  }
};

// Client k's delta: sin(0.01·i + k) — signs differ between clients.
struct shifted_wave_trainer {
  fedpp::client_result<float> operator()(client_id id, const fedpp::host_model_view<const float>& global,
                                         const fedpp::round_config&) const {
    auto model = fedpp::flat_model<float>::copy_of(global);
    for (std::size_t i = 0; i < model.size(); ++i) model.span()[i] += delta(id, i);
    return {std::move(model), fedpp::update_kind::weights, 1.0, {}};
  }
  static float delta(client_id id, std::size_t i) {
    return std::sin(0.01F * static_cast<float>(i) + static_cast<float>(id));
  }
};

template <class ClientHooks, class ServerHooks, class Trainer = wave_trainer>
std::pair<std::vector<float>, std::uint64_t> one_round(ClientHooks client_hooks, ServerHooks server_hooks) {
  const auto layout = layout_of(4096);
  std::vector<client_id> clients{0, 1, 2, 3, 4, 5};
  fedpp::in_process_federation<float, Trainer, ClientHooks> federation(clients, Trainer{}, layout, 2,
                                                                       client_hooks);
  fedpp::server<float, fedpp::uniform_sampler, fedpp::server_sgd<float>, fedpp::fedavg<float>,
                fedpp::wall_clock_availability, ServerHooks>
      server(fedpp::flat_model<float>(layout), fedpp::uniform_sampler(6, 6), {}, {}, {}, server_hooks);
  const auto metrics = server.run_round(federation.server_endpoint());
  EXPECT_TRUE(metrics.succeeded);
  EXPECT_EQ(metrics.reported, 6U);
  EXPECT_EQ(metrics.malformed + metrics.rejected, 0U);
  return {std::vector<float>(server.model().span().begin(), server.model().span().end()), metrics.bytes_up};
}

TEST(CompressedRound, EightBitUpdatesThroughTheServer) {
  const auto [dense, dense_bytes] = one_round(fedpp::no_client_hooks{}, fedpp::no_server_hooks{});
  const auto [quantized, quantized_bytes] =
      one_round(fedpp::compression::compressing_client_hooks<fedpp::compression::uniform_quantizer>(
                    fedpp::compression::uniform_quantizer(8), 42),
                fedpp::compression::decompressing_server_hooks{});
  ASSERT_EQ(dense.size(), quantized.size());
  double worst = 0;
  for (std::size_t i = 0; i < dense.size(); ++i)
    worst = std::max(worst, std::fabs(double(dense[i]) - quantized[i]));
  // Each client's delta spans about ±(k+1); 8-bit steps are ≤ 2·6/255 ≈ 0.047, and the mean of six
  // stochastically rounded values errs by at most one step.
  EXPECT_LT(worst, 0.05);
  EXPECT_GT(worst, 0.0); // it really was quantized
  EXPECT_LT(static_cast<double>(quantized_bytes), 0.3 * static_cast<double>(dense_bytes));
}

TEST(CompressedRound, CompressedDomainAggregationMatchesDecodingEachReport) {
  namespace fc = fedpp::compression;
  const fc::compressing_client_hooks<fc::uniform_quantizer> q8(fc::uniform_quantizer(8), 42);
  const auto [decoded, decoded_bytes] = one_round(q8, fc::decompressing_server_hooks{});
  const auto [absorbed, absorbed_bytes] =
      one_round(q8, fc::compressed_domain_server_hooks<fc::compressed_fedavg>{});
  EXPECT_EQ(decoded_bytes, absorbed_bytes);
  ASSERT_EQ(decoded.size(), absorbed.size());
  for (std::size_t i = 0; i < decoded.size(); ++i) EXPECT_NEAR(decoded[i], absorbed[i], 1e-5) << i;
}

TEST(CompressedRound, SignSgdMajorityVoteThroughTheServer) {
  namespace fc = fedpp::compression;
  const auto [model, bytes] =
      one_round<fc::compressing_client_hooks<fc::sign_compressor>,
                fc::compressed_domain_server_hooks<fc::majority_vote>, shifted_wave_trainer>(
          fc::compressing_client_hooks<fc::sign_compressor>(fc::sign_compressor(/*scaled*/ false)), {});
  std::size_t ties = 0;
  for (std::size_t i = 0; i < model.size(); ++i) {
    int votes = 0;
    for (client_id c = 0; c < 6; ++c) {
      const float d = shifted_wave_trainer::delta(c, i);
      votes += d > 0 ? 1 : (d < 0 ? -1 : 0);
    }
    ties += votes == 0 ? 1U : 0U;
    EXPECT_EQ(model[i], votes > 0 ? 1.0F : (votes < 0 ? -1.0F : 0.0F)) << i; // server_sgd, lr 1
  }
  EXPECT_GT(ties, 0U);          // the vote really is split somewhere
  EXPECT_LT(bytes, 6U * 4096U); // 1 bit per coordinate (+ headers) instead of 32
}

} // namespace
