// Fuzzes the asynchronous server's admission path: fedpp::async_server with FedAsync over the
// in-process transport, clients 1, 2, 3 all in flight from version 0, one server step. The
// server's mailbox is pre-loaded with fuzzed messages from fuzzed endpoints interleaved with
// the honest uploads (weights for version 0) of the three clients.
//
// Input: [setup u8] then records [from u8][op u8][u16 length][bytes]: setup bit 0: the weight
// policy clips; from: endpoint {1, 2, 3, 4, 0, server_endpoint}[from % 6]; op bit 0: rewrite the
// CRC; op bit 7: deliver (instead) client from % 3 + 1's honest upload now. Honest uploads not
// delivered by a record go last.
//
// Invariants: run() never throws and produces exactly one step; the model stays finite; when
// every fuzzed message is harmless by construction (from a non-client endpoint, undecodable, or
// claiming another sender than its endpoint) the model is exactly the honest-only run's.
#include "fuzz_common.hpp"

#include "fedpp/orchestration/async_server.hpp"
#include "fedpp/scheduling/fedasync.hpp"
#include "fedpp/transport/in_process_transport.hpp"

#include <array>
#include <chrono>

namespace {

using namespace fedpp;
constexpr const char* harness = "async_server";
constexpr std::array<endpoint_id, 6> endpoints{1, 2, 3, 4, 0, server_endpoint};

message honest(client_id c) {
  std::vector<float> w(fuzz::float_layout().total_size());
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = 0.125F * static_cast<float>(c) + 0.0625F * static_cast<float>(i % 7);
  return wire::encode_client_update<float>(0, c, fuzz::float_layout(), w, 5.0 * static_cast<double>(c), {{"loss", 0.25}});
}

struct delivery {
  endpoint_id from;
  message m;
};

std::vector<float> run(const std::vector<delivery>& mail, std::uint8_t setup) {
  in_process_transport hub;
  in_process_endpoint server_ep = hub.server();
  for (const auto& d : mail) hub.endpoint(d.from).send(server_endpoint, d.m);
  async_options o;
  o.concurrency = 3;
  o.max_wait = std::chrono::milliseconds(50);
  o.weights.max_weight = 12;
  if (setup & 1) o.weights.above_max = weight_overflow_action::clip;
  flat_model<float> initial(fuzz::float_layout());
  async_server<float, fedasync<float>> srv(std::move(initial), {1, 2, 3},
                                           fedasync<float>(fuzz::float_layout().total_size(), 0.5), o);
  std::vector<round_metrics> steps;
  try {
    steps = srv.run(server_ep, 1);
  } catch (...) {
    fuzz::undocumented(harness, "async_server::run");
  }
  if (steps.size() != 1) fuzz::fail(harness, "run(1) did not produce exactly one step");
  const auto s = srv.model().span();
  return {s.begin(), s.end()};
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::reader in(data, size);
  const std::uint8_t setup = in.u8();
  std::array<bool, 3> sent{};
  std::vector<delivery> mail, honest_only;
  bool harmless = true;
  std::size_t records = 0;
  while (!in.empty() && records++ < 64) {
    const std::uint8_t from_index = in.u8(), op = in.u8();
    const auto rec = in.record();
    const endpoint_id from = endpoints[from_index % endpoints.size()];
    if (op & 0x80) {
      const std::size_t k = from_index % 3;
      if (!sent[k]) {
        sent[k] = true;
        mail.push_back({k + 1, honest(k + 1)});
        honest_only.push_back(mail.back());
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
      }
    }
    mail.push_back({from, std::move(m)});
  }
  for (std::size_t k = 0; k < 3; ++k)
    if (!sent[k]) {
      mail.push_back({k + 1, honest(k + 1)});
      honest_only.push_back(mail.back());
    }
  const auto got = run(mail, setup);
  if (!fuzz::all_finite(std::span<const float>(got))) fuzz::fail(harness, "the model is not finite");
  if (harmless) {
    const auto want = run(honest_only, setup);
    if (!fuzz::same_bits(std::span<const float>(got), std::span<const float>(want)))
      fuzz::fail(harness, "messages from outsiders, impostors or undecodable bytes changed the model");
  }
  return 0;
}
