/// \file eigen.hpp
/// Opt-in zero-copy adapters between Eigen dense objects and fedpp tensor views (CMake target
/// fedpp::eigen). The core never includes Eigen; include this header to use both.
///
/// `fedpp::adapt(x)` views the storage of a Matrix, Array, Map, Ref or contiguous Block without
/// copying. Vectors (compile-time one row or one column) become rank 1; everything else becomes
/// rank 2 with extents {rows, cols} and the object's storage order. Const objects (and maps of
/// const data) give `host_view<const T>`. Storage with gaps (inner stride ≠ 1, or an outer stride
/// ≠ the inner size) is refused, never silently copied: at compile time when the stride is known
/// then, otherwise with fedpp::invalid_config. Owning temporaries (a Matrix or Array rvalue, a
/// `Ref<const ...>` rvalue that may hold a copy) do not bind: the view would dangle.
///
/// The reverse, `as_eigen_vector(view)` and `as_eigen_matrix(view)`, maps a host view as an
/// Eigen::Map, again without copying.
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/tensor/adapt.hpp"
#include "fedpp/tensor/tensor_shape.hpp"
#include "fedpp/tensor/tensor_view.hpp"

#include <Eigen/Core>

#include <cstddef>
#include <string>
#include <type_traits>

namespace fedpp {

namespace detail {

/// True for `Eigen::Ref<const X, ...>`, which holds a private copy when bound to storage it
/// cannot reference.
template <class E>
struct is_eigen_const_ref : std::false_type {};
template <class P, int Options, class Stride>
struct is_eigen_const_ref<Eigen::Ref<const P, Options, Stride>> : std::true_type {};

/// Any Eigen dense object or expression (Matrix, Array, Map, Ref, Block, sums, products, ...).
/// (Matched by overload resolution, not by is_base_of: a VectorBlock's DenseBase is its Block's.)
template <class Derived>
void eigen_dense_probe(const Eigen::DenseBase<Derived>&);
template <class E>
concept eigen_dense = requires(const E& object) {
  detail::eigen_dense_probe(object);
};

/// An Eigen object whose destruction may free the viewed storage: Matrix, Array, Ref<const X>.
template <class E>
concept eigen_owning = eigen_dense<E> &&
    (std::is_base_of_v<Eigen::PlainObjectBase<std::remove_cv_t<E>>, std::remove_cv_t<E>> ||
     is_eigen_const_ref<std::remove_cv_t<E>>::value);

template <class E>
[[nodiscard]] std::string eigen_dims(const E& object) {
  return std::to_string(object.rows()) + "x" + std::to_string(object.cols());
}

/// The view of an Eigen object's storage (E may be const); checks contiguity first.
template <class E>
[[nodiscard]] auto adapt_eigen(E& object);

/// Compile-time checks first, so that an expression without storage fails with one message.
template <class E>
[[nodiscard]] auto adapt_eigen_checked(E& object) {
  using plain = std::remove_cv_t<E>;
  constexpr bool direct = (plain::Flags & Eigen::DirectAccessBit) != 0;
  static_assert(direct, "fedpp::adapt: this Eigen expression has no storage of its own (a sum, product, "
                        "reverse, ...): evaluate it into a Matrix or Array first");
  static_assert(element_type<typename plain::Scalar>,
                "fedpp::adapt: the Eigen scalar type is not a fedpp element type "
                "(float, double, fedpp::float16/bfloat16, 8-64 bit integers)");
  constexpr bool inner_ok = !direct || plain::InnerStrideAtCompileTime == 1 ||
                            plain::InnerStrideAtCompileTime == Eigen::Dynamic ||
                            plain::SizeAtCompileTime == 0 || plain::SizeAtCompileTime == 1;
  static_assert(inner_ok, "fedpp::adapt: this Eigen object has a compile-time inner stride != 1, so its "
                          "elements are not contiguous (views never copy)");
  if constexpr (direct && element_type<typename plain::Scalar> && inner_ok) {
    return adapt_eigen(object);
  } else {
    return host_view<float>{}; // not reached: a static_assert above failed
  }
}

template <class E>
[[nodiscard]] auto adapt_eigen(E& object) {
  using element = std::remove_pointer_t<decltype(object.data())>;
  using plain = std::remove_cv_t<E>;
  // Strides only matter when there is more than one element along the dimension they step.
  const bool inner_ok = object.innerSize() <= 1 || object.innerStride() == 1;
  const bool outer_ok = object.outerSize() <= 1 || object.outerStride() == object.innerSize();
  if (object.size() > 1 && !(inner_ok && outer_ok))
    throw invalid_config("fedpp::adapt: the " + eigen_dims(object) + " Eigen object is not contiguous " +
                         "(inner stride " + std::to_string(object.innerStride()) + ", outer stride " +
                         std::to_string(object.outerStride()) + ", inner size " +
                         std::to_string(object.innerSize()) + "); copy it into a Matrix first");
  const auto rows = static_cast<std::size_t>(object.rows());
  const auto cols = static_cast<std::size_t>(object.cols());
  if constexpr (plain::IsVectorAtCompileTime) {
    return host_view<element>(object.data(), tensor_shape::vector(rows * cols));
  } else {
    const storage_order order = plain::IsRowMajor ? storage_order::row_major : storage_order::col_major;
    return host_view<element>(object.data(), tensor_shape({rows, cols}, order));
  }
}

template <class T>
concept eigen_scalar = element_type<T> && std::is_arithmetic_v<std::remove_const_t<T>>;

} // namespace detail

/// Zero-copy view of an Eigen object's storage (see the file comment). Lvalues of any dense
/// type with storage; rvalues only of non-owning ones (Map, Block, non-const Ref), whose data
/// belongs to someone else, e.g. `adapt(matrix.col(2))`.
template <class E>
requires detail::eigen_dense<std::remove_reference_t<E>> &&
    (std::is_lvalue_reference_v<E> || !detail::eigen_owning<std::remove_reference_t<E>>)
        [[nodiscard]] auto adapt(E&& object) {
  return detail::adapt_eigen_checked(object);
}

/// Views of owning Eigen temporaries (Matrix, Array, Ref<const X>) would dangle.
template <class E>
requires detail::eigen_dense<std::remove_reference_t<E>> &&
    (!std::is_lvalue_reference_v<E> &&
     detail::eigen_owning<std::remove_reference_t<E>>)void adapt(E&& object) = delete;

/// Column vector map of a host view, as returned by as_eigen_vector.
template <detail::eigen_scalar T>
using eigen_vector_map = Eigen::Map<
    std::conditional_t<std::is_const_v<T>, const Eigen::Matrix<std::remove_const_t<T>, Eigen::Dynamic, 1>,
                       Eigen::Matrix<std::remove_const_t<T>, Eigen::Dynamic, 1>>>;

/// Contiguous matrix map of a host view in a given Eigen storage order (Eigen::RowMajor or
/// Eigen::ColMajor), as returned by `as_eigen_matrix<Order>`.
template <detail::eigen_scalar T, int Order>
using eigen_matrix_map = Eigen::Map<std::conditional_t<
    std::is_const_v<T>, const Eigen::Matrix<std::remove_const_t<T>, Eigen::Dynamic, Eigen::Dynamic, Order>,
    Eigen::Matrix<std::remove_const_t<T>, Eigen::Dynamic, Eigen::Dynamic, Order>>>;

/// Matrix map of a host view in either storage order (strides set at run time), as returned by
/// `as_eigen_matrix(view)`.
template <detail::eigen_scalar T>
using eigen_strided_matrix_map =
    Eigen::Map<std::conditional_t<std::is_const_v<T>,
                                  const Eigen::Matrix<std::remove_const_t<T>, Eigen::Dynamic, Eigen::Dynamic>,
                                  Eigen::Matrix<std::remove_const_t<T>, Eigen::Dynamic, Eigen::Dynamic>>,
               Eigen::Unaligned, Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>>;

namespace detail {
template <class T>
void require_rank(const host_view<T>& view, std::size_t rank, const char* function) {
  if (view.shape().rank() != rank)
    throw invalid_config(std::string(function) + ": expected a rank-" + std::to_string(rank) +
                         " view, got shape " + view.shape().to_string() + " (rank " +
                         std::to_string(view.shape().rank()) + ")");
}
} // namespace detail

/// A rank-1 host view as an Eigen column vector map (no copy); throws invalid_config for
/// another rank (use `view.flattened()` to see any tensor as a vector).
template <detail::eigen_scalar T>
[[nodiscard]] eigen_vector_map<T> as_eigen_vector(host_view<T> view) {
  detail::require_rank(view, 1, "fedpp::as_eigen_vector");
  return eigen_vector_map<T>(view.data(), static_cast<Eigen::Index>(view.size()));
}

/// A rank-2 host view as a contiguous Eigen matrix map of storage order Order (Eigen::RowMajor
/// or Eigen::ColMajor); throws invalid_config for another rank or when the view's storage order
/// is not Order.
template <int Order, detail::eigen_scalar T>
requires(Order == Eigen::RowMajor || Order == Eigen::ColMajor)
    [[nodiscard]] eigen_matrix_map<T, Order> as_eigen_matrix(host_view<T> view) {
  detail::require_rank(view, 2, "fedpp::as_eigen_matrix");
  const storage_order wanted = Order == Eigen::RowMajor ? storage_order::row_major : storage_order::col_major;
  if (view.shape().order() != wanted)
    throw invalid_config(std::string("fedpp::as_eigen_matrix: the view ") + view.shape().to_string() +
                         " is " +
                         (wanted == storage_order::row_major ? "col-major, asked for row-major"
                                                             : "row-major, asked for col-major"));
  return eigen_matrix_map<T, Order>(view.data(), static_cast<Eigen::Index>(view.shape().extent(0)),
                                    static_cast<Eigen::Index>(view.shape().extent(1)));
}

/// A rank-2 host view of either storage order as an Eigen matrix map with {rows, cols} =
/// the view's extents (no copy; the strides encode the order). Throws invalid_config for
/// another rank.
template <detail::eigen_scalar T>
[[nodiscard]] eigen_strided_matrix_map<T> as_eigen_matrix(host_view<T> view) {
  detail::require_rank(view, 2, "fedpp::as_eigen_matrix");
  const auto rows = static_cast<Eigen::Index>(view.shape().extent(0));
  const auto cols = static_cast<Eigen::Index>(view.shape().extent(1));
  // Element (i, j) sits at i * inner + j * outer in a column-major Map.
  const bool row_major = view.shape().order() == storage_order::row_major;
  const Eigen::Index outer = row_major ? 1 : rows;
  const Eigen::Index inner = row_major ? cols : 1;
  return eigen_strided_matrix_map<T>(view.data(), rows, cols,
                                     Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>(outer, inner));
}

} // namespace fedpp
