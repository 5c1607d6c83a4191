/// \file xtensor.hpp
/// Opt-in zero-copy adapters between xtensor containers and fedpp tensor views (CMake target
/// fedpp::xtensor). The core never includes xtensor; include this header to use both.
///
/// `fedpp::adapt(x)` views the storage of an xt::xarray, xt::xtensor<T, N>, xt::xtensor_fixed or
/// an adaptor made by xt::adapt(...) without copying; the view has the container's shape and
/// its storage order (row- or column-major). Expressions and views (xt::view, xt::transpose,
/// strided views, broadcasts) do not compile: they are not one contiguous block in general, and
/// a view never copies; evaluate them into a container first (`xt::xarray<T> copy = expr;`).
/// A container with non-contiguous strides throws fedpp::invalid_config. Temporaries do not bind
/// (an adaptor may own its buffer, a container always does).
///
/// The reverse, `as_xtensor(view)` (any rank) and `as_xtensor<N>(view)` (rank N), wrap a host
/// view as a non-owning xt adaptor with the view's shape and storage order.
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/tensor/adapt.hpp"
#include "fedpp/tensor/tensor_shape.hpp"
#include "fedpp/tensor/tensor_view.hpp"

#include <xtensor/xadapt.hpp>
#include <xtensor/xcontainer.hpp>
#include <xtensor/xlayout.hpp>

#include <array>
#include <cstddef>
#include <string>
#include <type_traits>
#include <vector>

namespace fedpp {

namespace detail {

/// An xtensor container or adaptor: one contiguous block described by shape and strides.
template <class E>
concept xtensor_container = std::is_base_of_v<xt::xcontainer<std::remove_cv_t<E>>, std::remove_cv_t<E>>;

/// Any xtensor expression (containers, views, functions of expressions, ...).
template <class E>
concept xtensor_expression = xt::is_xexpression<std::remove_cv_t<E>>::value;

/// True when `strides` are those of a dense array of `shape` in `order`; a dimension of extent
/// ≤ 1 imposes nothing (xtensor gives it stride 0).
template <class Shape, class Strides>
[[nodiscard]] bool xtensor_dense_strides(const Shape& shape, const Strides& strides, storage_order order) {
  const std::size_t rank = shape.size();
  std::size_t expected = 1;
  for (std::size_t k = 0; k < rank; ++k) {
    const std::size_t i = order == storage_order::row_major ? rank - 1 - k : k;
    const auto extent = static_cast<std::size_t>(shape[i]);
    if (extent > 1 && static_cast<std::ptrdiff_t>(strides[i]) != static_cast<std::ptrdiff_t>(expected))
      return false;
    expected *= extent;
  }
  return true;
}

template <class Sequence>
[[nodiscard]] std::string xtensor_sequence_string(const Sequence& values) {
  std::string s = "(";
  bool first = true;
  for (auto v : values) {
    if (!first) s += ", ";
    s += std::to_string(v);
    first = false;
  }
  return s + ")";
}

template <class E>
[[nodiscard]] auto adapt_xtensor(E& object) {
  using element = std::remove_pointer_t<decltype(object.data())>;
  static_assert(element_type<element>, "fedpp::adapt: the xtensor value type is not a fedpp element type "
                                       "(float, double, fedpp::float16/bfloat16, 8-64 bit integers)");
  const auto& shape = object.shape();
  const auto& strides = object.strides();
  const std::size_t size = object.size();
  // The declared layout decides when both orders fit (extents of 1), the strides otherwise.
  storage_order preferred = storage_order::row_major;
  if constexpr (requires { object.layout(); }) {
    if (object.layout() == xt::layout_type::column_major) preferred = storage_order::col_major;
  } else if constexpr (std::remove_cv_t<E>::static_layout == xt::layout_type::column_major) {
    preferred = storage_order::col_major;
  }
  const storage_order other =
      preferred == storage_order::row_major ? storage_order::col_major : storage_order::row_major;
  storage_order order = preferred;
  if (size > 1 && !xtensor_dense_strides(shape, strides, preferred)) {
    if (!xtensor_dense_strides(shape, strides, other))
      throw invalid_config("fedpp::adapt: xtensor container of shape " + xtensor_sequence_string(shape) +
                           " has strides " + xtensor_sequence_string(strides) +
                           ", neither row- nor column-major contiguous; copy it into a new container first");
    order = other;
  }
  std::array<std::size_t, tensor_shape::max_rank> extents{};
  if (shape.size() > tensor_shape::max_rank)
    throw invalid_config("fedpp::adapt: xtensor container of rank " + std::to_string(shape.size()) +
                         " exceeds the maximum tensor rank " + std::to_string(tensor_shape::max_rank));
  for (std::size_t i = 0; i < shape.size(); ++i) extents[i] = static_cast<std::size_t>(shape[i]);
  return host_view<element>(object.data(),
                            tensor_shape(std::span<const std::size_t>(extents.data(), shape.size()), order));
}

template <element_type T>
[[nodiscard]] xt::layout_type xtensor_layout(const host_view<T>& view) noexcept {
  return view.shape().order() == storage_order::col_major ? xt::layout_type::column_major
                                                          : xt::layout_type::row_major;
}

} // namespace detail

/// Zero-copy view of an xtensor container's or adaptor's storage (lvalues only; const ones
/// give `host_view<const T>`). Throws invalid_config when its strides are not contiguous.
template <class E>
requires detail::xtensor_container<E>
[[nodiscard]] auto adapt(E& object) { return detail::adapt_xtensor(object); }

/// Views of temporaries would dangle (containers own their buffer, adaptors may).
template <class E>
requires detail::xtensor_container<std::remove_reference_t<E>> &&
    (!std::is_lvalue_reference_v<E>)void adapt(E&& object) = delete;

/// xtensor expressions that are not containers (xt::view, xt::transpose, strided views,
/// arithmetic) are refused with a message rather than copied.
template <class E>
requires detail::xtensor_expression<std::remove_reference_t<E>> &&
    (!detail::xtensor_container<std::remove_reference_t<E>>)void adapt(E&& expression) {
  static_assert(
      detail::xtensor_container<std::remove_reference_t<E>>,
      "fedpp::adapt: only xtensor containers and adaptors (xt::xarray, xt::xtensor, xt::adapt(...)) "
      "are contiguous; this is a view or expression (xt::view, xt::transpose, strided view, "
      "arithmetic): evaluate it into a container first, e.g. xt::xarray<T> copy = expr;");
  (void)expression;
}

/// A host view as a non-owning xt::xarray_adaptor with the view's shape and storage order (the
/// adaptor's layout is dynamic so that both orders fit one type).
template <element_type T>
[[nodiscard]] auto as_xtensor(host_view<T> view) {
  const auto extents = view.shape().extents();
  std::vector<std::size_t> shape(extents.begin(), extents.end());
  return xt::adapt<xt::layout_type::dynamic>(view.data(), view.size(), xt::no_ownership(), shape,
                                             detail::xtensor_layout(view));
}

/// A rank-N host view as a non-owning xt::xtensor_adaptor<..., N>; throws invalid_config when
/// the view's rank is not N.
template <std::size_t N, element_type T>
[[nodiscard]] auto as_xtensor(host_view<T> view) {
  if (view.shape().rank() != N)
    throw invalid_config("fedpp::as_xtensor<" + std::to_string(N) + ">: the view has shape " +
                         view.shape().to_string() + " (rank " + std::to_string(view.shape().rank()) + ")");
  std::array<std::size_t, N> shape{};
  for (std::size_t i = 0; i < N; ++i) shape[i] = view.shape().extent(i);
  return xt::adapt<xt::layout_type::dynamic>(view.data(), view.size(), xt::no_ownership(), shape,
                                             detail::xtensor_layout(view));
}

} // namespace fedpp
