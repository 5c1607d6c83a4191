// Secure aggregation as a policy of fedpp::server: real rounds over in_process_federation host
// threads, the server's hooks running SecAgg / SecAgg+ in place of the plain collection and the
// clients' hooks taking the upload into the protocol. Checked: the model moves by the weighted
// mean of the clipped deltas (to fixed-point precision), dropouts before the masked input are
// recovered, too few survivors abort with the model unchanged, and the distributed discrete
// Gaussian adds noise of the stated variance (statistically, at a fixed seed).
#include "fedpp/aggregation/fedavg.hpp"
#include "fedpp/orchestration/in_process_federation.hpp"
#include "fedpp/orchestration/server.hpp"
#include "fedpp/scheduling/uniform_sampler.hpp"
#include "fedpp/secagg/secure_aggregation_hooks.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <vector>

namespace {

using fedpp::client_id;
namespace sa = fedpp::secagg;

constexpr std::size_t num_clients = 8;

fedpp::model_layout layout_of(std::size_t dim) {
  fedpp::model_layout l;
  l.add("w", {dim});
  return l;
}

// Client c's delta element i (some beyond the clip bound 1) and its number of examples.
float delta_value(client_id c, std::size_t i) {
  return static_cast<float>(std::sin(0.37 * static_cast<double>(i + 1) * static_cast<double>(c + 1)) *
                            (c % 3 == 0 ? 1.5 : 0.4));
}
double examples_of(client_id c) { return static_cast<double>(10 + 3 * c); }

struct delta_trainer {
  fedpp::client_result<float> operator()(client_id id, const fedpp::host_model_view<const float>& global,
                                         const fedpp::round_config&) const {
    fedpp::client_result<float> r{
        fedpp::flat_model<float>(global.layout()), fedpp::update_kind::delta, examples_of(id), {}};
    for (std::size_t i = 0; i < r.model.size(); ++i) r.model.span()[i] = delta_value(id, i);
    return r;
  }
};

// Client hooks that make some clients go silent after `answers` protocol messages (0: after
// advertising their keys; 1: after sending their shares, i.e. before the masked input).
struct dropping_hooks : sa::secagg_client_hooks<float> {
  dropping_hooks(const sa::secure_aggregation_settings& s, std::set<client_id> drop, int answers)
      : sa::secagg_client_hooks<float>(s), drop_(std::move(drop)), answers_(answers) {}
  template <class Endpoint>
  bool on_control(Endpoint& ep, const fedpp::envelope& e) {
    if (drop_.count(e.to) != 0 && seen_[e.to]++ >= answers_) return true; // silently gone
    return sa::secagg_client_hooks<float>::on_control(ep, e);
  }
  std::set<client_id> drop_;
  int answers_;
  std::map<client_id, int> seen_;
};

sa::secure_aggregation_settings settings() {
  sa::secure_aggregation_settings s;
  s.encoding = {32, 1.0, 65536.0, num_clients, 100, 0};
  s.phase_timeout = std::chrono::milliseconds(1000); // phases with a silent client wait this long
  return s;
}

using secure_server =
    fedpp::server<float, fedpp::uniform_sampler, fedpp::server_sgd<float>, fedpp::fedavg<float>,
                  fedpp::wall_clock_availability, sa::secagg_server_hooks<float>>;

secure_server make_server(const sa::secure_aggregation_settings& s, std::size_t dim) {
  fedpp::server_options options;
  options.seed = 5;
  options.max_wait = std::chrono::seconds(30);
  return secure_server(fedpp::flat_model<float>(layout_of(dim)),
                       fedpp::uniform_sampler(num_clients, num_clients), {}, options, {},
                       sa::secagg_server_hooks<float>(s, layout_of(dim)));
}

std::vector<client_id> ids() {
  std::vector<client_id> v(num_clients);
  for (client_id c = 0; c < num_clients; ++c) v[c] = c;
  return v;
}

// Σ_k w_k clip(Δ_k) / Σ_k w_k over `members`, element i.
double expected_mean(const std::set<client_id>& members, std::size_t i) {
  double num = 0, den = 0;
  for (client_id c : members) {
    num += examples_of(c) * std::clamp(static_cast<double>(delta_value(c, i)), -1.0, 1.0);
    den += examples_of(c);
  }
  return num / den;
}

std::set<client_id> all_but(const std::set<client_id>& dropped) {
  std::set<client_id> s;
  for (client_id c : ids())
    if (dropped.count(c) == 0) s.insert(c);
  return s;
}

} // namespace

TEST(SecaggServerPolicy, SecureRoundsApplyTheWeightedMeanOfClippedDeltas) {
  for (bool plus : {false, true}) {
    auto s = settings();
    s.secagg_plus = plus;
    // 8 clients cannot reach the default security/correctness budgets (choose() refuses and says
    // so); test-sized ones that still give a sparse graph.
    s.dropout_rate = 0.01;
    s.sigma = 2;
    s.eta = 2;
    const std::size_t dim = 300;
    fedpp::in_process_federation<float, delta_trainer, sa::secagg_client_hooks<float>> fed(
        ids(), delta_trainer{}, layout_of(dim), 3, sa::secagg_client_hooks<float>(s));
    auto server = make_server(s, dim);
    for (int round = 0; round < 2; ++round) {
      const auto before = server.model();
      const auto metrics = server.run_round(fed.server_endpoint());
      ASSERT_TRUE(metrics.succeeded) << (plus ? "SecAgg+" : "SecAgg") << " round " << round;
      ASSERT_NE(server.hooks().graph(), nullptr);
      if (plus) { // sparse: a real SecAgg+ graph
        EXPECT_LT(server.hooks().graph()->degree(), num_clients - 1);
      }
      EXPECT_EQ(metrics.reported, num_clients);
      EXPECT_GT(metrics.bytes_up, 0U);
      EXPECT_DOUBLE_EQ(metrics.total_examples, [] {
        double w = 0;
        for (client_id c : ids()) w += examples_of(c);
        return w;
      }());
      for (std::size_t i = 0; i < dim; ++i)
        ASSERT_NEAR(server.model().span()[i] - before.span()[i], expected_mean(all_but({}), i), 1e-4)
            << "element " << i;
    }
    EXPECT_EQ(server.hooks().counters().total_refused(), 0U);
  }
}

TEST(SecaggServerPolicy, ClientsDroppingBeforeTheMaskedInputAreRecovered) {
  const std::set<client_id> dropped{2, 5};
  for (int answers : {0, 1}) { // silent after advertising / after sharing their keys
    const auto s = settings();
    const std::size_t dim = 64;
    fedpp::in_process_federation<float, delta_trainer, dropping_hooks> fed(
        ids(), delta_trainer{}, layout_of(dim), 2, dropping_hooks(s, dropped, answers));
    auto server = make_server(s, dim);
    const auto before = server.model();
    const auto metrics = server.run_round(fed.server_endpoint());
    ASSERT_TRUE(metrics.succeeded) << "answers " << answers;
    EXPECT_EQ(metrics.reported, num_clients - dropped.size());
    EXPECT_EQ(metrics.dropped, dropped.size());
    for (std::size_t i = 0; i < dim; ++i)
      ASSERT_NEAR(server.model().span()[i] - before.span()[i], expected_mean(all_but(dropped), i), 1e-4)
          << "answers " << answers << " element " << i;
  }
}

TEST(SecaggServerPolicy, TooFewSurvivorsAbortAndLeaveTheModelUnchanged) {
  // t = ⌊8/2⌋ + 1 = 5: four clients going silent after their shares leave 4 < t.
  const auto s = settings();
  const std::size_t dim = 32;
  fedpp::in_process_federation<float, delta_trainer, dropping_hooks> fed(
      ids(), delta_trainer{}, layout_of(dim), 2, dropping_hooks(s, {0, 1, 2, 3}, 1));
  auto server = make_server(s, dim);
  const auto before = server.model();
  const auto metrics = server.run_round(fed.server_endpoint());
  EXPECT_FALSE(metrics.succeeded);
  EXPECT_EQ(metrics.reported, 0U);
  EXPECT_EQ(server.hooks().aborted_rounds(), 1U);
  EXPECT_TRUE(std::equal(before.span().begin(), before.span().end(), server.model().span().begin()));
}

TEST(SecaggServerPolicy, DistributedDiscreteGaussianHasTheStatedVariance) {
  // Each of the 8 clients adds N_Z(0, σ_c²) per coordinate: the decoded mean's error times
  // Σw·scale is the sum of 8 such samples, standard deviation √8·σ_c. D = 4000 coordinates.
  auto s = settings();
  s.ddg_sigma = 300;
  s.ddg_test_seed = 77;
  const std::size_t dim = 4000;
  fedpp::in_process_federation<float, delta_trainer, sa::secagg_client_hooks<float>> fed(
      ids(), delta_trainer{}, layout_of(dim), 2, sa::secagg_client_hooks<float>(s));
  auto server = make_server(s, dim);
  const auto before = server.model();
  const auto metrics = server.run_round(fed.server_endpoint());
  ASSERT_TRUE(metrics.succeeded);
  const double units = metrics.total_examples * s.encoding.scale;
  double sum = 0, sum_sq = 0;
  for (std::size_t i = 0; i < dim; ++i) {
    const double e =
        (static_cast<double>(server.model().span()[i] - before.span()[i]) - expected_mean(all_but({}), i)) *
        units;
    sum += e;
    sum_sq += e * e;
  }
  const double n = static_cast<double>(dim);
  const double mean = sum / n, sd = std::sqrt(sum_sq / n - mean * mean);
  const double expected_sd = std::sqrt(8.0) * s.ddg_sigma;
  EXPECT_NEAR(mean, 0.0, 4 * expected_sd / std::sqrt(n));
  EXPECT_NEAR(sd / expected_sd, 1.0, 4 / std::sqrt(2 * n)); // float rounding of the mean adds < 1%
}

TEST(SecaggServerPolicy, SettingsThatCanOverflowWithNoiseAreRefused) {
  auto s = settings();
  s.ddg_sigma = 1e8; // 12σ per client on top of K·W·c·s overflows 2^31
  try {
    (void)sa::secagg_client_hooks<float>(s);
    FAIL() << "expected invalid_config";
  } catch (const fedpp::invalid_config& e) {
    EXPECT_NE(std::string(e.what()).find("ddg_sigma"), std::string::npos) << e.what();
  }
  s.ddg_sigma = -1;
  EXPECT_THROW((void)sa::secagg_server_hooks<float>(s, layout_of(4)), fedpp::invalid_config);
}

TEST(SecaggServerPolicy, ClientHooksRefuseARoundWithoutSecureAggregation) {
  sa::secagg_client_hooks<float> hooks(settings());
  fedpp::in_process_transport hub;
  auto ep = hub.endpoint(1);
  const std::vector<float> delta(4, 0.1F);
  EXPECT_THROW(hooks.upload(ep, 0, 1, fedpp::round_config{}, std::span<const float>(delta), 10.0),
               fedpp::invalid_config);
  fedpp::round_config config;
  config.extra[sa::secagg_threshold_key] = "2";
  EXPECT_THROW(hooks.upload(ep, 0, 1, config, std::span<const float>(delta), 10.5), fedpp::invalid_config);
  EXPECT_EQ(hooks.active(), 0U);
}
