// Why: a stepped xt::view is not one contiguous block, and adapt() never copies.
// FEDPP_FAIL_REGEX: only xtensor containers and adaptors
// FEDPP_FAIL_NEEDS: xtensor
#include "fedpp/tensor/xtensor.hpp"

#include <xtensor/xarray.hpp>
#include <xtensor/xview.hpp>

int main() {
  xt::xarray<float> a = {1.0F, 2.0F, 3.0F, 4.0F};
#if FEDPP_SHOULD_FAIL
  auto every_other = xt::view(a, xt::range(0, 4, 2));
  auto v = fedpp::adapt(every_other);
#else
  xt::xarray<float> every_other = xt::view(a, xt::range(0, 4, 2));
  auto v = fedpp::adapt(every_other);
#endif
  return static_cast<int>(v.size());
}
