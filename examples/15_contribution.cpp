// 15 — Contribution evaluation, reputation and reputation-aware sampling on Fashion-MNIST
// (issue 18, part 3; docs/incentives.md).
//
// N simulated clients hold Fashion-MNIST; a fraction are free-riders (they send the global model
// back unchanged, or the global model plus Gaussian noise) and another fraction flip their labels
// (y → 9 − y, attacks/label_flip.hpp); the rest are honest. The server holds a validation set: the
// first --validation examples of the Fashion-MNIST test set (the rest measure test accuracy).
//
// Two runs of the same job on fedpp::server (FedAvg), with update_recorder hooks keeping each
// round's admitted deltas and aggregate:
//   uniform     m clients a round, uniformly; after each round the reports' contributions are
//               computed (--method gtg: GTG-Shapley over models reconstructed from the round's
//               deltas; tmc, loo, exact over the same reconstruction), with utility = minus the
//               validation cross-entropy (or validation accuracy, --utility accuracy). A client's
//               contribution score is its mean per-round value over the rounds it took part in;
//               the example prints the ranking AUC of these scores separating honest from bad
//               clients, and the cost of the method per round (seconds, utility evaluations);
//   reputation  the same, sampled by reputation_sampler over a reputation_table fed after each round
//               with each report's agreement (max(0, cos) with the round's aggregate) times its
//               quality (its update alone vs the round's best on the validation set; --evidence).
// It prints both runs' test accuracy (final, and the mean of the last --last evaluations), the
// reputation scores' AUC, and optionally writes per-client scores (--scores-csv).
//
//   15_contribution                                   (50 clients, 10 a round, 40 rounds, softmax)
//   15_contribution --method exact --clients-per-round 8 --samplers uniform
//   15_contribution --compare-exact --clients-per-round 8   (GTG vs exact Shapley each round)
#include "fashion_mnist_job.hpp"

#include "fedpp/attacks/label_flip.hpp"
#include "fedpp/incentives/gtg_shapley.hpp"
#include "fedpp/incentives/leave_one_out.hpp"
#include "fedpp/incentives/reputation.hpp"
#include "fedpp/incentives/reputation_sampler.hpp"
#include "fedpp/incentives/shapley.hpp"
#include "fedpp/incentives/update_recorder.hpp"
#include "fedpp/orchestration/in_process_federation.hpp"
#include "fedpp/random/distributions.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

namespace {

namespace sim = fedpp::simulation;
namespace inc = fedpp::incentives;

struct settings {
  double free_riders = 0.2;              // fraction of the clients
  double flippers = 0.2;                 // fraction of the clients
  std::string free_rider_mode = "mixed"; // zero | noise | mixed (half each)
  double noise_sigma = 0.01;             // noise free-riders: global + N(0, σ²) per parameter
  std::string method = "gtg";            // gtg | tmc | loo | exact
  std::string utility = "loss";          // loss (− validation cross-entropy) | accuracy
  std::size_t validation = 1000;         // server-held validation examples (from the test set)
  std::vector<std::string> samplers{"uniform", "reputation"};
  double floor = 0.05;               // reputation_sampler's ε
  double reputation_lr = 0.3;        // reputation_table's λ
  std::string evidence = "both";     // agreement | quality | both (their product)
  double gtg_tolerance = 1e-3;       // GTG's within- and between-round truncation
  double gtg_convergence = 0.05;     // GTG's convergence tolerance
  std::size_t gtg_max_batches = 10;  // GTG: at most this many batches of m orderings
  std::size_t tmc_permutations = 50; // TMC: orderings per round
  bool compare_exact = false;        // also exact Shapley each round, compared with --method
  std::size_t last = 5;              // test accuracy averaged over the last evaluations
  std::string scores_csv;
};

/// Up to this many reports a round for exact Shapley (2^16 reconstructions).
constexpr std::size_t max_exact_players = 16;
/// Validation examples at most: the test set has 10,000 and some must remain for testing.
constexpr std::size_t max_validation = 9000;

enum class role { honest, zero, noise, flipper };

const char* name_of(role r) {
  switch (r) {
  case role::honest:
    return "honest";
  case role::zero:
    return "free-rider(zero)";
  case role::noise:
    return "free-rider(noise)";
  case role::flipper:
    return "label-flipper";
  }
  return "?";
}

/// Each client's role: a seeded shuffle of the ids, the first fraction free-riders, the next flippers.
std::vector<role> assign_roles(std::size_t n, const settings& s, std::uint64_t seed) {
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), std::size_t{0});
  fedpp::rng gen(seed ^ 0x5eed'c0de'0015ULL);
  for (std::size_t i = n; i > 1; --i) std::swap(order[i - 1], order[gen.below(i)]);
  const auto count = [n](double f) { return static_cast<std::size_t>(std::floor(f * double(n) + 0.5)); };
  const std::size_t riders = count(s.free_riders), flippers = count(s.flippers);
  std::vector<role> roles(n, role::honest);
  for (std::size_t k = 0; k < riders; ++k) {
    const bool noise = s.free_rider_mode == "noise" || (s.free_rider_mode == "mixed" && k % 2 == 1);
    roles[order[k]] = noise ? role::noise : role::zero;
  }
  for (std::size_t k = riders; k < riders + flippers; ++k) roles[order[k]] = role::flipper;
  return roles;
}

/// The clients' training by role; safe to call concurrently for different clients.
template <class Model>
struct role_trainer {
  const fmnist_job::setup<Model>* job;
  const sim::dataset* flipped; // the training set with labels y → 9 − y
  const std::vector<role>* roles;
  std::uint64_t seed;
  double sigma;

  fedpp::client_result<float> operator()(fedpp::client_id id,
                                         const fedpp::host_model_view<const float>& global,
                                         const fedpp::round_config& config) const {
    const role r = (*roles)[id];
    if (r == role::honest) return fmnist_job::trainer<Model>{job, seed}(id, global, config);
    auto params = fedpp::flat_model<float>::copy_of(global);
    const double examples = static_cast<double>(job->parts.at(id).size());
    if (r == role::flipper) {
      const sim::dataset_view view(*flipped, job->parts.at(id));
      const auto result = sim::local_train(job->model, params.span(), view, sim::sgd_config::from(config),
                                           seed, id, config.round);
      return {std::move(params), fedpp::update_kind::weights, examples, {{"train_loss", result.mean_loss}}};
    }
    if (r == role::noise) {
      fedpp::rng gen = fedpp::rng::for_stream(seed ^ 0x0015'0015ULL, (config.round << 20) ^ id);
      for (float& x : params.span()) x += static_cast<float>(sigma * fedpp::random::standard_normal(gen));
    }
    return {
        std::move(params), fedpp::update_kind::weights, examples, {}}; // free-riders claim their data size
  }
};

/// What the example holds once: data, roles, the poisoned copy, the validation and test splits.
template <class Model>
struct environment {
  const fmnist_job::options& o;
  const settings& s;
  fmnist_job::setup<Model> job;
  sim::dataset flipped;
  std::vector<role> roles;
  std::vector<std::size_t> validation_idx, test_idx;
  fedpp::parallel::thread_pool pool;

  environment(const fmnist_job::options& options, const settings& st)
      : o(options), s(st), job(options),
        flipped(fedpp::attacks::flip_labels(job.data.train,
                                            fedpp::attacks::reversed_labels(job.data.train.num_classes()))),
        roles(assign_roles(options.clients, st, options.seed)), pool(options.hosts) {
    for (std::size_t i = 0; i < job.data.test.size(); ++i)
      (i < s.validation ? validation_idx : test_idx).push_back(i);
  }
  [[nodiscard]] sim::evaluation evaluate(std::span<const float> params, const std::vector<std::size_t>& idx) {
    return sim::evaluate(job.model, params, sim::dataset_view(job.data.test, idx), pool, 256);
  }
};

/// Ranking AUC: P(score of a random honest client > that of a random bad one), ties counting 1/2.
double ranking_auc(const std::vector<double>& honest, const std::vector<double>& bad) {
  if (honest.empty() || bad.empty()) return std::nan("");
  double wins = 0;
  for (const double h : honest)
    for (const double b : bad) wins += h > b ? 1.0 : h == b ? 0.5 : 0.0;
  return wins / (double(honest.size()) * double(bad.size()));
}

/// Pearson correlation.
double correlation(const std::vector<double>& x, const std::vector<double>& y) {
  const double n = double(x.size());
  const double mx = std::accumulate(x.begin(), x.end(), 0.0) / n,
               my = std::accumulate(y.begin(), y.end(), 0.0) / n;
  double sxy = 0, sxx = 0, syy = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
    syy += (y[i] - my) * (y[i] - my);
  }
  return sxx > 0 && syy > 0 ? sxy / std::sqrt(sxx * syy) : std::nan("");
}

struct run_result {
  double final_accuracy = 0, last_mean = 0;
  std::size_t evaluated_last = 0; // evaluations in last_mean
  std::vector<double> contribution_sum, reputation, agreement_sum, quality_sum;
  std::vector<std::size_t> rounds_in, reports;
  double method_seconds = 0;
  std::size_t method_rounds = 0, evaluations = 0, min_evaluations = 0, max_evaluations = 0,
              truncated_rounds = 0;
  double exact_correlation_sum = 0, exact_max_error = 0; // --compare-exact
  std::size_t exact_rounds = 0;
};

using clock_type = std::chrono::steady_clock;

/// One federated run with the given sampler; contributions are computed when `contributions`.
template <class Model, class Sampler>
run_result run(environment<Model>& env, Sampler sampler, const std::shared_ptr<inc::reputation_table>& table,
               bool contributions) {
  const auto& o = env.o;
  const auto& s = env.s;
  const std::size_t n = o.clients;
  const role_trainer<Model> trainer{&env.job, &env.flipped, &env.roles, o.seed, s.noise_sigma};
  fedpp::in_process_federation<float, role_trainer<Model>> federation(env.job.clients, trainer,
                                                                      env.job.model.layout(), o.hosts);
  inc::update_recorder<float> recorder;
  recorder.max_updates = o.clients_per_round;
  const auto record = recorder.record;
  fedpp::server_options so;
  so.client_config = fmnist_job::client_config(o);
  so.seed = o.seed;
  so.client_lr_decay = o.lr_decay;
  fedpp::server<float, Sampler, fedpp::server_sgd<float>, fedpp::fedavg<float>,
                fedpp::wall_clock_availability, inc::update_recorder<float>>
      server(env.job.model.make_parameters(o.seed), std::move(sampler), {}, so, {}, recorder);

  run_result out;
  out.contribution_sum.assign(n, 0.0);
  out.agreement_sum.assign(n, 0.0);
  out.quality_sum.assign(n, 0.0);
  out.rounds_in.assign(n, 0);
  out.reports.assign(n, 0);
  std::vector<double> accuracies;
  const bool by_loss = s.utility == "loss";
  auto score = [&env, by_loss](std::span<const float> model) {
    const auto e = env.evaluate(model, env.validation_idx);
    return by_loss ? -e.mean_loss : e.accuracy;
  };
  for (std::size_t r = 0; r < o.rounds; ++r) {
    const std::vector<float> before(server.model().span().begin(), server.model().span().end());
    const fedpp::round_metrics m = server.run_round(federation.server_endpoint());
    const auto updates = record->updates();
    if (m.succeeded && !record->aggregate.empty() && !updates.empty()) {
      // Reputation evidence: agreement with the aggregate, times the report's quality on the
      // validation set (its update alone vs the round's best; n + 2 evaluations).
      std::vector<double> quality(updates.size(), 1.0);
      if (s.evidence != "agreement") {
        inc::reconstruction_utility<float, decltype(score)> q(before, updates, score);
        quality = inc::report_quality(q, updates.size());
      }
      for (std::size_t k = 0; k < updates.size(); ++k) {
        const fedpp::client_id c = updates[k].client;
        out.agreement_sum[c] += inc::agreement<float>(updates[k].delta, record->aggregate);
        out.quality_sum[c] += quality[k];
        ++out.reports[c];
      }
      if (s.evidence == "quality") {
        for (std::size_t k = 0; k < updates.size(); ++k)
          (void)table->observe(updates[k].client, record->round, quality[k]);
      } else {
        (void)table->observe_round<float>(record->round, updates, record->aggregate, quality);
      }
    }
    for (const fedpp::client_id c : record->refused) (void)table->observe_failure(c, record->round);
    std::string cost;
    if (contributions && m.succeeded && !updates.empty()) {
      const auto t0 = clock_type::now();
      inc::reconstruction_utility<float, decltype(score)> v(before, updates, score);
      inc::contribution_result c;
      const std::uint64_t round_seed = o.seed * 1000003ULL + r;
      if (s.method == "gtg")
        c = inc::gtg_shapley(v, updates.size(),
                             {.round_tolerance = s.gtg_tolerance,
                              .tolerance = s.gtg_tolerance,
                              .convergence_tolerance = s.gtg_convergence,
                              .max_batches = s.gtg_max_batches,
                              .seed = round_seed});
      else if (s.method == "tmc")
        c = inc::permutation_shapley(v, updates.size(),
                                     {.permutations = s.tmc_permutations,
                                      .truncation_tolerance = s.gtg_tolerance,
                                      .seed = round_seed});
      else if (s.method == "loo")
        c = inc::leave_one_out(v, updates.size());
      else
        c = inc::exact_shapley(v, updates.size());
      const double seconds = std::chrono::duration<double>(clock_type::now() - t0).count();
      out.method_seconds += seconds;
      ++out.method_rounds;
      out.evaluations += c.utility_evaluations;
      out.min_evaluations = out.method_rounds == 1 ? c.utility_evaluations
                                                   : std::min(out.min_evaluations, c.utility_evaluations);
      out.max_evaluations = std::max(out.max_evaluations, c.utility_evaluations);
      if (c.round_truncated) ++out.truncated_rounds;
      for (std::size_t k = 0; k < updates.size(); ++k) {
        out.contribution_sum[updates[k].client] += c.values[k];
        ++out.rounds_in[updates[k].client];
      }
      if (s.compare_exact) {
        const auto exact = inc::exact_shapley(v, updates.size());
        double range = 1e-12; // the largest |exact value| of the round
        for (const double x : exact.values) range = std::max(range, std::abs(x));
        double worst = 0;
        for (std::size_t k = 0; k < updates.size(); ++k)
          worst = std::max(worst, std::abs(c.values[k] - exact.values[k]) / range);
        out.exact_max_error = std::max(out.exact_max_error, worst);
        const double rho = correlation(c.values, exact.values);
        if (!std::isnan(rho)) {
          out.exact_correlation_sum += rho;
          ++out.exact_rounds;
        }
      }
      char buf[160];
      std::snprintf(buf, sizeof buf, "  %s %.2f s, %zu evaluations%s", s.method.c_str(), seconds,
                    c.utility_evaluations, c.round_truncated ? " (round truncated)" : "");
      cost = buf;
    }
    const bool last = r + 1 == o.rounds;
    if (last || (r + 1) % o.eval_every == 0) {
      const double acc = env.evaluate(server.model().span(), env.test_idx).accuracy;
      accuracies.push_back(acc);
      out.final_accuracy = acc;
      std::printf("round %3zu  test accuracy %.4f  reported %zu%s\n", r + 1, acc, m.reported, cost.c_str());
    } else if (!cost.empty()) {
      std::printf("round %3zu  reported %zu%s\n", r + 1, m.reported, cost.c_str());
    }
    std::fflush(stdout);
  }
  const std::size_t k = std::min(s.last, accuracies.size());
  out.evaluated_last = k;
  out.last_mean =
      std::accumulate(accuracies.end() - static_cast<std::ptrdiff_t>(k), accuracies.end(), 0.0) / double(k);
  out.reputation.resize(n);
  for (std::size_t c = 0; c < n; ++c) out.reputation[c] = table->score(c);
  return out;
}

/// AUCs of a per-client score (clients without a value are left out).
void print_auc(const char* what, const std::vector<double>& score, const std::vector<bool>& has,
               const std::vector<role>& roles) {
  std::vector<double> honest, bad, riders, flippers;
  for (std::size_t c = 0; c < score.size(); ++c) {
    if (!has[c]) continue;
    (roles[c] == role::honest ? honest : bad).push_back(score[c]);
    if (roles[c] == role::zero || roles[c] == role::noise) riders.push_back(score[c]);
    if (roles[c] == role::flipper) flippers.push_back(score[c]);
  }
  std::printf(
      "%s AUC honest vs bad %.3f (vs free-riders %.3f, vs label flippers %.3f; %zu honest, %zu bad)\n", what,
      ranking_auc(honest, bad), ranking_auc(honest, riders), ranking_auc(honest, flippers), honest.size(),
      bad.size());
}

template <class Model>
int run_job(const fmnist_job::options& o, const settings& s) {
  environment<Model> env(o, s);
  std::size_t counts[4] = {0, 0, 0, 0};
  for (const role r : env.roles) ++counts[static_cast<int>(r)];
  std::printf(
      "fedpp contribution: %zu clients (%zu honest, %zu free-riders sending the global model, %zu sending "
      "noise, %zu label flippers), %zu a round, %zu rounds, %s model, %s partition, method %s, utility "
      "validation %s on %zu examples\n",
      o.clients, counts[0], counts[1], counts[2], counts[3], o.clients_per_round, o.rounds, o.model.c_str(),
      o.partition.c_str(), s.method.c_str(), s.utility.c_str(), env.validation_idx.size());
  const inc::reputation_options ro{.prior = 0.5, .learning_rate = s.reputation_lr};
  std::vector<std::pair<std::string, run_result>> results;
  for (const std::string& name : s.samplers) {
    std::printf("--- sampler %s\n", name.c_str());
    auto table = std::make_shared<inc::reputation_table>(o.clients, ro);
    if (name == "uniform")
      results.emplace_back(name,
                           run(env, fedpp::uniform_sampler(o.clients, o.clients_per_round), table, true));
    else
      results.emplace_back(
          name, run(env, inc::reputation_sampler(table, o.clients_per_round, s.floor), table, false));
  }
  std::printf("--- summary\n");
  for (const auto& [name, r] : results) {
    std::printf("%-10s test accuracy: final %.4f, mean of the last %zu evaluations %.4f\n", name.c_str(),
                r.final_accuracy, r.evaluated_last, r.last_mean);
    std::vector<bool> seen(o.clients);
    for (std::size_t c = 0; c < o.clients; ++c) seen[c] = r.rounds_in[c] > 0;
    if (r.method_rounds > 0) {
      std::vector<double> mean(o.clients, 0.0);
      for (std::size_t c = 0; c < o.clients; ++c)
        mean[c] = seen[c] ? r.contribution_sum[c] / double(r.rounds_in[c]) : 0;
      print_auc((name + " contribution (" + s.method + ", mean per round taken part in):").c_str(), mean,
                seen, env.roles);
      std::printf("%s cost per round: %.3f s, %.1f utility evaluations (min %zu, max %zu), %zu of %zu rounds "
                  "truncated\n",
                  s.method.c_str(), r.method_seconds / double(r.method_rounds),
                  double(r.evaluations) / double(r.method_rounds), r.min_evaluations, r.max_evaluations,
                  r.truncated_rounds, r.method_rounds);
      if (s.compare_exact && r.exact_rounds > 0)
        std::printf("%s vs exact Shapley: mean correlation %.3f over %zu rounds, largest error %.3f of the "
                    "round's largest |exact value|\n",
                    s.method.c_str(), r.exact_correlation_sum / double(r.exact_rounds), r.exact_rounds,
                    r.exact_max_error);
      if (!s.scores_csv.empty()) {
        sim::csv_writer csv(s.scores_csv,
                            {"client", "role", "rounds", "contribution_sum", "contribution_mean",
                             "mean_agreement", "mean_quality", "reputation"});
        for (std::size_t c = 0; c < o.clients; ++c) {
          const double reports = std::max<double>(1.0, double(r.reports[c]));
          csv.write_row({static_cast<std::uint64_t>(c), std::string(name_of(env.roles[c])),
                         static_cast<std::uint64_t>(r.rounds_in[c]), r.contribution_sum[c], mean[c],
                         r.agreement_sum[c] / reports, r.quality_sum[c] / reports, r.reputation[c]});
        }
      }
    }
    std::vector<bool> all(o.clients, true);
    print_auc((name + " reputation:").c_str(), r.reputation, all, env.roles);
  }
  if (results.size() == 2)
    std::printf("reputation-aware sampling vs uniform: %+.4f test accuracy (mean of the last evaluations)\n",
                results[1].second.last_mean - results[0].second.last_mean);
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  fmnist_job::options o;
  o.model = "softmax";
  o.partition = "iid";
  o.clients = 50;
  o.clients_per_round = 10;
  o.rounds = 40;
  o.eval_every = 5;
  o.hosts = 2;
  settings s;
  example_cli::command_line cli(
      "15_contribution: contribution evaluation (GTG-Shapley, TMC, leave-one-out, exact "
      "Shapley), reputation and reputation-aware sampling on Fashion-MNIST with "
      "free-riders and label flippers");
  namespace within = example_cli::within;
  using fmnist_job::flag;
  fmnist_job::add_flags(cli, o,
                        {flag::model, flag::partition, flag::alpha, flag::shards, flag::clients,
                         flag::clients_per_round, flag::rounds, flag::local_epochs, flag::batch_size,
                         flag::lr, flag::lr_decay, flag::seed, flag::hosts, flag::eval_every,
                         flag::data_dir});
  cli.real("--free-riders", s.free_riders, "fraction of the clients that free-ride", within::probability);
  cli.real("--flippers", s.flippers, "fraction of the clients that flip their labels", within::probability);
  cli.choice("--free-rider-mode", s.free_rider_mode,
             "free-riders send the global model back (zero), plus noise (noise), or half each (mixed)",
             {"zero", "noise", "mixed"});
  cli.real("--noise-sigma", s.noise_sigma, "noise free-riders: standard deviation per parameter",
           within::positive);
  cli.choice("--method", s.method, "contribution method per round over the reconstructed models",
             {"gtg", "tmc", "loo", "exact"});
  cli.choice("--utility", s.utility,
             "utility of a coalition's model: minus validation loss, or validation accuracy",
             {"loss", "accuracy"});
  cli.count("--validation", s.validation, "server-held validation examples (the first of the test set)",
            std::size_t{100}, max_validation);
  cli.list("--samplers", s.samplers, "runs, in order", {"uniform", "reputation"});
  auto* floor_flag =
      cli.real("--floor", s.floor, "reputation sampler: share of its weight a client with reputation 0 keeps",
               within::unit_open_low);
  cli.real("--reputation-lr", s.reputation_lr, "reputation: moving-average rate lambda",
           within::unit_open_low);
  cli.choice("--evidence", s.evidence,
             "reputation evidence: agreement with the aggregate, validation quality of the update, or both",
             {"agreement", "quality", "both"});
  auto* tolerance_flag = cli.real("--gtg-tolerance", s.gtg_tolerance,
                                  "GTG/TMC truncation tolerance, in utility units", within::non_negative);
  auto* convergence_flag =
      cli.real("--gtg-convergence", s.gtg_convergence,
               "GTG: stop below this mean relative change of the values (0: off)", within::non_negative);
  auto* batches_flag =
      cli.count("--gtg-max-batches", s.gtg_max_batches,
                "GTG: at most this many batches of m orderings a round", std::size_t{2}, std::size_t{1000});
  auto* permutations_flag = cli.count("--tmc-permutations", s.tmc_permutations, "TMC: orderings per round",
                                      std::size_t{1}, std::size_t{100000});
  cli.toggle("--compare-exact", s.compare_exact, true,
             "also compute exact Shapley values each round and compare (at most 16 clients a round)");
  cli.count("--last", s.last, "test accuracy averaged over the last K evaluations");
  cli.text("--scores-csv", s.scores_csv, "per-client scores of the uniform run to FILE");
  cli.check([&] {
    // A flag of a method or run that does not happen is refused, not silently ignored.
    if (s.method != "gtg" && (convergence_flag->count() != 0 || batches_flag->count() != 0))
      example_cli::refuse(convergence_flag->count() != 0 ? "--gtg-convergence" : "--gtg-max-batches",
                          "applies only with --method gtg");
    if (s.method != "tmc" && permutations_flag->count() != 0)
      example_cli::refuse("--tmc-permutations", "applies only with --method tmc");
    if (s.method != "gtg" && s.method != "tmc" && tolerance_flag->count() != 0)
      example_cli::refuse("--gtg-tolerance", "applies only with --method gtg or tmc");
    if (floor_flag->count() != 0 &&
        std::find(s.samplers.begin(), s.samplers.end(), "reputation") == s.samplers.end())
      example_cli::refuse("--floor", "applies only with the reputation sampler (--samplers)");
    if (s.free_riders + s.flippers > 1)
      example_cli::refuse("--flippers", example_cli::format_real(s.flippers) + " plus --free-riders " +
                                            example_cli::format_real(s.free_riders) + " exceeds 1");
    if ((s.method == "exact" || s.compare_exact) && o.clients_per_round > max_exact_players)
      example_cli::refuse("--clients-per-round", std::to_string(o.clients_per_round) +
                                                     " reports a round are too many for exact Shapley "
                                                     "(at most " +
                                                     std::to_string(max_exact_players) + ")");
    if (s.compare_exact && s.method == "exact")
      example_cli::refuse("--compare-exact",
                          "compares another --method with exact Shapley; --method is exact");
    for (std::size_t i = 0; i < s.samplers.size(); ++i)
      for (std::size_t j = 0; j < i; ++j)
        if (s.samplers[i] == s.samplers[j])
          example_cli::refuse("--samplers", "'" + s.samplers[i] + "' is listed twice");
  });
  if (const auto status = cli.parse(argc, argv)) return *status;
  return fmnist_job::guarded(
      [&] { return fmnist_job::with_model(o, [&](auto model) { return run_job<decltype(model)>(o, s); }); });
}
