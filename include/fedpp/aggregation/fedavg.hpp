/// \file fedavg.hpp
/// Streaming weighted mean of client updates: FedAvg (McMahan et al. 2017, "Communication-
/// Efficient Learning of Deep Networks from Decentralized Data", Algorithm 1: w ← Σ_k (n_k/n) w_k).
///
/// Precision: the running sum Σ_k n_k x_k is kept in `Acc` (double by default) together with
/// Σ_k n_k, and divided once at report time. With double accumulators the rounding error after
/// N float32 inputs is bounded by about N·2⁻⁵³ relative to Σ|n_k x_k| (≈1e-10 for N = 10⁶),
/// far below float32's own 2⁻²⁴, so a million clients do not drift (tests/aggregation_fedavg_test.cpp
/// measures it). Memory is two Acc per model element (the sum and the buffer the checked fold
/// writes before it is swapped in), whatever the number of clients.
#pragma once

#include "fedpp/aggregation/aggregator.hpp"
#include "fedpp/aggregation/client_update.hpp"
#include "fedpp/detail/aligned_buffer.hpp"
#include "fedpp/error.hpp"
#include "fedpp/kernels/checked_weighted_sum.hpp"
#include "fedpp/kernels/kernels.hpp"
#include "fedpp/parallel/kernels.hpp"
#include "fedpp/parallel/thread_pool.hpp"
#include "fedpp/tensor/flat_model.hpp"
#include "fedpp/tensor/model_layout.hpp"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <span>
#include <string>
#include <vector>

namespace fedpp {

/// How FedAvg weighs clients.
enum class weighting : std::uint8_t {
  by_examples = 0, ///< weight = the client's number of examples (FedAvg proper)
  uniform = 1      ///< every accepted client counts once (the weight field is ignored)
};

/// Streaming weighted mean over model updates of element type T, accumulated in Acc.
/// Satisfies `aggregator`; merge partial aggregates built over disjoint client sets with
/// `merge` (or `merge_all`) and the result equals the flat one up to rounding.
template <element_type T = float, class Acc = double>
class fedavg {
  static_assert(std::is_floating_point_v<T> && std::is_floating_point_v<Acc>,
                "fedavg averages floating-point updates into a floating-point accumulator");
  static_assert(sizeof(Acc) >= sizeof(T), "the accumulator must be at least as wide as the input");

public:
  using input_type = client_update<T>;
  using result_type = flat_model<T>;
  using accumulator_type = Acc;

  /// An empty aggregate for models with this layout (every tensor of dtype T).
  explicit fedavg(model_layout layout, weighting mode = weighting::by_examples)
      : layout_(std::move(layout)), mode_(mode), sum_(layout_.total_size()) {
    if (!layout_.is_uniform(dtype_of<T>))
      throw invalid_config("fedavg<" + std::string(to_string(dtype_of<T>)) +
                           ">: the layout has tensors of another dtype");
  }

  /// Adds one client's update. Throws rejected_update (state unchanged) for a layout that
  /// differs from the model's, a zero/negative/non-finite weight, or a NaN/Inf value.
  void accumulate(const input_type& update) {
    // One update touches the whole accumulator anyway (its traffic dominates), so checking in a
    // first read and folding in place beats writing a second accumulator and swapping.
    validate_layout_and_weight(update);
    for (const auto& t : update.model.tensors()) {
      const auto values = t.view.span();
      const std::size_t bad = kernels::find_non_finite(values);
      if (bad != values.size())
        throw rejected_update(update.client, rejection_reason::non_finite,
                              "tensor '" + t.name + "' element " + std::to_string(bad) + " is " +
                                  std::to_string(values[bad]));
    }
    const Acc w = effective_weight(update);
    for (std::size_t t = 0; t < layout_.num_tensors(); ++t) {
      const auto& e = layout_.entries()[t];
      kernels::scaled_accumulate(sum_.span().subspan(e.offset, e.size()), w, update.model[t].view.span());
    }
    total_weight_ += w;
    ++num_inputs_;
  }

  /// Adds a batch in one blocked pass (each update read once, the accumulator touched once per
  /// batch rather than once per client). All updates are validated first: if any is bad,
  /// rejected_update names it and none is added.
  void accumulate(std::span<const input_type> updates) { accumulate_batch(nullptr, updates); }

  /// accumulate(updates) with the fold spread over `pool`'s threads: each thread folds one
  /// contiguous range of every tensor (whole kernel blocks), so each sum element is computed by
  /// one thread with the serial operations in the serial order and the state is bitwise equal to
  /// the serial call's. Same validation and the same rejected_update (state unchanged).
  void accumulate(parallel::thread_pool& pool, std::span<const input_type> updates) {
    accumulate_batch(&pool, updates);
  }

  /// Absorbs another partial aggregate over the same layout and weighting (state unchanged and
  /// invalid_config thrown otherwise).
  void merge(fedavg&& other) {
    if (&other == this) throw invalid_config("fedavg::merge: cannot merge an aggregate into itself");
    if (auto diff = model_layout::describe_difference(layout_, other.layout_))
      throw invalid_config("fedavg::merge: layouts differ: " + *diff);
    if (other.mode_ != mode_) throw invalid_config("fedavg::merge: weighting modes differ");
    kernels::scaled_accumulate(sum_.span(), Acc(1), std::span<const Acc>(other.sum_.span()));
    total_weight_ += other.total_weight_;
    num_inputs_ += other.num_inputs_;
    other.clear();
  }

  [[nodiscard]] std::size_t num_inputs() const noexcept { return num_inputs_; }
  [[nodiscard]] bool can_report() const noexcept { return num_inputs_ > 0 && total_weight_ > 0; }
  /// Σ n_k over accepted inputs (their count in uniform mode).
  [[nodiscard]] Acc total_weight() const noexcept { return total_weight_; }
  [[nodiscard]] const model_layout& layout() const noexcept { return layout_; }
  [[nodiscard]] weighting mode() const noexcept { return mode_; }
  /// The running weighted sum Σ n_k x_k (flat, in layout order).
  [[nodiscard]] std::span<const Acc> weighted_sum() const noexcept { return sum_.span(); }

  /// Writes the weighted mean into `out` (flat, layout order); throws invalid_config when there
  /// is nothing to report or `out` has the wrong size.
  void report_into(std::span<T> out) const {
    require_reportable();
    if (out.size() != sum_.size())
      throw invalid_config("fedavg::report_into: output has " + std::to_string(out.size()) +
                           " elements, the model " + std::to_string(sum_.size()));
    const Acc* sum = sum_.data();
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = mean_of(sum[i], total_weight_);
  }

  /// One element of the mean, sum / total: by the reciprocal (the fast path), or by a division
  /// when the total is so small that its reciprocal overflows (0 · ∞ would give NaN).
  [[nodiscard]] static T mean_of(Acc sum, Acc total) noexcept {
    const Acc inv = Acc(1) / total;
    return static_cast<T>(std::isfinite(inv) ? sum * inv : sum / total);
  }

  /// The weighted mean as a model; consumes the aggregate.
  [[nodiscard]] flat_model<T> report() && {
    flat_model<T> mean(layout_);
    report_into(mean.span());
    return mean;
  }

  /// Forgets every input (keeps the layout and the allocation).
  void clear() noexcept {
    sum_.fill_zero();
    total_weight_ = 0;
    num_inputs_ = 0;
  }

  /// Serialization hook: hands the state to `sink(std::span<const std::byte>)` as
  /// [layout hash u64][mode u8][num_inputs u64][total_weight f64][sum: D × f64], little-endian
  /// host order (fedpp targets little-endian machines; the wire format checks it).
  template <class Sink>
  requires std::invocable<Sink&, std::span<const std::byte>>
  void save(Sink&& sink) const {
    const std::uint64_t hash = layout_.hash();
    const auto mode = static_cast<std::uint8_t>(mode_);
    const std::uint64_t count = num_inputs_;
    const double weight = static_cast<double>(total_weight_);
    sink(std::as_bytes(std::span(&hash, 1)));
    sink(std::as_bytes(std::span(&mode, 1)));
    sink(std::as_bytes(std::span(&count, 1)));
    sink(std::as_bytes(std::span(&weight, 1)));
    if constexpr (std::is_same_v<Acc, double>) {
      sink(std::as_bytes(sum_.span()));
    } else {
      std::vector<double> wide(sum_.span().begin(), sum_.span().end());
      sink(std::as_bytes(std::span<const double>(wide)));
    }
  }

  /// Number of bytes save() hands the sink in all: 25 + 8 D.
  [[nodiscard]] std::size_t saved_size() const noexcept {
    return 8 + 1 + 8 + 8 + sum_.size() * sizeof(double);
  }

  /// save()'s bytes as one buffer (what restore() reads). Prefer it to a sink that appends with
  /// `std::vector<std::byte>::insert`: GCC 12 at -O3 reports a false -Wstringop-overflow when it
  /// inlines an insert of a fixed-size chunk into an empty vector; this sizes the buffer once.
  [[nodiscard]] std::vector<std::byte> to_bytes() const {
    std::vector<std::byte> bytes(saved_size());
    std::size_t at = 0;
    save([&](std::span<const std::byte> chunk) {
      if (chunk.empty()) return;
      std::memcpy(bytes.data() + at, chunk.data(), chunk.size());
      at += chunk.size();
    });
    return bytes;
  }

  /// Rebuilds a saved aggregate for this layout. Saved bytes are input: throws malformed_message
  /// (and nothing else) for a length other than 25 + 8·D (checked, without overflow, before
  /// anything is allocated), another layout's hash, an unknown mode, a non-finite or negative
  /// total weight or a non-finite sum, values Acc cannot hold exactly (fedavg<T, float> saves
  /// doubles: one that is not a float would not re-encode to the same bytes), and states no
  /// sequence of accumulate/merge produces: no inputs with a non-zero weight or sum, inputs with
  /// a zero weight, a uniform weight that is not a whole number of at most num_inputs. Accepted
  /// bytes re-encode (save) to the same bytes, −0.0 included.
  [[nodiscard]] static fedavg restore(model_layout layout, std::span<const std::byte> bytes) {
    constexpr std::size_t header = 8 + 1 + 8 + 8;
    const std::size_t d = layout.total_size();
    if (d > (std::numeric_limits<std::size_t>::max() - header) / sizeof(double))
      throw malformed_message("fedavg::restore: a layout of " + std::to_string(d) +
                              " elements overflows the saved size");
    const std::size_t expected = header + d * sizeof(double);
    if (bytes.size() != expected)
      throw malformed_message("fedavg::restore: expected " + std::to_string(expected) + " bytes (25 + 8 × " +
                              std::to_string(d) + " elements), got " + std::to_string(bytes.size()));
    std::uint64_t hash = 0;
    std::uint8_t mode = 0;
    std::uint64_t count = 0;
    double weight = 0;
    std::memcpy(&hash, bytes.data(), 8);
    std::memcpy(&mode, bytes.data() + 8, 1);
    std::memcpy(&count, bytes.data() + 9, 8);
    std::memcpy(&weight, bytes.data() + 17, 8);
    if (hash != layout.hash())
      throw malformed_message("fedavg::restore: saved for another layout (hash " + std::to_string(hash) +
                              ", this layout's " + std::to_string(layout.hash()) + ")");
    if (mode > 1) throw malformed_message("fedavg::restore: unknown weighting mode " + std::to_string(mode));
    if (!std::isfinite(weight) || weight < 0)
      throw malformed_message("fedavg::restore: total weight " + std::to_string(weight) +
                              " is not finite and >= 0");
    if (!holds_exactly(weight))
      throw malformed_message("fedavg::restore: total weight " + std::to_string(weight) +
                              " is not exactly representable in the accumulator type");
    if (count == 0 && weight != 0)
      throw malformed_message("fedavg::restore: no inputs but a total weight of " + std::to_string(weight));
    if (count != 0 && !(weight > 0))
      throw malformed_message("fedavg::restore: " + std::to_string(count) +
                              " inputs but a total weight of 0");
    if (static_cast<weighting>(mode) == weighting::uniform &&
        (weight != std::floor(weight) || weight > static_cast<double>(count)))
      throw malformed_message("fedavg::restore: uniform weighting with " + std::to_string(count) +
                              " inputs but a total weight of " + std::to_string(weight));
    const std::byte* src = bytes.data() + header;
    for (std::size_t i = 0; i < d; ++i) { // every check before the allocation below
      double v = 0;
      std::memcpy(&v, src + i * sizeof(double), sizeof(double));
      if (!std::isfinite(v))
        throw malformed_message("fedavg::restore: sum element " + std::to_string(i) + " is " +
                                std::to_string(v) + ", not finite");
      if (!holds_exactly(v))
        throw malformed_message("fedavg::restore: sum element " + std::to_string(i) + " = " +
                                std::to_string(v) + " is not exactly representable in the accumulator type");
      if (count == 0 && v != 0)
        throw malformed_message("fedavg::restore: no inputs but sum element " + std::to_string(i) + " is " +
                                std::to_string(v));
      if (count != 0 && !std::isfinite(mean_of(static_cast<Acc>(v), static_cast<Acc>(weight))))
        throw malformed_message("fedavg::restore: sum element " + std::to_string(i) + " = " +
                                std::to_string(v) + " over the total weight " + std::to_string(weight) +
                                " gives a non-finite mean");
    }
    fedavg result(std::move(layout), static_cast<weighting>(mode));
    for (std::size_t i = 0; i < d; ++i) {
      double v = 0;
      std::memcpy(&v, src + i * sizeof(double), sizeof(double));
      result.sum_[i] = static_cast<Acc>(v);
    }
    result.num_inputs_ = count;
    result.total_weight_ = static_cast<Acc>(weight);
    return result;
  }

private:
  void accumulate_batch(parallel::thread_pool* pool, std::span<const input_type> updates) {
    for (const auto& u : updates) validate_layout_and_weight(u);
    std::vector<Acc> weights(updates.size());
    Acc batch_weight = 0;
    for (std::size_t k = 0; k < updates.size(); ++k)
      batch_weight += weights[k] = effective_weight(updates[k]);
    // One read of every update: the NaN/Inf test is fused into the fold, which writes the new
    // sums into `next_` and leaves `sum_` untouched until every tensor passed (strong guarantee).
    if (next_.size() != sum_.size()) next_ = detail::aligned_buffer<Acc>(sum_.size(), detail::uninitialized);
    std::vector<std::span<const T>> inputs(updates.size());
    for (std::size_t t = 0; t < layout_.num_tensors(); ++t) {
      for (std::size_t k = 0; k < updates.size(); ++k) inputs[k] = updates[k].model[t].view.span();
      const auto& e = layout_.entries()[t];
      const auto out = next_.span().subspan(e.offset, e.size());
      const auto base = std::span<const Acc>(sum_.span().subspan(e.offset, e.size()));
      const auto bad = pool != nullptr
                           ? kernels::weighted_sum_checked<Acc, T>(*pool, out, base, inputs, weights)
                           : kernels::weighted_sum_checked<Acc, T>(out, base, inputs, weights);
      if (bad)
        throw rejected_update(updates[bad->input].client, rejection_reason::non_finite,
                              "tensor '" + e.name + "' element " + std::to_string(bad->index) + " is " +
                                  std::to_string(inputs[bad->input][bad->index]));
    }
    std::swap(sum_, next_);
    total_weight_ += batch_weight;
    num_inputs_ += updates.size();
  }

  /// True when the finite double `v` converts to Acc and back unchanged, bit for bit (−0.0
  /// included). Out-of-range values are refused before the conversion (which would be UB).
  [[nodiscard]] static bool holds_exactly(double v) noexcept {
    if constexpr (sizeof(Acc) >= sizeof(double)) {
      return true; // double → double or wider is exact
    } else {
      if (!(std::fabs(v) <= static_cast<double>(std::numeric_limits<Acc>::max()))) return false;
      const double back = static_cast<double>(static_cast<Acc>(v));
      return std::memcmp(&back, &v, sizeof(double)) == 0;
    }
  }

  void validate_layout_and_weight(const input_type& update) const {
    if (auto diff = update.model.describe_mismatch(layout_))
      throw rejected_update(update.client, rejection_reason::layout_mismatch, *diff);
    if (mode_ == weighting::by_examples && !(std::isfinite(update.weight) && update.weight > 0))
      throw rejected_update(update.client, rejection_reason::bad_weight,
                            "weight " + std::to_string(update.weight) +
                                " (the number of examples must be finite and > 0)");
  }

  [[nodiscard]] Acc effective_weight(const input_type& update) const noexcept {
    return mode_ == weighting::by_examples ? static_cast<Acc>(update.weight) : Acc(1);
  }

  void require_reportable() const {
    if (!can_report())
      throw invalid_config("fedavg: nothing to report (" + std::to_string(num_inputs_) + " inputs accepted)");
  }

  model_layout layout_;
  weighting mode_;
  detail::aligned_buffer<Acc> sum_;
  detail::aligned_buffer<Acc> next_; // the fused check-and-fold writes here, then swaps with sum_
  Acc total_weight_ = 0;
  std::uint64_t num_inputs_ = 0;
};

static_assert(aggregator<fedavg<float>>);
static_assert(aggregator<fedavg<double>>);

} // namespace fedpp
