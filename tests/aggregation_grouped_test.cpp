// Per-group aggregation: groups with different policies and a left-out group, against a naive
// double reference; plan errors; bad updates leave the state unchanged; merge; fedpp::server use.
#include "fedpp/aggregation/fedavg.hpp"
#include "fedpp/aggregation/grouped_aggregator.hpp"
#include "fedpp/random/rng.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace {

using fedpp::client_update;
using fedpp::fedavg;
using fedpp::flat_model;
using fedpp::group_plan;
using fedpp::grouped_aggregator;
using fedpp::model_layout;

model_layout gan_layout() {
  model_layout layout;
  layout.add("gen.w", {4, 3}).add("disc.w", {3, 2}).add("gen.b", {4}).add("disc.b", {1}).add("head.w", {5});
  return layout;
}

std::vector<flat_model<float>> random_models(const model_layout& layout, std::size_t count,
                                             std::uint64_t seed) {
  fedpp::rng gen(seed);
  std::vector<flat_model<float>> models;
  for (std::size_t k = 0; k < count; ++k) {
    auto& m = models.emplace_back(layout);
    for (auto& v : m.span()) v = static_cast<float>(gen.uniform() * 2.0 - 1.0);
  }
  return models;
}

group_plan<float> gan_plan() {
  group_plan<float> plan;
  plan.by_prefix("generator", "gen.", [](const model_layout& l) { return fedavg<float>(l); })
      .by_names("discriminator", {"disc.w", "disc.b"},
                [](const model_layout& l) { return fedavg<float>(l, fedpp::weighting::uniform); })
      .keep_local_prefix("head", "head.");
  return plan;
}

TEST(GroupedAggregator, EachGroupItsOwnPolicyAndLeftOutIsZero) {
  const auto layout = gan_layout();
  const auto models = random_models(layout, 5, 11);
  const std::vector<double> weights{1, 4, 2, 7, 3};
  grouped_aggregator<float> agg(layout, gan_plan());
  for (std::size_t k = 0; k < models.size(); ++k)
    agg.accumulate(client_update<float>::from_flat(k, layout, models[k].span(), weights[k]));
  EXPECT_EQ(agg.num_inputs(), 5U);
  EXPECT_EQ(agg.sub_layout("generator").num_tensors(), 2U);
  const flat_model<float> out = std::move(agg).report();
  ASSERT_EQ(out.layout(), layout);
  for (const auto& e : layout.entries()) {
    for (std::size_t i = 0; i < e.size(); ++i) {
      double expected = 0, total = 0;
      if (e.name.rfind("gen.", 0) == 0) {
        for (std::size_t k = 0; k < models.size(); ++k) {
          expected += weights[k] * models[k].data()[e.offset + i];
          total += weights[k];
        }
        expected /= total;
      } else if (e.name.rfind("disc.", 0) == 0) {
        for (const auto& m : models) expected += m.data()[e.offset + i];
        expected /= static_cast<double>(models.size());
      } // head: left out → 0
      EXPECT_NEAR(out.data()[e.offset + i], expected, 1e-6) << e.name << "[" << i << "]";
    }
  }
}

TEST(GroupedAggregator, PlanMustCoverTheLayoutExactlyOnce) {
  const auto layout = gan_layout();
  auto make = [](const model_layout& l) { return fedavg<float>(l); };
  group_plan<float> missing;
  missing.by_prefix("g", "gen.", make).by_prefix("d", "disc.", make);
  try {
    grouped_aggregator<float> a(layout, missing);
    FAIL();
  } catch (const fedpp::invalid_config& e) {
    EXPECT_NE(std::string(e.what()).find("tensor 'head.w' is in no group"), std::string::npos) << e.what();
  }
  group_plan<float> twice;
  twice.by_prefix("all", "", make).keep_local_names("head", {"head.w"});
  try {
    grouped_aggregator<float> a(layout, twice);
    FAIL();
  } catch (const fedpp::invalid_config& e) {
    EXPECT_NE(std::string(e.what()).find("'head.w' is in groups 'all' and 'head'"), std::string::npos)
        << e.what();
  }
  group_plan<float> empty_group = gan_plan();
  empty_group.by_prefix("nothing", "zzz.", make);
  EXPECT_THROW(grouped_aggregator<float>(layout, empty_group), fedpp::invalid_config);
  group_plan<float> dup;
  dup.by_prefix("a", "gen.", make);
  EXPECT_THROW(dup.by_prefix("a", "disc.", make), fedpp::invalid_config);
  EXPECT_THROW(dup.keep_local_names("x", {}), fedpp::invalid_config);
}

TEST(GroupedAggregator, BadUpdateRejectedWithStateUnchanged) {
  const auto layout = gan_layout();
  auto models = random_models(layout, 3, 5);
  grouped_aggregator<float> agg(layout, gan_plan()), ref(layout, gan_plan());
  agg.accumulate(client_update<float>::from_flat(0, layout, models[0].span(), 2));
  ref.accumulate(client_update<float>::from_flat(0, layout, models[0].span(), 2));
  // NaN in the left-out head is still a bad update.
  models[1].data()[layout.at("head.w").offset + 2] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(agg.accumulate(client_update<float>::from_flat(1, layout, models[1].span(), 1)),
               fedpp::rejected_update);
  EXPECT_THROW(agg.accumulate(client_update<float>::from_flat(2, layout, models[2].span(), 0)),
               fedpp::rejected_update);
  model_layout other;
  other.add("gen.w", {4, 3});
  flat_model<float> small(other);
  EXPECT_THROW(agg.accumulate(client_update<float>::from_flat(3, other, small.span(), 1)),
               fedpp::rejected_update);
  EXPECT_EQ(agg.num_inputs(), 1U);
  const auto a = std::move(agg).report();
  const auto b = std::move(ref).report();
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a.data()[i], b.data()[i]);
}

TEST(GroupedAggregator, MergeEqualsFlat) {
  const auto layout = gan_layout();
  const auto models = random_models(layout, 6, 9);
  grouped_aggregator<float> flat(layout, gan_plan()), left(layout, gan_plan()), right(layout, gan_plan());
  for (std::size_t k = 0; k < models.size(); ++k) {
    const auto u = client_update<float>::from_flat(k, layout, models[k].span(), double(k + 1));
    flat.accumulate(u);
    (k < 2 ? left : right).accumulate(u);
  }
  left.merge(std::move(right));
  EXPECT_EQ(left.num_inputs(), 6U);
  const auto a = std::move(flat).report();
  const auto b = std::move(left).report();
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a.data()[i], b.data()[i], 1e-6);

  group_plan<float> different;
  different.by_prefix("all", "", [](const model_layout& l) { return fedavg<float>(l); });
  grouped_aggregator<float> x(layout, gan_plan()), y(layout, different);
  EXPECT_THROW(x.merge(std::move(y)), fedpp::invalid_config);
  EXPECT_FALSE(x.can_report());
  EXPECT_THROW((void)std::move(x).report(), fedpp::invalid_config);
}

} // namespace
