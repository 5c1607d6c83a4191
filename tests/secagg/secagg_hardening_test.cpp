// Hardening of secure aggregation against hostile input:
// - the client turns truncated / over-long / over-counted key lists, forwarded shares, survivor
//   lists and aborts into counted protocol violations (state unchanged, the round still completes);
// - Shamir, secagg_config, the state machines, SecAgg+ parameters and the client hooks never use a
//   threshold below 2;
// - secagg_server_hooks::collect counts impersonations (claimed sender ≠ transport sender) apart
//   from other refusals, still accepts the real client afterwards, refuses strangers and other
//   rounds, survives a transport whose receive throws malformed_message, and refuses (never
//   throws, never returns a non-finite mean for) sums that no honest clients can produce.
#include "secagg_sim.hpp"

#include "fedpp/secagg/secagg_plus_parameters.hpp"
#include "fedpp/secagg/secure_aggregation_hooks.hpp"
#include "fedpp/secagg/shamir.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <functional>
#include <thread>
#include <vector>

using namespace secagg_test;
namespace sd = fedpp::secagg::detail;

namespace {

// A copy of a server→client control message with its payload changed by `edit`.
envelope with_payload(const envelope& honest, const std::function<void(std::vector<std::byte>&)>& edit) {
  const auto d = wire::decode(honest.message);
  std::vector<std::byte> p(d.payload_bytes().begin(), d.payload_bytes().end());
  edit(p);
  return envelope{honest.from, honest.to, wire::encode_control(d.round(), d.sender(), d.tag(), p)};
}

// The malformed variants of one honest payload: empty, one byte short, one trailing byte, and an
// entry count one more than the entries present.
std::vector<envelope> malformed_variants(const envelope& honest) {
  return {
      with_payload(honest, [](std::vector<std::byte>& p) { p.clear(); }),
      with_payload(honest, [](std::vector<std::byte>& p) { p.pop_back(); }),
      with_payload(honest, [](std::vector<std::byte>& p) { p.push_back(std::byte{0}); }),
      with_payload(honest,
                   [](std::vector<std::byte>& p) {
                     wire::detail::put_u32(p.data(), wire::detail::get_u32(p.data()) + 1);
                   }),
      with_payload(honest, [](std::vector<std::byte>& p) { wire::detail::put_u32(p.data(), 0xffffffffU); }),
  };
}

struct client_payloads : ::testing::Test {
  secagg_config config{7, 8, 32, 2};
  sim s{config, neighbor_graph::complete({1, 2, 3})};

  void SetUp() override {
    for (const auto u : s.clients()) {
      s.client(u).set_input(std::vector<std::uint32_t>(8, static_cast<std::uint32_t>(10 * u)));
      s.client(u).start(s.endpoint(u));
    }
  }
  // Every variant is refused as malformed and counted; nothing is sent and the state stays.
  void expect_refused(const std::vector<envelope>& bad, secagg_client::state state) {
    auto& c = s.client(1);
    for (std::size_t i = 0; i < bad.size(); ++i) {
      SCOPED_TRACE(i);
      const auto before = c.counters()[violation::malformed];
      try {
        c.handle(s.endpoint(1), bad[i]);
        ADD_FAILURE() << "accepted";
      } catch (const protocol_violation& v) {
        EXPECT_EQ(v.kind(), violation::malformed) << v.what();
        EXPECT_EQ(v.sender(), server_endpoint);
      }
      EXPECT_EQ(c.counters()[violation::malformed], before + 1);
      EXPECT_EQ(c.current_state(), state);
      EXPECT_FALSE(s.server_endpoint().try_receive().has_value()); // no reply went out
    }
  }
  // Runs the server phase, then hands client 1 the malformed variants of its next message
  // before the honest one, and every other client its message.
  void phase(secagg_client::state before, secagg_client::state after, bool bad_abort = false) {
    s.deliver_to_server();
    s.server().close_phase(s.server_endpoint());
    auto honest = s.endpoint(1).try_receive();
    ASSERT_TRUE(honest.has_value());
    auto bad = malformed_variants(*honest);
    if (bad_abort) { // an abort whose payload is not one u32 is malformed too (and aborts nothing)
      for (const std::size_t n : {0U, 3U, 5U})
        bad.push_back(envelope{server_endpoint, 1,
                               wire::encode_control(config.round, server_endpoint, sd::tag_abort,
                                                    std::vector<std::byte>(n))});
    }
    expect_refused(bad, before);
    s.client(1).handle(s.endpoint(1), *honest);
    EXPECT_EQ(s.client(1).current_state(), after);
    for (const auto u : {client_id{2}, client_id{3}})
      while (auto e = s.endpoint(u).try_receive()) s.client(u).handle(s.endpoint(u), *e);
  }
};

} // namespace

TEST_F(client_payloads, truncated_and_overlong_messages_are_counted_violations_and_the_round_completes) {
  using st = secagg_client::state;
  phase(st::advertised, st::shared);  // key list
  phase(st::shared, st::masked);      // forwarded shares
  phase(st::masked, st::done, true);  // survivor list (and malformed aborts)
  s.deliver_to_server();
  s.server().close_phase(s.server_endpoint());
  for (const auto v : s.server().sum()) EXPECT_EQ(v, 60U); // 10 + 20 + 30: the round is exact
  EXPECT_EQ(s.client(1).counters()[violation::malformed], 5U + 5U + 8U);
  EXPECT_EQ(s.client(1).counters().total_refused(), 18U);
  EXPECT_EQ(s.server().counters().total_refused(), 0U);
}

TEST(secagg_client_hooks_hardening, a_malformed_key_list_is_counted_and_the_host_goes_on) {
  fedpp::secagg::secure_aggregation_settings settings;
  settings.encoding = {32, 1.0, 65536.0, 4, 100, 0};
  fedpp::secagg::secagg_client_hooks<float> hooks(settings);
  in_process_transport hub;
  auto ep = hub.endpoint(1);
  auto server_ep = hub.server();
  round_config config;
  config.extra[fedpp::secagg::secagg_threshold_key] = "2";
  const std::vector<float> delta{0.5F, -0.25F};
  hooks.upload(ep, 4, 1, config, std::span<const float>(delta), 3.0);
  ASSERT_EQ(hooks.active(), 1U);
  ASSERT_TRUE(server_ep.try_receive().has_value()); // the advertised keys
  fedpp::secagg::detail::byte_writer w;
  w.u32(2); // two entries claimed, one present and cut short
  w.u64(2);
  w.raw(std::vector<std::byte>(40, std::byte{7}));
  const envelope bad{server_endpoint, 1, wire::encode_control(4, server_endpoint, sd::tag_keys, w.bytes())};
  bool consumed = false;
  EXPECT_NO_THROW(consumed = hooks.on_control(ep, bad));
  EXPECT_TRUE(consumed);
  EXPECT_EQ(hooks.counters()[violation::malformed], 1U);
  EXPECT_EQ(hooks.active(), 1U); // the protocol is still waiting for the real key list
  EXPECT_FALSE(server_ep.try_receive().has_value());
  // Copies start with fresh counters, like their protocols.
  const fedpp::secagg::secagg_client_hooks<float> copy(hooks);
  EXPECT_EQ(copy.counters().total_refused(), 0U);
}

TEST(secagg_threshold, shamir_refuses_thresholds_below_two) {
  auto rng = fedpp::secagg::random_source::reproducible(seed_of(4));
  const auto secret = rng.key();
  const std::vector<std::uint64_t> xs{1, 2, 3};
  for (const std::size_t t : {std::size_t{0}, std::size_t{1}}) {
    try {
      (void)shamir_split(secret, t, xs, rng);
      ADD_FAILURE() << "split accepted t = " << t;
    } catch (const invalid_config& e) {
      EXPECT_NE(std::string(e.what()).find("threshold " + std::to_string(t)), std::string::npos) << e.what();
    }
  }
  const auto shares = shamir_split(secret, 2, xs, rng);
  EXPECT_THROW((void)shamir_reconstruct(shares, 1), invalid_config);
  EXPECT_THROW((void)shamir_reconstruct(shares, 0), invalid_config);
  EXPECT_EQ(shamir_reconstruct(shares, 2), secret);
}

TEST(secagg_threshold, configs_and_state_machines_refuse_threshold_one) {
  const secagg_config one{1, 4, 32, 1};
  EXPECT_THROW(one.validate(), invalid_config);
  EXPECT_THROW(secagg_client(1, one, seed_of(1)), invalid_config);
  EXPECT_THROW(secagg_server(one, neighbor_graph::complete({1, 2})), invalid_config);
  try {
    one.validate();
  } catch (const invalid_config& e) {
    EXPECT_NE(std::string(e.what()).find("threshold = 1"), std::string::npos) << e.what();
  }
  const secagg_config two{1, 4, 32, 2};
  EXPECT_NO_THROW(two.validate());
}

TEST(secagg_threshold, secagg_plus_parameters_never_choose_threshold_one) {
  // A non-positive budget used to let n = 2 come out as t = 1 (degree 1).
  EXPECT_THROW((void)secagg_plus_parameters::choose(2, 0.0, 0.0, -10, 20), invalid_config);
  EXPECT_THROW((void)secagg_plus_parameters::choose(2, 0.0, 0.0, 40, -1), invalid_config);
  EXPECT_THROW((void)secagg_plus_parameters::choose(2, 0.0, 0.0, std::nan(""), 20), invalid_config);
  EXPECT_THROW((void)secagg_plus_parameters::choose(8, 0.0, 0.0, INFINITY, 20), invalid_config);
  std::size_t chosen = 0;
  for (std::size_t n = 2; n <= 40; ++n)
    for (const double dropout : {0.0, 0.05, 0.3})
      for (const double adversary : {0.0, 0.2})
        for (const double sigma : {0.1, 2.0, 40.0})
          for (const double eta : {0.1, 2.0, 20.0}) {
            try {
              const auto p = secagg_plus_parameters::choose(n, dropout, adversary, sigma, eta);
              ++chosen;
              EXPECT_GE(p.threshold, 2U) << "n " << n << " sigma " << sigma << " eta " << eta;
              EXPECT_LE(p.threshold, p.degree + 1);
            } catch (const invalid_config&) {
              // no (k, t) meets the budgets: refused, never t = 1
            }
          }
  EXPECT_GT(chosen, 100U);
}

TEST(secagg_threshold, client_hooks_refuse_a_threshold_the_server_should_never_send) {
  fedpp::secagg::secure_aggregation_settings settings;
  settings.encoding = {32, 1.0, 65536.0, 4, 100, 0};
  fedpp::secagg::secagg_client_hooks<float> hooks(settings);
  in_process_transport hub;
  auto ep = hub.endpoint(1);
  const std::vector<float> delta{0.5F};
  for (const char* t : {"1", "0", "-3", "2.5", "1e30", "nan", "inf"}) {
    round_config config;
    config.extra[fedpp::secagg::secagg_threshold_key] = t;
    try {
      hooks.upload(ep, 0, 1, config, std::span<const float>(delta), 3.0);
      ADD_FAILURE() << "accepted threshold " << t;
    } catch (const invalid_config& e) {
      EXPECT_NE(std::string(e.what()).find("threshold"), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(hooks.active(), 0U);
  EXPECT_FALSE(hub.server().try_receive().has_value()); // nothing was advertised
}

namespace {

namespace sa = fedpp::secagg;
using namespace std::chrono_literals;

constexpr std::size_t dim = 5;

fedpp::model_layout layout_of() {
  fedpp::model_layout l;
  l.add("w", {dim});
  return l;
}
std::uint64_t weight_of(client_id c) { return 3 + c; }
float delta_of(client_id c, std::size_t i) {
  return static_cast<float>((i % 2 == 0 ? 0.1 : -0.2) * static_cast<double>(c + 1)); // |x| ≤ 0.8
}

// One secure round driven through secagg_server_hooks::collect: four clients (ids 0..3) on
// their own threads, each a secagg_client with a fixed seed and the encoding of its delta (which a
// test may replace by a cheating one), against whatever endpoint the test gives collect.
struct collect_round {
  sa::secure_aggregation_settings settings;
  in_process_transport hub;
  in_process_endpoint server_ep = hub.server();
  std::vector<client_id> ids{0, 1, 2, 3};
  std::map<client_id, std::vector<std::uint32_t>> inputs;
  std::optional<sa::secagg_server_hooks<float>> hooks;
  std::uint64_t round = 9;

  explicit collect_round(double scale = 65536.0) {
    settings.encoding = {32, 1.0, scale, 4, 100, 0};
    settings.phase_timeout = 2s;
    hooks.emplace(settings, layout_of());
    hooks->begin_round(ids, round);
    const sa::fixed_point_encoder encoder(settings.encoding);
    for (const auto c : ids) {
      std::vector<float> x(dim);
      for (std::size_t i = 0; i < dim; ++i) x[i] = delta_of(c, i);
      inputs[c].resize(dim + 1);
      (void)encoder.encode_weighted(x, weight_of(c), inputs[c]);
    }
  }
  // A control message reaching the server from endpoint `from`, whose header claims `claimed`.
  void inject(endpoint_id from, endpoint_id claimed, std::uint32_t tag, std::uint64_t r,
              std::size_t payload_bytes = 64) {
    std::vector<std::byte> payload(payload_bytes);
    for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<std::byte>(i * 7 + from);
    hub.endpoint(from).send(server_endpoint, wire::encode_control(r, claimed, tag, payload));
  }
  template <class Endpoint>
  std::optional<flat_model<float>> run(Endpoint& ep, round_metrics& metrics) {
    std::vector<std::thread> threads;
    const auto deadline = transport_clock::now() + 30s;
    for (const auto c : ids)
      threads.emplace_back([this, c, deadline] {
        auto cep = hub.endpoint(c);
        secagg_client client(c, secagg_config{round, dim + 1, 32, hooks->threshold()}, seed_of(c, 5));
        client.set_input(inputs.at(c));
        (void)client.run(cep, deadline);
      });
    std::optional<flat_model<float>> mean;
    EXPECT_NO_THROW(mean = hooks->collect(ep, ids, round, deadline, metrics));
    for (auto& t : threads) t.join();
    return mean;
  }
  static double expected(std::size_t i) {
    double num = 0, den = 0;
    for (client_id c = 0; c < 4; ++c) {
      num += static_cast<double>(weight_of(c)) * static_cast<double>(delta_of(c, i));
      den += static_cast<double>(weight_of(c));
    }
    return num / den;
  }
  static void expect_honest_mean(const std::optional<flat_model<float>>& mean, const round_metrics& m) {
    ASSERT_TRUE(mean.has_value());
    EXPECT_EQ(m.reported, 4U);
    EXPECT_DOUBLE_EQ(m.total_examples, 3.0 + 4.0 + 5.0 + 6.0);
    for (std::size_t i = 0; i < dim; ++i) EXPECT_NEAR(mean->span()[i], expected(i), 1e-4) << i;
  }
};

// A transport whose receive throws malformed_message on chosen calls (a bad envelope).
struct throwing_endpoint {
  in_process_endpoint inner;
  std::vector<int> throw_on; // 0-based call numbers
  std::vector<int> forged_on; // calls that throw fedpp::impersonation (a forged sender)
  int calls = 0;
  [[nodiscard]] endpoint_id id() const { return inner.id(); }
  void send(endpoint_id to, const message& m) { inner.send(to, m); }
  [[nodiscard]] std::optional<envelope> receive(transport_clock::time_point deadline) {
    const int call = calls++;
    if (std::find(throw_on.begin(), throw_on.end(), call) != throw_on.end())
      throw malformed_message("throwing_endpoint: bad envelope on call " + std::to_string(call));
    if (std::find(forged_on.begin(), forged_on.end(), call) != forged_on.end())
      throw fedpp::impersonation(7, 2, "throwing_endpoint: forged sender on call " + std::to_string(call));
    return inner.receive(deadline);
  }
  [[nodiscard]] std::uint64_t bytes_sent() const noexcept { return inner.bytes_sent(); }
  [[nodiscard]] std::uint64_t bytes_received() const noexcept { return inner.bytes_received(); }
};
static_assert(fedpp::transport<throwing_endpoint>);

} // namespace

TEST(secagg_collect, impersonations_are_counted_apart_and_the_real_client_is_still_accepted) {
  collect_round r;
  // Queued before any honest message, so the server meets them first.
  r.inject(1, 2, sd::tag_advertise, r.round);  // recipient 1 claims to be recipient 2
  r.inject(99, 0, sd::tag_advertise, r.round); // a stranger claims to be recipient 0
  r.inject(3, 1, sd::tag_shares, r.round, 4);  // recipient 3 claims 1, for a later phase
  round_metrics m;
  const auto mean = r.run(r.server_ep, m);
  EXPECT_EQ(m.impersonations, 3U);
  EXPECT_EQ(m.malformed, 0U);
  collect_round::expect_honest_mean(mean, m);
  const auto& cnt = r.hooks->counters();
  EXPECT_EQ(cnt[violation::impersonation], 3U);
  EXPECT_EQ(cnt.total_refused(), 3U);
}

TEST(secagg_collect, strangers_other_rounds_and_garbage_are_refused_and_counted_as_malformed) {
  collect_round r;
  r.inject(99, 99, sd::tag_advertise, r.round);           // not a recipient
  r.inject(42, 42, sd::tag_masked, r.round, 1 << 20);     // not a recipient, 1 MiB
  r.inject(3, 3, sd::tag_advertise, r.round + 1);         // a later round
  r.inject(3, 3, sd::tag_advertise, r.round - 1);         // an earlier round
  r.inject(2, 2, sd::tag_shares, r.round - 1, 1 << 16);   // an earlier round's shares, 64 KiB
  const std::vector<std::byte> junk(50, std::byte{0x5a});
  r.hub.endpoint(0).send(server_endpoint, message::copy_of(junk)); // not a wire message
  round_metrics m;
  const auto mean = r.run(r.server_ep, m);
  EXPECT_EQ(m.malformed, 6U);
  EXPECT_EQ(m.impersonations, 0U);
  collect_round::expect_honest_mean(mean, m);
  const auto& cnt = r.hooks->counters();
  EXPECT_EQ(cnt[violation::unknown_sender], 2U);
  EXPECT_EQ(cnt[violation::wrong_round], 3U);
  EXPECT_EQ(cnt[violation::malformed], 1U);
}

TEST(secagg_collect, a_transport_throwing_malformed_message_is_counted_and_the_round_goes_on) {
  collect_round r;
  throwing_endpoint ep{r.hub.server(), {0, 1, 5, 9}, {3, 7}};
  round_metrics m;
  const auto mean = r.run(ep, m);
  EXPECT_EQ(m.malformed, 4U);
  EXPECT_EQ(m.impersonations, 2U); // the transport's own impersonation refusals count as such
  collect_round::expect_honest_mean(mean, m);
}

TEST(secagg_collect, a_weight_slot_no_honest_clients_can_produce_fails_the_round_without_throwing) {
  for (const bool zero : {true, false}) {
    SCOPED_TRACE(zero ? "sum of weights 0" : "sum of weights above K·W");
    collect_round r;
    // Client 3 cancels the others' weights (Σw = 0: the mean would divide by zero), or claims
    // a weight of 2^30.
    r.inputs[3][0] = zero ? static_cast<std::uint32_t>(0U - (3U + 4U + 5U)) : (1U << 30);
    round_metrics m;
    const auto mean = r.run(r.server_ep, m);
    EXPECT_FALSE(mean.has_value());
    EXPECT_EQ(m.reported, 0U);
    EXPECT_EQ(m.rejected, 1U);
    EXPECT_EQ(r.hooks->refused_sums(), 1U);
    EXPECT_NE(r.hooks->last_refusal().find("weight sum"), std::string::npos) << r.hooks->last_refusal();
  }
}

TEST(secagg_collect, coordinates_beyond_the_clip_bound_fail_the_round_rather_than_reach_the_model) {
  {
    collect_round r;
    r.inputs[2][2] += 1U << 29; // far beyond Σw·round(c·s)
    round_metrics m;
    const auto mean = r.run(r.server_ep, m);
    EXPECT_FALSE(mean.has_value());
    EXPECT_EQ(m.rejected, 1U);
    EXPECT_NE(r.hooks->last_refusal().find("coordinate 1"), std::string::npos) << r.hooks->last_refusal();
  }
  {
    // With a tiny scale one word decodes beyond float's range: the mean would hold Inf.
    collect_round r(1e-32);
    r.inputs[0][1] = 1U << 30;
    round_metrics m;
    const auto mean = r.run(r.server_ep, m);
    if (mean) {
      for (const float v : mean->span()) EXPECT_TRUE(std::isfinite(v));
    }
    EXPECT_FALSE(mean.has_value());
    EXPECT_EQ(m.rejected, 1U);
  }
}

TEST(secagg_collect, collect_without_begin_round_for_these_recipients_is_a_usage_error) {
  collect_round r;
  round_metrics m;
  EXPECT_THROW((void)r.hooks->collect(r.server_ep, {0, 1, 2}, r.round, transport_clock::now(), m),
               invalid_config);
  EXPECT_THROW((void)r.hooks->collect(r.server_ep, r.ids, r.round + 1, transport_clock::now(), m),
               invalid_config);
}
