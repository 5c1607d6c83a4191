// 09 — fedpp in your own training loop (docs/tutorial_training_loop.md walks through this file).
//
// The user has a model of their own (a softmax classifier whose parameters live in two
// std::vectors, as a libtorch module or an Eigen model keeps its own buffers) and local training
// of their own (full-batch gradient descent). The example runs the same federated job twice:
//
//   1. "own loop": the user's loop and transport, with fedpp's pieces called directly: the model
//      layout and zero-copy views of the user's buffers, streaming FedAvg (fedpp::fedavg), a
//      server optimizer (server_sgd or FedAdam), and optionally central DP (server-side clipping,
//      Gaussian noise with the fixed denominator, an RDP accountant);
//   2. "fedpp::server": the same client code as a client_trainer behind fedpp::server and the
//      in-process transport (central_dp_hooks for DP).
//
// Both pick clients the way fedpp::server does (one rng stream per round), so with the same seed
// they compute the same models; the example checks that they agree (to 1e-4; with --dp only when
// the noise is seeded with --reproducible-noise) and exits 1 if they do not.
//
//   09_training_loop                       FedAvg, 100 clients, 10 per round, both loops
//   09_training_loop --optimizer adam      FedAdam on the server
//   09_training_loop --dp --reproducible-noise   DP-FedAvg, Poisson sampling q = 10/100
#include "example_cli.hpp"

#include "fedpp/aggregation/client_update.hpp"
#include "fedpp/aggregation/fedavg.hpp"
#include "fedpp/client/update_helpers.hpp"
#include "fedpp/optim/fedopt.hpp"
#include "fedpp/optim/server_sgd.hpp"
#include "fedpp/orchestration/in_process_federation.hpp"
#include "fedpp/orchestration/server.hpp"
#include "fedpp/privacy/central_dp_hooks.hpp"
#include "fedpp/privacy/clipping.hpp"
#include "fedpp/privacy/gaussian_noise.hpp"
#include "fedpp/privacy/rdp_accountant.hpp"
#include "fedpp/privacy/secure_rng.hpp"
#include "fedpp/random/distributions.hpp"
#include "fedpp/random/rng.hpp"
#include "fedpp/scheduling/poisson_sampler.hpp"
#include "fedpp/scheduling/uniform_sampler.hpp"
#include "fedpp/tensor/adapt.hpp"
#include "fedpp/tensor/flat_model.hpp"
#include "fedpp/tensor/model_layout.hpp"
#include "fedpp/tensor/model_view.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace {

// ------------------------------------------------------------------------------------------------
// The user's side: data, model and training. Nothing here knows about fedpp.

constexpr std::size_t features = 10;
constexpr std::size_t classes = 3;

struct dataset {
  std::vector<float> x;        // rows of `features`
  std::vector<std::uint8_t> y; // labels in [0, classes)
  [[nodiscard]] std::size_t size() const noexcept { return y.size(); }
};

// A softmax classifier; its parameters live in the user's own buffers.
struct softmax_model {
  std::vector<float> weight = std::vector<float>(classes * features); // {classes, features}, row-major
  std::vector<float> bias = std::vector<float>(classes);

  void logits(const float* x, float* out) const {
    for (std::size_t c = 0; c < classes; ++c) {
      float z = bias[c];
      for (std::size_t j = 0; j < features; ++j) z += weight[c * features + j] * x[j];
      out[c] = z;
    }
  }
};

// Full-batch gradient descent on the cross-entropy; returns the last epoch's mean loss.
double train(softmax_model& m, const dataset& d, std::uint32_t epochs, float lr) {
  const std::size_t n = d.size();
  double loss = 0;
  std::vector<float> grad_w(classes * features);
  std::vector<float> grad_b(classes);
  for (std::uint32_t epoch = 0; epoch < epochs; ++epoch) {
    std::fill(grad_w.begin(), grad_w.end(), 0.F);
    std::fill(grad_b.begin(), grad_b.end(), 0.F);
    loss = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const float* x = &d.x[i * features];
      float p[classes];
      m.logits(x, p);
      const float top = *std::max_element(p, p + classes);
      float total = 0;
      for (float& v : p) total += v = std::exp(v - top);
      for (float& v : p) v /= total;
      loss -= std::log(static_cast<double>(std::max(p[d.y[i]], 1e-30F)));
      p[d.y[i]] -= 1; // the gradient of the loss with respect to the logits
      for (std::size_t c = 0; c < classes; ++c) {
        for (std::size_t j = 0; j < features; ++j) grad_w[c * features + j] += p[c] * x[j];
        grad_b[c] += p[c];
      }
    }
    const float step = lr / static_cast<float>(n);
    for (std::size_t k = 0; k < grad_w.size(); ++k) m.weight[k] -= step * grad_w[k];
    for (std::size_t c = 0; c < classes; ++c) m.bias[c] -= step * grad_b[c];
    loss /= static_cast<double>(n);
  }
  return loss;
}

double accuracy(const softmax_model& m, const dataset& d) {
  std::size_t right = 0;
  for (std::size_t i = 0; i < d.size(); ++i) {
    float z[classes];
    m.logits(&d.x[i * features], z);
    right += static_cast<std::size_t>(std::max_element(z, z + classes) - z) == d.y[i] ? 1 : 0;
  }
  return static_cast<double>(right) / static_cast<double>(d.size());
}

// Non-IID data: client k draws 60% of its examples from class k mod 3; sizes 20..60. Features
// differ in noise, so the first gradient step (towards the class means) is not yet the best model.
struct federation_data {
  std::vector<dataset> clients;
  dataset test;
};

federation_data make_data(std::size_t num_clients, std::uint64_t seed) {
  fedpp::rng gen(seed);
  std::vector<float> centre(classes * features);
  for (auto& v : centre) v = static_cast<float>(fedpp::random::normal(gen, 0, 0.5));
  auto draw = [&](dataset& d, std::size_t label) {
    // Feature j has noise sd 0.25 (1 + j): the quiet features are the informative ones.
    for (std::size_t j = 0; j < features; ++j)
      d.x.push_back(centre[label * features + j] +
                    static_cast<float>(fedpp::random::normal(gen, 0, 0.25 * static_cast<double>(1 + j))));
    d.y.push_back(static_cast<std::uint8_t>(label));
  };
  federation_data data;
  data.clients.resize(num_clients);
  for (std::size_t k = 0; k < num_clients; ++k) {
    const std::size_t n = 20 + (k * 7) % 41;
    for (std::size_t i = 0; i < n; ++i)
      draw(data.clients[k], gen.uniform() < 0.6 ? k % classes : static_cast<std::size_t>(gen.below(classes)));
  }
  for (std::size_t i = 0; i < 600; ++i) draw(data.test, i % classes);
  return data;
}

// ------------------------------------------------------------------------------------------------
// The glue: fedpp's names and shapes for the user's tensors.

// The model layout: names, shapes and order of the tensors (both sides must agree on it).
fedpp::model_layout make_layout() {
  fedpp::model_layout layout;
  layout.add("fc.weight", {classes, features}).add("fc.bias", {classes});
  return layout;
}

// The user's buffers as a fedpp model view, in layout order: no copy, nothing owned.
fedpp::host_model_view<float> view_of(softmax_model& m) {
  fedpp::host_model_view<float> view;
  view.add("fc.weight", fedpp::adapt(m.weight.data(), fedpp::tensor_shape{classes, features}));
  view.add("fc.bias", fedpp::adapt(m.bias));
  return view;
}

// Copies a global model (any model view with the layout's names) into the user's buffers.
void load(softmax_model& m, const fedpp::host_model_view<const float>& global) {
  const fedpp::host_model_view<float> mine = view_of(m); // named: a view's tensors() live in the view
  for (const auto& t : mine.tensors()) {
    const auto from = global.at(t.name).span();
    std::copy(from.begin(), from.end(), t.view.span().begin());
  }
}

// ------------------------------------------------------------------------------------------------
// Settings (the command line).

struct settings {
  std::size_t rounds = 30;
  std::size_t clients = 100;
  std::size_t per_round = 10; // m; with --dp the Poisson rate is q = m / N
  std::uint32_t local_epochs = 5;
  double lr = 0.5;
  std::string optimizer = "sgd";
  double server_lr = 1.0; // server_sgd's η
  double adam_lr = 0.05;  // FedAdam's η
  bool dp = false;
  double sigma = 1.0; // noise multiplier
  double clip = 0.5;  // C
  double delta = 1e-5;
  bool reproducible_noise = false;
  std::string loop = "both";
  std::size_t hosts = 2;
  std::uint64_t seed = 1;

  [[nodiscard]] double q() const { return static_cast<double>(per_round) / static_cast<double>(clients); }
  [[nodiscard]] fedpp::privacy::secure_rng noise_generator() const {
    return reproducible_noise
               ? fedpp::privacy::secure_rng::reproducible(fedpp::privacy::reproducible_seed{seed})
               : fedpp::privacy::secure_rng{};
  }
};

// ------------------------------------------------------------------------------------------------
// 1. Your own loop: fedpp's aggregator, optimizer and DP pieces, called directly.

template <class Sampler, class Optimizer>
fedpp::flat_model<float> own_loop(const settings& s, const federation_data& data, const Sampler& sampler,
                                  Optimizer optimizer) {
  const fedpp::model_layout layout = make_layout();
  fedpp::flat_model<float> global(layout); // the global model: one aligned buffer, zeroed
  fedpp::flat_model<float> mean_delta(layout);
  fedpp::privacy::secure_rng noise = s.noise_generator();
  fedpp::privacy::rdp_accountant accountant;
  const double expected_clients = s.q() * static_cast<double>(s.clients); // qN, DP's fixed denominator

  for (std::uint64_t round = 0; round < s.rounds; ++round) {
    fedpp::rng gen = fedpp::rng::for_stream(s.seed, round); // as fedpp::server seeds its sampler
    const std::vector<fedpp::client_id> chosen = sampler.sample(round, gen);
    fedpp::fedavg<float> aggregate(layout, s.dp ? fedpp::weighting::uniform : fedpp::weighting::by_examples);
    std::size_t rejected = 0;

    for (const fedpp::client_id c : chosen) {
      // On the client: start from the global model, train, upload the change (here: a call).
      softmax_model local;
      load(local, global.view());
      train(local, data.clients[c], s.local_epochs, static_cast<float>(s.lr));
      const fedpp::host_model_view<float> update = view_of(local);
      for (const auto& t : update.tensors()) // Δ = w_local − w_global, in place
        fedpp::compute_delta<float>(t.view.span(), global.tensor(t.name).span(), t.view.span());
      const double examples = static_cast<double>(data.clients[c].size());

      // On the server: fold the report into the running sum (O(model) memory for any number of
      // clients). fedavg checks names, shapes, weight and NaN/Inf first and throws rejected_update,
      // sum unchanged, for a bad report: that client is left out, the round goes on.
      try {
        if (!s.dp) {
          aggregate.accumulate({c, update, examples}); // a zero-copy view of the user's buffers
        } else {
          // Central DP: the server clips its own copy, so the sensitivity C holds whatever the client did.
          fedpp::flat_model<float> clipped = fedpp::flat_model<float>::copy_of(update);
          fedpp::privacy::clip_flat(clipped.span(), s.clip);
          aggregate.accumulate({c, clipped.view(), 1.0});
        }
      } catch (const fedpp::rejected_update&) {
        ++rejected;
      }
    }

    // The mean change: Σ n_k Δ_k / Σ n_k (DP: Σ clip(Δ_k) / |S|); zeros when nobody reported.
    if (aggregate.can_report())
      aggregate.report_into(mean_delta.span());
    else
      std::fill(mean_delta.span().begin(), mean_delta.span().end(), 0.F);
    if (s.dp) {
      // DP-FedAvg (McMahan et al. 2018), every round, even an empty one: Σ clip(Δ_k) / (qN)
      // + N(0, (σC / (qN))²); the accountant composes one Poisson-subsampled Gaussian step.
      const double keep = static_cast<double>(aggregate.num_inputs()) / expected_clients;
      fedpp::privacy::scale_and_add_gaussian_noise(
          noise, mean_delta.span(), keep,
          fedpp::privacy::central_noise_stddev(s.sigma, s.clip, expected_clients));
      accountant.compose(s.q(), s.sigma);
    }
    if (aggregate.can_report() || s.dp)
      optimizer.step(global.span(), mean_delta.span()); // server_sgd: w ← w + η Δ; FedAdam: its step

    softmax_model current;
    load(current, global.view());
    std::printf("own loop       round %3llu  clients %3zu  test accuracy %.4f",
                static_cast<unsigned long long>(round), chosen.size(), accuracy(current, data.test));
    if (rejected > 0) std::printf("  rejected %zu", rejected);
    if (s.dp) std::printf("  epsilon %.3f", accountant.epsilon(s.delta));
    std::printf("\n");
  }
  return global;
}

// ------------------------------------------------------------------------------------------------
// 2. The same client code behind fedpp::server and the in-process transport.

// The user's training as a fedpp client_trainer: it gets the global model as a view and returns its
// new weights (fedpp's client host turns them into the delta it uploads).
struct trainer {
  const federation_data* data;

  fedpp::client_result<float> operator()(fedpp::client_id id,
                                         const fedpp::host_model_view<const float>& global,
                                         const fedpp::round_config& config) const {
    softmax_model local;
    load(local, global);
    const dataset& mine = data->clients[id];
    const double loss = train(local, mine, config.local_epochs, static_cast<float>(config.learning_rate));
    return {fedpp::flat_model<float>::copy_of(view_of(local)),
            fedpp::update_kind::weights,
            static_cast<double>(mine.size()),
            {{"train_loss", loss}}};
  }
};

template <class Sampler, class Optimizer, class Hooks>
fedpp::flat_model<float> with_server(const settings& s, const federation_data& data, const Sampler& sampler,
                                     Optimizer optimizer, Hooks hooks, fedpp::weighting weights) {
  const fedpp::model_layout layout = make_layout();
  std::vector<fedpp::client_id> ids(s.clients);
  for (std::size_t k = 0; k < s.clients; ++k) ids[k] = k;
  fedpp::in_process_federation<float, trainer> federation(ids, trainer{&data}, layout, s.hosts);

  fedpp::server_options options;
  options.seed = s.seed;
  options.client_config.local_epochs = s.local_epochs;
  options.client_config.learning_rate = s.lr;
  fedpp::server<float, Sampler, Optimizer, fedpp::fedavg<float>, fedpp::wall_clock_availability, Hooks>
      server(fedpp::flat_model<float>(layout), sampler, std::move(optimizer), options, {}, std::move(hooks),
             [weights](const fedpp::model_layout& l) { return fedpp::fedavg<float>(l, weights); });

  for (std::size_t r = 0; r < s.rounds; ++r) {
    const fedpp::round_metrics m = server.run_round(federation.server_endpoint());
    softmax_model current;
    load(current, server.model().view());
    std::printf("fedpp::server  round %3llu  clients %3zu  test accuracy %.4f",
                static_cast<unsigned long long>(m.round), m.sampled, accuracy(current, data.test));
    if (m.rejected > 0) std::printf("  rejected %zu", m.rejected);
    if (m.succeeded) std::printf("  train loss %.4f", m.client_metrics.at("train_loss"));
    if constexpr (requires { server.hooks().epsilon(s.delta); })
      std::printf("  epsilon %.3f", server.hooks().epsilon(s.delta));
    std::printf("\n");
  }
  return server.model();
}

// ------------------------------------------------------------------------------------------------
// Both loops for one sampler and optimizer, then the comparison.

template <class Sampler, class Optimizer>
int run_both(const settings& s, const federation_data& data, const Sampler& sampler,
             const Optimizer& optimizer) {
  std::optional<fedpp::flat_model<float>> own, served;
  if (s.loop != "server") own = own_loop(s, data, sampler, optimizer);
  if (s.loop != "own") {
    if (s.dp) {
      fedpp::privacy::central_dp_options dp;
      dp.noise_multiplier = s.sigma;
      dp.clip_norm = s.clip;
      dp.sampling_rate = s.q();
      dp.population = s.clients;
      served = with_server(s, data, sampler, optimizer,
                           fedpp::privacy::central_dp_hooks<float>(dp, make_layout(), s.noise_generator()),
                           fedpp::weighting::uniform);
    } else {
      served =
          with_server(s, data, sampler, optimizer, fedpp::no_server_hooks{}, fedpp::weighting::by_examples);
    }
  }
  if (!own || !served) return 0;
  if (s.dp && !s.reproducible_noise) {
    std::printf(
        "not compared: each loop drew its own OS-keyed noise (--reproducible-noise seeds both alike)\n");
    return 0;
  }
  double most = 0;
  for (std::size_t i = 0; i < own->size(); ++i)
    most = std::max(most, static_cast<double>(std::fabs(own->span()[i] - served->span()[i])));
  std::printf("own loop vs fedpp::server: max |difference| = %g%s\n", most,
              most == 0 ? " (bitwise equal)" : "");
  if (most > 1e-4) {
    std::fprintf(stderr, "error: the two loops disagree by %g (> 1e-4)\n", most);
    return 1;
  }
  std::printf("the two loops agree\n");
  return 0;
}

int run(const settings& s) {
  const federation_data data = make_data(s.clients, s.seed);
  const std::size_t size = make_layout().total_size();
  std::printf("%zu clients, %s, %s server optimizer%s\n", s.clients,
              s.dp ? "Poisson sampling" : "fixed-size sampling", s.optimizer.c_str(),
              s.dp ? ", central DP (clip, Gaussian noise, RDP accountant)" : "");
  auto with_optimizer = [&](const auto& sampler) {
    if (s.optimizer == "adam")
      return run_both(s, data, sampler,
                      fedpp::fedadam<float>(size, fedpp::fedopt_params{.learning_rate = s.adam_lr}));
    return run_both(s, data, sampler, fedpp::server_sgd<float>(s.server_lr));
  };
  // DP accounting assumes Poisson sampling (each client in with probability q); plain FedAvg
  // takes a fixed number of clients per round.
  if (s.dp) return with_optimizer(fedpp::poisson_sampler(s.clients, s.q()));
  return with_optimizer(fedpp::uniform_sampler(s.clients, s.per_round));
}

} // namespace

int main(int argc, char** argv) {
  namespace within = example_cli::within;
  settings s;
  example_cli::command_line cli("09_training_loop: your model and loop with fedpp's aggregation, server "
                                "optimizer and DP pieces, then the same job with fedpp::server");
  cli.count("--rounds", s.rounds, "rounds", std::size_t{1}, std::size_t{100000});
  cli.count("--clients", s.clients, "clients N", std::size_t{1}, std::size_t{10000});
  cli.count("--clients-per-round", s.per_round, "clients per round m (with --dp: q = m/N)");
  cli.count("--local-epochs", s.local_epochs, "local epochs", std::uint32_t{1}, std::uint32_t{1000});
  cli.real("--lr", s.lr, "client learning rate", within::positive);
  cli.choice("--optimizer", s.optimizer, "server optimizer", {"sgd", "adam"});
  auto* server_lr =
      cli.real("--server-lr", s.server_lr, "server_sgd learning rate (--optimizer sgd)", within::positive);
  auto* adam_lr =
      cli.real("--adam-lr", s.adam_lr, "FedAdam learning rate (--optimizer adam)", within::positive);
  cli.toggle("--dp", s.dp, true, "central DP: Poisson sampling, clipping, Gaussian noise, RDP accountant");
  auto* sigma = cli.real("--noise-multiplier", s.sigma, "sigma (--dp)", within::positive);
  auto* clip = cli.real("--clip", s.clip, "C: L2 clipping bound (--dp)", within::positive);
  auto* delta = cli.real("--delta", s.delta, "delta of the reported epsilon (--dp)", within::unit_open);
  auto* seeded = cli.toggle("--reproducible-noise", s.reproducible_noise, true,
                            "seed the DP noise from --seed (reproducible, NOT private; --dp)");
  cli.choice("--loop", s.loop, "which loops to run", {"own", "server", "both"});
  cli.count("--hosts", s.hosts, "host threads of the in-process federation", std::size_t{1}, std::size_t{64});
  cli.count("--seed", s.seed, "seed of data and sampling", std::uint64_t{0});
  cli.check([&] {
    if (s.per_round > s.clients)
      example_cli::refuse("--clients-per-round",
                          std::to_string(s.per_round) + " exceeds --clients " + std::to_string(s.clients));
    if (adam_lr->count() > 0 && s.optimizer != "adam")
      example_cli::refuse("--adam-lr", "applies only to --optimizer adam");
    if (server_lr->count() > 0 && s.optimizer != "sgd")
      example_cli::refuse("--server-lr", "applies only to --optimizer sgd");
    for (const auto* opt : {sigma, clip, delta, seeded})
      if (opt->count() > 0 && !s.dp) example_cli::refuse(opt->get_name(), "applies only with --dp");
  });
  if (const auto status = cli.parse(argc, argv)) return *status;
  return example_cli::guarded([&] { return run(s); });
}
