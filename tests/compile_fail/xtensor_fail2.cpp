// Why: a transpose is a strided view of another container; adapt() takes containers only.
// FEDPP_FAIL_REGEX: only xtensor containers and adaptors
// FEDPP_FAIL_NEEDS: xtensor
#include "fedpp/tensor/xtensor.hpp"

#include <xtensor/xarray.hpp>
#include <xtensor/xmanipulation.hpp>

int main() {
  xt::xarray<float> a = {{1.0F, 2.0F}, {3.0F, 4.0F}};
#if FEDPP_SHOULD_FAIL
  auto t = xt::transpose(a);
#else
  xt::xarray<float> t = xt::transpose(a);
#endif
  auto v = fedpp::adapt(t);
  return static_cast<int>(v.size());
}
