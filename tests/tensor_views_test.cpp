#include "fedpp/aggregation/fedavg.hpp"
#include "fedpp/tensor/adapt.hpp"

#include <gtest/gtest.h>

TEST(Smoke, FedAvgOfTwo) {
  fedpp::model_layout layout;
  layout.add("w", {2, 2}).add("b", {2});
  fedpp::flat_model<float> a(layout), b(layout);
  for (std::size_t i = 0; i < a.size(); ++i) {
    a.span()[i] = 1.0F;
    b.span()[i] = 4.0F;
  }
  fedpp::fedavg<float> agg(layout);
  agg.accumulate(fedpp::client_update<float>{1, a.view(), 1.0});
  agg.accumulate(fedpp::client_update<float>{2, b.view(), 2.0});
  auto mean = std::move(agg).report();
  for (float v : mean.span()) EXPECT_FLOAT_EQ(v, 3.0F);
}
