// Example 21: federated transfer learning (fedpp/vertical/ftl.hpp, Liu et al. 2020) on
// Fashion-MNIST. Party A holds the left half (14 columns) of --a-rows training images with their
// labels; party B the right half of --b-rows images, of which --overlap are A's images too (the
// aligned overlap; in a deployment PSI finds it, example 20 shows that step). B has no labels: it
// labels its other images through A's, by the translator Φ·u^B learnt on the overlap.
//
//   21_transfer_learning                       plaintext mode (scripts/ftl_experiment.sh: seeds 1-3)
//   21_transfer_learning --mode paillier --a-rows 400 --b-rows 200 --overlap 40 --hidden 16 --dim 8 --steps 2
//
// The run trains FTL for --steps steps (the whole overlap per step, A's Φ over all its rows) and,
// for comparison, B alone: B's network with a softmax layer trained on the overlap's labels only
// (the same architecture, steps and optimiser). Both are scored on B's non-overlapping images
// (their true labels are used for scoring only). Prints both accuracies and the margin.
#include "example_cli.hpp"

#include "fedpp/parallel/thread_pool.hpp"
#include "fedpp/random/rng.hpp"
#include "fedpp/simulation/fashion_mnist.hpp"
#include "fedpp/transport/in_process_transport.hpp"
#include "fedpp/vertical/ftl.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <future>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace fedpp::vertical;

struct settings {
  std::uint32_t a_rows = 4000;
  std::uint32_t b_rows = 3000;
  std::uint32_t overlap = 300;
  std::uint32_t hidden = 64;
  std::uint32_t dim = 16;
  std::uint32_t steps = 300;
  double lr = 3e-3;
  double gamma = 0.01;
  double self_weight = 1;
  double l2 = 1e-3;
  std::string mode = "plaintext";
  std::uint32_t key_bits = 1024;
  std::uint32_t eval_rows = 0; // 0: all of B's non-overlapping rows (plaintext); Paillier default 100
  std::uint32_t threads = std::max(1U, std::min(4U, std::thread::hardware_concurrency()));
  std::uint64_t seed = 1;
};

// Columns [c0, c0 + 14) of each 28-column image row of the listed examples.
ftl_rows half(const fedpp::simulation::dataset& d, const std::vector<std::size_t>& idx, std::size_t c0) {
  ftl_rows r{idx.size(), 392, {}};
  r.x.reserve(idx.size() * 392);
  for (std::size_t i : idx) {
    const auto ex = d.example(i);
    for (std::size_t row = 0; row < 28; ++row)
      for (std::size_t c = 0; c < 14; ++c) r.x.push_back(static_cast<double>(ex[row * 28 + c0 + c]));
  }
  return r;
}

// B alone: its network + a linear softmax layer, trained with softmax cross-entropy on rows
// `train` (labels `y`) by full-batch Adam for `steps` steps; returns the predicted class of `test`.
std::vector<int> b_alone(const ftl_rows& x, const std::vector<std::size_t>& train, const std::vector<int>& y,
                         const std::vector<std::size_t>& test, const settings& s) {
  split_nn_mlp<double> net({392, s.hidden, s.dim, 10});
  std::vector<double> theta(net.num_parameters());
  net.initialize(theta, s.seed * 7 + 2);
  split_nn_mlp<double>::workspace ws;
  ftl_rows tr{train.size(), 392, {}};
  for (std::size_t r : train) tr.x.insert(tr.x.end(), x.row(r), x.row(r) + 392);
  detail::ftl_adam adam;
  std::vector<double> grad(theta.size()), dy(train.size() * 10);
  for (std::uint32_t step = 0; step < s.steps; ++step) {
    const auto out = net.forward(theta, tr.rows, tr.x.data(), 392, ws);
    for (std::size_t i = 0; i < tr.rows; ++i) {
      const double mx = *std::max_element(out.begin() + static_cast<std::ptrdiff_t>(i * 10),
                                          out.begin() + static_cast<std::ptrdiff_t>(i * 10 + 10));
      double z = 0;
      for (std::size_t c = 0; c < 10; ++c) z += std::exp(out[i * 10 + c] - mx);
      for (std::size_t c = 0; c < 10; ++c)
        dy[i * 10 + c] = (std::exp(out[i * 10 + c] - mx) / z - (y[i] == static_cast<int>(c) ? 1.0 : 0.0)) /
                         static_cast<double>(tr.rows);
    }
    net.backward(theta, tr.rows, tr.x.data(), 392, dy, grad, {}, ws);
    adam.step(theta, grad, s.lr, s.l2);
  }
  ftl_rows te{test.size(), 392, {}};
  for (std::size_t r : test) te.x.insert(te.x.end(), x.row(r), x.row(r) + 392);
  const auto out = net.forward(theta, te.rows, te.x.data(), 392, ws);
  std::vector<int> pred(test.size());
  for (std::size_t i = 0; i < test.size(); ++i)
    pred[i] = static_cast<int>(std::max_element(out.begin() + static_cast<std::ptrdiff_t>(i * 10),
                                                out.begin() + static_cast<std::ptrdiff_t>(i * 10 + 10)) -
                               (out.begin() + static_cast<std::ptrdiff_t>(i * 10)));
  return pred;
}

int run(const settings& s) {
  const auto fm = fedpp::simulation::load_fashion_mnist();
  const auto& train = fm.train;
  // Seeded choice: A's images, then B's: the overlap is A's first --overlap images, the rest of B's
  // are images A does not hold.
  std::vector<std::size_t> perm(train.size());
  std::iota(perm.begin(), perm.end(), std::size_t{0});
  fedpp::rng gen(s.seed);
  for (std::size_t i = perm.size(); i > 1; --i) std::swap(perm[i - 1], perm[gen.below(i)]);
  std::vector<std::size_t> a_idx(perm.begin(), perm.begin() + s.a_rows);
  std::vector<std::size_t> b_idx(perm.begin(), perm.begin() + s.overlap);
  b_idx.insert(b_idx.end(), perm.begin() + s.a_rows, perm.begin() + s.a_rows + (s.b_rows - s.overlap));
  std::vector<std::size_t> ov_a(s.overlap), ov_b(s.overlap);
  std::iota(ov_a.begin(), ov_a.end(), std::size_t{0});
  std::iota(ov_b.begin(), ov_b.end(), std::size_t{0});
  std::vector<int> a_labels(s.a_rows);
  for (std::size_t i = 0; i < s.a_rows; ++i) a_labels[i] = train.label(a_idx[i]);
  std::vector<std::size_t> eval;
  for (std::size_t r = s.overlap; r < s.b_rows; ++r) eval.push_back(r);
  const bool he = s.mode == "paillier";
  const std::size_t eval_cap = s.eval_rows != 0 ? s.eval_rows : (he ? 100 : eval.size());
  if (eval.size() > eval_cap) eval.resize(eval_cap);
  const ftl_rows xa = half(train, a_idx, 0), xb = half(train, b_idx, 14);

  ftl_options o;
  o.classes = 10;
  o.gamma = s.gamma;
  o.self_weight = s.self_weight;
  o.l2 = s.l2;
  o.learning_rate = s.lr;
  o.mode = he ? ftl_mode::paillier : ftl_mode::plaintext;
  o.session = 3;
  fedpp::parallel::thread_pool pool_a(s.threads), pool_b(s.threads);
  std::optional<paillier_keypair> ka, kb;
  if (he) {
    ka = generate_paillier_keypair(s.key_bits);
    kb = generate_paillier_keypair(s.key_bits);
  }
  auto oa = o, ob = o;
  oa.pool = &pool_a;
  ob.pool = &pool_b;
  ftl_party_a a(split_nn_mlp<double>({392, s.hidden, s.dim}), s.seed * 7, xa, a_labels, ov_a, oa,
                std::move(ka));
  ftl_party_b b(split_nn_mlp<double>({392, s.hidden, s.dim}), s.seed * 7 + 1, xb, ov_b, ob, std::move(kb));
  std::printf(
      "FTL on Fashion-MNIST halves: A %u images (left half, labels), B %u images (right half), overlap %u; "
      "networks 392-%u-%u, %u steps, %s mode%s\n",
      s.a_rows, s.b_rows, s.overlap, s.hidden, s.dim, s.steps, s.mode.c_str(),
      he ? (", " + std::to_string(s.key_bits) + "-bit keys").c_str() : "");

  fedpp::in_process_transport hub;
  paillier_wire::key_limits limits;
  limits.min_bits = s.key_bits;
  const auto start = std::chrono::steady_clock::now();
  auto rb = std::async(std::launch::async, [&] {
    auto t = hub.endpoint(2);
    run_ftl_party_b(t, 1, b, s.steps, ob, limits);
  });
  auto ta = hub.endpoint(1);
  run_ftl_party_a(
      ta, 2, a, s.steps,
      [&](std::size_t step, double loss) {
        if (step == 0 || (step + 1) % std::max<std::size_t>(1, s.steps / 10) == 0) {
          if (std::isnan(loss))
            std::printf("step %4zu\n", step + 1);
          else
            std::printf("step %4zu  loss %.5f\n", step + 1, loss);
        }
      },
      limits);
  rb.get();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const std::uint64_t bytes = ta.bytes_sent() + ta.bytes_received();

  std::vector<double> scores;
  if (!he) {
    scores = b.predict(eval);
  } else {
    auto tb = hub.endpoint(2);
    tb.send(1, b.scores_message(eval, 2));
    auto env = ta.receive(fedpp::transport_clock::now() + o.timeout);
    if (!env) throw fedpp::error("no scores from B");
    ta.send(2, a.on_scores(fedpp::wire::decode(env->message), 1, eval.size()));
    auto back = tb.receive(fedpp::transport_clock::now() + o.timeout);
    if (!back) throw fedpp::error("no decrypted scores from A");
    scores = b.on_scores_reply(fedpp::wire::decode(back->message));
  }
  std::size_t correct = 0;
  for (std::size_t i = 0; i < eval.size(); ++i) {
    const auto first = scores.begin() + static_cast<std::ptrdiff_t>(i * 10);
    const int pred = static_cast<int>(std::max_element(first, first + 10) - first);
    correct += pred == train.label(b_idx[eval[i]]) ? 1 : 0;
  }
  const double ftl_acc = static_cast<double>(correct) / static_cast<double>(eval.size());

  std::vector<int> ov_labels(s.overlap);
  for (std::size_t j = 0; j < s.overlap; ++j) ov_labels[j] = a_labels[j];
  const auto pred = b_alone(xb, ov_b, ov_labels, eval, s);
  std::size_t alone_correct = 0;
  for (std::size_t i = 0; i < eval.size(); ++i)
    alone_correct += pred[i] == train.label(b_idx[eval[i]]) ? 1 : 0;
  const double alone_acc = static_cast<double>(alone_correct) / static_cast<double>(eval.size());

  std::printf("time: %.2f s for %u steps (%.3f s per step = per epoch over the overlap); bytes exchanged "
              "%llu (%.1f KiB per step)\n",
              seconds, s.steps, seconds / s.steps, static_cast<unsigned long long>(bytes),
              static_cast<double>(bytes) / 1024.0 / s.steps);
  std::printf("accuracy on B's %zu non-overlapping images: FTL %.4f, B alone on the overlap's labels %.4f, "
              "margin %+.4f\n",
              eval.size(), ftl_acc, alone_acc, ftl_acc - alone_acc);
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  settings s;
  example_cli::command_line cli(
      "21_transfer_learning: federated transfer learning (Liu et al. 2020) on Fashion-MNIST "
      "image halves, B labelled through A");
  cli.count("--a-rows", s.a_rows, "images party A holds (left half, labelled)", 2U, 60000U);
  cli.count("--b-rows", s.b_rows, "images party B holds (right half)", 2U, 60000U);
  cli.count("--overlap", s.overlap, "images both hold", 1U, 60000U);
  cli.count("--hidden", s.hidden, "hidden width of each party's network", 1U, 4096U);
  cli.count("--dim", s.dim, "representation dimension d", 1U, 1024U);
  cli.count("--steps", s.steps, "training steps (each over the whole overlap)", 1U, 100000U);
  cli.real("--lr", s.lr, "Adam's step size", example_cli::within::closed(1e-6, 1));
  cli.real("--gamma", s.gamma, "weight of the alignment loss", example_cli::within::closed(0, 100));
  cli.real("--self-weight", s.self_weight,
           "weight of A's own supervised term on all its rows (0: the paper's loss)",
           example_cli::within::closed(0, 100));
  cli.real("--l2", s.l2, "L2 penalty", example_cli::within::closed(0, 1));
  cli.choice("--mode", s.mode, "how exchanged values travel", {"plaintext", "paillier"});
  cli.count("--key-bits", s.key_bits, "Paillier key size (even; --mode paillier)", 256U, 4096U);
  cli.count("--eval-rows", s.eval_rows, "B's non-overlapping images scored (0: all; paillier: 100)", 0U,
            60000U);
  cli.count("--threads", s.threads, "threads per party", 1U, 256U);
  cli.count("--seed", s.seed, "seed of the images' choice and the networks", std::uint64_t{0},
            std::uint64_t{1} << 62);
  cli.check([&] {
    if (s.overlap >= s.b_rows)
      example_cli::refuse("--overlap", "must be below --b-rows (B needs rows to label)");
    if (s.overlap > s.a_rows) example_cli::refuse("--overlap", "exceeds --a-rows");
    if (static_cast<std::uint64_t>(s.a_rows) + s.b_rows - s.overlap > 60000)
      example_cli::refuse("--b-rows", "A's and B's images exceed the 60,000 training images");
    if (s.key_bits % 2 != 0) example_cli::refuse("--key-bits", std::to_string(s.key_bits) + " is odd");
    if (s.mode != "paillier" && cli.app().get_option("--key-bits")->count() > 0)
      example_cli::refuse("--key-bits", "applies to --mode paillier only");
  });
  if (const auto status = cli.parse(argc, argv)) return *status;
  return example_cli::guarded([&] { return run(s); });
}
