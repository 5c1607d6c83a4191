// Tests of the Eigen adapters: zero-copy adapt() of every dense kind in both storage orders,
// refusal of gaps and owning temporaries, and the mapping back to Eigen.
#include "fedpp/tensor/eigen.hpp"

#include "fedpp/aggregation/fedavg.hpp"
#include "fedpp/tensor/model_view.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <Eigen/Core>

#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

namespace {

using fedpp::host_view;
using fedpp::invalid_config;
using fedpp::storage_order;
using fedpp::tensor_shape;
using ::testing::HasSubstr;

template <class E, class F>
std::string message_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected an exception";
  return {};
}

template <class T>
concept adaptable = requires(T&& t) {
  fedpp::adapt(std::forward<T>(t));
};

using row_matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// Fills with 0, 1, 2, ... in (row, col) order, whatever the storage order.
template <class M>
void fill_by_index(M& m) {
  for (Eigen::Index i = 0; i < m.rows(); ++i)
    for (Eigen::Index j = 0; j < m.cols(); ++j) m(i, j) = static_cast<typename M::Scalar>(i * m.cols() + j);
}

TEST(EigenAdapt, ColumnMajorMatrixRoundTrip) {
  Eigen::MatrixXf m(3, 4);
  fill_by_index(m);
  auto v = fedpp::adapt(m);
  static_assert(std::is_same_v<decltype(v), host_view<float>>);
  EXPECT_EQ(v.data(), m.data());
  EXPECT_EQ(v.shape(), (tensor_shape{{3, 4}, storage_order::col_major}));
  EXPECT_EQ(v[1], m(1, 0)); // column-major: the second element is row 1 of column 0
  v[3] = -7.0F;             // element 3 = (0, 1)
  EXPECT_EQ(m(0, 1), -7.0F);
  m(2, 3) = 99.0F;
  EXPECT_EQ(v[11], 99.0F);
}

TEST(EigenAdapt, RowMajorMatrixCarriesItsOrder) {
  row_matrix m(3, 4);
  fill_by_index(m);
  auto v = fedpp::adapt(m);
  EXPECT_EQ(v.shape(), (tensor_shape{{3, 4}, storage_order::row_major}));
  EXPECT_EQ(v[1], m(0, 1));
  v[4] = 42.0F; // (1, 0)
  EXPECT_EQ(m(1, 0), 42.0F);
}

TEST(EigenAdapt, FixedSizeMatricesAndArrays) {
  Eigen::Matrix<double, 2, 3, Eigen::RowMajor> f;
  fill_by_index(f);
  auto fv = fedpp::adapt(f);
  static_assert(std::is_same_v<decltype(fv), host_view<double>>);
  EXPECT_EQ(fv.shape(), (tensor_shape{{2, 3}, storage_order::row_major}));
  EXPECT_EQ(fv[5], 5.0);

  Eigen::Array<std::int32_t, Eigen::Dynamic, Eigen::Dynamic> a(2, 2);
  a << 1, 2, 3, 4;
  auto av = fedpp::adapt(a);
  static_assert(std::is_same_v<decltype(av), host_view<std::int32_t>>);
  EXPECT_EQ(av.shape(), (tensor_shape{{2, 2}, storage_order::col_major}));
  EXPECT_EQ(av[1], 3);

  Eigen::Array4f a4 = Eigen::Array4f::Constant(2.0F);
  EXPECT_EQ(fedpp::adapt(a4).shape(), tensor_shape{4});
}

TEST(EigenAdapt, VectorsAreRankOne) {
  Eigen::VectorXd col = Eigen::VectorXd::LinSpaced(5, 0.0, 4.0);
  Eigen::RowVectorXf row = Eigen::RowVectorXf::Ones(3);
  Eigen::Vector3f fixed(1, 2, 3);
  EXPECT_EQ(fedpp::adapt(col).shape(), tensor_shape{5});
  EXPECT_EQ(fedpp::adapt(row).shape(), tensor_shape{3});
  EXPECT_EQ(fedpp::adapt(fixed).shape(), tensor_shape{3});
  fedpp::adapt(row)[2] = 8.0F;
  EXPECT_EQ(row(2), 8.0F);
  // A dynamic matrix with one row stays a matrix.
  Eigen::MatrixXf one_row(1, 5);
  EXPECT_EQ(fedpp::adapt(one_row).shape(), (tensor_shape{{1, 5}, storage_order::col_major}));
  Eigen::VectorXf empty;
  EXPECT_TRUE(fedpp::adapt(empty).empty());
}

TEST(EigenAdapt, ConstObjectsGiveConstViews) {
  Eigen::MatrixXf m = Eigen::MatrixXf::Ones(2, 2);
  const Eigen::MatrixXf& cm = m;
  auto v = fedpp::adapt(cm);
  static_assert(std::is_same_v<decltype(v), host_view<const float>>);
  EXPECT_EQ(v.data(), m.data());
  const float data[] = {1, 2, 3, 4};
  Eigen::Map<const Eigen::Vector4f> cmap(data);
  static_assert(std::is_same_v<decltype(fedpp::adapt(cmap)), host_view<const float>>);
  EXPECT_EQ(fedpp::adapt(cmap).data(), data);
  static_assert(std::is_same_v<decltype(fedpp::adapt(cm.col(1))), host_view<const float>>);
}

TEST(EigenAdapt, MapsWithDefaultAndExplicitStrides) {
  std::vector<float> storage(12);
  Eigen::Map<row_matrix> map(storage.data(), 3, 4);
  auto v = fedpp::adapt(map);
  EXPECT_EQ(v.data(), storage.data());
  EXPECT_EQ(v.shape(), (tensor_shape{{3, 4}, storage_order::row_major}));
  map(1, 2) = 5.0F;
  EXPECT_EQ(v[6], 5.0F);

  // An outer stride equal to the inner size is still contiguous.
  Eigen::Map<Eigen::MatrixXf, Eigen::Unaligned, Eigen::OuterStride<>> exact(storage.data(), 3, 4,
                                                                            Eigen::OuterStride<>(3));
  EXPECT_EQ(fedpp::adapt(exact).shape(), (tensor_shape{{3, 4}, storage_order::col_major}));
  // Also for a map temporary (it owns nothing).
  EXPECT_EQ(fedpp::adapt(Eigen::Map<Eigen::VectorXf>(storage.data(), 12)).data(), storage.data());

  // A padded outer stride leaves gaps.
  Eigen::Map<Eigen::MatrixXf, Eigen::Unaligned, Eigen::OuterStride<>> padded(storage.data(), 2, 4,
                                                                             Eigen::OuterStride<>(3));
  const auto msg = message_of<invalid_config>([&] { (void)fedpp::adapt(padded); });
  EXPECT_THAT(msg, HasSubstr("2x4"));
  EXPECT_THAT(msg, HasSubstr("outer stride 3"));
  EXPECT_THAT(msg, HasSubstr("not contiguous"));
  // A run-time inner stride != 1 too.
  Eigen::Map<Eigen::VectorXf, Eigen::Unaligned, Eigen::InnerStride<>> every_other(storage.data(), 6,
                                                                                  Eigen::InnerStride<>(2));
  EXPECT_THAT(message_of<invalid_config>([&] { (void)fedpp::adapt(every_other); }),
              HasSubstr("inner stride 2"));
  // One element has no gaps whatever its stride.
  Eigen::Map<Eigen::VectorXf, Eigen::Unaligned, Eigen::InnerStride<>> single(storage.data(), 1,
                                                                             Eigen::InnerStride<>(2));
  EXPECT_EQ(fedpp::adapt(single).size(), 1U);
}

TEST(EigenAdapt, RefsOfBothKinds) {
  Eigen::MatrixXd m = Eigen::MatrixXd::Zero(3, 2);
  Eigen::Ref<Eigen::MatrixXd> ref(m);
  auto v = fedpp::adapt(ref);
  static_assert(std::is_same_v<decltype(v), host_view<double>>);
  v[5] = 1.5;
  EXPECT_EQ(m(2, 1), 1.5);
  Eigen::Ref<const Eigen::MatrixXd> cref(m);
  auto cv = fedpp::adapt(cref);
  static_assert(std::is_same_v<decltype(cv), host_view<const double>>);
  EXPECT_EQ(cv.data(), m.data());
  // A Ref with an outer stride over a block with gaps is refused at run time.
  Eigen::Ref<Eigen::MatrixXd, 0, Eigen::OuterStride<>> block_ref = m.topRows(2);
  EXPECT_THROW((void)fedpp::adapt(block_ref), invalid_config);
}

TEST(EigenAdapt, ContiguousBlocksOnly) {
  Eigen::MatrixXf m(4, 5);
  fill_by_index(m);
  // Whole columns of a column-major matrix are contiguous.
  auto col = fedpp::adapt(m.col(2));
  EXPECT_EQ(col.data(), &m(0, 2));
  EXPECT_EQ(col.shape(), tensor_shape{4});
  col[1] = -1.0F;
  EXPECT_EQ(m(1, 2), -1.0F);
  auto cols = fedpp::adapt(m.middleCols(1, 3));
  EXPECT_EQ(cols.shape(), (tensor_shape{{4, 3}, storage_order::col_major}));
  EXPECT_EQ(cols.data(), &m(0, 1));
  // ...a row or a partial block is not.
  EXPECT_THAT(message_of<invalid_config>([&] { (void)fedpp::adapt(m.row(1)); }), HasSubstr("inner stride 4"));
  EXPECT_THAT(message_of<invalid_config>([&] { (void)fedpp::adapt(m.block(0, 0, 2, 2)); }),
              HasSubstr("not contiguous"));
  // Row-major: rows are contiguous, columns are not.
  row_matrix r(3, 4);
  fill_by_index(r);
  EXPECT_EQ(fedpp::adapt(r.row(1)).data(), &r(1, 0));
  EXPECT_EQ(fedpp::adapt(r.middleRows(1, 2)).shape(), (tensor_shape{{2, 4}, storage_order::row_major}));
  EXPECT_THROW((void)fedpp::adapt(r.col(0)), invalid_config);
  // Head and segment of a vector.
  Eigen::VectorXf vec = Eigen::VectorXf::LinSpaced(6, 0.0F, 5.0F);
  const auto seg = fedpp::adapt(vec.segment(2, 3));
  EXPECT_EQ(seg.data(), vec.data() + 2);
  EXPECT_EQ(seg[0], 2.0F);
}

TEST(EigenAdapt, OwningTemporariesDoNotBind) {
  static_assert(adaptable<Eigen::MatrixXf&>);
  static_assert(adaptable<const Eigen::MatrixXf&>);
  static_assert(!adaptable<Eigen::MatrixXf>);
  static_assert(!adaptable<const Eigen::MatrixXf>);
  static_assert(!adaptable<Eigen::ArrayXd>);
  static_assert(!adaptable<Eigen::Vector3f>);
  static_assert(!adaptable<Eigen::Ref<const Eigen::MatrixXf>>); // may hold a private copy
  static_assert(adaptable<Eigen::Ref<Eigen::MatrixXf>>);
  static_assert(adaptable<Eigen::Map<Eigen::VectorXf>>);
  static_assert(adaptable<Eigen::Block<Eigen::MatrixXf>>);
}

TEST(EigenAdapt, FedAvgOverEigenParameters) {
  // Two clients whose parameters live in Eigen objects, averaged without copying them in.
  Eigen::MatrixXf w1 = Eigen::MatrixXf::Constant(2, 3, 1.0F);
  Eigen::VectorXf b1 = Eigen::VectorXf::Constant(2, 2.0F);
  Eigen::MatrixXf w2 = Eigen::MatrixXf::Constant(2, 3, 4.0F);
  Eigen::VectorXf b2 = Eigen::VectorXf::Constant(2, 8.0F);
  fedpp::host_model_view<const float> m1;
  m1.add("w", fedpp::adapt(std::as_const(w1))).add("b", fedpp::adapt(std::as_const(b1)));
  fedpp::host_model_view<const float> m2;
  m2.add("w", fedpp::adapt(std::as_const(w2))).add("b", fedpp::adapt(std::as_const(b2)));
  fedpp::fedavg<float> agg(m1.layout());
  agg.accumulate({1, m1, 1.0});
  agg.accumulate({2, m2, 3.0});
  auto mean = std::move(agg).report();
  auto w = fedpp::as_eigen_matrix<Eigen::ColMajor>(mean.tensor("w"));
  EXPECT_TRUE(w.isApproxToConstant(3.25F));
  EXPECT_TRUE(fedpp::as_eigen_vector(mean.tensor("b")).isApproxToConstant(6.5F));
}

TEST(EigenReverse, VectorMap) {
  std::vector<double> data{1, 2, 3};
  auto map = fedpp::as_eigen_vector(fedpp::adapt(data));
  static_assert(std::is_same_v<decltype(map), Eigen::Map<Eigen::VectorXd>>);
  EXPECT_EQ(map.size(), 3);
  EXPECT_EQ(map.data(), data.data());
  map(1) = 20.0;
  EXPECT_EQ(data[1], 20.0);
  const auto& cdata = data;
  auto cmap = fedpp::as_eigen_vector(fedpp::adapt(cdata));
  static_assert(std::is_same_v<decltype(cmap), Eigen::Map<const Eigen::VectorXd>>);
  EXPECT_EQ(cmap.sum(), 24.0);
  std::vector<double> grid(6);
  const auto msg = message_of<invalid_config>([&] {
    (void)fedpp::as_eigen_vector(fedpp::adapt(grid.data(), tensor_shape{2, 3}));
  });
  EXPECT_THAT(msg, HasSubstr("rank-1"));
  EXPECT_THAT(msg, HasSubstr("[2, 3]"));
  EXPECT_EQ(fedpp::as_eigen_vector(fedpp::adapt(grid.data(), tensor_shape{2, 3}).flattened()).size(), 6);
}

TEST(EigenReverse, MatrixMapsInBothOrders) {
  Eigen::MatrixXf cm(3, 4);
  fill_by_index(cm);
  row_matrix rm(3, 4);
  fill_by_index(rm);
  const auto cv = fedpp::adapt(cm);
  const auto rv = fedpp::adapt(rm);

  // The order-agnostic map sees the same logical matrix, either way.
  auto back_c = fedpp::as_eigen_matrix(cv);
  auto back_r = fedpp::as_eigen_matrix(rv);
  EXPECT_EQ(back_c.rows(), 3);
  EXPECT_EQ(back_c.cols(), 4);
  EXPECT_EQ(back_r.rows(), 3);
  EXPECT_EQ(back_r.cols(), 4);
  EXPECT_TRUE(back_c == cm);
  EXPECT_TRUE(back_r == rm.cast<float>());
  back_r(2, 1) = -5.0F;
  EXPECT_EQ(rm(2, 1), -5.0F);
  back_c(2, 1) = -6.0F;
  EXPECT_EQ(cm(2, 1), -6.0F);

  // The explicit-order map is contiguous, and checks the order.
  auto exact_r = fedpp::as_eigen_matrix<Eigen::RowMajor>(rv);
  static_assert(std::is_same_v<decltype(exact_r), Eigen::Map<row_matrix>>);
  EXPECT_EQ(exact_r.data(), rm.data());
  EXPECT_TRUE(exact_r == rm);
  auto exact_c = fedpp::as_eigen_matrix<Eigen::ColMajor>(cv);
  EXPECT_TRUE(exact_c == cm);
  EXPECT_THAT(message_of<invalid_config>([&] { (void)fedpp::as_eigen_matrix<Eigen::ColMajor>(rv); }),
              HasSubstr("row-major, asked for col-major"));
  EXPECT_THAT(message_of<invalid_config>([&] { (void)fedpp::as_eigen_matrix<Eigen::RowMajor>(cv); }),
              HasSubstr("col-major, asked for row-major"));

  // Const views map as const.
  const host_view<const float> ccv = cv;
  auto const_map = fedpp::as_eigen_matrix(ccv);
  static_assert(!std::is_assignable_v<decltype(const_map(0, 0)), float>);
  EXPECT_EQ(const_map(1, 2), cm(1, 2));
}

TEST(EigenReverse, WrongRankThrows) {
  std::vector<float> data(24);
  for (const auto& shape : {tensor_shape{24}, tensor_shape{2, 3, 4}, tensor_shape{}}) {
    const auto v = fedpp::adapt(data.data(), shape);
    EXPECT_THAT(message_of<invalid_config>([&] { (void)fedpp::as_eigen_matrix(v); }), HasSubstr("rank-2"));
    EXPECT_THROW((void)fedpp::as_eigen_matrix<Eigen::RowMajor>(v), invalid_config);
  }
}

TEST(EigenReverse, AdaptOfTheMapIsTheSameView) {
  std::vector<float> data(6);
  const auto v = fedpp::adapt(data.data(), tensor_shape{{2, 3}, storage_order::col_major});
  auto map = fedpp::as_eigen_matrix<Eigen::ColMajor>(v);
  const auto again = fedpp::adapt(map);
  EXPECT_EQ(again.data(), v.data());
  EXPECT_EQ(again.shape(), v.shape());
}

} // namespace
