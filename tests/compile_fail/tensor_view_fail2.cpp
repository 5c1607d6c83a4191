// Why: the CPU may not dereference a device view, so it has no span().
// FEDPP_FAIL_REGEX: host_accessible
// Work-around: fedpp/tensor/memory_space.hpp uses std::convertible_to without <concepts>.
#include <concepts>

#include "fedpp/tensor/tensor_view.hpp"

#include <cstddef>

int main() {
  float x = 1.0F;
#if FEDPP_SHOULD_FAIL
  fedpp::device_view<float> v(&x, std::size_t{1});
#else
  fedpp::host_view<float> v(&x, std::size_t{1});
#endif
  return static_cast<int>(v.span().size());
}
