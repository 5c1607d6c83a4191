/// \file error_feedback.hpp
/// Error feedback around any lossy compressor (Seide et al. 2014; Stich et al. 2018; Karimireddy
/// et al. 2019, "Error Feedback Fixes SignSGD", Algorithm 2): each client keeps the residual e of
/// what compression dropped and adds it to its next update:
///   p = Δ + e;  payload = C(p);  sent = decode(payload);  e ← p − sent.
/// So sent + e_new = Δ + e_old (conservation, up to one float rounding per element), and nothing
/// the compressor drops is lost, only delayed. State: one D-vector per client, created on the
/// client's first update.
#pragma once

#include "fedpp/compression/compressor.hpp"
#include "fedpp/compression/decode.hpp"
#include "fedpp/error.hpp"

#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace fedpp::compression {

/// Wraps a compressor with per-client residuals (see the file comment).
template <compressor C>
class error_feedback {
public:
  explicit error_feedback(C inner) : inner_(std::move(inner)) {}

  [[nodiscard]] const C& inner() const noexcept { return inner_; }
  [[nodiscard]] static constexpr payload_scheme scheme() noexcept { return C::scheme(); }

  /// Compresses client `client`'s update plus its residual, appends the payload to `out`, and
  /// updates the residual. If `sent` is non-empty it receives the decoded upload. Strong
  /// guarantee: on a throw the residual and `out` are unchanged.
  void compress(client_id client, std::span<const float> delta, std::uint64_t seed,
                std::vector<std::byte>& out, std::span<float> sent = {}) {
    auto it = residuals_.find(client);
    const bool known = it != residuals_.end();
    if (known && it->second.size() != delta.size())
      throw invalid_config("error_feedback: client " + std::to_string(client) + " sent " +
                           std::to_string(delta.size()) + " elements, its residual has " +
                           std::to_string(it->second.size()));
    if (!sent.empty() && sent.size() != delta.size())
      throw invalid_config("error_feedback: the `sent` output has " + std::to_string(sent.size()) +
                           " elements, the update " + std::to_string(delta.size()));
    std::vector<float> p(delta.begin(), delta.end());
    if (known)
      for (std::size_t i = 0; i < p.size(); ++i) p[i] += it->second[i];
    const std::size_t start = out.size();
    inner_.compress(p, seed, out);
    std::vector<float> decoded(p.size(), 0.0F);
    try {
      decode_accumulate(std::span<const std::byte>(out).subspan(start), 1.0F, decoded);
    } catch (...) {
      out.resize(start);
      throw;
    }
    for (std::size_t i = 0; i < p.size(); ++i) p[i] -= decoded[i];
    if (!sent.empty()) std::copy(decoded.begin(), decoded.end(), sent.begin());
    residuals_[client] = std::move(p);
  }

  /// Client's residual (empty before its first update).
  [[nodiscard]] std::span<const float> residual(client_id client) const noexcept {
    const auto it = residuals_.find(client);
    return it == residuals_.end() ? std::span<const float>{} : std::span<const float>(it->second);
  }
  /// Forgets a client's residual (e.g. when it leaves the federation).
  void reset(client_id client) { residuals_.erase(client); }
  /// Clients with state.
  [[nodiscard]] std::size_t num_clients() const noexcept { return residuals_.size(); }

private:
  C inner_;
  std::map<client_id, std::vector<float>> residuals_;
};

} // namespace fedpp::compression
