// Fuzzes server_momentum (FedAvgM) saved states: restore and load, float or double state.
//
// Input: [ctl u8][saved bytes]. ctl bit 0: double state; bit 3: load() into an optimizer of
// the saved D (read from the bytes when present) instead of 16.
//
// Invariants: restore throws only malformed_message; load throws only malformed_message or
// invalid_config (another D) and then leaves the optimizer bit-identical (to_bytes); accepted
// bytes re-encode to themselves; the restored momentum is finite.
#include "fuzz_common.hpp"

#include "fedpp/optim/server_momentum.hpp"

namespace {

using namespace fedpp;
constexpr const char* harness = "server_momentum_restore";

template <class O>
void check(std::span<const std::byte> bytes, bool saved_size) {
  std::optional<O> o;
  try {
    o.emplace(O::restore(bytes));
  } catch (const malformed_message&) {
  } catch (...) {
    fuzz::undocumented(harness, "server_momentum::restore");
  }
  if (o) {
    if (!fuzz::same_bits(std::span<const std::byte>(o->to_bytes()), bytes))
      fuzz::fail(harness, "restored optimizer does not re-encode to its bytes");
    if (!fuzz::all_finite(o->momentum_buffer())) fuzz::fail(harness, "restored momentum is not finite");
  }
  std::size_t d = 16;
  if (saved_size && bytes.size() >= 16) {
    std::uint64_t saved = 0;
    std::memcpy(&saved, bytes.data() + 8, 8);
    if (saved <= 4096) d = static_cast<std::size_t>(saved);
  }
  O target(d, 0.7, 0.5);
  std::vector<float> model(d, 0.5F), delta(d);
  for (std::size_t i = 0; i < d; ++i) delta[i] = 0.01F * static_cast<float>(i) - 0.02F;
  target.step(model, delta);
  const auto before = target.to_bytes();
  bool loaded = true;
  try {
    target.load(bytes);
  } catch (const malformed_message&) {
    loaded = false;
  } catch (const invalid_config&) {
    loaded = false;
  } catch (...) {
    fuzz::undocumented(harness, "server_momentum::load");
  }
  if (loaded != (o.has_value() && o->size() == d)) fuzz::fail(harness, "load and restore disagree");
  const auto after = target.to_bytes();
  const auto& want = loaded ? std::vector<std::byte>(bytes.begin(), bytes.end()) : before;
  if (!fuzz::same_bits(std::span<const std::byte>(after), std::span<const std::byte>(want)))
    fuzz::fail(harness, loaded ? "a loaded optimizer does not re-encode to the bytes" : "a refused load changed the optimizer");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::reader in(data, size);
  const std::uint8_t ctl = in.u8();
  const auto bytes = in.rest();
  if (ctl & 1)
    check<server_momentum<float, double>>(bytes, (ctl & 8) != 0);
  else
    check<server_momentum<float>>(bytes, (ctl & 8) != 0);
  return 0;
}
