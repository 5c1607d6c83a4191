/// \file fashion_mnist.hpp
/// Loader for Fashion-MNIST (Xiao, Rasul & Vollgraf 2017): 60,000 training and 10,000 test
/// 28×28 grey images of 10 clothing classes, as shipped by Debian's `dataset-fashion-mnist`.
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/simulation/dataset.hpp"
#include "fedpp/simulation/idx_reader.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace fedpp::simulation {

/// A dataset's files are not where they were looked for; the message says how to get them.
class dataset_not_found : public invalid_config {
public:
  using invalid_config::invalid_config;
};

/// Where Debian's dataset-fashion-mnist package installs the files.
inline constexpr const char* fashion_mnist_default_directory = "/usr/share/datasets/fashion-mnist";
/// Environment variable that overrides the default directory.
inline constexpr const char* fashion_mnist_directory_env = "FEDPP_FASHION_MNIST_DIR";

/// The two splits of Fashion-MNIST: features are pixels / 255 in [0, 1], 784 per image.
struct fashion_mnist {
  dataset train; ///< 60,000 examples
  dataset test;  ///< 10,000 examples

  /// The class names, by label.
  static constexpr const char* class_names[10] = {"T-shirt/top", "Trouser",   "Pullover", "Dress",
                                                  "Coat",        "Sandal",    "Shirt",    "Sneaker",
                                                  "Bag",         "Ankle boot"};
};

/// The directory to read: `directory` when given, else $FEDPP_FASHION_MNIST_DIR when set and
/// non-empty, else /usr/share/datasets/fashion-mnist.
[[nodiscard]] inline std::filesystem::path
fashion_mnist_directory(const std::optional<std::filesystem::path>& directory = std::nullopt) {
  if (directory) return *directory;
  if (const char* env = std::getenv(fashion_mnist_directory_env); env != nullptr && *env != '\0') return env;
  return fashion_mnist_default_directory;
}

namespace detail {
/// `dir/name.gz`, else `dir/name` (uncompressed), else throws dataset_not_found.
inline std::filesystem::path find_idx_file(const std::filesystem::path& dir, const std::string& name) {
  std::error_code ec;
  for (const auto& candidate : {dir / (name + ".gz"), dir / name})
    if (std::filesystem::is_regular_file(candidate, ec)) return candidate;
  throw dataset_not_found(
      "Fashion-MNIST: '" + (dir / (name + ".gz")).string() +
      "' not found. Install the Debian package dataset-fashion-mnist "
      "(`apt-get install dataset-fashion-mnist`), or point " +
      fashion_mnist_directory_env + " (or the directory argument) at a folder holding " +
      "train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz " +
      "and t10k-labels-idx1-ubyte.gz");
}
} // namespace detail

/// Builds a dataset from an MNIST-format pair: u8 images [n, rows, cols] (or [n, d]) scaled by
/// 1/255 to [0, 1], and u8 labels [n]. Throws malformed_message when the files do not match
/// (type, rank, counts) and invalid_config when a label is ≥ num_classes.
[[nodiscard]] inline dataset load_idx_dataset(const std::filesystem::path& images_file,
                                              const std::filesystem::path& labels_file,
                                              std::size_t num_classes = 10) {
  const idx_array images = read_idx(images_file);
  const idx_array labels = read_idx(labels_file);
  if (images.type != idx_type::u8 || images.extents.size() < 2)
    throw malformed_message("IDX file '" + images_file.string() +
                            "': expected u8 images of rank ≥ 2, got type code " +
                            std::to_string(static_cast<unsigned>(images.type)) + " and rank " +
                            std::to_string(images.extents.size()));
  if (labels.type != idx_type::u8 || labels.extents.size() != 1)
    throw malformed_message("IDX file '" + labels_file.string() +
                            "': expected u8 labels of rank 1, got type code " +
                            std::to_string(static_cast<unsigned>(labels.type)) + " and rank " +
                            std::to_string(labels.extents.size()));
  const std::size_t n = images.extents[0];
  if (labels.extents[0] != n)
    throw malformed_message("IDX files '" + images_file.string() + "' and '" + labels_file.string() +
                            "': " + std::to_string(n) + " images but " + std::to_string(labels.extents[0]) +
                            " labels");
  const std::size_t d = n == 0 ? 1 : images.size() / n;
  std::vector<float> features(images.bytes.size());
  for (std::size_t i = 0; i < features.size(); ++i)
    features[i] = static_cast<float>(images.bytes[i]) * (1.0F / 255.0F);
  return dataset(std::move(features), labels.bytes, d, num_classes);
}

/// Loads both splits from `fashion_mnist_directory(directory)`. Throws dataset_not_found
/// (an invalid_config) telling to install the Debian package dataset-fashion-mnist when a file
/// is missing, malformed_message when a file is corrupt.
[[nodiscard]] inline fashion_mnist
load_fashion_mnist(const std::optional<std::filesystem::path>& directory = std::nullopt) {
  const auto dir = fashion_mnist_directory(directory);
  const auto train_images = detail::find_idx_file(dir, "train-images-idx3-ubyte");
  const auto train_labels = detail::find_idx_file(dir, "train-labels-idx1-ubyte");
  const auto test_images = detail::find_idx_file(dir, "t10k-images-idx3-ubyte");
  const auto test_labels = detail::find_idx_file(dir, "t10k-labels-idx1-ubyte");
  return {load_idx_dataset(train_images, train_labels), load_idx_dataset(test_images, test_labels)};
}

} // namespace fedpp::simulation
