// Fuzzes the receive paths of a split neural network (vertical/split_nn_messages.hpp and the
// parties): the label holder's train_step / eval_step taking the feature party's activation
// messages, and the feature party's backward taking the label holder's gradient message, over
// the two-party session of vertical_fixtures.hpp (batch {3, 1, 4} at step 0).
//
// Input: [setup u8] then records [from u8][mode u8][u16 length][bytes].
//   setup bit 0: the feature party receives (backward), else the label holder; bit 1: double
//   values, else float; bit 2: the label holder runs eval_step, else train_step; bit 3: values
//   bounded by 10, else by 1e6 (split_nn_config::max_abs_value).
//   from: the envelope's endpoint {5 (the feature party), server_endpoint (the label holder),
//   6, 0}[from % 4].
//   mode & 3 = 0: the bytes are a whole wire message (mode bit 2: rewrite the CRC);
//            = 1: a split-NN message encoded from fields: kind {train_activations,
//                 eval_activations, gradients}[bytes[0] % 3], step bytes[1] % 3, party bytes[2] % 3,
//                 the honest batch (mode bit 4: 3 ids from the bytes), the honest width (mode bit 5:
//                 bytes[3] % 4), then the values (from the bytes, zeros past their end); the
//                 claimed sender is the envelope's (mode bit 3: the other party's endpoint);
//            = 2: the honest message;
//            = 3: nothing (an empty envelope list: the label holder's step without messages).
//   mode bit 6: the label holder collects this envelope with the next record's into one step.
//
// Invariants: only split_nn_protocol_error escapes (invalid_config only from a feature party that
// awaits no gradient any more); a refused message leaves the party bit-identical (parameters,
// last gradients, step, awaited gradient); an accepted message carries finite values within the
// bound, and leaves finite parameters and (label holder) gradient messages of finite values; when
// no fuzzed message was accepted, the honest message is accepted afterwards and the party ends
// bit-identical to a party that received only the honest message.
#include "fuzz_common.hpp"
#include "vertical_fixtures.hpp"

#include <array>
#include <optional>

namespace {

using namespace fedpp;
using namespace fedpp::vertical;
namespace vf = fuzz::vertical_fixtures;
constexpr const char* harness = "split_nn";
constexpr std::array<endpoint_id, 4> endpoints{vf::split_feature_endpoint, server_endpoint, 6, 0};

/// The values of a split-NN message, read independently of read_split_nn_message (the payload
/// header is 32 bytes, then 8 bytes per id, then the values).
template <class T>
std::vector<T> values_of(const message& m) {
  const auto d = wire::decode(m);
  const auto p = d.payload_bytes();
  const std::uint64_t rows = wire::detail::get_u64(p.data() + 16);
  const std::size_t at = 32 + 8 * static_cast<std::size_t>(rows);
  std::vector<T> v((p.size() - at) / sizeof(T));
  if (!v.empty()) std::memcpy(v.data(), p.data() + at, v.size() * sizeof(T));
  return v;
}

template <class T>
void check_values(const message& m, double bound, const char* what) {
  for (const T x : values_of<T>(m))
    if (!std::isfinite(static_cast<double>(x)) || std::abs(static_cast<double>(x)) > bound)
      fuzz::fail(harness, what, std::to_string(static_cast<double>(x)));
}

template <class T>
message build(std::span<const std::byte> rec, std::uint8_t mode, endpoint_id from) {
  fuzz::reader in(reinterpret_cast<const std::uint8_t*>(rec.data()), rec.size());
  constexpr std::array<split_nn_message_kind, 3> kinds{split_nn_message_kind::train_activations,
                                                       split_nn_message_kind::eval_activations,
                                                       split_nn_message_kind::gradients};
  const auto kind = kinds[in.u8() % 3];
  const std::uint64_t step = in.u8() % 3;
  const std::uint32_t party = in.u8() % 3;
  const std::uint8_t width_byte = in.u8();
  std::vector<std::uint64_t> ids(vf::split_batch.begin(), vf::split_batch.end());
  if (mode & 16)
    for (auto& id : ids) id = in.u8() % 9;
  const std::size_t width = (mode & 32) ? width_byte % 4 : 2;
  std::vector<T> values(ids.size() * width);
  const auto raw = in.rest();
  if (!values.empty() && !raw.empty())
    std::memcpy(values.data(), raw.data(), std::min(raw.size(), values.size() * sizeof(T)));
  const endpoint_id claimed =
      (mode & 8) ? (from == server_endpoint ? vf::split_feature_endpoint : server_endpoint) : from;
  return encode_split_nn_message(kind, step, claimed, party, ids, width, std::span<const T>(values));
}

template <class T>
message make_message(std::span<const std::byte> rec, std::uint8_t mode, endpoint_id from,
                     const message& honest) {
  switch (mode & 3) {
  case 0: {
    std::vector<std::byte> bytes(rec.begin(), rec.end());
    if (mode & 4) fuzz::fix_crc(bytes);
    return message::copy_of(bytes);
  }
  case 1:
    return build<T>(rec, mode, from);
  default:
    return honest;
  }
}

// --- the label holder --------------------------------------------------------------------------

template <class T>
struct label_state {
  std::vector<T> bottom, top, bottom_grad, top_grad;
  std::uint64_t step;
  explicit label_state(const split_nn_label_party<T>& l)
      : bottom(l.bottom_parameters().begin(), l.bottom_parameters().end()),
        top(l.top_parameters().begin(), l.top_parameters().end()),
        bottom_grad(l.bottom_gradient().begin(), l.bottom_gradient().end()),
        top_grad(l.top_gradient().begin(), l.top_gradient().end()), step(l.step()) {}
  bool operator==(const label_state& o) const {
    return step == o.step && fuzz::same_bits<T>(bottom, o.bottom) && fuzz::same_bits<T>(top, o.top) &&
           fuzz::same_bits<T>(bottom_grad, o.bottom_grad) && fuzz::same_bits<T>(top_grad, o.top_grad);
  }
};

/// One step of the label holder with `in`; true when it was taken.
template <class T>
bool label_step(split_nn_label_party<T>& l, const vf::split_session<T>& s, bool eval,
                std::span<const envelope> in) {
  const label_state<T> before(l);
  try {
    if (eval) {
      const auto scores = l.eval_step(vf::split_batch, s.rows0(), s.labels, in);
      if (!std::isfinite(scores.loss_sum))
        fuzz::fail(harness, "an accepted evaluation step scored a non-finite loss");
    } else {
      const auto r = l.train_step(vf::split_batch, s.rows0(), s.labels, in);
      if (r.gradients.size() != 1)
        fuzz::fail(harness, "a training step returned no gradient message for the party");
      check_values<T>(r.gradients[0], std::numeric_limits<double>::max(),
                      "an accepted training step sends a non-finite gradient");
      if (!std::isfinite(r.scores.loss_sum))
        fuzz::fail(harness, "an accepted training step scored a non-finite loss");
    }
  } catch (const split_nn_protocol_error& e) {
    fuzz::note(harness, e.what());
    if (!(label_state<T>(l) == before)) fuzz::fail(harness, "a refused step changed the label holder");
    return false;
  } catch (...) {
    fuzz::undocumented(harness, "split_nn_label_party step");
  }
  if (l.step() != before.step + 1) fuzz::fail(harness, "an accepted step did not advance the step counter");
  for (const auto& e : in)
    check_values<T>(e.message, s.config.max_abs_value(),
                    "an accepted activation is not finite or beyond the bound");
  const label_state<T> after(l);
  if (!fuzz::all_finite<T>(after.bottom) || !fuzz::all_finite<T>(after.top))
    fuzz::fail(harness, "an accepted step left non-finite parameters");
  return true;
}

template <class T>
void run_label(fuzz::reader& in, std::uint8_t setup) {
  const vf::split_session<T> s((setup & 8) ? 10.0 : 1e6);
  const bool eval = (setup & 4) != 0;
  const message honest = s.activations(eval ? split_nn_message_kind::eval_activations
                                            : split_nn_message_kind::train_activations);
  auto l = s.label();
  bool pristine = true;
  std::vector<envelope> pending;
  std::size_t records = 0;
  while (!in.empty() && records++ < 16 && l.step() == 0) {
    const std::uint8_t from_index = in.u8(), mode = in.u8();
    const auto rec = in.record();
    const endpoint_id from = endpoints[from_index % endpoints.size()];
    if ((mode & 3) != 3) {
      pending.push_back(envelope{from, server_endpoint, make_message<T>(rec, mode, from, honest)});
      if (mode & 64) continue;
    }
    // The honest message alone (also when rebuilt from raw bytes) is not a fuzzed acceptance.
    const bool all_honest = pending.size() == 1 && pending[0].from == vf::split_feature_endpoint &&
                            fuzz::same_bits(pending[0].message.bytes(), honest.bytes());
    if (label_step<T>(l, s, eval, pending) && !all_honest) pristine = false;
    pending.clear();
  }
  if (l.step() != 0 || !pristine) return;
  const std::array<envelope, 1> good{envelope{vf::split_feature_endpoint, server_endpoint, honest}};
  if (!label_step<T>(l, s, eval, good))
    fuzz::fail(harness, "the honest activations were refused after refused messages");
  auto reference = s.label();
  (void)label_step<T>(reference, s, eval, good);
  if (!(label_state<T>(l) == label_state<T>(reference)))
    fuzz::fail(harness,
               "after refused messages the label holder differs from one that got only the honest message");
}

// --- the feature party -------------------------------------------------------------------------

template <class T>
struct feature_state {
  std::vector<T> params, grad;
  std::uint64_t step;
  bool awaiting;
  explicit feature_state(const split_nn_feature_party<T>& f)
      : params(f.parameters().begin(), f.parameters().end()), grad(f.gradient().begin(), f.gradient().end()),
        step(f.step()), awaiting(f.awaiting_gradient()) {}
  bool operator==(const feature_state& o) const {
    return step == o.step && awaiting == o.awaiting && fuzz::same_bits<T>(params, o.params) &&
           fuzz::same_bits<T>(grad, o.grad);
  }
};

/// backward(e); true when it was taken.
template <class T>
bool feature_backward(split_nn_feature_party<T>& f, const vf::split_session<T>& s, const envelope& e) {
  const feature_state<T> before(f);
  try {
    f.backward(e);
  } catch (const split_nn_protocol_error& err) {
    fuzz::note(harness, err.what());
    if (!(feature_state<T>(f) == before)) fuzz::fail(harness, "a refused gradient changed the feature party");
    return false;
  } catch (const invalid_config& err) {
    if (before.awaiting) fuzz::undocumented(harness, "split_nn_feature_party::backward");
    fuzz::note(harness, err.what());
    if (!(feature_state<T>(f) == before)) fuzz::fail(harness, "a refused call changed the feature party");
    return false;
  } catch (...) {
    fuzz::undocumented(harness, "split_nn_feature_party::backward");
  }
  if (f.step() != 1 || f.awaiting_gradient())
    fuzz::fail(harness, "an accepted gradient did not complete the step");
  check_values<T>(e.message, s.config.max_abs_value(),
                  "an accepted gradient is not finite or beyond the bound");
  if (!fuzz::all_finite(f.parameters()))
    fuzz::fail(harness, "an accepted gradient left non-finite parameters");
  return true;
}

template <class T>
void run_feature(fuzz::reader& in, std::uint8_t setup) {
  const vf::split_session<T> s((setup & 8) ? 10.0 : 1e6);
  const message honest = s.gradient();
  auto fresh = [&] {
    auto f = s.feature();
    (void)f.forward(split_nn_message_kind::train_activations, vf::split_batch, s.rows1());
    return f;
  };
  auto f = fresh();
  bool pristine = true;
  std::size_t records = 0;
  while (!in.empty() && records++ < 16) {
    const std::uint8_t from_index = in.u8(), mode = in.u8();
    const auto rec = in.record();
    const endpoint_id from = endpoints[from_index % endpoints.size()];
    const envelope e{from, vf::split_feature_endpoint, make_message<T>(rec, mode, from, honest)};
    const bool is_honest = from == server_endpoint && fuzz::same_bits(e.message.bytes(), honest.bytes());
    if (feature_backward<T>(f, s, e) && !is_honest) pristine = false;
  }
  if (f.step() != 0 || !pristine) return;
  const envelope good{server_endpoint, vf::split_feature_endpoint, honest};
  if (!feature_backward<T>(f, s, good))
    fuzz::fail(harness, "the honest gradient was refused after refused messages");
  auto reference = fresh();
  (void)feature_backward<T>(reference, s, good);
  if (!(feature_state<T>(f) == feature_state<T>(reference)))
    fuzz::fail(harness,
               "after refused messages the feature party differs from one that got only the honest gradient");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::reader in(data, size);
  const std::uint8_t setup = in.u8();
  if (setup & 1) {
    if (setup & 2)
      run_feature<double>(in, setup);
    else
      run_feature<float>(in, setup);
  } else {
    if (setup & 2)
      run_label<double>(in, setup);
    else
      run_label<float>(in, setup);
  }
  return 0;
}
