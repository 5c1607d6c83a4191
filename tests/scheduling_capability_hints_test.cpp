// capability_hints: device classes override round_config fields; mistakes fail at configuration.
#include "fedpp/scheduling/capability_hints.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <limits>
#include <string>

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

} // namespace
