// Client-side checks of the server's key list: a neighbour with a low-order (all-zero) X25519
// key, a key list naming the client itself, and a repeated key are refused as inconsistent,
// counted, and leave the client in its state, so the honest key list that follows still works
// and the round's sum is exact.
#include "secagg_sim.hpp"

#include <gtest/gtest.h>

using namespace secagg_test;

namespace {

struct key_list : ::testing::Test {
  secagg_config config{5, 16, 32, 2};
  sim s{config, neighbor_graph::complete({1, 2, 3})};

  // The key list the server would send client 1, with neighbour 2's keys replaced.
  envelope list_for_1(const std::array<std::byte, 32>& c_pk_of_2, const std::array<std::byte, 32>& s_pk_of_2,
                      client_id second = 2) {
    fedpp::secagg::detail::byte_writer w;
    w.u32(1);
    w.u64(second);
    w.raw(c_pk_of_2);
    w.raw(s_pk_of_2);
    return envelope{
        server_endpoint, 1,
        wire::encode_control(config.round, server_endpoint, fedpp::secagg::detail::tag_keys, w.bytes())};
  }
  void expect_inconsistent(const envelope& e) {
    auto& c = s.client(1);
    const auto before = c.counters()[violation::inconsistent];
    try {
      c.handle(s.endpoint(1), e);
      ADD_FAILURE() << "accepted";
    } catch (const protocol_violation& v) {
      EXPECT_EQ(v.kind(), violation::inconsistent) << v.what();
    }
    EXPECT_EQ(c.counters()[violation::inconsistent], before + 1);
    EXPECT_EQ(c.current_state(), secagg_client::state::advertised);
    EXPECT_FALSE(s.endpoint(1).try_receive().has_value()); // nothing was sent to anyone
    EXPECT_FALSE(s.server_endpoint().try_receive().has_value());
  }
};

} // namespace

TEST_F(key_list, low_order_self_and_repeated_keys_are_refused_then_the_round_completes) {
  for (const auto u : s.clients()) {
    s.client(u).set_input(std::vector<std::uint32_t>(16, static_cast<std::uint32_t>(u)));
    s.client(u).start(s.endpoint(u));
  }
  s.deliver_to_server();
  s.server().close_phase(s.server_endpoint());
  // Take the honest key list of client 1 out of its mailbox; keep it for later.
  auto honest = s.endpoint(1).try_receive();
  ASSERT_TRUE(honest.has_value());
  std::array<std::byte, 32> zero{}, other{};
  other.fill(std::byte{9});
  expect_inconsistent(list_for_1(zero, other));    // low-order c_pk: no shared key
  expect_inconsistent(list_for_1(other, other));   // c_pk == s_pk
  expect_inconsistent(list_for_1(zero, other, 1)); // names the client itself
  // The honest list is still accepted, and the round sums exactly.
  s.client(1).handle(s.endpoint(1), *honest);
  EXPECT_EQ(s.client(1).current_state(), secagg_client::state::shared);
  s.deliver_to_clients(1, {});
  for (int phase = 2; phase <= 4; ++phase) {
    s.deliver_to_server();
    s.server().close_phase(s.server_endpoint());
    if (phase < 4) s.deliver_to_clients(phase, {});
  }
  const auto sum = s.server().sum();
  for (const auto v : sum) EXPECT_EQ(v, 6U); // 1 + 2 + 3
  EXPECT_EQ(s.server().counters().total_refused(), 0U);
}
