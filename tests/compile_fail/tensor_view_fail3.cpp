// Why: a view of const elements must not become a view through which they can be written.
// FEDPP_FAIL_REGEX: tensor_view<const float
// Work-around: fedpp/tensor/memory_space.hpp uses std::convertible_to without <concepts>.
#include <concepts>

#include "fedpp/tensor/tensor_view.hpp"

#include <cstddef>

int main() {
#if FEDPP_SHOULD_FAIL
  const float x = 1.0F;
#else
  float x = 1.0F;
#endif
  fedpp::host_view<const float> c(&x, std::size_t{1});
#if FEDPP_SHOULD_FAIL
  fedpp::host_view<float> w = c;
#else
  fedpp::host_view<float> w(&x, std::size_t{1});
  fedpp::host_view<const float> from_mutable = w; // adding const is fine
  (void)from_mutable;
#endif
  return static_cast<int>(w.size() + c.size());
}
