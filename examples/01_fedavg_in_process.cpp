// 01 — FedAvg over in-process clients, in about 100 lines.
//
// Twenty clients each hold private data for a linear model y = w·x + b (their inputs are drawn
// from different distributions: non-IID). Local training is ordinary user code: a few epochs of
// gradient descent on the client's own data. fedpp samples clients, ships the model over the
// in-process transport, aggregates the updates with streaming FedAvg and prints each round.
#include "example_cli.hpp"

#include "fedpp/orchestration/in_process_federation.hpp"
#include "fedpp/orchestration/server.hpp"
#include "fedpp/random/distributions.hpp"
#include "fedpp/scheduling/uniform_sampler.hpp"

#include <cmath>
#include <cstdio>
#include <vector>

namespace {

constexpr std::size_t num_features = 8;
constexpr std::size_t num_clients = 20;

struct client_data {
  std::vector<float> x; // rows of num_features
  std::vector<float> y;
};

// The user's model and training: plain loops over the tensors fedpp hands in.
struct linear_trainer {
  const std::vector<client_data>* data;

  fedpp::client_result<float> operator()(fedpp::client_id id,
                                         const fedpp::host_model_view<const float>& global,
                                         const fedpp::round_config& config) const {
    const client_data& d = (*data)[id];
    auto model = fedpp::flat_model<float>::copy_of(global); // start from the global model
    auto w = model.tensor("w");
    auto b = model.tensor("b");
    const std::size_t n = d.y.size();
    double loss = 0;
    for (std::uint32_t epoch = 0; epoch < config.local_epochs; ++epoch) {
      std::vector<float> grad_w(num_features, 0.F);
      float grad_b = 0;
      loss = 0;
      for (std::size_t i = 0; i < n; ++i) {
        float prediction = b[0];
        for (std::size_t j = 0; j < num_features; ++j) prediction += w[j] * d.x[i * num_features + j];
        const float err = prediction - d.y[i];
        loss += 0.5 * err * err;
        for (std::size_t j = 0; j < num_features; ++j) grad_w[j] += err * d.x[i * num_features + j];
        grad_b += err;
      }
      const auto step = static_cast<float>(config.learning_rate / static_cast<double>(n));
      for (std::size_t j = 0; j < num_features; ++j) w[j] -= step * grad_w[j];
      b[0] -= step * grad_b;
    }
    return {std::move(model),
            fedpp::update_kind::weights,
            static_cast<double>(n),
            {{"train_loss", loss / static_cast<double>(n)}}};
  }
};

int run(std::size_t rounds) {
  // Private data: client k's inputs are centred at k/10 (non-IID), labels from one true model.
  fedpp::rng gen(2024);
  std::vector<float> true_w(num_features);
  for (auto& v : true_w) v = static_cast<float>(fedpp::random::normal(gen, 0, 1));
  std::vector<client_data> data(num_clients);
  for (std::size_t k = 0; k < num_clients; ++k) {
    const std::size_t n = 20 + 10 * (k % 5); // unequal sizes: FedAvg weighs by examples
    for (std::size_t i = 0; i < n; ++i) {
      float y = 0.5F;
      for (std::size_t j = 0; j < num_features; ++j) {
        const auto x = static_cast<float>(fedpp::random::normal(gen, static_cast<double>(k) / 10.0, 1.0));
        data[k].x.push_back(x);
        y += true_w[j] * x;
      }
      data[k].y.push_back(y + static_cast<float>(fedpp::random::normal(gen, 0, 0.1)));
    }
  }

  fedpp::model_layout layout;
  layout.add("w", {num_features}).add("b", {1});
  std::vector<fedpp::client_id> clients(num_clients);
  for (std::size_t k = 0; k < num_clients; ++k) clients[k] = k;
  fedpp::in_process_federation<float, linear_trainer> federation(clients, linear_trainer{&data}, layout, 2);

  fedpp::server_options options;
  options.seed = 1;
  options.client_config.local_epochs = 5;
  options.client_config.learning_rate = 0.1;
  fedpp::server<float, fedpp::uniform_sampler> server(fedpp::flat_model<float>(layout),
                                                      fedpp::uniform_sampler(num_clients, 5), {}, options);
  server.set_evaluator([&](const fedpp::flat_model<float>& model) {
    double err = 0; // distance to the true weights
    for (std::size_t j = 0; j < num_features; ++j) err += std::pow(model.tensor("w")[j] - true_w[j], 2);
    return std::map<std::string, double>{{"weight_error", std::sqrt(err)}};
  });

  std::printf("round  sampled  reported  train_loss  |w - w*|  bytes_down  bytes_up\n");
  for (std::size_t round = 0; round < rounds; ++round) {
    const auto m = server.run_round(federation.server_endpoint());
    std::printf("%5llu  %7zu  %8zu  %10.4f  %8.4f  %10llu  %8llu\n", static_cast<unsigned long long>(m.round),
                m.sampled, m.reported, m.client_metrics.at("train_loss"), m.evaluation.at("weight_error"),
                static_cast<unsigned long long>(m.bytes_down), static_cast<unsigned long long>(m.bytes_up));
  }
  std::printf("final bias %.3f (true 0.5)\n", server.model().tensor("b")[0]);
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  std::size_t rounds = 30;
  example_cli::command_line cli("01_fedavg_in_process: FedAvg over 20 in-process clients with a hand-written "
                                "linear model");
  cli.count("--rounds", rounds, "rounds");
  if (const auto status = cli.parse(argc, argv)) return *status;
  return example_cli::guarded([&] { return run(rounds); });
}
