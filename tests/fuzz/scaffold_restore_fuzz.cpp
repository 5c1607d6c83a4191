// Fuzzes scaffold_control_store::restore (both overloads) for float and double controls.
//
// Input: [ctl u8][saved bytes]. ctl bit 0: double controls; bit 1: also restore with an
// expected model size — the saved D when bit 2 is clear, else D + 1.
//
// Invariants: only malformed_message escapes; accepted bytes re-encode (to_bytes) to
// themselves; the restored controls are finite and of D elements; the sized overload refuses
// another D and agrees with the plain one otherwise (it also accepts an empty store).
#include "fuzz_common.hpp"

#include "fedpp/aggregation/scaffold_control_store.hpp"

namespace {

using namespace fedpp;
constexpr const char* harness = "scaffold_restore";

template <class T>
void check(std::span<const std::byte> bytes, std::uint8_t ctl) {
  using store = scaffold_control_store<T>;
  std::optional<store> s;
  try {
    s.emplace(store::restore(bytes));
  } catch (const malformed_message&) {
  } catch (...) {
    fuzz::undocumented(harness, "scaffold_control_store::restore");
  }
  if (s) {
    if (!fuzz::same_bits(std::span<const std::byte>(s->to_bytes()), bytes))
      fuzz::fail(harness, "restored store does not re-encode to its bytes");
    for (const auto id : std::vector<client_id>{0, 1, 2, 7, 1000}) {
      const auto c = s->get(id);
      if (c.size() != s->model_size() || !fuzz::all_finite(std::span<const T>(c)))
        fuzz::fail(harness, "a restored control is not finite or not of D elements");
    }
  }
  if (!(ctl & 2) || bytes.size() < 16) return;
  std::uint64_t d = 0;
  std::memcpy(&d, bytes.data() + 8, 8);
  if (ctl & 4) ++d;
  if (d > (std::uint64_t{1} << 40)) return;
  std::optional<store> sized;
  try {
    sized.emplace(store::restore(bytes, static_cast<std::size_t>(d)));
  } catch (const malformed_message&) {
  } catch (...) {
    fuzz::undocumented(harness, "scaffold_control_store::restore(bytes, D)");
  }
  if (sized && (ctl & 4)) fuzz::fail(harness, "restore(bytes, D) accepted another D");
  if (s && !(ctl & 4) && !sized) fuzz::fail(harness, "restore(bytes, D) refused what restore(bytes) accepted");
  if (sized && !fuzz::same_bits(std::span<const std::byte>(sized->to_bytes()), bytes))
    fuzz::fail(harness, "a store restored with its size does not re-encode to its bytes");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::reader in(data, size);
  const std::uint8_t ctl = in.u8();
  const auto bytes = in.rest();
  if (ctl & 1)
    check<double>(bytes, ctl);
  else
    check<float>(bytes, ctl);
  return 0;
}
