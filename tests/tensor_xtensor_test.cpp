// Tests of the xtensor adapters: zero-copy adapt() of containers and adaptors in both layouts,
// refusal of gaps and temporaries, and the mapping back to xtensor.
#include "fedpp/tensor/xtensor.hpp"

#include "fedpp/aggregation/fedavg.hpp"
#include "fedpp/tensor/model_view.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <xtensor/xadapt.hpp>
#include <xtensor/xarray.hpp>
#include <xtensor/xfixed.hpp>
#include <xtensor/xtensor.hpp>
#include <xtensor/xview.hpp>

#include <array>
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

// True when `adapt` has a usable (non-deleted) overload; views and expressions hit a
// static_assert in the body instead, so they are checked in tests/compile_fail.
template <class T>
concept adaptable = requires(T&& t) {
  fedpp::adapt(std::forward<T>(t));
};

TEST(XtensorAdapt, RowMajorXarrayRoundTrip) {
  xt::xarray<float> a = {{0, 1, 2}, {3, 4, 5}};
  auto v = fedpp::adapt(a);
  static_assert(std::is_same_v<decltype(v), host_view<float>>);
  EXPECT_EQ(v.data(), a.data());
  EXPECT_EQ(v.shape(), (tensor_shape{{2, 3}, storage_order::row_major}));
  EXPECT_EQ(v[4], a(1, 1));
  v[5] = 50.0F;
  EXPECT_EQ(a(1, 2), 50.0F);
  a(0, 1) = -1.0F;
  EXPECT_EQ(v[1], -1.0F);
}

TEST(XtensorAdapt, ColumnMajorXarrayCarriesItsOrder) {
  xt::xarray<double, xt::layout_type::column_major> a = {{0, 1, 2}, {3, 4, 5}};
  auto v = fedpp::adapt(a);
  EXPECT_EQ(v.shape(), (tensor_shape{{2, 3}, storage_order::col_major}));
  EXPECT_EQ(v[1], a(1, 0)); // column-major: element 1 is row 1 of column 0
  v[2] = 7.0;               // (0, 1)
  EXPECT_EQ(a(0, 1), 7.0);
}

TEST(XtensorAdapt, FixedRankAndFixedShapeContainers) {
  xt::xtensor<std::int16_t, 3> t = xt::zeros<std::int16_t>({2, 3, 4});
  auto tv = fedpp::adapt(t);
  static_assert(std::is_same_v<decltype(tv), host_view<std::int16_t>>);
  EXPECT_EQ(tv.shape(), (tensor_shape{2, 3, 4}));
  tv[23] = 9;
  EXPECT_EQ(t(1, 2, 3), 9);

  xt::xtensor<float, 2, xt::layout_type::column_major> tc = xt::zeros<float>({3, 2});
  EXPECT_EQ(fedpp::adapt(tc).shape(), (tensor_shape{{3, 2}, storage_order::col_major}));

  xt::xtensor_fixed<float, xt::xshape<2, 2>> fx = {{1, 2}, {3, 4}};
  const auto fv = fedpp::adapt(fx);
  EXPECT_EQ(fv.shape(), (tensor_shape{2, 2}));
  EXPECT_EQ(fv[2], 3.0F);

  xt::xtensor<double, 1> vec = {1.0, 2.0, 3.0};
  EXPECT_EQ(fedpp::adapt(vec).shape(), tensor_shape{3});
}

TEST(XtensorAdapt, ExtentsOfOneKeepTheDeclaredLayout) {
  // xtensor gives extent-1 dimensions stride 0; both orders fit, the declared one wins.
  xt::xarray<float, xt::layout_type::column_major> c = xt::zeros<float>({4, 1});
  EXPECT_EQ(fedpp::adapt(c).shape(), (tensor_shape{{4, 1}, storage_order::col_major}));
  xt::xarray<float> r = xt::zeros<float>({1, 4});
  EXPECT_EQ(fedpp::adapt(r).shape(), (tensor_shape{{1, 4}, storage_order::row_major}));
  xt::xarray<float> scalar = 3.0F;
  EXPECT_EQ(fedpp::adapt(scalar).shape(), tensor_shape{});
  EXPECT_EQ(fedpp::adapt(scalar)[0], 3.0F);
  xt::xarray<float> empty = xt::zeros<float>({0, 3});
  EXPECT_TRUE(fedpp::adapt(empty).empty());
}

TEST(XtensorAdapt, DynamicLayoutDecidedByStrides) {
  xt::xarray<float, xt::layout_type::dynamic> d(std::vector<std::size_t>{2, 3},
                                                xt::layout_type::column_major);
  EXPECT_EQ(fedpp::adapt(d).shape(), (tensor_shape{{2, 3}, storage_order::col_major}));
  d.resize({2, 3}, xt::layout_type::row_major);
  EXPECT_EQ(fedpp::adapt(d).shape(), (tensor_shape{{2, 3}, storage_order::row_major}));
}

TEST(XtensorAdapt, AdaptorsOverUserMemory) {
  std::vector<float> buf{0, 1, 2, 3, 4, 5};
  auto over_vector = xt::adapt(buf, std::vector<std::size_t>{2, 3});
  auto v = fedpp::adapt(over_vector);
  EXPECT_EQ(v.data(), buf.data());
  EXPECT_EQ(v.shape(), (tensor_shape{2, 3}));
  v[4] = 40.0F;
  EXPECT_EQ(buf[4], 40.0F);

  auto col = xt::adapt<xt::layout_type::column_major>(buf.data(), buf.size(), xt::no_ownership(),
                                                      std::array<std::size_t, 2>{3, 2});
  const auto cv = fedpp::adapt(col);
  EXPECT_EQ(cv.data(), buf.data());
  EXPECT_EQ(cv.shape(), (tensor_shape{{3, 2}, storage_order::col_major}));

  const float* const_ptr = buf.data();
  auto read_only = xt::adapt(const_ptr, buf.size(), xt::no_ownership(), std::vector<std::size_t>{6});
  static_assert(std::is_same_v<decltype(fedpp::adapt(read_only)), host_view<const float>>);
  EXPECT_EQ(fedpp::adapt(read_only).size(), 6U);
}

TEST(XtensorAdapt, ConstContainersGiveConstViews) {
  const xt::xarray<double> a = {1.0, 2.0};
  auto v = fedpp::adapt(a);
  static_assert(std::is_same_v<decltype(v), host_view<const double>>);
  EXPECT_EQ(v.data(), a.data());
}

TEST(XtensorAdapt, NonContiguousStridesThrow) {
  // An adaptor over every other element of an 8-element buffer: shape (4), strides (2) (xt
  // wants the element count, not the span, as the size).
  std::vector<float> buf(8);
  auto strided = xt::adapt(buf.data(), 4, xt::no_ownership(), std::vector<std::size_t>{4},
                           std::vector<std::ptrdiff_t>{2});
  const auto msg = message_of<invalid_config>([&] { (void)fedpp::adapt(strided); });
  EXPECT_THAT(msg, HasSubstr("shape (4)"));
  EXPECT_THAT(msg, HasSubstr("strides (2)"));
  // A padded 2-D adaptor (row pitch 4 for 3 columns).
  auto padded = xt::adapt(buf.data(), 6, xt::no_ownership(), std::vector<std::size_t>{2, 3},
                          std::vector<std::ptrdiff_t>{4, 1});
  EXPECT_THAT(message_of<invalid_config>([&] { (void)fedpp::adapt(padded); }), HasSubstr("strides (4, 1)"));
  // A transposed-stride adaptor is column-major and contiguous: accepted with that order.
  auto transposed = xt::adapt(buf.data(), 6, xt::no_ownership(), std::vector<std::size_t>{2, 3},
                              std::vector<std::ptrdiff_t>{1, 2});
  EXPECT_EQ(fedpp::adapt(transposed).shape(), (tensor_shape{{2, 3}, storage_order::col_major}));
}

TEST(XtensorAdapt, TemporariesDoNotBind) {
  static_assert(adaptable<xt::xarray<float>&>);
  static_assert(adaptable<const xt::xtensor<float, 2>&>);
  static_assert(!adaptable<xt::xarray<float>>);
  static_assert(!adaptable<xt::xtensor<float, 2>>);
  static_assert(!adaptable<const xt::xarray<float>>);
  using vector_adaptor =
      decltype(xt::adapt(std::declval<std::vector<float>&>(), std::vector<std::size_t>{1}));
  static_assert(adaptable<vector_adaptor&>);
  static_assert(!adaptable<vector_adaptor>);
}

TEST(XtensorAdapt, FedAvgOverXtensorParameters) {
  xt::xarray<float> w1 = xt::ones<float>({2, 3});
  xt::xarray<float> w2 = 3.0F * xt::ones<float>({2, 3});
  fedpp::host_model_view<const float> m1;
  m1.add("w", fedpp::adapt(std::as_const(w1)));
  fedpp::host_model_view<const float> m2;
  m2.add("w", fedpp::adapt(std::as_const(w2)));
  fedpp::fedavg<float> agg(m1.layout());
  agg.accumulate({1, m1, 1.0});
  agg.accumulate({2, m2, 1.0});
  auto mean = std::move(agg).report();
  auto w = fedpp::as_xtensor<2>(mean.tensor("w"));
  EXPECT_EQ(w.shape()[0], 2U);
  EXPECT_EQ(w.shape()[1], 3U);
  for (float x : w) EXPECT_FLOAT_EQ(x, 2.0F);
}

TEST(XtensorReverse, DynamicRankAdaptorInBothOrders) {
  std::vector<float> data{0, 1, 2, 3, 4, 5};
  const auto rv = fedpp::adapt(data.data(), tensor_shape{{2, 3}, storage_order::row_major});
  auto r = fedpp::as_xtensor(rv);
  EXPECT_EQ(r.dimension(), 2U);
  EXPECT_EQ(r.shape()[0], 2U);
  EXPECT_EQ(r.shape()[1], 3U);
  EXPECT_EQ(r.data(), data.data());
  EXPECT_EQ(r(1, 0), 3.0F);
  r(0, 2) = 20.0F;
  EXPECT_EQ(data[2], 20.0F);

  const auto cv = fedpp::adapt(data.data(), tensor_shape{{2, 3}, storage_order::col_major});
  auto c = fedpp::as_xtensor(cv);
  EXPECT_EQ(c.layout(), xt::layout_type::column_major);
  EXPECT_EQ(c(1, 0), 1.0F); // column-major: (1, 0) is element 1
  EXPECT_EQ(c(0, 1), 20.0F);

  // And back again: the same view.
  const auto again = fedpp::adapt(c);
  EXPECT_EQ(again.data(), cv.data());
  EXPECT_EQ(again.shape(), cv.shape());

  const auto v3 = fedpp::adapt(data.data(), tensor_shape{1, 2, 3});
  EXPECT_EQ(fedpp::as_xtensor(v3).dimension(), 3U);
}

TEST(XtensorReverse, FixedRankAdaptorChecksTheRank) {
  std::vector<double> data(12);
  const auto v = fedpp::adapt(data.data(), tensor_shape{3, 4});
  auto t = fedpp::as_xtensor<2>(v);
  t(2, 3) = 1.0;
  EXPECT_EQ(data[11], 1.0);
  const auto msg = message_of<invalid_config>([&] { (void)fedpp::as_xtensor<3>(v); });
  EXPECT_THAT(msg, HasSubstr("as_xtensor<3>"));
  EXPECT_THAT(msg, HasSubstr("[3, 4]"));
  EXPECT_THROW((void)fedpp::as_xtensor<1>(v), invalid_config);
  EXPECT_EQ(fedpp::as_xtensor<1>(v.flattened()).size(), 12U);
}

TEST(XtensorReverse, ConstViewsGiveReadOnlyAdaptors) {
  const std::vector<float> data{1, 2, 3, 4};
  auto a = fedpp::as_xtensor(fedpp::adapt(data.data(), tensor_shape{2, 2}));
  static_assert(std::is_same_v<decltype(a.data()), const float*>);
  EXPECT_EQ(a(1, 1), 4.0F);
  EXPECT_EQ(xt::sum(a)(), 10.0F);
}

} // namespace
