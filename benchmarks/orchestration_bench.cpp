// Orchestration overhead of a synchronous round: 1,000 clients per round, a 1M-parameter model,
// in-process transport. Counters (per client, CPU milliseconds): the trainer's own time, the
// aggregation kernel (fedavg accumulate of one update, measured alone), and everything else —
// serialising, checksumming, routing, decoding, validating, copying the global model for the
// trainer and computing the delta: the orchestration overhead.
#include "round_common.hpp"

#include "fedpp/aggregation/fedavg.hpp"

#include <benchmark/benchmark.h>

#include <vector>

namespace {

double accumulate_seconds_per_update(const fedpp::model_layout& layout) {
  fedpp::flat_model<float> update(layout);
  for (auto& v : update.span()) v = 0.5F;
  fedpp::fedavg<float> aggregate(layout);
  const auto u = fedpp::client_update<float>::from_flat(0, layout, update.span(), 1.0);
  aggregate.accumulate(u); // warm
  constexpr int repeats = 20;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < repeats; ++i) aggregate.accumulate(u);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / repeats;
}

void BM_round_orchestration(benchmark::State& state) {
  const auto clients_per_round = static_cast<std::size_t>(state.range(0));
  const auto parameters = static_cast<std::size_t>(state.range(1));
  const auto layout = round_bench::layout_of(parameters);
  std::vector<fedpp::client_id> clients(clients_per_round);
  for (std::size_t c = 0; c < clients.size(); ++c) clients[c] = c;
  round_bench::synthetic_trainer trainer; // no extra work: all CPU beyond copy+nudge is orchestration
  fedpp::in_process_federation<float, round_bench::synthetic_trainer> federation(clients, trainer, layout, 2);
  fedpp::server<float, fedpp::uniform_sampler> server(
      fedpp::flat_model<float>(layout), fedpp::uniform_sampler(clients.size(), clients_per_round));
  const double kernel = accumulate_seconds_per_update(layout);
  double cpu = 0, wall = 0;
  std::int64_t trainer_before = 0;
  std::size_t rounds = 0;
  for (auto _ : state) {
    trainer_before = trainer.cpu_ns->load();
    const double cpu_start = round_bench::process_cpu_seconds();
    const auto wall_start = std::chrono::steady_clock::now();
    const auto metrics = server.run_round(federation.server_endpoint());
    wall += std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
    cpu += round_bench::process_cpu_seconds() - cpu_start;
    if (metrics.reported != clients_per_round) state.SkipWithError("a client did not report");
    ++rounds;
  }
  const double trainer_cpu = static_cast<double>(trainer.cpu_ns->load()) * 1e-9 / static_cast<double>(rounds);
  (void)trainer_before;
  const double per_round_clients = static_cast<double>(clients_per_round);
  const double overhead = cpu / static_cast<double>(rounds) - trainer_cpu - kernel * per_round_clients;
  state.counters["trainer_cpu_ms_per_client"] = 1e3 * trainer_cpu / per_round_clients;
  state.counters["kernel_ms_per_client"] = 1e3 * kernel;
  state.counters["overhead_cpu_ms_per_client"] = 1e3 * overhead / per_round_clients;
  state.counters["round_wall_s"] = wall / static_cast<double>(rounds);
  state.counters["model_MiB"] = static_cast<double>(parameters * sizeof(float)) / 1048576.0;
  state.SetBytesProcessed(
      static_cast<std::int64_t>(rounds * clients_per_round * parameters * sizeof(float) * 2));
}
BENCHMARK(BM_round_orchestration)
    ->Args({1000, 1 << 20})
    ->Iterations(2)
    ->Unit(benchmark::kSecond)
    ->UseRealTime();

} // namespace

// What the overhead is compared with: one local epoch of a ~1M-parameter model (MLP 784-1250-10,
// 994k parameters) over 600 examples, batch 32 — a small client's real work per round.
#include "fedpp/simulation/local_training.hpp"
#include "fedpp/simulation/mlp.hpp"

namespace {

void BM_local_epoch_1M_mlp(benchmark::State& state) {
  const fedpp::simulation::mlp<float> model(784, 1250, 10);
  auto params = model.make_parameters(1);
  fedpp::rng gen(2);
  std::vector<float> features(600 * 784);
  std::vector<std::uint8_t> labels(600);
  for (auto& x : features) x = static_cast<float>(gen.uniform());
  for (auto& y : labels) y = static_cast<std::uint8_t>(gen.below(10));
  const fedpp::simulation::dataset data(std::move(features), std::move(labels), 784, 10);
  fedpp::simulation::sgd_config config;
  config.learning_rate = 0.01;
  std::uint64_t round = 0;
  for (auto _ : state) {
    const auto result = fedpp::simulation::local_train(model, params.span(), data, config, 1, 0, round++);
    benchmark::DoNotOptimize(result.mean_loss);
  }
  state.counters["parameters"] = static_cast<double>(params.size());
}
BENCHMARK(BM_local_epoch_1M_mlp)->Unit(benchmark::kMillisecond)->UseRealTime();

} // namespace
