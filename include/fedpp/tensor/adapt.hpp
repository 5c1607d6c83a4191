/// \file adapt.hpp
/// Zero-copy adapters from user memory to tensor views. `adapt(...)` never copies and never
/// owns: the view is valid as long as the user's memory is. Eigen and xtensor overloads live in
/// the opt-in headers fedpp/tensor/eigen.hpp and fedpp/tensor/xtensor.hpp.
#pragma once

#include "fedpp/tensor/tensor_view.hpp"

#include <cstddef>
#include <span>
#include <vector>

namespace fedpp {

/// Rank-1 view of `size` elements at `data` (host memory).
template <element_type T>
[[nodiscard]] constexpr host_view<T> adapt(T* data, std::size_t size) noexcept {
  return {data, size};
}

/// View of `shape.size()` elements at `data` with this shape (host memory).
template <element_type T>
[[nodiscard]] constexpr host_view<T> adapt(T* data, const tensor_shape& shape) noexcept {
  return {data, shape};
}

/// Rank-1 view of a span.
template <element_type T, std::size_t Extent>
[[nodiscard]] constexpr host_view<T> adapt(std::span<T, Extent> elements) noexcept {
  return {elements.data(), elements.size()};
}

/// Rank-1 view of a vector's elements (invalidated when the vector reallocates).
template <element_type T, class Alloc>
[[nodiscard]] constexpr host_view<T> adapt(std::vector<T, Alloc>& elements) noexcept {
  return {elements.data(), elements.size()};
}

/// Rank-1 read-only view of a vector's elements.
template <element_type T, class Alloc>
[[nodiscard]] constexpr host_view<const T> adapt(const std::vector<T, Alloc>& elements) noexcept {
  return {elements.data(), elements.size()};
}

/// Views of temporaries would dangle.
template <element_type T, class Alloc>
void adapt(std::vector<T, Alloc>&&) = delete;

} // namespace fedpp
