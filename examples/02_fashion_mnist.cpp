// 02 — The main job: federated training on Fashion-MNIST, 100 simulated clients in one process.
//
// Data: Debian's dataset-fashion-mnist (real IDX files), split over clients by Dirichlet label
// skew Dir(0.5). Model: an MLP 784-200-10 written with Eigen. Each round 10 clients train
// locally and FedAvg combines them; the test accuracy is printed per round and, at the end,
// compared with the same model trained centrally on as many example passes.
// `02_fashion_mnist --help` lists the flags (algorithm, partition, α, clients, rounds, ...).
// `--federated-eval-every K` holds out a local test split of each client's data (stratified by its
// labels) and runs a federated evaluation round every K rounds: the clients' weighted mean,
// 10th percentile and worst client (docs/evaluation.md).
// Checkpoints and warm start (docs/checkpoints.md): `--checkpoint F --checkpoint-every K` saves the
// server every K rounds, `--resume F` continues a saved run, `--init-checkpoint F` starts from the
// model of a checkpoint, `--pretrain-examples N` trains the model centrally for one epoch on N
// training examples held out from every client (public data) before the federation starts.
// Guided client selection (docs/selection.md): `--sampler oort|power-of-choice` replaces uniform
// sampling with Oort or power-of-choice, fed back after each round with the clients' training
// losses and (with --deadline, in the simulated fleet) their simulated durations.
#include "fashion_mnist_job.hpp"

#include "fedpp/orchestration/checkpoint.hpp"
#include "fedpp/orchestration/in_process_federation.hpp"
#include "fedpp/random/rng.hpp"

#include <algorithm>
#include <filesystem>
#include <numeric>

namespace {

/// At most half of the 60,000 training examples are public; the clients keep the rest.
constexpr std::size_t max_pretrain_examples = 30000;

/// Pre-training on public data: `n` training examples drawn at random (seeded) are removed from
/// every client's part — the federation never sees them — and the model is trained centrally on
/// them for one epoch (minibatch SGD with the clients' batch size and learning rate).
template <class Model>
fedpp::flat_model<float> pretrain(const fmnist_job::options& o, fmnist_job::setup<Model>& job,
                                  std::size_t n) {
  const std::size_t total = job.data.train.size();
  std::vector<std::size_t> order(total);
  std::iota(order.begin(), order.end(), std::size_t{0});
  fedpp::rng gen = fedpp::rng::for_stream(o.seed, 0x7072657472616eULL); // "pretran"
  for (std::size_t i = 0; i < n; ++i)
    std::swap(order[i], order[i + gen.below(total - i)]); // partial Fisher–Yates
  std::vector<std::size_t> public_set(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(n));
  std::sort(public_set.begin(), public_set.end());
  std::vector<bool> is_public(total, false);
  for (std::size_t i : public_set) is_public[i] = true;
  for (auto& part : job.parts) std::erase_if(part, [&](std::size_t i) { return is_public[i]; });
  auto params = job.model.make_parameters(o.seed);
  const fedpp::simulation::dataset_view data(job.data.train, public_set);
  fedpp::simulation::train_central(job.model, params.span(), data, n, o.batch_size, o.learning_rate, o.seed);
  const auto e = fedpp::simulation::evaluate(job.model, params.span(), job.data.test);
  std::printf("pre-trained centrally: one epoch on %zu public examples held out from every client, "
              "test accuracy %.4f\n",
              n, e.accuracy);
  return params;
}

/// A file flag's value: it must exist (`must_exist`) or its folder must.
void check_path(const std::string& flag, const std::string& value, bool must_exist) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (must_exist) {
    if (!fs::is_regular_file(value, ec)) example_cli::refuse(flag, "'" + value + "' is not a file");
    return;
  }
  const fs::path parent = fs::path(value).parent_path();
  if (fs::path(value).filename().empty()) example_cli::refuse(flag, "'" + value + "' names no file");
  if (!parent.empty() && !fs::is_directory(parent, ec))
    example_cli::refuse(flag, "the folder '" + parent.string() + "' does not exist");
}

} // namespace

int main(int argc, char** argv) {
  fmnist_job::options o;
  example_cli::command_line cli("02_fashion_mnist: federated training on Fashion-MNIST, simulated clients in "
                                "one process");
  fmnist_job::add_flags(cli, o, fmnist_job::all_flags());
  double local_test_fraction = 0.2;
  cli.count("--federated-eval-every", o.federated_eval.every,
            "federated evaluation on the clients' local test splits every K rounds and after the "
            "last (0: off)",
            std::size_t{0});
  auto* held_out = cli.real("--local-test-fraction", local_test_fraction,
                            "share of each client's examples held out as its local test split",
                            example_cli::within::unit_open);
  auto* asked = cli.real("--federated-eval-fraction", o.federated_eval.fraction,
                         "share of the clients asked in each federated evaluation",
                         example_cli::within::unit_open_low);
  cli.check([&] {
    if (o.federated_eval.every != 0 && fmnist_job::is_async(o))
      example_cli::refuse("--federated-eval-every",
                          "applies only to the synchronous algorithms (fedavg, fedprox)");
    const std::pair<const CLI::Option*, const char*> needs_eval[] = {{held_out, "--local-test-fraction"},
                                                                      {asked, "--federated-eval-fraction"}};
    for (const auto& [opt, flag] : needs_eval)
      if (opt->count() > 0 && o.federated_eval.every == 0)
        example_cli::refuse(flag, "applies only with --federated-eval-every K > 0");
  });
  cli.choice("--sampler", o.sampler,
             "client selection: uniform, oort (Lai et al. 2021) or power-of-choice (Cho et al. 2022), "
             "fed back with the clients' losses and durations (docs/selection.md)",
             {"uniform", "oort", "power-of-choice"});
  auto* candidates = cli.count("--candidates", o.candidates,
                               "power-of-choice: d candidates drawn per round, in [--clients-per-round, "
                               "--clients] (default min(2m, N))");
  cli.check([&] {
    if (candidates->count() > 0 && o.sampler != "power-of-choice")
      example_cli::refuse("--candidates", "applies only with --sampler power-of-choice");
    if (candidates->count() > 0 && (o.candidates < o.clients_per_round || o.candidates > o.clients))
      example_cli::refuse("--candidates", std::to_string(o.candidates) + " is outside [--clients-per-round " +
                                              std::to_string(o.clients_per_round) + ", --clients " +
                                              std::to_string(o.clients) + "]");
    if (o.sampler == "uniform") return;
    if (fmnist_job::is_async(o))
      example_cli::refuse("--sampler", "applies only to the synchronous algorithms (fedavg, fedprox)");
    if (o.over_selection > 0)
      example_cli::refuse("--sampler",
                          "cannot be combined with --over-selection (it over-selects the uniform "
                          "sampler)");
    if (!o.checkpoint.empty() || !o.resume.empty())
      example_cli::refuse("--sampler", "cannot be combined with --checkpoint or --resume (checkpoints do not "
                                       "hold the sampler's per-client state)");
  });
  std::string init_checkpoint;
  std::size_t pretrain_examples = 0;
  cli.text("--checkpoint", o.checkpoint,
           "save the server's checkpoint to FILE (atomically) every --checkpoint-every "
           "rounds and after the last");
  auto* every = cli.count("--checkpoint-every", o.checkpoint_every, "with --checkpoint: save every K rounds");
  cli.text("--resume", o.resume, "continue the run saved in checkpoint FILE (same flags otherwise)");
  cli.text(
      "--init-checkpoint", init_checkpoint,
      "warm start: begin the federation from the model saved in checkpoint FILE (round 0, fresh optimizer)");
  cli.count("--pretrain-examples", pretrain_examples,
            "warm start: train centrally for one epoch on N training examples held out from every client "
            "(0: off)",
            std::size_t{0}, max_pretrain_examples);
  cli.check([&] {
    const std::pair<bool, const char*> sync_only[] = {{!o.checkpoint.empty(), "--checkpoint"},
                                                      {!o.resume.empty(), "--resume"},
                                                      {!init_checkpoint.empty(), "--init-checkpoint"},
                                                      {pretrain_examples != 0, "--pretrain-examples"}};
    for (const auto& [given, flag] : sync_only)
      if (given && fmnist_job::is_async(o))
        example_cli::refuse(flag, "applies only to the synchronous algorithms (fedavg, fedprox)");
    if (every->count() > 0 && o.checkpoint.empty())
      example_cli::refuse("--checkpoint-every", "applies only with --checkpoint FILE");
    if (!init_checkpoint.empty() && pretrain_examples != 0)
      example_cli::refuse("--init-checkpoint",
                          "cannot be combined with --pretrain-examples (two warm starts)");
    if (!init_checkpoint.empty() && !o.resume.empty())
      example_cli::refuse("--init-checkpoint", "cannot be combined with --resume (both set the model)");
    if (!o.checkpoint.empty()) check_path("--checkpoint", o.checkpoint, false);
    if (!o.resume.empty()) check_path("--resume", o.resume, true);
    if (!init_checkpoint.empty()) check_path("--init-checkpoint", init_checkpoint, true);
  });
  if (const auto status = cli.parse(argc, argv)) return *status;
  return fmnist_job::guarded([&] {
    return fmnist_job::with_model(o, [&]<class Model>(const Model&) {
      fmnist_job::setup<Model> job(o);
      // Warm start (before the local test splits, so the public examples are in no client's data).
      if (pretrain_examples != 0) o.initial_model = pretrain(o, job, pretrain_examples);
      if (!init_checkpoint.empty())
        o.initial_model = fedpp::load_checkpoint_model<float>(init_checkpoint, job.model.layout());
      if (o.federated_eval.every != 0) {
        job.hold_out_local_tests(local_test_fraction, o.seed);
        // An answer claiming more examples than the client's split holds is refused.
        o.federated_eval.known_examples = [&job](fedpp::client_id c) -> std::optional<double> {
          if (c >= job.local_test.size()) return std::nullopt;
          return static_cast<double>(job.local_test[c].size());
        };
      }
      fedpp::in_process_federation<float, fmnist_job::trainer<Model>> federation(
          job.clients, fmnist_job::trainer<Model>{&job, o.seed}, job.model.layout(), o.hosts);
      fmnist_job::run_server(o, job, federation.server_endpoint());
      return 0;
    });
  });
}
