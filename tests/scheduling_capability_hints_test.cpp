// capability_hints: device classes override round_config fields; mistakes fail at configuration;
// on fedpp::server, clients of classes with different batch sizes are weighted by the examples
// they hold (FedAvg's n_k), not by the steps they take (docs/heterogeneous_devices.md).
#include "fedpp/orchestration/in_process_federation.hpp"
#include "fedpp/orchestration/server.hpp"
#include "fedpp/scheduling/capability_hints.hpp"
#include "fedpp/scheduling/uniform_sampler.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;
using fedpp::capability_hints;
using fedpp::config_overrides;
using fedpp::round_config;
using testing::HasSubstr;

round_config base_config() {
  round_config c;
  c.round = 7;
  c.local_epochs = 5;
  c.batch_size = 64;
  c.learning_rate = 0.1;
  c.deadline = 60000ms;
  c.extra = {{"fedprox.mu", "0.01"}, {"seed", "3"}};
  return c;
}

capability_hints phone_and_laptop() {
  config_overrides phone;
  phone.local_epochs = 1;
  phone.batch_size = 16;
  phone.learning_rate = 0.05;
  phone.deadline = 120000ms;
  phone.extra = {{"fedprox.mu", "0.1"}, {"precision", "fp16"}};
  config_overrides laptop;
  laptop.batch_size = 128;
  capability_hints hints;
  hints.define_class("phone", phone).define_class("laptop", laptop);
  hints.assign(1, "phone").assign(2, "laptop").assign(3, "phone");
  return hints;
}

TEST(CapabilityHints, ClassOverridesApplyOverTheBase) {
  const auto hints = phone_and_laptop();
  const auto base = base_config();
  const round_config phone = hints.config_for(1, base);
  EXPECT_EQ(phone.round, 7U);
  EXPECT_EQ(phone.local_epochs, 1U);
  EXPECT_EQ(phone.batch_size, 16U);
  EXPECT_DOUBLE_EQ(phone.learning_rate, 0.05);
  EXPECT_EQ(phone.deadline, 120000ms);
  EXPECT_EQ(phone.extra.at("fedprox.mu"), "0.1"); // overridden
  EXPECT_EQ(phone.extra.at("precision"), "fp16"); // added
  EXPECT_EQ(phone.extra.at("seed"), "3");         // kept

  round_config expected_laptop = base;
  expected_laptop.batch_size = 128;
  EXPECT_EQ(hints.config_for(2, base), expected_laptop);
  EXPECT_EQ(hints.config_for(99, base), base); // no class: the base unchanged
  EXPECT_EQ(hints.class_of(3), "phone");
  EXPECT_EQ(hints.class_of(99), std::nullopt);
  EXPECT_EQ(hints.num_classes(), 2U);
  EXPECT_EQ(hints.overrides_of("laptop").batch_size, 128U);
}

TEST(CapabilityHints, DefaultClassAndReassignment) {
  auto hints = phone_and_laptop();
  hints.set_default_class("laptop");
  EXPECT_EQ(hints.class_of(99), "laptop");
  EXPECT_EQ(hints.config_for(99, base_config()).batch_size, 128U);
  EXPECT_EQ(hints.config_for(1, base_config()).batch_size, 16U); // a tag beats the default
  hints.assign(1, "laptop");
  EXPECT_EQ(hints.config_for(1, base_config()).batch_size, 128U);
}

TEST(CapabilityHints, UnknownClassFailsAtConfigurationTime) {
  auto hints = phone_and_laptop();
  try {
    hints.assign(5, "watch");
    ADD_FAILURE();
  } catch (const fedpp::invalid_config& e) {
    EXPECT_THAT(e.what(), HasSubstr("'watch'"));
    EXPECT_THAT(e.what(), HasSubstr("client 5"));
    EXPECT_THAT(e.what(), HasSubstr("not defined"));
  }
  EXPECT_EQ(hints.class_of(5), std::nullopt); // nothing changed
  EXPECT_THROW(hints.set_default_class("watch"), fedpp::invalid_config);
  EXPECT_EQ(hints.class_of(5), std::nullopt);
  EXPECT_THROW((void)hints.overrides_of("watch"), fedpp::invalid_config);
}

TEST(CapabilityHints, BadOverridesAreRejected) {
  capability_hints hints;
  auto message = [&](const std::string& name, config_overrides o) {
    try {
      hints.define_class(name, o);
    } catch (const fedpp::invalid_config& e) {
      return std::string(e.what());
    }
    return std::string("no exception");
  };
  config_overrides zero_batch;
  zero_batch.batch_size = 0;
  EXPECT_THAT(message("phone", zero_batch), HasSubstr("batch_size must be > 0"));
  config_overrides zero_epochs;
  zero_epochs.local_epochs = 0;
  EXPECT_THAT(message("phone", zero_epochs), HasSubstr("local_epochs must be > 0"));
  for (const double lr : {0.0, -0.1, std::numeric_limits<double>::quiet_NaN()}) {
    config_overrides bad_lr;
    bad_lr.learning_rate = lr;
    EXPECT_THAT(message("phone", bad_lr), HasSubstr("learning_rate must be finite and > 0"));
  }
  config_overrides bad_deadline;
  bad_deadline.deadline = -1ms;
  EXPECT_THAT(message("phone", bad_deadline), HasSubstr("deadline must be >= 0"));
  EXPECT_THAT(message("", config_overrides{}), HasSubstr("non-empty name"));
  EXPECT_EQ(hints.num_classes(), 0U); // none of the bad ones was stored
  EXPECT_EQ(message("phone", config_overrides{}), "no exception");
  EXPECT_THAT(message("phone", config_overrides{}), HasSubstr("'phone' is already defined"));
  EXPECT_EQ(hints.num_classes(), 1U);
}

/// A client that holds sizes[id] examples, takes ⌈n/B⌉·E steps with the batch size B its round_config
/// names, and moves every parameter by id + 1 (so the server's mean shows each client's weight).
struct batch_reporting_trainer {
  std::vector<double> sizes;
  fedpp::client_result<float> operator()(fedpp::client_id id,
                                         const fedpp::host_model_view<const float>& global,
                                         const round_config& config) const {
    auto w = fedpp::flat_model<float>::copy_of(global);
    for (auto& v : w.span()) v += static_cast<float>(id + 1);
    const double steps = std::ceil(sizes.at(id) / config.batch_size) * config.local_epochs;
    return {std::move(w),
            fedpp::update_kind::weights,
            sizes.at(id),
            {{"local_steps", steps}, {"batch_size", static_cast<double>(config.batch_size)}}};
  }
};

/// One round of 4 clients (40, 60, 200, 300 examples): 0 and 1 are phones, 2 and 3 laptops.
fedpp::round_metrics round_with_batches(std::uint32_t phone_batch, std::uint32_t laptop_batch,
                                        std::vector<float>& model) {
  fedpp::model_layout layout;
  layout.add("w", {3});
  const batch_reporting_trainer trainer{{40, 60, 200, 300}};
  fedpp::in_process_federation<float, batch_reporting_trainer> federation({0, 1, 2, 3}, trainer, layout, 1);
  fedpp::server_options options;
  options.client_config.batch_size = 32;
  fedpp::server<float, fedpp::uniform_sampler> server(fedpp::flat_model<float>(layout),
                                                      fedpp::uniform_sampler(4, 4), {}, options);
  config_overrides phone, laptop;
  phone.batch_size = phone_batch;
  laptop.batch_size = laptop_batch;
  capability_hints hints;
  hints.define_class("phone", phone).define_class("laptop", laptop);
  hints.assign(0, "phone").assign(1, "phone").assign(2, "laptop").assign(3, "laptop");
  server.set_capability_hints(hints);
  const auto m = server.run_round(federation.server_endpoint());
  model.assign(server.model().span().begin(), server.model().span().end());
  return m;
}

TEST(CapabilityHints, BatchSizesPerDeviceClassAreWeightedByExamplesNotSteps) {
  std::vector<float> model, swapped_model;
  const auto m = round_with_batches(8, 64, model);
  ASSERT_TRUE(m.succeeded);
  EXPECT_EQ(m.reported, 4U);
  EXPECT_DOUBLE_EQ(m.total_examples, 600.0);
  // Each client trained with its class's batch size: the example-weighted mean of what they saw.
  EXPECT_NEAR(m.client_metrics.at("batch_size"), (100.0 * 8 + 500.0 * 64) / 600.0, 1e-9);
  // Steps ⌈n/B⌉: 5, 8 (phones, B = 8), 4, 5 (laptops, B = 64).
  EXPECT_NEAR(m.client_metrics.at("local_steps"), (40.0 * 5 + 60.0 * 8 + 200.0 * 4 + 300.0 * 5) / 600.0,
              1e-9);
  // FedAvg: Σ n_k Δ_k / Σ n_k with Δ_k = k + 1 — the weights are 40, 60, 200, 300 / 600.
  const float expected = static_cast<float>((40.0 * 1 + 60.0 * 2 + 200.0 * 3 + 300.0 * 4) / 600.0);
  for (const float v : model) EXPECT_FLOAT_EQ(v, expected);
  // Swap the classes' batch sizes: the steps change (1, 1, 25, 38), the weights and the model do not.
  const auto s = round_with_batches(64, 8, swapped_model);
  EXPECT_NEAR(s.client_metrics.at("batch_size"), (100.0 * 64 + 500.0 * 8) / 600.0, 1e-9);
  EXPECT_NEAR(s.client_metrics.at("local_steps"), (40.0 * 1 + 60.0 * 1 + 200.0 * 25 + 300.0 * 38) / 600.0,
              1e-9);
  EXPECT_EQ(swapped_model, model);
}

} // namespace
