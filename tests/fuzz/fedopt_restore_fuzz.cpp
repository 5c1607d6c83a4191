// Fuzzes the FedOpt optimizers' saved states: fedopt::restore and fedopt::load for FedAdam,
// FedYogi and FedAdagrad with float or double state (float models).
//
// Input: [ctl u8][saved bytes]. ctl % 6: the optimizer type; bit 3: load() into an optimizer of
// the saved D (read from the bytes when present) instead of 16.
//
// Invariants: restore throws only malformed_message; load throws only malformed_message or
// invalid_config (another D) and then leaves the optimizer bit-identical (to_bytes); accepted
// bytes re-encode to themselves; the restored m and v are finite, v ≥ 0.
#include "fuzz_common.hpp"

#include "fedpp/optim/fedopt.hpp"

namespace {

using namespace fedpp;
constexpr const char* harness = "fedopt_restore";

template <class O>
void check(std::span<const std::byte> bytes, bool saved_size) {
  using S = typename O::state_type;
  std::optional<O> o;
  try {
    o.emplace(O::restore(bytes));
  } catch (const malformed_message&) {
  } catch (...) {
    fuzz::undocumented(harness, "fedopt::restore");
  }
  if (o) {
    if (!fuzz::same_bits(std::span<const std::byte>(o->to_bytes()), bytes))
      fuzz::fail(harness, "restored optimizer does not re-encode to its bytes");
    if (!fuzz::all_finite(o->first_moment()) || !fuzz::all_finite(o->second_moment()))
      fuzz::fail(harness, "restored moments are not finite");
    for (const S v : o->second_moment())
      if (v < 0) fuzz::fail(harness, "restored second moment is negative");
  }
  // load() into an existing optimizer (with a step taken, so its state is not the initial one).
  std::size_t d = 16;
  if (saved_size && bytes.size() >= 16) {
    std::uint64_t saved = 0;
    std::memcpy(&saved, bytes.data() + 8, 8);
    if (saved <= 4096) d = static_cast<std::size_t>(saved);
  }
  O target(d, fedopt_params{0.05, 0.8, 0.9, 1e-2});
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
    fuzz::undocumented(harness, "fedopt::load");
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
  const bool saved = (ctl & 8) != 0;
  switch (ctl % 6) {
  case 0:
    check<fedadam<float>>(bytes, saved);
    break;
  case 1:
    check<fedadam<float, double>>(bytes, saved);
    break;
  case 2:
    check<fedyogi<float>>(bytes, saved);
    break;
  case 3:
    check<fedyogi<float, double>>(bytes, saved);
    break;
  case 4:
    check<fedadagrad<float>>(bytes, saved);
    break;
  default:
    check<fedadagrad<float, double>>(bytes, saved);
    break;
  }
  return 0;
}
