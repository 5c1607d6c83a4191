/// \file compression_hooks.hpp
/// Plugs compression into the round machinery through its hook points:
/// - compressing_client_hooks<C>: fedpp::client_host's `encode_update` hook; compresses the delta
///   (after the host's `process_update`, e.g. clipping) with C — a compressor or an
///   error_feedback<compressor> with per-client residuals — into a compressed client_update.
/// - decompressing_server_hooks: fedpp::server's `decode_update` hook; decodes a compressed
///   client_update into the server's one model-sized scratch buffer (reused for every report, so
///   no K dense copies exist), then the server's aggregator accumulates it. Dense updates pass
///   through unchanged.
/// - compressed_domain_server_hooks<A>: fedpp::server's `absorb_update`/`finish_aggregate` hooks
///   around an aggregator of compressed_update (compressed_fedavg decodes each payload straight
///   into its one running sum, no scratch; majority_vote counts signSGD's votes); the server's own
///   aggregator is bypassed. Every upload must be compressed.
/// Randomness: client k's seed in round r is a hash of (seed, r, k), so runs are reproducible.
#pragma once

#include "fedpp/aggregation/aggregator.hpp"
#include "fedpp/compression/compressed_update.hpp"
#include "fedpp/compression/compressor.hpp"
#include "fedpp/compression/decode.hpp"
#include "fedpp/compression/error_feedback.hpp"
#include "fedpp/kernels/finite.hpp"
#include "fedpp/random/rng.hpp"
#include "fedpp/transport/wire_format.hpp"

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <utility>
#include <vector>

namespace fedpp::compression {

/// Seed of client `client`'s compression in `round`.
[[nodiscard]] constexpr std::uint64_t round_seed(std::uint64_t seed, std::uint64_t round,
                                                 client_id client) noexcept {
  std::uint64_t s = seed ^ (round * 0x9e3779b97f4a7c15ULL) ^ (client * 0xd1b54a32d192ed03ULL);
  return splitmix64(s);
}

/// Client hooks that upload compressed deltas (see the file comment). `C` is a compressor or an
/// error_feedback<compressor>.
template <class C>
class compressing_client_hooks {
public:
  explicit compressing_client_hooks(C compressor, std::uint64_t seed = 0)
      : c_(std::move(compressor)), seed_(seed) {}

  /// client_host's encode_update hook.
  message encode_update(std::uint64_t round, client_id client, const model_layout& layout,
                        std::span<const float> delta, double num_examples, const wire::metrics_map& metrics) {
    buffer_.clear();
    const std::uint64_t s = round_seed(seed_, round, client);
    if constexpr (requires { c_.compress(client, delta, s, buffer_); })
      c_.compress(client, delta, s, buffer_);
    else
      c_.compress(delta, s, buffer_);
    return encode_compressed_update(round, client, layout, buffer_, num_examples, metrics);
  }

  [[nodiscard]] C& compressor() noexcept { return c_; }

private:
  C c_;
  std::uint64_t seed_;
  std::vector<std::byte> buffer_;
};

/// Server hooks that decode compressed client updates (see the file comment).
struct decompressing_server_hooks {
  /// fedpp::server's decode_update hook: dense payloads pass through; compressed ones are
  /// decoded into `scratch`. Throws malformed_message for bad payloads (the server counts them).
  std::span<const float> decode_update(const wire::decoded_message& m, std::span<float> scratch) const {
    if (m.header().encoding == wire::payload_encoding::dense) return m.payload<float>();
    if (m.tag() != compressed_update_tag)
      throw malformed_message("compressed update: unknown raw payload tag");
    std::fill(scratch.begin(), scratch.end(), 0.0F);
    decode_accumulate(m.payload_bytes(), 1.0F, scratch);
    return scratch;
  }
};

/// Server hooks aggregating compressed uploads in their own domain (see the file comment).
template <class A>
requires aggregator<A> && std::same_as<typename A::input_type, compressed_update> &&
    std::same_as<typename A::result_type, flat_model<float>> &&
    std::constructible_from<A, const model_layout&>
class compressed_domain_server_hooks {
public:
  /// fedpp::server: a new round (drops what a failed round left).
  void begin_round(const std::vector<client_id>& /*recipients*/, std::uint64_t /*round*/) {
    aggregate_.reset();
  }

  /// fedpp::server: one accepted report, with the weight the server admitted for it (its weight
  /// policy applied: bounded or clipped). That weight is what the aggregator gets; the message's
  /// own weight is not used. Throws malformed_message (not a compressed update of this round and
  /// model) or rejected_update (the aggregator's refusal); state unchanged then.
  void absorb_update(const wire::decoded_message& m, double weight, const model_layout& layout,
                     std::uint64_t round) {
    compressed_update u = read_compressed_update(m, layout, round);
    u.weight = weight;
    if (!aggregate_) aggregate_.emplace(layout);
    aggregate_->accumulate(u);
  }

  /// fedpp::server: the aggregator's result, or nothing when no report was absorbed or the
  /// result is not finite (the built-in aggregators' results always are; a custom A's may not be).
  [[nodiscard]] std::optional<flat_model<float>> finish_aggregate(const model_layout& /*layout*/,
                                                                  std::uint64_t /*round*/) {
    if (!aggregate_ || !aggregate_->can_report()) return std::nullopt;
    std::optional<flat_model<float>> out(std::move(*aggregate_).report());
    aggregate_.reset();
    if (kernels::find_non_finite(std::span<const float>(out->span())) != out->size()) return std::nullopt;
    return out;
  }

private:
  std::optional<A> aggregate_;
};

} // namespace fedpp::compression
