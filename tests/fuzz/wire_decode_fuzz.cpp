// Fuzzes wire::decode, decode_for, check_model_message and check_model_message_size.
//
// Input: [flags u8][message bytes]. flags bit 0: rewrite the CRC first (so mutated fields reach
// the checks behind the checksum); bit 1: expect the f64 layout instead of the f32 one; bits 2-4:
// byte offset (0-7) of a second, misaligned copy that must decode alike.
//
// Invariants: only malformed_message escapes; the aligned and misaligned decodes agree; an
// accepted message re-encodes (header, sections, payload) to the input bytes — sections whose
// keys are not in ascending order excepted, which must still re-encode to the same entries;
// decode_for accepts exactly when decode and check_model_message do.
#include "fuzz_common.hpp"

#include "fedpp/transport/message.hpp"
#include "fedpp/transport/wire_format.hpp"

#include <optional>

namespace {

using namespace fedpp;
constexpr const char* harness = "wire_decode";

std::optional<wire::decoded_message> try_decode(std::span<const std::byte> bytes, const char* what) {
  try {
    return wire::decode(bytes);
  } catch (const malformed_message&) {
    return std::nullopt;
  } catch (...) {
    fuzz::undocumented(harness, what);
  }
}

bool try_check(const char* what, auto&& check) {
  try {
    check();
    return true;
  } catch (const malformed_message&) {
    return false;
  } catch (...) {
    fuzz::undocumented(harness, what);
  }
}

void check_accepted(const wire::decoded_message& d, std::span<const std::byte> input) {
  const auto& h = d.header();
  if (h.chunk_count == 0 || h.chunk_index >= h.chunk_count) fuzz::fail(harness, "accepted bad chunk fields");
  if (d.payload_bytes().size() != h.payload_bytes) fuzz::fail(harness, "payload size differs from the header");
  if (h.encoding == wire::payload_encoding::dense && h.element_count * size_of(h.type) != h.total_payload_bytes)
    fuzz::fail(harness, "accepted a dense message whose element count does not match its bytes");

  // config(): the round_config of a global_model, invalid_config (documented) for other kinds.
  if (h.kind == wire::message_kind::global_model) {
    if (d.config().round != h.round) fuzz::fail(harness, "config().round differs from the header's round");
  } else {
    try {
      (void)d.config();
      fuzz::fail(harness, "config() of a non-global_model message did not throw");
    } catch (const invalid_config&) {
    } catch (...) {
      fuzz::undocumented(harness, "decoded_message::config");
    }
  }
  // payload<T>(): malformed_message unless dense and of T's dtype.
  const bool f32_ok = try_check("payload<float>", [&] { (void)d.payload<float>(); });
  if (f32_ok != (h.encoding == wire::payload_encoding::dense && h.type == dtype::f32))
    fuzz::fail(harness, "payload<float>() accepted/refused against the header");
  if (f32_ok && d.payload<float>().size() * 4 != h.payload_bytes) fuzz::fail(harness, "payload<float>() size");

  // Re-encode from the decoded fields.
  std::vector<std::byte> sections;
  try {
    if (h.kind == wire::message_kind::global_model) sections = wire::detail::encode_config_section(d.config());
    else if (h.kind == wire::message_kind::client_update) sections = wire::detail::encode_metrics_section(d.metrics());
  } catch (...) {
    fuzz::undocumented(harness, "re-encoding the sections of an accepted message");
  }
  const std::size_t width = h.encoding == wire::payload_encoding::raw_bytes ? 1 : size_of(h.type);
  const message again = wire::detail::build_message(h, sections, d.payload_bytes().data(), width);
  const auto out = again.bytes();
  const auto in_sections = d.sections_bytes();
  if (out.size() != input.size()) fuzz::fail(harness, "re-encoded size differs from the input");
  const bool canonical_sections = fuzz::same_bits(std::span<const std::byte>(sections), in_sections);
  if (canonical_sections) {
    if (!fuzz::same_bits(out, input)) fuzz::fail(harness, "accepted message does not re-encode to its bytes");
    return;
  }
  // Sections with keys out of order: same size, same entries, everything else byte-identical.
  const std::size_t off = wire::header_bytes;
  if (std::memcmp(out.data(), input.data(), 92) != 0 ||
      std::memcmp(out.data() + off + sections.size(), input.data() + off + sections.size(),
                  out.size() - off - sections.size()) != 0)
    fuzz::fail(harness, "re-encoded header/payload differ (non-canonical sections)");
  const auto d2 = try_decode(out, "decode(re-encoded)");
  if (!d2) fuzz::fail(harness, "the re-encoded message does not decode");
  if (h.kind == wire::message_kind::global_model) {
    const auto &a = d.config(), &b = d2->config();
    if (a.extra != b.extra || a.local_epochs != b.local_epochs || a.batch_size != b.batch_size ||
        a.deadline != b.deadline || std::memcmp(&a.learning_rate, &b.learning_rate, 8) != 0)
      fuzz::fail(harness, "round_config changed in a re-encode");
  } else {
    if (d.metrics().size() != d2->metrics().size()) fuzz::fail(harness, "metrics changed in a re-encode");
    for (const auto& [k, v] : d.metrics()) {
      const auto it = d2->metrics().find(k);
      if (it == d2->metrics().end() || std::memcmp(&v, &it->second, 8) != 0)
        fuzz::fail(harness, "metrics changed in a re-encode");
    }
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t flags = data[0];
  std::vector<std::byte> bytes(reinterpret_cast<const std::byte*>(data) + 1, reinterpret_cast<const std::byte*>(data) + size);
  if (flags & 1) fuzz::fix_crc(bytes);
  const model_layout layout = (flags & 2) ? fuzz::double_layout() : fuzz::float_layout();

  const message m = message::copy_of(bytes); // 64-byte aligned
  std::optional<wire::decoded_message> d;
  try {
    d.emplace(wire::decode(m));
  } catch (const malformed_message&) {
  } catch (...) {
    fuzz::undocumented(harness, "wire::decode(message)");
  }

  // A misaligned copy must decode alike (the payload is copied instead of viewed).
  const std::size_t shift = (flags >> 2) & 7;
  std::vector<std::byte> shifted(bytes.size() + 8);
  if (!bytes.empty()) std::memcpy(shifted.data() + shift, bytes.data(), bytes.size());
  const std::span<const std::byte> view(shifted.data() + shift, bytes.size());
  const auto d_shifted = try_decode(view, "wire::decode(misaligned span)");
  if (d.has_value() != d_shifted.has_value()) fuzz::fail(harness, "aligned and misaligned decodes disagree");

  const std::uint64_t round = d ? d->round() : 0;
  std::optional<wire::decoded_message> f;
  try {
    f.emplace(wire::decode_for(m, layout, round));
  } catch (const malformed_message&) {
  } catch (...) {
    fuzz::undocumented(harness, "wire::decode_for");
  }
  if (!d) {
    if (f) fuzz::fail(harness, "decode_for accepted what decode refused");
    return 0;
  }
  if (!(d->header() == d_shifted->header())) fuzz::fail(harness, "misaligned decode gives another header");
  if (!fuzz::same_bits(d->payload_bytes(), d_shifted->payload_bytes()))
    fuzz::fail(harness, "misaligned decode gives another payload");

  check_accepted(*d, bytes);

  const bool model_ok = try_check("check_model_message", [&] { wire::check_model_message(*d, layout, round); });
  if (model_ok != f.has_value()) fuzz::fail(harness, "decode_for disagrees with decode + check_model_message");
  const auto& h = d->header();
  if (model_ok && (h.kind == wire::message_kind::control || h.is_chunked() || h.layout_hash != layout.hash() ||
                   !layout.is_uniform(h.type) || h.element_count != layout.total_size()))
    fuzz::fail(harness, "check_model_message accepted a message that does not fit the layout");
  const bool size_ok =
      try_check("check_model_message_size", [&] { wire::check_model_message_size(*d, layout); });
  if (size_ok && h.total_payload_bytes != layout.total_size() * size_of(h.type))
    fuzz::fail(harness, "check_model_message_size accepted a declared size other than the layout's");
  if (model_ok && !size_ok) fuzz::fail(harness, "check_model_message accepted what check_model_message_size refused");
  return 0;
}
