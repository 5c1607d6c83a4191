// 13 — Knowledge distillation on Fashion-MNIST (issue 16, part 4).
//
// Server-side ensemble distillation (FedDF; Lin, Kong, Stich, Jaggi, NeurIPS 2020): --proxy-size
// training examples, drawn at random (seeded), are removed from every client's part and held by
// the server WITHOUT their labels (the proxy data). Two methods train the same model on the
// remaining clients, split by Dirichlet label skew:
//   fedavg  FedAvg;
//   feddf   FedAvg, then each round the server fine-tunes the averaged model on the proxy data
//           towards the ensemble of the round's client models (the mean of their logits), with
//           KL at --temperature, Adam, --distill-steps at most and early stopping on a validation
//           split of the proxy data (distillation::feddf_aggregator: the server's aggregator; the
//           round loop is fedpp::server's own).
// Test accuracy is printed every --eval-every rounds (and written with --csv).
//
// Teacher → student compression (Hinton, Vinyals, Dean 2015): with --student softmax|mlp, each
// method's final global model teaches a smaller model on the proxy data from its soft labels at
// --student-temperature (loss T² KL, plus --hard-label-weight × cross-entropy on the proxy labels
// when > 0), and the same student is also trained without the teacher on the proxy data with its
// true labels (same optimizer, steps and start): accuracy and size of all three are printed.
// docs/distillation.md has the figures (scripts/distillation_experiment.sh).
#include "fashion_mnist_job.hpp"

#include "fedpp/distillation/distillation.hpp"
#include "fedpp/orchestration/in_process_federation.hpp"
#include "fedpp/simulation/distillation_adapter.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <numeric>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace {

namespace sim = fedpp::simulation;
namespace fd = fedpp::distillation;

/// The proxy data is at most half of Fashion-MNIST's 60,000 training examples.
constexpr std::size_t max_proxy = 30000;

struct settings {
  std::vector<std::string> methods{"fedavg", "feddf"};
  std::size_t proxy_size = 5000;
  double proxy_validation = 0.1;
  std::size_t distill_steps = 200;
  std::size_t distill_batch = 128;
  double distill_lr = 1e-3;
  double temperature = 1.0;
  std::size_t patience = 100;
  std::size_t validate_every = 20;
  std::string ensemble = "mean";
  std::string student = "none";
  std::size_t student_hidden = 32;
  std::size_t student_steps = 2000;
  double student_temperature = 4.0;
  double hard_label_weight = 0.0;
  std::string csv;
};

/// The proxy set: `n` training examples drawn at random (seeded), removed from every client.
struct proxy_data {
  std::vector<std::size_t> indices;
  std::vector<std::uint8_t> labels; // known to the simulation; the server's FedDF never reads them
};

template <class Model>
proxy_data carve_proxy(const fmnist_job::options& o, fmnist_job::setup<Model>& job, std::size_t n) {
  const std::size_t total = job.data.train.size();
  std::vector<std::size_t> order(total);
  std::iota(order.begin(), order.end(), std::size_t{0});
  fedpp::rng gen = fedpp::rng::for_stream(o.seed, 0x70726f78792dULL); // "proxy-"
  for (std::size_t i = 0; i < n; ++i) std::swap(order[i], order[i + gen.below(total - i)]);
  proxy_data p;
  p.indices.assign(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(n));
  std::sort(p.indices.begin(), p.indices.end());
  std::vector<bool> taken(total, false);
  for (std::size_t i : p.indices) taken[i] = true;
  for (auto& part : job.parts) std::erase_if(part, [&](std::size_t i) { return taken[i]; });
  for (std::size_t i : p.indices) p.labels.push_back(job.data.train.label(i));
  return p;
}

fd::proxy_set<float> make_proxy_set(const sim::dataset& train, const proxy_data& p, double validation,
                                    std::uint64_t seed) {
  std::vector<float> rows;
  rows.reserve(p.indices.size() * train.num_features());
  for (std::size_t i : p.indices) {
    const auto r = train.example(i);
    rows.insert(rows.end(), r.begin(), r.end());
  }
  return fd::proxy_set<float>(std::move(rows), train.num_features(), validation, seed);
}

/// Per-round output: the console, and one CSV row per evaluated round.
class round_log {
public:
  explicit round_log(const std::string& path)
      : csv_(path.empty() ? nullptr
                          : std::make_unique<sim::csv_writer>(
                                path, std::vector<std::string>{"method", "round", "accuracy", "test_loss",
                                                               "teachers", "distill_steps", "kl_before",
                                                               "kl_after", "round_seconds"})) {}

  void row(const std::string& method, std::size_t round, const sim::evaluation& e,
           const std::optional<fd::feddf_round_report>& r, double seconds) {
    const double before = r ? r->distillation.initial_validation_loss : 0.0;
    const double after = r ? r->distillation.best_validation_loss : 0.0;
    std::printf("%-7s round %4zu  acc %.4f  loss %.4f", method.c_str(), round, e.accuracy, e.mean_loss);
    if (r)
      std::printf("  teachers %2zu  steps %4zu  val KL %.4f -> %.4f", r->teachers, r->distillation.steps,
                  before, after);
    std::printf("  %.2f s\n", seconds);
    std::fflush(stdout);
    if (csv_)
      csv_->write_row({method, static_cast<std::uint64_t>(round), e.accuracy, e.mean_loss,
                       static_cast<std::uint64_t>(r ? r->teachers : 0),
                       static_cast<std::uint64_t>(r ? r->distillation.steps : 0), before, after, seconds});
  }

private:
  std::unique_ptr<sim::csv_writer> csv_;
};

/// Runs one method's federation; returns the final global model.
template <class Aggregator, class Model>
fedpp::flat_model<float>
federate(const std::string& method, const fmnist_job::options& o, const fmnist_job::setup<Model>& job,
         std::function<Aggregator(const fedpp::model_layout&)> factory,
         const std::function<void(const fedpp::flat_model<float>&)>& watch,
         const std::function<std::optional<fd::feddf_round_report>()>& last, round_log& log) {
  const fmnist_job::trainer<Model> trainer{&job, o.seed};
  fedpp::in_process_federation<float, fmnist_job::trainer<Model>> federation(job.clients, trainer,
                                                                             job.model.layout(), o.hosts);
  fedpp::server_options so;
  so.client_config = fmnist_job::client_config(o);
  so.client_lr_decay = o.lr_decay;
  so.seed = o.seed;
  fedpp::server<float, fedpp::uniform_sampler, fedpp::server_sgd<float>, Aggregator> server(
      job.model.make_parameters(o.seed), fedpp::uniform_sampler(o.clients, o.clients_per_round), {}, so, {},
      {}, std::move(factory));
  if (watch) watch(server.model());
  fedpp::parallel::thread_pool pool(o.hosts);
  std::size_t failed = 0;
  for (std::size_t r = 0; r < o.rounds; ++r) {
    const fedpp::round_metrics m = server.run_round(federation.server_endpoint());
    if (!m.succeeded) ++failed;
    if ((r + 1) % o.eval_every == 0 || r + 1 == o.rounds)
      log.row(method, r + 1, sim::evaluate(job.model, server.model().span(), job.data.test, pool),
              last ? last() : std::nullopt, m.round_seconds);
  }
  if (failed != 0) std::printf("%s: %zu failed rounds\n", method.c_str(), failed);
  return server.model();
}

/// Teacher → student: the student distilled from `teacher`'s soft labels on the proxy data, and
/// (once) the same student trained without the teacher on the proxy labels.
template <class Teacher, class Student>
void compress(const std::string& method, const fmnist_job::options& o, const settings& s,
              const sim::dataset& test, const fd::proxy_set<float>& proxy,
              const std::vector<std::uint8_t>& labels, const Teacher& teacher,
              const fedpp::flat_model<float>& teacher_params, const Student& student, bool with_scratch) {
  using namespace std::chrono;
  const sim::distillation_adapter<Teacher> t(teacher);
  const sim::distillation_adapter<Student> st(student);
  std::vector<float> logits(proxy.size() * teacher.num_classes());
  typename sim::distillation_adapter<Teacher>::workspace ws;
  fd::logits_of_rows(t, teacher_params.span(), proxy.rows(), std::span<float>(logits), ws);
  fd::distillation_options d;
  d.loss.temperature = s.student_temperature;
  d.loss.hard_label_weight = s.hard_label_weight;
  d.max_steps = s.student_steps;
  d.batch_size = s.distill_batch;
  d.learning_rate = s.distill_lr;
  d.eval_every = s.validate_every;
  d.patience = 0; // the whole budget; the best validated student is kept
  d.seed = o.seed;
  const std::span<const std::uint8_t> y =
      s.hard_label_weight > 0 ? std::span<const std::uint8_t>(labels) : std::span<const std::uint8_t>();
  const auto start = student.make_parameters(o.seed + 1);
  const auto accuracy = [&](const auto& model, std::span<const float> params) {
    return sim::evaluate(model, params, test).accuracy;
  };
  const auto size_line = [](const char* who, const char* arch, std::size_t params, double acc) {
    std::printf("  %-30s %-12s %8zu parameters %10zu bytes  test accuracy %.4f\n", who, arch, params,
                params * sizeof(float), acc);
  };
  std::printf("%s: teacher -> student on %zu proxy examples (T = %s, alpha = %s, %zu steps)\n",
              method.c_str(), proxy.size(), example_cli::format_real(s.student_temperature).c_str(),
              example_cli::format_real(s.hard_label_weight).c_str(), s.student_steps);
  const std::string teacher_arch = o.model == "mlp" ? "mlp-200" : "softmax";
  const std::string student_arch = s.student == "mlp" ? "mlp-" + std::to_string(s.student_hidden) : "softmax";
  size_line("teacher (global model)", teacher_arch.c_str(), teacher_params.size(),
            accuracy(teacher, teacher_params.span()));
  auto distilled = start;
  const auto t0 = steady_clock::now();
  const auto r = fd::distill(st, distilled.span(), proxy, std::span<const float>(logits), d, y);
  const double secs = duration<double>(steady_clock::now() - t0).count();
  size_line("student distilled from teacher", student_arch.c_str(), distilled.size(),
            accuracy(student, distilled.span()));
  std::printf("  %-30s val loss %.4f -> %.4f, kept step %zu of %zu, %.1f s\n", "", r.initial_validation_loss,
              r.best_validation_loss, r.best_step, r.steps, secs);
  if (!with_scratch) return;
  auto scratch = start;
  fd::distillation_options h = d;
  h.loss.hard_label_weight = 1.0; // the cross-entropy on the proxy labels alone
  h.loss.temperature = 1.0;
  (void)fd::distill(st, scratch.span(), proxy, std::span<const float>(logits), h, labels);
  size_line("student without teacher", student_arch.c_str(), scratch.size(),
            accuracy(student, scratch.span()));
}

template <class Model>
int run_job(const fmnist_job::options& o, const settings& s) {
  fmnist_job::setup<Model> job(o);
  const proxy_data pd = carve_proxy(o, job, s.proxy_size);
  const fd::proxy_set<float> proxy = make_proxy_set(job.data.train, pd, s.proxy_validation, o.seed);
  std::printf("%zu clients, Dir(%s), %zu per round, %zu rounds, model %s, seed %llu; the server holds %zu "
              "unlabeled proxy examples (%zu for validation)\n",
              o.clients, example_cli::format_real(o.alpha).c_str(), o.clients_per_round, o.rounds,
              o.model.c_str(), static_cast<unsigned long long>(o.seed), proxy.size(),
              proxy.validation_indices().size());
  round_log log(s.csv);
  bool scratch_done = false;
  for (const std::string& method : s.methods) {
    fedpp::flat_model<float> final_model;
    if (method == "fedavg") {
      using agg = fedpp::fedavg<float>;
      final_model = federate<agg>(
          method, o, job, [](const fedpp::model_layout& l) { return agg(l); }, {}, {}, log);
    } else {
      using adapter = sim::distillation_adapter<Model>;
      fd::feddf_options fo;
      fo.distillation.loss.temperature = s.temperature;
      fo.distillation.max_steps = s.distill_steps;
      fo.distillation.batch_size = s.distill_batch;
      fo.distillation.learning_rate = s.distill_lr;
      fo.distillation.patience = s.patience;
      fo.distillation.eval_every = s.validate_every;
      fo.distillation.seed = o.seed;
      fo.ensemble =
          s.ensemble == "median" ? fd::ensemble_rule::median_logits : fd::ensemble_rule::mean_logits;
      fd::feddf<adapter> df(adapter(job.model), proxy, fo);
      final_model = federate<fd::feddf_aggregator<adapter>>(
          method, o, job, df.factory(), [&df](const fedpp::flat_model<float>& g) { df.watch(g); },
          [&df] { return df.last_round(); }, log);
    }
    if (s.student == "softmax") {
      compress(method, o, s, job.data.test, proxy, pd.labels, job.model, final_model,
               sim::softmax_regression<float>(), !scratch_done);
      scratch_done = true;
    } else if (s.student == "mlp") {
      compress(method, o, s, job.data.test, proxy, pd.labels, job.model, final_model,
               sim::mlp<float>(784, s.student_hidden, 10), !scratch_done);
      scratch_done = true;
    }
  }
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  fmnist_job::options o;
  o.partition = "dirichlet";
  o.alpha = 0.1;
  o.rounds = 50;
  o.hosts = 2;
  o.eval_every = 1;
  settings s;
  example_cli::command_line cli(
      "13_distillation: FedAvg vs FedDF (server-side ensemble distillation on unlabeled "
      "proxy data) on Fashion-MNIST under label skew; optional teacher -> student "
      "compression of the final model");
  using fmnist_job::flag;
  fmnist_job::add_flags(cli, o,
                        {flag::model, flag::alpha, flag::clients, flag::clients_per_round, flag::rounds,
                         flag::local_epochs, flag::batch_size, flag::lr, flag::lr_decay, flag::seed,
                         flag::hosts, flag::eval_every, flag::data_dir});
  namespace within = example_cli::within;
  cli.list("--methods", s.methods, "methods to run, in order", {"fedavg", "feddf"});
  cli.count("--proxy-size", s.proxy_size,
            "training examples removed from the clients and held, unlabeled, by the server", std::size_t{10},
            max_proxy);
  cli.real("--proxy-validation", s.proxy_validation,
           "share of the proxy data held out to validate (early stopping, best student kept)",
           within::below_half);
  auto* steps = cli.count("--distill-steps", s.distill_steps, "feddf: distillation steps per round at most",
                          std::size_t{1}, std::size_t{100000});
  cli.count("--distill-batch", s.distill_batch, "proxy examples per distillation step", std::size_t{1},
            std::size_t{4096});
  cli.real("--distill-lr", s.distill_lr, "Adam learning rate of the distillation (cosine-annealed)",
           within::closed(1e-6, 1));
  auto* temperature =
      cli.real("--temperature", s.temperature, "feddf: softmax temperature of teacher and student",
               within::closed(0.05, 100));
  auto* patience = cli.count("--patience", s.patience,
                             "feddf: stop a round's distillation after this many steps without a better "
                             "validation loss (0: never)",
                             std::size_t{0}, std::size_t{100000});
  cli.count("--validate-every", s.validate_every, "steps between validations", std::size_t{1},
            std::size_t{100000});
  auto* ensemble = cli.choice("--ensemble", s.ensemble,
                              "feddf: the teacher, mean (FedDF's AVGLOGITS) or "
                              "coordinate-wise median of the client models' logits",
                              {"mean", "median"});
  cli.choice("--student", s.student, "teacher -> student compression of each method's final model",
             {"none", "softmax", "mlp"});
  auto* hidden = cli.count("--student-hidden", s.student_hidden, "--student mlp: hidden units",
                           std::size_t{1}, std::size_t{199});
  auto* student_steps = cli.count("--student-steps", s.student_steps, "student training steps",
                                  std::size_t{1}, std::size_t{1000000});
  auto* student_t = cli.real("--student-temperature", s.student_temperature, "student: softmax temperature T",
                             within::closed(0.05, 100));
  auto* alpha_hard = cli.real(
      "--hard-label-weight", s.hard_label_weight,
      "student: weight of the cross-entropy on the proxy labels (0: soft labels only)", within::probability);
  cli.text("--csv", s.csv, "per evaluated round: method, round, accuracy, ... to FILE");
  cli.check([&] {
    const auto runs = [&](const char* m) {
      return std::find(s.methods.begin(), s.methods.end(), m) != s.methods.end();
    };
    for (std::size_t i = 0; i < s.methods.size(); ++i)
      for (std::size_t j = 0; j < i; ++j)
        if (s.methods[i] == s.methods[j])
          example_cli::refuse("--methods", "'" + s.methods[i] + "' is listed twice");
    // A flag of a method or a student that is not run is refused, not silently ignored.
    const std::pair<const CLI::Option*, const char*> feddf_flags[] = {{steps, "--distill-steps"},
                                                                      {temperature, "--temperature"},
                                                                      {patience, "--patience"},
                                                                      {ensemble, "--ensemble"}};
    for (const auto& [opt, name] : feddf_flags)
      if (opt->count() != 0 && !runs("feddf"))
        example_cli::refuse(name, "applies only with the method feddf");
    const std::pair<const CLI::Option*, const char*> student_flags[] = {{student_steps, "--student-steps"},
                                                                        {student_t, "--student-temperature"},
                                                                        {alpha_hard, "--hard-label-weight"}};
    for (const auto& [opt, name] : student_flags)
      if (opt->count() != 0 && s.student == "none")
        example_cli::refuse(name, "applies only with --student softmax or mlp");
    if (hidden->count() != 0 && s.student != "mlp")
      example_cli::refuse("--student-hidden", "applies only with --student mlp");
    if (s.student != "none") {
      const std::size_t teacher = o.model == "mlp" ? 784 * 200 + 200 + 200 * 10 + 10 : 784 * 10 + 10;
      const std::size_t student = s.student == "mlp"
                                      ? 784 * s.student_hidden + s.student_hidden + s.student_hidden * 10 + 10
                                      : 784 * 10 + 10;
      if (student >= teacher)
        example_cli::refuse("--student", s.student + " has " + std::to_string(student) +
                                             " parameters, the teacher (--model " + o.model + ") " +
                                             std::to_string(teacher) + ": not smaller");
    }
    const auto validation_rows =
        static_cast<std::size_t>(static_cast<double>(s.proxy_size) * s.proxy_validation);
    if (s.proxy_validation > 0 && validation_rows == 0)
      example_cli::refuse("--proxy-validation", example_cli::format_real(s.proxy_validation) +
                                                    " of --proxy-size " + std::to_string(s.proxy_size) +
                                                    " leaves no validation example");
  });
  if (const auto status = cli.parse(argc, argv)) return *status;
  return fmnist_job::guarded(
      [&] { return fmnist_job::with_model(o, [&](auto model) { return run_job<decltype(model)>(o, s); }); });
}
