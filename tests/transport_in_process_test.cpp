// In-process transport: delivery, sharing, deadlines, close, counters, many threads.
#include "fedpp/transport/in_process_transport.hpp"
#include "fedpp/transport/wire_format.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <set>
#include <thread>
#include <vector>

namespace {

using namespace fedpp;
using namespace std::chrono_literals;

message bytes_message(std::size_t n, unsigned char fill) {
  std::vector<std::byte> b(n, static_cast<std::byte>(fill));
  return message::copy_of(b);
}

TEST(Message, SharesOneAlignedBuffer) {
  const message empty;
  EXPECT_TRUE(empty.empty());
  EXPECT_EQ(empty.size(), 0U);
  EXPECT_TRUE(empty.bytes().empty());
  const auto m = bytes_message(100, 7);
  EXPECT_EQ(m.size(), 100U);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(m.data()) % 64, 0U);
  const message copy = m; // NOLINT(performance-unnecessary-copy-initialization)
  EXPECT_TRUE(copy.shares_buffer_with(m));
  EXPECT_EQ(copy.data(), m.data());
  EXPECT_EQ(m.use_count(), 2);
  EXPECT_EQ(m.bytes()[99], std::byte{7});
}

TEST(InProcess, DeliversInOrderWithAddressingAndCounters) {
  in_process_transport hub;
  auto server = hub.server();
  auto c1 = hub.endpoint(1);
  auto c2 = hub.endpoint(2);
  EXPECT_EQ(server.id(), server_endpoint);
  server.send(1, bytes_message(10, 1));
  server.send(1, bytes_message(20, 2));
  server.send(2, bytes_message(30, 3));
  EXPECT_EQ(server.bytes_sent(), 60U);
  EXPECT_EQ(server.messages_sent(), 3U);
  EXPECT_EQ(c1.pending(), 2U);

  auto e = c1.receive_for(1s);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->from, server_endpoint);
  EXPECT_EQ(e->to, 1U);
  EXPECT_EQ(e->message.size(), 10U);
  e = c1.try_receive();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->message.size(), 20U);
  EXPECT_FALSE(c1.try_receive());
  EXPECT_EQ(c1.bytes_received(), 30U);
  EXPECT_EQ(c1.messages_received(), 2U);

  c2.send(server_endpoint, bytes_message(5, 9));
  const auto r = server.receive(transport_clock::now() + 1s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->from, 2U);
  EXPECT_EQ(r->to, server_endpoint);
  EXPECT_EQ(server.bytes_received(), 5U);
  // A second handle for the same id shares mailbox and counters.
  EXPECT_EQ(hub.endpoint(1).bytes_received(), 30U);
}

TEST(InProcess, ReceiveTimesOutWithNullopt) {
  in_process_transport hub;
  auto c = hub.endpoint(3);
  const auto t0 = transport_clock::now();
  EXPECT_FALSE(c.receive(t0 + 20ms));
  EXPECT_GE(transport_clock::now() - t0, 20ms);
  EXPECT_FALSE(c.receive(t0 - 1s)); // a past deadline polls
  EXPECT_FALSE(c.try_receive());
}

TEST(InProcess, MessagesToUnopenedEndpointsWaitForThem) {
  in_process_transport hub;
  auto server = hub.server();
  server.send(77, bytes_message(3, 1));
  EXPECT_EQ(hub.num_endpoints(), 2U);
  auto late = hub.endpoint(77);
  EXPECT_TRUE(late.try_receive());
}

TEST(InProcess, SendAsSpeaksOnlyForClientsRoutedToTheHost) {
  in_process_transport hub;
  hub.route(7, 1000);
  auto host = hub.endpoint(1000);
  auto server = hub.server();
  host.send_as(7, server_endpoint, bytes_message(4, 2));    // a routed client: the envelope names it
  host.send_as(1000, server_endpoint, bytes_message(4, 3)); // the host itself
  const auto first = server.try_receive();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->from, 7U);
  const auto second = server.try_receive();
  ASSERT_TRUE(second);
  EXPECT_EQ(second->from, 1000U);
  const auto sent = host.bytes_sent();
  EXPECT_THROW(host.send_as(8, server_endpoint, bytes_message(4, 4)), invalid_config); // not routed here
  auto other = hub.endpoint(8);
  EXPECT_THROW(host.send_as(8, server_endpoint, bytes_message(4, 4)), invalid_config); // routed elsewhere
  EXPECT_FALSE(server.try_receive());
  EXPECT_EQ(host.bytes_sent(), sent);
}

TEST(InProcess, BroadcastSharesOneBufferAcrossAThousandClients) {
  in_process_transport hub;
  auto server = hub.server();
  model_layout layout;
  layout.add("w", tensor_shape::vector(1000));
  const std::vector<float> weights(1000, 0.5F);
  const auto global = wire::encode_global_model<float>(0, round_config{}, layout, weights);
  for (client_id c = 0; c < 1000; ++c) server.send(c, global);
  EXPECT_EQ(global.use_count(), 1001);
  EXPECT_EQ(server.bytes_sent(), 1000 * global.size());
  for (client_id c = 0; c < 1000; c += 111) {
    auto e = hub.endpoint(c).try_receive();
    ASSERT_TRUE(e);
    EXPECT_TRUE(e->message.shares_buffer_with(global));
    const auto d = wire::decode_for(e->message, layout, 0);
    EXPECT_TRUE(d.payload_is_zero_copy());
    EXPECT_EQ(d.payload<float>().data(),
              reinterpret_cast<const float*>(global.data() + (global.size() - 4000)));
  }
}

TEST(InProcess, CloseWakesWaitersDrainsQueuesAndDropsSends) {
  in_process_transport hub;
  auto server = hub.server();
  std::atomic<int> woke{0};
  std::vector<std::thread> waiters;
  for (client_id c = 0; c < 4; ++c)
    waiters.emplace_back([&hub, &woke, c] {
      auto ep = hub.endpoint(c);
      if (!ep.receive(transport_clock::now() + 60s)) woke.fetch_add(1);
    });
  hub.endpoint(9).send(9, bytes_message(1, 1)); // queued before close: still delivered
  std::this_thread::sleep_for(20ms);
  hub.close();
  for (auto& t : waiters) t.join();
  EXPECT_EQ(woke.load(), 4);
  EXPECT_TRUE(hub.is_closed());
  auto nine = hub.endpoint(9);
  EXPECT_TRUE(nine.is_closed());
  EXPECT_TRUE(nine.try_receive());
  EXPECT_FALSE(nine.receive(transport_clock::now() + 60s)); // closed: no waiting
  const auto sent_before = server.bytes_sent();
  server.send(9, bytes_message(8, 1));
  hub.endpoint(1234).send(server_endpoint, bytes_message(8, 1)); // a mailbox created after close
  EXPECT_EQ(server.bytes_sent(), sent_before);
  EXPECT_FALSE(server.try_receive());
}

TEST(InProcess, ClosingOneEndpointLeavesTheOthers) {
  in_process_transport hub;
  auto a = hub.endpoint(1);
  auto b = hub.endpoint(2);
  a.close();
  b.send(1, bytes_message(4, 1));
  a.send(2, bytes_message(4, 1));
  EXPECT_FALSE(a.try_receive());
  EXPECT_TRUE(b.try_receive());
  EXPECT_EQ(b.bytes_sent(), 0U);
  EXPECT_EQ(a.bytes_sent(), 4U);
}

TEST(InProcess, ManyThreadsRoundTrip) {
  // 8 client threads, each answering every broadcast with an encoded update; the server
  // counts each client once per round. Run under TSan in a separate build.
  constexpr int clients = 8;
  constexpr std::uint64_t rounds = 20;
  in_process_transport hub;
  auto server = hub.server();
  model_layout layout;
  layout.add("w", tensor_shape::vector(64));
  std::vector<std::thread> threads;
  for (client_id c = 0; c < clients; ++c)
    threads.emplace_back([&hub, &layout, c] {
      auto ep = hub.endpoint(c);
      while (auto e = ep.receive(transport_clock::now() + 30s)) {
        const auto global = wire::decode(e->message);
        std::vector<float> update(global.payload<float>().begin(), global.payload<float>().end());
        for (auto& v : update) v += static_cast<float>(c);
        ep.send(server_endpoint, wire::encode_client_update<float>(global.round(), c, layout, update,
                                                                   static_cast<double>(c + 1)));
      }
    });
  std::vector<float> model(64, 0.0F);
  for (std::uint64_t r = 0; r < rounds; ++r) {
    const auto global = wire::encode_global_model<float>(r, round_config{}, layout, model);
    for (client_id c = 0; c < clients; ++c) server.send(c, global);
    std::set<client_id> seen;
    double weighted = 0, total = 0;
    while (seen.size() < clients) {
      auto e = server.receive(transport_clock::now() + 30s);
      ASSERT_TRUE(e);
      const auto d = wire::decode_for(e->message, layout, r);
      ASSERT_EQ(d.sender(), e->from);
      ASSERT_TRUE(seen.insert(d.sender()).second);
      weighted += d.weight() * static_cast<double>(d.payload<float>()[0]);
      total += d.weight();
    }
    model.assign(64, static_cast<float>(weighted / total));
  }
  hub.close();
  for (auto& t : threads) t.join();
  // model_{r+1} = model_r + sum_c (c+1) c / sum_c (c+1) = model_r + 168/36 (for c = 0..7).
  EXPECT_NEAR(model[0], 168.0 / 36.0 * rounds, 1e-3);
  EXPECT_EQ(server.messages_received(), clients * rounds);
  EXPECT_EQ(server.messages_sent(), clients * rounds);
}

TEST(InProcess, ConcurrentSendersToOneMailboxLoseNothing) {
  in_process_transport hub;
  auto server = hub.server();
  constexpr int senders = 6;
  constexpr int each = 500;
  std::vector<std::thread> threads;
  for (int s = 0; s < senders; ++s)
    threads.emplace_back([&hub, s] {
      auto ep = hub.endpoint(static_cast<endpoint_id>(s));
      for (int i = 0; i < each; ++i)
        ep.send(server_endpoint, bytes_message(static_cast<std::size_t>(i % 7 + 1), 0));
    });
  std::vector<int> next(senders, 0);
  for (int n = 0; n < senders * each; ++n) {
    auto e = server.receive(transport_clock::now() + 30s);
    ASSERT_TRUE(e);
    // Per-sender order: sizes cycle 1..7 in order.
    EXPECT_EQ(e->message.size(), static_cast<std::size_t>(next[e->from] % 7 + 1));
    ++next[e->from];
  }
  for (auto& t : threads) t.join();
  EXPECT_FALSE(server.try_receive());
}

} // namespace
