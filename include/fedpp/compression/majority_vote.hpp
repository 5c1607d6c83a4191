/// \file majority_vote.hpp
/// signSGD with majority vote (Bernstein et al. 2018, "signSGD: Compressed Optimisation for
/// Non-Convex Problems", Algorithm 3; Bernstein et al. 2019, "signSGD with Majority Vote is
/// Communication Efficient and Fault Tolerant"): each client sends sgn(Δ_k) as a 1-bit unscaled
/// sign payload; the server's aggregate is sgn(Σ_k sgn(Δ_k)) — one vote per client, unweighted —
/// with 0 on a tie. The server optimizer's learning rate sets the step size.
///
/// Votes are counted exactly in 32-bit integers (a float count stops being exact after 2^24
/// votes); an aggregate takes at most max_votes() ≤ 2^31 − 1 inputs, merges included, so no
/// count can overflow.
#pragma once

#include "fedpp/aggregation/aggregator.hpp"
#include "fedpp/compression/compressed_update.hpp"
#include "fedpp/compression/detail/finite_bounds.hpp"
#include "fedpp/compression/sign_compressor.hpp"
#include "fedpp/error.hpp"
#include "fedpp/tensor/flat_model.hpp"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace fedpp::compression {

/// Majority vote over unscaled sign payloads.
class majority_vote {
public:
  using input_type = compressed_update;
  using result_type = flat_model<float>;

  /// The most inputs any aggregate can count (int32 vote sums).
  static constexpr std::size_t vote_limit =
      static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max());

  /// An empty vote for `layout` (all f32) taking at most `max_votes` inputs (1 ≤ max_votes ≤
  /// vote_limit; throws invalid_config otherwise).
  explicit majority_vote(model_layout layout, std::size_t max_votes = vote_limit)
      : layout_(std::move(layout)), votes_(layout_.total_size(), 0), max_votes_(max_votes) {
    if (!layout_.is_uniform(dtype::f32)) throw invalid_config("majority_vote: the layout is not all f32");
    if (max_votes < 1 || max_votes > vote_limit)
      throw invalid_config("majority_vote: max_votes " + std::to_string(max_votes) + " is not in [1, " +
                           std::to_string(vote_limit) + "]");
  }

  /// Adds one client's vote (its weight must be finite and > 0, and is otherwise unused: one
  /// vote per client). Throws rejected_update (state unchanged) for a bad weight, anything but
  /// an unscaled sign payload of the model's size, or a vote beyond max_votes().
  void accumulate(const compressed_update& u) {
    if (!(u.weight > 0) || !std::isfinite(u.weight))
      throw rejected_update(u.client, rejection_reason::bad_weight,
                            "weight " + detail::show(u.weight) + " is not finite and > 0");
    if (inputs_ >= max_votes_)
      throw rejected_update(u.client, rejection_reason::other,
                            "majority_vote already counts " + std::to_string(inputs_) +
                                " votes, its limit (max_votes)");
    try {
      detail::byte_reader r(u.payload);
      const auto h = payload_header::read(r);
      if (h.scheme != payload_scheme::sign || h.param != 0)
        throw rejected_update(u.client, rejection_reason::malformed,
                              std::string("majority_vote takes unscaled sign payloads, got ") +
                                  to_string(h.scheme) +
                                  (h.scheme == payload_scheme::sign ? " (scaled)" : ""));
      const detail::sign_body b = detail::read_sign_body(h, r, votes_.size());
      // |votes_i| ≤ inputs_ < max_votes_ ≤ 2^31 − 1: one more ±1 fits.
      for (std::size_t i = 0; i < b.size; ++i)
        votes_[i] += 1 - 2 * static_cast<std::int32_t>((b.signs[i / 8] >> (i % 8)) & 1U);
    } catch (const malformed_message& e) {
      throw rejected_update(u.client, rejection_reason::malformed, e.what());
    } catch (const invalid_config& e) {
      throw rejected_update(u.client, rejection_reason::layout_mismatch, e.what());
    }
    ++inputs_;
  }

  /// Adds another vote of the same layout. Throws invalid_config (both unchanged) when the
  /// layouts differ or the merged vote would count more than max_votes() inputs.
  void merge(majority_vote&& other) {
    if (!(other.layout_ == layout_)) throw invalid_config("majority_vote::merge: layouts differ");
    if (other.inputs_ > max_votes_ - inputs_)
      throw invalid_config("majority_vote::merge: " + std::to_string(inputs_) + " + " +
                           std::to_string(other.inputs_) + " votes exceed max_votes " +
                           std::to_string(max_votes_));
    // |votes_i + other_i| ≤ inputs_ + other.inputs_ ≤ max_votes_ ≤ 2^31 − 1.
    for (std::size_t i = 0; i < votes_.size(); ++i) votes_[i] += other.votes_[i];
    inputs_ += other.inputs_;
  }

  [[nodiscard]] std::size_t num_inputs() const noexcept { return inputs_; }
  [[nodiscard]] bool can_report() const noexcept { return inputs_ > 0; }
  /// The most inputs this aggregate takes.
  [[nodiscard]] std::size_t max_votes() const noexcept { return max_votes_; }
  /// Vote sums so far (Σ_k sgn(Δ_k)), exact.
  [[nodiscard]] std::span<const std::int32_t> votes() const noexcept { return votes_; }

  /// sgn(Σ_k sgn(Δ_k)) ∈ {−1, 0, +1}.
  [[nodiscard]] flat_model<float> report() && {
    if (!can_report()) throw invalid_config("majority_vote::report: no inputs");
    flat_model<float> out(layout_);
    auto s = out.span();
    for (std::size_t i = 0; i < votes_.size(); ++i)
      s[i] = votes_[i] > 0 ? 1.0F : (votes_[i] < 0 ? -1.0F : 0.0F);
    return out;
  }

private:
  model_layout layout_;
  std::vector<std::int32_t> votes_;
  std::size_t max_votes_;
  std::size_t inputs_ = 0;
};

static_assert(aggregator<majority_vote>);

} // namespace fedpp::compression
