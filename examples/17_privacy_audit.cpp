// 17 — privacy attacks and empirical DP auditing as measurement tools, on Fashion-MNIST.
//
// --attack membership   loss-threshold (Yeom et al. 2018) and offline LiRA (Carlini et al. 2022)
//                       against the global model of a FedAvg federation, with --dp: DP-FedAvg
//                       (central_dp_hooks); ROC AUC and TPR at 1 % / 0.1 % FPR.
// --attack inversion    exact reconstruction from the first fully connected layer's gradient and
//                       DLG (Zhu et al. 2019) on one client's update, then the same attacks on what
//                       secure aggregation (a sum of clients), larger batches, top-k, quantization
//                       and DP (clip + noise) leave; MSE / PSNR per setting, PNG with --out-dir.
// --attack backdoor     a pixel-pattern trigger on a fraction of the clients; clean accuracy and
//                       attack success rate under FedAvg, norm bounding, robust rules and DP.
// --attack audit        one-run DP audit (Steinke, Nasr & Jagielski 2023) of DP-FedAvg with Dirac
//                       canary clients: the epsilon lower bound against the accountant's epsilon;
//                       --broken-noise 10 runs a mechanism that adds sigma/10 but claims sigma's epsilon.
//
//   17_privacy_audit --attack audit --rounds 50
//   17_privacy_audit --attack inversion --out-dir docs/img
#include "example_cli.hpp"
#include "fashion_mnist_job.hpp"

#include "fedpp/aggregation/robust/robust.hpp"
#include "fedpp/attacks/attacks.hpp"
#include "fedpp/audit/backdoor.hpp"
#include "fedpp/audit/dlg.hpp"
#include "fedpp/audit/gradient_inversion.hpp"
#include "fedpp/audit/membership_inference.hpp"
#include "fedpp/audit/one_run_audit.hpp"
#include "fedpp/audit/png_writer.hpp"
#include "fedpp/audit/roc.hpp"
#include "fedpp/compression/decode.hpp"
#include "fedpp/compression/sparsifier.hpp"
#include "fedpp/compression/uniform_quantizer.hpp"
#include "fedpp/orchestration/in_process_federation.hpp"
#include "fedpp/privacy/calibration.hpp"
#include "fedpp/privacy/central_dp_hooks.hpp"
#include "fedpp/privacy/clipping.hpp"
#include "fedpp/privacy/gaussian_noise.hpp"
#include "fedpp/scheduling/poisson_sampler.hpp"
#include "fedpp/scheduling/uniform_sampler.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <numeric>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

namespace {

namespace sim = fedpp::simulation;
namespace dp = fedpp::privacy;
namespace audit = fedpp::audit;
using trainer_fn = std::function<fedpp::client_result<float>(
    fedpp::client_id, const fedpp::host_model_view<const float>&, const fedpp::round_config&)>;

struct flags {
  std::string attack = "membership";
  std::uint64_t seed = 1;
  std::string data_dir, out_dir;
  std::size_t hosts = 2;
  // federation (membership, backdoor, audit)
  std::size_t clients = 20, clients_per_round = 20, rounds = 30;
  std::uint32_t local_epochs = 5, batch_size = 32;
  double lr = 0.1;
  std::size_t hidden = 64;
  // differential privacy (membership --dp, backdoor's dp defense, audit)
  bool dp = false;
  double sigma = 1.0, clip = 1.0, delta = 1e-5, sampling_rate = 1.0;
  // membership
  std::size_t members = 2000, shadows = 4;
  // inversion
  std::size_t inversion_hidden = 32, dlg_iterations = 500;
  // backdoor
  std::vector<std::string> defenses{"fedavg", "normbound", "median", "trimmed", "dp"};
  double attacker_fraction = 0.1, poison_fraction = 0.5, boost = 1, max_norm = 1, trim = 0.2;
  std::size_t target = 0;
  // audit
  std::size_t canaries = 1000, guesses = 100;
  double broken_noise = 1, beta = 0.05;
};

/// Fashion-MNIST has 60,000 training examples.
constexpr std::size_t train_size = 60000;

int parse(int argc, char** argv, flags& o) {
  namespace within = example_cli::within;
  example_cli::command_line cli("17_privacy_audit: privacy attacks and one-run DP auditing on Fashion-MNIST");
  cli.choice("--attack", o.attack, "what to run", {"membership", "inversion", "backdoor", "audit"});
  cli.count("--seed", o.seed, "seed of data splits, models, noise and canaries", std::uint64_t{0});
  cli.text("--data-dir", o.data_dir, "Fashion-MNIST folder (default: $FEDPP_FASHION_MNIST_DIR or Debian's)");
  cli.text("--out-dir", o.out_dir, "inversion/backdoor: write PNG figures into this folder");
  cli.count("--hosts", o.hosts, "client host threads", std::size_t{1}, std::size_t{64});
  // which flags belong to which attacks: a flag given with another attack is refused, not ignored
  std::vector<std::pair<const CLI::Option*, std::vector<std::string>>> owners;
  const auto own = [&](const CLI::Option* opt, std::vector<std::string> attacks) {
    owners.emplace_back(opt, std::move(attacks));
  };
  const std::vector<std::string> fed{"membership", "backdoor", "audit"};
  own(cli.count("--clients", o.clients, "clients (audit: real clients besides the canaries)", std::size_t{1},
                train_size),
      fed);
  own(cli.count("--clients-per-round", o.clients_per_round,
                "membership/backdoor: clients per round without DP, at most --clients"),
      {"membership", "backdoor"});
  own(cli.count("--rounds", o.rounds, "rounds", std::size_t{1}, std::size_t{100000}), fed);
  own(cli.count("--local-epochs", o.local_epochs, "local epochs per round", std::uint32_t{1},
                std::uint32_t{1000}),
      fed);
  own(cli.count("--batch-size", o.batch_size, "local minibatch size", std::uint32_t{1}, std::uint32_t{60000}),
      fed);
  own(cli.real("--lr", o.lr, "client learning rate", within::closed(1e-6, 10)), fed);
  own(cli.count("--hidden", o.hidden, "membership/backdoor: hidden units of the 784-H-10 MLP", std::size_t{1},
                std::size_t{4096}),
      {"membership", "backdoor"});
  own(cli.toggle("--dp", o.dp, true, "membership: DP-FedAvg (central_dp_hooks) instead of FedAvg"),
      {"membership"});
  own(cli.real("--noise-multiplier", o.sigma, "sigma of DP-FedAvg / the DP setting",
               within::closed(1e-3, 1e4)),
      {"membership", "backdoor", "audit"});
  own(cli.real("--clip", o.clip, "C: L2 bound of a client update under DP", within::closed(1e-6, 1e6)),
      {"membership", "backdoor", "audit"});
  own(cli.real("--delta", o.delta, "delta of the reported epsilon", within::unit_open),
      {"membership", "backdoor", "audit"});
  own(cli.real("--sampling-rate", o.sampling_rate, "q: Poisson participation rate under DP",
               within::unit_open_low),
      {"membership", "backdoor", "audit"});
  own(cli.count("--members", o.members,
                "membership: training examples of the federation (as many non-members)", std::size_t{10},
                train_size / 4),
      {"membership"});
  own(cli.count("--shadows", o.shadows, "membership: OUT shadow federations for LiRA", std::size_t{2},
                std::size_t{256}),
      {"membership"});
  own(cli.count("--inversion-hidden", o.inversion_hidden,
                "inversion: hidden units of the 784-H-10 sigmoid victim", std::size_t{1}, std::size_t{1024}),
      {"inversion"});
  own(cli.count("--dlg-iterations", o.dlg_iterations, "inversion: L-BFGS iterations of DLG", std::size_t{1},
                std::size_t{100000}),
      {"inversion"});
  own(cli.list("--defenses", o.defenses, "backdoor: aggregation rules to measure",
               {"fedavg", "normbound", "median", "trimmed", "krum", "dp"}),
      {"backdoor"});
  own(cli.real("--attacker-fraction", o.attacker_fraction, "backdoor: fraction of clients that poison",
               within::unit_open_low),
      {"backdoor"});
  own(cli.real("--poison-fraction", o.poison_fraction, "backdoor: fraction of an attacker's examples stamped",
               within::unit_open_low),
      {"backdoor"});
  own(cli.real("--boost", o.boost, "backdoor: attackers scale their update by this (1: plain data poisoning)",
               within::closed(1, 1000)),
      {"backdoor"});
  own(cli.real("--max-norm", o.max_norm, "backdoor: norm bounding's largest accepted update norm",
               within::positive),
      {"backdoor"});
  own(cli.real("--trim", o.trim, "backdoor: trimmed mean's fraction cut from each side", within::below_half),
      {"backdoor"});
  own(cli.count("--target", o.target, "backdoor: the label stamped images should get", std::size_t{0},
                std::size_t{9}),
      {"backdoor"});
  own(cli.count("--canaries", o.canaries, "audit: canary clients m (each included with probability 1/2)",
                std::size_t{2}, std::size_t{100000}),
      {"audit"});
  own(cli.count("--guesses", o.guesses, "audit: k guesses 'in' and k 'out' (2k <= canaries)", std::size_t{1}),
      {"audit"});
  own(cli.real("--broken-noise", o.broken_noise,
               "audit: add sigma/B noise but claim sigma's epsilon (1: the correct mechanism)",
               within::closed(1, 1e6)),
      {"audit"});
  own(cli.real("--beta", o.beta, "audit: 1 - confidence of the lower bound", within::unit_open), {"audit"});
  cli.check([&] {
    for (const auto& [opt, attacks] : owners)
      if (opt->count() > 0 && std::find(attacks.begin(), attacks.end(), o.attack) == attacks.end())
        example_cli::refuse(opt->get_name(), "does not apply to --attack " + o.attack);
    if (o.attack == "membership" || o.attack == "backdoor") {
      if (o.clients_per_round > o.clients)
        example_cli::refuse("--clients-per-round", std::to_string(o.clients_per_round) +
                                                       " exceeds --clients " + std::to_string(o.clients));
    }
    if (o.attack == "membership") {
      if (o.clients > o.members)
        example_cli::refuse("--clients", std::to_string(o.clients) + " exceeds --members " +
                                             std::to_string(o.members) + ": a client would hold no example");
      if ((2 + o.shadows) * o.members > train_size)
        example_cli::refuse("--shadows", std::to_string(o.shadows) + " shadows of " +
                                             std::to_string(o.members) + " examples need " +
                                             std::to_string((2 + o.shadows) * o.members) +
                                             " training examples with the targets; Fashion-MNIST has 60000");
    }
    if (o.attack == "backdoor") {
      const bool krum = std::find(o.defenses.begin(), o.defenses.end(), "krum") != o.defenses.end();
      if (krum && o.clients_per_round < 5)
        example_cli::refuse("--defenses", "krum needs --clients-per-round >= 5, got " +
                                              std::to_string(o.clients_per_round));
      std::vector<std::string> seen;
      for (const auto& d : o.defenses) {
        if (std::find(seen.begin(), seen.end(), d) != seen.end())
          example_cli::refuse("--defenses", "'" + d + "' is listed twice");
        seen.push_back(d);
      }
    }
    if (o.attack == "audit" && 2 * o.guesses > o.canaries)
      example_cli::refuse("--guesses", std::to_string(o.guesses) + " 'in' + " + std::to_string(o.guesses) +
                                           " 'out' guesses exceed --canaries " + std::to_string(o.canaries));
  });
  if (const auto status = cli.parse(argc, argv)) return *status;
  return -1;
}

sim::fashion_mnist load(const flags& o) {
  return sim::load_fashion_mnist(o.data_dir.empty() ? std::nullopt
                                                    : std::optional<std::filesystem::path>(o.data_dir));
}

std::vector<std::size_t> permutation(std::size_t n, std::uint64_t seed) {
  std::vector<std::size_t> p(n);
  std::iota(p.begin(), p.end(), std::size_t{0});
  fedpp::rng gen(seed);
  for (std::size_t i = n; i > 1; --i) std::swap(p[i - 1], p[gen.below(i)]);
  return p;
}

/// Splits `indices` into `clients` near-equal consecutive shards.
sim::partition shards_of(const std::vector<std::size_t>& indices, std::size_t clients) {
  sim::partition parts(clients);
  for (std::size_t i = 0; i < indices.size(); ++i) parts[i * clients / indices.size()].push_back(indices[i]);
  return parts;
}

/// Local SGD of model M on the client's shard of `data` (fmnist_job::trainer over any dataset).
template <class M>
struct shard_trainer {
  const M* model;
  const sim::dataset* data;
  const sim::partition* parts;
  std::uint64_t seed;
  fedpp::client_result<float> operator()(fedpp::client_id id,
                                         const fedpp::host_model_view<const float>& global,
                                         const fedpp::round_config& config) const {
    auto params = fedpp::flat_model<float>::copy_of(global);
    const sim::dataset_view view(*data, parts->at(id));
    (void)sim::local_train(*model, params.span(), view, sim::sgd_config::from(config), seed, id,
                           config.round);
    return {std::move(params), fedpp::update_kind::weights, static_cast<double>(view.size()), {}};
  }
};

fedpp::server_options server_options_for(const flags& o) {
  fedpp::server_options so;
  so.client_config.learning_rate = o.lr;
  so.client_config.batch_size = o.batch_size;
  so.client_config.local_epochs = o.local_epochs;
  so.seed = o.seed;
  return so;
}

dp::central_dp_options dp_options_for(const flags& o, std::size_t population, double sigma) {
  dp::central_dp_options dpo;
  dpo.noise_multiplier = sigma;
  dpo.clip_norm = o.clip;
  dpo.sampling_rate = o.sampling_rate;
  dpo.population = population;
  return dpo;
}

/// FedAvg (uniform sampling, clients_per_round a round) or DP-FedAvg (Poisson q, central noise)
/// of `trainer` from `initial`; returns the global model; `epsilon` gets the accountant's ε.
template <class Agg = fedpp::fedavg<float>>
fedpp::flat_model<float> federate(const flags& o, const trainer_fn& trainer, fedpp::flat_model<float> initial,
                                  std::size_t num_clients, bool with_dp, double* epsilon = nullptr,
                                  std::function<Agg(const fedpp::model_layout&)> factory = {},
                                  std::uint64_t noise_seed = 0) {
  std::vector<fedpp::client_id> ids(num_clients);
  std::iota(ids.begin(), ids.end(), fedpp::client_id{0});
  const auto layout = initial.layout();
  fedpp::in_process_federation<float, trainer_fn> federation(ids, trainer, layout, o.hosts);
  if (!with_dp) {
    if constexpr (std::is_constructible_v<Agg, const fedpp::model_layout&>)
      if (!factory) factory = [](const fedpp::model_layout& l) { return Agg(l); };
    fedpp::server<float, fedpp::uniform_sampler, fedpp::server_sgd<float>, Agg> server(
        std::move(initial), fedpp::uniform_sampler(num_clients, std::min(o.clients_per_round, num_clients)),
        {}, server_options_for(o), {}, {}, factory);
    for (std::size_t r = 0; r < o.rounds; ++r) (void)server.run_round(federation.server_endpoint());
    return server.model();
  }
  using hooks = dp::central_dp_hooks<float>;
  fedpp::server<float, fedpp::poisson_sampler, fedpp::server_sgd<float>, fedpp::fedavg<float>,
                fedpp::wall_clock_availability, hooks>
      server(std::move(initial), fedpp::poisson_sampler(num_clients, o.sampling_rate),
             fedpp::server_sgd<float>(1.0), server_options_for(o), {},
             hooks(dp_options_for(o, num_clients, o.sigma), layout,
                   dp::secure_rng::reproducible(dp::reproducible_seed{o.seed ^ noise_seed})),
             [](const fedpp::model_layout& l) { return fedpp::fedavg<float>(l, fedpp::weighting::uniform); });
  for (std::size_t r = 0; r < o.rounds; ++r) (void)server.run_round(federation.server_endpoint());
  if (epsilon) *epsilon = server.hooks().epsilon(o.delta);
  return server.model();
}

// ------------------------------------------------------------------------------- membership
struct per_example {
  std::vector<double> loss, confidence;
  double accuracy = 0;
};

per_example score_examples(const sim::mlp<float>& model, std::span<const float> params,
                           const sim::dataset& data, const std::vector<std::size_t>& idx) {
  sim::row_matrix<float> x(static_cast<Eigen::Index>(idx.size()), 784), logits;
  for (std::size_t r = 0; r < idx.size(); ++r)
    for (std::size_t j = 0; j < 784; ++j)
      x(static_cast<Eigen::Index>(r), static_cast<Eigen::Index>(j)) = data.example(idx[r])[j];
  sim::mlp<float>::workspace ws;
  model.forward(params, x, logits, ws);
  per_example out;
  std::size_t right = 0;
  for (std::size_t r = 0; r < idx.size(); ++r) {
    const std::span<const float> z(logits.data() + r * 10, 10);
    const std::size_t y = data.label(idx[r]);
    double top = -HUGE_VAL, sum = 0;
    for (float v : z) top = std::max(top, static_cast<double>(v));
    for (float v : z) sum += std::exp(static_cast<double>(v) - top);
    out.loss.push_back(std::max(0.0, top + std::log(sum) - static_cast<double>(z[y])));
    out.confidence.push_back(audit::logit_confidence(z, y));
    right += static_cast<std::size_t>(std::max_element(z.begin(), z.end()) - z.begin()) == y;
  }
  out.accuracy = static_cast<double>(right) / static_cast<double>(idx.size());
  return out;
}

int run_membership(const flags& o) {
  const auto fm = load(o);
  const sim::mlp<float> model(784, o.hidden, 10);
  const auto perm = permutation(train_size, o.seed);
  const std::size_t m = o.members;
  const std::vector<std::size_t> members(perm.begin(), perm.begin() + static_cast<std::ptrdiff_t>(m));
  std::vector<std::size_t> targets(perm.begin(), perm.begin() + static_cast<std::ptrdiff_t>(2 * m));
  std::vector<std::uint8_t> is_member(2 * m, 0);
  std::fill(is_member.begin(), is_member.begin() + static_cast<std::ptrdiff_t>(m), 1);
  std::printf(
      "membership inference: %s, %zu clients, %zu rounds x %u local epochs, MLP 784-%zu-10, %zu members + "
      "%zu non-members, %zu shadow federations\n",
      o.dp ? "DP-FedAvg" : "FedAvg", o.clients, o.rounds, o.local_epochs, o.hidden, m, m, o.shadows);
  const auto train = [&](const std::vector<std::size_t>& examples, std::uint64_t run, double* eps) {
    const auto parts = shards_of(examples, o.clients);
    trainer_fn t = shard_trainer<sim::mlp<float>>{&model, &fm.train, &parts, o.seed + run};
    return federate(o, t, model.make_parameters(o.seed + run), o.clients, o.dp, eps, {}, run);
  };
  double epsilon = 0;
  const auto global = train(members, 0, &epsilon);
  const auto target = score_examples(model, global.span(), fm.train, targets);
  const auto test = sim::evaluate(model, global.span(), fm.test);
  std::vector<double> shadow(2 * m * o.shadows);
  for (std::size_t k = 0; k < o.shadows; ++k) {
    // an OUT federation: as many examples, drawn from the pool that excludes every target
    const auto pick = permutation(train_size - 2 * m, o.seed * 7919 + k + 1);
    std::vector<std::size_t> data(m);
    for (std::size_t i = 0; i < m; ++i) data[i] = perm[2 * m + pick[i]];
    const auto s = score_examples(model, train(data, k + 1, nullptr).span(), fm.train, targets);
    for (std::size_t i = 0; i < 2 * m; ++i) shadow[i * o.shadows + k] = s.confidence[i];
    std::printf("  shadow %zu of %zu trained\n", k + 1, o.shadows);
    std::fflush(stdout);
  }
  const auto loss_scores = audit::loss_threshold_scores(target.loss);
  const auto lira = audit::lira_offline_scores(target.confidence, shadow, o.shadows,
                                               o.shadows >= 64 ? audit::lira_variance::per_example
                                                               : audit::lira_variance::global);
  double member_acc = 0;
  {
    std::vector<std::size_t> mem(targets.begin(), targets.begin() + static_cast<std::ptrdiff_t>(m));
    member_acc = score_examples(model, global.span(), fm.train, mem).accuracy;
  }
  std::printf("global model: train (members) accuracy %.4f, test accuracy %.4f", member_acc, test.accuracy);
  if (o.dp)
    std::printf(", epsilon %.3f at delta %g (sigma %g, C %g, q %g)", epsilon, o.delta, o.sigma, o.clip,
                o.sampling_rate);
  std::printf("\n%-16s %8s %12s %13s\n", "attack", "AUC", "TPR@1%FPR", "TPR@0.1%FPR");
  for (const auto& [name, s] : {std::pair{"loss-threshold", &loss_scores}, std::pair{"LiRA offline", &lira}})
    std::printf("%-16s %8.4f %12.4f %13.4f\n", name, audit::roc_auc(*s, is_member),
                audit::tpr_at_fpr(*s, is_member, 0.01), audit::tpr_at_fpr(*s, is_member, 0.001));
  return 0;
}

// -------------------------------------------------------------------------------- inversion
struct inversion_row {
  std::string name;
  std::vector<std::size_t> examples; // indices into the test images used
  std::vector<double> gradient;      // what the server sees (one example's, a batch's, a sum's)
  std::vector<double> mask;          // DLG: transmitted coordinates (empty: all)
};

int run_inversion(const flags& o) {
  const auto fm = load(o);
  const audit::sigmoid_mlp victim(784, o.inversion_hidden, 10);
  std::vector<double> params(victim.num_parameters());
  victim.initialize(params, o.seed);
  const auto order = permutation(fm.test.size(), o.seed + 17);
  const auto image = [&](std::size_t k) {
    const auto f = fm.test.example(order[k]);
    return std::vector<double>(f.begin(), f.end());
  };
  const auto gradient_of = [&](std::size_t first, std::size_t count) { // mean over `count` test images
    std::vector<double> x, y(count * 10, 0.0), g(params.size());
    for (std::size_t k = 0; k < count; ++k) {
      const auto im = image(first + k);
      x.insert(x.end(), im.begin(), im.end());
      y[k * 10 + fm.test.label(order[first + k])] = 1;
    }
    (void)victim.gradient(params, x, y, g);
    return g;
  };
  const auto as_float = [](const std::vector<double>& v) { return std::vector<float>(v.begin(), v.end()); };
  const auto as_double = [](const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); };
  const auto single = gradient_of(0, 1);
  std::vector<inversion_row> rows;
  rows.push_back({"1 example (FedSGD update)", {0}, single, {}});
  for (std::size_t b : {4u, 16u}) {
    std::vector<std::size_t> ex(b);
    std::iota(ex.begin(), ex.end(), std::size_t{0});
    rows.push_back({"batch of " + std::to_string(b), ex, gradient_of(0, b), {}});
  }
  for (std::size_t k :
       {10u, 100u}) { // secure aggregation reveals only the sum (here: its mean) of k clients' updates
    std::vector<std::size_t> ex(k);
    std::iota(ex.begin(), ex.end(), std::size_t{0});
    std::vector<double> sum(params.size(), 0.0);
    for (std::size_t c = 0; c < k; ++c) {
      const auto g = gradient_of(c, 1);
      for (std::size_t i = 0; i < sum.size(); ++i) sum[i] += g[i] / static_cast<double>(k);
    }
    rows.push_back({"secure aggregation, " + std::to_string(k) + " clients", ex, sum, {}});
  }
  for (double f : {0.1, 0.01}) { // top-k of the single update, decoded by the server
    const auto c = fedpp::compression::sparsifier::top_fraction(f);
    std::vector<std::byte> payload;
    const auto x = as_float(single);
    c.compress(std::span<const float>(x), o.seed, payload);
    std::vector<float> out(x.size());
    fedpp::compression::decode(payload, std::span<float>(out));
    std::vector<double> mask(out.size());
    for (std::size_t i = 0; i < out.size(); ++i) mask[i] = out[i] != 0.0f ? 1.0 : 0.0;
    rows.push_back(
        {"top-" + std::to_string(static_cast<int>(f * 100)) + "% sparsification", {0}, as_double(out), mask});
  }
  for (unsigned bits : {8u, 2u}) {
    const fedpp::compression::uniform_quantizer c(bits);
    std::vector<std::byte> payload;
    const auto x = as_float(single);
    c.compress(std::span<const float>(x), o.seed, payload);
    std::vector<float> out(x.size());
    fedpp::compression::decode(payload, std::span<float>(out));
    rows.push_back({std::to_string(bits) + "-bit stochastic quantization", {0}, as_double(out), {}});
  }
  for (double sigma : {0.001, 0.01, 0.1, 1.0}) { // DP: clip to C, add N(0, (σC)²) per coordinate
    auto x = as_float(single);
    const double norm = dp::clip_flat(std::span<float>(x), o.clip);
    auto gen = dp::secure_rng::reproducible(dp::reproducible_seed{o.seed + 99});
    dp::add_gaussian_noise(gen, std::span<float>(x), sigma * o.clip);
    char name[96];
    std::snprintf(name, sizeof name, "DP clip %g (norm %.3g), sigma %g", o.clip, norm, sigma);
    rows.push_back({name, {0}, as_double(x), {}});
  }
  std::printf(
      "gradient inversion: victim 784-%zu-10 sigmoid MLP (%zu parameters) at initialization, Fashion-MNIST "
      "test images; DLG: L-BFGS, %zu iterations, labels known (iDLG for one example)\n",
      o.inversion_hidden, params.size(), o.dlg_iterations);
  std::printf("%-40s %12s %10s %12s %10s\n", "what the server sees", "exact MSE", "PSNR dB", "DLG MSE",
              "PSNR dB");
  { // the floor of a useless reconstruction: a blank (all-zero) image for the first input
    const auto im = image(0);
    const std::vector<double> blank(784, 0.0);
    const double mse = audit::mean_squared_error(std::span<const double>(blank), std::span<const double>(im));
    std::printf("%-40s %12.3g %10.1f %12s %10s\n", "(baseline: a blank image)", mse, audit::psnr(mse), "",
                "");
  }
  std::vector<double> png_exact, png_dlg, png_truth;
  for (const auto& row : rows) {
    const std::span<const double> g(row.gradient);
    double exact_mse = NAN;
    std::vector<double> exact_img(784, 0.0);
    try {
      const auto inv =
          audit::invert_fully_connected(g.subspan(0, o.inversion_hidden * 784),
                                        g.subspan(victim.fc1_bias_offset(), o.inversion_hidden), 784);
      exact_img = inv.input;
      for (auto& v : exact_img) v = std::clamp(v, 0.0, 1.0); // the attacker knows pixels lie in [0, 1]
      exact_mse = HUGE_VAL; // the best match among the examples behind the update
      for (std::size_t k : row.examples) {
        const auto im = image(k);
        exact_mse = std::min(exact_mse, audit::mean_squared_error(std::span<const double>(exact_img),
                                                                  std::span<const double>(im)));
      }
    } catch (const fedpp::invalid_config&) {
      // no first-layer row with a non-zero bias gradient survived (e.g. top-k dropped them all)
    }
    double dlg_mse = NAN;
    std::vector<double> dlg_img(784, 0.0);
    if (row.examples.size() <= 16) {
      std::vector<std::size_t> labels;
      for (std::size_t k : row.examples) labels.push_back(fm.test.label(order[k]));
      if (row.examples.size() == 1) {
        try {
          labels[0] = audit::idlg_label(g.subspan(victim.fc2_bias_offset(), 10));
        } catch (const fedpp::invalid_config&) {
          // no negative bias gradient left (noise, compression): keep the true label
        }
      }
      audit::dlg_options opt;
      opt.optimizer.max_iterations = o.dlg_iterations;
      opt.seed = o.seed;
      if (row.name.rfind("DP ", 0) == 0) opt.clip_norm = o.clip; // the attacker knows C
      auto r = audit::dlg_reconstruct(victim, params, g, labels, row.mask, opt);
      for (auto& v : r.inputs) v = std::clamp(v, 0.0, 1.0);
      std::vector<double> truth;
      for (std::size_t k : row.examples) {
        const auto im = image(k);
        truth.insert(truth.end(), im.begin(), im.end());
      }
      std::vector<std::size_t> pairing;
      dlg_mse = audit::batch_reconstruction_mse(std::span<const double>(truth),
                                                std::span<const double>(r.inputs), 784, &pairing);
      dlg_img.assign(r.inputs.begin() + static_cast<std::ptrdiff_t>(pairing[0] * 784),
                     r.inputs.begin() + static_cast<std::ptrdiff_t>(pairing[0] * 784 + 784));
    }
    const auto show = [](double mse) {
      char s[32];
      if (std::isnan(mse)) return std::string("-");
      std::snprintf(s, sizeof s, "%.3g", mse);
      return std::string(s);
    };
    const auto show_psnr = [](double mse) {
      char s[32];
      if (std::isnan(mse)) return std::string("-");
      const double p = audit::psnr(mse);
      if (std::isinf(p)) return std::string("inf");
      std::snprintf(s, sizeof s, "%.1f", p);
      return std::string(s);
    };
    std::printf("%-40s %12s %10s %12s %10s\n", row.name.c_str(), show(exact_mse).c_str(),
                show_psnr(exact_mse).c_str(), show(dlg_mse).c_str(), show_psnr(dlg_mse).c_str());
    const auto first = image(row.examples.front());
    png_truth.insert(png_truth.end(), first.begin(), first.end());
    png_exact.insert(png_exact.end(), exact_img.begin(), exact_img.end());
    png_dlg.insert(png_dlg.end(), dlg_img.begin(), dlg_img.end());
  }
  if (!o.out_dir.empty()) { // rows: an image behind the update, exact reconstruction, DLG
    std::vector<double> all = png_truth;
    all.insert(all.end(), png_exact.begin(), png_exact.end());
    all.insert(all.end(), png_dlg.begin(), png_dlg.end());
    std::size_t w = 0, h = 0;
    const auto px = audit::image_grid(std::span<const double>(all), 28, 28, rows.size(), 2, w, h);
    const std::string path = o.out_dir + "/audit_inversion.png";
    audit::write_png_gray(path, w, h, px);
    std::printf("wrote %s (columns: the settings above in order; rows: an input behind the update, exact "
                "reconstruction, DLG; reconstructions clamped to [0, 1], black where none ran)\n",
                path.c_str());
  }
  return 0;
}

// --------------------------------------------------------------------------------- backdoor
int run_backdoor(const flags& o) {
  const auto fm = load(o);
  const sim::mlp<float> model(784, o.hidden, 10);
  const auto parts = sim::partition_iid(fm.train.size(), o.clients, o.seed);
  std::vector<fedpp::client_id> ids(o.clients);
  std::iota(ids.begin(), ids.end(), fedpp::client_id{0});
  const fedpp::attacks::attacker_set attackers(ids, o.attacker_fraction, o.seed + 5);
  const audit::pixel_trigger trigger{};
  // the attackers' poisoned copies of their own shards, in one dataset of their examples
  std::vector<float> features;
  std::vector<std::uint8_t> labels;
  sim::partition poisoned_parts(o.clients);
  std::vector<std::size_t> stamp;
  fedpp::rng gen(o.seed + 6);
  for (fedpp::client_id c : ids) {
    if (!attackers.contains(c)) continue;
    for (std::size_t i : parts[c]) {
      const auto f = fm.train.example(i);
      poisoned_parts[c].push_back(labels.size());
      if (gen.uniform_open() < o.poison_fraction) stamp.push_back(labels.size());
      features.insert(features.end(), f.begin(), f.end());
      labels.push_back(fm.train.label(i));
    }
  }
  audit::poison_examples(std::span<float>(features), std::span<std::uint8_t>(labels), stamp, trigger,
                         static_cast<std::uint8_t>(o.target));
  const sim::dataset poisoned(std::move(features), std::move(labels), 784, 10);
  // the test images of other classes, stamped
  std::vector<float> stamped_features;
  std::vector<std::uint8_t> stamped_labels;
  for (std::size_t i = 0; i < fm.test.size(); ++i) {
    if (fm.test.label(i) == o.target) continue;
    const auto f = fm.test.example(i);
    stamped_features.insert(stamped_features.end(), f.begin(), f.end());
    trigger.apply(std::span<float>(stamped_features).subspan(stamped_features.size() - 784));
    stamped_labels.push_back(fm.test.label(i));
  }
  const std::size_t n_stamped = stamped_labels.size();
  const sim::dataset stamped(std::move(stamped_features), std::vector<std::uint8_t>(stamped_labels), 784, 10);
  std::printf(
      "backdoor: %zu of %zu clients stamp a %zux%zu checkerboard on %.0f%% of their images and relabel them "
      "%zu (%s)%s; %zu clients per round (DP: q = %g, sigma %g, C %g), %zu rounds, MLP 784-%zu-10\n",
      attackers.size(), o.clients, trigger.size, trigger.size, 100 * o.poison_fraction, o.target,
      sim::fashion_mnist::class_names[o.target],
      o.boost > 1 ? (", updates boosted x" + example_cli::format_real(o.boost)).c_str() : "",
      o.clients_per_round, o.sampling_rate, o.sigma, o.clip, o.rounds, o.hidden);
  const trainer_fn honest = shard_trainer<sim::mlp<float>>{&model, &fm.train, &parts, o.seed};
  trainer_fn attacker = shard_trainer<sim::mlp<float>>{&model, &poisoned, &poisoned_parts, o.seed};
  if (o.boost > 1) // model replacement (Bagdasaryan et al. 2020): w_g + γ (w_local − w_g)
    attacker = [inner = attacker, gamma = o.boost](fedpp::client_id id,
                                                   const fedpp::host_model_view<const float>& global,
                                                   const fedpp::round_config& config) {
      auto r = inner(id, global, config);
      const auto g = fedpp::flat_model<float>::copy_of(global);
      auto w = r.model.span();
      for (std::size_t i = 0; i < w.size(); ++i)
        w[i] = g.span()[i] + static_cast<float>(gamma) * (w[i] - g.span()[i]);
      return r;
    };
  const trainer_fn routed =
      fedpp::attacks::attacker_router<float, trainer_fn, trainer_fn>(honest, attacker, attackers);
  std::printf("%-10s %14s %20s %s\n", "defense", "clean accuracy", "attack success rate", "notes");
  for (const auto& d : o.defenses) {
    using fedpp::model_layout;
    fedpp::flat_model<float> w = model.make_parameters(o.seed);
    double eps = 0;
    if (d == "fedavg")
      w = federate(o, routed, std::move(w), o.clients, false);
    else if (d == "normbound")
      w = federate<fedpp::norm_bounding<float>>(
          o, routed, std::move(w), o.clients, false, nullptr,
          [&](const model_layout& l) { return fedpp::norm_bounding<float>(l, o.max_norm); });
    else if (d == "median")
      w = federate<fedpp::coordinate_median<float>>(
          o, routed, std::move(w), o.clients, false, nullptr,
          [](const model_layout& l) { return fedpp::coordinate_median<float>(l); });
    else if (d == "trimmed")
      w = federate<fedpp::trimmed_mean<float>>(
          o, routed, std::move(w), o.clients, false, nullptr,
          [&](const model_layout& l) { return fedpp::trimmed_mean<float>(l, {.beta = o.trim}); });
    else if (d == "krum") {
      const std::size_t f = std::max<std::size_t>(1, (o.clients_per_round - 3) / 2 < attackers.size()
                                                         ? (o.clients_per_round - 3) / 2
                                                         : attackers.size());
      w = federate<fedpp::krum<float>>(
          o, routed, std::move(w), o.clients, false, nullptr, [&, f](const model_layout& l) {
            return fedpp::krum<float>(l, {.byzantine = f, .selected = o.clients_per_round - f});
          });
    } else if (d == "dp")
      w = federate(o, routed, std::move(w), o.clients, true, &eps);
    const double clean = sim::evaluate(model, w.span(), fm.test).accuracy;
    // predictions on the stamped images
    sim::row_matrix<float> x, logits;
    sim::mlp<float>::workspace ws;
    std::vector<std::size_t> pred;
    for (std::size_t b = 0; b < n_stamped; b += 1000) {
      const std::size_t count = std::min<std::size_t>(1000, n_stamped - b);
      x = Eigen::Map<const sim::row_matrix<float>>(stamped.features().data() + b * 784,
                                                   static_cast<Eigen::Index>(count), 784);
      model.forward(w.span(), x, logits, ws);
      for (std::size_t r = 0; r < count; ++r) {
        const float* z = logits.data() + r * 10;
        pred.push_back(static_cast<std::size_t>(std::max_element(z, z + 10) - z));
      }
    }
    const double asr = audit::attack_success_rate(pred, stamped_labels, o.target);
    char note[96] = "";
    if (d == "dp") std::snprintf(note, sizeof note, "epsilon %.2f at delta %g", eps, o.delta);
    if (d == "normbound") std::snprintf(note, sizeof note, "max norm %g", o.max_norm);
    std::printf("%-10s %14.4f %20.4f %s\n", d.c_str(), clean, asr, note);
    std::fflush(stdout);
  }
  if (!o.out_dir.empty()) {
    std::vector<float> ex(stamped.features().begin(), stamped.features().begin() + 8 * 784);
    std::size_t w = 0, h = 0;
    const auto px = audit::image_grid(std::span<const float>(ex), 28, 28, 8, 2, w, h);
    const std::string path = o.out_dir + "/audit_backdoor_trigger.png";
    audit::write_png_gray(path, w, h, px);
    std::printf("wrote %s (stamped test images)\n", path.c_str());
  }
  return 0;
}

// ------------------------------------------------------------------------------------ audit
int run_audit(const flags& o) {
  const auto fm = load(o);
  const sim::softmax_regression<float> model(784, 10);
  const std::size_t p = model.layout().total_size(), m = o.canaries;
  fedpp::model_layout layout = model.layout(); // the model, then one coordinate per canary
  layout.add("audit.canaries", fedpp::tensor_shape::vector(m), fedpp::dtype::f32);
  const auto included = audit::draw_canary_inclusion(m, o.seed + 1000);
  std::vector<std::size_t> canary_of; // client id − clients → canary index, for included canaries
  for (std::size_t i = 0; i < m; ++i)
    if (included[i]) canary_of.push_back(i);
  const std::size_t population = o.clients + canary_of.size();
  const auto parts = sim::partition_iid(fm.train.size(), o.clients, o.seed);
  const double actual_sigma = o.sigma / o.broken_noise;
  trainer_fn trainer = [&](fedpp::client_id id, const fedpp::host_model_view<const float>& global,
                           const fedpp::round_config& config) -> fedpp::client_result<float> {
    auto params = fedpp::flat_model<float>::copy_of(global);
    if (id < o.clients) { // a real client trains the model's part; its canary coordinates stay
      const sim::dataset_view view(fm.train, parts.at(id));
      (void)sim::local_train(model, params.span().subspan(0, p), view, sim::sgd_config::from(config), o.seed,
                             id, config.round);
      return {std::move(params), fedpp::update_kind::weights, static_cast<double>(view.size()), {}};
    }
    // a canary client: a Dirac update far beyond C, which the server clips to C e_i
    params.span()[p + canary_of.at(id - o.clients)] += static_cast<float>(100 * o.clip);
    return {std::move(params), fedpp::update_kind::weights, 1.0, {}};
  };
  fedpp::flat_model<float> initial(layout);
  model.initialize(initial.span().subspan(0, p), o.seed);
  std::vector<fedpp::client_id> ids(population);
  std::iota(ids.begin(), ids.end(), fedpp::client_id{0});
  fedpp::in_process_federation<float, trainer_fn> federation(ids, trainer, layout, o.hosts);
  using hooks = dp::central_dp_hooks<float>;
  fedpp::server<float, fedpp::poisson_sampler, fedpp::server_sgd<float>, fedpp::fedavg<float>,
                fedpp::wall_clock_availability, hooks>
      server(std::move(initial), fedpp::poisson_sampler(population, o.sampling_rate),
             fedpp::server_sgd<float>(1.0), server_options_for(o), {},
             hooks(dp_options_for(o, population, actual_sigma), layout,
                   dp::secure_rng::reproducible(dp::reproducible_seed{o.seed + 2000})),
             [](const fedpp::model_layout& l) { return fedpp::fedavg<float>(l, fedpp::weighting::uniform); });
  std::printf(
      "one-run audit of DP-FedAvg: %zu real clients + %zu of %zu canaries included, q = %g, %zu rounds, C = "
      "%g, sigma claimed %g, sigma used %g\n",
      o.clients, canary_of.size(), m, o.sampling_rate, o.rounds, o.clip, o.sigma, actual_sigma);
  for (std::size_t r = 0; r < o.rounds; ++r) (void)server.run_round(federation.server_endpoint());
  // white-box score: the canary's coordinate of the final model = the sum of the released noisy
  // means over the rounds (only released aggregates ever touch it)
  std::vector<double> scores(m);
  for (std::size_t i = 0; i < m; ++i) scores[i] = server.model().span()[p + i];
  const auto result = audit::one_run_audit(scores, included, o.guesses, o.guesses, o.delta, o.beta);
  const double claimed = dp::epsilon_for<dp::rdp_accountant>(o.sampling_rate, o.sigma, o.rounds, o.delta);
  const double acc =
      sim::evaluate(model, std::span<const float>(server.model().span()).subspan(0, p), fm.test).accuracy;
  std::printf("test accuracy %.4f\n", acc);
  std::printf("guesses %zu, correct %zu; epsilon lower bound %.3f (confidence %g, delta %g); accountant's "
              "epsilon %.3f (RDP, sigma %g)\n",
              result.guesses.guesses, result.guesses.correct, result.epsilon_lower_bound, 1 - o.beta, o.delta,
              claimed, o.sigma);
  if (result.epsilon_lower_bound > claimed)
    std::printf(
        "audit: VIOLATION: the lower bound exceeds the claimed epsilon; the mechanism is not (%.3f, %g)-DP\n",
        claimed, o.delta);
  else
    std::printf("audit: consistent: the lower bound does not exceed the claimed epsilon\n");
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  flags o;
  if (const int status = parse(argc, argv, o); status >= 0) return status;
  return fmnist_job::guarded([&] {
    if (o.attack == "membership") return run_membership(o);
    if (o.attack == "inversion") return run_inversion(o);
    if (o.attack == "backdoor") return run_backdoor(o);
    return run_audit(o);
  });
}
