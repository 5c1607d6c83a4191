// Why: a view never converts elements: float and double have different sizes and bits.
// FEDPP_FAIL_REGEX: tensor_view<float.*tensor_view<double|tensor_view<double.*tensor_view<float
// Work-around: fedpp/tensor/memory_space.hpp uses std::convertible_to without <concepts>.
#include <concepts>

#include "fedpp/tensor/tensor_view.hpp"

#include <cstddef>

int main() {
  float x = 1.0F;
  fedpp::host_view<float> f(&x, std::size_t{1});
#if FEDPP_SHOULD_FAIL
  fedpp::host_view<double> d = f;
#else
  fedpp::host_view<float> d = f;
#endif
  return static_cast<int>(d.size());
}
