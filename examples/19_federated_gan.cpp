// 19 — Federated GANs on Fashion-MNIST (issue 18, part 1).
//
// Every client trains a small MLP generator G and discriminator D (fedpp/gan: one flat vector,
// G's tensors then D's) on its own images for --local-epochs passes a round; fedpp::server
// aggregates G's and D's tensors as two separate groups (gan_group_plan over grouped_aggregator:
// FedAvg by examples each, or --share-discriminator local to keep every D on its client) and
// broadcasts both back. The clients hold an IID or a Dir(--alpha) label-skewed split of the
// training set. --conditional trains the label-conditioned variant (one-hot label concatenated to
// both networks' inputs).
//
// Quality is measured, not only looked at:
//  - a Fréchet distance (FID-style) between generated and real test images in the feature space
//    of fedpp's own classifier: the hidden layer of a simulation::mlp trained centrally on the
//    training set (printed with its test accuracy). References in the same space: uniform noise
//    images, and real training images (the floor a perfect generator would reach);
//  - the same GAN trained centrally (--central, default on) on all the clients' images for as
//    many passes over the data, evaluated at the same checkpoints;
//  - mode collapse: the entropy of the classifier's predicted classes on the samples and their
//    mean pairwise pixel distance, each against real test images (gan/mode_collapse.hpp), and
//    the loss monitor (D loss → 0, G loss divergence, non-finite losses); reports the server
//    refused (non-finite parameters) are counted per round;
//  - conditional runs: "train on synthetic, test on real" — a classifier of the same recipe
//    trained on --tstr-samples generated images (equal per class) and tested on the real test
//    set, beside one trained on as many real training images;
//  - --png-dir: a grid of 100 samples from fixed noise at every checkpoint (conditional: one row
//    per class), round_<r>.png and central_<r>.png.
// --csv writes every checkpoint (mode, round, losses, FID, entropy and distance ratios, flags).
#include "example_cli.hpp"

#include "fedpp/audit/png_writer.hpp"
#include "fedpp/gan/frechet.hpp"
#include "fedpp/gan/gan_models.hpp"
#include "fedpp/gan/gan_plan.hpp"
#include "fedpp/gan/gan_trainer.hpp"
#include "fedpp/gan/mode_collapse.hpp"
#include "fedpp/orchestration/in_process_federation.hpp"
#include "fedpp/orchestration/server.hpp"
#include "fedpp/scheduling/uniform_sampler.hpp"
#include "fedpp/simulation/simulation.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <numeric>
#include <optional>
#include <string>
#include <vector>

namespace {

namespace gan = fedpp::gan;
namespace sim = fedpp::simulation;

struct settings {
  std::size_t rounds = 30;
  std::size_t clients = 10;
  std::size_t clients_per_round = 0; // 0: every client
  std::string partition = "iid";
  double alpha = 0.5;
  bool conditional = false;
  std::string share_discriminator = "federated";
  std::uint32_t local_epochs = 1;
  std::uint32_t batch_size = 64;
  double g_lr = 2e-4, d_lr = 2e-4, beta1 = 0.5;
  std::size_t noise_dim = 64;
  std::size_t hidden = 256;
  std::uint64_t seed = 1;
  std::size_t threads = 1;
  std::size_t eval_every = 5;
  std::size_t eval_samples = 2000;
  bool central = true;
  std::string png_dir;
  std::size_t train_subset = 0; // 0: all 60,000 training images
  std::size_t classifier_hidden = 128;
  std::uint32_t classifier_epochs = 3;
  std::size_t tstr_samples = 10000;
  std::string data_dir;
  std::string csv;
};

constexpr std::size_t pixels = 784, classes = 10;

/// The feature extractor: a simulation::mlp trained centrally; features = its hidden layer.
struct feature_space {
  sim::mlp<float> model;
  fedpp::flat_model<float> params;
  double test_accuracy = 0;

  /// Hidden activations (n × hidden) and argmax predictions of the rows of `images` (n × 784).
  void features(std::span<const float> images, std::vector<float>& out,
                std::vector<std::uint8_t>& pred) const {
    const std::size_t n = images.size() / pixels, h = model.num_hidden();
    out.resize(n * h);
    pred.resize(n);
    sim::mlp<float>::workspace ws;
    sim::row_matrix<float> logits;
    for (std::size_t at = 0; at < n; at += 1000) {
      const std::size_t len = std::min<std::size_t>(1000, n - at);
      const Eigen::Map<const sim::row_matrix<float>> x(
          images.data() + at * pixels, static_cast<Eigen::Index>(len), static_cast<Eigen::Index>(pixels));
      model.forward(params.span(), x, logits, ws);
      std::copy_n(ws.h.data(), len * h, out.data() + at * h);
      for (std::size_t i = 0; i < len; ++i) {
        Eigen::Index arg = 0;
        logits.row(static_cast<Eigen::Index>(i)).maxCoeff(&arg);
        pred[at + i] = static_cast<std::uint8_t>(arg);
      }
    }
  }
};

/// Trains the classifier recipe (mlp, SGD, batch 64, step 0.1) on `data` for `epochs` passes.
fedpp::flat_model<float> train_classifier(const sim::mlp<float>& model, const sim::dataset& data,
                                          std::uint32_t epochs, std::uint64_t seed) {
  auto params = model.make_parameters(seed);
  sim::train_central(model, params.span(), sim::dataset_view(data), data.size() * epochs, 64, 0.1, seed + 1);
  return params;
}

/// What one checkpoint measured.
struct checkpoint {
  double fid = 0;
  gan::diversity_report diversity;
};

/// Everything the evaluation of a generator needs, built once.
struct evaluator {
  const settings& s;
  const feature_space& fs;
  gan::gaussian_statistics real_stats;
  std::vector<std::uint8_t> real_pred;
  std::vector<float> real_diversity; // pixels of the first diversity_n test images
  std::size_t diversity_n = 0;
  std::vector<float> z; // fixed noise, eval_samples × noise_dim
  std::vector<std::uint8_t> labels;

  evaluator(const settings& st, const feature_space& f, const sim::dataset& test) : s(st), fs(f) {
    const std::size_t n = std::min(s.eval_samples, test.size());
    const std::span<const float> real = test.features().first(n * pixels);
    std::vector<float> feats;
    fs.features(real, feats, real_pred);
    real_stats = gan::feature_statistics<float>(feats, fs.model.num_hidden());
    diversity_n = std::min<std::size_t>(500, n);
    real_diversity.assign(real.begin(), real.begin() + static_cast<std::ptrdiff_t>(diversity_n * pixels));
    fedpp::rng gen = fedpp::rng::for_stream(s.seed, 0xFEED);
    z.resize(n * s.noise_dim);
    gan::fill_standard_normal(std::span<float>(z), gen);
    if (s.conditional) {
      labels.resize(n);
      for (std::size_t i = 0; i < n; ++i) labels[i] = static_cast<std::uint8_t>(i % classes);
    }
  }

  [[nodiscard]] std::size_t samples() const { return real_pred.size(); }

  [[nodiscard]] double fid_of(std::span<const float> images) const {
    std::vector<float> feats;
    std::vector<std::uint8_t> pred;
    fs.features(images, feats, pred);
    return gan::frechet_distance(gan::feature_statistics<float>(feats, fs.model.num_hidden()), real_stats);
  }

  checkpoint measure(const gan::gan_model<float>& model, std::span<const float> params) const {
    gan::gan_model<float>::workspace ws;
    const auto fake = model.generate(params, samples(), z, labels, ws);
    const std::vector<float> images(fake.begin(), fake.end());
    checkpoint c;
    std::vector<float> feats;
    std::vector<std::uint8_t> pred;
    fs.features(images, feats, pred);
    if (!std::all_of(feats.begin(), feats.end(), [](float v) { return std::isfinite(v); })) {
      c.fid = std::numeric_limits<double>::infinity();
      c.diversity.collapsed = true;
      c.diversity.reason = "non-finite samples";
      return c;
    }
    c.fid = gan::frechet_distance(gan::feature_statistics<float>(feats, fs.model.num_hidden()), real_stats);
    c.diversity = gan::assess_diversity<float>(pred, real_pred, classes,
                                               std::span<const float>(images).first(diversity_n * pixels),
                                               real_diversity, pixels);
    return c;
  }
};

/// A 10 × 10 grid of samples from fixed noise (conditional: row r is class r).
void write_grid(const settings& s, const gan::gan_model<float>& model, std::span<const float> params,
                const std::string& name) {
  if (s.png_dir.empty()) return;
  fedpp::rng gen = fedpp::rng::for_stream(s.seed, 0x9A1D);
  std::vector<float> z(100 * s.noise_dim);
  gan::fill_standard_normal(std::span<float>(z), gen);
  std::vector<std::uint8_t> labels;
  if (s.conditional)
    for (std::size_t i = 0; i < 100; ++i) labels.push_back(static_cast<std::uint8_t>(i / 10));
  gan::gan_model<float>::workspace ws;
  const auto fake = model.generate(params, 100, z, labels, ws);
  std::size_t w = 0, h = 0;
  const auto grid = fedpp::audit::image_grid<float>(fake, 28, 28, 10, 2, w, h);
  fedpp::audit::write_png_gray((std::filesystem::path(s.png_dir) / name).string(), w, h, grid);
}

struct run_log {
  std::FILE* csv = nullptr;
  void row(const char* mode, std::size_t round, double d_loss, double g_loss, std::size_t rejected,
           const checkpoint& c, const gan::instability_verdict& v) const {
    std::printf("  %-9s %5zu  %7.3f  %7.3f  %8zu  %8.2f  %7.2f  %7.2f  %7zu  %s%s%s\n", mode, round, d_loss,
                g_loss, rejected, c.fid, c.diversity.entropy_ratio, c.diversity.distance_ratio,
                c.diversity.classes_covered, c.diversity.collapsed ? "MODE COLLAPSE: " : "",
                c.diversity.reason.c_str(), v.any() ? (" INSTABILITY: " + v.message).c_str() : "");
    if (csv)
      std::fprintf(csv, "%s,%zu,%.6g,%.6g,%zu,%.6g,%.6g,%.6g,%zu,%d,%d,%d,%d\n", mode, round, d_loss, g_loss,
                   rejected, c.fid, c.diversity.entropy_ratio, c.diversity.distance_ratio,
                   c.diversity.classes_covered, c.diversity.collapsed ? 1 : 0, v.discriminator_wins ? 1 : 0,
                   v.generator_diverges ? 1 : 0, v.non_finite ? 1 : 0);
    std::fflush(stdout);
  }
};

gan::gan_architecture architecture(const settings& s) {
  gan::gan_architecture a;
  a.data_dim = pixels;
  a.noise_dim = s.noise_dim;
  a.num_classes = s.conditional ? classes : 0;
  a.generator_hidden = {s.hidden};
  a.discriminator_hidden = {s.hidden};
  return a;
}

gan::gan_training_options training(const settings& s) {
  gan::gan_training_options o;
  o.generator.learning_rate = s.g_lr;
  o.discriminator.learning_rate = s.d_lr;
  o.generator.beta1 = o.discriminator.beta1 = s.beta1;
  return o;
}

/// "Train on synthetic, test on real": a classifier trained on generated images, equal per class.
double tstr_accuracy(const settings& s, const gan::gan_model<float>& model, std::span<const float> params,
                     const sim::mlp<float>& recipe, const sim::dataset& test) {
  fedpp::rng gen = fedpp::rng::for_stream(s.seed, 0x7575);
  std::vector<float> images;
  std::vector<std::uint8_t> labels;
  gan::gan_model<float>::workspace ws;
  for (std::size_t at = 0; at < s.tstr_samples; at += 1000) {
    const std::size_t n = std::min<std::size_t>(1000, s.tstr_samples - at);
    std::vector<float> z(n * s.noise_dim);
    gan::fill_standard_normal(std::span<float>(z), gen);
    std::vector<std::uint8_t> y(n);
    for (std::size_t i = 0; i < n; ++i) y[i] = static_cast<std::uint8_t>((at + i) % classes);
    const auto fake = model.generate(params, n, z, y, ws);
    images.insert(images.end(), fake.begin(), fake.end());
    labels.insert(labels.end(), y.begin(), y.end());
  }
  const sim::dataset synthetic(std::move(images), std::move(labels), pixels, classes);
  const auto p = train_classifier(recipe, synthetic, s.classifier_epochs, s.seed + 31);
  return sim::evaluate(recipe, p.span(), sim::dataset_view(test)).accuracy;
}

int run(const settings& s) {
  const auto t0 = std::chrono::steady_clock::now();
  std::FILE* csv = nullptr; // opened first: an unwritable path is refused before any work
  if (!s.csv.empty()) {
    csv = std::fopen(s.csv.c_str(), "w");
    if (!csv) throw fedpp::invalid_config("--csv: cannot write '" + s.csv + "'");
    std::fprintf(
        csv, "mode,round,d_loss,g_loss,rejected,fid,entropy_ratio,distance_ratio,classes_covered,collapsed,"
             "d_wins,g_diverges,non_finite\n");
  }
  if (!s.png_dir.empty()) std::filesystem::create_directories(s.png_dir);
  auto data = sim::load_fashion_mnist(s.data_dir.empty() ? std::nullopt
                                                         : std::optional<std::filesystem::path>(s.data_dir));
  const std::size_t n_train =
      s.train_subset == 0 ? data.train.size() : std::min(s.train_subset, data.train.size());
  if (s.clients > n_train)
    throw fedpp::invalid_config("--clients " + std::to_string(s.clients) + " exceeds the " +
                                std::to_string(n_train) + " training images");
  const sim::dataset train(
      std::vector<float>(data.train.features().begin(),
                         data.train.features().begin() + static_cast<std::ptrdiff_t>(n_train * pixels)),
      std::vector<std::uint8_t>(data.train.labels().begin(),
                                data.train.labels().begin() + static_cast<std::ptrdiff_t>(n_train)),
      pixels, classes);

  // The feature space: fedpp's own classifier, trained centrally.
  feature_space fs{sim::mlp<float>(pixels, s.classifier_hidden, classes), {}, 0};
  fs.params = train_classifier(fs.model, train, s.classifier_epochs, s.seed);
  fs.test_accuracy = sim::evaluate(fs.model, fs.params.span(), sim::dataset_view(data.test)).accuracy;
  const evaluator ev(s, fs, data.test);
  std::printf(
      "federated GAN on Fashion-MNIST: %zu clients (%s%s), %zu rounds, %u local epoch(s), batch %u, %s, "
      "discriminator %s, seed %llu\n",
      s.clients, s.partition.c_str(),
      s.partition == "dirichlet" ? (" alpha " + std::to_string(s.alpha)).c_str() : "", s.rounds,
      s.local_epochs, s.batch_size, s.conditional ? "conditional" : "unconditional",
      s.share_discriminator.c_str(), static_cast<unsigned long long>(s.seed));
  std::printf(
      "feature space: hidden layer (%zu units) of an MLP classifier, test accuracy %.4f; %zu samples per "
      "Frechet distance\n",
      s.classifier_hidden, fs.test_accuracy, ev.samples());
  // References in the same feature space.
  fedpp::rng noise_gen = fedpp::rng::for_stream(s.seed, 0x401);
  std::vector<float> noise(ev.samples() * pixels);
  for (auto& v : noise) v = static_cast<float>(noise_gen.uniform());
  const double fid_noise = ev.fid_of(noise);
  const double fid_real = ev.fid_of(train.features().first(std::min(ev.samples(), train.size()) * pixels));
  std::printf("reference Frechet distances: uniform noise images %.2f, real training images %.2f\n",
              fid_noise, fid_real);

  if (csv)
    std::fprintf(csv, "noise,0,0,0,0,%.6g,0,0,0,0,0,0,0\nreal,0,0,0,0,%.6g,1,1,10,0,0,0,0\n", fid_noise,
                 fid_real);
  run_log log{csv};

  // Clients and their rows.
  const sim::partition parts = s.partition == "iid"
                                   ? sim::partition_iid(train.size(), s.clients, s.seed)
                                   : sim::partition_dirichlet(train.labels(), s.clients, s.alpha, s.seed);
  const auto arch = architecture(s);
  const gan::gan_model<float> model(arch);
  fedpp::flat_model<float> init(model.layout());
  model.initialize(init.span(), s.seed);
  const gan::gan_data_view view{train.features().data(), train.size(), pixels,
                                s.conditional ? train.labels() : std::span<const std::uint8_t>{}};
  const auto sharing = s.share_discriminator == "local" ? gan::discriminator_sharing::local
                                                        : gan::discriminator_sharing::federated;
  std::printf("  %-9s %5s  %7s  %7s  %8s  %8s  %7s  %7s  %7s\n", "mode", "round", "L_D", "L_G", "refused",
              "FID", "H_ratio", "dist_r", "classes");

  checkpoint fed_final, central_final;
  fedpp::flat_model<float> fed_model = init, central_model = init;
  {
    gan::federated_gan_setup setup;
    setup.architecture = arch;
    setup.training = training(s);
    setup.data = view;
    setup.rows = parts;
    setup.seed = s.seed;
    setup.sharing = sharing;
    const gan::federated_gan_trainer trainer(setup);
    std::vector<fedpp::client_id> ids(s.clients);
    std::iota(ids.begin(), ids.end(), fedpp::client_id{0});
    fedpp::in_process_federation<float, gan::federated_gan_trainer> federation(ids, trainer, model.layout(),
                                                                               s.threads);
    fedpp::server_options options;
    options.seed = s.seed;
    options.client_config.local_epochs = s.local_epochs;
    options.client_config.batch_size = s.batch_size;
    const std::size_t per_round = s.clients_per_round == 0 ? s.clients : s.clients_per_round;
    gan::gan_server<fedpp::uniform_sampler> server(
        fedpp::flat_model<float>(init), fedpp::uniform_sampler(s.clients, per_round), {}, options, {}, {},
        gan::gan_aggregator_factory(gan::gan_group_plan(sharing)));
    gan::gan_instability_monitor monitor;
    write_grid(s, model, server.model().span(), "round_0000.png");
    std::size_t failed = 0;
    for (std::size_t r = 1; r <= s.rounds; ++r) {
      const auto m = server.run_round(federation.server_endpoint());
      if (!m.succeeded) ++failed;
      auto metric = [&](const char* k) {
        const auto it = m.client_metrics.find(k);
        return it == m.client_metrics.end() ? std::numeric_limits<double>::quiet_NaN() : it->second;
      };
      const auto verdict = monitor.observe(r, metric("d_loss"), metric("g_loss"));
      if (r % s.eval_every == 0 || r == s.rounds) {
        const auto c = ev.measure(model, server.model().span());
        log.row("federated", r, metric("d_loss"), metric("g_loss"), m.rejected, c, verdict);
        char name[64];
        std::snprintf(name, sizeof name, "round_%04zu.png", r);
        write_grid(s, model, server.model().span(), name);
        if (r == s.rounds) fed_final = c;
      }
    }
    if (failed) std::printf("  failed rounds: %zu\n", failed);
    for (const auto& f : monitor.flagged()) std::printf("  federated instability: %s\n", f.c_str());
    std::copy(server.model().span().begin(), server.model().span().end(), fed_model.span().begin());
  }

  if (s.central) {
    // The same GAN trained on all the clients' images, as many passes over the data as the
    // federation made (each round: every client, local_epochs passes; scaled by the sampled share).
    const double share = static_cast<double>(s.clients_per_round == 0 ? s.clients : s.clients_per_round) /
                         static_cast<double>(s.clients);
    gan::gan_learner<float> learner(model, training(s), fedpp::rng::for_stream(s.seed, 0xCE47));
    std::vector<std::size_t> rows(train.size());
    std::iota(rows.begin(), rows.end(), std::size_t{0});
    gan::gan_instability_monitor monitor;
    double carry = 0;
    for (std::size_t r = 1; r <= s.rounds; ++r) {
      carry += share * s.local_epochs;
      const auto epochs = static_cast<std::uint32_t>(carry);
      carry -= epochs;
      gan::gan_training_stats st;
      if (epochs > 0)
        st = learner.train_epochs(model, central_model.span(), view, rows, epochs, s.batch_size);
      const auto verdict = monitor.observe(r, st.discriminator_loss, st.generator_loss);
      if (r % s.eval_every == 0 || r == s.rounds) {
        const auto c = ev.measure(model, central_model.span());
        log.row("central", r, st.discriminator_loss, st.generator_loss, 0, c, verdict);
        char name[64];
        std::snprintf(name, sizeof name, "central_%04zu.png", r);
        write_grid(s, model, central_model.span(), name);
        if (r == s.rounds) central_final = c;
      }
    }
    for (const auto& f : monitor.flagged()) std::printf("  central instability: %s\n", f.c_str());
  }

  std::printf("Frechet distance after %zu rounds: federated %.2f", s.rounds, fed_final.fid);
  if (s.central) std::printf(", central %.2f", central_final.fid);
  std::printf(", noise %.2f, real %.2f\n", fid_noise, fid_real);
  if (fed_final.diversity.collapsed)
    std::printf("federated: mode collapse (%s)\n", fed_final.diversity.reason.c_str());
  if (s.central && central_final.diversity.collapsed)
    std::printf("central: mode collapse (%s)\n", central_final.diversity.reason.c_str());

  if (s.conditional) {
    const sim::mlp<float> recipe(pixels, s.classifier_hidden, classes);
    const double fed_tstr = tstr_accuracy(s, model, fed_model.span(), recipe, data.test);
    std::printf("train on synthetic, test on real (%zu samples): federated %.4f", s.tstr_samples, fed_tstr);
    if (s.central)
      std::printf(", central %.4f", tstr_accuracy(s, model, central_model.span(), recipe, data.test));
    // The same recipe on as many real training images.
    const std::size_t n_real = std::min(s.tstr_samples, train.size());
    std::vector<std::size_t> first(n_real);
    std::iota(first.begin(), first.end(), std::size_t{0});
    const sim::dataset real_subset(
        std::vector<float>(train.features().begin(),
                           train.features().begin() + static_cast<std::ptrdiff_t>(n_real * pixels)),
        std::vector<std::uint8_t>(train.labels().begin(),
                                  train.labels().begin() + static_cast<std::ptrdiff_t>(n_real)),
        pixels, classes);
    const auto p = train_classifier(recipe, real_subset, s.classifier_epochs, s.seed + 31);
    std::printf(", real images %.4f\n",
                sim::evaluate(recipe, p.span(), sim::dataset_view(data.test)).accuracy);
  }
  if (csv) std::fclose(csv);
  std::printf("wall time %.1f s\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  settings s;
  namespace within = example_cli::within;
  example_cli::command_line cli("19_federated_gan: federated (conditional) GANs on Fashion-MNIST, G and D "
                                "aggregated separately, Frechet distance and mode-collapse checks");
  cli.count("--rounds", s.rounds, "federated rounds", std::size_t{1}, std::size_t{100000});
  cli.count("--clients", s.clients, "clients", std::size_t{1}, std::size_t{10000});
  cli.count("--clients-per-round", s.clients_per_round, "clients sampled per round (0: every client)",
            std::size_t{0}, std::size_t{10000});
  cli.choice("--partition", s.partition, "how the training images are split", {"iid", "dirichlet"});
  cli.real("--alpha", s.alpha, "Dirichlet label-skew concentration (--partition dirichlet)",
           within::positive);
  cli.toggle("--conditional", s.conditional, true,
             "label-conditioned G and D, and the train-on-synthetic test");
  cli.choice("--share-discriminator", s.share_discriminator,
             "aggregate D like G, or keep each client's D local", {"federated", "local"});
  cli.count("--local-epochs", s.local_epochs, "passes over a client's images per round", std::uint32_t{1},
            std::uint32_t{100});
  cli.count("--batch-size", s.batch_size, "minibatch size", std::uint32_t{1}, std::uint32_t{4096});
  cli.real("--g-lr", s.g_lr, "Adam step of G", within::unit_open_low);
  cli.real("--d-lr", s.d_lr, "Adam step of D", within::unit_open_low);
  cli.real("--beta1", s.beta1, "Adam beta1 of both", within::unit_open_high);
  cli.count("--noise-dim", s.noise_dim, "dimension of G's noise", std::size_t{1}, std::size_t{1024});
  cli.count("--hidden", s.hidden, "hidden units of G and of D", std::size_t{1}, std::size_t{4096});
  cli.count("--seed", s.seed, "seed of partition, initial parameters, noise and shuffles", std::uint64_t{0});
  cli.count("--threads", s.threads, "client host threads", std::size_t{1}, std::size_t{64});
  cli.count("--eval-every", s.eval_every, "rounds between checkpoints (FID, collapse, PNG)", std::size_t{1},
            std::size_t{100000});
  cli.count("--eval-samples", s.eval_samples, "generated and real test images per Frechet distance",
            std::size_t{50}, std::size_t{10000});
  cli.toggle("--no-central", s.central, false, "skip the centrally trained GAN");
  cli.text("--png-dir", s.png_dir, "write a 10x10 sample grid per checkpoint into this directory");
  cli.count("--train-subset", s.train_subset, "use only the first N training images (0: all)", std::size_t{0},
            std::size_t{60000});
  cli.count("--classifier-hidden", s.classifier_hidden, "hidden units of the feature classifier",
            std::size_t{2}, std::size_t{2048});
  cli.count("--classifier-epochs", s.classifier_epochs, "SGD passes of the feature and TSTR classifiers",
            std::uint32_t{1}, std::uint32_t{100});
  cli.count("--tstr-samples", s.tstr_samples, "conditional: generated images the TSTR classifier trains on",
            std::size_t{10}, std::size_t{100000});
  cli.text("--data-dir", s.data_dir,
           "Fashion-MNIST directory (default: $FEDPP_FASHION_MNIST_DIR or Debian's)");
  cli.text("--csv", s.csv, "write every checkpoint to this CSV file");
  cli.check([&] {
    if (s.partition != "dirichlet" && cli.app().count("--alpha") > 0)
      example_cli::refuse("--alpha", "applies only with --partition dirichlet");
    if (!s.conditional && cli.app().count("--tstr-samples") > 0)
      example_cli::refuse("--tstr-samples", "applies only with --conditional");
    if (s.clients_per_round > s.clients)
      example_cli::refuse("--clients-per-round", std::to_string(s.clients_per_round) + " exceeds --clients " +
                                                     std::to_string(s.clients));
    if (s.threads > s.clients)
      example_cli::refuse("--threads",
                          std::to_string(s.threads) + " exceeds --clients " + std::to_string(s.clients));
    if (s.train_subset != 0 && s.train_subset < s.clients)
      example_cli::refuse("--train-subset", std::to_string(s.train_subset) +
                                                " images cannot give each of the " +
                                                std::to_string(s.clients) + " clients one");
    if (s.train_subset != 0 && s.train_subset < 2)
      example_cli::refuse("--train-subset", "needs at least 2 images");
  });
  if (const auto status = cli.parse(argc, argv)) return *status;
  return example_cli::guarded([&] { return run(s); });
}
