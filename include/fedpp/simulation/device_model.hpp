/// \file device_model.hpp
/// Simulated device heterogeneity: each client belongs to a device class with a compute speed,
/// log-normal compute-time jitter, exponential network delay, link bandwidth and a per-round
/// dropout probability. Every answer is a pure function of (seed, client, round), so the
/// orchestration can ask in any order and a run is reproducible.
///
/// Duration of one round for client k (seconds):
///   t = (epochs · n / speed) · J + D + bytes / bandwidth,
///   J ~ LogNormal(−σ²/2, σ) (mean 1), D ~ Exponential(mean = network_delay_mean_s),
/// in the spirit of the system-heterogeneity simulations of Li et al. 2020 (FedProx) and
/// Lai et al. 2021 (FedScale).
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/random/distributions.hpp"
#include "fedpp/random/rng.hpp"

#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace fedpp::simulation {

/// One kind of device.
struct device_class {
  std::string name;                        ///< e.g. "fast", for reports
  double share = 1;                        ///< relative frequency of this class among clients (> 0)
  double examples_per_second = 1000;       ///< training throughput (> 0)
  double compute_jitter_sigma = 0.25;      ///< σ of the log-normal compute-time factor (≥ 0; 0 = none)
  double network_delay_mean_s = 0.1;       ///< mean of the exponential network delay, seconds (≥ 0)
  double bandwidth_bytes_per_second = 1e7; ///< link speed for payload bytes (> 0)
  double dropout_probability = 0;          ///< chance to drop out of any one round, in [0, 1]
};

/// Assigns device classes to clients and simulates their round durations and dropouts.
class device_model {
public:
  /// Throws invalid_config for no classes or a parameter out of its range (the message names
  /// the class and the value).
  device_model(std::vector<device_class> classes, std::uint64_t seed)
      : classes_(std::move(classes)), seed_(seed) {
    if (classes_.empty()) throw invalid_config("device_model: needs at least one device class");
    double total = 0;
    for (const auto& c : classes_) {
      const std::string who = "device_model: class '" + c.name + "': ";
      if (!(c.share > 0) || !std::isfinite(c.share))
        throw invalid_config(who + "share must be finite and > 0, got " + std::to_string(c.share));
      if (!(c.examples_per_second > 0) || !std::isfinite(c.examples_per_second))
        throw invalid_config(who + "examples_per_second must be finite and > 0, got " +
                             std::to_string(c.examples_per_second));
      if (!(c.compute_jitter_sigma >= 0) || !std::isfinite(c.compute_jitter_sigma))
        throw invalid_config(who + "compute_jitter_sigma must be finite and ≥ 0, got " +
                             std::to_string(c.compute_jitter_sigma));
      if (!(c.network_delay_mean_s >= 0) || !std::isfinite(c.network_delay_mean_s))
        throw invalid_config(who + "network_delay_mean_s must be finite and ≥ 0, got " +
                             std::to_string(c.network_delay_mean_s));
      if (!(c.bandwidth_bytes_per_second > 0) || std::isnan(c.bandwidth_bytes_per_second))
        throw invalid_config(who + "bandwidth_bytes_per_second must be > 0, got " +
                             std::to_string(c.bandwidth_bytes_per_second));
      if (!(c.dropout_probability >= 0 && c.dropout_probability <= 1))
        throw invalid_config(who + "dropout_probability must be in [0, 1], got " +
                             std::to_string(c.dropout_probability));
      total += c.share;
    }
    double running = 0;
    for (const auto& c : classes_) cumulative_.push_back(running += c.share / total);
    cumulative_.back() = 1.0;
  }

  /// Three classes loosely after phone tiers: fast (20%, 2000 ex/s, 1% dropout), mid (50%,
  /// 800 ex/s, 3%), slow (30%, 250 ex/s, 8%), with jitter σ 0.2–0.4 and 50–300 ms network delay.
  [[nodiscard]] static std::vector<device_class> default_classes() {
    return {{"fast", 0.2, 2000, 0.2, 0.05, 5e7, 0.01},
            {"mid", 0.5, 800, 0.3, 0.1, 1e7, 0.03},
            {"slow", 0.3, 250, 0.4, 0.3, 2e6, 0.08}};
  }

  /// Index into classes() of the client's device class (fixed for the client; drawn with
  /// probability ∝ share).
  [[nodiscard]] std::size_t class_index(client_id client) const noexcept {
    rng gen = stream(client, 0, 0);
    const double u = gen.uniform();
    std::size_t k = 0;
    while (k + 1 < cumulative_.size() && u >= cumulative_[k]) ++k;
    return k;
  }
  /// The client's device class.
  [[nodiscard]] const device_class& class_of(client_id client) const noexcept {
    return classes_[class_index(client)];
  }
  [[nodiscard]] const std::vector<device_class>& classes() const noexcept { return classes_; }
  [[nodiscard]] std::uint64_t seed() const noexcept { return seed_; }

  /// Simulated wall time for the client to train `epochs` passes over `num_examples` examples
  /// in `round` and move `payload_bytes` over its link (see the formula in the file comment).
  [[nodiscard]] std::chrono::duration<double> simulated_duration(client_id client, std::uint64_t round,
                                                                 std::size_t num_examples,
                                                                 std::uint32_t epochs,
                                                                 std::size_t payload_bytes = 0) const {
    const auto& c = class_of(client);
    rng gen = stream(client, round, 1);
    const double sigma = c.compute_jitter_sigma;
    const double jitter = sigma > 0 ? random::lognormal(gen, -0.5 * sigma * sigma, sigma) : 1.0;
    const double delay =
        c.network_delay_mean_s > 0 ? random::exponential(gen, 1.0 / c.network_delay_mean_s) : 0.0;
    const double compute =
        static_cast<double>(epochs) * static_cast<double>(num_examples) / c.examples_per_second;
    return std::chrono::duration<double>(compute * jitter + delay +
                                         static_cast<double>(payload_bytes) / c.bandwidth_bytes_per_second);
  }

  /// Whether the client drops out of `round` (independently per round, with its class's
  /// dropout probability).
  [[nodiscard]] bool drops_out(client_id client, std::uint64_t round) const noexcept {
    rng gen = stream(client, round, 2);
    return gen.uniform() < class_of(client).dropout_probability;
  }

private:
  /// Independent stream per (client, round, purpose).
  [[nodiscard]] rng stream(client_id client, std::uint64_t round, std::uint64_t purpose) const noexcept {
    std::uint64_t s = round * 4 + purpose;
    return rng::for_stream(seed_, splitmix64(s) ^ client);
  }

  std::vector<device_class> classes_;
  std::vector<double> cumulative_;
  std::uint64_t seed_;
};

} // namespace fedpp::simulation
