// Server checkpoints (orchestration/checkpoint.hpp): a federation stopped after k rounds, saved,
// restored into a freshly built server and continued ends bit-identical to one that never stopped
// (server SGD, FedAdam, FedAvgM, central DP with adaptive clipping, SCAFFOLD with the clients'
// controls); every refusal (truncation at every length, a flipped byte anywhere, magic, version,
// another layout / seed / optimizer / hooks setting, non-finite values, non-canonical fields, a
// missing or oversized file) names the problem and leaves the server exactly unchanged.
#include "fedpp/aggregation/scaffold_aggregator.hpp"
#include "fedpp/aggregation/scaffold_client.hpp"
#include "fedpp/aggregation/scaffold_control_store.hpp"
#include "fedpp/optim/fedopt.hpp"
#include "fedpp/optim/scaffold_server_optimizer.hpp"
#include "fedpp/optim/server_momentum.hpp"
#include "fedpp/orchestration/checkpoint.hpp"
#include "fedpp/orchestration/in_process_federation.hpp"
#include "fedpp/orchestration/server.hpp"
#include "fedpp/privacy/central_dp_hooks.hpp"
#include "fedpp/random/rng.hpp"
#include "fedpp/scheduling/poisson_sampler.hpp"
#include "fedpp/scheduling/uniform_sampler.hpp"
#include "fedpp/transport/detail/crc32c.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using fedpp::client_id;
using bytes_t = std::vector<std::byte>;

constexpr std::size_t inputs = 4, outputs = 3;
constexpr std::size_t num_clients = 10;

fedpp::model_layout layout() {
  fedpp::model_layout l;
  l.add("w", {inputs, outputs}).add("b", {outputs});
  return l;
}
std::size_t model_size() { return layout().total_size(); }

std::vector<client_id> client_ids() {
  std::vector<client_id> ids(num_clients);
  for (client_id c = 0; c < num_clients; ++c) ids[c] = c;
  return ids;
}

// Client k's data: a linear regression task of its own (non-IID), drawn from a fixed stream.
struct client_data {
  std::size_t n = 0;
  std::vector<float> x, y;
};
client_data data_of(client_id k) {
  fedpp::rng gen = fedpp::rng::for_stream(2024, k);
  client_data d;
  d.n = 12 + k % 5;
  d.x.resize(d.n * inputs);
  d.y.resize(d.n * outputs);
  for (std::size_t i = 0; i < d.n; ++i) {
    for (std::size_t j = 0; j < inputs; ++j) d.x[i * inputs + j] = static_cast<float>(2 * gen.uniform() - 1);
    for (std::size_t o = 0; o < outputs; ++o) {
      double v = 0.2 * static_cast<double>(o) - 0.1 + 0.05 * gen.uniform();
      for (std::size_t j = 0; j < inputs; ++j)
        v += d.x[i * inputs + j] * (0.5 * static_cast<double>(j + 1) - 0.3 * static_cast<double>(o) +
                                    0.2 * static_cast<double>(k % 3));
      d.y[i * outputs + o] = static_cast<float>(v);
    }
  }
  return d;
}

// The mean-squared-error gradient of (w, b) on the client's data, into `grad`.
void gradient(std::span<const float> params, const client_data& d, std::span<float> grad) {
  std::fill(grad.begin(), grad.end(), 0.F);
  const float scale = 2.F / static_cast<float>(d.n);
  for (std::size_t i = 0; i < d.n; ++i)
    for (std::size_t o = 0; o < outputs; ++o) {
      float pred = params[inputs * outputs + o];
      for (std::size_t j = 0; j < inputs; ++j) pred += params[j * outputs + o] * d.x[i * inputs + j];
      const float err = scale * (pred - d.y[i * outputs + o]);
      for (std::size_t j = 0; j < inputs; ++j) grad[j * outputs + o] += err * d.x[i * inputs + j];
      grad[inputs * outputs + o] += err;
    }
}

constexpr std::size_t local_steps = 3;

// Plain local training: local_epochs × 3 gradient steps; uploads weights.
struct linear_trainer {
  fedpp::client_result<float> operator()(client_id id, const fedpp::host_model_view<const float>& global,
                                         const fedpp::round_config& config) const {
    auto model = fedpp::flat_model<float>::copy_of(global);
    const client_data d = data_of(id);
    std::vector<float> grad(model.size());
    for (std::size_t s = 0; s < local_steps * config.local_epochs; ++s) {
      gradient(model.span(), d, grad);
      for (std::size_t i = 0; i < grad.size(); ++i)
        model.span()[i] -= static_cast<float>(config.learning_rate) * grad[i];
    }
    return {std::move(model),
            fedpp::update_kind::weights,
            static_cast<double>(d.n),
            {{"n", static_cast<double>(d.n)}}};
  }
};

// SCAFFOLD local training on the doubled model (x, c): corrected steps, then (Δy, Δc); c_i in `store`.
struct scaffold_trainer {
  fedpp::scaffold_control_store<float>* store;
  fedpp::client_result<float> operator()(client_id id, const fedpp::host_model_view<const float>& global,
                                         const fedpp::round_config& config) const {
    const auto doubled = fedpp::flat_model<float>::copy_of(global);
    const std::size_t d = doubled.size() / 2;
    const std::span<const float> x = doubled.span().first(d), c = doubled.span().subspan(d);
    std::vector<float> ci = store->get(id);
    const fedpp::scaffold_client<float> client(c, ci);
    const client_data data = data_of(id);
    std::vector<float> y(x.begin(), x.end()), grad(d);
    for (std::size_t s = 0; s < local_steps; ++s) {
      gradient(y, data, grad);
      client.correct(grad);
      for (std::size_t i = 0; i < d; ++i) y[i] -= static_cast<float>(config.learning_rate) * grad[i];
    }
    fedpp::flat_model<float> upload(doubled.layout());
    client.finish(x, y, local_steps, config.learning_rate, ci, upload.span());
    store->put(id, ci);
    return {std::move(upload), fedpp::update_kind::delta, static_cast<double>(data.n), {}};
  }
};

fedpp::server_options base_options(std::uint64_t seed = 5) {
  fedpp::server_options o;
  o.seed = seed;
  o.client_config.learning_rate = 0.05;
  o.client_lr_decay = 0.97; // the round number matters to the clients
  return o;
}

using sgd_server = fedpp::server<float, fedpp::uniform_sampler>;
using adam_server = fedpp::server<float, fedpp::uniform_sampler, fedpp::fedadam<float>>;
using momentum_server = fedpp::server<float, fedpp::uniform_sampler, fedpp::server_momentum<float>>;
using dp_hooks = fedpp::privacy::central_dp_hooks<float>;
using dp_server = fedpp::server<float, fedpp::poisson_sampler, fedpp::server_sgd<float>, fedpp::fedavg<float>,
                                fedpp::wall_clock_availability, dp_hooks>;
using scaffold_optimizer = fedpp::scaffold_server_optimizer<fedpp::server_sgd<float>>;
using scaffold_server =
    fedpp::server<float, fedpp::uniform_sampler, scaffold_optimizer, fedpp::scaffold_aggregator<float>>;
using control_store = fedpp::scaffold_control_store<float>;

sgd_server make_sgd(std::uint64_t seed = 5, double eta = 0.7) {
  return sgd_server(fedpp::flat_model<float>(layout()), fedpp::uniform_sampler(num_clients, 4),
                    fedpp::server_sgd<float>(eta), base_options(seed));
}
fedpp::fedopt_params adam_params(double eta = 0.05) { return {eta, 0.9, 0.99, 1e-3}; }
adam_server make_adam(double eta = 0.05) {
  return adam_server(fedpp::flat_model<float>(layout()), fedpp::uniform_sampler(num_clients, 4),
                     fedpp::fedadam<float>(model_size(), adam_params(eta)), base_options());
}
momentum_server make_momentum() {
  return momentum_server(fedpp::flat_model<float>(layout()), fedpp::uniform_sampler(num_clients, 4),
                         fedpp::server_momentum<float>(model_size(), 1.0, 0.9), base_options());
}
fedpp::privacy::central_dp_options dp_options() {
  fedpp::privacy::central_dp_options o;
  o.noise_multiplier = 0.5;
  o.clip_norm = 1.0;
  o.sampling_rate = 0.5;
  o.population = num_clients;
  return o;
}
dp_server make_dp(bool adaptive = true, std::vector<double> orders = fedpp::privacy::default_rdp_orders()) {
  std::optional<fedpp::privacy::adaptive_clipping> clipping;
  if (adaptive) clipping.emplace(1.0, 0.5, 0.2, 1.0);
  return dp_server(
      fedpp::flat_model<float>(layout()), fedpp::poisson_sampler(num_clients, 0.5), {}, base_options(), {},
      dp_hooks(dp_options(), layout(),
               fedpp::privacy::secure_rng::reproducible(fedpp::privacy::reproducible_seed{9}),
               fedpp::privacy::rdp_accountant(std::move(orders)), clipping),
      [](const fedpp::model_layout& l) { return fedpp::fedavg<float>(l, fedpp::weighting::uniform); });
}
scaffold_server make_scaffold() {
  const auto doubled = fedpp::scaffold_layout(layout());
  return scaffold_server(
      fedpp::flat_model<float>(doubled), fedpp::uniform_sampler(num_clients, 4),
      scaffold_optimizer(model_size(), fedpp::server_sgd<float>(1.0)), base_options(), {}, {},
      [](const fedpp::model_layout& l) { return fedpp::scaffold_aggregator<float>(l, num_clients); });
}

// One host thread serves every client in the order the model was sent: the reports reach the
// server in a fixed order, so a run is a pure function of its seeds.
template <class Trainer = linear_trainer>
struct federation {
  explicit federation(const fedpp::model_layout& l, Trainer t = Trainer{}) : fed(client_ids(), t, l, 1) {}
  fedpp::in_process_federation<float, Trainer> fed;
  fedpp::in_process_endpoint& endpoint() { return fed.server_endpoint(); }
};

template <class Server, class Endpoint>
void run(Server& s, Endpoint& endpoint, std::size_t rounds, bool must_succeed = true) {
  for (std::size_t r = 0; r < rounds; ++r) {
    const fedpp::round_metrics m = s.run_round(endpoint);
    if (must_succeed) {
      ASSERT_TRUE(m.succeeded) << "round " << m.round;
    }
  }
}

bytes_t model_bytes(const fedpp::flat_model<float>& m) {
  const auto b = std::as_bytes(m.span());
  return {b.begin(), b.end()};
}

// A fresh folder per test, removed at the end.
class CheckpointFiles : public ::testing::Test {
protected:
  void SetUp() override {
    dir_ =
        fs::temp_directory_path() /
        ("fedpp_checkpoint_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) +
         "_" + std::to_string(fedpp::rng(static_cast<std::uint64_t>(std::time(nullptr)))()));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  fs::path file(const std::string& name) const { return dir_ / name; }
  fs::path dir_;
};

void write_bytes(const fs::path& p, std::span<const std::byte> b) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}
bytes_t read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::vector<char> c((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  bytes_t b(c.size());
  std::memcpy(b.data(), c.data(), c.size());
  return b;
}

// Recomputes the CRC-32C trailer after an edit, so that the checks behind the checksum are reached.
void reseal(bytes_t& b) {
  const std::uint32_t crc = fedpp::detail::crc32c(std::span<const std::byte>(b).first(b.size() - 4));
  for (std::size_t i = 0; i < 4; ++i) b[b.size() - 4 + i] = static_cast<std::byte>((crc >> (8 * i)) & 0xffU);
}
void put_u32(bytes_t& b, std::size_t at, std::uint32_t v) {
  for (std::size_t i = 0; i < 4; ++i) b[at + i] = static_cast<std::byte>((v >> (8 * i)) & 0xffU);
}
void put_u64(bytes_t& b, std::size_t at, std::uint64_t v) {
  for (std::size_t i = 0; i < 8; ++i) b[at + i] = static_cast<std::byte>((v >> (8 * i)) & 0xffU);
}
std::uint64_t get_u64(const bytes_t& b, std::size_t at) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < 8; ++i) v |= std::to_integer<std::uint64_t>(b[at + i]) << (8 * i);
  return v;
}
// Offset of section i's header (tag), walking the directory of a well-formed checkpoint.
std::size_t section_at(const bytes_t& b, std::size_t index) {
  std::size_t at = fedpp::checkpoint_format::header_bytes;
  for (std::size_t i = 0; i < index; ++i) at += 16 + static_cast<std::size_t>(get_u64(b, at + 8));
  return at;
}
std::size_t payload_at(const bytes_t& b, std::size_t index) { return section_at(b, index) + 16; }

// Expects `restore` to throw E whose message contains `needle`, and `state()` to be unchanged.
template <class E>
void expect_refused(const std::function<void()>& restore, const std::function<bytes_t()>& state,
                    const std::string& needle, const std::string& what = "") {
  const bytes_t before = state();
  bool threw = false;
  try {
    restore();
  } catch (const E& e) {
    threw = true;
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos)
        << what << ": message \"" << e.what() << "\" lacks \"" << needle << "\"";
  } catch (const std::exception& e) {
    ADD_FAILURE() << what << ": unexpected exception type: " << e.what();
  }
  EXPECT_TRUE(threw) << what << ": not refused";
  EXPECT_TRUE(state() == before) << what << ": the state changed";
}

// ---------------------------------------------------------------------------------------------
// Resume: bit-identical to a run that never stopped.

constexpr std::size_t total_rounds = 8, stop_after = 3;

template <class Make, class Compare>
void expect_resume_identical(const fs::path& path, Make make, Compare compare, bool must_succeed = true) {
  auto straight = make();
  {
    federation<> fed(straight.layout());
    run(straight, fed.endpoint(), total_rounds, must_succeed);
  }
  {
    auto first = make();
    federation<> fed(first.layout());
    run(first, fed.endpoint(), stop_after, must_succeed);
    fedpp::save_checkpoint(first, path);
  } // the first process is gone
  auto resumed = make();
  fedpp::restore_checkpoint(resumed, path);
  EXPECT_EQ(resumed.round(), stop_after);
  {
    federation<> fed(resumed.layout());
    run(resumed, fed.endpoint(), total_rounds - stop_after, must_succeed);
  }
  EXPECT_EQ(resumed.round(), straight.round());
  EXPECT_EQ(model_bytes(resumed.model()), model_bytes(straight.model()));
  compare(straight, resumed);
  EXPECT_EQ(fedpp::checkpoint_bytes(resumed), fedpp::checkpoint_bytes(straight)); // every saved byte
  // The model moved: the test compares a real run, not two untouched models.
  EXPECT_NE(model_bytes(straight.model()), model_bytes(fedpp::flat_model<float>(straight.layout())));
}

TEST_F(CheckpointFiles, ResumeIsBitIdenticalServerSgd) {
  expect_resume_identical(
      file("sgd.ckpt"), [] { return make_sgd(); }, [](const auto&, const auto&) {});
}

TEST_F(CheckpointFiles, ResumeIsBitIdenticalFedAdam) {
  expect_resume_identical(
      file("adam.ckpt"), [] { return make_adam(); },
      [](const auto& a, const auto& b) {
        EXPECT_EQ(a.optimizer().steps(), total_rounds);
        EXPECT_EQ(b.optimizer().steps(), total_rounds);
        EXPECT_EQ(a.optimizer().to_bytes(), b.optimizer().to_bytes()); // m, v and the step count
      });
}

TEST_F(CheckpointFiles, ResumeIsBitIdenticalFedAvgM) {
  expect_resume_identical(
      file("momentum.ckpt"), [] { return make_momentum(); },
      [](const auto& a, const auto& b) { EXPECT_EQ(a.optimizer().to_bytes(), b.optimizer().to_bytes()); });
}

// Central DP: the noise generator, the accountant and the adaptive bound continue where they were.
TEST_F(CheckpointFiles, ResumeIsBitIdenticalCentralDp) {
  expect_resume_identical(
      file("dp.ckpt"), [] { return make_dp(); },
      [](const auto& a, const auto& b) {
        EXPECT_EQ(a.hooks().accountant().steps(), total_rounds);
        EXPECT_EQ(a.hooks().accountant().rdp(), b.hooks().accountant().rdp());
        EXPECT_EQ(a.hooks().epsilon(1e-5), b.hooks().epsilon(1e-5));
        EXPECT_EQ(a.hooks().current_bound(), b.hooks().current_bound());
        EXPECT_NE(a.hooks().current_bound(), 1.0); // the bound adapted
      },
      /*must_succeed=*/false); // Poisson samples may be below min_reports (the noise is released anyway)
}

// SCAFFOLD: the server's c lives in the doubled model, the clients' c_i in a store saved alongside.
TEST_F(CheckpointFiles, ResumeIsBitIdenticalScaffoldWithClientControls) {
  const fs::path path = file("scaffold.ckpt");
  control_store straight_controls(model_size());
  auto straight = make_scaffold();
  {
    federation<scaffold_trainer> fed(straight.layout(), scaffold_trainer{&straight_controls});
    run(straight, fed.endpoint(), total_rounds);
  }
  {
    control_store controls(model_size());
    auto first = make_scaffold();
    federation<scaffold_trainer> fed(first.layout(), scaffold_trainer{&controls});
    run(first, fed.endpoint(), stop_after);
    fedpp::save_checkpoint(first, path, controls);
  }
  control_store controls(model_size());
  auto resumed = make_scaffold();
  fedpp::restore_checkpoint(resumed, path, controls);
  EXPECT_GT(controls.num_clients(), 0U);
  {
    federation<scaffold_trainer> fed(resumed.layout(), scaffold_trainer{&controls});
    run(resumed, fed.endpoint(), total_rounds - stop_after);
  }
  EXPECT_EQ(model_bytes(resumed.model()), model_bytes(straight.model()));
  EXPECT_EQ(controls.to_bytes(), straight_controls.to_bytes());
  EXPECT_EQ(fedpp::checkpoint_bytes(resumed, controls), fedpp::checkpoint_bytes(straight, straight_controls));
}

// A schedule saves after every k-th round, atomically: no temporary file is left.
TEST_F(CheckpointFiles, ScheduleSavesEveryKRounds) {
  const fedpp::checkpoint_schedule schedule{file("every2.ckpt"), 2};
  EXPECT_FALSE(schedule.due(0));
  EXPECT_FALSE(schedule.due(1));
  EXPECT_TRUE(schedule.due(2));
  EXPECT_TRUE(schedule.due(4));
  const fedpp::checkpoint_schedule never{file("never.ckpt"), 0};
  EXPECT_FALSE(never.due(2));
  auto s = make_adam();
  federation<> fed(s.layout());
  std::vector<bool> saved;
  for (int r = 0; r < 5; ++r) {
    ASSERT_TRUE(s.run_round(fed.endpoint()).succeeded);
    saved.push_back(fedpp::save_checkpoint_if_due(s, schedule));
    if (saved.back()) {
      EXPECT_EQ(read_bytes(schedule.path), fedpp::checkpoint_bytes(s));
    }
  }
  EXPECT_EQ(saved, (std::vector<bool>{false, true, false, true, false}));
  auto restored = make_adam();
  fedpp::restore_checkpoint(restored, schedule.path);
  EXPECT_EQ(restored.round(), 4U);
  std::size_t files = 0;
  for (const auto& entry : fs::directory_iterator(dir_)) {
    ++files;
    EXPECT_EQ(entry.path().filename(), "every2.ckpt");
  }
  EXPECT_EQ(files, 1U);
}

// Accepted bytes are canonical: restore, then save, gives them back bit for bit.
TEST_F(CheckpointFiles, RestoreThenSaveGivesTheSameBytes) {
  auto s = make_dp();
  {
    federation<> fed(s.layout());
    run(s, fed.endpoint(), 2, false);
  }
  const bytes_t saved = fedpp::checkpoint_bytes(s);
  auto t = make_dp();
  fedpp::restore_checkpoint_bytes(t, saved);
  EXPECT_EQ(fedpp::checkpoint_bytes(t), saved);
}

// ---------------------------------------------------------------------------------------------
// Refusals: the server (model, optimizer, round, hooks) and the extra objects are unchanged.

// A FedAdam server after two rounds, and its checkpoint.
struct adam_fixture {
  adam_server trained = make_adam();
  bytes_t saved;
  adam_server target = make_adam(); // what refused restores must leave as it is
  adam_fixture() {
    federation<> fed(trained.layout());
    run(trained, fed.endpoint(), 2);
    saved = fedpp::checkpoint_bytes(trained);
  }
  std::function<bytes_t()> state() {
    return [this] { return fedpp::checkpoint_bytes(target); };
  }
  std::function<void()> restore(const bytes_t& b) {
    return [this, b] { fedpp::restore_checkpoint_bytes(target, b); };
  }
};

TEST_F(CheckpointFiles, TruncatedAtEveryLengthIsRefused) {
  adam_fixture f;
  const fs::path path = file("truncated.ckpt");
  for (std::size_t n = 0; n < f.saved.size(); ++n) {
    write_bytes(path, std::span<const std::byte>(f.saved).first(n));
    const std::string needle = n < 8 ? "too short" : "truncated";
    expect_refused<fedpp::malformed_message>([&] { fedpp::restore_checkpoint(f.target, path); }, f.state(),
                                             needle, "prefix of " + std::to_string(n) + " bytes");
  }
  write_bytes(path, f.saved); // the whole file restores
  fedpp::restore_checkpoint(f.target, path);
  EXPECT_EQ(fedpp::checkpoint_bytes(f.target), f.saved);
}

TEST_F(CheckpointFiles, TrailingBytesAreRefused) {
  adam_fixture f;
  bytes_t longer = f.saved;
  longer.push_back(std::byte{0});
  expect_refused<fedpp::malformed_message>(f.restore(longer), f.state(), "trailing bytes");
}

TEST_F(CheckpointFiles, AFlippedByteAnywhereIsRefused) {
  adam_fixture f;
  for (std::size_t i = 0; i < f.saved.size(); ++i)
    for (const std::uint8_t mask : {std::uint8_t{0x01}, std::uint8_t{0x80}, std::uint8_t{0xff}}) {
      bytes_t b = f.saved;
      b[i] ^= static_cast<std::byte>(mask);
      // The header's magic, version and length are read first; every other byte is the checksum's.
      const std::string needle = i < 8    ? "bad magic"
                                 : i < 12 ? "format version"
                                 : i < 16 ? "checksum"
                                 : i < 24 ? ""
                                          : "checksum";
      expect_refused<fedpp::malformed_message>(f.restore(b), f.state(), needle,
                                               "byte " + std::to_string(i) + " ^ " + std::to_string(mask));
    }
}

TEST_F(CheckpointFiles, WrongMagicAndVersionAreRefused) {
  adam_fixture f;
  bytes_t magic = f.saved;
  magic[7] = std::byte{'Q'};
  reseal(magic);
  expect_refused<fedpp::malformed_message>(f.restore(magic), f.state(), "bad magic: not a fedpp checkpoint");
  bytes_t version = f.saved;
  put_u32(version, 8, 2);
  reseal(version);
  expect_refused<fedpp::malformed_message>(f.restore(version), f.state(),
                                           "format version 2; this build reads version 1");
  expect_refused<fedpp::malformed_message>(f.restore(bytes_t(100, std::byte{0x5a})), f.state(), "bad magic");
}

TEST_F(CheckpointFiles, AnotherConfigurationIsRefused) {
  adam_fixture f;
  // Another layout.
  {
    fedpp::model_layout other;
    other.add("w", {inputs + 1, outputs}).add("b", {outputs});
    adam_server s(fedpp::flat_model<float>(other), fedpp::uniform_sampler(num_clients, 4),
                  fedpp::fedadam<float>(other.total_size(), adam_params()), base_options());
    expect_refused<fedpp::invalid_config>([&] { fedpp::restore_checkpoint_bytes(s, f.saved); },
                                          [&] { return fedpp::checkpoint_bytes(s); },
                                          "this server's model has 2 tensors, 18");
  }
  // Same size, other names: the layout hash differs.
  {
    fedpp::model_layout renamed;
    renamed.add("weight", {inputs, outputs}).add("bias", {outputs});
    adam_server s(fedpp::flat_model<float>(renamed), fedpp::uniform_sampler(num_clients, 4),
                  fedpp::fedadam<float>(renamed.total_size(), adam_params()), base_options());
    expect_refused<fedpp::invalid_config>([&] { fedpp::restore_checkpoint_bytes(s, f.saved); },
                                          [&] { return fedpp::checkpoint_bytes(s); }, "layout hash");
  }
  // Another seed: the clients sampled would differ.
  {
    adam_server s(fedpp::flat_model<float>(layout()), fedpp::uniform_sampler(num_clients, 4),
                  fedpp::fedadam<float>(model_size(), adam_params()), base_options(6));
    expect_refused<fedpp::invalid_config>([&] { fedpp::restore_checkpoint_bytes(s, f.saved); },
                                          [&] { return fedpp::checkpoint_bytes(s); },
                                          "seed 5, this one has seed 6");
  }
  // Another population.
  {
    adam_server s(fedpp::flat_model<float>(layout()), fedpp::uniform_sampler(num_clients + 1, 4),
                  fedpp::fedadam<float>(model_size(), adam_params()), base_options());
    expect_refused<fedpp::invalid_config>([&] { fedpp::restore_checkpoint_bytes(s, f.saved); },
                                          [&] { return fedpp::checkpoint_bytes(s); },
                                          "sampling from 10 clients");
  }
  // Another optimizer kind (FedAvgM) and other FedAdam hyper-parameters.
  {
    auto s = make_momentum();
    expect_refused<fedpp::invalid_config>([&] { fedpp::restore_checkpoint_bytes(s, f.saved); },
                                          [&] { return fedpp::checkpoint_bytes(s); },
                                          "saved by optimizer kind 2");
    auto t = make_adam(0.1);
    expect_refused<fedpp::invalid_config>([&] { fedpp::restore_checkpoint_bytes(t, f.saved); },
                                          [&] { return fedpp::checkpoint_bytes(t); },
                                          "hyper-parameters (0.05, 0.9");
  }
  // Server SGD with another η; a FedAdam checkpoint into a server-SGD server.
  {
    auto a = make_sgd(5, 0.7);
    const bytes_t sgd_saved = fedpp::checkpoint_bytes(a);
    auto b = make_sgd(5, 0.5);
    expect_refused<fedpp::invalid_config>([&] { fedpp::restore_checkpoint_bytes(b, sgd_saved); },
                                          [&] { return fedpp::checkpoint_bytes(b); },
                                          "saved with learning rate 0.7, this server's is 0.5");
    expect_refused<fedpp::malformed_message>([&] { fedpp::restore_checkpoint_bytes(b, f.saved); },
                                             [&] { return fedpp::checkpoint_bytes(b); }, "optimizer section");
  }
  // An extra object the checkpoint does not hold, or one missing.
  {
    control_store controls(model_size());
    expect_refused<fedpp::invalid_config>(
        [&] { fedpp::restore_checkpoint_bytes(f.target, f.saved, controls); },
        [&] { return fedpp::checkpoint_bytes(f.target, controls); },
        "4 sections (0 extra objects), this restore expects 5");
    auto s = make_scaffold();
    const bytes_t with_store = fedpp::checkpoint_bytes(s, controls);
    auto t = make_scaffold();
    expect_refused<fedpp::invalid_config>([&] { fedpp::restore_checkpoint_bytes(t, with_store); },
                                          [&] { return fedpp::checkpoint_bytes(t); },
                                          "this restore expects 4");
    control_store wider(model_size() + 1);
    expect_refused<fedpp::invalid_config>([&] { fedpp::restore_checkpoint_bytes(t, with_store, wider); },
                                          [&] { return fedpp::checkpoint_bytes(t, wider); },
                                          "this store holds D = 16");
  }
}

TEST_F(CheckpointFiles, AnotherHooksSettingIsRefused) {
  auto s = make_dp();
  {
    federation<> fed(s.layout());
    run(s, fed.endpoint(), 2, false);
  }
  const bytes_t saved = fedpp::checkpoint_bytes(s);
  auto fixed_clip = make_dp(/*adaptive=*/false);
  expect_refused<fedpp::invalid_config>([&] { fedpp::restore_checkpoint_bytes(fixed_clip, saved); },
                                        [&] { return fedpp::checkpoint_bytes(fixed_clip); },
                                        "adaptive clipping on, these hooks have it off");
  auto other_orders = make_dp(true, {2.0, 4.0, 8.0});
  expect_refused<fedpp::invalid_config>([&] { fedpp::restore_checkpoint_bytes(other_orders, saved); },
                                        [&] { return fedpp::checkpoint_bytes(other_orders); },
                                        "other settings");
}

TEST_F(CheckpointFiles, NonFiniteValuesAreRefused) {
  adam_fixture f;
  const std::size_t model = payload_at(f.saved, 1), optimizer = payload_at(f.saved, 2);
  const std::size_t d = model_size();
  const auto patch_f32 = [&](std::size_t at, float v) {
    bytes_t b = f.saved;
    std::memcpy(b.data() + at, &v, 4);
    reseal(b);
    return b;
  };
  for (const float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                          -std::numeric_limits<float>::infinity()}) {
    expect_refused<fedpp::malformed_message>(f.restore(patch_f32(model + 4 * 7, bad)), f.state(),
                                             "model section: model: element 7 is");
    // FedAdam's m (buffer 0) and v (buffer 1) after its 56-byte header.
    expect_refused<fedpp::malformed_message>(f.restore(patch_f32(optimizer + 56 + 4 * 2, bad)), f.state(),
                                             "state buffer 0 element 2");
    expect_refused<fedpp::malformed_message>(f.restore(patch_f32(optimizer + 56 + 4 * (d + 3), bad)),
                                             f.state(), "state buffer 1 element 3");
  }
  expect_refused<fedpp::malformed_message>(f.restore(patch_f32(optimizer + 56 + 4 * d, -1.F)), f.state(),
                                           "state buffer 1 element 0"); // v < 0
  bytes_t eta = f.saved;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  std::memcpy(eta.data() + optimizer + 24, &nan, 8);
  reseal(eta);
  expect_refused<fedpp::malformed_message>(f.restore(eta), f.state(), "not finite");
}

TEST_F(CheckpointFiles, NonCanonicalAndOversizedFieldsAreRefused) {
  adam_fixture f;
  // A reserved field that is not zero.
  bytes_t reserved = f.saved;
  put_u32(reserved, section_at(reserved, 1) + 4, 1);
  reseal(reserved);
  expect_refused<fedpp::malformed_message>(f.restore(reserved), f.state(), "reserved field is 1");
  // Sections out of order (tags swapped).
  bytes_t order = f.saved;
  put_u32(order, section_at(order, 0), 2);
  reseal(order);
  expect_refused<fedpp::malformed_message>(f.restore(order), f.state(),
                                           "section 0 (server) has tag 2, expected 1");
  // A section length far beyond the bytes present: refused before anything is allocated.
  for (const std::uint64_t huge : {std::uint64_t{1} << 40, std::numeric_limits<std::uint64_t>::max()}) {
    bytes_t length = f.saved;
    put_u64(length, section_at(length, 1) + 8, huge);
    reseal(length);
    expect_refused<fedpp::malformed_message>(f.restore(length), f.state(), "bytes declared at offset");
  }
  // A model section one element short, the rest shifted (lengths consistent, checksum good).
  bytes_t shorter = f.saved;
  const std::size_t model_header = section_at(shorter, 1);
  put_u64(shorter, model_header + 8, get_u64(shorter, model_header + 8) - 4);
  shorter.erase(shorter.begin() + static_cast<std::ptrdiff_t>(model_header + 16),
                shorter.begin() + static_cast<std::ptrdiff_t>(model_header + 20));
  put_u64(shorter, 16, shorter.size());
  reseal(shorter);
  expect_refused<fedpp::malformed_message>(f.restore(shorter), f.state(),
                                           "56 bytes, the layout's 15 elements take 60");
  // Bytes after the server section's fields.
  bytes_t longer = f.saved;
  const std::size_t server_header = section_at(longer, 0);
  put_u64(longer, server_header + 8, get_u64(longer, server_header + 8) + 1);
  longer.insert(longer.begin() + static_cast<std::ptrdiff_t>(server_header + 16 + 48), std::byte{0});
  put_u64(longer, 16, longer.size());
  reseal(longer);
  expect_refused<fedpp::malformed_message>(f.restore(longer), f.state(), "1 unexpected bytes");
  // The optimizer's own canonical checks: an unused flag bit.
  bytes_t flags = f.saved;
  flags[payload_at(flags, 2) + 7] |= std::byte{0x80};
  reseal(flags);
  expect_refused<fedpp::malformed_message>(f.restore(flags), f.state(), "flags byte");
  // A section count the restore does not expect is a configuration mismatch; one beyond the
  // sections present is malformed (the directory runs out of bytes).
  bytes_t count = f.saved;
  put_u32(count, 12, 5);
  reseal(count);
  expect_refused<fedpp::invalid_config>(f.restore(count), f.state(), "5 sections");
}

TEST_F(CheckpointFiles, MissingOversizedAndUnwritableFiles) {
  adam_fixture f;
  expect_refused<fedpp::invalid_config>([&] { fedpp::restore_checkpoint(f.target, file("absent.ckpt")); },
                                        f.state(), "absent.ckpt': no such file");
  expect_refused<fedpp::invalid_config>([&] { fedpp::restore_checkpoint(f.target, dir_); }, f.state(),
                                        "not a regular file");
  // Larger than the limit: refused before it is read.
  const fs::path big = file("big.ckpt");
  write_bytes(big, bytes_t(f.saved.size() + (std::size_t{1} << 20) + 1, std::byte{0}));
  expect_refused<fedpp::malformed_message>([&] { fedpp::restore_checkpoint(f.target, big); }, f.state(),
                                           "a checkpoint of this server can hold");
  const fs::path good = file("good.ckpt");
  write_bytes(good, f.saved);
  expect_refused<fedpp::malformed_message>(
      [&] { fedpp::restore_checkpoint(f.target, good, fedpp::checkpoint_limits{100}); }, f.state(),
      "more than the 100");
  // A folder that does not exist: fedpp::error, nothing written.
  EXPECT_THROW(fedpp::save_checkpoint(f.trained, dir_ / "no" / "such" / "dir.ckpt"), fedpp::error);
  EXPECT_FALSE(fs::exists(dir_ / "no"));
  // Saving over an existing checkpoint replaces it whole.
  fedpp::save_checkpoint(f.target, good);
  EXPECT_EQ(read_bytes(good), fedpp::checkpoint_bytes(f.target));
  fedpp::save_checkpoint(f.trained, good);
  EXPECT_EQ(read_bytes(good), f.saved);
}

// The extra objects are unchanged by a refusal too, and restored with the server otherwise.
TEST_F(CheckpointFiles, ControlStoreIsRestoredOnlyWithEverythingElse) {
  control_store controls(model_size());
  auto s = make_scaffold();
  {
    federation<scaffold_trainer> fed(s.layout(), scaffold_trainer{&controls});
    run(s, fed.endpoint(), 2);
  }
  const bytes_t saved = fedpp::checkpoint_bytes(s, controls);
  auto t = make_scaffold();
  control_store fresh(model_size());
  fresh.put(99, std::vector<float>(model_size(), 1.F));
  const auto state = [&] {
    bytes_t b = fedpp::checkpoint_bytes(t, fresh);
    return b;
  };
  // A bad control value (NaN) in the store's section: refused, the server and the store unchanged.
  bytes_t bad = saved;
  const std::size_t store = payload_at(bad, 4);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::memcpy(bad.data() + store + 24 + 8 + 4, &nan, 4);
  reseal(bad);
  expect_refused<fedpp::malformed_message>([&] { fedpp::restore_checkpoint_bytes(t, bad, fresh); }, state,
                                           "extra section: scaffold_control_store::restore: client");
  for (std::size_t n = 0; n < saved.size(); n += 7)
    expect_refused<fedpp::malformed_message>(
        [&] { fedpp::restore_checkpoint_bytes(t, std::span<const std::byte>(saved).first(n), fresh); }, state,
        "");
  fedpp::restore_checkpoint_bytes(t, saved, fresh);
  EXPECT_EQ(fresh.to_bytes(), controls.to_bytes());
  EXPECT_EQ(fedpp::checkpoint_bytes(t, fresh), saved);
}

// DP hooks' sections: truncation anywhere inside the generator or accountant bytes (sealed with a
// good checksum, so that the codecs' own checks are what refuses) leaves the hooks unchanged.
TEST_F(CheckpointFiles, DpHooksStateIsValidated) {
  auto s = make_dp();
  {
    federation<> fed(s.layout());
    run(s, fed.endpoint(), 2, false);
  }
  const bytes_t saved = fedpp::checkpoint_bytes(s);
  auto t = make_dp();
  const auto state = [&] { return fedpp::checkpoint_bytes(t); };
  const std::size_t hooks = section_at(saved, 3);
  const std::size_t hooks_len = static_cast<std::size_t>(get_u64(saved, hooks + 8));
  for (std::size_t cut = 1; cut <= hooks_len; ++cut) {
    bytes_t b = saved;
    b.erase(b.begin() + static_cast<std::ptrdiff_t>(hooks + 16 + hooks_len - cut),
            b.begin() + static_cast<std::ptrdiff_t>(hooks + 16 + hooks_len));
    put_u64(b, hooks + 8, hooks_len - cut);
    put_u64(b, 16, b.size());
    reseal(b);
    expect_refused<fedpp::malformed_message>([&] { fedpp::restore_checkpoint_bytes(t, b); }, state,
                                             "hooks section: central_dp_hooks state",
                                             "hooks state cut by " + std::to_string(cut));
  }
  // A negative RDP value (the accountant's bytes start after the generator's).
  bytes_t negative = saved;
  const std::size_t gen_len = static_cast<std::size_t>(get_u64(negative, hooks + 16));
  const std::size_t accountant = hooks + 16 + 8 + gen_len + 8;
  const std::size_t orders = static_cast<std::size_t>(get_u64(negative, accountant + 8));
  const double minus = -1.0;
  std::memcpy(negative.data() + accountant + 24 + 8 * orders, &minus, 8);
  reseal(negative);
  expect_refused<fedpp::malformed_message>([&] { fedpp::restore_checkpoint_bytes(t, negative); }, state,
                                           "expected >= +0 or +inf");
  fedpp::restore_checkpoint_bytes(t, saved);
  EXPECT_EQ(fedpp::checkpoint_bytes(t), saved);
}

} // namespace

namespace {

// Warm start: the model of any checkpoint (extra sections included), checked as a restore checks it.
TEST_F(CheckpointFiles, LoadCheckpointModelForAWarmStart) {
  adam_fixture f;
  const fs::path path = file("warm.ckpt");
  fedpp::save_checkpoint(f.trained, path);
  const auto model = fedpp::load_checkpoint_model<float>(path, layout());
  EXPECT_EQ(model_bytes(model), model_bytes(f.trained.model()));
  // A server started from it is at round 0 with fresh optimizer state, and trains on.
  adam_server warm(fedpp::flat_model<float>(model), fedpp::uniform_sampler(num_clients, 4),
                   fedpp::fedadam<float>(model_size(), adam_params()), base_options());
  EXPECT_EQ(warm.round(), 0U);
  EXPECT_EQ(warm.optimizer().steps(), 0U);
  // With extra sections (SCAFFOLD's store): the model alone is read.
  control_store controls(model_size());
  controls.put(3, std::vector<float>(model_size(), 0.5F));
  auto sc = make_scaffold();
  fedpp::save_checkpoint(sc, file("scaffold.ckpt"), controls);
  EXPECT_EQ(
      fedpp::load_checkpoint_model<float>(file("scaffold.ckpt"), fedpp::scaffold_layout(layout())).size(),
      2 * model_size());
  // Refusals.
  EXPECT_THROW((void)fedpp::load_checkpoint_model<double>(path, layout()), fedpp::invalid_config);
  fedpp::model_layout other;
  other.add("w", {inputs, outputs});
  try {
    (void)fedpp::load_checkpoint_model<float>(path, other);
    ADD_FAILURE() << "another layout was accepted";
  } catch (const fedpp::invalid_config& e) {
    EXPECT_NE(std::string(e.what()).find("server section: saved for a model of 2 tensors"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW((void)fedpp::load_checkpoint_model<float>(file("absent.ckpt"), layout()),
               fedpp::invalid_config);
  for (std::size_t n = 0; n < f.saved.size(); n += 5) {
    write_bytes(path, std::span<const std::byte>(f.saved).first(n));
    EXPECT_THROW((void)fedpp::load_checkpoint_model<float>(path, layout()), fedpp::malformed_message) << n;
  }
  for (const std::uint32_t count : {0U, 3U, 1000000U}) {
    bytes_t b = f.saved;
    put_u32(b, 12, count);
    reseal(b);
    write_bytes(path, b);
    try {
      (void)fedpp::load_checkpoint_model<float>(path, layout());
      ADD_FAILURE() << count << " sections were accepted";
    } catch (const fedpp::malformed_message& e) {
      EXPECT_NE(std::string(e.what()).find("sections, expected 4 or more"), std::string::npos) << e.what();
    }
  }
  bytes_t nan_model = f.saved;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::memcpy(nan_model.data() + payload_at(nan_model, 1), &nan, 4);
  reseal(nan_model);
  write_bytes(path, nan_model);
  EXPECT_THROW((void)fedpp::load_checkpoint_model<float>(path, layout()), fedpp::malformed_message);
}

} // namespace

namespace {

// The codecs the DP hooks' section is built from, on their own.
TEST(CheckpointCodecs, SecureRngContinuesWhereItStood) {
  using fedpp::privacy::secure_rng;
  for (const std::size_t drawn : {std::size_t{0}, std::size_t{37}, std::size_t{256}, std::size_t{300}}) {
    secure_rng a = secure_rng::reproducible(fedpp::privacy::reproducible_seed{3});
    for (std::size_t i = 0; i < drawn; ++i) (void)a();
    const bytes_t saved = a.save_state();
    secure_rng b = secure_rng::restore_state(saved);
    EXPECT_EQ(b.save_state(), saved);
    EXPECT_TRUE(b.is_reproducible());
    for (int i = 0; i < 1000; ++i) ASSERT_EQ(a(), b()) << drawn << " drawn, word " << i;
    std::array<std::uint32_t, secure_rng::buffer_words> x{}, y{};
    a.next_interleaved(x);
    b.next_interleaved(y);
    EXPECT_EQ(x, y);
  }
  secure_rng g = secure_rng::reproducible(fedpp::privacy::reproducible_seed{3});
  (void)g();
  const bytes_t saved = g.save_state();
  const auto refused = [](bytes_t b, const std::string& needle) {
    try {
      (void)secure_rng::restore_state(b);
      ADD_FAILURE() << needle << ": accepted";
    } catch (const fedpp::malformed_message& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  bytes_t flag = saved;
  flag[5] = std::byte{2};
  refused(flag, "reproducible flag is 2");
  bytes_t unread = saved;
  put_u32(unread, 8 + 32 + 12 + 4, 257);
  refused(unread, "unread words 257 exceed");
  refused(bytes_t(saved.begin(), saved.end() - 1), "truncated");
  bytes_t longer = saved;
  longer.push_back(std::byte{0});
  refused(longer, "unexpected bytes");
}

TEST(CheckpointCodecs, RdpAccountantRoundTripAndRefusals) {
  using fedpp::privacy::rdp_accountant;
  rdp_accountant a;
  a.compose(0.01, 1.1, 100);
  const bytes_t saved = a.to_bytes();
  const rdp_accountant b = rdp_accountant::restore(saved);
  EXPECT_EQ(b.to_bytes(), saved);
  EXPECT_EQ(b.epsilon(1e-5), a.epsilon(1e-5));
  const auto refused = [](bytes_t bytes, const std::string& needle) {
    try {
      (void)rdp_accountant::restore(bytes);
      ADD_FAILURE() << needle << ": accepted";
    } catch (const fedpp::malformed_message& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  bytes_t count = saved;
  put_u64(count, 8, std::numeric_limits<std::uint64_t>::max());
  refused(count, "elements of 16 bytes declared");
  bytes_t order = saved;
  const double one = 1.0;
  std::memcpy(order.data() + 24, &one, 8);
  refused(order, "expected finite and > 1");
  bytes_t zero_steps = saved;
  put_u64(zero_steps, 16, 0);
  refused(zero_steps, "after 0 steps");
  bytes_t series = saved;
  series[5] = std::byte{9};
  refused(series, "unknown fractional series 9");
  const rdp_accountant fresh;
  EXPECT_EQ(rdp_accountant::restore(fresh.to_bytes()).to_bytes(), fresh.to_bytes());
}

} // namespace
