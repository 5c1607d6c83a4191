/// \file majority_vote.hpp
/// signSGD with majority vote (Bernstein et al. 2018, "signSGD: Compressed Optimisation for
/// Non-Convex Problems", Algorithm 3; Bernstein et al. 2019, "signSGD with Majority Vote is
/// Communication Efficient and Fault Tolerant"): each client sends sgn(Δ_k) as a 1-bit unscaled
/// sign payload; the server's aggregate is sgn(Σ_k sgn(Δ_k)) — one vote per client, unweighted —
/// with 0 on a tie. The server optimizer's learning rate sets the step size.
#pragma once

#include "fedpp/aggregation/aggregator.hpp"
#include "fedpp/compression/compressed_update.hpp"
#include "fedpp/compression/decode.hpp"
#include "fedpp/error.hpp"
#include "fedpp/tensor/flat_model.hpp"

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace fedpp::compression {

/// Majority vote over unscaled sign payloads.
class majority_vote {
public:
  using input_type = compressed_update;
  using result_type = flat_model<float>;

  explicit majority_vote(model_layout layout)
      : layout_(std::move(layout)), votes_(layout_.total_size(), 0.0F) {
    if (!layout_.is_uniform(dtype::f32)) throw invalid_config("majority_vote: the layout is not all f32");
  }

  /// Adds one client's vote. Throws rejected_update (state unchanged) for anything but an
  /// unscaled sign payload of the model's size.
  void accumulate(const compressed_update& u) {
    try {
      const auto h = peek_header(u.payload);
      if (h.scheme != payload_scheme::sign || h.param != 0)
        throw rejected_update(u.client, rejection_reason::malformed,
                              std::string("majority_vote takes unscaled sign payloads, got ") +
                                  to_string(h.scheme));
      decode_accumulate(u.payload, 1.0F, votes_);
    } catch (const malformed_message& e) {
      throw rejected_update(u.client, rejection_reason::malformed, e.what());
    } catch (const invalid_config& e) {
      throw rejected_update(u.client, rejection_reason::layout_mismatch, e.what());
    }
    ++inputs_;
  }

  void merge(majority_vote&& other) {
    if (!(other.layout_ == layout_)) throw invalid_config("majority_vote::merge: layouts differ");
    for (std::size_t i = 0; i < votes_.size(); ++i) votes_[i] += other.votes_[i];
    inputs_ += other.inputs_;
  }

  [[nodiscard]] std::size_t num_inputs() const noexcept { return inputs_; }
  [[nodiscard]] bool can_report() const noexcept { return inputs_ > 0; }
  /// Vote sums so far (Σ_k sgn(Δ_k)).
  [[nodiscard]] std::span<const float> votes() const noexcept { return votes_; }

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
  std::vector<float> votes_;
  std::size_t inputs_ = 0;
};

static_assert(aggregator<majority_vote>);

} // namespace fedpp::compression
