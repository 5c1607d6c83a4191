// Fuzzes the PSI parties' message parsers (vertical/psi.hpp): psi_responder::on_request and
// on_result, psi_initiator::on_response, over the honest run of vertical_fixtures.hpp (4 and 5
// ids, two shared, reproducible secrets): the party is brought to the state where it awaits a
// message, then handed fuzzed messages interleaved with the honest one.
//
// Input: [ctl u8] then records [mode u8][u16 length][bytes]. (ctl & 3) % 3: the responder awaiting the
// request, the initiator awaiting the response, the responder awaiting the result; ctl bit 2:
// size-only mode (else intersection).
//   mode & 3 = 0: the bytes are a whole wire message (mode bit 2: rewrite the CRC);
//            = 1: a control message from the peer: tag {psi_request, psi_response,
//                 psi_result}[bytes[0] % 3], payload the rest, session 7 (mode bit 3: 8);
//            = 2, 3: the honest message.
//
// Invariants: only malformed_message escapes (and invalid_config from an initiator that awaits
// no response any more); an accepted message gives a consistent outcome (rows distinct, in
// range and, for the initiator, ascending; the size within both set sizes and equal to the rows'
// count in intersection mode; a well-formed response of the request's length); when no fuzzed
// message was accepted, the honest message is accepted afterwards and gives exactly the honest
// run's outcome and reply — a refused message left the party unchanged.
#include "fuzz_common.hpp"
#include "vertical_fixtures.hpp"

#include <algorithm>
#include <optional>

namespace {

using namespace fedpp;
using namespace fedpp::vertical;
namespace vf = fuzz::vertical_fixtures;
constexpr const char* harness = "psi";

using vf::make_initiator;
using vf::make_responder;
using transcript = vf::psi_transcript;

bool same_result(const psi_result& a, const psi_result& b) {
  return a.rows == b.rows && a.size == b.size && a.peer_set_size == b.peer_set_size;
}

/// Rows distinct and below `n` (ascending when `ascending`), size within both sets.
void check_result(const psi_result& r, psi_mode mode, std::size_t own, std::size_t peer, bool ascending,
                  const char* who) {
  const std::string w = who;
  if (r.size > std::min(own, peer))
    fuzz::fail(harness, (w + ": more shared ids than the smaller set").c_str());
  if (mode == psi_mode::size_only && !r.rows.empty())
    fuzz::fail(harness, (w + ": rows in size-only mode").c_str());
  if (mode == psi_mode::intersection && r.rows.size() != r.size)
    fuzz::fail(harness, (w + ": the size is not the rows' count").c_str());
  std::vector<std::size_t> sorted = r.rows;
  std::sort(sorted.begin(), sorted.end());
  if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end())
    fuzz::fail(harness, (w + ": a row repeated").c_str());
  if (!sorted.empty() && sorted.back() >= own) fuzz::fail(harness, (w + ": a row out of range").c_str());
  if (ascending && sorted != r.rows) fuzz::fail(harness, (w + ": rows not ascending").c_str());
}

/// A psi_response payload's shape: [u32 1][u8 mode][u64 na][na × 32][u64 nb][nb × 32].
void check_response(const message& m, psi_mode mode, std::size_t na, std::size_t nb) {
  const auto d = wire::decode(m);
  const auto p = d.payload_bytes();
  if (d.tag() != to_wire(vertical_tag::psi_response) || p.size() != 5 + 8 + 32 * na + 8 + 32 * nb ||
      std::to_integer<std::uint8_t>(p[4]) != static_cast<std::uint8_t>(mode) ||
      wire::detail::get_u64(p.data() + 5) != na || wire::detail::get_u64(p.data() + 13 + 32 * na) != nb)
    fuzz::fail(harness, "an accepted request produced a response of another shape");
}

/// Hands `m` to the party awaiting it; true when accepted. `target`: 0 responder's request,
/// 1 initiator's response, 2 responder's result.
bool deliver(unsigned target, psi_mode mode, psi_initiator& init, psi_responder& resp, bool& init_answered,
             const message& m, std::optional<psi_result>& outcome, std::optional<message>& reply) {
  std::optional<wire::decoded_message> d;
  try {
    d.emplace(wire::decode(m));
  } catch (const malformed_message& e) { // the wire_decode harness's business
    fuzz::note(harness, e.what());
    return false;
  } catch (...) {
    fuzz::undocumented(harness, "wire::decode");
  }
  const std::size_t nx = vf::initiator_ids().size(), ny = vf::responder_ids().size();
  try {
    if (target == 0) {
      reply = resp.on_request(*d, vf::psi_responder_endpoint);
      const std::size_t na = wire::detail::get_u64(d->payload_bytes().data() + 5);
      check_response(*reply, mode, na, ny);
    } else if (target == 1) {
      const bool was_answered = init_answered;
      try {
        outcome = init.on_response(*d);
      } catch (const invalid_config& e) {
        if (!was_answered) fuzz::undocumented(harness, "psi_initiator::on_response");
        fuzz::note(harness, e.what());
        return false;
      }
      init_answered = true;
      check_result(*outcome, mode, nx, outcome->peer_set_size, true, "the initiator's outcome");
      if (outcome->peer_set_size > vf::psi_options(mode).max_peer_ids)
        fuzz::fail(harness, "the initiator accepted more peer ids than max_peer_ids");
      try {
        reply = init.result_message(vf::psi_initiator_endpoint);
      } catch (...) {
        fuzz::undocumented(harness, "psi_initiator::result_message after an accepted response");
      }
    } else {
      outcome = resp.on_result(*d);
      check_result(*outcome, mode, ny, nx, false, "the responder's outcome");
    }
  } catch (const malformed_message& e) {
    fuzz::note(harness, e.what());
    return false;
  } catch (...) {
    fuzz::undocumented(harness, target == 0   ? "psi_responder::on_request"
                                : target == 1 ? "psi_initiator::on_response"
                                              : "psi_responder::on_result");
  }
  return true;
}

/// The honest message, after refused ones only, gives the honest run's outcome and reply.
void expect_honest(unsigned target, const transcript& t, const std::optional<psi_result>& outcome,
                   const std::optional<message>& reply) {
  switch (target) {
  case 0:
    if (!fuzz::same_bits(reply->bytes(), t.response.bytes()))
      fuzz::fail(harness, "after refused requests the responder's response differs from the honest run's");
    break;
  case 1:
    if (!same_result(*outcome, t.initiator) || !fuzz::same_bits(reply->bytes(), t.result.bytes()))
      fuzz::fail(harness, "after refused responses the initiator's outcome differs from the honest run's");
    break;
  default:
    if (!same_result(*outcome, t.responder))
      fuzz::fail(harness, "after refused results the responder's outcome differs from the honest run's");
    break;
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::reader in(data, size);
  const std::uint8_t ctl = in.u8();
  const unsigned target = (ctl & 3) % 3;
  const psi_mode mode = (ctl & 4) ? psi_mode::size_only : psi_mode::intersection;
  const transcript& t = vf::psi_honest(mode);
  auto init = make_initiator(mode);
  auto resp = make_responder(mode);
  bool init_answered = false;
  if (target == 1) (void)init.request(vf::psi_initiator_endpoint);
  if (target == 2) (void)resp.on_request(wire::decode(t.request), vf::psi_responder_endpoint);
  const message& genuine = target == 0 ? t.request : target == 1 ? t.response : t.result;
  const endpoint_id peer = target == 1 ? vf::psi_responder_endpoint : vf::psi_initiator_endpoint;

  bool pristine = true; // no fuzzed message accepted
  bool done = false;    // the party took a message (it awaits nothing more)
  std::size_t records = 0;
  while (!in.empty() && records++ < 16) {
    const std::uint8_t mode_byte = in.u8();
    const auto rec = in.record();
    message m;
    switch (mode_byte & 3) {
    case 0: {
      std::vector<std::byte> bytes(rec.begin(), rec.end());
      if (mode_byte & 4) fuzz::fix_crc(bytes);
      m = message::copy_of(bytes);
      break;
    }
    case 1: {
      constexpr std::array<vertical_tag, 3> tags{vertical_tag::psi_request, vertical_tag::psi_response,
                                                 vertical_tag::psi_result};
      const vertical_tag tag = rec.empty() ? tags[0] : tags[std::to_integer<unsigned>(rec[0]) % 3];
      const auto payload = rec.empty() ? rec : rec.subspan(1);
      m = wire::encode_control((mode_byte & 8) ? 8 : 7, peer, to_wire(tag), payload);
      break;
    }
    default:
      m = genuine;
      break;
    }
    std::optional<psi_result> outcome;
    std::optional<message> reply;
    if (deliver(target, mode, init, resp, init_answered, m, outcome, reply)) {
      if (done) fuzz::fail(harness, "a party took a second message");
      done = true;
      if (!fuzz::same_bits(m.bytes(), genuine.bytes()))
        pristine = false;
      else if (pristine)
        expect_honest(target, t, outcome, reply);
    }
  }
  if (!pristine || done) return 0;
  std::optional<psi_result> outcome;
  std::optional<message> reply;
  if (!deliver(target, mode, init, resp, init_answered, genuine, outcome, reply))
    fuzz::fail(harness, "the honest message was refused after refused messages");
  expect_honest(target, t, outcome, reply);
  return 0;
}
