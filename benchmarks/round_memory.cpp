// Peak resident memory of synchronous rounds as the number of clients per round and the model size
// grow (one configuration per process, since the peak is process-wide):
//   round_memory CLIENTS_PER_ROUND PARAMETERS [WORK_US] [MAX_IN_FLIGHT]
// prints one line: clients, parameters, model MiB, peak RSS MiB, round seconds. Each client's
// "training" spins WORK_US microseconds of CPU (default 3000) so the server keeps up, as it does with
// real local training; at most MAX_IN_FLIGHT (default 8; 0 = all at once) clients hold the model
// unanswered (server_options::max_in_flight), so with streaming aggregation memory is O(model),
// whatever the number of clients.
#include "round_common.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s CLIENTS_PER_ROUND PARAMETERS [WORK_US] [MAX_IN_FLIGHT]\n", argv[0]);
    return 2;
  }
  const auto clients_per_round = static_cast<std::size_t>(std::stoull(argv[1]));
  const auto parameters = static_cast<std::size_t>(std::stoull(argv[2]));
  const long work = argc > 3 ? std::stol(argv[3]) : 3000;
  const std::size_t in_flight = argc > 4 ? static_cast<std::size_t>(std::stoull(argv[4])) : 8;
  const auto layout = round_bench::layout_of(parameters);
  std::vector<fedpp::client_id> clients(clients_per_round);
  for (std::size_t c = 0; c < clients.size(); ++c) clients[c] = c;
  round_bench::synthetic_trainer trainer{std::chrono::microseconds(work)};
  fedpp::in_process_federation<float, round_bench::synthetic_trainer> federation(clients, trainer, layout, 2);
  fedpp::server_options options;
  options.max_in_flight = in_flight;
  fedpp::server<float, fedpp::uniform_sampler> server(
      fedpp::flat_model<float>(layout), fedpp::uniform_sampler(clients.size(), clients_per_round), {},
      options);
  double seconds = 0;
  for (int r = 0; r < 3; ++r) {
    const auto m = server.run_round(federation.server_endpoint());
    if (m.reported != clients_per_round) return 1;
    seconds = m.round_seconds;
  }
  std::printf("%zu,%zu,%.1f,%.1f,%.3f\n", clients_per_round, parameters,
              static_cast<double>(parameters * sizeof(float)) / 1048576.0, round_bench::peak_rss_mib(),
              seconds);
  return 0;
}
