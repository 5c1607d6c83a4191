/// \file backdoor.hpp
/// Backdoor poisoning with a pixel-pattern trigger (Gu, Dolan-Gavitt & Garg 2017, "BadNets";
/// in federated learning Bagdasaryan et al. 2020, "How To Backdoor Federated Learning", whose
/// baseline is data poisoning by a fraction of clients): the attacking clients stamp a small
/// pattern on some of their images and relabel them to a target class; a backdoored model
/// predicts the target for any stamped image while keeping its clean accuracy.
///
/// The attack success rate is measured as in those papers: the fraction of test images whose
/// true class is not the target that the model classifies as the target once stamped.
#pragma once

#include "fedpp/error.hpp"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace fedpp::audit {

/// A square pattern near the bottom-right corner of a row-major grey image.
struct pixel_trigger {
  std::size_t image_width = 28;  ///< pixels per row
  std::size_t image_height = 28; ///< rows
  std::size_t size = 4;          ///< side of the square patch
  std::size_t margin = 1;        ///< pixels between the patch and the right and bottom edges
  double value = 1.0;            ///< intensity of the "on" pixels (pixels are in [0, 1])
  bool checkerboard = true;      ///< on/off alternating (else every patch pixel is on)

  /// Throws invalid_config when the patch does not fit the image, a size is 0, or value is not
  /// finite.
  void validate() const {
    if (image_width == 0 || image_height == 0 || size == 0 || size + margin > image_width ||
        size + margin > image_height || !std::isfinite(value))
      throw invalid_config("pixel_trigger: a " + std::to_string(size) + "-pixel patch with margin " +
                           std::to_string(margin) + " and value " + std::to_string(value) +
                           " does not fit a " + std::to_string(image_width) + "x" +
                           std::to_string(image_height) + " image");
  }

  /// Whether pixel (row, col) is one of the patch's "on" pixels.
  [[nodiscard]] bool is_on(std::size_t row, std::size_t col) const noexcept {
    const std::size_t top = image_height - margin - size, left = image_width - margin - size;
    if (row < top || row >= top + size || col < left || col >= left + size) return false;
    return !checkerboard || ((row - top) + (col - left)) % 2 == 0;
  }

  /// Stamps the pattern on `image` (width × height values): "on" pixels become `value`, the
  /// patch's other pixels 0. Throws invalid_config when the image has the wrong size.
  template <class T>
  void apply(std::span<T> image) const {
    validate();
    if (image.size() != image_width * image_height)
      throw invalid_config("pixel_trigger::apply: an image of " + std::to_string(image.size()) +
                           " pixels, expected " + std::to_string(image_width) + "x" +
                           std::to_string(image_height));
    const std::size_t top = image_height - margin - size, left = image_width - margin - size;
    for (std::size_t r = top; r < top + size; ++r)
      for (std::size_t c = left; c < left + size; ++c)
        image[r * image_width + c] = is_on(r, c) ? static_cast<T>(value) : T(0);
  }
};

/// Poisons examples `which` of a row-major feature matrix (n × width·height) and its labels:
/// stamps the trigger and sets the label to `target`. Throws invalid_config (nothing changed) for
/// sizes that disagree or an index ≥ n.
template <class T>
void poison_examples(std::span<T> features, std::span<std::uint8_t> labels,
                     std::span<const std::size_t> which, const pixel_trigger& trigger, std::uint8_t target) {
  trigger.validate();
  const std::size_t d = trigger.image_width * trigger.image_height;
  if (features.size() != labels.size() * d)
    throw invalid_config("poison_examples: " + std::to_string(features.size()) + " feature values for " +
                         std::to_string(labels.size()) + " images of " + std::to_string(d) + " pixels");
  for (std::size_t i : which)
    if (i >= labels.size())
      throw invalid_config("poison_examples: example " + std::to_string(i) + " of " +
                           std::to_string(labels.size()));
  for (std::size_t i : which) {
    trigger.apply(features.subspan(i * d, d));
    labels[i] = target;
  }
}

/// Attack success rate: among the examples whose true label is not `target`, the fraction whose
/// prediction (on the stamped image) is `target`. Throws invalid_config for sizes that differ or
/// when every example is of the target class.
[[nodiscard]] inline double attack_success_rate(std::span<const std::size_t> predictions,
                                                std::span<const std::uint8_t> true_labels,
                                                std::size_t target) {
  if (predictions.size() != true_labels.size())
    throw invalid_config("attack_success_rate: " + std::to_string(predictions.size()) + " predictions for " +
                         std::to_string(true_labels.size()) + " labels");
  std::size_t eligible = 0, hits = 0;
  for (std::size_t i = 0; i < predictions.size(); ++i) {
    if (true_labels[i] == target) continue;
    ++eligible;
    hits += predictions[i] == target;
  }
  if (eligible == 0) throw invalid_config("attack_success_rate: every example is of the target class");
  return static_cast<double>(hits) / static_cast<double>(eligible);
}

} // namespace fedpp::audit
