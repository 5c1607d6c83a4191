// Why: device memory must not reach a function that reads host memory; spaces never convert.
// FEDPP_FAIL_REGEX: (could not convert|no matching function|cannot
// convert).*cuda_device_space|cuda_device_space.*(to|into).*host_space
#include "fedpp/tensor/tensor_view.hpp"
#include <concepts> // fedpp/tensor/memory_space.hpp uses std::convertible_to without it (reported)

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
