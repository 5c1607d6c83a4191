/// \file fetchsgd.hpp
/// FetchSGD (Rothchild et al. 2020, "FetchSGD: Communication-Efficient Federated Learning with
/// Sketching", Algorithm 1) as a drop-in policy of fedpp::server and client_host:
/// - sketch_compressor: the client's upload is the count sketch S(Δ_k) of its delta (a compressor,
///   so compressing_client_hooks<sketch_compressor> plugs it into client_host);
/// - fetchsgd_server_hooks: the server sums the sketches as they arrive (absorb_update; linear,
///   nothing decoded per client, memory one sketch whatever the number of clients), and at the
///   end of the round (finish_aggregate) runs the sketch-space momentum and error accumulation
///   and unsketches the k heaviest coordinates into the round's sparse mean delta, which the
///   server's optimizer then applies:
///       S     = Σ_k w_k S(Δ_k) / Σ_k w_k
///       S_u  ← ρ·S_u + S                       (momentum; ρ = 0: none)
///       S_e  ← S_e + S_u                       (error accumulation)
///       Δ    = step · Top-k(U(S_e))            (U: the count-sketch estimate)
///       S_e  ← S_e − S(Δ)
/// The learning rate η of the paper is the server optimizer's (S_e is kept in units of Δ/η,
/// the same thing for a constant η). Differences from the paper, intentional: `step` < 1 applies
/// only part of each recovered value and leaves the rest in S_e — with few buckets per
/// coordinate the top-k of noisy estimates is biased upwards and full steps can overshoot
/// (docs/compression.md); the optional second round trip that fetches exact values of the k
/// coordinates from the clients is not implemented.
#pragma once

#include "fedpp/compression/compressed_update.hpp"
#include "fedpp/compression/count_sketch.hpp"
#include "fedpp/compression/detail/finite_bounds.hpp"
#include "fedpp/compression/payload_header.hpp"
#include "fedpp/compression/sketch_aggregator.hpp"
#include "fedpp/error.hpp"
#include "fedpp/kernels/finite.hpp"
#include "fedpp/tensor/flat_model.hpp"
#include "fedpp/tensor/model_layout.hpp"
#include "fedpp/transport/wire_format.hpp"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace fedpp::compression {

/// Client side of FetchSGD: compresses a delta into its r × c count sketch. The hashes come from
/// the run's sketch seed (shared with the server), not from the per-round seed the client hooks
/// pass, so every client's sketch can be summed with every other's.
class sketch_compressor {
public:
  /// Throws invalid_config unless 1 ≤ rows ≤ 32 and columns is a positive multiple of 64 up to 2^28.
  sketch_compressor(std::size_t rows, std::size_t columns, std::uint64_t sketch_seed)
      : rows_(rows), cols_(columns), seed_(sketch_seed) {
    (void)count_sketch(rows, columns, 0, sketch_seed); // validates the shape with count_sketch's messages
  }

  [[nodiscard]] static constexpr payload_scheme scheme() noexcept { return payload_scheme::count_sketch; }

  /// Appends S(x) as a count_sketch payload. Throws invalid_config (out unchanged) for NaN/Inf
  /// input or values so large that a bucket's sum overflows float.
  void compress(std::span<const float> x, std::uint64_t /*round seed: unused*/,
                std::vector<std::byte>& out) const {
    if (kernels::find_non_finite(x) != x.size())
      throw invalid_config("sketch_compressor: the input holds NaN or Inf");
    count_sketch s(rows_, cols_, x.size(), seed_);
    s.insert(x);
    if (!std::isfinite(detail::max_magnitude(s.table())))
      throw invalid_config("sketch_compressor: a bucket's sum of the input's values overflows float");
    s.serialize(out);
  }

  [[nodiscard]] std::size_t rows() const noexcept { return rows_; }
  [[nodiscard]] std::size_t columns() const noexcept { return cols_; }
  [[nodiscard]] std::uint64_t seed() const noexcept { return seed_; }

private:
  std::size_t rows_;
  std::size_t cols_;
  std::uint64_t seed_;
};

/// Settings of FetchSGD's server side (see the file comment).
struct fetchsgd_settings {
  std::size_t rows = 5;                       ///< r (the clients' sketch_compressor must use the same)
  std::size_t columns = std::size_t{1} << 16; ///< c, a multiple of 64
  std::uint64_t seed = 0;                     ///< the hashes' seed, shared with the clients
  std::size_t k = 0;                          ///< coordinates recovered and applied per round (≥ 1)
  float step = 1.0F;                          ///< fraction of each recovered value applied, in (0, 1]
  float momentum = 0.0F;                      ///< ρ of the sketch-space momentum, in [0, 1)
};

/// fedpp::server hooks running FetchSGD's aggregation (see the file comment). Uploads may be
/// count-sketch payloads (sketch_compressor) or dense deltas, which are sketched on arrival.
/// Holds three sketches at most (the round's sum, the error S_e, the momentum S_u): memory is
/// O(r·c), independent of the number of clients.
class fetchsgd_server_hooks {
public:
  /// Throws invalid_config for k = 0, step outside (0, 1], momentum outside [0, 1) or a bad
  /// sketch shape.
  explicit fetchsgd_server_hooks(fetchsgd_settings settings) : s_(settings) {
    (void)count_sketch(s_.rows, s_.columns, 0, s_.seed);
    if (s_.k == 0) throw invalid_config("fetchsgd: k (coordinates applied per round) must be >= 1");
    if (!(s_.step > 0.0F && s_.step <= 1.0F))
      throw invalid_config("fetchsgd: step must be in (0, 1], got " + std::to_string(s_.step));
    if (!(s_.momentum >= 0.0F && s_.momentum < 1.0F))
      throw invalid_config("fetchsgd: momentum must be in [0, 1), got " + std::to_string(s_.momentum));
  }

  /// fedpp::server: a new round starts (drops a sum left by a round that failed).
  void begin_round(const std::vector<client_id>& /*recipients*/, std::uint64_t /*round*/) {
    round_sum_.reset();
  }

  /// fedpp::server: one accepted report, with the weight the server admitted for it (its
  /// weight policy applied; the message's own weight is not used). Adds weight·S(Δ) to the
  /// round's sum. Throws malformed_message (bad payload) or rejected_update (a sketch of another
  /// shape or seed — refused before its table is allocated —, a weight that is not finite and
  /// > 0, NaN/Inf values, a dense delta whose sketch overflows float, cells that would overflow
  /// the sum); the sum is unchanged then.
  void absorb_update(const wire::decoded_message& m, double weight, const model_layout& layout,
                     std::uint64_t round) {
    const std::size_t dim = layout.total_size();
    std::optional<count_sketch> sketch;
    if (m.header().encoding == wire::payload_encoding::dense) {
      const auto values = m.payload<float>(); // the server checked it against the layout
      const std::size_t bad = kernels::find_non_finite(values);
      if (bad != values.size())
        throw rejected_update(m.sender(), rejection_reason::non_finite,
                              "element " + std::to_string(bad) + " is " + std::to_string(values[bad]));
      sketch.emplace(s_.rows, s_.columns, dim, s_.seed);
      sketch->insert(values);
      if (!std::isfinite(detail::max_magnitude(sketch->table())))
        throw rejected_update(m.sender(), rejection_reason::non_finite,
                              "sketching the dense update overflows float (a bucket's sum of its values)");
    } else {
      const compressed_update u = read_compressed_update(m, layout, round); // D = dim checked
      const auto h = peek_header(u.payload);
      if (h.scheme == payload_scheme::count_sketch && (h.param != s_.rows || h.chunk != s_.columns))
        throw rejected_update(m.sender(), rejection_reason::layout_mismatch,
                              "a " + std::to_string(h.param) + " x " + std::to_string(h.chunk) +
                                  " sketch, the round's sketches are " + std::to_string(s_.rows) + " x " +
                                  std::to_string(s_.columns));
      sketch.emplace(count_sketch::deserialize(u.payload, dim));
    }
    if (!round_sum_) round_sum_.emplace(s_.rows, s_.columns, dim, s_.seed);
    round_sum_->accumulate({m.sender(), weight, &*sketch}); // rejects a bad weight, shape or seed
  }

  /// fedpp::server: the round's mean delta — zero except at the k coordinates unsketched from the
  /// error sketch — or nothing when no report was absorbed or the step would not be finite (the
  /// momentum or error sketch overflowing float). The step is computed on copies of the momentum
  /// and error sketches, which replace them only when everything is finite: a refused round
  /// leaves them exactly as they were.
  [[nodiscard]] std::optional<flat_model<float>> finish_aggregate(const model_layout& layout,
                                                                  std::uint64_t /*round*/) {
    if (!round_sum_ || !round_sum_->can_report()) return std::nullopt;
    count_sketch mean = std::move(*round_sum_).report(); // finite (sketch_aggregator)
    round_sum_.reset();
    auto finite = [](const count_sketch& s) { return std::isfinite(detail::max_magnitude(s.table())); };
    std::optional<count_sketch> momentum; // stays empty without momentum (so does momentum_)
    if (s_.momentum > 0.0F) {
      // Built in a local, then moved in: GCC 12 under ASan reports a false maybe-uninitialized
      // for emplace() into a copied optional here.
      count_sketch next =
          momentum_ ? *momentum_ : count_sketch(s_.rows, s_.columns, mean.dimension(), s_.seed);
      if (momentum_) next.scale(s_.momentum);
      next += mean;
      if (!finite(next)) return std::nullopt;
      momentum = std::move(next);
    }
    const count_sketch& step_sketch = momentum ? *momentum : mean;
    count_sketch error = error_ ? *error_ : step_sketch;
    if (error_) error += step_sketch;
    if (!finite(error)) return std::nullopt; // top-k needs finite estimates

    std::vector<std::uint32_t> indices;
    std::vector<float> values;
    error.top_k(std::min(s_.k, layout.total_size()), indices, values); // medians of finite cells: finite
    for (float& v : values) v *= s_.step;                              // step ≤ 1: finite
    flat_model<float> delta(layout);
    for (std::size_t j = 0; j < indices.size(); ++j) delta.span()[indices[j]] = values[j];
    for (float& v : values) v = -v;
    error.insert_sparse(indices, values); // S_e −= S(Δ)
    if (!finite(error)) return std::nullopt;
    momentum_ = std::move(momentum);
    error_ = std::move(error);
    last_applied_ = indices.size();
    return delta;
  }

  [[nodiscard]] const fetchsgd_settings& settings() const noexcept { return s_; }
  /// S_e (empty before the first aggregated round).
  [[nodiscard]] const std::optional<count_sketch>& error_sketch() const noexcept { return error_; }
  /// S_u (empty without momentum).
  [[nodiscard]] const std::optional<count_sketch>& momentum_sketch() const noexcept { return momentum_; }
  /// Coordinates the last aggregated round applied.
  [[nodiscard]] std::size_t last_applied() const noexcept { return last_applied_; }

private:
  fetchsgd_settings s_;
  std::optional<sketch_aggregator> round_sum_;
  std::optional<count_sketch> error_;
  std::optional<count_sketch> momentum_;
  std::size_t last_applied_ = 0;
};

} // namespace fedpp::compression
