/// \file breast_cancer_csv.hpp
/// Loader for the breast cancer Wisconsin (diagnostic) data (Street, Wolberg & Mangasarian 1993;
/// UCI) as the CSV file scikit-learn ships (Debian 12: python3-sklearn installs it as
/// /usr/lib/python3/dist-packages/sklearn/datasets/data/breast_cancer.csv): a first line
/// "n_samples,n_features,<class name 0>,<class name 1>" (569,30,malignant,benign), then one line
/// per sample with its 30 real features and an integer label (0 = malignant, 1 = benign). The
/// loader checks every field against the header before trusting it.
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/simulation/fashion_mnist.hpp"

#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace fedpp::simulation {

/// Where Debian's python3-sklearn installs the file.
inline constexpr const char* breast_cancer_default_csv =
    "/usr/lib/python3/dist-packages/sklearn/datasets/data/breast_cancer.csv";
/// Environment variable that overrides the default path.
inline constexpr const char* breast_cancer_csv_env = "FEDPP_BREAST_CANCER_CSV";

/// The data as read: row-major features (rows × features), labels in [0, class_names.size()).
struct breast_cancer_data {
  std::size_t rows = 0;                 ///< samples (569)
  std::size_t features = 0;             ///< features per sample (30)
  std::vector<double> x;                ///< rows × features, row-major
  std::vector<int> labels;              ///< one per row: 0 = malignant, 1 = benign
  std::vector<std::string> class_names; ///< from the header: {"malignant", "benign"}
};

/// The file to read: `path` when not empty, else $FEDPP_BREAST_CANCER_CSV when set and non-empty,
/// else breast_cancer_default_csv. Throws dataset_not_found when it does not exist.
[[nodiscard]] inline std::filesystem::path breast_cancer_csv_path(const std::filesystem::path& path = {}) {
  std::filesystem::path p = path;
  if (p.empty()) {
    const char* env = std::getenv(breast_cancer_csv_env);
    p = env != nullptr && *env != '\0' ? std::filesystem::path(env)
                                       : std::filesystem::path(breast_cancer_default_csv);
  }
  std::error_code ec;
  if (!std::filesystem::is_regular_file(p, ec))
    throw dataset_not_found("breast cancer CSV not found at " + p.string() +
                            ": install Debian's python3-sklearn (scripts/install-deps.sh) or set " +
                            breast_cancer_csv_env + " to the file");
  return p;
}

namespace detail {
inline std::vector<std::string_view> split_csv_line(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t comma = line.find(',', start);
    out.push_back(
        line.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}
} // namespace detail

/// Parses the CSV text. Throws malformed_message (naming the line) unless: the header holds two
/// counts (1..10^6 samples, 1..10^4 features) and at least two non-empty class names; every
/// following line holds exactly features + 1 fields, finite reals then an integer label below the
/// number of class names; the number of sample lines equals the header's count (blank lines only
/// at the end).
[[nodiscard]] inline breast_cancer_data parse_breast_cancer_csv(std::string_view text) {
  auto fail = [](std::size_t line, const std::string& why) -> void {
    throw malformed_message("breast cancer CSV line " + std::to_string(line) + ": " + why);
  };
  auto read_count = [&](std::string_view f, std::size_t line, std::size_t max, const char* what) {
    std::size_t v = 0;
    const auto [end, ec] = std::from_chars(f.data(), f.data() + f.size(), v);
    if (f.empty() || ec != std::errc() || end != f.data() + f.size() || v == 0 || v > max)
      fail(line, std::string(what) + " '" + std::string(f) + "' is not an integer in [1, " +
                     std::to_string(max) + "]");
    return v;
  };
  breast_cancer_data out;
  std::size_t line_no = 0;
  std::size_t pos = 0;
  bool blank_seen = false;
  while (pos < text.size()) {
    std::size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = text.substr(pos, eol - pos);
    pos = eol + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) {
      blank_seen = true;
      continue;
    }
    if (blank_seen) fail(line_no, "data after a blank line");
    const auto fields = detail::split_csv_line(line);
    if (line_no == 1) {
      if (fields.size() < 4) fail(1, "the header needs n_samples, n_features and at least two class names");
      out.rows = read_count(fields[0], 1, 1000000, "n_samples");
      out.features = read_count(fields[1], 1, 10000, "n_features");
      for (std::size_t i = 2; i < fields.size(); ++i) {
        if (fields[i].empty()) fail(1, "an empty class name");
        out.class_names.emplace_back(fields[i]);
      }
      out.x.reserve(out.rows * out.features);
      out.labels.reserve(out.rows);
      continue;
    }
    if (out.labels.size() == out.rows)
      fail(line_no, "more sample lines than the header's " + std::to_string(out.rows));
    if (fields.size() != out.features + 1)
      fail(line_no, std::to_string(fields.size()) + " fields, expected " + std::to_string(out.features + 1));
    for (std::size_t j = 0; j < out.features; ++j) {
      const std::string_view f = fields[j];
      double v = 0;
      const auto [end, ec] = std::from_chars(f.data(), f.data() + f.size(), v);
      if (f.empty() || ec != std::errc() || end != f.data() + f.size() || !std::isfinite(v))
        fail(line_no, "feature " + std::to_string(j) + " '" + std::string(f) + "' is not a finite number");
      out.x.push_back(v);
    }
    const std::string_view lf = fields[out.features];
    int label = -1;
    const auto [end, ec] = std::from_chars(lf.data(), lf.data() + lf.size(), label);
    if (lf.empty() || ec != std::errc() || end != lf.data() + lf.size() || label < 0 ||
        static_cast<std::size_t>(label) >= out.class_names.size())
      fail(line_no, "label '" + std::string(lf) + "' is not an integer in [0, " +
                        std::to_string(out.class_names.size()) + ")");
    out.labels.push_back(label);
  }
  if (line_no == 0) throw malformed_message("breast cancer CSV is empty");
  if (out.labels.size() != out.rows)
    throw malformed_message("breast cancer CSV holds " + std::to_string(out.labels.size()) +
                            " sample lines, the header says " + std::to_string(out.rows));
  return out;
}

/// Reads and parses the file of breast_cancer_csv_path(path) (at most 64 MiB).
[[nodiscard]] inline breast_cancer_data load_breast_cancer_csv(const std::filesystem::path& path = {}) {
  const auto p = breast_cancer_csv_path(path);
  std::ifstream in(p, std::ios::binary);
  if (!in) throw dataset_not_found("cannot open " + p.string());
  std::string text;
  constexpr std::size_t max_bytes = std::size_t{64} << 20;
  char buf[65536];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    text.append(buf, static_cast<std::size_t>(in.gcount()));
    if (text.size() > max_bytes) throw malformed_message(p.string() + " is larger than 64 MiB");
  }
  return parse_breast_cancer_csv(text);
}

} // namespace fedpp::simulation
