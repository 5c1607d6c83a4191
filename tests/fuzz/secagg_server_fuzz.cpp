// Fuzzes the secure-aggregation server's message parsers (advertised keys, encrypted shares,
// masked input, unmask shares) and its state machine over the honest round of
// secagg_transcript.hpp: the server is brought to a phase with the honest messages, then handed
// fuzzed messages from fuzzed endpoints interleaved with the honest ones and early phase closes.
//
// Input: [phase u8] then records [from u8][mode u8][u16 length][bytes]. phase % 4: advertise,
// share_keys, masked_input, unmasking. from: endpoint {1, 2, 3, 4 (not in the graph), 0,
// server_endpoint}[from % 6].
//   mode & 3 = 0: the bytes are a whole wire message (mode bit 2: rewrite the CRC);
//            = 1: a control message for the round from `from`: tag = first byte, payload = the
//                 rest (mode bit 3: claims sender from % 3 + 1 instead; bit 4: round + 1);
//            = 2: the honest message of client from % 3 + 1 for the current phase;
//            = 3: close the phase now (clients that did not answer drop out).
//
// Invariants: handle() throws only protocol_violation, counted once, with the phase and the
// answered sets unchanged; close_phase() throws only secagg_aborted; when no fuzzed message was
// accepted and no phase was closed early, finishing the round honestly gives the honest sum.
#include "fuzz_common.hpp"
#include "secagg_transcript.hpp"

#include <set>

namespace {

using namespace fedpp;
using namespace fedpp::secagg;
namespace sr = fuzz::secagg_round;
constexpr const char* harness = "secagg_server";
constexpr std::array<endpoint_id, 6> endpoints{1, 2, 3, 4, 0, server_endpoint};

struct snapshot {
  secagg_server::phase phase;
  std::array<std::set<client_id>, 4> answered;
  std::uint64_t refused;
  explicit snapshot(const secagg_server& s) : phase(s.current_phase()), refused(s.counters().total_refused()) {
    for (std::size_t p = 0; p < 4; ++p) answered[p] = s.answered(static_cast<secagg_server::phase>(p));
  }
};

/// Handles one message; true when it was accepted.
bool deliver(secagg_server& s, sr::recorder& ep, endpoint_id from, const message& m) {
  const snapshot before(s);
  try {
    (void)s.handle(ep, envelope{from, server_endpoint, m});
    return true;
  } catch (const protocol_violation& e) {
    fuzz::note(harness, e.what());
    const snapshot after(s);
    if (after.phase != before.phase || after.answered != before.answered)
      fuzz::fail(harness, "a refused message changed the server's phase or answered sets");
    if (after.refused != before.refused + 1) fuzz::fail(harness, "a refused message was not counted exactly once");
    return false;
  } catch (...) {
    fuzz::undocumented(harness, "secagg_server::handle");
  }
}

/// close_phase(); false when the round aborted.
bool close(secagg_server& s, sr::recorder& ep) {
  try {
    s.close_phase(ep);
    return true;
  } catch (const secagg_aborted&) {
    if (s.current_phase() != secagg_server::phase::aborted) fuzz::fail(harness, "secagg_aborted without the aborted phase");
    return false;
  } catch (...) {
    fuzz::undocumented(harness, "secagg_server::close_phase");
  }
}

bool running(const secagg_server& s) {
  return s.current_phase() != secagg_server::phase::done && s.current_phase() != secagg_server::phase::aborted;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto& honest = sr::honest();
  fuzz::reader in(data, size);
  const unsigned target = in.u8() % 4;
  secagg_server server(sr::config(), sr::graph());
  sr::recorder ep{server_endpoint, {}};
  for (unsigned p = 0; p < target; ++p) {
    for (const auto u : sr::clients)
      if (!deliver(server, ep, u, honest.to_server[p].at(u))) fuzz::fail(harness, "the honest round was refused");
    if (!close(server, ep)) fuzz::fail(harness, "the honest round aborted");
  }

  bool pristine = true; // no fuzzed message accepted, no early close
  std::array<bool, 3> delivered{};
  auto phase_index = [&] { return static_cast<std::size_t>(server.current_phase()); };
  std::size_t records = 0;
  while (!in.empty() && records++ < 32 && running(server)) {
    const std::uint8_t from_index = in.u8(), mode = in.u8();
    const auto rec = in.record();
    const endpoint_id from = endpoints[from_index % endpoints.size()];
    switch (mode & 3) {
    case 2: {
      const std::size_t k = from_index % 3;
      if (!delivered[k]) {
        delivered[k] = true;
        if (!deliver(server, ep, sr::clients[k], honest.to_server[phase_index()].at(sr::clients[k])) && pristine)
          fuzz::fail(harness, "an honest message was refused after refused messages");
      }
      break;
    }
    case 3:
      pristine = false;
      delivered = {};
      (void)close(server, ep);
      break;
    default: {
      message m;
      if ((mode & 3) == 0) {
        std::vector<std::byte> bytes(rec.begin(), rec.end());
        if (mode & 4) fuzz::fix_crc(bytes);
        m = message::copy_of(bytes);
      } else {
        const std::uint32_t tag = rec.empty() ? 0 : std::to_integer<std::uint32_t>(rec[0]);
        const auto payload = rec.empty() ? rec : rec.subspan(1);
        const endpoint_id claimed = (mode & 8) ? sr::clients[from_index % 3] : from;
        m = wire::encode_control(sr::config().round + ((mode & 16) ? 1 : 0), claimed, tag, payload);
      }
      if (deliver(server, ep, from, m)) pristine = false;
      break;
    }
    }
  }

  // Finish the round with the honest messages still due.
  while (running(server)) {
    const std::size_t p = phase_index();
    for (std::size_t k = 0; k < 3; ++k)
      if (!delivered[k] && !server.answered(server.current_phase()).count(sr::clients[k])) {
        const bool ok = deliver(server, ep, sr::clients[k], honest.to_server[p].at(sr::clients[k]));
        if (!ok && pristine) fuzz::fail(harness, "an honest message was refused after refused messages");
      }
    delivered = {};
    if (!close(server, ep)) {
      if (pristine) fuzz::fail(harness, "the honest round aborted after refused messages");
      break;
    }
  }
  if (pristine) {
    const auto sum = server.sum();
    if (!fuzz::same_bits(sum, std::span<const std::uint32_t>(honest.sum)))
      fuzz::fail(harness, "after refused messages the sum differs from the honest round's");
  }
  return 0;
}
