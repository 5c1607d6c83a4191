/// \file model_layout.hpp
/// The layout of a model: its named tensors in order, each with shape, dtype and offset in the
/// model's flat vector. Two parties agree on a model exactly when their layouts are equal; the
/// 64-bit layout hash stands for the layout in messages.
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/tensor/dtype.hpp"
#include "fedpp/tensor/tensor_shape.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fedpp {

/// One tensor of a model layout.
struct tensor_entry {
  std::string name;        ///< unique within the layout, e.g. "fc1.weight"
  tensor_shape shape;      ///< extents and storage order
  dtype type = dtype::f32; ///< element type
  std::size_t offset = 0;  ///< first element in the model's flat vector (elements, not bytes)

  [[nodiscard]] std::size_t size() const noexcept { return shape.size(); }
  friend bool operator==(const tensor_entry&, const tensor_entry&) = default;
};

/// Ordered, named tensors of a model. Tensors are packed back to back in the flat vector (no
/// padding), so the flat vector is exactly the concatenation of the tensors in order.
class model_layout {
public:
  model_layout() = default;

  /// Appends a tensor; throws invalid_config for an empty or duplicate name.
  model_layout& add(std::string name, const tensor_shape& shape, dtype type = dtype::f32) {
    if (name.empty()) throw invalid_config("model_layout::add: a tensor name must not be empty");
    if (find(name) != nullptr)
      throw invalid_config("model_layout::add: duplicate tensor name '" + name + "'");
    entries_.push_back(tensor_entry{std::move(name), shape, type, total_size_});
    total_size_ += shape.size();
    return *this;
  }

  [[nodiscard]] const std::vector<tensor_entry>& entries() const noexcept { return entries_; }
  [[nodiscard]] std::size_t num_tensors() const noexcept { return entries_.size(); }
  [[nodiscard]] const tensor_entry& operator[](std::size_t i) const { return entries_.at(i); }
  /// Elements in the flat vector (sum of all tensor sizes).
  [[nodiscard]] std::size_t total_size() const noexcept { return total_size_; }

  /// Total bytes of all tensors at their own dtypes.
  [[nodiscard]] std::size_t total_bytes() const noexcept {
    std::size_t bytes = 0;
    for (const auto& e : entries_) bytes += e.size() * size_of(e.type);
    return bytes;
  }

  /// True when every tensor has dtype `type` (what a flat_model<T> needs).
  [[nodiscard]] bool is_uniform(dtype type) const noexcept {
    for (const auto& e : entries_)
      if (e.type != type) return false;
    return true;
  }

  /// The entry named `name`, or nullptr.
  [[nodiscard]] const tensor_entry* find(std::string_view name) const noexcept {
    for (const auto& e : entries_)
      if (e.name == name) return &e;
    return nullptr;
  }

  /// The entry named `name`; throws invalid_config when absent.
  [[nodiscard]] const tensor_entry& at(std::string_view name) const {
    if (const auto* e = find(name)) return *e;
    throw invalid_config("model_layout: no tensor named '" + std::string(name) + "'");
  }

  /// FNV-1a 64 over names, ranks, extents, orders and dtypes: equal layouts, equal hashes.
  [[nodiscard]] std::uint64_t hash() const noexcept {
    std::uint64_t h = 0xcbf29ce484222325ULL;
    auto mix = [&h](std::uint64_t v) {
      for (int i = 0; i < 8; ++i) {
        h ^= (v >> (8 * i)) & 0xffU;
        h *= 0x100000001b3ULL;
      }
    };
    mix(entries_.size());
    for (const auto& e : entries_) {
      mix(e.name.size());
      for (char c : e.name) mix(static_cast<unsigned char>(c));
      mix(e.shape.rank());
      for (auto x : e.shape.extents()) mix(x);
      mix(e.shape.rank() >= 2 ? static_cast<std::uint64_t>(e.shape.order()) : 0U);
      mix(static_cast<std::uint64_t>(e.type));
    }
    return h;
  }

  friend bool operator==(const model_layout&, const model_layout&) = default;

  /// The first difference between two layouts in words, or nullopt when they are equal.
  [[nodiscard]] static std::optional<std::string> describe_difference(const model_layout& expected,
                                                                      const model_layout& actual) {
    if (expected.num_tensors() != actual.num_tensors())
      return "expected " + std::to_string(expected.num_tensors()) + " tensors, got " +
             std::to_string(actual.num_tensors());
    for (std::size_t i = 0; i < expected.num_tensors(); ++i) {
      const auto& e = expected.entries_[i];
      const auto& a = actual.entries_[i];
      if (e.name != a.name)
        return "tensor " + std::to_string(i) + ": expected name '" + e.name + "', got '" + a.name + "'";
      if (!(e.shape == a.shape))
        return "tensor '" + e.name + "': expected shape " + e.shape.to_string() + ", got " +
               a.shape.to_string();
      if (e.type != a.type)
        return "tensor '" + e.name + "': expected dtype " + to_string(e.type) + ", got " + to_string(a.type);
    }
    return std::nullopt;
  }

private:
  std::vector<tensor_entry> entries_;
  std::size_t total_size_ = 0;
};

} // namespace fedpp
