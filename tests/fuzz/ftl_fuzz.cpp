// Fuzzes the receive points of federated transfer learning (vertical/ftl.hpp): party A's
// on_public_key, on_b_components, on_b_reply and on_scores, party B's on_public_key,
// on_a_components, on_a_reply, on_phi and on_scores_reply, in plaintext and Paillier mode, over
// the honest session of ftl_session.hpp: the party is brought to the state where it awaits the
// message, then handed fuzzed messages interleaved with the honest one.
//
// Input: [ctl u8] then records [mode u8][u16 length][bytes]. ctl bit 0: Paillier mode (else
// plaintext); (ctl >> 1) % 9: the receive point in protocol order (A's key, B's key, A's
// b_components, B's a_components, A's b_reply, B's a_reply, B's phi, A's scores, B's
// scores_reply); in plaintext mode the point is A's b_components, B's a_components or B's phi
// ((ctl >> 1) % 3).
//   mode & 3 = 0: the bytes are a whole wire message (mode bit 2: rewrite the CRC);
//            = 1: a control message: tag 0x46540001 + bytes[0] % 8 (the FTL tags), the awaited
//                 message's round (mode bit 3: + 1), payload the rest;
//            = 2, 3: the honest message.
//
// Invariants: only malformed_message escapes; a party takes one message per receive point (A's
// scores requests, B's Φ and scores reply: any number); a refused message leaves both parties bit-identical
// (parameters, step, last gradient, A's last loss); an accepted message leaves finite parameters
// and, in plaintext mode, an accepted Φ gives finite predictions; when no fuzzed message was
// accepted, the honest message is accepted afterwards, answers exactly as in the honest session
// and leaves the parties as ones that got only it.
#include "ftl_session.hpp"
#include "fuzz_common.hpp"

#include <optional>

namespace {

using namespace fedpp;
using namespace fedpp::vertical;
namespace fs = fuzz::ftl_session;
using fs::point;
constexpr const char* harness = "ftl";

bool same_doubles(const std::vector<double>& a, const std::vector<double>& b) {
  return fuzz::same_bits(std::span<const double>(a), std::span<const double>(b));
}

struct state {
  std::vector<double> a_theta, a_grad, b_theta, b_grad;
  std::uint64_t a_step, b_step;
  double a_loss;
  explicit state(const fs::session& s)
      : a_theta(s.a.parameters()), a_grad(s.a.last_gradient()), b_theta(s.b.parameters()),
        b_grad(s.b.last_gradient()), a_step(s.a.step()), b_step(s.b.step()), a_loss(s.a.last_loss()) {}
  bool operator==(const state& o) const {
    return same_doubles(a_theta, o.a_theta) && same_doubles(a_grad, o.a_grad) &&
           same_doubles(b_theta, o.b_theta) && same_doubles(b_grad, o.b_grad) && a_step == o.a_step &&
           b_step == o.b_step && std::memcmp(&a_loss, &o.a_loss, sizeof a_loss) == 0;
  }
};

/// Hands `m` to point `p`; true when accepted (`reply`: its answer, if any).
bool deliver(fs::session& s, point p, const message& m, std::optional<message>& reply) {
  try {
    (void)wire::decode(m);
  } catch (const malformed_message& e) { // the wire_decode harness's business
    fuzz::note(harness, e.what());
    return false;
  } catch (...) {
    fuzz::undocumented(harness, "wire::decode");
  }
  const state before(s);
  try {
    reply = s.receive(p, m);
  } catch (const malformed_message& e) {
    fuzz::note(harness, e.what());
    if (!(state(s) == before)) fuzz::fail(harness, "a refused message changed a party");
    return false;
  } catch (...) {
    fuzz::undocumented(harness, "an ftl receive point");
  }
  if (!fuzz::all_finite(std::span<const double>(s.a.parameters())) ||
      !fuzz::all_finite(std::span<const double>(s.b.parameters())))
    fuzz::fail(harness, "an accepted message left non-finite parameters");
  if (p == point::b_phi && s.mode == ftl_mode::plaintext) {
    const std::array<std::size_t, 3> rows{0, 1, 2};
    try {
      const auto scores = s.b.predict(rows);
      if (!fuzz::all_finite(std::span<const double>(scores)))
        fuzz::fail(harness, "an accepted phi gives non-finite predictions");
    } catch (...) {
      fuzz::undocumented(harness, "ftl_party_b::predict after an accepted phi");
    }
  }
  return true;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::reader in(data, size);
  const std::uint8_t ctl = in.u8();
  const ftl_mode mode = (ctl & 1) ? ftl_mode::paillier : ftl_mode::plaintext;
  constexpr std::array<point, 3> plain{point::a_b_components, point::b_a_components, point::b_phi};
  const point p =
      mode == ftl_mode::paillier ? static_cast<point>((ctl >> 1) % fs::points) : plain[(ctl >> 1) % 3];
  const message& genuine = *fs::honest(mode)[static_cast<unsigned>(p)];
  const std::uint64_t round = wire::decode(genuine).round();
  fs::session s(mode);
  s.run(static_cast<unsigned>(p));
  const endpoint_id peer = fs::is_a(p) ? fs::b_endpoint : fs::a_endpoint;
  // A answers any number of score requests, B takes a new Φ at any time (after more training)
  // and may read a scores reply again: these points take any number of messages.
  const bool repeatable = p == point::a_scores || p == point::b_phi || p == point::b_scores_reply;
  bool pristine = true, done = false;
  std::optional<message> honest_reply;
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
      const std::uint32_t tag = 0x46540001U + (rec.empty() ? 0U : std::to_integer<std::uint32_t>(rec[0]) % 8);
      m = wire::encode_control(round + ((mode_byte & 8) ? 1 : 0), peer, tag,
                               rec.empty() ? rec : rec.subspan(1));
      break;
    }
    default:
      m = genuine;
      break;
    }
    std::optional<message> reply;
    if (deliver(s, p, m, reply)) {
      if (done && !repeatable) fuzz::fail(harness, "a party took a second message");
      done = true;
      if (!fuzz::same_bits(m.bytes(), genuine.bytes()))
        pristine = false;
      else
        honest_reply = std::move(reply);
    }
  }
  if (!pristine) return 0;
  if (!done || repeatable) {
    if (!deliver(s, p, genuine, honest_reply))
      fuzz::fail(harness, "the honest message was refused after refused messages");
  }
  fs::session reference(mode);
  reference.run(static_cast<unsigned>(p));
  std::optional<message> want;
  (void)deliver(reference, p, genuine, want);
  if (honest_reply.has_value() != want.has_value() ||
      (honest_reply && !fuzz::same_bits(honest_reply->bytes(), want->bytes())))
    fuzz::fail(harness, "after refused messages the honest message is answered differently");
  if (!(state(s) == state(reference)))
    fuzz::fail(harness,
               "after refused messages the parties differ from ones that got only the honest message");
  return 0;
}
