// Why: an Eigen expression (a sum) has no storage to view, and adapt() never evaluates into a copy.
// FEDPP_FAIL_REGEX: no storage of its own
// FEDPP_FAIL_NEEDS: eigen
#include "fedpp/tensor/eigen.hpp"

int main() {
  Eigen::VectorXf a = Eigen::VectorXf::Ones(3);
  Eigen::VectorXf b = Eigen::VectorXf::Ones(3);
#if FEDPP_SHOULD_FAIL
  auto v = fedpp::adapt(a + b);
#else
  Eigen::VectorXf sum = a + b;
  auto v = fedpp::adapt(sum);
#endif
  return static_cast<int>(v.size());
}
