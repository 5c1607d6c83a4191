/// \file sharing_plan.hpp
/// Partial model sharing (FedPer, Arivazhagan et al. 2019; FedRep, Collins et al. 2021): which
/// tensors of a model are global (federated) and which stay on the client. The server is built
/// over the shared sub-layout (`shared_layout()`), so only global tensors travel in either
/// direction and an upload with any other layout is refused by the server's ordinary layout check.
#pragma once

#include "fedpp/client/round_config.hpp"
#include "fedpp/error.hpp"
#include "fedpp/tensor/flat_model.hpp"
#include "fedpp/tensor/model_layout.hpp"
#include "fedpp/tensor/model_view.hpp"

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fedpp {

/// round_config::extra key a personalization wrapper sets when only part of the model may train
/// in a call: "local" (the local tensors train, the shared ones are frozen: FedRep's head phase)
/// or "shared" (the reverse: FedRep's body phase). Absent: everything trains.
inline constexpr std::string_view train_part_key = "fedpp.train_part";

/// Elements [first, first + second) of a model's flat vector.
using element_range = std::pair<std::size_t, std::size_t>;

/// A model layout split into global (shared) and local tensors. Immutable once built.
class sharing_plan {
public:
  /// `full` with the tensors named in `local` kept on the clients. Throws invalid_config for a
  /// name `full` does not have, a name listed twice, or a plan that shares nothing.
  sharing_plan(model_layout full, const std::vector<std::string>& local) : full_(std::move(full)) {
    for (std::size_t i = 0; i < local.size(); ++i) {
      if (full_.find(local[i]) == nullptr)
        throw invalid_config("sharing_plan: the layout has no tensor named '" + local[i] + "'");
      for (std::size_t j = 0; j < i; ++j)
        if (local[j] == local[i])
          throw invalid_config("sharing_plan: tensor '" + local[i] + "' is listed twice");
    }
    for (const auto& e : full_.entries()) {
      const bool is_local = std::find(local.begin(), local.end(), e.name) != local.end();
      model_layout& part = is_local ? local_ : shared_;
      segments_.push_back(segment{e.offset, e.size(), is_local, part.total_size()});
      part.add(e.name, e.shape, e.type);
    }
    if (shared_.num_tensors() == 0)
      throw invalid_config("sharing_plan: every tensor is local; nothing would be federated");
  }

  /// The whole model as each client holds it.
  [[nodiscard]] const model_layout& full_layout() const noexcept { return full_; }
  /// The global tensors, in the full layout's order: the layout of the server's model.
  [[nodiscard]] const model_layout& shared_layout() const noexcept { return shared_; }
  /// The local tensors, in the full layout's order (possibly none).
  [[nodiscard]] const model_layout& local_layout() const noexcept { return local_; }
  /// True when tensor `name` stays on the client.
  [[nodiscard]] bool is_local(std::string_view name) const noexcept { return local_.find(name) != nullptr; }

  /// The global tensors of `full` (laid out as full_layout()) as a model of shared_layout().
  template <element_type T>
  [[nodiscard]] flat_model<T> shared_part(std::span<const T> full) const {
    flat_model<T> out(shared_);
    extract(full, false, out.span());
    return out;
  }
  /// The local tensors of `full` as a model of local_layout().
  template <element_type T>
  [[nodiscard]] flat_model<T> local_part(std::span<const T> full) const {
    flat_model<T> out(local_);
    extract(full, true, out.span());
    return out;
  }
  /// shared_part() of a flat model; throws invalid_config when its layout is not full_layout().
  template <element_type T>
  [[nodiscard]] flat_model<T> shared_part(const flat_model<T>& full) const {
    check_full(full.layout());
    return shared_part(full.span());
  }
  /// local_part() of a flat model; throws invalid_config when its layout is not full_layout().
  template <element_type T>
  [[nodiscard]] flat_model<T> local_part(const flat_model<T>& full) const {
    check_full(full.layout());
    return local_part(full.span());
  }

  /// Copies the global (`local` = false) or local tensors of `full` into `part`.
  template <element_type T>
  void extract(std::span<const T> full, bool local, std::span<T> part) const {
    check_sizes(full.size(), local, part.size());
    for (const segment& s : segments_)
      if (s.local == local && s.size != 0)
        std::memcpy(part.data() + s.part_offset, full.data() + s.full_offset, s.size * sizeof(T));
  }
  /// Copies `part` (the global tensors when `local` = false, else the local ones) into `full`.
  template <element_type T>
  void insert(std::span<const T> part, bool local, std::span<T> full) const {
    check_sizes(full.size(), local, part.size());
    for (const segment& s : segments_)
      if (s.local == local && s.size != 0)
        std::memcpy(full.data() + s.full_offset, part.data() + s.part_offset, s.size * sizeof(T));
  }

  /// The full vector's ranges of the global (`local` = false) or local tensors.
  [[nodiscard]] std::vector<element_range> ranges(bool local) const {
    std::vector<element_range> out;
    for (const segment& s : segments_)
      if (s.local == local && s.size != 0) out.emplace_back(s.full_offset, s.size);
    return out;
  }

  /// The ranges of the full vector that must not move in a training call with `config`:
  /// none without extra[train_part_key]; the global tensors for "local", the local ones for
  /// "shared". Throws invalid_config for any other value.
  [[nodiscard]] std::vector<element_range> frozen_ranges(const round_config& config) const {
    const auto it = config.extra.find(std::string(train_part_key));
    if (it == config.extra.end()) return {};
    if (it->second == "local") return ranges(false);
    if (it->second == "shared") return ranges(true);
    throw invalid_config("sharing_plan: extra['" + std::string(train_part_key) + "'] = '" + it->second +
                         "'; expected 'local' or 'shared'");
  }

  /// Throws invalid_config naming the first difference when `layout` is not full_layout().
  void check_full(const model_layout& layout) const {
    if (auto d = model_layout::describe_difference(full_, layout))
      throw invalid_config("sharing_plan: not the full layout: " + *d);
  }
  /// Throws invalid_config naming the first difference when `view` is not laid out as
  /// shared_layout() (names, shapes, in order; contiguity is not required).
  template <class View>
  void check_shared_view(const View& view) const {
    if (view.num_tensors() != shared_.num_tensors())
      throw invalid_config("sharing_plan: a model of " + std::to_string(view.num_tensors()) +
                           " tensors where the shared layout has " + std::to_string(shared_.num_tensors()));
    for (std::size_t i = 0; i < view.num_tensors(); ++i) {
      const tensor_entry& e = shared_[i];
      if (view[i].name != e.name || !(view[i].view.shape() == e.shape))
        throw invalid_config("sharing_plan: tensor " + std::to_string(i) + " is '" + view[i].name + "' " +
                             view[i].view.shape().to_string() + ", the shared layout's '" + e.name + "' " +
                             e.shape.to_string());
    }
  }

private:
  struct segment {
    std::size_t full_offset;
    std::size_t size;
    bool local;
    std::size_t part_offset;
  };

  void check_sizes(std::size_t full, bool local, std::size_t part) const {
    const std::size_t expected = local ? local_.total_size() : shared_.total_size();
    if (full != full_.total_size() || part != expected)
      throw invalid_config("sharing_plan: " + std::to_string(full) + " and " + std::to_string(part) +
                           " elements where the full and " + (local ? "local" : "shared") + " layouts have " +
                           std::to_string(full_.total_size()) + " and " + std::to_string(expected));
  }

  model_layout full_;
  model_layout shared_;
  model_layout local_;
  std::vector<segment> segments_;
};

} // namespace fedpp
