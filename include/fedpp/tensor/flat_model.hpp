/// \file flat_model.hpp
/// An owning model whose tensors all live in one 64-byte-aligned allocation, so that a whole
/// model is one vector for the kernels (and one contiguous payload for the wire).
#pragma once

#include "fedpp/detail/aligned_buffer.hpp"
#include "fedpp/error.hpp"
#include "fedpp/tensor/model_layout.hpp"
#include "fedpp/tensor/model_view.hpp"
#include "fedpp/tensor/tensor_view.hpp"

#include <algorithm>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

namespace fedpp {

/// Owning flat buffer for a model whose tensors all have element type T (host memory).
/// Elements start zeroed. Copy is deep; move is cheap.
template <element_type T>
class flat_model {
public:
  using value_type = T;

  flat_model() = default;

  /// Zeroed model with this layout; throws invalid_config if a tensor's dtype is not T's.
  explicit flat_model(model_layout layout) : layout_(std::move(layout)), buffer_(layout_.total_size()) {
    for (const auto& e : layout_.entries())
      if (e.type != dtype_of<T>)
        throw invalid_config("flat_model<" + std::string(to_string(dtype_of<T>)) + ">: tensor '" + e.name +
                             "' has dtype " + to_string(e.type));
  }

  /// Deep copy of a model view's tensors (const or not), packed in order.
  template <class U, memory_space Space>
  requires(Space::host_accessible&& std::is_same_v<std::remove_const_t<U>, T>) static flat_model
      copy_of(const model_view<U, Space>& view) {
    flat_model model(view.layout());
    std::size_t offset = 0;
    for (const auto& t : view.tensors()) {
      std::copy_n(t.view.data(), t.view.size(), model.buffer_.data() + offset);
      offset += t.view.size();
    }
    return model;
  }

  [[nodiscard]] const model_layout& layout() const noexcept { return layout_; }
  [[nodiscard]] std::size_t size() const noexcept { return buffer_.size(); }

  /// The whole model as one vector.
  [[nodiscard]] host_view<T> flat() noexcept { return {buffer_.data(), buffer_.size()}; }
  [[nodiscard]] host_view<const T> flat() const noexcept { return {buffer_.data(), buffer_.size()}; }
  [[nodiscard]] std::span<T> span() noexcept { return buffer_.span(); }
  [[nodiscard]] std::span<const T> span() const noexcept { return buffer_.span(); }
  [[nodiscard]] T* data() noexcept { return buffer_.data(); }
  [[nodiscard]] const T* data() const noexcept { return buffer_.data(); }

  /// One tensor, with its shape; throws invalid_config for an unknown name.
  [[nodiscard]] host_view<T> tensor(std::string_view name) { return tensor_at(layout_.at(name)); }
  [[nodiscard]] host_view<const T> tensor(std::string_view name) const {
    const auto& e = layout_.at(name);
    return {buffer_.data() + e.offset, e.shape};
  }

  /// All tensors as a named model view over this buffer.
  [[nodiscard]] host_model_view<T> view() {
    host_model_view<T> v;
    for (const auto& e : layout_.entries()) v.add(e.name, tensor_at(e));
    return v;
  }
  [[nodiscard]] host_model_view<const T> view() const {
    host_model_view<const T> v;
    for (const auto& e : layout_.entries())
      v.add(e.name, host_view<const T>{buffer_.data() + e.offset, e.shape});
    return v;
  }

  /// Elementwise equality of layout and values (bitwise for floats: NaN ≠ NaN).
  friend bool operator==(const flat_model& a, const flat_model& b) {
    return a.layout_ == b.layout_ && std::equal(a.span().begin(), a.span().end(), b.span().begin());
  }

private:
  host_view<T> tensor_at(const tensor_entry& e) { return {buffer_.data() + e.offset, e.shape}; }

  model_layout layout_;
  detail::aligned_buffer<T> buffer_;
};

} // namespace fedpp
