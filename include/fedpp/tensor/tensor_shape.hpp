/// \file tensor_shape.hpp
/// Extents of a dense tensor (rank ≤ 8) plus the order its elements are laid out in memory.
#pragma once

#include "fedpp/error.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>

namespace fedpp {

/// Memory order of a rank-2+ tensor. Two tensors with equal extents but different orders hold
/// their elements in different positions, so layouts treat them as different.
enum class storage_order : std::uint8_t { row_major = 0, col_major = 1 };

/// Extents (rank ≤ max_rank) and storage order of a dense, contiguous tensor.
class tensor_shape {
public:
  static constexpr std::size_t max_rank = 8;

  /// A rank-0 shape (a scalar: one element).
  constexpr tensor_shape() noexcept = default;

  /// Shape from extents, e.g. `tensor_shape{200, 784}`.
  constexpr tensor_shape(std::initializer_list<std::size_t> extents,
                         storage_order order = storage_order::row_major)
      : tensor_shape(std::span<const std::size_t>(extents.begin(), extents.size()), order) {}

  /// Shape from a span of extents; throws invalid_config above max_rank.
  constexpr explicit tensor_shape(std::span<const std::size_t> extents,
                                  storage_order order = storage_order::row_major)
      : rank_(extents.size()), order_(order) {
    if (extents.size() > max_rank)
      throw invalid_config("tensor rank " + std::to_string(extents.size()) + " exceeds the maximum " +
                           std::to_string(max_rank));
    std::copy(extents.begin(), extents.end(), extents_.begin());
  }

  /// A 1-D shape of n elements.
  [[nodiscard]] static constexpr tensor_shape vector(std::size_t n) noexcept {
    tensor_shape s;
    s.rank_ = 1;
    s.extents_[0] = n;
    return s;
  }

  [[nodiscard]] constexpr std::size_t rank() const noexcept { return rank_; }
  [[nodiscard]] constexpr std::size_t extent(std::size_t i) const noexcept { return extents_[i]; }
  [[nodiscard]] constexpr std::span<const std::size_t> extents() const noexcept {
    return {extents_.data(), rank_};
  }
  [[nodiscard]] constexpr storage_order order() const noexcept { return order_; }

  /// Number of elements (1 for rank 0).
  [[nodiscard]] constexpr std::size_t size() const noexcept {
    std::size_t n = 1;
    for (std::size_t i = 0; i < rank_; ++i) n *= extents_[i];
    return n;
  }

  /// Equal extents, and equal order where the order matters (rank ≥ 2).
  friend constexpr bool operator==(const tensor_shape& a, const tensor_shape& b) noexcept {
    if (a.rank_ != b.rank_) return false;
    if (a.rank_ >= 2 && a.order_ != b.order_) return false;
    return std::equal(a.extents_.begin(), a.extents_.begin() + a.rank_, b.extents_.begin());
  }

  /// "[200, 784]" (with " col-major" appended where it matters), for messages.
  [[nodiscard]] std::string to_string() const {
    std::string s = "[";
    for (std::size_t i = 0; i < rank_; ++i) {
      if (i != 0) s += ", ";
      s += std::to_string(extents_[i]);
    }
    s += "]";
    if (rank_ >= 2 && order_ == storage_order::col_major) s += " col-major";
    return s;
  }

private:
  std::array<std::size_t, max_rank> extents_{};
  std::size_t rank_ = 0;
  storage_order order_ = storage_order::row_major;
};

} // namespace fedpp
