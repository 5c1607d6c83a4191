// Tests of the core tensor layer: shapes, views, layouts, model views, flat models, adapt and
// the storage types.
#include "fedpp/aggregation/fedavg.hpp"
#include "fedpp/tensor/adapt.hpp"
#include "fedpp/tensor/dtype.hpp"
#include "fedpp/tensor/flat_model.hpp"
#include "fedpp/tensor/model_layout.hpp"
#include "fedpp/tensor/model_view.hpp"
#include "fedpp/tensor/tensor_shape.hpp"
#include "fedpp/tensor/tensor_view.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <utility>

#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

namespace {

using fedpp::dtype;
using fedpp::host_view;
using fedpp::invalid_config;
using fedpp::model_layout;
using fedpp::storage_order;
using fedpp::tensor_shape;
using ::testing::HasSubstr;

// Runs `f`, expects it to throw E, and returns the message for further checks.
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

// --- tensor_shape ----------------------------------------------------------------------------

TEST(TensorShape, DefaultIsAScalar) {
  constexpr tensor_shape s;
  static_assert(s.rank() == 0 && s.size() == 1);
  EXPECT_EQ(s.to_string(), "[]");
}

TEST(TensorShape, ExtentsSizeAndOrder) {
  const tensor_shape s{200, 784};
  EXPECT_EQ(s.rank(), 2U);
  EXPECT_EQ(s.extent(0), 200U);
  EXPECT_EQ(s.extent(1), 784U);
  EXPECT_EQ(s.size(), 200U * 784U);
  EXPECT_EQ(s.order(), storage_order::row_major);
  EXPECT_THAT(std::vector<std::size_t>(s.extents().begin(), s.extents().end()),
              ::testing::ElementsAre(200, 784));
  EXPECT_EQ(s.to_string(), "[200, 784]");
  EXPECT_EQ((tensor_shape{{3, 4}, storage_order::col_major}).to_string(), "[3, 4] col-major");
}

TEST(TensorShape, ZeroExtentMeansNoElements) {
  EXPECT_EQ((tensor_shape{3, 0, 5}).size(), 0U);
  EXPECT_EQ(tensor_shape::vector(0).size(), 0U);
}

TEST(TensorShape, EqualityConsidersOrderOnlyFromRankTwo) {
  EXPECT_EQ((tensor_shape{3, 4}), (tensor_shape{3, 4}));
  EXPECT_NE((tensor_shape{3, 4}), (tensor_shape{4, 3}));
  EXPECT_NE((tensor_shape{3, 4}), (tensor_shape{3, 4, 1}));
  EXPECT_NE((tensor_shape{{3, 4}, storage_order::row_major}),
            (tensor_shape{{3, 4}, storage_order::col_major}));
  // A vector's elements sit in the same place in either order.
  EXPECT_EQ((tensor_shape{{5}, storage_order::row_major}), (tensor_shape{{5}, storage_order::col_major}));
  EXPECT_EQ(tensor_shape::vector(5), tensor_shape{5});
}

TEST(TensorShape, RankAboveMaxThrowsNamingTheRank) {
  const std::vector<std::size_t> nine(9, 1);
  const auto msg =
      message_of<invalid_config>([&] { (void)tensor_shape(std::span<const std::size_t>(nine)); });
  EXPECT_THAT(msg, HasSubstr("rank 9"));
  EXPECT_THAT(msg, HasSubstr("maximum 8"));
  const std::vector<std::size_t> eight(8, 2);
  EXPECT_EQ(tensor_shape(std::span<const std::size_t>(eight)).size(), 256U);
}

// --- tensor_view -----------------------------------------------------------------------------

TEST(TensorView, DefaultIsEmptyRankOne) {
  constexpr fedpp::tensor_view<float> v;
  EXPECT_TRUE(v.empty());
  EXPECT_EQ(v.data(), nullptr);
  EXPECT_EQ(v.shape().rank(), 1U);
}

TEST(TensorView, SeesAndWritesTheUsersMemory) {
  std::array<float, 6> data{0, 1, 2, 3, 4, 5};
  host_view<float> v(data.data(), tensor_shape{2, 3});
  EXPECT_EQ(v.data(), data.data());
  EXPECT_EQ(v.size(), 6U);
  EXPECT_EQ(v.size_bytes(), 24U);
  EXPECT_EQ(v.type(), dtype::f32);
  EXPECT_EQ(v[4], 4.0F);
  v[4] = 40.0F;
  EXPECT_EQ(data[4], 40.0F);
  EXPECT_EQ(v.span().data(), data.data());
  EXPECT_EQ(v.span().size(), 6U);
}

TEST(TensorView, AddsConstButNeverRemovesItOrChangesType) {
  std::vector<double> data(4, 1.5);
  host_view<double> v(data.data(), data.size());
  host_view<const double> c = v;
  EXPECT_EQ(c.data(), data.data());
  EXPECT_EQ(c.shape(), v.shape());
  static_assert(std::is_convertible_v<host_view<double>, host_view<const double>>);
  static_assert(!std::is_convertible_v<host_view<const double>, host_view<double>>);
  static_assert(!std::is_convertible_v<host_view<float>, host_view<double>>);
  static_assert(!std::is_convertible_v<fedpp::device_view<float>, host_view<float>>);
  static_assert(!std::is_convertible_v<host_view<float>, fedpp::device_view<float>>);
  static_assert(fedpp::host_tensor_view<host_view<float>>);
  static_assert(!fedpp::host_tensor_view<fedpp::device_view<float>>);
  static_assert(fedpp::any_tensor_view<const fedpp::device_view<float>&>);
  static_assert(!fedpp::any_tensor_view<std::span<float>>);
}

TEST(TensorView, FromSpanDeducesType) {
  std::vector<std::int32_t> data{1, 2, 3};
  fedpp::tensor_view v{std::span<std::int32_t>(data)};
  static_assert(std::is_same_v<decltype(v), host_view<std::int32_t>>);
  EXPECT_EQ(v.size(), 3U);
  EXPECT_EQ(v.type(), dtype::i32);
}

TEST(TensorView, FlattenedAndSubview) {
  std::vector<float> data(12);
  std::iota(data.begin(), data.end(), 0.0F);
  host_view<float> v(data.data(), tensor_shape{{3, 4}, storage_order::col_major});
  const auto flat = v.flattened();
  EXPECT_EQ(flat.shape(), tensor_shape::vector(12));
  EXPECT_EQ(flat.data(), data.data());
  const auto sub = v.subview(5, 4);
  EXPECT_EQ(sub.shape(), tensor_shape::vector(4));
  EXPECT_EQ(sub[0], 5.0F);
  EXPECT_EQ(sub[3], 8.0F);
  sub[1] = -1.0F;
  EXPECT_EQ(data[6], -1.0F);
  EXPECT_TRUE(v.subview(12, 0).empty());
}

// --- adapt -------------------------------------------------------------------------------------

template <class T>
concept adaptable = requires(T&& t) {
  fedpp::adapt(std::forward<T>(t));
};

TEST(Adapt, PointerAndSizeOrShape) {
  std::array<std::uint8_t, 6> data{};
  const auto v = fedpp::adapt(data.data(), data.size());
  EXPECT_EQ(v.data(), data.data());
  EXPECT_EQ(v.shape(), tensor_shape{6});
  const auto m = fedpp::adapt(data.data(), tensor_shape{2, 3});
  EXPECT_EQ(m.shape(), (tensor_shape{2, 3}));
  const std::uint8_t* cp = data.data();
  static_assert(std::is_same_v<decltype(fedpp::adapt(cp, 6)), host_view<const std::uint8_t>>);
}

TEST(Adapt, VectorAndSpanAreZeroCopy) {
  std::vector<float> data{1, 2, 3};
  auto v = fedpp::adapt(data);
  static_assert(std::is_same_v<decltype(v), host_view<float>>);
  v[1] = 20.0F;
  EXPECT_EQ(data[1], 20.0F);
  const auto& cdata = data;
  static_assert(std::is_same_v<decltype(fedpp::adapt(cdata)), host_view<const float>>);
  EXPECT_EQ(fedpp::adapt(cdata).data(), data.data());
  auto s = fedpp::adapt(std::span<float, 3>(data));
  EXPECT_EQ(s.data(), data.data());
  EXPECT_EQ(s.size(), 3U);
  auto cs = fedpp::adapt(std::span<const float>(data));
  static_assert(std::is_same_v<decltype(cs), host_view<const float>>);
  static_assert(adaptable<std::vector<float>&>);
  static_assert(!adaptable<std::vector<float>>); // a temporary would dangle
  static_assert(!adaptable<std::vector<std::string>&>);
}

// --- model_layout ------------------------------------------------------------------------------

model_layout small_layout() {
  model_layout layout;
  layout.add("fc1.weight", {4, 3}).add("fc1.bias", {4}).add("fc2.weight", {2, 4});
  return layout;
}

TEST(ModelLayout, PacksTensorsBackToBack) {
  const auto layout = small_layout();
  ASSERT_EQ(layout.num_tensors(), 3U);
  EXPECT_EQ(layout[0].offset, 0U);
  EXPECT_EQ(layout[1].offset, 12U);
  EXPECT_EQ(layout[2].offset, 16U);
  EXPECT_EQ(layout.total_size(), 24U);
  EXPECT_EQ(layout.total_bytes(), 24U * 4U);
  EXPECT_TRUE(layout.is_uniform(dtype::f32));
  EXPECT_FALSE(layout.is_uniform(dtype::f64));
  EXPECT_EQ(layout.at("fc1.bias").shape, tensor_shape{4});
  EXPECT_EQ(layout.find("nope"), nullptr);
  EXPECT_THROW((void)layout[3], std::out_of_range);
}

TEST(ModelLayout, MixedDtypesCountTheirOwnBytes) {
  model_layout layout;
  layout.add("a", {3}, dtype::f64).add("b", {5}, dtype::bf16).add("c", {2}, dtype::u8);
  EXPECT_EQ(layout.total_bytes(), 3U * 8U + 5U * 2U + 2U);
  EXPECT_FALSE(layout.is_uniform(dtype::f64));
}

TEST(ModelLayout, RejectsDuplicateAndEmptyNamesUnchanged) {
  auto layout = small_layout();
  const auto before = layout;
  EXPECT_THAT(message_of<invalid_config>([&] { layout.add("fc1.bias", {7}); }),
              HasSubstr("duplicate tensor name 'fc1.bias'"));
  EXPECT_THAT(message_of<invalid_config>([&] { layout.add("", {7}); }), HasSubstr("must not be empty"));
  EXPECT_EQ(layout, before);
  EXPECT_THAT(message_of<invalid_config>([&] { (void)layout.at("fc3.weight"); }), HasSubstr("'fc3.weight'"));
}

TEST(ModelLayout, HashEqualForEqualLayouts) {
  EXPECT_EQ(small_layout(), small_layout());
  EXPECT_EQ(small_layout().hash(), small_layout().hash());
  EXPECT_EQ(model_layout{}.hash(), model_layout{}.hash());
}

TEST(ModelLayout, HashDiffersForEachKindOfDifference) {
  const auto base = small_layout();
  std::vector<model_layout> variants(6);
  variants[0].add("fc1.weight", {4, 3}).add("fc1.bias", {4}).add("fc2.weigh", {2, 4});  // name
  variants[1].add("fc1.weight", {3, 4}).add("fc1.bias", {4}).add("fc2.weight", {2, 4}); // extents
  variants[2]
      .add("fc1.weight", {{4, 3}, storage_order::col_major})
      .add("fc1.bias", {4})
      .add("fc2.weight", {2, 4});
  variants[3].add("fc1.weight", {4, 3}).add("fc1.bias", {4}, dtype::f64).add("fc2.weight", {2, 4}); // dtype
  variants[4].add("fc1.weight", {4, 3}).add("fc1.bias", {4});                                       // count
  variants[5].add("fc1.bias", {4}).add("fc1.weight", {4, 3}).add("fc2.weight", {2, 4});             // order
  for (std::size_t i = 0; i < variants.size(); ++i) {
    EXPECT_NE(variants[i], base) << i;
    EXPECT_NE(variants[i].hash(), base.hash()) << i;
    EXPECT_TRUE(model_layout::describe_difference(base, variants[i]).has_value()) << i;
  }
  // A rank-1 tensor's order is irrelevant, also to the hash.
  model_layout a;
  model_layout b;
  a.add("v", {{5}, storage_order::row_major});
  b.add("v", {{5}, storage_order::col_major});
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.hash(), b.hash());
}

TEST(ModelLayout, DescribeDifferenceNamesTheValues) {
  const auto base = small_layout();
  EXPECT_FALSE(model_layout::describe_difference(base, small_layout()).has_value());
  model_layout fewer;
  fewer.add("fc1.weight", {4, 3});
  EXPECT_EQ(model_layout::describe_difference(base, fewer), "expected 3 tensors, got 1");
  model_layout renamed;
  renamed.add("fc1.weight", {4, 3}).add("bias", {4}).add("fc2.weight", {2, 4});
  EXPECT_EQ(model_layout::describe_difference(base, renamed),
            "tensor 1: expected name 'fc1.bias', got 'bias'");
  model_layout reshaped;
  reshaped.add("fc1.weight", {{4, 3}, storage_order::col_major})
      .add("fc1.bias", {4})
      .add("fc2.weight", {2, 4});
  EXPECT_EQ(model_layout::describe_difference(base, reshaped),
            "tensor 'fc1.weight': expected shape [4, 3], got [4, 3] col-major");
  model_layout retyped;
  retyped.add("fc1.weight", {4, 3}).add("fc1.bias", {4}).add("fc2.weight", {2, 4}, dtype::f16);
  EXPECT_EQ(model_layout::describe_difference(base, retyped),
            "tensor 'fc2.weight': expected dtype f32, got f16");
}

// --- model_view --------------------------------------------------------------------------------

TEST(ModelView, NamedTensorsOverUserMemory) {
  std::vector<float> w(12, 1.0F);
  std::vector<float> b(4, 2.0F);
  fedpp::host_model_view<float> view;
  view.add("fc1.weight", fedpp::adapt(w.data(), tensor_shape{4, 3})).add("fc1.bias", fedpp::adapt(b));
  EXPECT_EQ(view.num_tensors(), 2U);
  EXPECT_EQ(view.total_size(), 16U);
  EXPECT_EQ(view.at("fc1.bias").data(), b.data());
  EXPECT_EQ(view[0].name, "fc1.weight");
  EXPECT_EQ(view.find("x"), nullptr);
  EXPECT_THAT(message_of<invalid_config>([&] { (void)view.at("x"); }), HasSubstr("'x'"));
  view.at("fc1.bias")[2] = 7.0F;
  EXPECT_EQ(b[2], 7.0F);

  model_layout expected;
  expected.add("fc1.weight", {4, 3}).add("fc1.bias", {4});
  EXPECT_EQ(view.layout(), expected);
  EXPECT_FALSE(view.describe_mismatch(expected).has_value());
  model_layout other;
  other.add("fc1.weight", {4, 3}).add("fc1.bias", {5});
  EXPECT_EQ(view.describe_mismatch(other), "tensor 'fc1.bias': expected shape [5], got [4]");
  model_layout f64;
  f64.add("fc1.weight", {4, 3}, dtype::f64).add("fc1.bias", {4}, dtype::f64);
  EXPECT_EQ(view.describe_mismatch(f64), "tensor 'fc1.weight': expected dtype f64, got f32");

  const fedpp::host_model_view<const float> cview = view;
  EXPECT_EQ(cview.num_tensors(), 2U);
  EXPECT_EQ(cview.at("fc1.weight").data(), w.data());
  static_assert(!std::is_convertible_v<fedpp::host_model_view<const float>, fedpp::host_model_view<float>>);
}

TEST(ModelView, RejectsDuplicateAndEmptyNamesUnchanged) {
  std::vector<float> b(4);
  fedpp::host_model_view<float> view;
  view.add("b", fedpp::adapt(b));
  EXPECT_THAT(message_of<invalid_config>([&] { view.add("b", fedpp::adapt(b)); }),
              HasSubstr("duplicate tensor name 'b'"));
  EXPECT_THROW(view.add("", fedpp::adapt(b)), invalid_config);
  EXPECT_EQ(view.num_tensors(), 1U);
}

// --- flat_model --------------------------------------------------------------------------------

TEST(FlatModel, ZeroedAlignedAndLaidOut) {
  const fedpp::flat_model<float> model(small_layout());
  EXPECT_EQ(model.size(), 24U);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(model.data()) % 64U, 0U);
  for (float v : model.span()) EXPECT_EQ(v, 0.0F);
  EXPECT_EQ(model.tensor("fc1.bias").data(), model.data() + 12);
  EXPECT_EQ(model.tensor("fc2.weight").shape(), (tensor_shape{2, 4}));
  EXPECT_EQ(model.flat().shape(), tensor_shape{24});
  EXPECT_EQ(model.view().layout(), small_layout());
  EXPECT_THAT(message_of<invalid_config>([&] { (void)model.tensor("nope"); }), HasSubstr("'nope'"));
  EXPECT_EQ(fedpp::flat_model<double>(model_layout{}).size(), 0U);
}

TEST(FlatModel, RejectsAnotherDtype) {
  model_layout layout;
  layout.add("w", {2}, dtype::f64);
  EXPECT_THAT(message_of<invalid_config>([&] { fedpp::flat_model<float> m(layout); }),
              HasSubstr("tensor 'w' has dtype f64"));
}

TEST(FlatModel, ViewsWriteTheBufferAndCopiesAreDeep) {
  fedpp::flat_model<float> model(small_layout());
  model.tensor("fc1.bias")[1] = 3.0F;
  EXPECT_EQ(model.span()[13], 3.0F);
  model.view().at("fc2.weight")[0] = 5.0F;
  EXPECT_EQ(model.span()[16], 5.0F);

  fedpp::flat_model<float> copy = model;
  EXPECT_EQ(copy, model);
  EXPECT_NE(copy.data(), model.data());
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(copy.data()) % 64U, 0U);
  copy.span()[0] = 9.0F;
  EXPECT_EQ(model.span()[0], 0.0F);
  EXPECT_FALSE(copy == model);

  fedpp::flat_model<float> assigned;
  assigned = model;
  EXPECT_EQ(assigned, model);
  const float* storage = assigned.data();
  fedpp::flat_model<float> moved = std::move(assigned);
  EXPECT_EQ(moved.data(), storage);
}

TEST(FlatModel, CopyOfPacksScatteredTensors) {
  std::vector<double> w{1, 2, 3, 4, 5, 6};
  std::vector<double> b{7, 8};
  fedpp::host_model_view<double> view;
  view.add("w", fedpp::adapt(w.data(), tensor_shape{{3, 2}, storage_order::col_major}))
      .add("b", fedpp::adapt(b));
  // copy_of takes a const view (no deduction through the const conversion).
  const auto model = fedpp::flat_model<double>::copy_of(fedpp::host_model_view<const double>(view));
  EXPECT_EQ(model.layout(), view.layout());
  EXPECT_THAT(std::vector<double>(model.span().begin(), model.span().end()),
              ::testing::ElementsAre(1, 2, 3, 4, 5, 6, 7, 8));
  w[0] = 100;
  EXPECT_EQ(model.span()[0], 1.0);
  EXPECT_EQ(model.tensor("w").shape().order(), storage_order::col_major);
}

TEST(FlatModel, FedAvgOverFlatModels) {
  fedpp::flat_model<float> a(small_layout());
  fedpp::flat_model<float> b(small_layout());
  for (float& v : a.span()) v = 1.0F;
  for (float& v : b.span()) v = 4.0F;
  fedpp::fedavg<float> agg(small_layout());
  agg.accumulate(fedpp::client_update<float>{1, a.view(), 1.0});
  agg.accumulate(fedpp::client_update<float>{2, b.view(), 2.0});
  const auto mean = std::move(agg).report();
  for (float v : mean.span()) EXPECT_FLOAT_EQ(v, 3.0F);
}

// --- dtype and storage types -------------------------------------------------------------------

TEST(Dtype, TagsSizesAndNames) {
  static_assert(fedpp::dtype_of<float> == dtype::f32);
  static_assert(fedpp::dtype_of<const double> == dtype::f64);
  static_assert(fedpp::dtype_of<fedpp::bfloat16> == dtype::bf16);
  static_assert(fedpp::dtype_of<std::int8_t> == dtype::i8);
  static_assert(fedpp::dtype_of<std::uint64_t> == dtype::u64);
  static_assert(!fedpp::element_type<std::string>);
  static_assert(!fedpp::element_type<long double>);
  static_assert(!fedpp::element_type<bool>);
  EXPECT_EQ(fedpp::size_of(dtype::bf16), 2U);
  EXPECT_EQ(fedpp::size_of(dtype::u64), 8U);
  EXPECT_STREQ(fedpp::to_string(dtype::i16), "i16");
  EXPECT_TRUE(fedpp::is_known(dtype::u64));
  EXPECT_FALSE(fedpp::is_known(static_cast<dtype>(0)));
  EXPECT_FALSE(fedpp::is_known(static_cast<dtype>(13)));
}

TEST(Bfloat16, RoundTripsEveryBfloat16Value) {
  // Every finite bfloat16 widens exactly and narrows back to itself.
  for (std::uint32_t bits = 0; bits <= 0xffffU; ++bits) {
    const fedpp::bfloat16 b{static_cast<std::uint16_t>(bits)};
    const float f = b.to_float();
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(fedpp::bfloat16::from_float(f).to_float())) << bits;
      continue;
    }
    ASSERT_EQ(fedpp::bfloat16::from_float(f).bits, b.bits) << bits;
  }
}

TEST(Bfloat16, RoundsToNearestEven) {
  auto bits_of = [](float f) { return fedpp::bfloat16::from_float(f).bits; };
  // 1 + 2^-8 is exactly halfway between 1 and 1 + 2^-7: ties go to the even mantissa (1.0).
  EXPECT_EQ(bits_of(1.0F + 0x1p-8F), 0x3f80U);
  // 1 + 3·2^-8 is halfway between 1 + 2^-7 (odd) and 1 + 2^-6 (even): rounds up.
  EXPECT_EQ(bits_of(1.0F + 3 * 0x1p-8F), 0x3f82U);
  // Just above the halfway point rounds up.
  EXPECT_EQ(bits_of(std::nextafter(1.0F + 0x1p-8F, 2.0F)), 0x3f81U);
  EXPECT_EQ(bits_of(-2.0F), 0xc000U);
  // The largest float rounds up to infinity; infinities and signed zero survive.
  EXPECT_EQ(bits_of(std::numeric_limits<float>::max()), 0x7f80U);
  EXPECT_EQ(bits_of(std::numeric_limits<float>::infinity()), 0x7f80U);
  EXPECT_EQ(bits_of(-0.0F), 0x8000U);
  // A NaN whose payload sits only in the low half must stay NaN, not become infinity.
  const float low_payload_nan = std::bit_cast<float>(0x7f800001U);
  EXPECT_TRUE(std::isnan(fedpp::bfloat16::from_float(low_payload_nan).to_float()));
}

TEST(Bfloat16, ErrorIsWithinHalfAnUlp) {
  // Relative error of round-to-nearest into 8 significant bits is at most 2^-8.
  float x = 1e-30F;
  while (x < 1e30F) {
    const float r = fedpp::bfloat16::from_float(x).to_float();
    EXPECT_LE(std::fabs(r - x), std::fabs(x) * 0x1p-8F) << x;
    x *= 1.37F;
  }
}

} // namespace

TEST(FlatModel, CopyOfAcceptsMutableAndConstViews) {
  fedpp::model_layout layout;
  layout.add("a", {2, 2}).add("b", {3});
  fedpp::flat_model<float> model(layout);
  for (std::size_t i = 0; i < model.size(); ++i) model.span()[i] = static_cast<float>(i) + 0.5F;
  const auto from_mutable = fedpp::flat_model<float>::copy_of(model.view());
  const auto from_const = fedpp::flat_model<float>::copy_of(std::as_const(model).view());
  EXPECT_EQ(from_mutable, model);
  EXPECT_EQ(from_const, model);
  EXPECT_NE(from_mutable.data(), model.data()); // a deep copy
}
