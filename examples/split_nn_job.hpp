// The split-NN job of examples 18_split_nn (in process, two threads) and 18_split_nn_mpi (one MPI
// rank per party): Fashion-MNIST split into left and right image halves (columns 0-13 and 14-27,
// 392 pixels each). Party 0 (the label holder) holds the left halves and the labels, party 1 the
// right halves. Each runs a bottom model 392 -> hidden -> cut (ReLU); the label holder joins the
// two cut layers (concat or sum) and runs the top model -> 10 classes. Both hold the same images
// in the same order: the alignment is the identity here (in a deployment, private set
// intersection finds it: docs/vertical.md).
#pragma once

#include "example_cli.hpp"

#include "fedpp/privacy/secure_rng.hpp"
#include "fedpp/random/rng.hpp"
#include "fedpp/simulation/fashion_mnist.hpp"
#include "fedpp/vertical/split_nn.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <numeric>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace split_job {

namespace v = fedpp::vertical;
namespace sim = fedpp::simulation;

/// The job's flags.
struct options {
  std::uint32_t epochs = 20;
  std::uint32_t batch_size = 64;
  double lr = 0.1;
  std::uint32_t bottom_hidden = 128; // 0: the bottom model is one layer 392 -> cut
  std::uint32_t cut_width = 64;
  std::uint32_t top_hidden = 64; // 0: the top model is one layer -> 10
  std::string combine = "concat";
  double cut_clip = 0, cut_noise = 0;   // activations: per-example clip C, noise multiplier sigma
  double grad_clip = 0, grad_noise = 0; // returned gradients: per-example clip, noise multiplier
  bool reproducible_noise = false;
  std::uint32_t train_examples = 60000, test_examples = 10000;
  std::uint64_t seed = 1;
  std::string data_dir;
  bool central = true; // also train the same architecture centrally, and the label holder alone
  double require_accuracy = 0;
  std::uint32_t timeout_s = 60;
};

/// Registers the job's flags on `cli`; `in_process` adds --no-central.
inline void add_flags(example_cli::command_line& cli, options& o, bool in_process) {
  using example_cli::within::closed;
  cli.count("--epochs", o.epochs, "training epochs", 1U, 1000U);
  cli.count("--batch-size", o.batch_size, "examples per batch", 1U, 4096U);
  cli.real("--lr", o.lr, "SGD learning rate of every model", example_cli::interval{0, 10, true, false});
  cli.count("--bottom-hidden", o.bottom_hidden, "hidden width of each bottom model (0: none)", 0U, 4096U);
  cli.count("--cut-width", o.cut_width, "cut-layer width of each party", 1U, 1024U);
  cli.count("--top-hidden", o.top_hidden, "hidden width of the top model (0: none)", 0U, 4096U);
  cli.choice("--combine", o.combine, "how the label holder joins the cut layers", {"concat", "sum"});
  cli.real("--cut-clip", o.cut_clip, "per-example L2 bound C of the activations party 1 sends",
           example_cli::interval{0, 1e6, true, false});
  cli.real("--cut-noise", o.cut_noise,
           "noise multiplier sigma of the activations (std sigma*C; needs --cut-clip)", closed(0, 1e6));
  cli.real("--grad-clip", o.grad_clip, "per-example L2 bound of the gradients the label holder returns",
           example_cli::interval{0, 1e6, true, false});
  cli.real("--grad-noise", o.grad_noise, "noise multiplier of the returned gradients (needs --grad-clip)",
           closed(0, 1e6));
  cli.toggle("--reproducible-noise", o.reproducible_noise, true,
             "seeded noise (experiments only: predictable, no privacy)");
  cli.count("--train-examples", o.train_examples, "training images used (the first N)", 1U, 60000U);
  cli.count("--test-examples", o.test_examples, "test images used (the first N)", 1U, 10000U);
  cli.count("--seed", o.seed, "seed of initialisation and batch order", std::uint64_t{0});
  cli.text("--data-dir", o.data_dir, "Fashion-MNIST IDX files (default: Debian's dataset-fashion-mnist)");
  if (in_process)
    cli.toggle("--no-central", o.central, false,
               "skip the central baselines (same architecture; label holder alone)");
  cli.real("--require-accuracy", o.require_accuracy,
           "exit 3 when the split model's final test accuracy is below", closed(0, 1));
  cli.count("--timeout-s", o.timeout_s, "seconds a party waits for each message", 1U, 3600U);
  cli.check([&o] {
    if (o.cut_noise > 0 && o.cut_clip == 0)
      example_cli::refuse("--cut-noise", "needs --cut-clip (the noise is sigma times the clipping bound)");
    if (o.grad_noise > 0 && o.grad_clip == 0)
      example_cli::refuse("--grad-noise", "needs --grad-clip (the noise is sigma times the clipping bound)");
    if (o.reproducible_noise && o.cut_noise == 0 && o.grad_noise == 0)
      example_cli::refuse("--reproducible-noise", "applies only with --cut-noise or --grad-noise");
    if (o.batch_size > o.train_examples)
      example_cli::refuse("--batch-size", std::to_string(o.batch_size) + " exceeds --train-examples " +
                                              std::to_string(o.train_examples));
  });
}

constexpr std::size_t half_width = 392; // 28 rows x 14 columns

/// One party's view of the data: its half of each image, row-major, and (party 0) the labels.
struct party_data {
  std::vector<float> train, test;
  std::vector<std::uint8_t> train_labels, test_labels;
  [[nodiscard]] v::split_nn_rows<float> train_rows() const {
    return {train.data(), train.size() / half_width, half_width, half_width};
  }
  [[nodiscard]] v::split_nn_rows<float> test_rows() const {
    return {test.data(), test.size() / half_width, half_width, half_width};
  }
};

/// Columns [14·side, 14·side + 14) of the first n images of `d`.
inline std::vector<float> half_of(const sim::dataset& d, std::size_t n, std::size_t side) {
  std::vector<float> out(n * half_width);
  for (std::size_t i = 0; i < n; ++i) {
    const auto img = d.example(i);
    for (std::size_t r = 0; r < 28; ++r)
      for (std::size_t c = 0; c < 14; ++c) out[i * half_width + r * 14 + c] = img[r * 28 + 14 * side + c];
  }
  return out;
}

/// Both halves and the labels (the label holder keeps labels, the other party drops them).
struct job_data {
  party_data left, right;
  explicit job_data(const options& o) {
    const auto fm = sim::load_fashion_mnist(
        o.data_dir.empty() ? std::nullopt : std::optional<std::filesystem::path>(o.data_dir));
    left.train = half_of(fm.train, o.train_examples, 0);
    right.train = half_of(fm.train, o.train_examples, 1);
    left.test = half_of(fm.test, o.test_examples, 0);
    right.test = half_of(fm.test, o.test_examples, 1);
    left.train_labels.assign(fm.train.labels().begin(), fm.train.labels().begin() + o.train_examples);
    left.test_labels.assign(fm.test.labels().begin(), fm.test.labels().begin() + o.test_examples);
  }
};

/// The models and the agreement, built alike by every party from the flags.
struct architecture {
  v::split_nn_config config;
  v::split_nn_mlp<float> bottom, top;

  architecture(const options& o, fedpp::endpoint_id label_endpoint, fedpp::endpoint_id feature_endpoint)
      : config({label_endpoint, feature_endpoint}, {o.cut_width, o.cut_width},
               o.combine == "sum" ? v::split_nn_combine::sum : v::split_nn_combine::concat, o.batch_size),
        bottom(o.bottom_hidden > 0 ? std::vector<std::size_t>{half_width, o.bottom_hidden, o.cut_width}
                                   : std::vector<std::size_t>{half_width, o.cut_width},
               true),
        top(o.top_hidden > 0 ? std::vector<std::size_t>{config.top_input_width(), o.top_hidden, 10}
                             : std::vector<std::size_t>{config.top_input_width(), 10},
            false) {}

  /// Initial parameters of party p's bottom model (p = 0, 1) or of the top model (p = 2).
  [[nodiscard]] std::vector<float> initial(const options& o, std::size_t p) const {
    const auto& m = p == 2 ? top : bottom;
    std::vector<float> params(m.num_parameters());
    m.initialize(params, fedpp::rng::for_stream(o.seed, 0x5b17 + p)());
    return params;
  }

  [[nodiscard]] std::size_t num_parameters() const {
    return 2 * bottom.num_parameters() + top.num_parameters();
  }
};

/// Party p's noise generator: from the OS, or seeded (--reproducible-noise).
inline fedpp::privacy::secure_rng noise_source(const options& o, std::size_t p) {
  if (o.reproducible_noise)
    return fedpp::privacy::secure_rng::reproducible(fedpp::privacy::reproducible_seed{o.seed * 1000003 + p});
  return fedpp::privacy::secure_rng();
}

inline std::vector<std::uint64_t> first_ids(std::size_t n) {
  std::vector<std::uint64_t> ids(n);
  std::iota(ids.begin(), ids.end(), std::uint64_t{0});
  return ids;
}

/// The label holder's party object.
inline v::split_nn_label_party<float> make_label_party(const options& o, const architecture& a) {
  v::split_nn_label_options lo;
  lo.learning_rate = o.lr;
  lo.gradient_noise = {o.grad_clip, o.grad_noise};
  lo.timeout = std::chrono::seconds(o.timeout_s);
  return {a.config, a.bottom, a.initial(o, 0), a.top, a.initial(o, 2), lo, noise_source(o, 0)};
}

/// The feature party's party object.
inline v::split_nn_feature_party<float> make_feature_party(const options& o, const architecture& a) {
  v::split_nn_feature_options fo;
  fo.learning_rate = o.lr;
  fo.activation_noise = {o.cut_clip, o.cut_noise};
  fo.timeout = std::chrono::seconds(o.timeout_s);
  return {a.config, 1, a.bottom, a.initial(o, 1), fo, noise_source(o, 1)};
}

/// The feature party's whole session over `t`: per epoch, training, then the test set's activations.
template <class Transport>
void run_feature_party(const options& o, const architecture& a, const party_data& d, Transport& t) {
  auto party = make_feature_party(o, a);
  const v::split_nn_schedule schedule(o.train_examples, o.batch_size, o.seed);
  const auto test_ids = first_ids(o.test_examples);
  for (std::uint32_t e = 0; e < o.epochs; ++e) {
    party.train_epoch(t, schedule, e, d.train_rows());
    party.evaluate(t, test_ids, d.test_rows());
  }
}

/// The label holder's session over `t`; prints one line per epoch and returns the final test
/// accuracy.
template <class Transport>
double run_label_party(const options& o, const architecture& a, const party_data& d, Transport& t) {
  auto party = make_label_party(o, a);
  const v::split_nn_schedule schedule(o.train_examples, o.batch_size, o.seed);
  const auto test_ids = first_ids(o.test_examples);
  double accuracy = 0;
  std::uint64_t train_bytes = 0, eval_bytes = 0;
  const auto bytes = [&] { return t.bytes_sent() + t.bytes_received(); };
  const auto start = std::chrono::steady_clock::now();
  for (std::uint32_t e = 0; e < o.epochs; ++e) {
    const auto b0 = bytes();
    const auto train = party.train_epoch(t, schedule, e, d.train_rows(), d.train_labels);
    const auto b1 = bytes();
    const auto test = party.evaluate(t, test_ids, d.test_rows(), d.test_labels);
    const auto b2 = bytes();
    train_bytes += b1 - b0;
    eval_bytes += b2 - b1;
    accuracy = test.accuracy();
    std::printf(
        "split: epoch %u: train loss %.4f, train accuracy %.4f, test accuracy %.4f, %.2f MiB exchanged in "
        "training\n",
        e + 1, train.mean_loss(), train.accuracy(), accuracy, static_cast<double>(b1 - b0) / 1048576.0);
    std::fflush(stdout);
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("split: final test accuracy %.4f after %u epochs (%.1f s); bytes per training epoch %.2f MiB "
              "(%.0f bytes), per evaluation of %u images %.2f MiB\n",
              accuracy, o.epochs, seconds, static_cast<double>(train_bytes) / o.epochs / 1048576.0,
              static_cast<double>(train_bytes) / o.epochs, o.test_examples,
              static_cast<double>(eval_bytes) / o.epochs / 1048576.0);
  return accuracy;
}

/// Softmax cross-entropy of the logits z (n × 10) against y: z becomes the gradient of the batch
/// mean, (softmax(z) − onehot(y)) / n (the arithmetic of the label holder's loss).
inline void softmax_gradient(std::span<float> z, std::size_t n, std::span<const std::uint8_t> y) {
  const float inv_n = 1.0F / static_cast<float>(n);
  for (std::size_t r = 0; r < n; ++r) {
    float* row = z.data() + r * 10;
    const float m = *std::max_element(row, row + 10);
    float s = 0;
    for (std::size_t j = 0; j < 10; ++j) {
      row[j] = std::exp(row[j] - m);
      s += row[j];
    }
    const float k = inv_n / s;
    for (std::size_t j = 0; j < 10; ++j) row[j] *= k;
    row[y[r]] -= inv_n;
  }
}

/// Rows of z (n × 10) whose first largest logit is the label.
inline std::size_t count_correct(std::span<const float> z, std::size_t n, std::span<const std::uint8_t> y) {
  std::size_t correct = 0;
  for (std::size_t r = 0; r < n; ++r) {
    const float* row = z.data() + r * 10;
    correct += static_cast<std::size_t>(std::max_element(row, row + 10) - row) == y[r] ? 1 : 0;
  }
  return correct;
}

/// Trains the same network without a cut, in one process with both halves (parties = 2), or the
/// label holder's half alone (parties = 1: its bottom model and a top model over its cut layer):
/// the same initial parameters, batch order, learning rate and arithmetic as the split run.
/// Returns the final test accuracy.
inline double run_central(const options& o, const job_data& data, std::size_t parties) {
  const architecture a(o, 0, 1);
  const std::size_t k = o.cut_width, top_w = parties == 2 ? a.config.top_input_width() : k;
  const v::split_nn_mlp<float> top(o.top_hidden > 0 ? std::vector<std::size_t>{top_w, o.top_hidden, 10}
                                                    : std::vector<std::size_t>{top_w, 10},
                                   false);
  const bool concat = a.config.combine() == v::split_nn_combine::concat;
  std::vector<std::vector<float>> bp{a.initial(o, 0), a.initial(o, 1)};
  std::vector<float> tp(top.num_parameters());
  if (parties == 2)
    tp = a.initial(o, 2);
  else
    top.initialize(tp, fedpp::rng::for_stream(o.seed, 0x5b17 + 2)());
  const party_data* halves[2] = {&data.left, &data.right};
  std::vector<typename v::split_nn_mlp<float>::workspace> bws(2);
  typename v::split_nn_mlp<float>::workspace tws;
  std::vector<float> x[2], z, dz, gb[2], gt, dh;
  std::vector<std::uint8_t> y;
  const auto forward = [&](std::span<const std::uint64_t> ids, bool test) {
    const std::size_t n = ids.size();
    z.assign(n * top_w, 0.0F);
    for (std::size_t p = 0; p < parties; ++p) {
      const auto rows = test ? halves[p]->test_rows() : halves[p]->train_rows();
      rows.gather(ids, x[p]);
      const auto h = a.bottom.forward(bp[p], n, x[p].data(), half_width, bws[p]);
      const std::size_t off = concat ? p * k : 0;
      for (std::size_t r = 0; r < n; ++r)
        for (std::size_t j = 0; j < k; ++j) z[r * top_w + off + j] += h[r * k + j];
    }
    const auto& labels = test ? data.left.test_labels : data.left.train_labels;
    y.resize(n);
    for (std::size_t r = 0; r < n; ++r) y[r] = labels[ids[r]];
    return top.forward(tp, n, z.data(), top_w, tws);
  };
  const v::split_nn_schedule schedule(o.train_examples, o.batch_size, o.seed);
  const auto test_ids = first_ids(o.test_examples);
  const auto lr = static_cast<float>(o.lr);
  double accuracy = 0;
  for (std::uint32_t e = 0; e < o.epochs; ++e) {
    const auto order = schedule.epoch_order(e);
    for (std::size_t b = 0; b < schedule.num_batches(); ++b) {
      const auto ids = schedule.batch(order, b);
      const std::size_t n = ids.size();
      const auto logits = forward(ids, false);
      std::vector<float> dl(logits.begin(), logits.end());
      softmax_gradient(dl, n, y);
      gt.resize(tp.size());
      dz.resize(n * top_w);
      top.backward(tp, n, z.data(), top_w, dl, gt, dz, tws);
      for (std::size_t p = 0; p < parties; ++p) {
        const std::size_t off = concat ? p * k : 0;
        dh.resize(n * k);
        for (std::size_t r = 0; r < n; ++r)
          for (std::size_t j = 0; j < k; ++j) dh[r * k + j] = dz[r * top_w + off + j];
        gb[p].resize(bp[p].size());
        a.bottom.backward(bp[p], n, x[p].data(), half_width, dh, gb[p], {}, bws[p]);
      }
      for (std::size_t i = 0; i < tp.size(); ++i) tp[i] -= lr * gt[i];
      for (std::size_t p = 0; p < parties; ++p)
        for (std::size_t i = 0; i < bp[p].size(); ++i) bp[p][i] -= lr * gb[p][i];
    }
    std::size_t correct = 0;
    for (std::size_t first = 0; first < test_ids.size(); first += o.batch_size) {
      const auto ids = std::span<const std::uint64_t>(test_ids).subspan(
          first, std::min<std::size_t>(o.batch_size, test_ids.size() - first));
      const auto logits = forward(ids, true);
      correct += count_correct(logits, ids.size(), y);
    }
    accuracy = static_cast<double>(correct) / static_cast<double>(test_ids.size());
  }
  return accuracy;
}

} // namespace split_job
