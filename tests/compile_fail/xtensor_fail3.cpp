// Why: a view of a temporary xtensor container would dangle as soon as the statement ends.
// FEDPP_FAIL_REGEX: deleted function.*adapt
// FEDPP_FAIL_NEEDS: xtensor
#include "fedpp/tensor/xtensor.hpp"

#include <xtensor/xarray.hpp>

int main() {
#if FEDPP_SHOULD_FAIL
  auto v = fedpp::adapt(xt::xarray<float>{1.0F, 2.0F});
#else
  xt::xarray<float> a{1.0F, 2.0F};
  auto v = fedpp::adapt(a);
#endif
  return static_cast<int>(v.size());
}
