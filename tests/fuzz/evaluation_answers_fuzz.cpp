// Fuzzes federated evaluation's answers (orchestration/federated_evaluation.hpp): the codec
// (decode_evaluation_answer) and the server's admission (evaluation_collector::admit), for
// evaluation 2 of the model after round 4, clients 1, 2 and 3 asked; endpoint 9 is a host that
// speaks for client 3. Each asked client's honest answer (a report, or "failed") is interleaved
// with fuzzed messages from fuzzed endpoints.
//
// Input: [setup u8] then records [from u8][op u8][u16 length][bytes].
//   setup bits 0-2: clients 1..3 answer with a report (else "could not evaluate"); bit 3: the
//   server knows each client's example count (100 × c); bit 4: min_reports 2.
//   from: endpoint {1, 2, 3, 4 (not asked), 9 (client 3's host), 0, server_endpoint}[from % 7].
//   op & 3 = 0: the bytes are a whole wire message (op bit 2: rewrite the CRC);
//          = 1: an answer built from fields: tag {evaluation_report, evaluation_failed, 15}
//               [bytes[0] % 3], round 3 + bytes[1] % 3, claimed sender: the endpoint (op bit 3:
//               client bytes[2] % 4); payload: the rest (op bit 4: evaluation number
//               1 + bytes[3] % 3, then the rest as the three doubles, zero-padded);
//          = 2, 3: the honest answer of client from % 3 + 1, if not yet sent.
//   Honest answers not sent by a record go last.
//
// Invariants: admit never throws and counts each message exactly once (accepted, failed or one
// refusal counter); a refused message leaves the accepted answers and their summaries unchanged;
// an accepted answer is that of an asked client the sender may speak for, with the values it
// carried: a whole number of examples in [1, max_examples] (and within the known count), loss
// finite in [0, max_loss], accuracy in [0, 1]; the summaries are finite and ordered (min ≤ p10 ≤
// p90 ≤ max, the means within [min, max]). decode_evaluation_answer throws only
// malformed_message, and what it accepts re-encodes to the same payload.
#include "fuzz_common.hpp"

#include "fedpp/orchestration/federated_evaluation.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <optional>

namespace {

using namespace fedpp;
constexpr const char* harness = "evaluation_answers";
constexpr std::array<endpoint_id, 7> endpoints{1, 2, 3, 4, 9, 0, server_endpoint};
constexpr std::uint64_t eval_round = 4, evaluation = 2;

/// The server's endpoint as evaluation_collector::admit sees it: endpoint 9 hosts client 3.
struct server_side {
  [[nodiscard]] bool speaks_for(endpoint_id from, endpoint_id claimed) const noexcept {
    return from == 9 && claimed == 3;
  }
};

federated_evaluation_options options(std::uint8_t setup) {
  federated_evaluation_options o;
  o.min_reports = (setup & 16) ? 2 : 1;
  o.max_examples = 1000;
  o.max_loss = 100;
  if (setup & 8)
    o.known_examples = [](client_id c) -> std::optional<double> {
      if (c >= 1 && c <= 3) return 100.0 * static_cast<double>(c);
      return std::nullopt;
    };
  return o;
}

message honest(client_id c, bool reports) {
  if (!reports) return encode_evaluation_failed(eval_round, c, evaluation);
  return encode_evaluation_report(
      eval_round, c, evaluation,
      {10.0 * static_cast<double>(c), 0.25 * static_cast<double>(c), 0.5 + 0.125 * static_cast<double>(c)});
}

/// The codec alone: only malformed_message; accepted payloads re-encode to themselves.
void check_codec(std::uint32_t tag, std::span<const std::byte> payload) {
  std::optional<evaluation_answer> a;
  try {
    a = decode_evaluation_answer(tag, payload);
  } catch (const malformed_message&) {
    return;
  } catch (...) {
    fuzz::undocumented(harness, "decode_evaluation_answer");
  }
  const message again = tag == evaluation_report_tag
                            ? encode_evaluation_report(0, 1, a->evaluation, a->result)
                            : encode_evaluation_failed(0, 1, a->evaluation);
  const auto d = wire::decode(again);
  if (d.tag() != tag || !fuzz::same_bits(d.payload_bytes(), payload))
    fuzz::fail(harness, "an accepted evaluation answer does not re-encode to its payload");
}

message build(std::span<const std::byte> rec, std::uint8_t op, endpoint_id from) {
  fuzz::reader in(reinterpret_cast<const std::uint8_t*>(rec.data()), rec.size());
  constexpr std::array<std::uint32_t, 3> tags{evaluation_report_tag, evaluation_failed_tag, 15};
  const std::uint32_t tag = tags[in.u8() % 3];
  const std::uint64_t round = 3 + in.u8() % 3;
  const std::uint8_t claimed_byte = in.u8();
  const endpoint_id claimed = (op & 8) ? static_cast<endpoint_id>(claimed_byte % 4) : from;
  const std::uint8_t evaluation_byte = in.u8();
  std::vector<std::byte> payload;
  if (op & 16) {
    payload.resize(tag == evaluation_failed_tag ? evaluation_failed_bytes : evaluation_report_bytes);
    wire::detail::put_u64(payload.data(), 1 + evaluation_byte % 3);
    const auto rest = in.rest();
    std::memcpy(payload.data() + 8, rest.data(), std::min(rest.size(), payload.size() - 8));
  } else {
    const auto rest = in.rest();
    payload.assign(rest.begin(), rest.end());
  }
  if (tag != 15) check_codec(tag, payload);
  return wire::encode_control(round, claimed, tag, payload);
}

/// What a refused message must not change.
struct accepted_view {
  std::vector<client_evaluation> clients;
  double total_examples;
  metric_summary loss, accuracy;
  client_id worst;
  std::size_t counted; // every message counted once: accepted, failed or refused
  explicit accepted_view(const evaluation_collector& c) {
    const evaluation_metrics m = evaluation_collector(c).finish();
    clients = m.clients;
    total_examples = m.total_examples;
    loss = m.loss;
    accuracy = m.accuracy;
    worst = m.worst_client;
    counted = m.reported + m.client_failures + m.refused();
  }
  [[nodiscard]] bool same_answers(const accepted_view& o) const {
    return clients == o.clients &&
           std::bit_cast<std::uint64_t>(total_examples) == std::bit_cast<std::uint64_t>(o.total_examples) &&
           loss == o.loss && accuracy == o.accuracy && worst == o.worst;
  }
};

void check_summary(const metric_summary& s, const char* what) {
  const double values[] = {s.weighted_mean, s.mean, s.p10, s.p90, s.min, s.max};
  for (const double v : values)
    if (!std::isfinite(v)) fuzz::fail(harness, "a summary is not finite", what);
  const double slack = 1e-12 * std::max({1.0, std::abs(s.min), std::abs(s.max)});
  if (!(s.min <= s.p10 && s.p10 <= s.p90 && s.p90 <= s.max) || s.mean < s.min - slack ||
      s.mean > s.max + slack || s.weighted_mean < s.min - slack || s.weighted_mean > s.max + slack)
    fuzz::fail(harness, "a summary is out of order", what);
}

void admit(evaluation_collector& c, const federated_evaluation_options& o, const envelope& e) {
  const accepted_view before(c);
  try {
    c.admit(server_side{}, e);
  } catch (...) {
    fuzz::undocumented(harness, "evaluation_collector::admit");
  }
  const accepted_view after(c);
  if (after.counted != before.counted + 1)
    fuzz::fail(harness, "a message was not counted exactly once",
               std::to_string(before.counted) + " -> " + std::to_string(after.counted));
  if (after.clients.size() == before.clients.size()) {
    if (!after.same_answers(before)) fuzz::fail(harness, "a refused message changed the accepted answers");
    return;
  }
  if (after.clients.size() != before.clients.size() + 1)
    fuzz::fail(harness, "one message added several answers");
  // The new answer: an asked client the sender may speak for, with the message's values.
  const client_evaluation* added = nullptr;
  for (const auto& a : after.clients)
    if (std::find(before.clients.begin(), before.clients.end(), a) == before.clients.end()) added = &a;
  if (added == nullptr) fuzz::fail(harness, "an accepted answer replaced another");
  if (added->client < 1 || added->client > 3)
    fuzz::fail(harness, "an answer of a client not asked was accepted");
  if (!may_speak_for(server_side{}, e.from, added->client))
    fuzz::fail(harness, "an impersonated answer was accepted");
  const auto d = wire::decode(e.message);
  if (d.sender() != added->client || d.tag() != evaluation_report_tag || d.round() != eval_round)
    fuzz::fail(harness, "an accepted answer is not its message's");
  const auto a = decode_evaluation_answer(d.tag(), d.payload_bytes());
  if (a.evaluation != evaluation) fuzz::fail(harness, "an answer to another evaluation was accepted");
  const double n = added->num_examples;
  if (!(n >= 1 && n <= o.max_examples && n == std::floor(n)) ||
      (o.known_examples && !(n <= 100.0 * static_cast<double>(added->client))))
    fuzz::fail(harness, "an accepted example count is out of bounds", std::to_string(n));
  if (!(std::isfinite(added->loss) && added->loss >= 0 && added->loss <= o.max_loss))
    fuzz::fail(harness, "an accepted loss is out of bounds", std::to_string(added->loss));
  if (!(added->accuracy >= 0 && added->accuracy <= 1))
    fuzz::fail(harness, "an accepted accuracy is out of bounds", std::to_string(added->accuracy));
  if (std::bit_cast<std::uint64_t>(n) != std::bit_cast<std::uint64_t>(a.result.num_examples) ||
      std::bit_cast<std::uint64_t>(added->loss) != std::bit_cast<std::uint64_t>(a.result.loss) ||
      std::bit_cast<std::uint64_t>(added->accuracy) != std::bit_cast<std::uint64_t>(a.result.accuracy))
    fuzz::fail(harness, "an accepted answer's values differ from its message's");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::reader in(data, size);
  const std::uint8_t setup = in.u8();
  const federated_evaluation_options o = options(setup);
  evaluation_collector c(eval_round, evaluation, {1, 2, 3}, o);
  std::array<bool, 3> sent{};
  auto send_honest = [&](std::size_t k) {
    if (sent[k]) return;
    sent[k] = true;
    admit(c, o, envelope{k + 1, server_endpoint, honest(k + 1, (setup >> k) & 1)});
  };
  std::size_t records = 0;
  while (!in.empty() && records++ < 32) {
    const std::uint8_t from_index = in.u8(), op = in.u8();
    const auto rec = in.record();
    const endpoint_id from = endpoints[from_index % endpoints.size()];
    switch (op & 3) {
    case 0: {
      std::vector<std::byte> bytes(rec.begin(), rec.end());
      if (op & 4) fuzz::fix_crc(bytes);
      admit(c, o, envelope{from, server_endpoint, message::copy_of(bytes)});
      break;
    }
    case 1:
      admit(c, o, envelope{from, server_endpoint, build(rec, op, from)});
      break;
    default:
      send_honest(from_index % 3);
      break;
    }
  }
  for (std::size_t k = 0; k < 3; ++k) send_honest(k);
  if (!c.settled()) fuzz::fail(harness, "every asked client answered, yet the evaluation is not settled");
  const evaluation_metrics m = std::move(c).finish();
  if (m.reported > 3 || m.reported != m.clients.size())
    fuzz::fail(harness, "more answers than clients asked");
  if (m.succeeded != (m.reported >= o.min_reports))
    fuzz::fail(harness, "succeeded disagrees with min_reports");
  if (m.dropped != 0) fuzz::fail(harness, "a client that answered counted as dropped");
  if (!m.clients.empty()) {
    check_summary(m.loss, "loss");
    check_summary(m.accuracy, "accuracy");
    if (!std::isfinite(m.total_examples)) fuzz::fail(harness, "the total example count is not finite");
  }
  return 0;
}
