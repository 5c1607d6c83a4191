// Flower parity (docs/flower.md): a Flower user's configuration gives Flower's numbers.
// - The cases of Flower's own strategy tests, reproduced with fedpp's classes and asserted as
//   Flower asserts them: aggregate_test.py (test_aggregate, weighted_loss_avg), fedavgm_test.py
//   (both cases), fedadagrad_test.py (exact 0.15 in float32), the differential-privacy utilities
//   (differential_privacy_test.py: compute_stdv, compute_clip_model_update, the zero-norm update,
//   compute_adaptive_noise_params), the adaptive-clipping wrappers (dp_adaptive_clipping_test.py,
//   2026) and the fixed-clipping release (dp_fixed_clipping_test.py, 2026).
// - Hand cases of the formulas in Flower's code where its tests pin no numbers: FedAdam with its
//   bias-corrected η (flwrlabs/flower#4362), FedYogi and FedAdagrad with v starting at 0, and
//   q-FedAvg (aggregate_qffl / compute_delta_and_h, per-client and shared loss). The expected
//   values were computed in double precision by a separate script that follows Flower's formulas
//   in Flower's order of operations; fedpp must agree to a few ulps.
// - q-FedAvg inside fedpp::server: the loss travels as the metric "train_loss".
#include "fedpp/aggregation/fedavg.hpp"
#include "fedpp/aggregation/qfedavg.hpp"
#include "fedpp/aggregation/weighted_average.hpp"
#include "fedpp/optim/fedopt.hpp"
#include "fedpp/optim/server_momentum.hpp"
#include "fedpp/optim/server_sgd.hpp"
#include "fedpp/orchestration/client_metrics_mean.hpp"
#include "fedpp/orchestration/in_process_federation.hpp"
#include "fedpp/orchestration/server.hpp"
#include "fedpp/privacy/adaptive_clipping.hpp"
#include "fedpp/privacy/central_dp_hooks.hpp"
#include "fedpp/privacy/clipping.hpp"
#include "fedpp/scheduling/uniform_sampler.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace {

using fedpp::client_id;

template <class F>
void expect_invalid(F&& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no exception, expected invalid_config naming " << needle;
  } catch (const fedpp::invalid_config& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

// Flower's two-array test model: [[1, 2, 3], [4, 5, 6]] and [7, 8, 9, 10].
fedpp::model_layout two_arrays() {
  fedpp::model_layout l;
  l.add("0", {2, 3}).add("1", {4});
  return l;
}
const std::vector<float> flower_weights{1, 2, 3, 4, 5, 6, 7, 8, 9, 10};

// ---- aggregate_test.py ---------------------------------------------------------------------

TEST(FlowerParity, AggregateIsTheExampleWeightedMean) {
  // test_aggregate: the same arrays with 1 and 2 examples average to themselves.
  fedpp::fedavg<float> avg(two_arrays());
  avg.accumulate(fedpp::client_update<float>::from_flat(0, two_arrays(), flower_weights, 1));
  avg.accumulate(fedpp::client_update<float>::from_flat(1, two_arrays(), flower_weights, 2));
  const auto mean = std::move(avg).report();
  EXPECT_EQ(std::vector<float>(mean.span().begin(), mean.span().end()), flower_weights);
}

TEST(FlowerParity, WeightedLossAverage) {
  // test_weighted_loss_avg_single_value / _multiple_values: exact equality, as Flower asserts.
  const std::vector<std::pair<double, double>> one{{5, 0.5}};
  EXPECT_EQ(fedpp::weighted_average(one), 0.5);
  const std::vector<std::pair<double, double>> three{{1, 2.0}, {2, 1.0}, {1, 2.0}};
  EXPECT_EQ(fedpp::weighted_average(three), 1.5);
  EXPECT_EQ(fedpp::weighted_average(three, fedpp::average_order::normalize_then_sum), 1.5);
  // The two orders are Flower's two conventions; they may differ in the last bits.
  const std::vector<std::pair<double, double>> odd{{3, 0.1}, {7, 0.7}, {11, 0.3}};
  const double sum_then_divide = (3 * 0.1 + 7 * 0.7 + 11 * 0.3) / (3.0 + 7.0 + 11.0);
  const double normalize_then_sum = 0.1 * (3 / 21.0) + 0.7 * (7 / 21.0) + 0.3 * (11 / 21.0);
  EXPECT_EQ(fedpp::weighted_average(odd), sum_then_divide);
  EXPECT_EQ(fedpp::weighted_average(odd, fedpp::average_order::normalize_then_sum), normalize_then_sum);
}

TEST(FlowerParity, WeightedAverageOfMetricsMatchesTheServersClientMetrics) {
  using report = std::pair<double, std::map<std::string, double>>;
  const std::vector<report> reports{{600, {{"accuracy", 0.81}, {"loss", 0.53}}},
                                    {120, {{"accuracy", 0.67}, {"loss", 0.91}}},
                                    {333, {{"accuracy", 0.755}, {"loss", 0.6125}}}};
  const auto mean = fedpp::weighted_average(reports);
  fedpp::client_metrics_mean server_side;
  for (const auto& [n, m] : reports) (void)server_side.add(n, m);
  EXPECT_EQ(mean, server_side.means()); // bit for bit: same operations, same order
  EXPECT_EQ(mean.at("accuracy"), (600 * 0.81 + 120 * 0.67 + 333 * 0.755) / (600.0 + 120.0 + 333.0));
}

TEST(FlowerParity, WeightedAverageRefusesWhatFlowerCannotAverage) {
  expect_invalid([] { (void)fedpp::weighted_average(std::vector<std::pair<double, double>>{}); },
                 "no entries");
  expect_invalid(
      [] {
        (void)fedpp::weighted_average(std::vector<std::pair<double, double>>{{1, 1}, {-2, 1}});
      },
      "weight of entry 1 is -2");
  expect_invalid(
      [] {
        (void)fedpp::weighted_average(std::vector<std::pair<double, double>>{{1, NAN}});
      },
      "value of entry 0 is nan");
  expect_invalid(
      [] {
        (void)fedpp::weighted_average(std::vector<std::pair<double, double>>{{0, 1}, {0, 2}});
      },
      "sum to 0.000000");
  using report = std::pair<double, std::map<std::string, double>>;
  expect_invalid(
      [] {
        (void)fedpp::weighted_average(std::vector<report>{{1, {{"acc", 1}}}, {1, {{"loss", 1}}}});
      },
      "report 1 has no metric 'acc'");
  expect_invalid(
      [] {
        (void)fedpp::weighted_average(std::vector<report>{{1, {{"acc", 1}}}, {1, {{"acc", INFINITY}}}});
      },
      "metric 'acc': weighted_average: value of entry 1 is inf");
}

// ---- fedavgm_test.py -----------------------------------------------------------------------

// One FedAvgM round as Flower runs it: clients return `flower_weights` (1 and 2 examples);
// fedpp's clients upload w_k − x, the server steps x with the weighted mean delta.
void fedavgm_round(std::vector<float>& x, fedpp::server_momentum<float>& opt) {
  std::vector<float> delta(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) delta[i] = flower_weights[i] - x[i];
  fedpp::fedavg<float> avg(two_arrays());
  avg.accumulate(fedpp::client_update<float>::from_flat(0, two_arrays(), delta, 1));
  avg.accumulate(fedpp::client_update<float>::from_flat(1, two_arrays(), delta, 2));
  const auto mean = std::move(avg).report();
  opt.step(x, mean.span());
}

TEST(FlowerParity, FedAvgMNearOneLearningRateAndNoMomentum) {
  // test_aggregate_fit_using_near_one_server_lr_and_no_momentum: server_learning_rate = 1 + 1e-9.
  std::vector<float> x(10, 0.0F);
  fedpp::server_momentum<float> opt(10, 1.0 + 1e-9, 0.0);
  fedavgm_round(x, opt);
  for (std::size_t i = 0; i < x.size(); ++i)
    EXPECT_NEAR(x[i], flower_weights[i], 1.5e-7); // assert_almost_equal
}

TEST(FlowerParity, FedAvgMLearningRateAndMomentumOverTwoRounds) {
  // test_aggregate_fit_server_learning_rate_and_momentum: lr = 1 + 1e-9, momentum = 1e-9.
  std::vector<float> x(10, 0.0F);
  fedpp::server_momentum<float> opt(10, 1.0 + 1e-9, 1.0e-9);
  fedavgm_round(x, opt); // round 1 creates the momentum (Flower: m = pseudo-gradient)
  fedavgm_round(x, opt); // round 2 updates it
  for (std::size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(x[i], flower_weights[i], 1.5e-7);
}

// ---- fedadagrad_test.py and the FedOpt formulas --------------------------------------------

TEST(FlowerParity, FedAdagradAggregateFitIsExactlyPointOneFive) {
  // FedAdagrad(eta=0.1, eta_l=0.316, tau=0.5), x = 0.1, clients 0.2 and 1.0 with 5 examples each:
  // Flower asserts float32 0.15 exactly. Flower's FedAdagrad: β1 = 0 (m = Δ), v starts at 0.
  fedpp::model_layout l;
  l.add("w", {4});
  std::vector<float> x(4, 0.1F);
  auto one_round = [&](fedpp::fedadagrad<float>& opt) {
    std::vector<float> d0(4), d1(4);
    for (std::size_t i = 0; i < 4; ++i) {
      d0[i] = 0.2F - x[i];
      d1[i] = 1.0F - x[i];
    }
    fedpp::fedavg<float> avg(l);
    avg.accumulate(fedpp::client_update<float>::from_flat(0, l, d0, 5));
    avg.accumulate(fedpp::client_update<float>::from_flat(1, l, d1, 5));
    const auto mean = std::move(avg).report();
    opt.step(x, mean.span());
  };
  fedpp::fedadagrad<float> flower(4, fedpp::fedadagrad_params{0.1, 0.0, 0.5, fedpp::fedopt_initial_v::zero});
  one_round(flower);
  for (float v : x) EXPECT_EQ(v, 0.15F);
  // fedpp's default v₋₁ = τ² gives another number: 0.1 + 0.1·0.5/(√0.5 + 0.5).
  x.assign(4, 0.1F);
  fedpp::fedadagrad<float> paper(4, fedpp::fedadagrad_params{0.1, 0.0, 0.5});
  one_round(paper);
  for (float v : x) EXPECT_NEAR(v, 0.1 + 0.05 / (std::sqrt(0.5) + 0.5), 1e-7);
}

// Three rounds of pseudo-gradients on a two-element model x₀ = (0.1, −0.2).
const std::vector<std::vector<double>> fedopt_deltas{{0.5, 0.02}, {-0.25, 0.02}, {0.125, -0.3}};

template <class Opt>
void expect_fedopt_trajectory(Opt& opt, const std::vector<std::vector<double>>& expected_x,
                              const std::vector<double>& expected_eta = {}) {
  std::vector<double> x{0.1, -0.2};
  for (std::size_t r = 0; r < fedopt_deltas.size(); ++r) {
    SCOPED_TRACE("round " + std::to_string(r + 1));
    if (!expected_eta.empty()) {
      EXPECT_DOUBLE_EQ(opt.next_learning_rate(), expected_eta[r]);
    }
    opt.step(x, fedopt_deltas[r]);
    for (std::size_t i = 0; i < 2; ++i)
      EXPECT_NEAR(x[i], expected_x[r][i], 4e-16 * (1 + std::abs(expected_x[r][i])));
  }
}

TEST(FlowerParity, FedAdamWithFlowersBiasCorrectedStepAndZeroStart) {
  // Flower's FedAdam defaults (eta 0.1, beta_1 0.9, beta_2 0.99, tau 1e-9): v starts at 0 and
  // η_t = η √(1 − β2^{r+1}) / (1 − β1^{r+1}) at server_round r = 1, 2, 3.
  fedpp::fedadam<double> opt(2, fedpp::fedopt_params{0.1, 0.9, 0.99, 1e-9, fedpp::fedopt_initial_v::zero,
                                                     fedpp::fedopt_bias_correction::flower});
  expect_fedopt_trajectory(opt,
                           {{0.17424597735542724, -0.1257540582826241},
                            {0.19708962148960266, -0.04010094486303588},
                            {0.22808921963499845, -0.0910197924863333}},
                           {0.07424597884034684, 0.06359401500589872, 0.05772154196660394});
  EXPECT_NEAR(opt.second_moment()[1], 0.0009078804000000007, 1e-18);
  // Kingma & Ba's exponent is one lower: η₁ = η √(1 − β2)/(1 − β1) = 0.1·√0.01/0.1.
  fedpp::fedadam<double> kb(2, fedpp::fedopt_params{0.1, 0.9, 0.99, 1e-9, fedpp::fedopt_initial_v::zero,
                                                    fedpp::fedopt_bias_correction::kingma_ba});
  EXPECT_DOUBLE_EQ(kb.next_learning_rate(), 0.1 * std::sqrt(1 - 0.99) / (1 - 0.9));
}

TEST(FlowerParity, FedYogiWithZeroStart) {
  // Flower's FedYogi defaults (eta 0.01, beta_1 0.9, beta_2 0.99, tau 1e-3), no bias correction.
  fedpp::fedyogi<double> opt(2, fedpp::fedopt_params{0.01, 0.9, 0.99, 1e-3, fedpp::fedopt_initial_v::zero});
  expect_fedopt_trajectory(opt, {{0.10980392156862745, -0.19333333333333336},
                                 {0.11331875507935055, -0.1834075860847112},
                                 {0.11855191408766368, -0.19194514021099188}});
}

TEST(FlowerParity, FedAdagradWithZeroStart) {
  // Flower's FedAdagrad defaults (eta 0.1, tau 1e-9, beta_1 fixed at 0).
  fedpp::fedadagrad<double> opt(2, fedpp::fedadagrad_params{0.1, 0.0, 1e-9, fedpp::fedopt_initial_v::zero});
  expect_fedopt_trajectory(opt, {{0.19999999980000002, -0.10000000499999975},
                                 {0.15527864033000421, -0.029289329381344917},
                                 {0.1771004293155082, -0.12884782579094423}});
}

// ---- q-FedAvg (aggregate_qffl, compute_delta_and_h) ----------------------------------------

// Global model w over two tensors, three clients' trained weights w̄_k and their losses.
fedpp::model_layout qffl_layout() {
  fedpp::model_layout l;
  l.add("a", {2}, fedpp::dtype::f64).add("b", {1}, fedpp::dtype::f64);
  return l;
}
const std::vector<double> qffl_global{1.0, -2.0, 0.5};
const std::vector<std::vector<double>> qffl_local{{0.8, -1.5, 0.7}, {1.3, -2.2, 0.1}, {0.95, -1.9, 0.55}};
const std::vector<double> qffl_losses{0.9, 2.5, 0.1};

std::vector<double> qffl_delta(std::size_t k) {
  std::vector<double> d(3);
  for (std::size_t i = 0; i < 3; ++i) d[i] = qffl_local[k][i] - qffl_global[i];
  return d;
}

// w + the reported mean delta.
std::vector<double> qffl_step(fedpp::qfedavg<double>&& agg) {
  const auto mean = std::move(agg).report();
  std::vector<double> w = qffl_global;
  for (std::size_t i = 0; i < 3; ++i) w[i] += mean.span()[i];
  return w;
}

void expect_near_all(const std::vector<double>& got, const std::vector<double>& want, double rel) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i)
    EXPECT_NEAR(got[i], want[i], rel * (1 + std::abs(want[i]))) << i;
}

TEST(FlowerParity, QFedAvgPerClientLosses) {
  // Flower's Message-API QFedAvg: F_k = each reply's "train_loss"; q = 0.2, client lr 0.1 (L = 10).
  std::vector<std::vector<double>> deltas;
  for (std::size_t k = 0; k < 3; ++k) deltas.push_back(qffl_delta(k));
  fedpp::qfedavg<double> agg(qffl_layout(), {0.2, 0.1});
  for (std::size_t k = 0; k < 3; ++k)
    agg.accumulate(fedpp::client_update<double>::from_flat(k, qffl_layout(), deltas[k], 1.0), qffl_losses[k]);
  expect_near_all(qffl_step(std::move(agg)), {1.0332630625806543, -1.9218344244568812, 0.4366879451130082},
                  1e-15);

  // q = 5, client lr 0.01: the largest loss dominates.
  fedpp::qfedavg<double> steep(qffl_layout(), {5.0, 0.01});
  for (std::size_t k = 0; k < 3; ++k)
    steep.accumulate(fedpp::client_update<double>::from_flat(k, qffl_layout(), deltas[k], 1.0),
                     qffl_losses[k]);
  expect_near_all(qffl_step(std::move(steep)), {1.0049703510727546, -2.0032766861597686, 0.49336615955184493},
                  1e-14);

  // q = 0: the unweighted mean of the clients' models (FedAvg with uniform weights); the
  // clients' numbers of examples are ignored.
  fedpp::qfedavg<double> flat(qffl_layout(), {0.0, 0.1});
  for (std::size_t k = 0; k < 3; ++k)
    flat.accumulate(fedpp::client_update<double>::from_flat(k, qffl_layout(), deltas[k],
                                                            10.0 * static_cast<double>(k + 1)),
                    qffl_losses[k]);
  expect_near_all(qffl_step(std::move(flat)), {1.0166666666666666, -1.8666666666666667, 0.45}, 1e-15);
}

TEST(FlowerParity, QFedAvgSharedLossAsFlowersLegacyStrategy) {
  // flwr.server.strategy.QFedAvg: one loss for every client (evaluate_fn on the pre-round model).
  auto table = std::make_shared<fedpp::client_loss_table>();
  fedpp::qfedavg_options o{0.2, 0.1};
  o.loss = fedpp::qfedavg_loss::shared;
  fedpp::qfedavg<double> agg(qffl_layout(), o, table);
  const auto d0 = qffl_delta(0);
  EXPECT_THROW(agg.accumulate(fedpp::client_update<double>::from_flat(0, qffl_layout(), d0, 1.0)),
               fedpp::rejected_update); // no shared loss yet
  EXPECT_EQ(agg.num_inputs(), 0U);
  table->set_shared(1.7);
  table->set(0, 123.0); // per-client entries are not read under the shared loss
  for (std::size_t k = 0; k < 3; ++k) {
    const auto d = qffl_delta(k);
    agg.accumulate(fedpp::client_update<double>::from_flat(k, qffl_layout(), d, 1.0));
  }
  expect_near_all(qffl_step(std::move(agg)), {1.0133437990582412, -1.89324960753407, 0.4599686028252762},
                  1e-15);
}

TEST(FlowerParity, QFedAvgMergesAndRejectsBadInputWithStateUnchanged) {
  std::vector<std::vector<double>> deltas;
  for (std::size_t k = 0; k < 3; ++k) deltas.push_back(qffl_delta(k));
  fedpp::qfedavg<double> a(qffl_layout(), {0.2, 0.1}), b(qffl_layout(), {0.2, 0.1});
  a.accumulate(fedpp::client_update<double>::from_flat(0, qffl_layout(), deltas[0], 1.0), qffl_losses[0]);
  b.accumulate(fedpp::client_update<double>::from_flat(1, qffl_layout(), deltas[1], 1.0), qffl_losses[1]);
  b.accumulate(fedpp::client_update<double>::from_flat(2, qffl_layout(), deltas[2], 1.0), qffl_losses[2]);
  const double h_before = a.sum_h();
  for (const double bad : {-0.5, static_cast<double>(NAN), static_cast<double>(INFINITY)})
    EXPECT_THROW(a.accumulate(fedpp::client_update<double>::from_flat(9, qffl_layout(), deltas[1], 1.0), bad),
                 fedpp::rejected_update);
  std::vector<double> nan_delta = deltas[1];
  nan_delta[2] = NAN;
  EXPECT_THROW(a.accumulate(fedpp::client_update<double>::from_flat(9, qffl_layout(), nan_delta, 1.0), 1.0),
               fedpp::rejected_update);
  EXPECT_THROW(a.accumulate(fedpp::client_update<double>::from_flat(9, qffl_layout(), deltas[1], 1.0)),
               fedpp::rejected_update); // no loss table
  fedpp::qfedavg<double> no_offset(qffl_layout(), {0.2, 0.1, 0.0});
  EXPECT_THROW(
      no_offset.accumulate(fedpp::client_update<double>::from_flat(9, qffl_layout(), deltas[1], 1.0), 0.0),
      fedpp::rejected_update); // F = 0 with q < 1: F^(q−1) is infinite
  EXPECT_EQ(a.num_inputs(), 1U);
  EXPECT_EQ(a.sum_h(), h_before);
  fedpp::qfedavg<double> other_q(qffl_layout(), {0.3, 0.1});
  expect_invalid([&] { a.merge(std::move(other_q)); },
                 "qfedavg::merge: the options differ (q 0.200000 vs 0.300000");
  a.merge(std::move(b));
  EXPECT_EQ(a.num_inputs(), 3U);
  expect_near_all(qffl_step(std::move(a)), {1.0332630625806543, -1.9218344244568812, 0.4366879451130082},
                  1e-15);
  expect_invalid(
      [] {
        fedpp::qfedavg<double>(qffl_layout(), {-1.0, 0.1});
      },
      "q must be finite and >= 0, got -1");
  expect_invalid(
      [] {
        fedpp::qfedavg<double>(qffl_layout(), {0.1, 0.0});
      },
      "client learning rate must be finite and > 0, got 0");
  expect_invalid(
      [] {
        fedpp::qfedavg<double>(qffl_layout(), {0.1, 0.1, -1e-10});
      },
      "loss offset must be finite");
  expect_invalid(
      [] {
        (void)std::move(fedpp::qfedavg<double>(qffl_layout(), {0.1, 0.1})).report();
      },
      "qfedavg: nothing to report (0 inputs accepted)");
}

// q-FedAvg inside fedpp::server: clients return their trained weights and {"train_loss", F_k};
// client 3 forgets the loss and is rejected, the round goes on with the other three.
struct qffl_trainer {
  fedpp::client_result<double> operator()(client_id id, const fedpp::host_model_view<const double>& global,
                                          const fedpp::round_config& /*config*/) const {
    fedpp::client_result<double> r{
        fedpp::flat_model<double>(global.layout()), fedpp::update_kind::weights, 100.0, {}};
    const std::size_t k = id < 3 ? id : 0;
    for (std::size_t i = 0; i < 3; ++i) r.model.span()[i] = qffl_local[k][i];
    if (id < 3) r.metrics["train_loss"] = qffl_losses[k];
    return r;
  }
};

TEST(FlowerParity, QFedAvgInsideTheServerReadsTheTrainLossMetric) {
  using hooks = fedpp::qfedavg_server_hooks<double>;
  using qffl_server = fedpp::server<double, fedpp::uniform_sampler, fedpp::server_sgd<double>,
                                    fedpp::qfedavg<double>, fedpp::wall_clock_availability, hooks>;
  hooks h;
  const std::shared_ptr<const fedpp::client_loss_table> losses = h.losses;
  fedpp::flat_model<double> initial(qffl_layout());
  for (std::size_t i = 0; i < 3; ++i) initial.span()[i] = qffl_global[i];
  fedpp::server_options options;
  options.min_reports = 3;
  qffl_server server(std::move(initial), fedpp::uniform_sampler(4, 4), fedpp::server_sgd<double>(1.0),
                     options, {}, h, [losses](const fedpp::model_layout& l) {
                       return fedpp::qfedavg<double>(l, fedpp::qfedavg_options{0.2, 0.1}, losses);
                     });
  fedpp::in_process_federation<double, qffl_trainer> fed({0, 1, 2, 3}, qffl_trainer{}, qffl_layout(), 2);
  const auto m = server.run_round(fed.server_endpoint());
  ASSERT_TRUE(m.succeeded);
  EXPECT_EQ(m.reported, 3U);
  EXPECT_EQ(m.rejected, 1U);
  const auto w = server.model().span();
  expect_near_all(std::vector<double>(w.begin(), w.end()),
                  {1.0332630625806543, -1.9218344244568812, 0.4366879451130082}, 1e-14);
}

// ---- differential privacy: differential_privacy_test.py and the DP wrappers' tests ---------

TEST(FlowerParity, CentralNoiseStddevIsComputeStdv) {
  // test_compute_stdv: noise_multiplier 1.0, clipping_norm 0.5, num_sampled_clients 10.
  EXPECT_EQ(fedpp::privacy::central_noise_stddev(1.0, 0.5, 10), (1.0 * 0.5) / 10);
  EXPECT_EQ(fedpp::privacy::central_noise_stddev(1.0, 0.5, 10), 0.05);
  // The hooks use it with qN as num_sampled_clients.
  fedpp::model_layout l;
  l.add("w", {1});
  fedpp::privacy::central_dp_options o;
  o.noise_multiplier = 1.0;
  o.clip_norm = 0.5;
  o.sampling_rate = 0.5;
  o.population = 20;
  const fedpp::privacy::central_dp_hooks<float> hooks(o, l);
  EXPECT_EQ(hooks.noise_stddev(), fedpp::privacy::central_noise_stddev(1.0, 0.5, 10));
}

TEST(FlowerParity, ClipModelUpdate) {
  // test_compute_clip_model_update: param1 − param2 = −0.5 everywhere, norm 1.5 < 4: unchanged.
  std::vector<double> update(9, -0.5);
  EXPECT_DOUBLE_EQ(fedpp::privacy::clip_flat(std::span<double>(update), 4.0), 1.5);
  EXPECT_EQ(update, std::vector<double>(9, -0.5));
  // With C = 0.75 it is halved (FlatClip: scale min(1, C/‖Δ‖)).
  EXPECT_DOUBLE_EQ(fedpp::privacy::clip_flat(std::span<double>(update), 0.75), 1.5);
  for (double v : update) EXPECT_DOUBLE_EQ(v, -0.25);
  // test_clip_inputs_inplace_zero_norm: a zero update stays zero (and counts as not clipped).
  std::vector<double> zero(6, 0.0);
  EXPECT_EQ(fedpp::privacy::clip_flat(std::span<double>(zero), 1.5), 0.0);
  EXPECT_EQ(zero, std::vector<double>(6, 0.0));
}

TEST(FlowerParity, AdaptiveNoiseParams) {
  // test_compute_adaptive_noise_params: noise_multiplier 3, clipped_count_stddev 5 →
  // (3⁻² − 10⁻²)^{−1/2} for the update; Flower's noise_multiplier is the combined one.
  const fedpp::privacy::adaptive_clipping a(0.1, 0.5, 0.2, 5.0);
  const double z_update = a.update_noise_multiplier(3.0);
  EXPECT_NEAR(z_update, std::pow(std::pow(3.0, -2.0) - std::pow(10.0, -2.0), -0.5), 1e-15);
  EXPECT_NEAR(a.effective_noise_multiplier(z_update), 3.0, 1e-14);
  // noise_multiplier 10 with the default clipped_count_stddev = num_sampled_clients/20 = 5:
  // Flower raises ValueError (10 ≥ 2·5).
  const fedpp::privacy::adaptive_clipping d(0.1, 0.5, 0.2, 100.0 / 20);
  expect_invalid([&] { (void)d.update_noise_multiplier(10.0); },
                 "need 0 < z < 2·σ_b, got z = 10.000000, σ_b = 5.000000");
}

// Flower's dp_adaptive_clipping_test.py: 20 clients, clip_norm_lr 0.2, target 0.5, no noise; one
// round is C ← C·exp(−lr·(b̄ − γ)) with b̄ the fraction of updates with norm ≤ C over the replies.
double flower_adaptive_round(fedpp::privacy::adaptive_clipping& a, const std::vector<double>& norms,
                             fedpp::privacy::secure_rng& gen) {
  double unclipped = 0;
  for (double n : norms) unclipped += n <= a.bound() ? 1 : 0;
  const auto reports = static_cast<double>(norms.size());
  return a.update(unclipped, reports, reports, gen); // Flower divides by the number of replies
}

TEST(FlowerParity, AdaptiveClippingFollowsFlowersTargetClippedQuantile) {
  auto gen = fedpp::privacy::secure_rng::reproducible(fedpp::privacy::reproducible_seed{11});
  // test_clipping_norm_grows_when_every_update_is_clipped: C = 1, every norm 10 → C = exp(lr·γ).
  fedpp::privacy::adaptive_clipping grow(1.0, 0.5, 0.2, 0.0);
  (void)flower_adaptive_round(grow, std::vector<double>(20, 10.0), gen);
  EXPECT_DOUBLE_EQ(grow.bound(), std::exp(0.2 * 0.5));
  // test_clipping_norm_shrinks_when_no_update_is_clipped: C = 10, every norm 1 → 10·exp(−lr(1 − γ)).
  fedpp::privacy::adaptive_clipping shrink(10.0, 0.5, 0.2, 0.0);
  (void)flower_adaptive_round(shrink, std::vector<double>(20, 1.0), gen);
  EXPECT_DOUBLE_EQ(shrink.bound(), 10.0 * std::exp(-0.2 * (1.0 - 0.5)));
  // test_clipping_norm_tracks_target_quantile: norms linspace(1, 3, 20), C₀ = 0.1, 120 rounds →
  // within 10% of np.quantile(norms, 0.5) = 2.
  std::vector<double> norms(20);
  for (std::size_t i = 0; i < 20; ++i) norms[i] = 1.0 + 2.0 * static_cast<double>(i) / 19.0;
  fedpp::privacy::adaptive_clipping track(0.1, 0.5, 0.2, 0.0);
  for (int r = 0; r < 120; ++r) (void)flower_adaptive_round(track, norms, gen);
  EXPECT_NEAR(track.bound(), 2.0, 0.2);
  // The same target given as a clipped fraction: 1 − 0.5 = 0.5 clipped is the same controller.
  fedpp::privacy::adaptive_clipping as_clipped(1.0, 0.5, 0.2, 0.0,
                                               fedpp::privacy::clipping_target::clipped_fraction);
  (void)flower_adaptive_round(as_clipped, std::vector<double>(20, 10.0), gen);
  EXPECT_DOUBLE_EQ(as_clipped.bound(), grow.bound());
}

TEST(FlowerParity, FixedClippingReleaseOfTwoClients) {
  // dp_fixed_clipping_test.py::test_successful_release_is_accounted_once: clipping_norm 10, two
  // sampled clients with updates 1 and 3 from 0, equal weights, noise patched out → 2.0. Here
  // q·N = 2 (num_sampled_clients) and σ tiny: noise sd 1e-9·10/2.
  fedpp::model_layout l;
  l.add("w", {1}, fedpp::dtype::f64);
  fedpp::privacy::central_dp_options o;
  o.noise_multiplier = 1e-9;
  o.clip_norm = 10.0;
  o.sampling_rate = 1.0;
  o.population = 2;
  fedpp::privacy::central_dp_hooks<double> hooks(
      o, l, fedpp::privacy::secure_rng::reproducible(fedpp::privacy::reproducible_seed{3}));
  fedpp::fedavg<double> avg(l, fedpp::weighting::uniform);
  std::vector<double> scratch(1);
  for (const auto& [client, value] : std::vector<std::pair<client_id, double>>{{0, 1.0}, {1, 3.0}}) {
    const std::vector<double> update{value};
    const auto decoded = fedpp::wire::decode(
        fedpp::wire::encode_client_update<double>(0, client, l, std::span<const double>(update), 1.0));
    const auto clipped = hooks.decode_update(decoded, std::span<double>(scratch));
    avg.accumulate(fedpp::client_update<double>::from_flat(client, l, clipped, 1.0));
  }
  auto mean = std::move(avg).report();
  hooks.on_aggregate(mean.span(), 0);
  EXPECT_NEAR(mean.span()[0], 2.0, 1e-7);
  EXPECT_EQ(hooks.noise_stddev(), 1e-9 * 10.0 / 2.0);
}

} // namespace
