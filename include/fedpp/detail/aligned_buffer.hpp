/// \file aligned_buffer.hpp
/// Owning, zero-initialised, 64-byte-aligned array of trivially copyable elements.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <span>
#include <type_traits>

namespace fedpp::detail {

/// Cache-line (and AVX-512 vector) alignment of every buffer fedpp allocates.
inline constexpr std::size_t buffer_alignment = 64;

/// Tag: allocate without zeroing, for a caller that writes every element before reading any.
struct uninitialized_t {
  explicit uninitialized_t() = default;
};
inline constexpr uninitialized_t uninitialized{};

template <class T>
class aligned_buffer {
  static_assert(std::is_trivially_copyable_v<T>, "aligned_buffer holds trivially copyable elements");

public:
  aligned_buffer() noexcept = default;
  explicit aligned_buffer(std::size_t size) : data_(allocate(size)), size_(size) {
    if (size_ != 0) std::memset(static_cast<void*>(data_.get()), 0, size_ * sizeof(T));
  }
  /// Skips the zeroing (encoders and receivers that overwrite every byte save one pass).
  aligned_buffer(std::size_t size, uninitialized_t) : data_(allocate(size)), size_(size) {}
  aligned_buffer(const aligned_buffer& other) : data_(allocate(other.size_)), size_(other.size_) {
    if (size_ != 0) std::memcpy(static_cast<void*>(data_.get()), other.data_.get(), size_ * sizeof(T));
  }
  aligned_buffer(aligned_buffer&& other) noexcept = default;
  aligned_buffer& operator=(const aligned_buffer& other) {
    if (this != &other) *this = aligned_buffer(other);
    return *this;
  }
  aligned_buffer& operator=(aligned_buffer&& other) noexcept = default;
  ~aligned_buffer() = default;

  [[nodiscard]] T* data() noexcept { return data_.get(); }
  [[nodiscard]] const T* data() const noexcept { return data_.get(); }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] std::span<T> span() noexcept { return {data_.get(), size_}; }
  [[nodiscard]] std::span<const T> span() const noexcept { return {data_.get(), size_}; }
  T& operator[](std::size_t i) noexcept { return data_[i]; }
  const T& operator[](std::size_t i) const noexcept { return data_[i]; }
  void fill_zero() noexcept {
    if (size_ != 0) std::memset(static_cast<void*>(data_.get()), 0, size_ * sizeof(T));
  }

private:
  struct deleter {
    void operator()(T* p) const noexcept { ::operator delete[](p, std::align_val_t{buffer_alignment}); }
  };
  static std::unique_ptr<T[], deleter> allocate(std::size_t size) {
    if (size == 0) return nullptr;
    // size · sizeof(T) must not wrap: a wrapped product would allocate a small block and every
    // later write would run past it.
    if (size > std::numeric_limits<std::size_t>::max() / sizeof(T)) throw std::bad_array_new_length();
    return std::unique_ptr<T[], deleter>(
        static_cast<T*>(::operator new[](size * sizeof(T), std::align_val_t{buffer_alignment})));
  }

  std::unique_ptr<T[], deleter> data_;
  std::size_t size_ = 0;
};

} // namespace fedpp::detail
