/// \file format.hpp
/// Shortest round-trip text of a double for error messages (std::to_string prints 1e-9 as
/// "0.000000", which hides the value the message is about).
#pragma once

#include <array>
#include <charconv>
#include <string>

namespace fedpp::detail {

/// `value` in the shortest form that reads back exactly ("0.1", "1e-09", "nan", "inf").
[[nodiscard]] inline std::string format_number(double value) {
  std::array<char, 32> buffer{};
  const auto result = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value);
  return std::string(buffer.data(), result.ptr);
}

} // namespace fedpp::detail
