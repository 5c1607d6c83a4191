// 18 — A split neural network for vertical federated learning, in one process: two parties hold
// different halves of the same Fashion-MNIST images (the label holder the left 14 columns and the
// labels, the other party the right 14 columns). Each trains a bottom model on its half; the label
// holder trains the top model on both cut layers. Per batch the activations and the gradients
// w.r.t. them cross the cut as wire-format messages over the in-process transport, between two
// threads (one per party). Then, unless --no-central, the same network is trained without a cut
// (both halves in one place) and the label holder's half is trained alone, for comparison.
//
//   build/examples/18_split_nn                              # 20 epochs, about a minute
//   build/examples/18_split_nn --cut-clip 5 --cut-noise 0.5 # clipped, noised activations
//   mpirun -np 2 build/examples/18_split_nn_mpi             # the same, one MPI rank per party
#include "split_nn_job.hpp"

#include "fedpp/transport/in_process_transport.hpp"

#include <cstdio>
#include <exception>
#include <thread>

namespace {

int run(const split_job::options& o) {
  const split_job::job_data data(o);
  fedpp::in_process_transport hub;
  auto label_ep = hub.endpoint(fedpp::server_endpoint);
  auto feature_ep = hub.endpoint(1);
  const split_job::architecture arch(o, label_ep.id(), feature_ep.id());
  std::printf("split NN: %u training / %u test images; bottom 392-%s%u per party, top %zu-%s10 (%s), "
              "%zu parameters; batch %u, lr %g; activations: clip %g noise %g; gradients: clip %g noise %g\n",
              o.train_examples, o.test_examples,
              o.bottom_hidden > 0 ? (std::to_string(o.bottom_hidden) + "-").c_str() : "", o.cut_width,
              arch.config.top_input_width(),
              o.top_hidden > 0 ? (std::to_string(o.top_hidden) + "-").c_str() : "", o.combine.c_str(),
              arch.num_parameters(), o.batch_size, o.lr, o.cut_clip, o.cut_noise, o.grad_clip, o.grad_noise);
  // The feature party in its own thread; whichever party fails closes the hub, so the other one
  // stops waiting at once, and the first error is reported.
  std::exception_ptr feature_error;
  std::thread feature([&] {
    try {
      split_job::run_feature_party(o, arch, data.right, feature_ep);
    } catch (...) {
      feature_error = std::current_exception();
      hub.close();
    }
  });
  double accuracy = 0;
  std::exception_ptr label_error;
  try {
    accuracy = split_job::run_label_party(o, arch, data.left, label_ep);
  } catch (...) {
    label_error = std::current_exception();
    hub.close();
  }
  feature.join();
  if (feature_error) std::rethrow_exception(feature_error);
  if (label_error) std::rethrow_exception(label_error);
  if (o.central) {
    const double same = split_job::run_central(o, data, 2);
    std::printf(
        "central (same architecture, both halves): final test accuracy %.4f (split - central: %+.4f)\n", same,
        accuracy - same);
    const double alone = split_job::run_central(o, data, 1);
    std::printf("label holder alone (left halves): final test accuracy %.4f\n", alone);
  }
  if (accuracy < o.require_accuracy) {
    std::fprintf(stderr, "final test accuracy %.4f is below --require-accuracy %.4f\n", accuracy,
                 o.require_accuracy);
    return 3;
  }
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  split_job::options o;
  example_cli::command_line cli(
      "18_split_nn: a split neural network on Fashion-MNIST image halves held by two "
      "parties (vertical FL), over the in-process transport");
  split_job::add_flags(cli, o, true);
  if (const auto status = cli.parse(argc, argv)) return *status;
  return example_cli::guarded([&] {
    try {
      return run(o);
    } catch (const fedpp::simulation::dataset_not_found& e) {
      std::fprintf(stderr, "%s\n", e.what());
      return 2;
    }
  });
}
