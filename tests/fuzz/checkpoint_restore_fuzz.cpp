// Fuzzes server checkpoints (orchestration/checkpoint.hpp; a checkpoint is input from disk):
// restore_checkpoint_bytes, restore_checkpoint and load_checkpoint_model (both from a scratch
// file), into the six server configurations of checkpoint_servers.hpp (SGD, FedAdam, FedAvgM,
// central DP with adaptive clipping and an RDP accountant, SCAFFOLD with the clients' controls
// as an extra object, SGD on doubles), each in a fixed non-trivial state.
//
// Input: [ctl u8][checkpoint bytes]. ctl % 8 (mod 6): the server configuration; bit 3: through a
// file (restore_checkpoint and load_checkpoint_model), else restore_checkpoint_bytes; bit 4:
// reseal — set the header's file length to the input's and recompute the CRC-32C trailer, so
// that mutations reach the checks behind the checksum.
//
// Invariants: only malformed_message and invalid_config escape; a refused checkpoint leaves the
// server, its optimizer, hooks and extra objects bit-identical (their checkpoint before and after
// is the same bytes); an accepted checkpoint re-saves to exactly its bytes, leaves a finite model
// and the saved round; load_checkpoint_model accepts every checkpoint restore accepted and
// returns that model, and any model it returns is finite and is the file's model section.
#include "checkpoint_servers.hpp"
#include "fuzz_common.hpp"

#include <cstdio>
#include <string>
#include <unistd.h>

namespace {

using namespace fedpp;
namespace cs = fuzz::checkpoint_servers;
constexpr const char* harness = "checkpoint_restore";

const std::string& scratch_path() {
  static const std::string path = [] {
    const char* dir = std::getenv("TMPDIR");
    return std::string(dir != nullptr && *dir != '\0' ? dir : "/tmp") + "/fedpp-checkpoint-fuzz-" +
           std::to_string(::getpid()) + ".ckpt";
  }();
  return path;
}

void write_scratch(std::span<const std::byte> bytes) {
  std::FILE* f = std::fopen(scratch_path().c_str(), "wb");
  if (f == nullptr) fuzz::fail(harness, "cannot write the scratch file", scratch_path());
  if (!bytes.empty() && std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size())
    fuzz::fail(harness, "cannot write the scratch file", scratch_path());
  std::fclose(f);
}

/// The input with its declared length and checksum made consistent.
std::vector<std::byte> resealed(std::span<const std::byte> in) {
  std::vector<std::byte> b(in.begin(), in.end());
  if (b.size() < checkpoint_format::header_bytes + checkpoint_format::trailer_bytes) return b;
  const std::uint64_t n = b.size();
  for (std::size_t i = 0; i < 8; ++i) b[16 + i] = static_cast<std::byte>((n >> (8 * i)) & 0xffU);
  const std::uint32_t crc = detail::crc32c(std::span<const std::byte>(b).first(b.size() - 4));
  for (std::size_t i = 0; i < 4; ++i) b[b.size() - 4 + i] = static_cast<std::byte>((crc >> (8 * i)) & 0xffU);
  return b;
}

/// load_checkpoint_model on the scratch file; the model when accepted.
template <class T>
std::optional<flat_model<T>> load_model(const model_layout& layout) {
  try {
    return load_checkpoint_model<T>(scratch_path(), layout);
  } catch (const malformed_message& e) {
    fuzz::note(harness, e.what());
  } catch (const invalid_config& e) {
    fuzz::note(harness, e.what());
  } catch (...) {
    fuzz::undocumented(harness, "load_checkpoint_model");
  }
  return std::nullopt;
}

/// Offset of the model section's values: the header, the server section, the model's section header.
constexpr std::size_t model_offset =
    checkpoint_format::header_bytes + checkpoint_format::section_header_bytes +
    checkpoint_format::server_section_bytes + checkpoint_format::section_header_bytes;

template <class Server, class... Extras>
void check(std::span<const std::byte> bytes, bool through_file, Server& s, Extras&... extras) {
  using T = typename Server::value_type;
  const std::vector<std::byte> before = checkpoint_bytes(s, extras...);
  if (through_file) write_scratch(bytes);
  bool accepted = false;
  try {
    if (through_file)
      restore_checkpoint(s, scratch_path(), extras...);
    else
      restore_checkpoint_bytes(s, bytes, extras...);
    accepted = true;
  } catch (const malformed_message& e) {
    fuzz::note(harness, e.what());
  } catch (const invalid_config& e) {
    fuzz::note(harness, e.what());
  } catch (...) {
    fuzz::undocumented(harness, "restore_checkpoint");
  }
  const std::vector<std::byte> after = checkpoint_bytes(s, extras...);
  if (!accepted) {
    if (!fuzz::same_bits<std::byte>(after, before))
      fuzz::fail(harness, "a refused checkpoint changed the server");
  } else {
    if (!fuzz::same_bits<std::byte>(after, bytes))
      fuzz::fail(harness, "an accepted checkpoint does not re-save to its bytes");
    if (!fuzz::all_finite(s.model().span()))
      fuzz::fail(harness, "an accepted checkpoint left a non-finite model");
    std::uint64_t round = 0;
    std::memcpy(&round,
                bytes.data() + checkpoint_format::header_bytes + checkpoint_format::section_header_bytes, 8);
    if (s.round() != round) fuzz::fail(harness, "the restored round is not the saved one");
  }
  if (!through_file) return;
  const std::optional<flat_model<T>> loaded = load_model<T>(s.layout());
  if (accepted && !loaded) fuzz::fail(harness, "load_checkpoint_model refused a checkpoint restore accepted");
  if (loaded) {
    if (!fuzz::all_finite(loaded->span()))
      fuzz::fail(harness, "load_checkpoint_model returned a non-finite model");
    const auto model_bytes = std::as_bytes(loaded->span());
    if (bytes.size() < model_offset + model_bytes.size() ||
        !fuzz::same_bits(model_bytes, bytes.subspan(model_offset, model_bytes.size())))
      fuzz::fail(harness, "load_checkpoint_model returned another model than the file's model section");
    if (accepted && !fuzz::same_bits(model_bytes, std::as_bytes(s.model().span())))
      fuzz::fail(harness, "load_checkpoint_model and restore_checkpoint read different models");
  }
  std::remove(scratch_path().c_str());
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::reader in(data, size);
  const std::uint8_t ctl = in.u8();
  const auto rest = in.rest();
  const std::vector<std::byte> bytes =
      (ctl & 16) ? resealed(rest) : std::vector<std::byte>(rest.begin(), rest.end());
  const bool through_file = (ctl & 8) != 0;
  cs::with_server(ctl % 8, [&](auto& s, auto&... extras) { check(bytes, through_file, s, extras...); });
  return 0;
}
