/// \file csv_writer.hpp
/// Metrics as CSV (RFC 4180 quoting, LF line ends): a header of named columns, then one row per call, flushed
/// at once so a crashed or running job leaves a readable file.
#pragma once

#include "fedpp/error.hpp"

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <memory>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace fedpp::simulation {

/// One cell: an integer, a real (written in shortest round-trip form) or text.
using csv_value = std::variant<std::int64_t, std::uint64_t, double, std::string>;

/// Writes a CSV header and rows of named columns.
class csv_writer {
public:
  /// Creates (truncates) `path` and writes the header; throws invalid_config when the file
  /// cannot be opened, there are no columns, or a column name repeats.
  csv_writer(const std::filesystem::path& path, std::vector<std::string> columns)
      : file_(std::make_unique<std::ofstream>(path, std::ios::binary | std::ios::trunc)), out_(file_.get()),
        columns_(std::move(columns)) {
    if (!*file_) throw invalid_config("csv_writer: cannot open '" + path.string() + "' for writing");
    start();
  }

  /// Writes to a stream the caller keeps alive.
  csv_writer(std::ostream& out, std::vector<std::string> columns) : out_(&out), columns_(std::move(columns)) {
    start();
  }

  [[nodiscard]] const std::vector<std::string>& columns() const noexcept { return columns_; }
  /// Rows written so far (header excluded).
  [[nodiscard]] std::size_t num_rows() const noexcept { return rows_; }

  /// One row with a value per column, in column order; throws invalid_config for a count
  /// mismatch (nothing written).
  void write_row(std::span<const csv_value> values) {
    if (values.size() != columns_.size())
      throw invalid_config("csv_writer: row has " + std::to_string(values.size()) + " values for " +
                           std::to_string(columns_.size()) + " columns");
    std::string line;
    for (std::size_t i = 0; i < values.size(); ++i) {
      if (i != 0) line += ',';
      line += format(values[i]);
    }
    emit(line);
  }
  void write_row(std::initializer_list<csv_value> values) { write_row(std::span<const csv_value>(values)); }

  /// One row by column name; columns not named stay empty. Throws invalid_config for an
  /// unknown or repeated name (nothing written).
  void write_named(std::span<const std::pair<std::string, csv_value>> cells) {
    std::vector<const csv_value*> slot(columns_.size(), nullptr);
    for (const auto& [name, value] : cells) {
      const std::size_t i = column_index(name);
      if (slot[i] != nullptr)
        throw invalid_config("csv_writer: column '" + name + "' given twice in one row");
      slot[i] = &value;
    }
    std::string line;
    for (std::size_t i = 0; i < slot.size(); ++i) {
      if (i != 0) line += ',';
      if (slot[i] != nullptr) line += format(*slot[i]);
    }
    emit(line);
  }
  void write_named(std::initializer_list<std::pair<std::string, csv_value>> cells) {
    write_named(std::span<const std::pair<std::string, csv_value>>(cells.begin(), cells.size()));
  }

  /// A field quoted per RFC 4180 when it holds a comma, quote, CR or LF (quotes doubled) or
  /// starts/ends with a space; unchanged otherwise.
  [[nodiscard]] static std::string quote(std::string_view field) {
    bool needs = !field.empty() && (field.front() == ' ' || field.back() == ' ');
    for (char c : field) needs = needs || c == ',' || c == '"' || c == '\n' || c == '\r';
    if (!needs) return std::string(field);
    std::string out = "\"";
    for (char c : field) {
      if (c == '"') out += '"';
      out += c;
    }
    out += '"';
    return out;
  }

  /// The text of a cell (shortest round-trip form for reals, "nan"/"inf"/"-inf" as such).
  [[nodiscard]] static std::string format(const csv_value& value) {
    return std::visit(
        [](const auto& v) -> std::string {
          using V = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<V, std::string>) {
            return quote(v);
          } else {
            char buffer[64];
            const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, v);
            return ec == std::errc{} ? std::string(buffer, end) : std::string();
          }
        },
        value);
  }

private:
  void start() {
    if (columns_.empty()) throw invalid_config("csv_writer: needs at least one column");
    for (std::size_t i = 0; i < columns_.size(); ++i)
      for (std::size_t j = 0; j < i; ++j)
        if (columns_[i] == columns_[j])
          throw invalid_config("csv_writer: duplicate column '" + columns_[i] + "'");
    std::string header;
    for (std::size_t i = 0; i < columns_.size(); ++i) {
      if (i != 0) header += ',';
      header += quote(columns_[i]);
    }
    *out_ << header << "\n";
    out_->flush();
  }

  std::size_t column_index(const std::string& name) const {
    for (std::size_t i = 0; i < columns_.size(); ++i)
      if (columns_[i] == name) return i;
    throw invalid_config("csv_writer: unknown column '" + name + "'");
  }

  void emit(const std::string& line) {
    *out_ << line << "\n";
    out_->flush();
    ++rows_;
  }

  std::unique_ptr<std::ofstream> file_;
  std::ostream* out_;
  std::vector<std::string> columns_;
  std::size_t rows_ = 0;
};

} // namespace fedpp::simulation
