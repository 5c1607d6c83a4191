// Shamir, encoder bounds and hostile inputs: each refused with a clear error and a counter, and no
// secret bytes in any error message.
#include "secagg_sim.hpp"

#include "fedpp/secagg/fixed_point_encoder.hpp"
#include "fedpp/secagg/shamir.hpp"

#include <gtest/gtest.h>

#include <string>

using namespace secagg_test;

TEST(secagg_shamir, reconstructs_with_t_and_refuses_t_minus_1) {
  auto rng = fedpp::secagg::random_source::reproducible(seed_of(9));
  const auto secret = rng.key();
  const std::vector<std::uint64_t> xs{1, 2, 3, 4, 5, 6, 7};
  const auto shares = shamir_split(secret, 4, xs, rng);
  EXPECT_EQ(shamir_reconstruct(std::span(shares).subspan(2, 4), 4), secret);
  EXPECT_EQ(shamir_reconstruct(shares, 4), secret); // extra shares are checked for consistency
  EXPECT_THROW((void)shamir_reconstruct(std::span(shares).first(3), 4), invalid_config);
  auto bad = shares;
  bad[5].y[2] ^= 1;
  EXPECT_THROW((void)shamir_reconstruct(bad, 4), malformed_message);
  bad = shares;
  bad[1].x = bad[0].x;
  EXPECT_THROW((void)shamir_reconstruct(bad, 4), malformed_message);
}

TEST(secagg_encoder, refuses_overflowing_configurations_naming_the_bound) {
  encoding_config c;
  c.num_clients = 100;
  c.clip_bound = 1;
  c.scale = 1 << 25; // 100 · 2^25 > 2^31
  try {
    const fixed_point_encoder e(c);
    FAIL();
  } catch (const invalid_config& e) {
    EXPECT_NE(std::string(e.what()).find("clip_bound"), std::string::npos);
  }
  c.scale = 1 << 20;
  const fixed_point_encoder ok(c);
  const std::vector<float> x{0.5F, -2.0F, 3.0F};
  std::vector<std::uint32_t> q(3);
  EXPECT_EQ(ok.encode(x, q), 2U); // two coordinates clipped
  std::vector<float> back(3);
  ok.decode_sum(q, back);
  EXPECT_FLOAT_EQ(back[0], 0.5F);
  EXPECT_FLOAT_EQ(back[1], -1.0F);
  const std::vector<float> nan{std::nanf("")};
  std::vector<std::uint32_t> one(1, 77);
  EXPECT_THROW((void)ok.encode(nan, one), rejected_update);
  EXPECT_EQ(one[0], 77U);
}

namespace {

struct hostile : ::testing::Test {
  secagg_config config{11, 8, 32, 3};
  sim s{config, neighbor_graph::complete({1, 2, 3, 4})};
  std::vector<std::string> messages;

  void SetUp() override {
    for (const auto u : s.clients()) s.client(u).set_input(std::vector<std::uint32_t>(8, 5));
  }
  template <class F>
  void expect_violation(F&& f, violation v) {
    try {
      f();
      ADD_FAILURE() << "no violation thrown";
    } catch (const protocol_violation& e) {
      EXPECT_EQ(e.kind(), v) << e.what();
      messages.emplace_back(e.what());
    }
  }
  bool server_handle(client_id from, std::uint64_t round, std::uint32_t tag,
                     std::span<const std::byte> payload, client_id claimed) {
    return s.server().handle(
        s.server_endpoint(), envelope{from, server_endpoint, wire::encode_control(round, claimed, tag, payload)});
  }
};

} // namespace

TEST_F(hostile, server_refuses_each_bad_message_and_counts_it) {
  std::vector<std::byte> keys(64, std::byte{1});
  for (std::size_t i = 32; i < 64; ++i) keys[i] = std::byte{2};
  auto& cnt = s.server().counters();
  expect_violation([&] { server_handle(1, 10, 1, keys, 1); }, violation::wrong_round);
  expect_violation([&] { server_handle(1, 11, 1, keys, 2); }, violation::impersonation);
  expect_violation([&] { server_handle(99, 11, 1, keys, 99); }, violation::unknown_sender);
  expect_violation([&] { server_handle(1, 11, 5, keys, 1); }, violation::wrong_phase);
  expect_violation([&] { server_handle(1, 11, 1, std::span(keys).first(40), 1); }, violation::malformed);
  // Truncated bytes on the wire (checksum/length).
  const auto m = wire::encode_control(11, 1, 1, keys);
  expect_violation(
      [&] {
        (void)s.server().handle(s.server_endpoint(),
                               envelope{1, server_endpoint, message::copy_of(m.bytes().first(m.size() - 3))});
      },
      violation::malformed);
  EXPECT_FALSE(server_handle(1, 11, 1, keys, 1));
  expect_violation([&] { server_handle(1, 11, 1, keys, 1); }, violation::duplicate); // replay
  EXPECT_EQ(cnt[violation::wrong_round], 1U);
  EXPECT_EQ(cnt[violation::impersonation], 1U);
  EXPECT_EQ(cnt[violation::forged], 0U);
  EXPECT_EQ(cnt[violation::unknown_sender], 1U);
  EXPECT_EQ(cnt[violation::wrong_phase], 1U);
  EXPECT_EQ(cnt[violation::malformed], 2U);
  EXPECT_EQ(cnt[violation::duplicate], 1U);
  EXPECT_EQ(s.server().answered(secagg_server::phase::advertise).size(), 1U);
}

TEST_F(hostile, wrong_recipient_and_forged_shares_and_no_secrets_in_messages) {
  for (const auto u : s.clients()) s.client(u).start(s.endpoint(u));
  s.deliver_to_server();
  s.server().close_phase(s.server_endpoint());
  s.deliver_to_clients(1, {});
  // Intercept client 1's shares; a copy re-addressed to a non-neighbour is refused.
  std::optional<envelope> shares_of_1;
  std::vector<envelope> rest;
  while (auto e = s.server_endpoint().try_receive()) {
    if (e->from == 1)
      shares_of_1 = *e;
    else
      rest.push_back(*e);
  }
  ASSERT_TRUE(shares_of_1);
  const auto d = wire::decode(shares_of_1->message);
  std::vector<std::byte> p(d.payload_bytes().begin(), d.payload_bytes().end());
  auto wrong = p;
  wire::detail::put_u64(wrong.data() + 4, 1); // first entry addressed to itself
  expect_violation([&] { server_handle(1, 11, 3, wrong, 1); }, violation::wrong_recipient);
  auto forged = p;
  forged[4 + 8 + 40] ^= std::byte{0x55}; // flip a ciphertext byte: passes the server, fails at the client
  EXPECT_FALSE(server_handle(1, 11, 3, forged, 1));
  for (auto& e : rest) (void)s.server().handle(s.server_endpoint(), e);
  s.server().close_phase(s.server_endpoint());
  // The recipient of the flipped ciphertext refuses the forwarded shares as forged.
  client_id victim = wire::detail::get_u64(p.data() + 4);
  auto& ep = s.endpoint(victim);
  auto fwd = ep.try_receive();
  ASSERT_TRUE(fwd);
  expect_violation([&] { s.client(victim).handle(ep, *fwd); }, violation::forged);
  EXPECT_EQ(s.client(victim).counters()[violation::forged], 1U);
  EXPECT_EQ(s.client(victim).current_state(), secagg_client::state::shared);
  // A client refuses a message that claims to come from the server but arrives from a peer.
  expect_violation(
      [&] {
        s.client(victim).handle(ep, envelope{2, victim, fwd->message});
      },
      violation::unknown_sender);
  // Replay of the key list (already handled): duplicate.
  const auto keys_msg = wire::encode_control(11, server_endpoint, 2, std::vector<std::byte>(4));
  expect_violation(
      [&] {
        s.client(victim).handle(ep, envelope{server_endpoint, victim, keys_msg});
      },
      violation::duplicate);
  // No secret bytes (as raw bytes or hex) in any message: the secret keys of every client are
  // derived from its seed, so check the seeds' rng outputs.
  for (const auto u : s.clients()) {
    auto r = fedpp::secagg::random_source::reproducible(seed_of(u));
    const auto c_sk = r.key();
    const auto s_sk = r.key();
    for (const auto& key : {c_sk, s_sk}) {
      static constexpr char hex[] = "0123456789abcdef";
      std::string h, raw(reinterpret_cast<const char*>(key.data()), 8);
      for (std::size_t i = 0; i < 4; ++i) {
        h += hex[std::to_integer<unsigned>(key[i]) >> 4];
        h += hex[std::to_integer<unsigned>(key[i]) & 15U];
      }
      for (const auto& m : messages) {
        EXPECT_EQ(m.find(h), std::string::npos);
        EXPECT_EQ(m.find(raw), std::string::npos);
      }
    }
  }
  EXPECT_GE(messages.size(), 4U);
}
