// Fuzzes the server's admission path: fedpp::server<float, uniform_sampler> over the in-process
// transport, three selected clients (1, 2, 3), one round, no threads. The server's mailbox is
// pre-loaded with the fuzzed messages, sent from fuzzed endpoints, interleaved with the honest
// reports of the clients in a fuzzed set (the others send an honest client_failed, so every
// client is settled and the round never waits).
//
// Input: [setup u8][options u8] then records [from u8][op u8][u16 length][bytes]:
//   setup bits 0-2: clients 1..3 with an honest report (else an honest client_failed);
//   setup bit 3: weight policy clips instead of refusing; bits 4-5: max_in_flight (0-3);
//   options bits 0-1: min_reports − 1 (capped at 3); bit 2: a deadline of one hour;
//   from: endpoint {1, 2, 3, 4 (not selected), 9, 0, server_endpoint, 2^40}[from & 7];
//   op bit 0: rewrite the CRC; op bit 7: deliver (instead) the honest message of client from % 3 + 1
//   now, if not yet delivered. Honest messages not delivered by a record go last.
//
// Invariants: run_round never throws; the model stays finite; reported ≤ 3; when every fuzzed
// message is harmless by construction — sent from an endpoint that is not a selected client,
// or not decodable, or claiming another sender than its endpoint — the round ends exactly as
// the same round without them (model bits, reported, succeeded).
#include "fuzz_common.hpp"

#include "fedpp/orchestration/server.hpp"
#include "fedpp/scheduling/uniform_sampler.hpp"
#include "fedpp/transport/in_process_transport.hpp"
#include "fedpp/transport/wire_format.hpp"

#include <array>
#include <chrono>
#include <optional>

namespace {

using namespace fedpp;
constexpr const char* harness = "server_admission";
constexpr std::array<endpoint_id, 8> endpoints{1, 2, 3, 4, 9, 0, server_endpoint, std::uint64_t{1} << 40};

flat_model<float> initial_model() {
  flat_model<float> m(fuzz::float_layout());
  auto s = m.span();
  for (std::size_t i = 0; i < s.size(); ++i) s[i] = 0.5F - 0.0625F * static_cast<float>(i);
  return m;
}

/// Client c's honest message for round 0: a report, or client_failed.
message honest(client_id c, bool reports) {
  if (!reports)
    return wire::encode_control(0, c, static_cast<std::uint32_t>(control_tag::client_failed), {});
  std::vector<float> delta(fuzz::float_layout().total_size());
  for (std::size_t i = 0; i < delta.size(); ++i)
    delta[i] = 0.25F * static_cast<float>(c) - 0.125F * static_cast<float>(i % 5);
  return wire::encode_client_update<float>(0, c, fuzz::float_layout(), delta, 10.0 * static_cast<double>(c),
                                           {{"loss", 0.5 / static_cast<double>(c)}});
}

struct delivery {
  endpoint_id from;
  message m;
};

struct outcome {
  round_metrics metrics;
  std::vector<float> model;
};

outcome run(const std::vector<delivery>& mail, std::uint8_t setup, std::uint8_t options_byte) {
  in_process_transport hub;
  in_process_endpoint server_ep = hub.server();
  std::array<std::optional<in_process_endpoint>, endpoints.size()> eps;
  for (const auto& d : mail) {
    std::size_t i = 0;
    while (endpoints[i] != d.from) ++i;
    if (!eps[i]) eps[i].emplace(hub.endpoint(d.from));
    eps[i]->send(server_endpoint, d.m);
  }
  server_options o;
  o.max_wait = std::chrono::milliseconds(50); // never reached: every client is settled
  o.min_reports = 1 + std::min<std::size_t>(options_byte & 3, 2);
  if (options_byte & 4) o.deadline = std::chrono::hours(1);
  o.max_in_flight = (setup >> 4) & 3;
  if (setup & 8) o.weights.above_max = weight_overflow_action::clip;
  o.weights.max_weight = 25;
  server<float, uniform_sampler> srv(initial_model(), uniform_sampler(std::vector<client_id>{1, 2, 3}, 3),
                                     server_sgd<float>{}, o);
  outcome out;
  try {
    out.metrics = srv.run_round(server_ep);
  } catch (...) {
    fuzz::undocumented(harness, "server::run_round");
  }
  const auto s = srv.model().span();
  out.model.assign(s.begin(), s.end());
  return out;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::reader in(data, size);
  const std::uint8_t setup = in.u8(), options_byte = in.u8();
  std::array<bool, 3> honest_sent{};
  std::vector<delivery> mail, honest_only;
  bool harmless = true;
  std::size_t records = 0;
  auto deliver_honest = [&](std::size_t k, std::vector<delivery>& to) {
    to.push_back({k + 1, honest(k + 1, (setup >> k) & 1)});
  };
  while (!in.empty() && records++ < 64) {
    const std::uint8_t from_index = in.u8(), op = in.u8();
    const auto rec = in.record();
    const endpoint_id from = endpoints[from_index & 7];
    if (op & 0x80) {
      const std::size_t k = from_index % 3;
      if (!honest_sent[k]) {
        honest_sent[k] = true;
        deliver_honest(k, mail);
      }
      continue;
    }
    std::vector<std::byte> bytes(rec.begin(), rec.end());
    if (op & 1) fuzz::fix_crc(bytes);
    message m = message::copy_of(bytes);
    if (from >= 1 && from <= 3) {
      try {
        if (wire::decode(m).sender() == from) harmless = false;
      } catch (const malformed_message&) {
      } catch (...) {
        fuzz::undocumented(harness, "wire::decode");
      }
    }
    mail.push_back({from, std::move(m)});
  }
  for (std::size_t k = 0; k < 3; ++k)
    if (!honest_sent[k]) deliver_honest(k, mail);

  const outcome got = run(mail, setup, options_byte);
  if (!fuzz::all_finite(std::span<const float>(got.model))) fuzz::fail(harness, "the model is not finite");
  if (got.metrics.reported > 3) fuzz::fail(harness, "more reports accepted than clients selected");
  if (got.metrics.succeeded && got.metrics.reported < 1 + std::min<std::size_t>(options_byte & 3, 2))
    fuzz::fail(harness, "a round succeeded below min_reports");

  if (harmless) {
    for (const auto& d : mail) // the honest messages in the same order (FedAvg sums in arrival order)
      if (d.from >= 1 && d.from <= 3 && d.m.size() > 0 && !honest_sent.empty()) {
        try {
          const auto h = wire::decode(d.m);
          if (h.sender() == d.from) honest_only.push_back(d);
        } catch (const malformed_message&) {
        }
      }
    const outcome want = run(honest_only, setup, options_byte);
    if (!fuzz::same_bits(std::span<const float>(got.model), std::span<const float>(want.model)))
      fuzz::fail(harness, "messages from outsiders, impostors or undecodable bytes changed the model");
    if (got.metrics.reported != want.metrics.reported || got.metrics.succeeded != want.metrics.succeeded)
      fuzz::fail(harness, "messages from outsiders, impostors or undecodable bytes changed the round's outcome");
  }
  return 0;
}
