// 06 — Update compression on Fashion-MNIST: accuracy against bytes on the wire.
//
// The same federated job (data, Dir(0.5) partition, model, client sampling, local training and
// seeds all identical) runs once per compression scheme: uncompressed FedAvg, fp16, 8-bit and
// 4-bit stochastic quantization, top-1% with and without error feedback, scaled sign with error
// feedback, and a FetchSGD-style count sketch. Each client upload is a real wire message (its
// size is what "MiB up" counts); the server reads it back with wire::decode and decodes it
// straight into compressed_fedavg's accumulator (sketches: fetchsgd_server_hooks, the same
// policy fedpp::server runs, sums them and unsketches the top-k).
//
// Why its own round loop: every scheme must see exactly the same clients, data order and seeds,
// and compressed_fedavg decodes straight into its accumulator without a scratch copy.
// fedpp::server itself accepts compressed uploads through its decode_update hook
// (compressing_client_hooks + decompressing_server_hooks; tests/orchestration_compressed_test.cpp)
// and FetchSGD through its absorb_update hook (tests/orchestration_fetchsgd_test.cpp).
//
// Usage: 06_compression [--rounds N] [--model mlp|softmax] [--schemes a,b,...] [--csv-dir DIR]
//                       [--eval-every N] [--seed S] [--sketch-step S]   (--help: defaults)
#include "example_cli.hpp"
#include "fashion_mnist_job.hpp"

#include "fedpp/aggregation/fedavg.hpp"
#include "fedpp/compression/compression.hpp"

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

namespace fc = fedpp::compression;

namespace {

// FetchSGD's sketch: 5 × 16384 cells ≈ D / 2 for the MLP.
constexpr std::size_t sketch_rows = 5;
constexpr std::size_t sketch_columns = 64 * 256;

struct run_result {
  std::string scheme;
  double accuracy = 0;
  std::uint64_t bytes_up = 0;
  double seconds = 0;
};

// The payload a client sends under `scheme`, built with the client hooks of that scheme.
class scheme_encoder {
public:
  scheme_encoder(const std::string& name, std::uint64_t sketch_seed) : name_(name) {
    if (name == "fp16")
      fp16_.emplace(fc::float_cast(fc::half_format::fp16), 1);
    else if (name == "q8")
      q8_.emplace(fc::uniform_quantizer(8, 4096), 1);
    else if (name == "q4")
      q4_.emplace(fc::uniform_quantizer(4, 512), 1);
    else if (name == "top1")
      top_.emplace(fc::sparsifier::top_fraction(0.01), 1);
    else if (name == "top1_ef")
      top_ef_.emplace(fc::error_feedback(fc::sparsifier::top_fraction(0.01)), 1);
    else if (name == "sign_ef")
      sign_ef_.emplace(fc::error_feedback(fc::sign_compressor(true, 4096)), 1);
    else if (name == "sketch")
      sketch_.emplace(fc::sketch_compressor(sketch_rows, sketch_columns, sketch_seed), 1);
    else if (name != "none")
      throw std::invalid_argument("unknown scheme '" + name + "'");
  }
  fedpp::message encode(std::uint64_t r, fedpp::client_id c, const fedpp::model_layout& layout,
                        std::span<const float> delta, double n) {
    if (fp16_) return fp16_->encode_update(r, c, layout, delta, n, {});
    if (q8_) return q8_->encode_update(r, c, layout, delta, n, {});
    if (q4_) return q4_->encode_update(r, c, layout, delta, n, {});
    if (top_) return top_->encode_update(r, c, layout, delta, n, {});
    if (top_ef_) return top_ef_->encode_update(r, c, layout, delta, n, {});
    if (sign_ef_) return sign_ef_->encode_update(r, c, layout, delta, n, {});
    if (sketch_) return sketch_->encode_update(r, c, layout, delta, n, {});
    return fedpp::wire::encode_client_update<float>(r, c, layout, delta, n);
  }

private:
  std::string name_;
  std::optional<fc::compressing_client_hooks<fc::float_cast>> fp16_;
  std::optional<fc::compressing_client_hooks<fc::uniform_quantizer>> q8_, q4_;
  std::optional<fc::compressing_client_hooks<fc::sparsifier>> top_;
  std::optional<fc::compressing_client_hooks<fc::error_feedback<fc::sparsifier>>> top_ef_;
  std::optional<fc::compressing_client_hooks<fc::error_feedback<fc::sign_compressor>>> sign_ef_;
  std::optional<fc::compressing_client_hooks<fc::sketch_compressor>> sketch_;
};

template <class Model>
run_result run(const std::string& scheme, const fmnist_job::options& o, const fmnist_job::setup<Model>& job,
               std::size_t eval_every, float sketch_step, std::ofstream* csv) {
  const auto started = std::chrono::steady_clock::now();
  const auto& layout = job.model.layout();
  auto model = job.model.make_parameters(o.seed);
  const fmnist_job::trainer<Model> train{&job, o.seed};
  scheme_encoder encoder(scheme, o.seed);
  // FetchSGD (Rothchild et al. 2020, Algorithm 1, without momentum): error accumulation in
  // sketch space with hashes fixed for the whole run; the top 1% recovered from the error sketch,
  // times `sketch_step`, is applied and its sketch subtracted from the error (the rest stays
  // there). Recovering the full values (step 1) diverges at this sketch size: with ~10
  // coordinates per bucket the largest estimates overshoot (the top-k of noisy estimates is
  // biased upwards) and the model blows up after ~25 rounds; a damped step 0.5 is stable.
  fc::fetchsgd_settings fetch_settings;
  fetch_settings.rows = sketch_rows;
  fetch_settings.columns = sketch_columns;
  fetch_settings.seed = o.seed;
  fetch_settings.k = layout.total_size() / 100;
  fetch_settings.step = sketch_step;
  fc::fetchsgd_server_hooks fetchsgd(fetch_settings);
  run_result result{scheme, 0, 0, 0};
  fedpp::rng sampler_rng(o.seed);
  for (std::size_t r = 0; r < o.rounds; ++r) {
    // sample m of n clients (partial Fisher–Yates, the same draws for every scheme)
    std::vector<fedpp::client_id> pool = job.clients;
    fedpp::rng pick = fedpp::rng::for_stream(o.seed, r);
    for (std::size_t i = 0; i < o.clients_per_round; ++i)
      std::swap(pool[i], pool[i + pick.below(pool.size() - i)]);
    fedpp::round_config config = fmnist_job::client_config(o);
    config.round = r;
    config.learning_rate *= std::pow(o.lr_decay, static_cast<double>(r));
    fedpp::host_model_view<const float> view;
    for (const auto& e : layout.entries()) view.add(e.name, {model.data() + e.offset, e.shape});

    fc::compressed_fedavg compressed(layout);
    fedpp::fedavg<float> dense(layout);
    fetchsgd.begin_round({}, r);
    for (std::size_t i = 0; i < o.clients_per_round; ++i) {
      const fedpp::client_id c = pool[i];
      auto res = train(c, view, config);
      auto delta = res.model.span();
      for (std::size_t j = 0; j < delta.size(); ++j) delta[j] -= model.span()[j];
      const auto m = encoder.encode(r, c, layout, delta, res.num_examples);
      result.bytes_up += m.size();
      const auto d = fedpp::wire::decode(m);
      if (scheme == "sketch") {
        fetchsgd.absorb_update(d, d.weight(), layout, r); // summed: no per-client sketch is kept
      } else if (scheme == "none") {
        dense.accumulate(
            fedpp::client_update<float>::from_flat(c, layout, d.template payload<float>(), d.weight()));
      } else {
        compressed.accumulate(fc::read_compressed_update(d, layout, r));
      }
    }
    const auto mean = scheme == "sketch" ? *fetchsgd.finish_aggregate(layout, r)
                      : scheme == "none" ? std::move(dense).report()
                                         : std::move(compressed).report();
    for (std::size_t j = 0; j < mean.size(); ++j) model.span()[j] += mean.span()[j];
    if ((r + 1) % eval_every == 0 || r + 1 == o.rounds) {
      const auto e = fedpp::simulation::evaluate(job.model, model.span(), job.data.test);
      result.accuracy = e.accuracy;
      if (csv) *csv << scheme << ',' << (r + 1) << ',' << result.bytes_up << ',' << e.accuracy << '\n';
      std::printf("  %-8s round %4zu  acc %.4f  up %.2f MiB\n", scheme.c_str(), r + 1, e.accuracy,
                  static_cast<double>(result.bytes_up) / 1048576.0);
      std::fflush(stdout);
    }
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return result;
}

/// The schemes, in the default order.
const std::vector<std::string> known_schemes{"none",    "fp16", "q8",      "q4",
                                             "top1_ef", "top1", "sign_ef", "sketch"};

int run_all(const fmnist_job::options& o, const std::vector<std::string>& schemes, float sketch_step,
            const std::string& csv_dir) {
  return fmnist_job::with_model(o, [&]<class Model>(const Model&) {
    const fmnist_job::setup<Model> job(o);
    std::printf(
        "fedpp compression on Fashion-MNIST: %s model (D = %zu), %zu clients Dir(%.1f), %zu per round, "
        "%zu rounds, seed %llu\n",
        o.model.c_str(), job.model.layout().total_size(), o.clients, o.alpha, o.clients_per_round, o.rounds,
        static_cast<unsigned long long>(o.seed));
    std::unique_ptr<std::ofstream> csv;
    if (!csv_dir.empty()) {
      csv = std::make_unique<std::ofstream>(csv_dir + "/compression_runs.csv");
      *csv << "scheme,round,bytes_up,accuracy\n";
    }
    std::vector<run_result> results;
    for (const auto& s : schemes) results.push_back(run(s, o, job, o.eval_every, sketch_step, csv.get()));
    const double base_acc = results.front().accuracy;
    const auto base_bytes = static_cast<double>(results.front().bytes_up);
    std::printf("\n| scheme | test accuracy | Δ vs %s (points) | MiB up | ratio | seconds "
                "|\n|---|---|---|---|---|---|\n",
                results.front().scheme.c_str());
    for (const auto& r : results)
      std::printf("| %s | %.4f | %+.2f | %.2f | %.1f | %.1f |\n", r.scheme.c_str(), r.accuracy,
                  100 * (r.accuracy - base_acc), static_cast<double>(r.bytes_up) / 1048576.0,
                  base_bytes / static_cast<double>(r.bytes_up), r.seconds);
    return 0;
  });
}

} // namespace

int main(int argc, char** argv) {
  fmnist_job::options o;
  o.rounds = 100;
  o.central = false;
  o.eval_every = 10;
  std::vector<std::string> schemes = known_schemes;
  float sketch_step = 0.5F;
  std::string csv_dir;
  example_cli::command_line cli("06_compression: update compression on Fashion-MNIST, accuracy against bytes "
                                "on the wire");
  cli.list("--schemes", schemes, "schemes to run, in order (the first is the reference)", known_schemes);
  cli.text("--csv-dir", csv_dir, "write DIR/compression_runs.csv (scheme, round, bytes up, accuracy)");
  cli.real("--sketch-step", sketch_step, "FetchSGD: fraction of each recovered value applied",
           example_cli::within::unit_open_low);
  using fmnist_job::flag;
  fmnist_job::add_flags(cli, o, {flag::model, flag::rounds, flag::eval_every, flag::seed});
  if (const auto status = cli.parse(argc, argv)) return *status;
  return fmnist_job::guarded([&] { return run_all(o, schemes, sketch_step, csv_dir); });
}
