/// \file scaffold_aggregator.hpp
/// Server side of SCAFFOLD (Karimireddy et al. 2020, "SCAFFOLD: Stochastic Controlled Averaging
/// for Federated Learning", Algorithm 1, option II control variates).
///
/// How Δy and Δc travel: the server's model is the DOUBLED layout scaffold_layout(model) —
/// the model's tensors x, then a copy named "scaffold.c/<name>" of each for the server control
/// variate c. The broadcast therefore carries (x, c); each client uploads (Δy_i, Δc_i) in the
/// same doubled layout (a plain dense client_update, so the wire format, hooks and fedpp::server
/// need nothing new). This aggregator reports
///
///   [ mean_{i∈S} Δy_i ;  (|S|/N) · mean_{i∈S} Δc_i ]
///
/// and scaffold_server_optimizer (optim/scaffold_server_optimizer.hpp) applies
/// x ← x + η_g · (first half) and c ← c + (second half). The means are unweighted (the paper's
/// 1/|S|) by default; weighting::by_examples weighs both halves by n_i instead.
#pragma once

#include "fedpp/aggregation/aggregator.hpp"
#include "fedpp/aggregation/client_update.hpp"
#include "fedpp/aggregation/fedavg.hpp"
#include "fedpp/error.hpp"
#include "fedpp/kernels/kernels.hpp"
#include "fedpp/tensor/flat_model.hpp"
#include "fedpp/tensor/model_layout.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace fedpp {

/// Name prefix of the control-variate tensors in a SCAFFOLD layout.
inline constexpr std::string_view scaffold_control_prefix = "scaffold.c/";

/// The doubled layout (x, c): `model`'s tensors, then "scaffold.c/<name>" for each. Throws
/// invalid_config when `model` already has a tensor with that prefix.
[[nodiscard]] inline model_layout scaffold_layout(const model_layout& model) {
  model_layout out;
  for (const auto& e : model.entries()) {
    if (std::string_view(e.name).substr(0, scaffold_control_prefix.size()) == scaffold_control_prefix)
      throw invalid_config("scaffold_layout: the model already has a tensor named '" + e.name + "'");
    out.add(e.name, e.shape, e.type);
  }
  for (const auto& e : model.entries())
    out.add(std::string(scaffold_control_prefix) + e.name, e.shape, e.type);
  return out;
}

/// SCAFFOLD's server aggregate over the doubled layout (see the file comment). Satisfies
/// `aggregator`; usable as fedpp::server's Aggregator through a factory that captures N.
template <element_type T = float>
class scaffold_aggregator {
public:
  using input_type = client_update<T>;
  using result_type = flat_model<T>;

  /// `layout` must be a scaffold_layout (even tensor count, second half = prefixed copies of the
  /// first); `num_clients` is N, the population size. Throws invalid_config otherwise.
  scaffold_aggregator(model_layout layout, std::size_t num_clients, weighting mode = weighting::uniform)
      : inner_(check_layout(layout), mode), num_clients_(num_clients) {
    if (num_clients == 0) throw invalid_config("scaffold_aggregator: the number of clients N must be > 0");
  }

  /// Adds one client's (Δy_i, Δc_i); rejected_update (nothing changed) for a bad layout,
  /// weight or value.
  void accumulate(const input_type& update) { inner_.accumulate(update); }
  /// Merges a partial aggregate with the same layout, N and weighting.
  void merge(scaffold_aggregator&& other) {
    if (other.num_clients_ != num_clients_)
      throw invalid_config("scaffold_aggregator::merge: N differs (" + std::to_string(num_clients_) + " vs " +
                           std::to_string(other.num_clients_) + ")");
    inner_.merge(std::move(other.inner_));
  }
  [[nodiscard]] std::size_t num_inputs() const noexcept { return inner_.num_inputs(); }
  [[nodiscard]] bool can_report() const noexcept {
    return inner_.can_report() && inner_.num_inputs() <= num_clients_;
  }
  /// N.
  [[nodiscard]] std::size_t num_clients() const noexcept { return num_clients_; }

  /// [mean Δy ; (|S|/N) mean Δc]; throws invalid_config with no inputs or |S| > N.
  [[nodiscard]] flat_model<T> report() && {
    if (inner_.num_inputs() > num_clients_)
      throw invalid_config("scaffold_aggregator: " + std::to_string(inner_.num_inputs()) +
                           " reports exceed the population N = " + std::to_string(num_clients_));
    const std::size_t half = inner_.layout().total_size() / 2;
    const double fraction = static_cast<double>(inner_.num_inputs()) / static_cast<double>(num_clients_);
    flat_model<T> out = std::move(inner_).report();
    kernels::scale(out.span().subspan(half), static_cast<T>(fraction));
    return out;
  }

private:
  static model_layout check_layout(model_layout layout) {
    const std::size_t n = layout.num_tensors();
    bool ok = n % 2 == 0 && n > 0;
    for (std::size_t t = 0; ok && t < n / 2; ++t) {
      const auto& x = layout[t];
      const auto& c = layout[t + n / 2];
      ok = c.name == std::string(scaffold_control_prefix) + x.name && c.shape == x.shape && c.type == x.type;
    }
    if (!ok)
      throw invalid_config(
          "scaffold_aggregator: the layout is not a scaffold_layout (model tensors followed by "
          "'scaffold.c/' copies)");
    return layout;
  }

  fedavg<T> inner_;
  std::size_t num_clients_;
};

static_assert(aggregator<scaffold_aggregator<float>>);

} // namespace fedpp
