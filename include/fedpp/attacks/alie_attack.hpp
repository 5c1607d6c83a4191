/// \file alie_attack.hpp
/// "A Little Is Enough" (Baruch, Baruch & Goldberg 2019, NeurIPS, §3): colluding attackers
/// upload, per coordinate j, μ_j − z·σ_j, where μ and σ are the mean and standard deviation of
/// benign updates and z is the largest shift that still keeps the attackers inside the crowd a
/// majority-based defence trusts:
///     s = ⌊n/2 + 1⌋ − f,   z = Φ⁻¹((n − s) / n)
/// for n clients per round of which f attack (Φ the standard normal CDF).
///
/// The oracle (simulation only): attackers collude and estimate μ, σ from honest training on
/// the data they control, as in the paper — each attacker client's honest update, computed by
/// the wrapped trainer from the round's global model. The estimate is computed once per round
/// (cached; thread-safe: client hosts on several threads share it) and is deterministic when
/// the wrapped trainer is. σ is the population standard deviation (divide by the count).
#pragma once

#include "fedpp/attacks/attacker_set.hpp"
#include "fedpp/client/client_result.hpp"
#include "fedpp/client/round_config.hpp"
#include "fedpp/error.hpp"
#include "fedpp/tensor/flat_model.hpp"
#include "fedpp/tensor/model_view.hpp"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace fedpp::attacks {

/// Φ⁻¹(p) for p in (0, 1), by bisection on Φ(x) = erfc(−x/√2)/2 (to about 1e-15).
[[nodiscard]] inline double inverse_normal_cdf(double p) {
  if (!(p > 0 && p < 1))
    throw invalid_config("inverse_normal_cdf: p must be in (0, 1), got " + std::to_string(p));
  double lo = -40, hi = 40;
  for (int i = 0; i < 200 && hi - lo > 1e-16; ++i) {
    const double mid = 0.5 * (lo + hi);
    (0.5 * std::erfc(-mid / std::sqrt(2.0)) < p ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

/// Baruch et al.'s z for n clients per round, f of them attackers (needs 0 < f < n and
/// s = ⌊n/2 + 1⌋ − f with 0 < (n − s)/n < 1).
[[nodiscard]] inline double alie_z(std::size_t n, std::size_t f) {
  const auto s = static_cast<long long>(n / 2 + 1) - static_cast<long long>(f);
  const double p = (static_cast<double>(n) - static_cast<double>(s)) / static_cast<double>(n);
  if (n == 0 || f == 0 || f >= n || !(p > 0 && p < 1))
    throw invalid_config(
        "alie_z: needs 0 < f < n and 0 < (n - s)/n < 1 with s = floor(n/2 + 1) - f; got n = " +
        std::to_string(n) + ", f = " + std::to_string(f) + ", s = " + std::to_string(s));
  return inverse_normal_cdf(p);
}

/// μ − z·σ per coordinate of a set of updates (the ALIE payload); `updates` not empty, equal sizes.
template <class T>
[[nodiscard]] std::vector<T> alie_payload(const std::vector<std::vector<double>>& updates, double z) {
  if (updates.empty()) throw invalid_config("alie_payload: no benign updates to estimate from");
  const std::size_t dim = updates.front().size();
  std::vector<T> out(dim);
  const auto n = static_cast<double>(updates.size());
  for (std::size_t d = 0; d < dim; ++d) {
    double mean = 0;
    for (const auto& u : updates) mean += u[d];
    mean /= n;
    double var = 0;
    for (const auto& u : updates) var += (u[d] - mean) * (u[d] - mean);
    out[d] = static_cast<T>(mean - z * std::sqrt(var / n));
  }
  return out;
}

/// An explicitly chosen ALIE shift (in standard deviations), for studying the attack beyond
/// Baruch et al.'s z: a larger z moves the mean further but leaves the honest crowd.
struct alie_shift {
  double z;
};

/// Trainer wrapper: honest clients train with `Trainer`; attackers return the ALIE delta (their
/// weight: the estimators' mean number of examples).
template <element_type T, class Trainer>
requires client_trainer<Trainer, T>
class alie_trainer {
public:
  /// `n`, `f`: clients per round and attackers among them (for z); the attackers' own honest
  /// updates estimate μ and σ (at most `max_estimators` of them, the lowest ids).
  alie_trainer(Trainer honest, attacker_set attackers, std::size_t n, std::size_t f,
               std::size_t max_estimators = 8)
      : alie_trainer(std::move(honest), std::move(attackers), alie_shift{alie_z(n, f)}, max_estimators) {}

  /// The same attack with a chosen z (finite; the paper's is alie_z(n, f)).
  alie_trainer(Trainer honest, attacker_set attackers, alie_shift shift, std::size_t max_estimators = 8)
      : honest_(std::move(honest)), attackers_(std::move(attackers)), z_(shift.z),
        shared_(std::make_shared<cache>()) {
    if (!std::isfinite(z_)) throw invalid_config("alie_trainer: z must be finite, got " + std::to_string(z_));
    const auto& m = attackers_.members();
    estimators_.assign(m.begin(),
                       m.begin() + static_cast<std::ptrdiff_t>(std::min(max_estimators, m.size())));
    if (estimators_.size() < 2)
      throw invalid_config("alie_trainer: needs at least 2 colluding attackers to estimate sigma, got " +
                           std::to_string(estimators_.size()));
  }

  /// z of this attack.
  [[nodiscard]] double z() const noexcept { return z_; }

  client_result<T> operator()(client_id id, const host_model_view<const T>& global,
                              const round_config& config) {
    if (!attackers_.contains(id)) return honest_(id, global, config);
    double examples = 1;
    const auto payload = shared_payload(global, config, examples);
    flat_model<T> delta(global_layout(global));
    for (std::size_t i = 0; i < payload.size(); ++i) delta.span()[i] = payload[i];
    return {std::move(delta), update_kind::delta, examples, {}};
  }

private:
  struct cache {
    std::mutex lock;
    std::optional<std::uint64_t> round;
    std::vector<T> payload;
    double examples = 1;
  };

  static model_layout global_layout(const host_model_view<const T>& global) {
    model_layout layout;
    for (const auto& t : global.tensors()) layout.add(t.name, t.view.shape(), dtype_of<T>);
    return layout;
  }

  std::vector<T> shared_payload(const host_model_view<const T>& global, const round_config& config,
                                double& examples_out) {
    std::lock_guard guard(shared_->lock);
    if (shared_->round != config.round) {
      std::vector<std::vector<double>> honest;
      double examples = 0;
      for (client_id e : estimators_) {
        client_result<T> r = honest_(e, global, config);
        std::vector<double> delta(r.model.size());
        std::size_t offset = 0;
        for (const auto& t : global.tensors())
          for (const T v : t.view.span()) {
            const double g = static_cast<double>(v);
            const double w = static_cast<double>(r.model.span()[offset]);
            delta[offset++] = r.kind == update_kind::weights ? w - g : w;
          }
        honest.push_back(std::move(delta));
        examples += r.num_examples;
      }
      shared_->payload = alie_payload<T>(honest, z_);
      shared_->round = config.round;
      shared_->examples = examples / static_cast<double>(estimators_.size());
    }
    examples_out = shared_->examples;
    return shared_->payload;
  }

  Trainer honest_;
  attacker_set attackers_;
  double z_;
  std::vector<client_id> estimators_;
  std::shared_ptr<cache> shared_;
};

} // namespace fedpp::attacks
