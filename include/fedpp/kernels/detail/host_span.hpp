/// \file host_span.hpp
/// Turns a tensor_view into the span the host kernels take, refusing device memory at compile time.
#pragma once

#include "fedpp/tensor/memory_space.hpp"
#include "fedpp/tensor/tensor_view.hpp"

#include <span>

namespace fedpp::kernels::detail {

/// The elements of a host-accessible view; a device view is a compile error with a message.
template <class T, class Space>
[[nodiscard]] constexpr std::span<T> host_span(const tensor_view<T, Space>& view) noexcept {
  static_assert(Space::host_accessible,
                "fedpp::kernels: host kernels cannot read a device tensor_view (memory space is not "
                "host-accessible); use the fedpp/cuda kernels or copy the data to the host first");
  if constexpr (Space::host_accessible) {
    return view.span();
  } else {
    return {};
  }
}

} // namespace fedpp::kernels::detail
