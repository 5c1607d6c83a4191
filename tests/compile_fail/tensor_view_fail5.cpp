// Why: views hold only the element types of the dtype set (wire format, kernels); std::string is not one.
// FEDPP_FAIL_REGEX: element_type
// Work-around: fedpp/tensor/memory_space.hpp uses std::convertible_to without <concepts>.
#include <concepts>

#include "fedpp/tensor/tensor_view.hpp"

#include <cstdint>
#include <string>

int main() {
#if FEDPP_SHOULD_FAIL
  fedpp::tensor_view<std::string> v;
#else
  fedpp::tensor_view<std::int64_t> v;
#endif
  return static_cast<int>(v.size());
}
