// ECDH private set intersection over ristretto255 (fedpp/vertical/psi.hpp): results against
// plain set logic on random sets (two parties, size-only, a label holder with three feature
// holders, on a thread pool), the hash to the group against a one-shot computation, and every
// refusal of hostile or out-of-order messages with the receiving party unchanged.
#include "fedpp/parallel/thread_pool.hpp"
#include "fedpp/transport/in_process_transport.hpp"
#include "fedpp/vertical/psi.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <future>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace fedpp::vertical;
using fedpp::secagg::random_source;

random_source seeded(std::uint8_t s) {
  fedpp::secagg::key32 k{};
  k[0] = std::byte{s};
  return random_source::reproducible(k);
}

// `n` distinct ids drawn from a universe of `universe` ids ("user-<k>", some with binary bytes).
std::vector<std::string> random_ids(std::size_t n, std::size_t universe, std::uint64_t seed) {
  std::vector<std::size_t> all(universe);
  for (std::size_t i = 0; i < universe; ++i) all[i] = i;
  std::uint64_t x = seed * 0x9E3779B97F4A7C15ULL + 1;
  for (std::size_t i = universe - 1; i > 0; --i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    std::swap(all[i], all[x % (i + 1)]);
  }
  std::vector<std::string> ids;
  for (std::size_t i = 0; i < n; ++i) {
    std::string id = "user-" + std::to_string(all[i]);
    if (all[i] % 7 == 0) id += std::string("\0\xff", 2); // arbitrary bytes
    ids.push_back(id);
  }
  if (n > 0 && all[0] % 2 == 0) ids[0] = ""; // the empty id is an id too
  return ids;
}

// Plain set logic: rows of `a` whose id is in `b`, ascending.
std::vector<std::size_t> plain_intersection(const std::vector<std::string>& a,
                                            const std::vector<std::vector<std::string>>& others) {
  std::vector<std::size_t> rows;
  for (std::size_t i = 0; i < a.size(); ++i) {
    bool everywhere = true;
    for (const auto& b : others) everywhere = everywhere && std::find(b.begin(), b.end(), a[i]) != b.end();
    if (everywhere) rows.push_back(i);
  }
  return rows;
}

psi_options opts(psi_mode mode = psi_mode::intersection) {
  psi_options o;
  o.mode = mode;
  o.session = 42;
  o.timeout = std::chrono::seconds(60);
  return o;
}

TEST(VerticalPsi, HashToGroupIsTheDocumentedConstruction) {
  const std::string domain = "fedpp/vertical/psi/v1";
  for (const std::string& id : {std::string(), std::string("alice"), std::string("\0\x01\x02", 3)}) {
    std::vector<unsigned char> buf;
    buf.push_back(static_cast<unsigned char>(domain.size()));
    buf.insert(buf.end(), domain.begin(), domain.end());
    for (int i = 0; i < 8; ++i) buf.push_back(static_cast<unsigned char>((id.size() >> (8 * i)) & 0xff));
    buf.insert(buf.end(), id.begin(), id.end());
    unsigned char h[crypto_hash_sha512_BYTES];
    crypto_hash_sha512(h, buf.data(), buf.size());
    psi_point expected{};
    crypto_core_ristretto255_from_hash(expected.data(), h);
    EXPECT_EQ(psi_hash_to_group(id, domain), expected);
    EXPECT_NE(psi_hash_to_group(id, "another domain"), expected);
    EXPECT_EQ(crypto_core_ristretto255_is_valid_point(expected.data()), 1);
  }
  EXPECT_NE(psi_hash_to_group("a", domain), psi_hash_to_group("b", domain));
  EXPECT_THROW((void)psi_hash_to_group("a", std::string(256, 'd')), fedpp::invalid_config);
}

TEST(VerticalPsi, ControlMessagesAreTheWireFormatsOwn) {
  const std::vector<std::byte> payload = {std::byte{1}, std::byte{2}, std::byte{3}};
  const auto mine = fedpp::vertical::detail::control_message(7, 9, 0x56500001U, payload);
  const auto theirs = fedpp::wire::encode_control(7, 9, 0x56500001U, payload);
  ASSERT_EQ(mine.size(), theirs.size());
  EXPECT_TRUE(std::equal(mine.bytes().begin(), mine.bytes().end(), theirs.bytes().begin()));
  EXPECT_EQ(fedpp::wire::decode(mine).payload_bytes().size(), 3U);
}

TEST(VerticalPsi, TwoPartiesMatchPlainSetLogic) {
  const auto a = random_ids(700, 1500, 1);
  const auto b = random_ids(600, 1500, 2);
  fedpp::in_process_transport hub;
  auto ta = hub.endpoint(1);
  auto tb = hub.endpoint(2);
  fedpp::parallel::thread_pool pool(2);
  auto oa = opts();
  oa.pool = &pool;
  std::size_t calls = 0;
  oa.progress = [&](std::string_view, std::size_t done, std::size_t total) {
    EXPECT_LE(done, total);
    ++calls;
  };
  auto responder = std::async(std::launch::async, [&] {
    auto rng = seeded(20);
    return run_psi_responder(tb, 1, b, opts(), rng);
  });
  auto rng = seeded(10);
  const auto ra = run_psi_initiator(ta, 2, a, oa, rng);
  const auto rb = responder.get();
  const auto expected = plain_intersection(a, {b});
  ASSERT_FALSE(expected.empty());
  EXPECT_EQ(ra.rows, expected);
  EXPECT_EQ(ra.size, expected.size());
  EXPECT_EQ(ra.peer_set_size, b.size());
  EXPECT_EQ(rb.peer_set_size, a.size());
  ASSERT_EQ(rb.rows.size(), expected.size());
  for (std::size_t k = 0; k < expected.size(); ++k) EXPECT_EQ(b[rb.rows[k]], a[ra.rows[k]]) << k;
  EXPECT_GT(calls, 2U);
}

TEST(VerticalPsi, SizeOnlyRevealsTheCountAlone) {
  const auto a = random_ids(300, 600, 3);
  const auto b = random_ids(400, 600, 4);
  fedpp::in_process_transport hub;
  auto ta = hub.endpoint(1);
  auto tb = hub.endpoint(2);
  auto responder = std::async(std::launch::async, [&] {
    auto rng = seeded(21);
    return run_psi_responder(tb, 1, b, opts(psi_mode::size_only), rng);
  });
  auto rng = seeded(11);
  const auto ra = run_psi_initiator(ta, 2, a, opts(psi_mode::size_only), rng);
  const auto rb = responder.get();
  const auto expected = plain_intersection(a, {b});
  EXPECT_EQ(ra.size, expected.size());
  EXPECT_EQ(rb.size, expected.size());
  EXPECT_TRUE(ra.rows.empty());
  EXPECT_TRUE(rb.rows.empty());
}

TEST(VerticalPsi, LabelHolderWithThreeFeatureHolders) {
  const auto label = random_ids(400, 600, 5);
  const std::vector<std::vector<std::string>> features = {random_ids(450, 600, 6), random_ids(500, 600, 7),
                                                          random_ids(350, 600, 8)};
  fedpp::in_process_transport hub;
  auto tl = hub.endpoint(100);
  std::vector<std::future<psi_result>> holders;
  for (std::size_t f = 0; f < features.size(); ++f)
    holders.push_back(std::async(std::launch::async, [&, f] {
      auto t = hub.endpoint(f + 1);
      auto rng = seeded(static_cast<std::uint8_t>(30 + f));
      return run_psi_responder(t, 100, features[f], opts(), rng);
    }));
  const std::vector<fedpp::endpoint_id> peers = {1, 2, 3};
  auto rng = seeded(12);
  const auto rl = run_psi_label_holder(tl, peers, label, opts(), rng);
  const auto expected = plain_intersection(label, features);
  ASSERT_FALSE(expected.empty());
  EXPECT_EQ(rl.rows, expected);
  for (std::size_t f = 0; f < features.size(); ++f) {
    const auto rf = holders[f].get();
    ASSERT_EQ(rf.rows.size(), expected.size());
    for (std::size_t k = 0; k < expected.size(); ++k) EXPECT_EQ(features[f][rf.rows[k]], label[expected[k]]);
  }
  auto rng2 = seeded(13);
  EXPECT_THROW((void)run_psi_label_holder(tl, peers, label, opts(psi_mode::size_only), rng2),
               fedpp::invalid_config);
  const std::vector<fedpp::endpoint_id> twice = {1, 1};
  EXPECT_THROW((void)run_psi_label_holder(tl, twice, label, opts(), rng2), fedpp::invalid_config);
}

TEST(VerticalPsi, DuplicateIdsAndLocalMisuseRefused) {
  auto rng = seeded(14);
  const std::vector<std::string> dup = {"x", "y", "x"};
  EXPECT_THROW(psi_initiator(dup, opts(), rng), fedpp::invalid_config);
  EXPECT_THROW(psi_responder(dup, opts(), rng), fedpp::invalid_config);
  const std::vector<std::string> ids = {"x", "y"};
  psi_initiator a(ids, opts(), rng);
  EXPECT_THROW((void)a.result_message(1), fedpp::invalid_config);
  (void)a.request(1);
  EXPECT_THROW((void)a.request(1), fedpp::invalid_config);
}

TEST(VerticalPsi, EmptySetsShareNothing) {
  // A party without ids sends (and receives) lists of zero points (tests/fuzz/findings/psi-1: the
  // empty list was copied from a null pointer, undefined behaviour).
  const std::vector<std::string> none, some = {"x", "y"};
  for (const bool initiator_empty : {true, false}) {
    const std::vector<std::string>& a = initiator_empty ? none : some;
    const std::vector<std::string>& b = initiator_empty ? some : none;
    for (const psi_mode mode : {psi_mode::intersection, psi_mode::size_only}) {
      auto o = opts();
      o.mode = mode;
      auto ra = seeded(50);
      auto rb = seeded(51);
      psi_initiator init(a, o, ra);
      psi_responder resp(b, o, rb);
      const auto response = resp.on_request(fedpp::wire::decode(init.request(1)), 2);
      const psi_result x = init.on_response(fedpp::wire::decode(response));
      const psi_result y = resp.on_result(fedpp::wire::decode(init.result_message(1)));
      EXPECT_EQ(x.size, 0U);
      EXPECT_EQ(y.size, 0U);
      EXPECT_TRUE(x.rows.empty());
      EXPECT_TRUE(y.rows.empty());
      EXPECT_EQ(x.peer_set_size, b.size());
      EXPECT_EQ(y.peer_set_size, a.size());
    }
  }
}

// Drives the parties by hand, so that each message can be tampered with.
struct manual_run {
  std::vector<std::string> a = {"alice", "bob", "carol", "dave"};
  std::vector<std::string> b = {"erin", "carol", "alice", "frank", "grace"};
  random_source ra = seeded(40);
  random_source rb = seeded(41);
  psi_initiator init{a, opts(), ra};
  psi_responder resp{b, opts(), rb};
};

// Rebuilds a control message with another payload (and tag, round) for the tampering tests.
fedpp::message with_payload(const fedpp::message& m, std::vector<std::byte> payload,
                            std::optional<std::uint32_t> tag = {}, std::optional<std::uint64_t> round = {}) {
  const auto d = fedpp::wire::decode(m);
  return fedpp::vertical::detail::control_message(round ? *round : d.round(), d.sender(),
                                                  tag ? *tag : d.tag(), payload);
}
std::vector<std::byte> payload_of(const fedpp::message& m) {
  const auto d = fedpp::wire::decode(m);
  return {d.payload_bytes().begin(), d.payload_bytes().end()};
}

TEST(VerticalPsi, HostileResponsesRefusedWithTheInitiatorUnchanged) {
  manual_run run;
  const auto req = run.init.request(1);
  const auto resp = run.resp.on_request(fedpp::wire::decode(req), 2);
  const auto good = payload_of(resp);
  auto refuse = [&](std::vector<std::byte> p, const char* why, std::optional<std::uint32_t> tag = {},
                    std::optional<std::uint64_t> round = {}) {
    EXPECT_THROW(run.init.on_response(fedpp::wire::decode(with_payload(resp, std::move(p), tag, round))),
                 fedpp::malformed_message)
        << why;
  };
  // Layout: u32 version, u8 mode, u64 na, na x 32, u64 nb, nb x 32.
  const std::size_t nb_at = 13 + 4 * 32;
  auto p = good;
  p[13 + 32 + 5] ^= std::byte{0x80}; // a double-blinded point that is not a valid encoding
  refuse(p, "invalid point");
  p = good;
  std::fill(p.begin() + nb_at + 8, p.begin() + nb_at + 40, std::byte{0xff}); // peer id 0 invalid
  refuse(p, "invalid peer point");
  p = good;
  std::fill(p.begin() + nb_at + 8, p.begin() + nb_at + 40, std::byte{0}); // the identity
  refuse(p, "identity");
  p = good;
  fedpp::wire::detail::put_u64(p.data() + 5, 3); // wrong count of our ids
  refuse(p, "wrong count");
  p = good;
  fedpp::wire::detail::put_u64(p.data() + nb_at, 6); // more peer ids than bytes
  refuse(p, "count beyond the bytes");
  p = good;
  fedpp::wire::detail::put_u64(p.data() + nb_at, std::uint64_t{1} << 40); // beyond max_peer_ids
  refuse(p, "count beyond max_peer_ids");
  p = good;
  std::copy(p.begin() + nb_at + 8, p.begin() + nb_at + 40, p.begin() + nb_at + 40); // a repeated peer id
  refuse(p, "repeated id");
  p = good;
  p[4] = std::byte{2}; // size-only answer to an intersection run
  refuse(p, "mode");
  p = good;
  p[0] = std::byte{9};
  refuse(p, "version");
  p = good;
  p.push_back(std::byte{0});
  refuse(p, "trailing");
  p = good;
  p.resize(p.size() - 1);
  refuse(p, "truncated");
  refuse(good, "wrong tag", to_wire(vertical_tag::psi_request));
  refuse(good, "wrong session", std::nullopt, 43);
  // Unchanged: the genuine response still works, and matches plain set logic.
  const auto r = run.init.on_response(fedpp::wire::decode(resp));
  EXPECT_EQ(r.rows, (std::vector<std::size_t>{0, 2}));
  EXPECT_EQ(r.peer_set_size, 5U);
  const auto rr = run.resp.on_result(fedpp::wire::decode(run.init.result_message(1)));
  EXPECT_EQ(rr.rows, (std::vector<std::size_t>{2, 1}));
  EXPECT_THROW((void)run.init.on_response(fedpp::wire::decode(resp)), fedpp::invalid_config); // twice
  EXPECT_THROW((void)run.init.result_message(1, std::vector<std::size_t>{1}),
               fedpp::invalid_config); // bob unshared
}

TEST(VerticalPsi, HostileRequestsAndResultsRefusedWithTheResponderUnchanged) {
  manual_run run;
  const auto req = run.init.request(1);
  const auto good = payload_of(req);
  auto refuse_request = [&](std::vector<std::byte> p, const char* why,
                            std::optional<std::uint32_t> tag = {}) {
    EXPECT_THROW((void)run.resp.on_request(fedpp::wire::decode(with_payload(req, std::move(p), tag)), 2),
                 fedpp::malformed_message)
        << why;
  };
  auto p = good;
  p[13 + 7] ^= std::byte{0x40};
  refuse_request(p, "invalid point");
  p = good;
  fedpp::wire::detail::put_u64(p.data() + 5, 5);
  refuse_request(p, "count beyond the bytes");
  p = good;
  fedpp::wire::detail::put_u64(p.data() + 5, std::uint64_t{1} << 62);
  refuse_request(p, "count beyond max_peer_ids");
  p = good;
  p[4] = std::byte{2};
  refuse_request(p, "mode");
  refuse_request(good, "a result before the request", to_wire(vertical_tag::psi_result));
  // A result before any request is out of order.
  EXPECT_THROW(
      (void)run.resp.on_result(fedpp::wire::decode(with_payload(req, {}, to_wire(vertical_tag::psi_result)))),
      fedpp::malformed_message);
  // The genuine request still works.
  const auto resp = run.resp.on_request(fedpp::wire::decode(req), 2);
  EXPECT_THROW((void)run.resp.on_request(fedpp::wire::decode(req), 2),
               fedpp::malformed_message); // a second request
  (void)run.init.on_response(fedpp::wire::decode(resp));
  const auto result = run.init.result_message(1);
  const auto good_result = payload_of(result);
  auto refuse_result = [&](std::vector<std::byte> q, const char* why) {
    EXPECT_THROW((void)run.resp.on_result(fedpp::wire::decode(with_payload(result, std::move(q)))),
                 fedpp::malformed_message)
        << why;
  };
  // Layout: u32 version, u8 mode, u64 k, k x u64 positions.
  auto q = good_result;
  fedpp::wire::detail::put_u64(q.data() + 13, 5); // a position beyond the responder's list
  refuse_result(q, "position out of range");
  q = good_result;
  std::copy(q.begin() + 13, q.begin() + 21, q.begin() + 21); // a position twice
  refuse_result(q, "position twice");
  q = good_result;
  fedpp::wire::detail::put_u64(q.data() + 5, 5); // more shared ids than the smaller set
  refuse_result(q, "size beyond min");
  q = good_result;
  fedpp::wire::detail::put_u64(q.data() + 5, 3); // more positions than bytes
  refuse_result(q, "truncated");
  const auto rr = run.resp.on_result(fedpp::wire::decode(result));
  EXPECT_EQ(rr.rows, (std::vector<std::size_t>{2, 1}));
}

TEST(VerticalPsi, DriverRefusesStrangersAndImpostors) {
  fedpp::in_process_transport hub;
  auto ta = hub.endpoint(1);
  auto tb = hub.endpoint(2);
  auto stranger = hub.endpoint(3);
  const std::vector<std::string> b = {"x", "y"};
  // A message from an endpoint that is not the initiator.
  stranger.send(2, fedpp::vertical::detail::control_message(42, 3, to_wire(vertical_tag::psi_request), {}));
  auto rng = seeded(50);
  EXPECT_THROW((void)run_psi_responder(tb, 1, b, opts(), rng), fedpp::malformed_message);
  // The initiator's endpoint sending a message that claims another sender.
  ta.send(2, fedpp::vertical::detail::control_message(42, 7, to_wire(vertical_tag::psi_request), {}));
  EXPECT_THROW((void)run_psi_responder(tb, 1, b, opts(), rng), fedpp::impersonation);
  // Nobody answers: a timeout.
  auto o = opts();
  o.timeout = std::chrono::milliseconds(20);
  EXPECT_THROW((void)run_psi_responder(tb, 1, b, o, rng), fedpp::error);
}

} // namespace
