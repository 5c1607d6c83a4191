// Why: a view of a temporary Eigen matrix would dangle as soon as the statement ends.
// FEDPP_FAIL_REGEX: deleted function.*adapt
// FEDPP_FAIL_NEEDS: eigen
#include "fedpp/tensor/eigen.hpp"

int main() {
#if FEDPP_SHOULD_FAIL
  auto v = fedpp::adapt(Eigen::MatrixXf::Zero(2, 2).eval());
#else
  Eigen::MatrixXf m = Eigen::MatrixXf::Zero(2, 2);
  auto v = fedpp::adapt(m);
#endif
  return static_cast<int>(v.size());
}
