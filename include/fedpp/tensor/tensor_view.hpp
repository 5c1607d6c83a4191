/// \file tensor_view.hpp
/// A non-owning view of contiguous tensor elements whose type carries the memory space.
#pragma once

#include "fedpp/config.hpp"
#include "fedpp/tensor/dtype.hpp"
#include "fedpp/tensor/memory_space.hpp"
#include "fedpp/tensor/tensor_shape.hpp"

#include <cstddef>
#include <span>
#include <type_traits>

namespace fedpp {

/// Non-owning view of `shape().size()` contiguous elements of type T in memory space Space.
///
/// Copying a view copies the pointer, never the elements. `tensor_view<T>` converts to
/// `tensor_view<const T>`; views of different spaces never convert, so a device view passed to
/// a host kernel (or the reverse) does not compile. Host views expose `span()`; device views
/// expose only `data()`, which must not be dereferenced on the CPU.
template <element_type T, memory_space Space = host_space>
class tensor_view {
public:
  using element_type = T;
  using value_type = std::remove_const_t<T>;
  using space_type = Space;

  /// An empty rank-1 view.
  constexpr tensor_view() noexcept : shape_(tensor_shape::vector(0)) {}

  /// View of `shape.size()` elements starting at `data`.
  constexpr tensor_view(T* data, const tensor_shape& shape) noexcept : data_(data), shape_(shape) {}

  /// Rank-1 view of `size` elements starting at `data`.
  constexpr tensor_view(T* data, std::size_t size) noexcept
      : data_(data), shape_(tensor_shape::vector(size)) {}

  /// Host only: rank-1 view of a span.
  constexpr tensor_view(std::span<T> elements) noexcept requires Space::host_accessible
      : data_(elements.data()),
        shape_(tensor_shape::vector(elements.size())) {}

  /// Adds const: `tensor_view<float>` → `tensor_view<const float>` (same space only).
  template <class U>
  requires(std::is_const_v<T>&& std::is_same_v<const U, T>) constexpr tensor_view(
      const tensor_view<U, Space>& other) noexcept
      : data_(other.data()), shape_(other.shape()) {}

  [[nodiscard]] constexpr T* data() const noexcept { return data_; }
  [[nodiscard]] constexpr const tensor_shape& shape() const noexcept { return shape_; }
  [[nodiscard]] constexpr std::size_t size() const noexcept { return shape_.size(); }
  [[nodiscard]] constexpr std::size_t size_bytes() const noexcept { return size() * sizeof(T); }
  [[nodiscard]] constexpr bool empty() const noexcept { return size() == 0; }
  [[nodiscard]] static constexpr dtype type() noexcept { return dtype_of<T>; }

  /// Host only: the elements as a span (the 1-D currency of the kernels).
  [[nodiscard]] constexpr std::span<T> span() const noexcept requires Space::host_accessible {
    return {data_, size()};
  }

  /// Host only: element i of the flattened view.
  [[nodiscard]] constexpr T& operator[](std::size_t i) const noexcept requires Space::host_accessible {
    FEDPP_ASSERT(i < size());
    return data_[i];
  }

  /// The same elements seen as rank 1.
  [[nodiscard]] constexpr tensor_view flattened() const noexcept { return {data_, size()}; }

  /// Elements [offset, offset + count) as a rank-1 view.
  [[nodiscard]] constexpr tensor_view subview(std::size_t offset, std::size_t count) const noexcept {
    FEDPP_ASSERT(offset + count <= size());
    return {data_ + offset, count};
  }

private:
  T* data_ = nullptr;
  tensor_shape shape_;
};

template <class T>
tensor_view(std::span<T>) -> tensor_view<T, host_space>;

/// Host views, the common case.
template <element_type T>
using host_view = tensor_view<T, host_space>;
/// CUDA device views.
template <element_type T>
using device_view = tensor_view<T, cuda_device_space>;

namespace detail {
template <class V>
struct is_tensor_view : std::false_type {};
template <class T, class S>
struct is_tensor_view<tensor_view<T, S>> : std::true_type {};
} // namespace detail

/// Any fedpp::tensor_view.
template <class V>
concept any_tensor_view = detail::is_tensor_view<std::remove_cvref_t<V>>::value;

/// A tensor_view whose memory the CPU may read.
template <class V>
concept host_tensor_view = any_tensor_view<V> && std::remove_cvref_t<V>::space_type::host_accessible;

} // namespace fedpp
