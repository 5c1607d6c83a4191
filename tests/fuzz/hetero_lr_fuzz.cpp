// Fuzzes the receive points of vertical logistic regression (vertical/hetero_lr.hpp): the guest's
// on_hello, on_partial_wx and on_masked_gradient, the host's on_public_key, on_residuals,
// on_unmasked, on_epoch_end and on_predict_rows, over the honest session of hetero_lr_session.hpp
// (one host, 256-bit key): the party is brought to the state where it awaits the message, then
// handed fuzzed messages interleaved with the honest one.
//
// Input: [ctl u8] then records [mode u8][u16 length][bytes]. ctl % 8: the receive point, in the
// order above.
//   mode & 3 = 0: the bytes are a whole wire message (mode bit 2: rewrite the CRC);
//            = 1: a control message: tag 0x484c0001 + bytes[0] % 10 (the hetero-LR tags), the
//                 awaited message's round (mode bit 3: + 1), payload the rest;
//            = 2, 3: the honest message.
//
// Invariants: only malformed_message escapes; a refused message leaves the party bit-identical
// (weights, intercept, step, the hosts' column counts, epoch losses; the host's key, masks, last
// gradient, loss and epoch flag); an accepted message leaves finite weights and answers with a
// well-formed reply (residuals: one ciphertext of the key per batch row; masked gradient: one per
// host column; unmasked: one residue below n per column; predicted wx: finite, at most the
// bound's rows); when no fuzzed message was accepted, the honest message is accepted afterwards,
// answers exactly as in the honest session and leaves the party as one that got only it.
#include "fuzz_common.hpp"
#include "hetero_lr_session.hpp"

#include <bit>
#include <optional>

namespace {

using namespace fedpp;
using namespace fedpp::vertical;
namespace hs = fuzz::hetero_lr_session;
using hs::target;
constexpr const char* harness = "hetero_lr";

bool same_doubles(const std::vector<double>& a, const std::vector<double>& b) {
  return fuzz::same_bits(std::span<const double>(a), std::span<const double>(b));
}
bool same_double(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

struct guest_state {
  std::vector<double> w, losses;
  double b;
  std::uint64_t step;
  std::vector<std::size_t> columns;
  bool complete;
  explicit guest_state(const hetero_lr_guest& g)
      : w(g.weights()), losses(g.epoch_losses()), b(g.intercept()), step(g.step()), columns(g.host_columns()),
        complete(g.epoch_complete()) {}
  bool operator==(const guest_state& o) const {
    return same_doubles(w, o.w) && same_doubles(losses, o.losses) && same_double(b, o.b) && step == o.step &&
           columns == o.columns && complete == o.complete;
  }
};

struct host_state {
  std::vector<double> w, g;
  std::uint64_t step;
  bool key, epoch_end;
  std::vector<bigint> masks;
  double loss;
  explicit host_state(const hetero_lr_host& h)
      : w(h.weights()), g(h.last_gradient_sums()), step(h.step()), key(h.has_key()),
        epoch_end(h.needs_epoch_end()), masks(h.current_masks()), loss(h.last_loss()) {}
  bool operator==(const host_state& o) const {
    return same_doubles(w, o.w) && same_doubles(g, o.g) && step == o.step && key == o.key &&
           epoch_end == o.epoch_end && masks == o.masks && same_double(loss, o.loss);
  }
};

/// The two parties, brought to the state where `t` awaits its message.
struct parties {
  hetero_lr_guest guest = hs::make_guest();
  hetero_lr_host host = hs::make_host();
  explicit parties(target t) {
    const auto& s = hs::honest();
    switch (t) {
    case target::guest_masked_gradient:
      guest.on_hello(0, wire::decode(s.hello));
      (void)guest.on_partial_wx(0, wire::decode(s.partial_wx), hs::guest_endpoint);
      break;
    case target::guest_partial_wx:
      guest.on_hello(0, wire::decode(s.hello));
      break;
    case target::host_residuals:
    case target::host_unmasked:
    case target::host_epoch_end:
    case target::host_predict_rows:
      host.on_public_key(wire::decode(s.public_key), hs::key_limits());
      (void)host.partial_wx_message(hs::host_endpoint);
      if (t == target::host_residuals) break;
      (void)host.on_residuals(wire::decode(s.residuals), hs::host_endpoint);
      if (t == target::host_unmasked) break;
      host.on_unmasked(wire::decode(s.unmasked));
      if (t == target::host_epoch_end) break;
      (void)host.on_epoch_end(wire::decode(s.epoch_end));
      break;
    default:
      break;
    }
  }
};

/// The payload of a reply, checked to be a control message with `tag`.
std::span<const std::byte> reply_payload(const wire::decoded_message& d, hetero_lr_tag tag) {
  if (d.kind() != wire::message_kind::control || d.tag() != static_cast<std::uint32_t>(tag))
    fuzz::fail(harness, "a reply of another kind or tag");
  return d.payload_bytes();
}

/// Checks an accepted message's effect and reply.
void check_accepted(target t, const parties& p, const std::optional<message>& reply) {
  const paillier_public_key& pk = fuzz::vertical_fixtures::key256().public_key;
  if (!fuzz::all_finite(std::span<const double>(p.guest.weights())) || !std::isfinite(p.guest.intercept()) ||
      !fuzz::all_finite(std::span<const double>(p.host.weights())))
    fuzz::fail(harness, "an accepted message left non-finite weights");
  std::optional<wire::decoded_message> d;
  if (reply) d.emplace(wire::decode(*reply));
  try {
    switch (t) {
    case target::guest_hello:
      if (p.guest.host_columns().at(0) < 1 || p.guest.host_columns()[0] > hs::options().max_host_columns)
        fuzz::fail(harness, "an accepted hello announced a column count out of range");
      break;
    case target::guest_partial_wx: {
      const auto list = paillier_wire::decode_ciphertexts(pk, reply_payload(*d, hetero_lr_tag::residuals), 4);
      if (list.ciphertexts.size() != 4 || !list.exponents.empty())
        fuzz::fail(harness, "the residuals do not hold one ciphertext per batch row");
      break;
    }
    case target::guest_masked_gradient: {
      const auto payload = reply_payload(*d, hetero_lr_tag::unmasked);
      const std::size_t width = (pk.bits() + 7) / 8, columns = p.guest.host_columns()[0];
      if (payload.size() != 8 + columns * width || wire::detail::get_u64(payload.data()) != columns)
        fuzz::fail(harness, "the unmasked reply does not hold one residue per host column");
      for (std::size_t j = 0; j < columns; ++j)
        if (!(bigint::from_bytes_le(payload.subspan(8 + j * width, width)) < pk.n()))
          fuzz::fail(harness, "an unmasked residue is not below n");
      if (p.guest.step() != 1)
        fuzz::fail(harness, "the step did not complete after the only host's gradient");
      break;
    }
    case target::host_public_key:
      if (!p.host.has_key()) fuzz::fail(harness, "an accepted public key was not kept");
      break;
    case target::host_residuals: {
      const auto list =
          paillier_wire::decode_ciphertexts(pk, reply_payload(*d, hetero_lr_tag::masked_gradient), 2);
      if (list.ciphertexts.size() != 2 || !list.exponents.empty())
        fuzz::fail(harness, "the masked gradient does not hold one ciphertext per column");
      break;
    }
    case target::host_unmasked:
      if (p.host.step() != 1) fuzz::fail(harness, "an accepted unmasked gradient did not complete the step");
      break;
    case target::host_epoch_end:
      if (!std::isfinite(p.host.last_loss()) || p.host.needs_epoch_end())
        fuzz::fail(harness, "an accepted epoch end left a non-finite loss or the epoch open");
      break;
    case target::host_predict_rows: {
      const auto payload = reply_payload(*d, hetero_lr_tag::predict_wx);
      const std::uint64_t count = wire::detail::get_u64(payload.data());
      if (count > hs::max_predict_rows || payload.size() != 8 + 8 * count)
        fuzz::fail(harness, "the predicted wx reply is malformed or names too many rows");
      for (std::uint64_t k = 0; k < count; ++k)
        if (!std::isfinite(std::bit_cast<double>(wire::detail::get_u64(payload.data() + 8 + 8 * k))))
          fuzz::fail(harness, "a predicted wx is not finite");
      break;
    }
    }
  } catch (const malformed_message& e) {
    fuzz::fail(harness, "a reply does not decode", e.what());
  }
}

/// Hands `m` to the party awaiting it at `t`; true when accepted (`reply`: its answer, if any).
bool deliver(target t, parties& p, const message& m, std::optional<message>& reply) {
  std::optional<wire::decoded_message> d;
  try {
    d.emplace(wire::decode(m));
  } catch (const malformed_message& e) { // the wire_decode harness's business
    fuzz::note(harness, e.what());
    return false;
  } catch (...) {
    fuzz::undocumented(harness, "wire::decode");
  }
  const guest_state guest_before(p.guest);
  const host_state host_before(p.host);
  try {
    switch (t) {
    case target::guest_hello:
      p.guest.on_hello(0, *d);
      break;
    case target::guest_partial_wx: {
      auto r = p.guest.on_partial_wx(0, *d, hs::guest_endpoint);
      if (!r) fuzz::fail(harness, "the only host's wx did not produce the residuals");
      reply = std::move(*r);
      break;
    }
    case target::guest_masked_gradient:
      reply = p.guest.on_masked_gradient(0, *d, hs::guest_endpoint);
      break;
    case target::host_public_key:
      p.host.on_public_key(*d, hs::key_limits());
      break;
    case target::host_residuals:
      reply = p.host.on_residuals(*d, hs::host_endpoint);
      break;
    case target::host_unmasked:
      p.host.on_unmasked(*d);
      break;
    case target::host_epoch_end:
      (void)p.host.on_epoch_end(*d);
      break;
    case target::host_predict_rows:
      reply = p.host.on_predict_rows(*d, hs::host_endpoint, hs::max_predict_rows);
      break;
    }
  } catch (const malformed_message& e) {
    fuzz::note(harness, e.what());
    if (!(guest_state(p.guest) == guest_before) || !(host_state(p.host) == host_before))
      fuzz::fail(harness, "a refused message changed the party");
    return false;
  } catch (...) {
    fuzz::undocumented(harness, "a hetero_lr receive point");
  }
  check_accepted(t, p, reply);
  return true;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::reader in(data, size);
  const auto t = static_cast<target>(in.u8() % hs::targets);
  const message& genuine = hs::genuine(t);
  const std::uint64_t round = wire::decode(genuine).round();
  parties p(t);
  bool pristine = true; // no fuzzed message accepted (a prediction request changes nothing)
  bool done = false;
  std::optional<message> honest_reply; // the answer to the honest message
  std::size_t records = 0;
  while (!in.empty() && records++ < 16) {
    const std::uint8_t mode = in.u8();
    const auto rec = in.record();
    message m;
    switch (mode & 3) {
    case 0: {
      std::vector<std::byte> bytes(rec.begin(), rec.end());
      if (mode & 4) fuzz::fix_crc(bytes);
      m = message::copy_of(bytes);
      break;
    }
    case 1: {
      const std::uint32_t tag =
          0x484c0001U + (rec.empty() ? 0U : std::to_integer<std::uint32_t>(rec[0]) % 10);
      m = wire::encode_control(round + ((mode & 8) ? 1 : 0), hs::guest_endpoint, tag,
                               rec.empty() ? rec : rec.subspan(1));
      break;
    }
    default:
      m = genuine;
      break;
    }
    std::optional<message> reply;
    if (deliver(t, p, m, reply) && t != target::host_predict_rows) {
      if (done) fuzz::fail(harness, "a party took a second message");
      done = true;
      if (!fuzz::same_bits(m.bytes(), genuine.bytes()))
        pristine = false;
      else
        honest_reply = std::move(reply);
    }
  }
  if (!pristine) return 0;
  if (!done || t == target::host_predict_rows) {
    if (!deliver(t, p, genuine, honest_reply))
      fuzz::fail(harness, "the honest message was refused after refused messages");
  }
  parties reference(t);
  std::optional<message> want;
  (void)deliver(t, reference, genuine, want);
  if (honest_reply.has_value() != want.has_value() ||
      (honest_reply && !fuzz::same_bits(honest_reply->bytes(), want->bytes())))
    fuzz::fail(harness, "after refused messages the honest message is answered differently");
  if (!(guest_state(p.guest) == guest_state(reference.guest)) ||
      !(host_state(p.host) == host_state(reference.host)))
    fuzz::fail(harness, "after refused messages the party differs from one that got only the honest message");
  return 0;
}
