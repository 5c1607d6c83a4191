// Fuzzes fedavg::restore (saved aggregates are input) for fedavg<float>, fedavg<float, float>
// and fedavg<double> over three layouts.
//
// Input: [ctl u8][saved bytes]. ctl % 3: the aggregate type; (ctl / 3) % 3: the layout (16
// floats, 1 element, 3 elements; f64 for fedavg<double>).
//
// Invariants: only malformed_message escapes; accepted bytes re-encode (to_bytes) to themselves;
// the restored counts are the saved ones; a reportable restored aggregate reports a finite mean,
// as every aggregate that accumulate/merge can produce does.
#include "fuzz_common.hpp"

#include "fedpp/aggregation/fedavg.hpp"

namespace {

using namespace fedpp;
constexpr const char* harness = "fedavg_restore";

model_layout layout_for(unsigned which, dtype type) {
  model_layout l;
  if (which == 0) {
    l.add("fc.weight", {3, 4}, type).add("fc.bias", {4}, type);
  } else if (which == 1) {
    l.add("x", {1}, type);
  } else {
    l.add("a", {2}, type).add("b", {1}, type);
  }
  return l;
}

template <class A>
void check(const model_layout& layout, std::span<const std::byte> bytes) {
  std::optional<A> a;
  try {
    a.emplace(A::restore(layout, bytes));
  } catch (const malformed_message&) {
    return;
  } catch (...) {
    fuzz::undocumented(harness, "fedavg::restore");
  }
  const auto again = a->to_bytes();
  if (!fuzz::same_bits(std::span<const std::byte>(again), bytes))
    fuzz::fail(harness, "restored aggregate does not re-encode to its bytes");
  std::uint64_t count = 0;
  std::memcpy(&count, bytes.data() + 9, 8);
  if (a->num_inputs() != count) fuzz::fail(harness, "restored num_inputs differs from the saved count");
  if (!std::isfinite(static_cast<double>(a->total_weight())) || a->total_weight() < 0)
    fuzz::fail(harness, "restored total weight is not finite and >= 0");
  if (!a->can_report()) return;
  using T = typename A::result_type::value_type;
  std::vector<T> mean(layout.total_size());
  try {
    a->report_into(mean);
  } catch (...) {
    fuzz::undocumented(harness, "fedavg::report_into after restore");
  }
  if (!fuzz::all_finite(std::span<const T>(mean)) && !fuzz::waived("fedavg_restore.mean"))
    fuzz::fail(harness, "a restored aggregate reports a non-finite mean (no accumulate/merge sequence produces it)");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::reader in(data, size);
  const std::uint8_t ctl = in.u8();
  const auto bytes = in.rest();
  const unsigned which = (ctl / 3) % 3;
  switch (ctl % 3) {
  case 0:
    check<fedavg<float>>(layout_for(which, dtype::f32), bytes);
    break;
  case 1:
    check<fedavg<float, float>>(layout_for(which, dtype::f32), bytes);
    break;
  default:
    check<fedavg<double>>(layout_for(which, dtype::f64), bytes);
    break;
  }
  return 0;
}
