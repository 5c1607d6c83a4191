// Why: a compile-time inner stride of 2 leaves gaps between elements; a view never copies.
// FEDPP_FAIL_REGEX: compile-time inner stride
// FEDPP_FAIL_NEEDS: eigen
#include "fedpp/tensor/eigen.hpp"

int main() {
  float data[8] = {};
#if FEDPP_SHOULD_FAIL
  Eigen::Map<Eigen::Vector4f, Eigen::Unaligned, Eigen::InnerStride<2>> map(data);
#else
  Eigen::Map<Eigen::Vector4f, Eigen::Unaligned, Eigen::InnerStride<1>> map(data);
#endif
  auto v = fedpp::adapt(map);
  return static_cast<int>(v.size());
}
