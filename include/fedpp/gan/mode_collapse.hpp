/// \file mode_collapse.hpp
/// Detecting a GAN's instabilities from what the training and a classifier can see:
///
///  - mode collapse: the generated samples cover few modes. Two measures, each against the same
///    measure on real data: the entropy of the histogram of a classifier's predicted classes on
///    the samples (the idea of the Inception Score's marginal term, Salimans et al. 2016: a GAN
///    that covers every class has a near-uniform marginal), and the mean pairwise distance
///    between samples (collapsed samples are close to each other);
///  - discriminator collapse / generator divergence: D's loss → 0 (D separates real from fake
///    perfectly, G's gradient vanishes under the saturating loss and grows erratic under the
///    non-saturating one) and G's loss growing without bound, over several rounds; any non-finite
///    loss at once.
///
/// At the GAN game's equilibrium D outputs ½ everywhere: L_D = 2 log 2 ≈ 1.386 and the
/// non-saturating L_G = log 2 ≈ 0.693 (Goodfellow et al. 2014, Sec. 4), so the defaults flag
/// L_D < 0.05 (D's mean confidence above ≈ 97.5 %) and L_G > 5 (σ(D(G(z))) ≈ e⁻⁵ < 1 %).
#pragma once

#include "fedpp/error.hpp"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace fedpp::gan {

/// Counts of each class among `predictions`. Throws invalid_config for num_classes 0 or a
/// prediction ≥ num_classes.
[[nodiscard]] inline std::vector<std::size_t> class_histogram(std::span<const std::uint8_t> predictions,
                                                              std::size_t num_classes) {
  if (num_classes == 0 || num_classes > 256)
    throw invalid_config("class_histogram: num_classes must be in [1, 256], got " +
                         std::to_string(num_classes));
  std::vector<std::size_t> counts(num_classes, 0);
  for (auto p : predictions) {
    if (p >= num_classes)
      throw invalid_config("class_histogram: prediction " + std::to_string(p) + " is not below " +
                           std::to_string(num_classes));
    ++counts[p];
  }
  return counts;
}

/// Shannon entropy (nats) of the empirical class distribution of `predictions`: between 0 (one
/// class) and log(num_classes) (uniform). Throws invalid_config like class_histogram, or for no
/// predictions.
[[nodiscard]] inline double class_entropy(std::span<const std::uint8_t> predictions,
                                          std::size_t num_classes) {
  if (predictions.empty()) throw invalid_config("class_entropy: no predictions");
  const auto counts = class_histogram(predictions, num_classes);
  const double n = static_cast<double>(predictions.size());
  double h = 0;
  for (std::size_t c : counts)
    if (c > 0) {
      const double p = static_cast<double>(c) / n;
      h -= p * std::log(p);
    }
  return h;
}

/// Mean Euclidean distance over all pairs of the rows of `samples` (row-major, rows × dim),
/// accumulated in double: O(rows² · dim). Throws invalid_config for dim 0, fewer than 2 rows, a
/// size that is not rows × dim, or a non-finite value.
template <class T>
[[nodiscard]] double mean_pairwise_distance(std::span<const T> samples, std::size_t dim) {
  if (dim == 0 || samples.size() % dim != 0 || samples.size() / dim < 2)
    throw invalid_config("mean_pairwise_distance: " + std::to_string(samples.size()) +
                         " values are not >= 2 rows of " + std::to_string(dim));
  for (std::size_t i = 0; i < samples.size(); ++i)
    if (!std::isfinite(static_cast<double>(samples[i])))
      throw invalid_config("mean_pairwise_distance: row " + std::to_string(i / dim) +
                           " holds a non-finite value");
  const std::size_t n = samples.size() / dim;
  double sum = 0;
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = i + 1; j < n; ++j) {
      double d2 = 0;
      for (std::size_t k = 0; k < dim; ++k) {
        const double d =
            static_cast<double>(samples[i * dim + k]) - static_cast<double>(samples[j * dim + k]);
        d2 += d * d;
      }
      sum += std::sqrt(d2);
    }
  return sum / (static_cast<double>(n) * static_cast<double>(n - 1) / 2);
}

/// Thresholds of assess_diversity: a ratio generated / real below its threshold flags collapse.
struct collapse_thresholds {
  /// Class-entropy ratio. 0.75 · log 10 ≈ log 5.6: fewer than about 6 of 10 classes used evenly.
  double min_entropy_ratio = 0.75;
  /// Mean-pairwise-distance ratio.
  double min_distance_ratio = 0.5;

  void validate() const {
    if (!(min_entropy_ratio >= 0 && min_entropy_ratio <= 1) ||
        !(min_distance_ratio >= 0 && min_distance_ratio <= 1))
      throw invalid_config("collapse_thresholds: ratios must be in [0, 1], got " +
                           std::to_string(min_entropy_ratio) + " and " + std::to_string(min_distance_ratio));
  }
};

/// The diversity of generated samples against real ones.
struct diversity_report {
  double fake_entropy = 0;         ///< class_entropy of the classifier's predictions on generated samples
  double real_entropy = 0;         ///< the same on real samples
  double entropy_ratio = 0;        ///< fake / real
  double fake_distance = 0;        ///< mean pairwise distance of generated samples
  double real_distance = 0;        ///< the same for real samples
  double distance_ratio = 0;       ///< fake / real
  std::size_t classes_covered = 0; ///< classes predicted for at least 1 % of the generated samples
  bool collapsed = false;          ///< a ratio below its threshold
  std::string reason;              ///< which, with the numbers; empty when not collapsed
};

/// Compares generated samples with real ones: predicted classes (`fake_predictions`,
/// `real_predictions`, below num_classes) and the samples themselves (rows × dim each; any
/// feature space, e.g. pixels). Throws invalid_config for empty or inconsistent inputs or
/// thresholds, or a real set of zero entropy or zero spread (nothing to compare with).
template <class T>
[[nodiscard]] diversity_report assess_diversity(std::span<const std::uint8_t> fake_predictions,
                                                std::span<const std::uint8_t> real_predictions,
                                                std::size_t num_classes, std::span<const T> fake_samples,
                                                std::span<const T> real_samples, std::size_t dim,
                                                const collapse_thresholds& thresholds = {}) {
  thresholds.validate();
  diversity_report r;
  r.fake_entropy = class_entropy(fake_predictions, num_classes);
  r.real_entropy = class_entropy(real_predictions, num_classes);
  r.fake_distance = mean_pairwise_distance(fake_samples, dim);
  r.real_distance = mean_pairwise_distance(real_samples, dim);
  if (!(r.real_entropy > 0) || !(r.real_distance > 0))
    throw invalid_config("assess_diversity: the real samples have zero entropy or spread (entropy " +
                         std::to_string(r.real_entropy) + ", distance " + std::to_string(r.real_distance) +
                         ")");
  r.entropy_ratio = r.fake_entropy / r.real_entropy;
  r.distance_ratio = r.fake_distance / r.real_distance;
  const auto counts = class_histogram(fake_predictions, num_classes);
  for (std::size_t c : counts)
    if (static_cast<double>(c) >= 0.01 * static_cast<double>(fake_predictions.size())) ++r.classes_covered;
  if (r.entropy_ratio < thresholds.min_entropy_ratio)
    r.reason = "class entropy " + std::to_string(r.fake_entropy) + " is " + std::to_string(r.entropy_ratio) +
               " of the real " + std::to_string(r.real_entropy) + " (" + std::to_string(r.classes_covered) +
               " classes covered)";
  if (r.distance_ratio < thresholds.min_distance_ratio)
    r.reason += std::string(r.reason.empty() ? "" : "; ") + "mean pairwise distance " +
                std::to_string(r.fake_distance) + " is " + std::to_string(r.distance_ratio) +
                " of the real " + std::to_string(r.real_distance);
  r.collapsed = !r.reason.empty();
  return r;
}

/// Thresholds of gan_instability_monitor (see the file comment).
struct instability_thresholds {
  double min_discriminator_loss = 0.05; ///< L_D below this: D wins
  double max_generator_loss = 5.0;      ///< L_G above this: G diverges
  std::size_t patience = 3;             ///< consecutive rounds before either is flagged

  void validate() const {
    if (!(min_discriminator_loss > 0 && std::isfinite(min_discriminator_loss)) ||
        !(max_generator_loss > 0 && std::isfinite(max_generator_loss)) || patience == 0)
      throw invalid_config("instability_thresholds: need finite losses > 0 and patience >= 1");
  }
};

/// What the monitor concluded after a round.
struct instability_verdict {
  bool discriminator_wins = false; ///< L_D < min for `patience` rounds in a row
  bool generator_diverges = false; ///< L_G > max for `patience` rounds in a row
  bool non_finite = false;         ///< a loss is NaN or infinite
  std::string message;             ///< empty when nothing is flagged

  [[nodiscard]] bool any() const noexcept { return discriminator_wins || generator_diverges || non_finite; }
};

/// Follows the losses round by round (the round's mean over clients or steps).
class gan_instability_monitor {
public:
  explicit gan_instability_monitor(instability_thresholds t = {}) : t_(t) { t_.validate(); }

  /// Records round `round`'s losses and says what is flagged now.
  instability_verdict observe(std::uint64_t round, double discriminator_loss, double generator_loss) {
    instability_verdict v;
    const std::string at = "round " + std::to_string(round) + ": ";
    if (!std::isfinite(discriminator_loss) || !std::isfinite(generator_loss)) {
      v.non_finite = true;
      v.message = at + "non-finite loss (L_D " + std::to_string(discriminator_loss) + ", L_G " +
                  std::to_string(generator_loss) + ")";
      low_d_ = high_g_ = 0;
    } else {
      low_d_ = discriminator_loss < t_.min_discriminator_loss ? low_d_ + 1 : 0;
      high_g_ = generator_loss > t_.max_generator_loss ? high_g_ + 1 : 0;
      if (low_d_ >= t_.patience) {
        v.discriminator_wins = true;
        v.message = at + "L_D " + std::to_string(discriminator_loss) + " < " +
                    std::to_string(t_.min_discriminator_loss) + " for " + std::to_string(low_d_) + " rounds";
      }
      if (high_g_ >= t_.patience) {
        v.generator_diverges = true;
        v.message += std::string(v.message.empty() ? at : "; ") + "L_G " + std::to_string(generator_loss) +
                     " > " + std::to_string(t_.max_generator_loss) + " for " + std::to_string(high_g_) +
                     " rounds";
      }
    }
    if (v.any()) flagged_.push_back(v.message);
    return v;
  }

  /// Every flagged round's message, in order.
  [[nodiscard]] const std::vector<std::string>& flagged() const noexcept { return flagged_; }

private:
  instability_thresholds t_;
  std::size_t low_d_ = 0, high_g_ = 0;
  std::vector<std::string> flagged_;
};

} // namespace fedpp::gan
