// A consumer of fedpp: FedAvg of two weighted client updates; exit code 0 iff the mean is right.
// With FEDPP_CONSUMER_EIGEN the updates live in Eigen vectors (fedpp::eigen component).
#include <fedpp/aggregation/fedavg.hpp>
#include <fedpp/tensor/adapt.hpp>
#if FEDPP_CONSUMER_EIGEN
#include <fedpp/tensor/eigen.hpp>
#endif

#include <cmath>
#include <cstdio>
#include <utility>
#include <vector>

int main() {
  fedpp::model_layout layout;
  layout.add("w", {2, 2}).add("b", {2});
  // Client 1 (10 examples) sends all 1s, client 2 (30 examples) all 5s: mean = (10 + 150) / 40 = 4.
#if FEDPP_CONSUMER_EIGEN
  const Eigen::VectorXf update1 = Eigen::VectorXf::Constant(6, 1.0F);
  const Eigen::VectorXf update2 = Eigen::VectorXf::Constant(6, 5.0F);
  const auto flat1 = fedpp::adapt(update1).span();
  const auto flat2 = fedpp::adapt(update2).span();
#else
  const std::vector<float> update1(6, 1.0F);
  const std::vector<float> update2(6, 5.0F);
  const auto flat1 = fedpp::adapt(update1).span();
  const auto flat2 = fedpp::adapt(update2).span();
#endif
  fedpp::fedavg<float> aggregate(layout);
  aggregate.accumulate(fedpp::client_update<float>::from_flat(1, layout, flat1, 10.0));
  aggregate.accumulate(fedpp::client_update<float>::from_flat(2, layout, flat2, 30.0));
  const auto mean = std::move(aggregate).report();
  int bad = 0;
  for (const float v : mean.span())
    if (std::fabs(v - 4.0F) > 1e-6F) ++bad;
  std::printf("fedpp consumer: FedAvg of 2 clients over %zu elements, %d wrong\n", mean.size(), bad);
  return bad == 0 && mean.size() == 6 ? 0 : 1;
}
