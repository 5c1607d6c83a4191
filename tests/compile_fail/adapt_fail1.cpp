// Why: a view of a temporary vector would dangle as soon as the statement ends.
// FEDPP_FAIL_REGEX: deleted function.*adapt
// Work-around: fedpp/tensor/memory_space.hpp uses std::convertible_to without <concepts>.
#include <concepts>

#include "fedpp/tensor/adapt.hpp"

#include <vector>

int main() {
#if FEDPP_SHOULD_FAIL
  auto v = fedpp::adapt(std::vector<float>{1.0F, 2.0F});
#else
  std::vector<float> storage{1.0F, 2.0F};
  auto v = fedpp::adapt(storage);
#endif
  return static_cast<int>(v.size());
}
