// Federated transfer learning (fedpp/vertical/ftl.hpp): the plaintext protocol's gradients equal
// finite differences of an independent implementation of the loss, the Paillier mode produces the
// same updates up to the fixed point, predictions agree between the modes, and hostile messages
// are refused with the party unchanged.
#include "fedpp/transport/in_process_transport.hpp"
#include "fedpp/vertical/ftl.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <future>
#include <vector>

using namespace fedpp::vertical;
using fedpp::malformed_message;

namespace {

random_source seeded(std::uint8_t s) {
  fedpp::secagg::key32 k{};
  k[0] = std::byte{s};
  k[1] = std::byte{0x46};
  return random_source::reproducible(k);
}

const paillier_keypair& key_of(int party) {
  static const paillier_keypair ka = [] {
    auto r = seeded(90);
    return generate_paillier_keypair(256, r);
  }();
  static const paillier_keypair kb = [] {
    auto r = seeded(91);
    return generate_paillier_keypair(256, r);
  }();
  return party == 0 ? ka : kb;
}

paillier_wire::key_limits small() {
  paillier_wire::key_limits l;
  l.min_bits = 256;
  return l;
}

struct setup {
  ftl_rows xa{12, 4, {}}, xb{10, 5, {}};
  std::vector<int> labels;
  std::vector<std::size_t> ov_a{0, 2, 4, 6, 8}, ov_b{1, 3, 5, 7, 9};
  ftl_options o;
  setup() {
    fedpp::rng g(3);
    for (std::size_t i = 0; i < 12 * 4; ++i) xa.x.push_back(2 * g.uniform() - 1);
    for (std::size_t i = 0; i < 10 * 5; ++i) xb.x.push_back(2 * g.uniform() - 1);
    for (std::size_t i = 0; i < 12; ++i) labels.push_back(static_cast<int>(i % 3));
    o.classes = 3;
    o.gamma = 0.7;
    o.l2 = 0;
    o.learning_rate = 0.01;
    o.self_weight = 0.3;
  }
  split_nn_mlp<double> net_a() const { return split_nn_mlp<double>({4, 6, 3}); }
  split_nn_mlp<double> net_b() const { return split_nn_mlp<double>({5, 6, 3}); }
  ftl_party_a party_a(ftl_mode mode) const {
    auto oo = o;
    oo.mode = mode;
    return ftl_party_a(net_a(), 11, xa, labels, ov_a, oo,
                       mode == ftl_mode::paillier ? std::optional<paillier_keypair>(key_of(0)) : std::nullopt,
                       seeded(1));
  }
  ftl_party_b party_b(ftl_mode mode) const {
    auto oo = o;
    oo.mode = mode;
    return ftl_party_b(net_b(), 12, xb, ov_b, oo,
                       mode == ftl_mode::paillier ? std::optional<paillier_keypair>(key_of(1)) : std::nullopt,
                       seeded(2));
  }
};

fedpp::wire::decoded_message dec(const fedpp::message& m) { return fedpp::wire::decode(m); }

void exchange_keys(ftl_party_a& a, ftl_party_b& b) {
  a.on_public_key(dec(b.public_key_message(2)), small());
  b.on_public_key(dec(a.public_key_message(1)), small());
}

void one_step(ftl_party_a& a, ftl_party_b& b) {
  const auto ma = a.on_b_components(dec(b.components_message(2)), 1);
  auto reply = b.on_a_components(dec(ma), 2);
  if (reply) b.on_a_reply(dec(a.on_b_reply(dec(*reply), 1)));
}

// The loss written from the paper's definitions, for finite differences.
double reference_loss(const setup& s, const std::vector<double>& ta, const std::vector<double>& tb) {
  const auto na = s.net_a(), nb = s.net_b();
  split_nn_mlp<double>::workspace wa, wb;
  const auto ua_span = na.forward(ta, s.xa.rows, s.xa.x.data(), 4, wa);
  const std::vector<double> ua(ua_span.begin(), ua_span.end());
  const auto ub_span = nb.forward(tb, s.xb.rows, s.xb.x.data(), 5, wb);
  const std::vector<double> ub(ub_span.begin(), ub_span.end());
  const std::size_t K = 3, d = 3, n = s.ov_a.size();
  auto y = [&](std::size_t row, std::size_t c) {
    return s.labels[row] == static_cast<int>(c) ? 1.0 : -0.5;
  }; // −1/(K−1)
  std::vector<double> phi(K * d, 0.0);
  for (std::size_t i = 0; i < 12; ++i)
    for (std::size_t c = 0; c < K; ++c)
      for (std::size_t k = 0; k < d; ++k) phi[c * d + k] += y(i, c) * ua[i * d + k] / 12.0;
  double loss = 0;
  for (std::size_t j = 0; j < n; ++j) {
    for (std::size_t c = 0; c < K; ++c) {
      double f = 0;
      for (std::size_t k = 0; k < d; ++k) f += phi[c * d + k] * ub[s.ov_b[j] * d + k];
      loss += std::log(2.0) - 0.5 * y(s.ov_a[j], c) * f + 0.125 * f * f;
    }
    for (std::size_t k = 0; k < d; ++k) {
      const double diff = ua[s.ov_a[j] * d + k] - ub[s.ov_b[j] * d + k];
      loss += 0.5 * s.o.gamma * diff * diff;
    }
  }
  loss /= static_cast<double>(n);
  // A's own supervised term over all its rows.
  for (std::size_t i = 0; i < 12; ++i)
    for (std::size_t c = 0; c < K; ++c) {
      double f = 0;
      for (std::size_t k = 0; k < d; ++k) f += phi[c * d + k] * ua[i * d + k];
      loss += s.o.self_weight / 12.0 * (std::log(2.0) - 0.5 * y(i, c) * f + 0.125 * f * f);
    }
  return loss;
}

} // namespace

TEST(Ftl, PlaintextGradientsMatchFiniteDifferencesOfTheLoss) {
  setup s;
  auto a = s.party_a(ftl_mode::plaintext);
  auto b = s.party_b(ftl_mode::plaintext);
  const auto ta = a.parameters(), tb = b.parameters();
  one_step(a, b);
  EXPECT_NEAR(a.last_loss(), reference_loss(s, ta, tb), 1e-12);
  const double h = 1e-6;
  for (std::size_t i = 0; i < ta.size(); ++i) {
    auto p = ta, m = ta;
    p[i] += h;
    m[i] -= h;
    const double fd = (reference_loss(s, p, tb) - reference_loss(s, m, tb)) / (2 * h);
    EXPECT_NEAR(a.last_gradient()[i], fd, 1e-7) << "theta_A " << i;
  }
  for (std::size_t i = 0; i < tb.size(); ++i) {
    auto p = tb, m = tb;
    p[i] += h;
    m[i] -= h;
    const double fd = (reference_loss(s, ta, p) - reference_loss(s, ta, m)) / (2 * h);
    EXPECT_NEAR(b.last_gradient()[i], fd, 1e-7) << "theta_B " << i;
  }
}

TEST(Ftl, PaillierModeGivesThePlaintextUpdatesUpToTheFixedPoint) {
  setup s;
  auto pa = s.party_a(ftl_mode::plaintext);
  auto pb = s.party_b(ftl_mode::plaintext);
  auto ha = s.party_a(ftl_mode::paillier);
  auto hb = s.party_b(ftl_mode::paillier);
  exchange_keys(ha, hb);
  for (int step = 0; step < 3; ++step) {
    one_step(pa, pb);
    one_step(ha, hb);
    for (std::size_t i = 0; i < pa.last_gradient().size(); ++i)
      EXPECT_NEAR(ha.last_gradient()[i], pa.last_gradient()[i], 1e-9);
    for (std::size_t i = 0; i < pb.last_gradient().size(); ++i)
      EXPECT_NEAR(hb.last_gradient()[i], pb.last_gradient()[i], 1e-9);
  }
  for (std::size_t i = 0; i < pa.parameters().size(); ++i)
    EXPECT_NEAR(ha.parameters()[i], pa.parameters()[i], 1e-7);
  for (std::size_t i = 0; i < pb.parameters().size(); ++i)
    EXPECT_NEAR(hb.parameters()[i], pb.parameters()[i], 1e-7);
  // Predictions: plaintext Φ vs the masked Paillier scores.
  pb.on_phi(dec(pa.phi_message(1)));
  hb.on_phi(dec(ha.phi_message(1)));
  const std::vector<std::size_t> rows{0, 2, 4};
  const auto plain = pb.predict(rows);
  const auto enc = hb.on_scores_reply(dec(ha.on_scores(dec(hb.scores_message(rows, 2)), 1, rows.size())));
  ASSERT_EQ(enc.size(), plain.size());
  for (std::size_t i = 0; i < plain.size(); ++i) EXPECT_NEAR(enc[i], plain[i], 1e-7);
}

TEST(Ftl, RunsOverTheTransportAndLowersTheLoss) {
  setup s;
  s.o.learning_rate = 0.02;
  fedpp::in_process_transport hub;
  auto a = s.party_a(ftl_mode::plaintext);
  auto b = s.party_b(ftl_mode::plaintext);
  auto rb = std::async(std::launch::async, [&] {
    auto t = hub.endpoint(2);
    run_ftl_party_b(t, 1, b, 60, s.o);
  });
  auto t = hub.endpoint(1);
  std::vector<double> losses;
  run_ftl_party_a(t, 2, a, 60, [&](std::size_t, double l) { losses.push_back(l); });
  rb.get();
  ASSERT_EQ(losses.size(), 60U);
  EXPECT_LT(losses.back(), 0.8 * losses.front());
  EXPECT_EQ(b.predict(std::vector<std::size_t>{0}).size(), 3U);
}

namespace {
fedpp::message msg(ftl_tag tag, std::uint64_t round, fedpp::endpoint_id from, std::vector<std::byte> p) {
  return detail::ftl_message(tag, round, from, p);
}
template <class P, class F>
void refused_unchanged(const P& p, F&& f) {
  const auto theta = p.parameters();
  const auto st = p.step();
  EXPECT_THROW(f(), malformed_message);
  EXPECT_EQ(p.parameters(), theta);
  EXPECT_EQ(p.step(), st);
}
} // namespace

TEST(Ftl, HostileMessagesAreRefusedWithThePartyUnchanged) {
  setup s;
  auto a = s.party_a(ftl_mode::paillier);
  auto b = s.party_b(ftl_mode::paillier);
  // components before the key exchange
  refused_unchanged(a, [&] { (void)a.on_b_components(dec(b.components_message(2)), 1); });
  auto b2 = s.party_b(ftl_mode::paillier);
  refused_unchanged(
      b2, [&] { b2.on_public_key(dec(a.public_key_message(1))); }); // 256 bits below the default 2048
  exchange_keys(a, b2);
  refused_unchanged(a, [&] { a.on_public_key(dec(b2.public_key_message(2)), small()); }); // a second key
  const auto comp = dec(b2.components_message(2));
  const std::vector<std::byte> payload(comp.payload_bytes().begin(), comp.payload_bytes().end());
  // wrong step, wrong tag, truncated, a plaintext section where ciphertexts belong
  refused_unchanged(a, [&] { (void)a.on_b_components(dec(msg(ftl_tag::b_components, 1, 2, payload)), 1); });
  refused_unchanged(a, [&] { (void)a.on_b_components(dec(msg(ftl_tag::b_reply, 0, 2, payload)), 1); });
  auto trunc = payload;
  trunc.resize(trunc.size() - 3);
  refused_unchanged(a, [&] { (void)a.on_b_components(dec(msg(ftl_tag::b_components, 0, 2, trunc)), 1); });
  detail::ftl_writer w;
  w.doubles(std::vector<double>(15, 0.1));
  w.doubles(std::vector<double>(9, 0.1));
  refused_unchanged(a, [&] { (void)a.on_b_components(dec(msg(ftl_tag::b_components, 0, 2, w.bytes())), 1); });
  // a ciphertext out of range (n² of B's key in the first slot)
  auto oor = payload;
  key_of(1).public_key.n_squared().write_le(
      std::span<std::byte>(oor.data() + 1 + 8 + 17, key_of(1).public_key.ciphertext_bytes()));
  refused_unchanged(a, [&] { (void)a.on_b_components(dec(msg(ftl_tag::b_components, 0, 2, oor)), 1); });
  // B: a reply before the components, a residue not below n
  refused_unchanged(b2, [&] { b2.on_a_reply(dec(msg(ftl_tag::a_reply, 0, 1, {}))); });
  const auto ma = dec(a.on_b_components(comp, 1));
  const auto reply = dec(*b2.on_a_components(ma, 2));
  const auto ar = dec(a.on_b_reply(reply, 1));
  std::vector<std::byte> bad(ar.payload_bytes().begin(), ar.payload_bytes().end());
  key_of(1).public_key.n().write_le(
      std::span<std::byte>(bad.data() + 9, (key_of(1).public_key.bits() + 7) / 8));
  refused_unchanged(b2, [&] { b2.on_a_reply(dec(msg(ftl_tag::a_reply, 0, 1, bad))); });
  EXPECT_NO_THROW(b2.on_a_reply(ar));
  EXPECT_EQ(b2.step(), 1U);
  EXPECT_EQ(a.step(), 1U);
  // out of order: A's reply again
  refused_unchanged(b2, [&] { b2.on_a_reply(ar); });
}

TEST(Ftl, ConstructorsRefuseBadInput) {
  setup s;
  auto labels = s.labels;
  labels[0] = 3;
  EXPECT_THROW(ftl_party_a(s.net_a(), 1, s.xa, labels, s.ov_a, s.o), fedpp::invalid_config);
  EXPECT_THROW(ftl_party_a(s.net_a(), 1, s.xa, s.labels, {12}, s.o), fedpp::invalid_config);
  EXPECT_THROW(ftl_party_b(s.net_a(), 1, s.xb, s.ov_b, s.o),
               fedpp::invalid_config); // width 4 net on width 5 rows
  auto o = s.o;
  o.mode = ftl_mode::paillier;
  EXPECT_THROW(ftl_party_b(s.net_b(), 1, s.xb, s.ov_b, o), fedpp::invalid_config); // no keys
  o = s.o;
  o.classes = 1;
  EXPECT_THROW(ftl_party_b(s.net_b(), 1, s.xb, s.ov_b, o), fedpp::invalid_config);
}
