/// \file ifca_layout.hpp
/// The server model of clustered FL with IFCA (Ghosh, Chung, Yin, Ramchandran, NeurIPS 2020, "An
/// Efficient Framework for Clustered Federated Learning", arXiv:2006.04088): k models of one base
/// layout stacked into a single flat model, plus one scalar tensor that carries a client's cluster
/// index in its update. A plain fedpp::server holds, broadcasts and steps this stacked model; the
/// IFCA parts are the client wrapper (ifca_trainer.hpp) and the per-cluster aggregator
/// (ifca_aggregator.hpp), so the server's round loop is unchanged.
///
/// Stacked layout: for cluster j = 0..k−1, every base tensor `name` as `c<j>.<name>` (base order),
/// then `ifca.cluster` of shape {1}. The server's copy of `ifca.cluster` stays 0 (the aggregator
/// reports a zero delta for it); in a client's update it is the index of the cluster it trained.
///
/// Memory and bytes: the server holds k models (k·D elements, D = base size) plus one element; a
/// dense broadcast costs every selected client k·D·sizeof(T) + sizeof(T) bytes of payload
/// (download_payload_bytes), and a dense update the same (the k−1 untouched slices are zero).
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/tensor/flat_model.hpp"
#include "fedpp/tensor/model_layout.hpp"
#include "fedpp/tensor/model_view.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fedpp {

/// Name of the tensor that carries the cluster index in a client's IFCA update.
inline constexpr std::string_view ifca_index_tensor = "ifca.cluster";

/// k models of one base layout stacked into one server model (see the file comment).
class ifca_layout {
public:
  /// Most clusters a layout may hold (a configuration bound, not a client's choice).
  static constexpr std::size_t max_clusters = 4096;

  /// k clusters of `base`. Throws invalid_config for k outside [1, max_clusters], an empty base
  /// layout, or a base of mixed dtypes.
  ifca_layout(model_layout base, std::size_t k) : base_(std::move(base)), k_(k) {
    if (k_ == 0 || k_ > max_clusters)
      throw invalid_config("ifca_layout: " + std::to_string(k_) + " clusters; expected 1 to " +
                           std::to_string(max_clusters));
    if (base_.num_tensors() == 0 || base_.total_size() == 0)
      throw invalid_config("ifca_layout: the base layout is empty");
    const dtype type = base_[0].type;
    if (!base_.is_uniform(type)) throw invalid_config("ifca_layout: the base layout mixes dtypes");
    for (std::size_t j = 0; j < k_; ++j)
      for (const auto& e : base_.entries()) stacked_.add(cluster_tensor_name(j, e.name), e.shape, e.type);
    stacked_.add(std::string(ifca_index_tensor), {1}, type);
  }

  /// k, the number of cluster models.
  [[nodiscard]] std::size_t clusters() const noexcept { return k_; }
  /// One cluster model's layout (what the user's trainer sees).
  [[nodiscard]] const model_layout& base() const noexcept { return base_; }
  /// The server's model layout: k base models, then `ifca.cluster`.
  [[nodiscard]] const model_layout& stacked() const noexcept { return stacked_; }
  /// D: elements of one cluster model.
  [[nodiscard]] std::size_t cluster_size() const noexcept { return base_.total_size(); }
  /// Flat offset of cluster j's first element in the stacked model; throws invalid_config for j ≥ k.
  [[nodiscard]] std::size_t cluster_offset(std::size_t j) const {
    require_cluster(j);
    return j * cluster_size();
  }
  /// Flat offset of the `ifca.cluster` element (k·D).
  [[nodiscard]] std::size_t index_offset() const noexcept { return k_ * cluster_size(); }
  /// Payload bytes of one dense broadcast (or dense update) of the stacked model: (k·D + 1)·sizeof(element).
  [[nodiscard]] std::uint64_t download_payload_bytes() const noexcept { return stacked_.total_bytes(); }

  /// `c<j>.<name>`.
  [[nodiscard]] static std::string cluster_tensor_name(std::size_t j, std::string_view name) {
    // Appended piece by piece: GCC 12 -O3 warns (-Wrestrict, a false positive) on "c" + string.
    std::string out(1, 'c');
    out.append(std::to_string(j)).append(1, '.').append(name);
    return out;
  }

  /// The cluster index a client wrote: `value` when it is finite, a whole number and in [0, k);
  /// nullopt otherwise.
  template <class V>
  [[nodiscard]] std::optional<std::size_t> read_index(V value) const noexcept {
    const double v = static_cast<double>(value);
    if (!std::isfinite(v) || v < 0 || v >= static_cast<double>(k_) || std::floor(v) != v) return std::nullopt;
    return static_cast<std::size_t>(v);
  }

  /// Stacks k models of the base layout (cluster j = models[j]) into a server model with index 0.
  /// Throws invalid_config for a count other than k or a model of another layout.
  template <element_type T>
  [[nodiscard]] flat_model<T> stack(std::span<const flat_model<T>> models) const {
    if (models.size() != k_)
      throw invalid_config("ifca_layout::stack: " + std::to_string(models.size()) + " models for " +
                           std::to_string(k_) + " clusters");
    flat_model<T> out(stacked_);
    for (std::size_t j = 0; j < k_; ++j) {
      if (auto diff = model_layout::describe_difference(base_, models[j].layout()))
        throw invalid_config("ifca_layout::stack: model " + std::to_string(j) + ": " + *diff);
      const auto src = models[j].span();
      std::copy(src.begin(), src.end(), out.span().begin() + static_cast<std::ptrdiff_t>(j * cluster_size()));
    }
    return out;
  }

  /// Cluster j of a stacked model (any view with the stacked layout: the broadcast a client
  /// receives, or the server's model) as a view with the base tensor names; no copy. Throws
  /// invalid_config when `stacked` does not have the stacked layout or j ≥ k.
  template <class T>
  [[nodiscard]] host_model_view<const T> cluster_view(const host_model_view<const T>& stacked,
                                                      std::size_t j) const {
    require_cluster(j);
    if (auto diff = stacked.describe_mismatch(stacked_))
      throw invalid_config("ifca_layout::cluster_view: not the stacked IFCA layout: " + *diff);
    host_model_view<const T> out;
    const std::size_t n = base_.num_tensors();
    for (std::size_t t = 0; t < n; ++t) out.add(base_[t].name, stacked[j * n + t].view);
    return out;
  }

  /// A copy of cluster j of a stacked model, in the base layout.
  template <element_type T>
  [[nodiscard]] flat_model<T> cluster(const flat_model<T>& stacked, std::size_t j) const {
    return flat_model<T>::copy_of(cluster_view(stacked.view(), j));
  }

private:
  void require_cluster(std::size_t j) const {
    if (j >= k_)
      throw invalid_config("ifca_layout: cluster " + std::to_string(j) + " of " + std::to_string(k_));
  }

  model_layout base_;
  std::size_t k_;
  model_layout stacked_;
};

} // namespace fedpp
