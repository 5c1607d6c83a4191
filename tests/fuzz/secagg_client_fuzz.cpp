// Fuzzes the secure-aggregation client's message parsers (key list, forwarded shares, survivor
// list, abort) and its state machine: client 1 of the honest round (secagg_transcript.hpp) is
// brought to a state, then handed fuzzed messages interleaved with the honest ones.
//
// Input: [state u8] then records [mode u8][u16 length][bytes]. state % 5: idle, advertised,
// shared, masked, done (the honest server messages that lead there are delivered first).
//   mode & 3 = 0: the bytes are a whole wire message (mode bit 2: rewrite the CRC);
//            = 1: a control message from the server for the round: tag = first byte, payload =
//                 the rest (mode bit 3: claims sender 1 instead; bit 4: round + 1);
//            = 2: as 1, but delivered from endpoint 2 instead of the server;
//            = 3: the next honest server message.
//
// Invariants: handle() throws only protocol_violation, counted once in counters(), and then the
// state is unchanged; when no fuzzed message was accepted, finishing the round with the honest
// messages gives exactly the honest replies (so no refused message left a trace — keys, shares,
// masks and the seeded randomness included).
#include "fuzz_common.hpp"
#include "secagg_transcript.hpp"

#include <string_view>

namespace {

using namespace fedpp;
using namespace fedpp::secagg;
namespace sr = fuzz::secagg_round;
constexpr const char* harness = "secagg_client";

/// The honest server message that moves a client in `s` on, if any.
const message* next_honest(secagg_client::state s) {
  const auto& t = sr::honest();
  switch (s) {
  case secagg_client::state::advertised:
    return &t.to_client[1].at(1);
  case secagg_client::state::shared:
    return &t.to_client[2].at(1);
  case secagg_client::state::masked:
    return &t.to_client[3].at(1);
  default:
    return nullptr;
  }
}

/// Set when a key list was refused for an invalid public key (open finding
/// secagg_client.key_list_rng: that refusal comes after the client drew its seed b and the
/// Shamir coefficients, so its seeded randomness moved on).
bool invalid_key_refused = false;

/// Handles one message; true when it was accepted.
bool deliver(secagg_client& c, sr::recorder& ep, endpoint_id from, const message& m) {
  const auto state = c.current_state();
  const auto refused = c.counters().total_refused();
  try {
    c.handle(ep, envelope{from, 1, m});
    return true;
  } catch (const protocol_violation& e) {
    fuzz::note(harness, e.what());
    if (std::string_view(e.what()).find("invalid public key") != std::string_view::npos) invalid_key_refused = true;
    if (c.current_state() != state) fuzz::fail(harness, "a refused message changed the client's state");
    if (c.counters().total_refused() != refused + 1)
      fuzz::fail(harness, "a refused message was not counted exactly once");
    return false;
  } catch (...) {
    fuzz::undocumented(harness, "secagg_client::handle");
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto& honest = sr::honest();
  fuzz::reader in(data, size);
  const unsigned target = in.u8() % 5;
  invalid_key_refused = false;
  auto client = sr::make_client(1);
  sr::recorder ep{1, {}};
  if (target >= 1) client->start(ep);
  for (unsigned k = 1; k < target; ++k)
    if (!deliver(*client, ep, server_endpoint, *next_honest(client->current_state())))
      fuzz::fail(harness, "the honest round was refused");

  bool fuzz_accepted = false;
  std::size_t records = 0;
  while (!in.empty() && records++ < 32) {
    const std::uint8_t mode = in.u8();
    const auto rec = in.record();
    if ((mode & 3) == 3) {
      if (const message* m = next_honest(client->current_state())) (void)deliver(*client, ep, server_endpoint, *m);
      continue;
    }
    message m;
    if ((mode & 3) == 0) {
      std::vector<std::byte> bytes(rec.begin(), rec.end());
      if (mode & 4) fuzz::fix_crc(bytes);
      m = message::copy_of(bytes);
    } else {
      const std::uint32_t tag = rec.empty() ? 0 : std::to_integer<std::uint32_t>(rec[0]);
      const auto payload = rec.empty() ? rec : rec.subspan(1);
      const std::uint64_t round = sr::config().round + ((mode & 16) ? 1 : 0);
      m = wire::encode_control(round, (mode & 8) ? 1 : server_endpoint, tag, payload);
    }
    const endpoint_id from = (mode & 3) == 2 ? 2 : server_endpoint;
    if (deliver(*client, ep, from, m)) fuzz_accepted = true;
  }
  if (fuzz_accepted) return 0;

  // Finish the round honestly: the client's messages must be exactly the honest ones.
  while (const message* m = next_honest(client->current_state()))
    if (!deliver(*client, ep, server_endpoint, *m)) fuzz::fail(harness, "the honest round was refused after refused messages");
  if (target >= 1) {
    if (client->current_state() != secagg_client::state::done)
      fuzz::fail(harness, "the honest round did not finish after refused messages");
    if (ep.sent.size() != 4) fuzz::fail(harness, "the client sent another number of messages than in the honest round");
    for (std::size_t phase = 0; phase < 4; ++phase)
      if (!fuzz::same_bits(ep.sent[phase].second.bytes(), honest.to_server[phase].at(1).bytes())) {
        if (invalid_key_refused && fuzz::waived("secagg_client.key_list_rng")) return 0;
        fuzz::fail(harness, "after refused messages the client's replies differ from the honest round's",
                   "phase " + std::to_string(phase));
      }
  }
  return 0;
}
