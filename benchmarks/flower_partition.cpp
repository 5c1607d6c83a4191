// Writes the main job's client partition (examples/02_fashion_mnist's defaults: Dirichlet label
// skew over the Fashion-MNIST training set, fedpp::simulation::partition_dirichlet) as text, one
// line per client with its training-example indices, so that benchmarks/flower_main_job.py gives
// Flower's clients exactly the data fedpp's clients hold.
//
//   flower_partition OUT [CLIENTS [ALPHA [SEED [DATA_DIR]]]]     (defaults 100 0.5 1, Debian's files)
#include "fedpp/simulation/fashion_mnist.hpp"
#include "fedpp/simulation/partitioners.hpp"

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>

int main(int argc, char** argv) {
  if (argc < 2 || argc > 6) {
    std::fprintf(stderr, "usage: %s OUT [CLIENTS [ALPHA [SEED [DATA_DIR]]]]\n", argv[0]);
    return 2;
  }
  try {
    const std::size_t clients = argc > 2 ? std::stoul(argv[2]) : 100;
    const double alpha = argc > 3 ? std::stod(argv[3]) : 0.5;
    const std::uint64_t seed = argc > 4 ? std::stoull(argv[4]) : 1;
    const auto dir = argc > 5 ? std::optional<std::filesystem::path>(argv[5]) : std::nullopt;
    const auto data = fedpp::simulation::load_fashion_mnist(dir);
    const auto parts = fedpp::simulation::partition_dirichlet(data.train.labels(), clients, alpha, seed);
    std::ofstream out(argv[1]);
    for (const auto& part : parts) {
      for (std::size_t i = 0; i < part.size(); ++i) out << (i == 0 ? "" : " ") << part[i];
      out << '\n';
    }
    if (!out) throw std::runtime_error(std::string("cannot write ") + argv[1]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
