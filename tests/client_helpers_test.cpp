// The client-side helpers: the delta, FedProx's proximal term, round_config extras.
#include "fedpp/client/client_result.hpp"
#include "fedpp/client/round_config.hpp"
#include "fedpp/client/update_helpers.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

namespace {

TEST(ClientHelpers, DeltaIsTrainedMinusGlobal) {
  const std::vector<float> trained{1.5F, -2.F, 0.25F};
  const std::vector<float> global{1.F, 1.F, 1.F};
  std::vector<float> delta(3);
  fedpp::compute_delta<float>(trained, global, delta);
  EXPECT_EQ(delta, (std::vector<float>{0.5F, -3.F, -0.75F}));
  // In place (delta aliasing trained), as client_host does it.
  std::vector<float> in_place = trained;
  fedpp::compute_delta<float>(in_place, global, in_place);
  EXPECT_EQ(in_place, delta);
  std::vector<float> short_delta(2);
  EXPECT_THROW(fedpp::compute_delta<float>(trained, global, short_delta), fedpp::invalid_config);
}

TEST(ClientHelpers, DeltaOfAFlatModelKeepsItsLayout) {
  fedpp::model_layout layout;
  layout.add("w", {2}, fedpp::dtype::f64).add("b", {1}, fedpp::dtype::f64);
  fedpp::flat_model<double> trained(layout);
  trained.span()[0] = 3;
  trained.span()[2] = -1;
  const std::vector<double> global{1, 1, 1};
  const auto delta = fedpp::compute_delta(trained, std::span<const double>(global));
  EXPECT_EQ(delta.layout(), layout);
  EXPECT_EQ(std::vector<double>(delta.span().begin(), delta.span().end()), (std::vector<double>{2, -1, -2}));
}

// FedProx (Li et al. 2020): ∇[(μ/2)‖w − w_g‖²] = μ(w − w_g), checked against a finite difference.
TEST(ClientHelpers, ProximalTermIsTheGradientOfTheProximalPenalty) {
  const std::vector<double> w{0.3, -1.2, 2.0, 0.0};
  const std::vector<double> g{0.1, -1.0, 1.0, 0.5};
  const double mu = 0.7;
  std::vector<double> grad(4, 1.0); // the user's gradient; the term is added to it
  fedpp::add_proximal_term<double>(grad, w, g, mu);
  auto penalty = [&](const std::vector<double>& x) {
    double s = 0;
    for (std::size_t i = 0; i < x.size(); ++i) s += (x[i] - g[i]) * (x[i] - g[i]);
    return 0.5 * mu * s;
  };
  for (std::size_t i = 0; i < w.size(); ++i) {
    auto plus = w, minus = w;
    plus[i] += 1e-6;
    minus[i] -= 1e-6;
    const double numeric = (penalty(plus) - penalty(minus)) / 2e-6;
    EXPECT_NEAR(grad[i] - 1.0, numeric, 1e-8) << "element " << i;
  }
  std::vector<double> unchanged = grad;
  fedpp::add_proximal_term<double>(grad, w, g, 0.0);
  EXPECT_EQ(grad, unchanged);
  EXPECT_THROW(fedpp::add_proximal_term<double>(grad, w, g, -0.1), fedpp::invalid_config);
  EXPECT_THROW(fedpp::add_proximal_term<double>(grad, w, g, std::numeric_limits<double>::infinity()),
               fedpp::invalid_config);
  std::vector<double> short_grad(3);
  EXPECT_THROW(fedpp::add_proximal_term<double>(short_grad, w, g, mu), fedpp::invalid_config);
}

TEST(ClientHelpers, RoundConfigExtrasParseAsNumbers) {
  fedpp::round_config config;
  config.extra["fedprox.mu"] = "0.01";
  config.extra["bad"] = "0.1x";
  config.extra["empty"] = "";
  EXPECT_DOUBLE_EQ(config.get_double("fedprox.mu", 0), 0.01);
  EXPECT_DOUBLE_EQ(config.get_double("absent", 2.5), 2.5);
  try {
    (void)config.get_double("bad", 0);
    FAIL();
  } catch (const fedpp::invalid_config& e) {
    EXPECT_NE(std::string(e.what()).find("extra['bad'] = '0.1x' is not a number"), std::string::npos);
  }
  EXPECT_THROW((void)config.get_double("empty", 0), fedpp::invalid_config);
}

} // namespace
