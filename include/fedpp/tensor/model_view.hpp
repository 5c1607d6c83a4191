/// \file model_view.hpp
/// A model as an ordered set of named tensor views (like a state dict), over memory the user
/// owns. The tensors may live anywhere; a flat_model hands out a model_view over one buffer.
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/tensor/model_layout.hpp"
#include "fedpp/tensor/tensor_view.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace fedpp {

/// A named tensor of a model view.
template <element_type T, memory_space Space = host_space>
struct named_tensor {
  std::string name;
  tensor_view<T, Space> view;
};

/// Ordered, named tensor views sharing one element type and memory space. Non-owning: the
/// tensors must outlive the view. Copying copies names and pointers, never elements.
template <element_type T, memory_space Space = host_space>
class model_view {
public:
  using element_type = T;
  using space_type = Space;
  using tensor_type = tensor_view<T, Space>;

  model_view() = default;

  /// Appends a tensor; throws invalid_config for an empty or duplicate name.
  model_view& add(std::string name, tensor_type view) {
    if (name.empty()) throw invalid_config("model_view::add: a tensor name must not be empty");
    if (find(name) != nullptr) throw invalid_config("model_view::add: duplicate tensor name '" + name + "'");
    tensors_.push_back({std::move(name), view});
    return *this;
  }

  /// Adds const (same space only).
  template <class U>
  requires(std::is_const_v<T>&& std::is_same_v<const U, T>)
      model_view(const model_view<U, Space>& other) { // NOLINT(google-explicit-constructor)
    tensors_.reserve(other.num_tensors());
    for (const auto& t : other.tensors()) tensors_.push_back({t.name, t.view});
  }

  [[nodiscard]] std::size_t num_tensors() const noexcept { return tensors_.size(); }
  [[nodiscard]] const std::vector<named_tensor<T, Space>>& tensors() const noexcept { return tensors_; }
  [[nodiscard]] const named_tensor<T, Space>& operator[](std::size_t i) const { return tensors_.at(i); }

  /// Total elements over all tensors.
  [[nodiscard]] std::size_t total_size() const noexcept {
    std::size_t n = 0;
    for (const auto& t : tensors_) n += t.view.size();
    return n;
  }

  /// The tensor named `name`, or nullptr.
  [[nodiscard]] const tensor_type* find(std::string_view name) const noexcept {
    for (const auto& t : tensors_)
      if (t.name == name) return &t.view;
    return nullptr;
  }

  /// The tensor named `name`; throws invalid_config when absent.
  [[nodiscard]] const tensor_type& at(std::string_view name) const {
    if (const auto* v = find(name)) return *v;
    throw invalid_config("model_view: no tensor named '" + std::string(name) + "'");
  }

  /// The layout these tensors would have packed into a flat vector.
  [[nodiscard]] model_layout layout() const {
    model_layout layout;
    for (const auto& t : tensors_) layout.add(t.name, t.view.shape(), dtype_of<T>);
    return layout;
  }

  /// Where this view differs from `expected` (names, count, shapes, dtype), or nullopt.
  [[nodiscard]] std::optional<std::string> describe_mismatch(const model_layout& expected) const {
    if (tensors_.size() != expected.num_tensors())
      return "expected " + std::to_string(expected.num_tensors()) + " tensors, got " +
             std::to_string(tensors_.size());
    for (std::size_t i = 0; i < tensors_.size(); ++i) {
      const auto& e = expected.entries()[i];
      const auto& t = tensors_[i];
      if (t.name != e.name)
        return "tensor " + std::to_string(i) + ": expected name '" + e.name + "', got '" + t.name + "'";
      if (!(t.view.shape() == e.shape))
        return "tensor '" + e.name + "': expected shape " + e.shape.to_string() + ", got " +
               t.view.shape().to_string();
      if (dtype_of<T> != e.type)
        return "tensor '" + e.name + "': expected dtype " + to_string(e.type) + ", got " +
               to_string(dtype_of<T>);
    }
    return std::nullopt;
  }

private:
  std::vector<named_tensor<T, Space>> tensors_;
};

/// Host model views, the common case.
template <element_type T>
using host_model_view = model_view<T, host_space>;

} // namespace fedpp
