// Fuzzes wire::chunk_reassembler (add(message), add(span), add_decoded, discard_before, clear)
// under small reassembly_limits, against a shadow that keeps the chunks it accepted.
//
// Input: [max_total u8][budget u8] then records [op u8][u16 length][bytes]:
//   op & 3 = 0 add(message), 1 add(span), 2 add_decoded (of what wire::decode accepts),
//            3 discard_before(round = op >> 3) (op & 4: clear() instead);
//   op & 4 (adds): rewrite the CRC first.
// Limits: max_total_payload_bytes = 64 · max_total (255: 2^36), budget_bytes = 64 · budget (255: 2^30).
//
// Invariants: only malformed_message (budget_exceeded included) escapes; a refused chunk leaves
// the reassembler's observable state (in_progress, held_bytes) unchanged, except budget_exceeded,
// which drops exactly that message; held_bytes ≤ budget and < 2 × the bytes the partial messages
// hold; a completed message is byte-identical to the unchunked encode of the chunks accepted for
// it (so no refused chunk left a trace), decodes, and is not a chunk; an unchunked input comes
// back as is.
#include "fuzz_common.hpp"

#include "fedpp/transport/message.hpp"
#include "fedpp/transport/wire_format.hpp"

#include <map>
#include <optional>
#include <tuple>

namespace {

using namespace fedpp;
constexpr const char* harness = "chunk_reassembler";

using key = std::tuple<endpoint_id, wire::message_kind, std::uint64_t>;

struct shadow_partial {
  wire::message_header first;
  std::vector<std::byte> sections;
  std::vector<std::byte> payload; // accepted chunks' payload bytes, in order
  std::uint32_t next_index = 0;
};

void check_holdings(const wire::chunk_reassembler& r, const std::map<key, shadow_partial>& shadow) {
  if (r.in_progress() != shadow.size())
    fuzz::fail(harness, "in_progress() differs from the chunks accepted",
               std::to_string(r.in_progress()) + " vs " + std::to_string(shadow.size()));
  if (r.held_bytes() > r.limits().budget_bytes) fuzz::fail(harness, "held_bytes() exceeds the budget");
  std::uint64_t needed = 0;
  for (const auto& [k, p] : shadow) needed += wire::detail::payload_offset(p.sections.size()) + p.payload.size();
  if (r.held_bytes() > 2 * needed)
    fuzz::fail(harness, "held_bytes() is more than twice the bytes received",
               std::to_string(r.held_bytes()) + " held for " + std::to_string(needed));
  if (shadow.empty() && r.held_bytes() != 0) fuzz::fail(harness, "bytes held without a partial message");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::reader in(data, size);
  const std::uint8_t total_byte = in.u8(), budget_byte = in.u8();
  wire::reassembly_limits limits;
  limits.max_total_payload_bytes = total_byte == 255 ? (std::uint64_t{1} << 36) : std::uint64_t{total_byte} * 64;
  limits.budget_bytes = budget_byte == 255 ? (std::uint64_t{1} << 30) : std::uint64_t{budget_byte} * 64;
  wire::chunk_reassembler r(limits);
  std::map<key, shadow_partial> shadow;

  while (!in.empty()) {
    const std::uint8_t op = in.u8();
    const auto rec = in.record();
    if ((op & 3) == 3) {
      try {
        if (op & 4) {
          r.clear();
          shadow.clear();
        } else {
          const std::uint64_t round = op >> 3;
          r.discard_before(round);
          std::erase_if(shadow, [&](const auto& e) { return std::get<2>(e.first) < round; });
        }
      } catch (...) {
        fuzz::undocumented(harness, "discard_before/clear");
      }
      check_holdings(r, shadow);
      continue;
    }
    std::vector<std::byte> bytes(rec.begin(), rec.end());
    if (op & 4) fuzz::fix_crc(bytes);
    const message m = message::copy_of(bytes);
    std::optional<wire::decoded_message> d;
    try {
      d.emplace(wire::decode(m));
    } catch (const malformed_message&) {
    } catch (...) {
      fuzz::undocumented(harness, "wire::decode");
    }
    if ((op & 3) == 2 && !d) continue; // add_decoded takes decoded messages only

    const std::size_t in_progress = r.in_progress();
    const std::uint64_t held = r.held_bytes();
    std::optional<message> out;
    bool refused = false, over_budget = false;
    try {
      switch (op & 3) {
      case 0:
        out = r.add(m);
        break;
      case 1:
        out = r.add(std::span<const std::byte>(bytes));
        break;
      default:
        out = r.add_decoded(*d);
        break;
      }
    } catch (const budget_exceeded&) {
      refused = over_budget = true;
    } catch (const malformed_message&) {
      refused = true;
    } catch (...) {
      fuzz::undocumented(harness, "chunk_reassembler::add");
    }

    if (refused) {
      if (d && over_budget) shadow.erase(key{d->sender(), d->kind(), d->round()});
      if (!over_budget && (r.in_progress() != in_progress || r.held_bytes() != held))
        fuzz::fail(harness, "a refused chunk changed the reassembler's state");
      if (over_budget && (r.in_progress() > in_progress || r.held_bytes() > held))
        fuzz::fail(harness, "a chunk refused over budget left more held than before");
      check_holdings(r, shadow);
      continue;
    }
    if (!d) fuzz::fail(harness, "the reassembler accepted bytes that wire::decode refuses");
    const auto& h = d->header();
    if (!h.is_chunked()) {
      if ((op & 3) == 2) fuzz::fail(harness, "add_decoded accepted an unchunked message");
      if (!out || !fuzz::same_bits(out->bytes(), std::span<const std::byte>(bytes)))
        fuzz::fail(harness, "an unchunked message did not come back as is");
      check_holdings(r, shadow);
      continue;
    }
    const key k{h.sender, h.kind, h.round};
    auto it = shadow.find(k);
    if (it == shadow.end()) {
      if (h.chunk_index != 0 || h.chunk_offset != 0) fuzz::fail(harness, "accepted a first chunk that is not chunk 0");
      if (h.total_payload_bytes > limits.max_total_payload_bytes)
        fuzz::fail(harness, "accepted a total payload above max_total_payload_bytes");
      shadow_partial p;
      p.first = h;
      p.sections.assign(d->sections_bytes().begin(), d->sections_bytes().end());
      it = shadow.emplace(k, std::move(p)).first;
    } else {
      auto& p = it->second;
      if (h.chunk_index != p.next_index || h.chunk_offset != p.payload.size())
        fuzz::fail(harness, "accepted a chunk out of order or at the wrong offset");
      auto a = p.first, b = h;
      a.chunk_index = b.chunk_index = 0;
      a.chunk_offset = b.chunk_offset = 0;
      a.payload_bytes = b.payload_bytes = 0;
      if (!(a == b)) fuzz::fail(harness, "accepted a chunk whose header differs from chunk 0's");
      if (!fuzz::same_bits(d->sections_bytes(), std::span<const std::byte>(p.sections)))
        fuzz::fail(harness, "accepted a chunk whose sections differ from chunk 0's");
    }
    auto& p = it->second;
    p.payload.insert(p.payload.end(), d->payload_bytes().begin(), d->payload_bytes().end());
    p.next_index = h.chunk_index + 1;
    const bool last = h.chunk_index + 1 == h.chunk_count;
    if (last != out.has_value()) fuzz::fail(harness, "completion does not coincide with the last chunk");
    if (!out) {
      if (p.payload.size() >= h.total_payload_bytes) fuzz::fail(harness, "payload complete before the last chunk");
      check_holdings(r, shadow);
      continue;
    }
    if (p.payload.size() != h.total_payload_bytes) fuzz::fail(harness, "completed with a payload of the wrong size");
    wire::message_header whole = p.first;
    whole.chunk_index = 0;
    whole.chunk_count = 1;
    whole.chunk_offset = 0;
    whole.payload_bytes = whole.total_payload_bytes;
    const std::size_t width = h.encoding == wire::payload_encoding::raw_bytes ? 1 : size_of(h.type);
    const message expected = wire::detail::build_message(whole, p.sections, p.payload.data(), width);
    if (!fuzz::same_bits(out->bytes(), expected.bytes()))
      fuzz::fail(harness, "the reassembled message differs from the unchunked encode of its accepted chunks");
    try {
      if (wire::decode(*out).header().is_chunked()) fuzz::fail(harness, "the reassembled message is a chunk");
    } catch (const malformed_message& e) {
      fuzz::fail(harness, "the reassembled message does not decode", e.what());
    }
    shadow.erase(it);
    check_holdings(r, shadow);
  }
  return 0;
}
