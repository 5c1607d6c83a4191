// Vertical logistic regression with Paillier (fedpp/vertical/hetero_lr.hpp): the protocol's
// weights equal the central model's (same Taylor arithmetic) up to the fixed point, the host's
// homomorphic gradient equals the plaintext one, the guest only ever decrypts masked values, and
// every hostile message is refused with the party unchanged. Also the breast cancer CSV loader.
#include "fedpp/simulation/breast_cancer_csv.hpp"
#include "fedpp/transport/in_process_transport.hpp"
#include "fedpp/vertical/hetero_lr.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <future>
#include <numeric>
#include <thread>
#include <vector>

using namespace fedpp::vertical;
using fedpp::malformed_message;

namespace {

random_source seeded(std::uint8_t s) {
  fedpp::secagg::key32 k{};
  k[0] = std::byte{s};
  k[1] = std::byte{0x4c};
  return random_source::reproducible(k);
}

const paillier_keypair& small_keys() {
  static const paillier_keypair keys = [] {
    auto rng = seeded(99);
    return generate_paillier_keypair(256, rng);
  }();
  return keys;
}

paillier_wire::key_limits small_limits() {
  paillier_wire::key_limits l;
  l.min_bits = 256;
  return l;
}

// A synthetic problem: rows x (guest cols + host cols), labels from a noisy linear rule.
struct problem {
  hetero_lr_features all, guest, host1, host2;
  std::vector<int> labels;
};

problem make_problem(std::size_t rows, std::size_t gc, std::size_t hc1, std::size_t hc2, std::uint64_t seed) {
  problem p;
  const std::size_t cols = gc + hc1 + hc2;
  fedpp::rng gen(seed);
  p.all = {rows, cols, std::vector<double>(rows * cols)};
  p.guest = {rows, gc, {}};
  p.host1 = {rows, hc1, {}};
  p.host2 = {rows, hc2, {}};
  std::vector<double> truth(cols);
  for (auto& t : truth) t = 2.0 * gen.uniform() - 1.0;
  for (std::size_t i = 0; i < rows; ++i) {
    double s = 0;
    for (std::size_t j = 0; j < cols; ++j) {
      const double v = 4.0 * gen.uniform() - 2.0;
      p.all.x[i * cols + j] = v;
      s += truth[j] * v;
      (j < gc ? p.guest.x : j < gc + hc1 ? p.host1.x : p.host2.x).push_back(v);
    }
    p.labels.push_back(s + 0.3 * (gen.uniform() - 0.5) > 0 ? 1 : 0);
  }
  return p;
}

hetero_lr_options small_options() {
  hetero_lr_options o;
  o.batch_size = 16;
  o.max_epochs = 3;
  o.learning_rate = 0.3;
  o.l2 = 0.02;
  o.tolerance = 0;
  o.seed = 7;
  o.timeout = std::chrono::seconds(30);
  return o;
}

paillier_keypair copy_keys() { return small_keys(); }

fedpp::wire::decoded_message dec(const fedpp::message& m) { return fedpp::wire::decode(m); }

// A guest and a host with one step object each, wired by hand (no transport).
struct pair_fixture {
  problem p = make_problem(40, 2, 3, 0, 11);
  hetero_lr_options o = small_options();
  hetero_lr_guest guest{p.guest, p.labels, 1, o, copy_keys(), seeded(1)};
  hetero_lr_host host;
  static constexpr fedpp::endpoint_id gid = 100, hid = 1;

  explicit pair_fixture(std::uint8_t host_seed = 2) : host(p.host1, o, seeded(host_seed)) {}

  void setup() {
    guest.on_hello(0, dec(host.hello_message(hid)));
    host.on_public_key(dec(guest.public_key_message(gid)), small_limits());
  }
};

} // namespace

// --- breast cancer CSV ------------------------------------------------------------------------

TEST(BreastCancerCsv, ParsesHeaderRowsAndLabels) {
  const auto d = fedpp::simulation::parse_breast_cancer_csv("2,3,malignant,benign\n1,2.5,-3,0\n4,5e-1,6,1\n");
  EXPECT_EQ(d.rows, 2U);
  EXPECT_EQ(d.features, 3U);
  EXPECT_EQ(d.x, (std::vector<double>{1, 2.5, -3, 4, 0.5, 6}));
  EXPECT_EQ(d.labels, (std::vector<int>{0, 1}));
  EXPECT_EQ(d.class_names, (std::vector<std::string>{"malignant", "benign"}));
}

TEST(BreastCancerCsv, RefusesEveryMalformedLine) {
  using fedpp::simulation::parse_breast_cancer_csv;
  for (const char* bad :
       {"", "2,3,a\n", "x,3,a,b\n", "0,3,a,b\n", "1,3,a,b\n1,2,0\n", "1,3,a,b\n1,2,3,4,0\n",
        "1,3,a,b\n1,nan,3,0\n", "1,3,a,b\n1,inf,3,0\n", "1,3,a,b\n1,2,3,2\n", "1,3,a,b\n1,2,3,-1\n",
        "1,3,a,b\n1,2,3,0.5\n", "2,3,a,b\n1,2,3,0\n", "1,3,a,b\n1,2,3,0\n4,5,6,1\n",
        "2,3,a,b\n1,2,3,0\n\n4,5,6,1\n", "1,3,a,\n1,2,3,0\n", "1,3,a,b\n1,,3,0\n"})
    EXPECT_THROW((void)parse_breast_cancer_csv(bad), malformed_message) << bad;
}

TEST(BreastCancerCsv, LoadsDebiansFileWhenInstalled) {
  if (!std::filesystem::exists(fedpp::simulation::breast_cancer_default_csv) &&
      std::getenv(fedpp::simulation::breast_cancer_csv_env) == nullptr)
    GTEST_SKIP() << "python3-sklearn's breast_cancer.csv is not installed";
  const auto d = fedpp::simulation::load_breast_cancer_csv();
  EXPECT_EQ(d.rows, 569U);
  EXPECT_EQ(d.features, 30U);
  EXPECT_EQ(std::count(d.labels.begin(), d.labels.end(), 0), 212);
  EXPECT_EQ(std::count(d.labels.begin(), d.labels.end(), 1), 357);
  EXPECT_DOUBLE_EQ(d.x[0], 17.99);
  EXPECT_THROW((void)fedpp::simulation::load_breast_cancer_csv("/nonexistent/breast.csv"),
               fedpp::simulation::dataset_not_found);
}

// --- the protocol against the central model ---------------------------------------------------

TEST(HeteroLr, OneHostOverTheTransportEqualsTheCentralTaylorModel) {
  auto p = make_problem(50, 2, 3, 0, 5);
  auto o = small_options();
  fedpp::in_process_transport hub;
  const fedpp::endpoint_id gid = 100, hid = 1;
  hetero_lr_host host(p.host1, o, seeded(2));
  auto host_run = std::async(std::launch::async, [&] {
    auto t = hub.endpoint(hid);
    run_hetero_lr_host(t, gid, host, small_limits());
  });
  hetero_lr_guest guest(p.guest, p.labels, 1, o, copy_keys(), seeded(1));
  auto t = hub.endpoint(gid);
  const std::vector<fedpp::endpoint_id> hosts{hid};
  const auto rep = run_hetero_lr_guest(t, hosts, guest);
  std::vector<std::size_t> rows(p.all.rows);
  std::iota(rows.begin(), rows.end(), std::size_t{0});
  const auto prob = hetero_lr_predict(t, hosts, guest, rows);
  hetero_lr_finish(t, hosts, guest);
  host_run.get();

  EXPECT_EQ(rep.epochs, o.max_epochs);
  EXPECT_FALSE(rep.converged);
  const auto central = hetero_lr_central(p.all, p.labels, o, rep.epochs, true);
  for (std::size_t j = 0; j < 2; ++j) EXPECT_NEAR(guest.weights()[j], central[j], 1e-9);
  for (std::size_t j = 0; j < 3; ++j) EXPECT_NEAR(host.weights()[j], central[2 + j], 1e-9);
  EXPECT_NEAR(guest.intercept(), central[5], 1e-9);
  // Predictions are σ of the central model's wx.
  for (std::size_t i = 0; i < rows.size(); ++i) {
    double wx = central[5];
    for (std::size_t j = 0; j < 5; ++j) wx += central[j] * p.all.row(i)[j];
    EXPECT_NEAR(prob[i], 1.0 / (1.0 + std::exp(-wx)), 1e-9);
  }
  // The loss falls.
  EXPECT_LT(rep.losses.back(), rep.losses.front());
  EXPECT_EQ(host.last_loss(), rep.losses.back());
}

TEST(HeteroLr, TwoHostsAndConvergenceStopEqualTheCentralModel) {
  auto p = make_problem(36, 1, 2, 2, 9);
  auto o = small_options();
  o.max_epochs = 40;
  o.tolerance = 1e-3;
  o.schedule = hetero_lr_schedule_kind::inverse;
  fedpp::in_process_transport hub;
  const fedpp::endpoint_id gid = 100;
  const std::vector<fedpp::endpoint_id> hosts{1, 2};
  hetero_lr_host h1(p.host1, o, seeded(2)), h2(p.host2, o, seeded(3));
  auto r1 = std::async(std::launch::async, [&] {
    auto t = hub.endpoint(1);
    run_hetero_lr_host(t, gid, h1, small_limits());
  });
  auto r2 = std::async(std::launch::async, [&] {
    auto t = hub.endpoint(2);
    run_hetero_lr_host(t, gid, h2, small_limits());
  });
  hetero_lr_guest guest(p.guest, p.labels, 2, o, copy_keys(), seeded(1));
  auto t = hub.endpoint(gid);
  const auto rep = run_hetero_lr_guest(t, hosts, guest);
  hetero_lr_finish(t, hosts, guest);
  r1.get();
  r2.get();
  EXPECT_TRUE(rep.converged);
  EXPECT_LT(rep.epochs, o.max_epochs);
  EXPECT_LT(std::fabs(rep.losses.back() - rep.losses[rep.epochs - 2]), o.tolerance);
  const auto central = hetero_lr_central(p.all, p.labels, o, rep.epochs, true);
  EXPECT_NEAR(guest.weights()[0], central[0], 1e-9);
  for (std::size_t j = 0; j < 2; ++j) {
    EXPECT_NEAR(h1.weights()[j], central[1 + j], 1e-9);
    EXPECT_NEAR(h2.weights()[j], central[3 + j], 1e-9);
  }
  EXPECT_NEAR(guest.intercept(), central[5], 1e-9);
}

TEST(HeteroLr, HomomorphicGradientEqualsPlaintextAndTheGuestSeesOnlyMaskedValues) {
  pair_fixture f;
  f.setup();
  const auto batch_rows = [&] {
    hetero_lr_schedule s(f.p.all.rows, f.o.batch_size, f.o.seed);
    const auto order = s.order(0);
    const auto b = s.batch(order, 0);
    return std::vector<std::size_t>(b.begin(), b.end());
  }();
  const auto wx = f.host.partial_wx_message(f.hid);
  const auto res = f.guest.on_partial_wx(0, dec(wx), f.gid);
  ASSERT_TRUE(res.has_value());
  // Expected Σ_i d_i x_ij at zero weights: d_i = −y_i/2.
  std::vector<double> expected(3, 0.0);
  for (std::size_t i : batch_rows)
    for (std::size_t j = 0; j < 3; ++j)
      expected[j] += -0.5 * (f.p.labels[i] == 1 ? 1.0 : -1.0) * f.p.host1.row(i)[j];
  const auto masked = f.host.on_residuals(dec(*res), f.hid);
  const auto masks = f.host.current_masks();
  ASSERT_EQ(masks.size(), 3U);
  // The transcript: what the guest decrypts is G + r mod n, never G itself.
  const auto& pk = small_keys().public_key;
  auto list = paillier_wire::decode_ciphertexts(pk, dec(masked).payload_bytes(), 3);
  for (std::size_t j = 0; j < 3; ++j) {
    const bigint plain = small_keys().private_key.decrypt(list.ciphertexts[j]);
    const bigint g = (plain - masks[j]).mod(pk.n());
    const double decoded = decode(pk, encoded_number{g, 2 * hetero_lr_exponent});
    EXPECT_NEAR(decoded, expected[j], 1e-9);
    EXPECT_NE(plain, g);
    // The masked residue decodes (if at all) to nothing near the gradient.
    try {
      EXPECT_GT(std::fabs(decode(pk, encoded_number{plain, 2 * hetero_lr_exponent}) - expected[j]), 1.0);
    } catch (const paillier_overflow&) {
    }
  }
  const auto unmasked = f.guest.on_masked_gradient(0, dec(masked), f.gid);
  f.host.on_unmasked(dec(unmasked));
  for (std::size_t j = 0; j < 3; ++j) EXPECT_NEAR(f.host.last_gradient_sums()[j], expected[j], 1e-9);
  EXPECT_EQ(f.host.step(), 1U);
  EXPECT_EQ(f.guest.step(), 1U);
}

TEST(HeteroLr, MasksDifferAcrossRunsSoTheGuestsViewIsFresh) {
  // Same data, same guest, two host seeds: the gradients agree, the decrypted values do not.
  std::vector<bigint> seen[2];
  for (int run = 0; run < 2; ++run) {
    pair_fixture f(static_cast<std::uint8_t>(10 + run));
    f.setup();
    const auto res = f.guest.on_partial_wx(0, dec(f.host.partial_wx_message(f.hid)), f.gid);
    const auto masked = f.host.on_residuals(dec(*res), f.hid);
    auto list = paillier_wire::decode_ciphertexts(small_keys().public_key, dec(masked).payload_bytes(), 3);
    for (const auto& c : list.ciphertexts) seen[run].push_back(small_keys().private_key.decrypt(c));
  }
  for (std::size_t j = 0; j < 3; ++j) EXPECT_NE(seen[0][j], seen[1][j]);
}

// --- hostile messages -------------------------------------------------------------------------

namespace {
template <class F>
void expect_refused_guest_unchanged(hetero_lr_guest& g, F&& f) {
  const auto w = g.weights();
  const auto b = g.intercept();
  const auto s = g.step();
  EXPECT_THROW(f(), malformed_message);
  EXPECT_EQ(g.weights(), w);
  EXPECT_EQ(g.intercept(), b);
  EXPECT_EQ(g.step(), s);
}
template <class F>
void expect_refused_host_unchanged(hetero_lr_host& h, F&& f) {
  const auto w = h.weights();
  const auto s = h.step();
  EXPECT_THROW(f(), malformed_message);
  EXPECT_EQ(h.weights(), w);
  EXPECT_EQ(h.step(), s);
}
fedpp::message raw(hetero_lr_tag tag, std::uint64_t round, fedpp::endpoint_id from,
                   std::vector<std::byte> payload) {
  return detail::hlr_message(tag, round, from, std::move(payload));
}
std::vector<std::byte> doubles(std::vector<double> v) { return detail::hlr_doubles(v); }
} // namespace

TEST(HeteroLr, GuestRefusesBadHellosAndWx) {
  pair_fixture f;
  fedpp::vertical::detail::byte_writer w;
  w.u64(39);
  w.u64(3);
  expect_refused_guest_unchanged(
      f.guest, [&] { f.guest.on_hello(0, dec(raw(hetero_lr_tag::host_hello, 0, 1, w.bytes()))); });
  fedpp::vertical::detail::byte_writer w0;
  w0.u64(40);
  w0.u64(0);
  expect_refused_guest_unchanged(
      f.guest, [&] { f.guest.on_hello(0, dec(raw(hetero_lr_tag::host_hello, 0, 1, w0.bytes()))); });
  // wx before the hello
  expect_refused_guest_unchanged(f.guest, [&] {
    (void)f.guest.on_partial_wx(
        0, dec(raw(hetero_lr_tag::partial_wx, 0, 1, doubles(std::vector<double>(16, 0.5)))), 100);
  });
  f.setup();
  expect_refused_guest_unchanged(f.guest,
                                 [&] { f.guest.on_hello(0, dec(f.host.hello_message(1))); }); // second hello
  const std::vector<double> ok(16, 0.5);
  auto bad_count = ok;
  bad_count.pop_back();
  auto nan = ok;
  nan[3] = std::nan("");
  auto huge = ok;
  huge[0] = 1e7;
  for (const auto& v : {bad_count, nan, huge})
    expect_refused_guest_unchanged(f.guest, [&] {
      (void)f.guest.on_partial_wx(0, dec(raw(hetero_lr_tag::partial_wx, 0, 1, doubles(v))), 100);
    });
  // wrong step (out of order), wrong tag, truncated payload
  expect_refused_guest_unchanged(f.guest, [&] {
    (void)f.guest.on_partial_wx(0, dec(raw(hetero_lr_tag::partial_wx, 1, 1, doubles(ok))), 100);
  });
  expect_refused_guest_unchanged(f.guest, [&] {
    (void)f.guest.on_partial_wx(0, dec(raw(hetero_lr_tag::masked_gradient, 0, 1, doubles(ok))), 100);
  });
  auto trunc = doubles(ok);
  trunc.pop_back();
  expect_refused_guest_unchanged(f.guest, [&] {
    (void)f.guest.on_partial_wx(0, dec(raw(hetero_lr_tag::partial_wx, 0, 1, trunc)), 100);
  });
  // a masked gradient before the residuals
  expect_refused_guest_unchanged(f.guest, [&] {
    (void)f.guest.on_masked_gradient(0, dec(raw(hetero_lr_tag::masked_gradient, 0, 1, {})), 100);
  });
  // and the honest message still works afterwards
  EXPECT_TRUE(
      f.guest.on_partial_wx(0, dec(raw(hetero_lr_tag::partial_wx, 0, 1, doubles(ok))), 100).has_value());
}

TEST(HeteroLr, GuestRefusesBadMaskedGradients) {
  pair_fixture f;
  f.setup();
  const auto res = f.guest.on_partial_wx(0, dec(f.host.partial_wx_message(f.hid)), f.gid);
  const auto& pk = small_keys().public_key;
  const auto sent = paillier_wire::decode_ciphertexts(pk, dec(*res).payload_bytes(), 16).ciphertexts;
  // count wrong
  std::vector<paillier_ciphertext> two(sent.begin(), sent.begin() + 2);
  expect_refused_guest_unchanged(f.guest, [&] {
    (void)f.guest.on_masked_gradient(
        0, dec(raw(hetero_lr_tag::masked_gradient, 0, 1, paillier_wire::encode_ciphertexts(pk, two))), 100);
  });
  // a residual sent back for decryption
  std::vector<paillier_ciphertext> replay{sent[0], sent[1], sent[2]};
  expect_refused_guest_unchanged(f.guest, [&] {
    (void)f.guest.on_masked_gradient(
        0, dec(raw(hetero_lr_tag::masked_gradient, 0, 1, paillier_wire::encode_ciphertexts(pk, replay))),
        100);
  });
  // a ciphertext out of range: n² written into the slot
  auto bytes =
      paillier_wire::encode_ciphertexts(pk, std::vector<paillier_ciphertext>{sent[3], sent[4], sent[5]});
  const std::size_t width = pk.ciphertext_bytes();
  pk.n_squared().write_le(std::span<std::byte>(bytes.data() + 17, width));
  expect_refused_guest_unchanged(f.guest, [&] {
    (void)f.guest.on_masked_gradient(0, dec(raw(hetero_lr_tag::masked_gradient, 0, 1, bytes)), 100);
  });
  // a ciphertext sharing a factor with n: n itself
  pk.n().write_le(std::span<std::byte>(bytes.data() + 17, width));
  expect_refused_guest_unchanged(f.guest, [&] {
    (void)f.guest.on_masked_gradient(0, dec(raw(hetero_lr_tag::masked_gradient, 0, 1, bytes)), 100);
  });
  // a ciphertext list of another key size
  auto other_rng = seeded(77);
  const auto other = generate_paillier_keypair(320, other_rng);
  const auto foreign = other.public_key.encrypt(std::vector<bigint>{1, 2, 3}, other_rng);
  expect_refused_guest_unchanged(f.guest, [&] {
    (void)f.guest.on_masked_gradient(0,
                                     dec(raw(hetero_lr_tag::masked_gradient, 0, 1,
                                             paillier_wire::encode_ciphertexts(other.public_key, foreign))),
                                     100);
  });
  // another step
  const auto masked = f.host.on_residuals(dec(*res), f.hid);
  const auto m = dec(masked);
  expect_refused_guest_unchanged(f.guest, [&] {
    (void)f.guest.on_masked_gradient(
        0,
        dec(raw(hetero_lr_tag::masked_gradient, 1, 1,
                std::vector<std::byte>(m.payload_bytes().begin(), m.payload_bytes().end()))),
        100);
  });
  EXPECT_NO_THROW((void)f.guest.on_masked_gradient(0, m, 100));
}

TEST(HeteroLr, HostRefusesBadKeysResidualsAndUnmaskedValues) {
  pair_fixture f;
  // a key below the host's limit (default 2048 bits)
  expect_refused_host_unchanged(f.host, [&] { f.host.on_public_key(dec(f.guest.public_key_message(100))); });
  EXPECT_FALSE(f.host.has_key());
  // residuals before the key
  expect_refused_host_unchanged(
      f.host, [&] { (void)f.host.on_residuals(dec(raw(hetero_lr_tag::residuals, 0, 100, {})), 1); });
  f.setup();
  expect_refused_host_unchanged(
      f.host, [&] { f.host.on_public_key(dec(f.guest.public_key_message(100)), small_limits()); });
  const auto wx = f.host.partial_wx_message(1);
  const auto res = f.guest.on_partial_wx(0, dec(wx), 100);
  const auto& pk = small_keys().public_key;
  auto cs = paillier_wire::decode_ciphertexts(pk, dec(*res).payload_bytes(), 16).ciphertexts;
  auto short_list = cs;
  short_list.pop_back();
  expect_refused_host_unchanged(f.host, [&] {
    (void)f.host.on_residuals(
        dec(raw(hetero_lr_tag::residuals, 0, 100, paillier_wire::encode_ciphertexts(pk, short_list))), 1);
  });
  expect_refused_host_unchanged(f.host, [&] {
    (void)f.host.on_residuals(
        dec(raw(hetero_lr_tag::residuals, 3, 100, paillier_wire::encode_ciphertexts(pk, cs))), 1);
  });
  // unmasked before the residuals
  expect_refused_host_unchanged(f.host,
                                [&] { f.host.on_unmasked(dec(raw(hetero_lr_tag::unmasked, 0, 100, {}))); });
  const auto masked = f.host.on_residuals(dec(*res), 1);
  const auto good = dec(f.guest.on_masked_gradient(0, dec(masked), 100));
  const std::vector<std::byte> payload(good.payload_bytes().begin(), good.payload_bytes().end());
  const std::size_t width = (pk.bits() + 7) / 8;
  auto at_n = payload;
  pk.n().write_le(std::span<std::byte>(at_n.data() + 8, width));
  expect_refused_host_unchanged(f.host,
                                [&] { f.host.on_unmasked(dec(raw(hetero_lr_tag::unmasked, 0, 100, at_n))); });
  // a residue that unmasks into the overflow band: mask + n/2
  auto overflow = payload;
  ((f.host.current_masks()[0] + pk.n() - pk.max_int() - bigint(5)).mod(pk.n()))
      .write_le(std::span<std::byte>(overflow.data() + 8, width));
  expect_refused_host_unchanged(
      f.host, [&] { f.host.on_unmasked(dec(raw(hetero_lr_tag::unmasked, 0, 100, overflow))); });
  // a residue that unmasks to a value far above the bound: mask + 10^30 at exponent −20
  auto big = payload;
  ((f.host.current_masks()[0] + bigint::pow2(180)).mod(pk.n()))
      .write_le(std::span<std::byte>(big.data() + 8, width));
  expect_refused_host_unchanged(f.host,
                                [&] { f.host.on_unmasked(dec(raw(hetero_lr_tag::unmasked, 0, 100, big))); });
  auto trailing = payload;
  trailing.push_back(std::byte{0});
  expect_refused_host_unchanged(
      f.host, [&] { f.host.on_unmasked(dec(raw(hetero_lr_tag::unmasked, 0, 100, trailing))); });
  // an epoch end mid-epoch
  fedpp::vertical::detail::byte_writer e;
  e.u8(1);
  e.u64(0);
  expect_refused_host_unchanged(
      f.host, [&] { (void)f.host.on_epoch_end(dec(raw(hetero_lr_tag::epoch_end, 0, 100, e.bytes()))); });
  EXPECT_NO_THROW(f.host.on_unmasked(good));
  EXPECT_EQ(f.host.step(), 1U);
}

TEST(HeteroLr, HostRefusesPredictionRequestsOutOfRange) {
  pair_fixture f;
  fedpp::vertical::detail::byte_writer w;
  w.u64(1);
  w.u64(40);
  EXPECT_THROW((void)f.host.on_predict_rows(dec(raw(hetero_lr_tag::predict_rows, 0, 100, w.bytes())), 1, 100),
               malformed_message);
  fedpp::vertical::detail::byte_writer w2;
  w2.u64(1000);
  EXPECT_THROW(
      (void)f.host.on_predict_rows(dec(raw(hetero_lr_tag::predict_rows, 0, 100, w2.bytes())), 1, 100),
      malformed_message);
  fedpp::vertical::detail::byte_writer w3;
  w3.u64(2);
  w3.u64(0);
  w3.u64(39);
  EXPECT_NO_THROW(
      (void)f.host.on_predict_rows(dec(raw(hetero_lr_tag::predict_rows, 0, 100, w3.bytes())), 1, 100));
}

TEST(HeteroLr, DriversRefuseAnImpostor) {
  auto p = make_problem(20, 1, 1, 0, 3);
  auto o = small_options();
  o.timeout = std::chrono::milliseconds(2000);
  fedpp::in_process_transport hub;
  hetero_lr_guest guest(p.guest, p.labels, 1, o, copy_keys(), seeded(1));
  auto impostor = hub.endpoint(7);
  hetero_lr_host host(p.host1, o, seeded(2));
  impostor.send(100, host.hello_message(7));
  auto t = hub.endpoint(100);
  const std::vector<fedpp::endpoint_id> hosts{1};
  EXPECT_THROW((void)run_hetero_lr_guest(t, hosts, guest), malformed_message);
  EXPECT_EQ(guest.host_columns()[0], 0U);
}

TEST(HeteroLr, OptionsAndConstructorsRefuseBadValues) {
  auto p = make_problem(10, 1, 1, 0, 3);
  auto o = small_options();
  o.learning_rate = 0;
  EXPECT_THROW(hetero_lr_host(p.host1, o, seeded(1)), fedpp::invalid_config);
  o = small_options();
  auto labels = p.labels;
  labels[0] = 2;
  EXPECT_THROW(hetero_lr_guest(p.guest, labels, 1, o, copy_keys(), seeded(1)), fedpp::invalid_config);
  labels.pop_back();
  EXPECT_THROW(hetero_lr_guest(p.guest, labels, 1, o, copy_keys(), seeded(1)), fedpp::invalid_config);
  auto nanx = p.host1;
  nanx.x[0] = std::nan("");
  EXPECT_THROW(hetero_lr_host(nanx, o, seeded(1)), fedpp::invalid_config);
  EXPECT_NEAR(o.rate(3), o.learning_rate / 2.0, 1e-15); // 1/√(1 + 3)
}
