// profiles::cross_silo and profiles::cross_device (orchestration/profiles.hpp): the options and
// samplers they return, their refusals, and servers built from them running in-process rounds.
#include "fedpp/orchestration/in_process_federation.hpp"
#include "fedpp/orchestration/profiles.hpp"
#include "fedpp/orchestration/server.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <limits>
#include <stdexcept>
#include <vector>

namespace {

using fedpp::client_id;

fedpp::model_layout layout() {
  fedpp::model_layout l;
  l.add("w", {8});
  return l;
}

/// Adds 0.1 to every weight; fails for client `failing` (when set).
struct step_trainer {
  client_id failing = ~client_id{0};
  fedpp::client_result<float> operator()(client_id id, const fedpp::host_model_view<const float>& global,
                                         const fedpp::round_config& config) const {
    if (id == failing) throw std::runtime_error("this silo is down");
    EXPECT_EQ(config.local_epochs, 7U);
    auto model = fedpp::flat_model<float>::copy_of(global);
    for (auto& w : model.span()) w += 0.1F;
    return {std::move(model), fedpp::update_kind::weights, 10.0, {}};
  }
};

std::vector<client_id> ids(std::size_t n) {
  std::vector<client_id> out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = i;
  return out;
}

TEST(Profiles, CrossSiloEverySiloEveryRound) {
  const auto p = fedpp::profiles::cross_silo({.silos = 4, .local_epochs = 7, .seed = 3});
  EXPECT_EQ(p.sampler.population_size(), 4U);
  EXPECT_EQ(p.sampler.sample_size(), 4U);
  EXPECT_EQ(p.options.min_reports, 4U);
  EXPECT_EQ(p.options.target_reports, 4U);
  EXPECT_EQ(p.options.deadline.count(), 0);
  EXPECT_EQ(p.options.client_config.local_epochs, 7U);
  EXPECT_EQ(p.options.seed, 3U);
  fedpp::in_process_federation<float, step_trainer> silos(ids(4), step_trainer{}, layout(), 2);
  fedpp::server<float, fedpp::uniform_sampler> server(fedpp::flat_model<float>(layout()), p.sampler, {},
                                                      p.options);
  for (int r = 0; r < 3; ++r) {
    const auto m = server.run_round(silos.server_endpoint());
    EXPECT_TRUE(m.succeeded);
    EXPECT_EQ(m.sampled, 4U);
    EXPECT_EQ(m.reported, 4U);
  }
  EXPECT_NEAR(server.model().span()[0], 0.3F, 1e-6F);
}

TEST(Profiles, CrossSiloRoundMissingASiloFails) {
  const auto p = fedpp::profiles::cross_silo({.silos = 3, .local_epochs = 7});
  fedpp::in_process_federation<float, step_trainer> silos(ids(3), step_trainer{1}, layout(), 1);
  fedpp::server<float, fedpp::uniform_sampler> server(fedpp::flat_model<float>(layout()), p.sampler, {},
                                                      p.options);
  const auto m = server.run_round(silos.server_endpoint());
  EXPECT_FALSE(m.succeeded);
  EXPECT_EQ(m.client_failures, 1U);
  EXPECT_LE(m.reported, 2U);                 // the round may end as soon as success is impossible
  EXPECT_EQ(server.model().span()[0], 0.0F); // the model did not move with two of three silos
}

TEST(Profiles, CrossSiloRefusals) {
  using fedpp::profiles::cross_silo;
  EXPECT_THROW((void)cross_silo({.silos = 1}), fedpp::invalid_config);
  EXPECT_THROW((void)cross_silo({.silos = 3, .local_epochs = 0}), fedpp::invalid_config);
  EXPECT_THROW((void)cross_silo({.silos = 3, .batch_size = 0}), fedpp::invalid_config);
  EXPECT_THROW((void)cross_silo({.silos = 3, .learning_rate = 0}), fedpp::invalid_config);
  EXPECT_THROW((void)cross_silo({.silos = 3, .learning_rate = std::numeric_limits<double>::quiet_NaN()}),
               fedpp::invalid_config);
  EXPECT_THROW((void)cross_silo({.silos = 3, .max_wait = std::chrono::nanoseconds{0}}),
               fedpp::invalid_config);
}

TEST(Profiles, CrossDeviceMillionClientsHundredPerRound) {
  const auto p = fedpp::profiles::cross_device(
      {.population = 1'000'000, .per_round = 100, .over_selection = 0.3, .local_epochs = 7, .seed = 5});
  EXPECT_EQ(p.sampler.population_size(), 1'000'000U);
  EXPECT_EQ(p.sampler.sample_size(), 130U);
  EXPECT_EQ(p.sampler.target_reports(), 100U);
  EXPECT_EQ(p.options.target_reports, 100U);
  EXPECT_EQ(p.options.min_reports, 50U);
  EXPECT_EQ(p.options.max_in_flight, 64U);
  fedpp::in_process_federation<float, step_trainer> devices(ids(1'000'000), step_trainer{}, layout(), 2);
  EXPECT_EQ(devices.hub().num_endpoints(), 3U); // routed by range: nothing per device
  fedpp::server<float, fedpp::over_selection<fedpp::uniform_sampler>> server(
      fedpp::flat_model<float>(layout()), p.sampler, {}, p.options);
  const auto m = server.run_round(devices.server_endpoint());
  EXPECT_TRUE(m.succeeded);
  EXPECT_EQ(m.sampled, 130U);
  EXPECT_EQ(m.reported, 100U);
}

TEST(Profiles, CrossDeviceRefusals) {
  using fedpp::profiles::cross_device;
  EXPECT_THROW((void)cross_device({.population = 0, .per_round = 1}), fedpp::invalid_config);
  EXPECT_THROW((void)cross_device({.population = 10, .per_round = 0}), fedpp::invalid_config);
  EXPECT_THROW((void)cross_device({.population = 10, .per_round = 11}), fedpp::invalid_config);
  EXPECT_THROW((void)cross_device({.population = 10, .per_round = 5, .over_selection = -0.1}),
               fedpp::invalid_config);
  EXPECT_THROW((void)cross_device({.population = 10, .per_round = 5, .min_reports = 6}),
               fedpp::invalid_config);
  EXPECT_THROW((void)cross_device({.population = 10, .per_round = 5, .local_epochs = 0}),
               fedpp::invalid_config);
  EXPECT_THROW((void)cross_device({.population = 10, .per_round = 5, .learning_rate = -1}),
               fedpp::invalid_config);
  EXPECT_THROW(
      (void)cross_device({.population = 10, .per_round = 5, .deadline = std::chrono::milliseconds{-1}}),
      fedpp::invalid_config);
  EXPECT_EQ(cross_device({.population = 10, .per_round = 5}).options.min_reports, 3U); // ⌈5/2⌉
}

} // namespace
