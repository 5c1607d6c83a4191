// Example 20: vertical logistic regression on the breast cancer Wisconsin (diagnostic) data —
// entity alignment by PSI (fedpp/vertical/psi.hpp), then FATE's hetero-LR with Paillier
// (fedpp/vertical/hetero_lr.hpp). The guest (label holder) holds features 0-9 and the label, the
// host features 10-29, as FATE's breast_hetero_guest/host examples split them; each holds its
// rows under ids in its own order (the host shuffled, each with --extra ids the other lacks).
//
//   20_vertical_lr                          1024-bit key, 30 epochs
//   20_vertical_lr --key-bits 2048 --epochs 10
//
// After PSI, the aligned rows are split into train/test by a seeded permutation (--test-fraction);
// each party standardises its own columns with its own training mean and deviation. The run prints
// each epoch's Taylor loss and time, bytes exchanged, and test accuracy/AUC of the vertical model
// beside the same model trained centrally (Taylor loss: the protocol's arithmetic; exact logistic
// loss) for as many epochs. Exits 1 unless the vertical model is within 1 point of the central
// Taylor model's accuracy and AUC.
#include "example_cli.hpp"

#include "fedpp/audit/roc.hpp"
#include "fedpp/parallel/thread_pool.hpp"
#include "fedpp/random/rng.hpp"
#include "fedpp/simulation/breast_cancer_csv.hpp"
#include "fedpp/transport/in_process_transport.hpp"
#include "fedpp/vertical/hetero_lr.hpp"
#include "fedpp/vertical/psi.hpp"

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
  std::string csv;
  std::uint32_t key_bits = 1024;
  std::uint32_t epochs = 30;
  std::uint32_t batch = 64;
  double lr = 0.15;
  std::string schedule = "sqrt";
  double decay = 1.0;
  double l2 = 0.01;
  double tolerance = 0;
  double test_fraction = 0.2;
  std::uint32_t extra = 50;
  std::uint32_t threads = std::max(1U, std::min(4U, std::thread::hardware_concurrency()));
  std::uint64_t seed = 1;
};

// Columns [first, first + count) of the data, rows in `order`, standardised with the mean and
// deviation of the rows flagged train.
hetero_lr_features party_columns(const fedpp::simulation::breast_cancer_data& d,
                                 std::span<const std::size_t> order, std::size_t first, std::size_t count,
                                 const std::vector<bool>& train) {
  hetero_lr_features f{order.size(), count, std::vector<double>(order.size() * count)};
  for (std::size_t k = 0; k < order.size(); ++k)
    for (std::size_t j = 0; j < count; ++j) f.x[k * count + j] = d.x[order[k] * d.features + first + j];
  for (std::size_t j = 0; j < count; ++j) {
    double mean = 0, n = 0;
    for (std::size_t k = 0; k < f.rows; ++k)
      if (train[k]) mean += f.x[k * count + j], n += 1;
    mean /= n;
    double var = 0;
    for (std::size_t k = 0; k < f.rows; ++k)
      if (train[k]) var += (f.x[k * count + j] - mean) * (f.x[k * count + j] - mean);
    const double sd = std::sqrt(var / n) > 0 ? std::sqrt(var / n) : 1.0;
    for (std::size_t k = 0; k < f.rows; ++k) f.x[k * count + j] = (f.x[k * count + j] - mean) / sd;
  }
  return f;
}

hetero_lr_features select_rows(const hetero_lr_features& f, const std::vector<std::size_t>& rows) {
  hetero_lr_features out{rows.size(), f.columns, {}};
  for (std::size_t r : rows) out.x.insert(out.x.end(), f.row(r), f.row(r) + f.columns);
  return out;
}

struct scores {
  double accuracy = 0, auc = 0;
};

scores evaluate(std::span<const double> prob, std::span<const int> labels) {
  std::vector<std::uint8_t> positive(labels.size());
  std::size_t correct = 0;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    positive[i] = labels[i] == 1 ? 1 : 0;
    correct += (prob[i] >= 0.5) == (labels[i] == 1) ? 1 : 0;
  }
  return {static_cast<double>(correct) / static_cast<double>(labels.size()),
          fedpp::audit::roc_auc(prob, positive)};
}

std::vector<double> central_predict(const std::vector<double>& w, const hetero_lr_features& x) {
  std::vector<double> p(x.rows);
  for (std::size_t i = 0; i < x.rows; ++i) {
    double wx = w.back();
    for (std::size_t j = 0; j < x.columns; ++j) wx += w[j] * x.row(i)[j];
    p[i] = 1.0 / (1.0 + std::exp(-wx));
  }
  return p;
}

int run(const settings& s) {
  const auto data = fedpp::simulation::load_breast_cancer_csv(s.csv);
  if (data.features != 30 || data.class_names.size() != 2)
    throw fedpp::invalid_config("expected 30 features and 2 classes (the breast cancer data), got " +
                                std::to_string(data.features) + " and " +
                                std::to_string(data.class_names.size()));
  // Ids: the guest holds rows 0..N-1 as "patient-<row>" plus --extra of its own; the host the
  // same patients in a shuffled order plus --extra others.
  const std::size_t n = data.rows;
  std::vector<std::string> guest_ids, host_ids;
  for (std::size_t i = 0; i < n; ++i) guest_ids.push_back("patient-" + std::to_string(i));
  for (std::uint32_t e = 0; e < s.extra; ++e) guest_ids.push_back("guest-only-" + std::to_string(e));
  std::vector<std::size_t> host_order(n);
  std::iota(host_order.begin(), host_order.end(), std::size_t{0});
  fedpp::rng gen(s.seed ^ 0x5a5aULL);
  for (std::size_t i = n; i > 1; --i) std::swap(host_order[i - 1], host_order[gen.below(i)]);
  for (std::size_t r : host_order) host_ids.push_back("patient-" + std::to_string(r));
  for (std::uint32_t e = 0; e < s.extra; ++e) host_ids.push_back("host-only-" + std::to_string(e));

  fedpp::in_process_transport hub;
  const fedpp::endpoint_id guest_id = 1000, host_id = 1;
  psi_options po;
  po.session = 1;
  auto host_psi = std::async(std::launch::async, [&] {
    auto t = hub.endpoint(host_id);
    random_source rng;
    return run_psi_responder(t, guest_id, host_ids, po, rng);
  });
  auto tg = hub.endpoint(guest_id);
  random_source psi_rng;
  const psi_result guest_rows = run_psi_initiator(tg, host_id, guest_ids, po, psi_rng);
  const psi_result host_rows = host_psi.get();
  bool aligned = guest_rows.rows.size() == n && host_rows.rows.size() == n;
  for (std::size_t k = 0; aligned && k < n; ++k)
    aligned = guest_ids[guest_rows.rows[k]] == host_ids[host_rows.rows[k]];
  if (!aligned) {
    std::printf("ALIGNMENT MISMATCH\n");
    return 1;
  }
  std::printf(
      "PSI: guest %zu ids, host %zu ids, %zu shared; alignment verified (%llu bytes from the guest)\n",
      guest_ids.size(), host_ids.size(), guest_rows.rows.size(),
      static_cast<unsigned long long>(tg.bytes_sent()));
  // Each party's data rows in the aligned order (the guest's row k is the host's row k).
  std::vector<std::size_t> g_data(n), h_data(n);
  for (std::size_t k = 0; k < n; ++k) {
    g_data[k] = guest_rows.rows[k];            // guest id row = data row
    h_data[k] = host_order[host_rows.rows[k]]; // host id row -> its data row
  }
  // Train/test split of the aligned rows (a seeded permutation both parties can draw).
  std::vector<std::size_t> perm(n);
  std::iota(perm.begin(), perm.end(), std::size_t{0});
  fedpp::rng split_gen(s.seed);
  for (std::size_t i = n; i > 1; --i) std::swap(perm[i - 1], perm[split_gen.below(i)]);
  const auto n_test = static_cast<std::size_t>(std::lround(s.test_fraction * static_cast<double>(n)));
  std::vector<bool> is_train(n, true);
  std::vector<std::size_t> train_rows, test_rows;
  for (std::size_t k = 0; k < n; ++k) (k < n_test ? test_rows : train_rows).push_back(perm[k]);
  for (std::size_t r : test_rows) is_train[r] = false;
  std::sort(train_rows.begin(), train_rows.end());
  std::sort(test_rows.begin(), test_rows.end());

  const auto guest_all = party_columns(data, g_data, 0, 10, is_train);
  const auto host_all = party_columns(data, h_data, 10, 20, is_train);
  std::vector<int> labels(n);
  for (std::size_t k = 0; k < n; ++k) labels[k] = data.labels[g_data[k]] == 1 ? 0 : 1; // positive = malignant
  std::vector<int> train_labels, test_labels;
  for (std::size_t r : train_rows) train_labels.push_back(labels[r]);
  for (std::size_t r : test_rows) test_labels.push_back(labels[r]);

  hetero_lr_options o;
  o.batch_size = s.batch;
  o.max_epochs = s.epochs;
  o.learning_rate = s.lr;
  o.schedule = s.schedule == "constant"  ? hetero_lr_schedule_kind::constant
               : s.schedule == "inverse" ? hetero_lr_schedule_kind::inverse
                                         : hetero_lr_schedule_kind::inverse_sqrt;
  o.decay = s.decay;
  o.l2 = s.l2;
  o.tolerance = s.tolerance;
  o.seed = s.seed;
  o.session = 2;
  fedpp::parallel::thread_pool guest_pool(s.threads), host_pool(s.threads);

  const auto keygen_start = std::chrono::steady_clock::now();
  auto keys = generate_paillier_keypair(s.key_bits);
  const double keygen_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - keygen_start).count();
  std::printf(
      "hetero-LR: %zu training rows (guest 10 columns + label, host 20 columns), %zu test rows, %u-bit key "
      "(generated in %.2f s), batch %u, %u thread(s) per party\n",
      train_rows.size(), test_rows.size(), s.key_bits, keygen_seconds, s.batch, s.threads);

  o.pool = &host_pool;
  hetero_lr_host host(select_rows(host_all, train_rows), o, random_source());
  host.set_prediction_features(select_rows(host_all, test_rows)); // the host's columns of the test rows
  paillier_wire::key_limits limits;
  limits.min_bits = s.key_bits;
  auto host_run = std::async(std::launch::async, [&] {
    auto t = hub.endpoint(host_id);
    run_hetero_lr_host(t, guest_id, host, limits);
  });
  o.pool = &guest_pool;
  hetero_lr_guest guest(select_rows(guest_all, train_rows), train_labels, 1, o, std::move(keys),
                        random_source());
  const std::vector<fedpp::endpoint_id> hosts{host_id};
  const std::uint64_t bytes_before = tg.bytes_sent() + tg.bytes_received();
  const auto report = run_hetero_lr_guest(tg, hosts, guest);
  for (std::size_t e = 0; e < report.epochs; ++e)
    std::printf("epoch %2zu  loss %.5f  %.3f s\n", e + 1, report.losses[e], report.epoch_seconds[e]);
  const std::uint64_t train_bytes = tg.bytes_sent() + tg.bytes_received() - bytes_before;
  // Prediction on the aligned test rows: the host sends wx_h of each, the guest adds its part.
  const auto prob = hetero_lr_predict(tg, hosts, guest, select_rows(guest_all, test_rows));
  hetero_lr_finish(tg, hosts, guest);
  host_run.get();
  const scores vertical = evaluate(prob, test_labels);

  // The same model centrally: all 30 columns per row.
  auto join = [&](const std::vector<std::size_t>& rows) {
    hetero_lr_features all{rows.size(), 30, {}};
    for (std::size_t r : rows) {
      all.x.insert(all.x.end(), guest_all.row(r), guest_all.row(r) + 10);
      all.x.insert(all.x.end(), host_all.row(r), host_all.row(r) + 20);
    }
    return all;
  };
  const auto central_train = join(train_rows), central_test = join(test_rows);
  const auto w_taylor = hetero_lr_central(central_train, train_labels, o, report.epochs, true);
  const auto w_exact = hetero_lr_central(central_train, train_labels, o, report.epochs, false);
  const scores taylor = evaluate(central_predict(w_taylor, central_test), test_labels);
  const scores exact = evaluate(central_predict(w_exact, central_test), test_labels);
  double max_diff = std::fabs(guest.intercept() - w_taylor.back());
  for (std::size_t j = 0; j < 10; ++j)
    max_diff = std::max(max_diff, std::fabs(guest.weights()[j] - w_taylor[j]));
  for (std::size_t j = 0; j < 20; ++j)
    max_diff = std::max(max_diff, std::fabs(host.weights()[j] - w_taylor[10 + j]));

  double mean_epoch = 0;
  for (double v : report.epoch_seconds) mean_epoch += v;
  mean_epoch /= static_cast<double>(report.epochs);
  std::printf(
      "epochs: %zu (%s); time per epoch %.3f s; bytes exchanged in training %llu (%.1f KiB per epoch)\n",
      report.epochs, report.converged ? "converged" : "epoch limit", mean_epoch,
      static_cast<unsigned long long>(train_bytes),
      static_cast<double>(train_bytes) / 1024.0 / static_cast<double>(report.epochs));
  std::printf("test accuracy / AUC: vertical %.4f / %.4f; central Taylor %.4f / %.4f; central exact logistic "
              "%.4f / %.4f\n",
              vertical.accuracy, vertical.auc, taylor.accuracy, taylor.auc, exact.accuracy, exact.auc);
  std::printf("largest weight difference vertical vs central Taylor: %.3g\n", max_diff);
  const bool ok =
      std::fabs(vertical.accuracy - taylor.accuracy) <= 0.01 && std::fabs(vertical.auc - taylor.auc) <= 0.01;
  std::printf(ok ? "vertical LR within 1 point of the central model\n"
                 : "VERTICAL LR MORE THAN 1 POINT FROM THE CENTRAL MODEL\n");
  return ok ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
  settings s;
  example_cli::command_line cli(
      "20_vertical_lr: PSI alignment, then vertical logistic regression with Paillier "
      "(FATE's hetero-LR) on the breast cancer data");
  cli.text("--csv", s.csv, "breast_cancer.csv (default: $FEDPP_BREAST_CANCER_CSV or python3-sklearn's file)");
  cli.count("--key-bits", s.key_bits, "Paillier key size (even)", 256U, 4096U);
  cli.count("--epochs", s.epochs, "epochs at most", 1U, 10000U);
  cli.count("--batch", s.batch, "mini-batch size", 1U, 512U);
  cli.real("--lr", s.lr, "initial learning rate", example_cli::within::closed(1e-6, 10));
  cli.choice("--schedule", s.schedule, "learning-rate schedule: lr, lr/(1+decay t) or lr/sqrt(1+decay t)",
             {"constant", "inverse", "sqrt"});
  cli.real("--decay", s.decay, "decay of the schedule", example_cli::within::closed(0, 100));
  cli.real("--l2", s.l2, "L2 penalty", example_cli::within::closed(0, 10));
  cli.real("--tolerance", s.tolerance, "stop when the epoch loss changes by less (0: run every epoch)",
           example_cli::within::closed(0, 1));
  cli.real("--test-fraction", s.test_fraction, "share of the aligned rows held out",
           example_cli::within::closed(0.05, 0.5));
  cli.count("--extra", s.extra, "ids each party holds that the other does not", 0U, 100000U);
  cli.count("--threads", s.threads, "threads per party", 1U, 256U);
  cli.count("--seed", s.seed, "seed of the host's id order, the split and the batches", std::uint64_t{0},
            std::uint64_t{1} << 62);
  cli.check([&] {
    if (s.key_bits % 2 != 0) example_cli::refuse("--key-bits", std::to_string(s.key_bits) + " is odd");
    if (s.schedule == "constant" && cli.app().get_option("--decay")->count() > 0)
      example_cli::refuse("--decay", "does not apply to --schedule constant");
  });
  if (const auto status = cli.parse(argc, argv)) return *status;
  return example_cli::guarded([&] { return run(s); });
}
