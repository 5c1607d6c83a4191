// Why: device memory must not reach a function that reads host memory; spaces never convert.
// FEDPP_FAIL_REGEX: (could not convert|no matching function|cannot convert)
// FEDPP_FAIL_REGEX: cuda_device_space
// Work-around: fedpp/tensor/memory_space.hpp uses std::convertible_to without <concepts>.
#include <concepts>

#include "fedpp/tensor/tensor_view.hpp"

#include <cstddef>

float first(fedpp::host_view<const float> v) { return v.empty() ? 0.0F : v[0]; }

int main() {
  float x = 1.0F;
#if FEDPP_SHOULD_FAIL
  fedpp::device_view<float> v(&x, std::size_t{1});
#else
  fedpp::host_view<float> v(&x, std::size_t{1});
#endif
  return static_cast<int>(first(v));
}
