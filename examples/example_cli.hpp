// The examples' command lines: CLI11 (Debian's libcli11-dev) with every value checked.
//
// Each example builds one `example_cli::command_line`, registers its flags through the helpers
// below (counts, reals in a stated range, choices, lists, text, switches), and calls parse():
//
// - `--help` shows every flag with the default the example actually runs with: the helpers read
//   the default from the bound field when the flag is registered, so help and behaviour share one
//   constant;
// - a flag given twice is refused (MultiOptionPolicy::Throw), as is a flag without its value, an
//   unknown flag or a stray argument;
// - integers are read exactly: decimal digits only, no sign, no wrap-around ("4294967296" for a
//   32-bit field is refused, not read as 0; "-1" is refused, not read as the largest value);
// - reals must be finite numbers (never NaN or ±inf) inside the flag's stated interval;
// - checks that involve several flags run after all flags are read (`check`);
// - every refusal prints one line naming the flag, the value and what is allowed on stderr, and
//   parse() hands back a non-zero exit status before the example has done any work.
//
// `guarded` is the examples' top level: any exception (fedpp::error from the library, or another
// std::exception) becomes "error: <message>" on stderr and exit status 1.
#pragma once

#include "fedpp/error.hpp"

#include <CLI/CLI.hpp>

#include <charconv>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <limits>
#include <optional>
#include <ostream>
#include <sstream>
#include <streambuf>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace example_cli {

/// An interval of allowed real values; either end may be open or infinite. NaN and ±inf are
/// never allowed, whatever the interval.
struct interval {
  double low = -std::numeric_limits<double>::infinity();
  double high = std::numeric_limits<double>::infinity();
  bool low_open = true;
  bool high_open = true;

  [[nodiscard]] bool contains(double v) const noexcept {
    return (low_open ? v > low : v >= low) && (high_open ? v < high : v <= high);
  }
  [[nodiscard]] std::string describe() const;
};

/// The intervals the examples use.
namespace within {
inline constexpr double inf = std::numeric_limits<double>::infinity();
inline constexpr interval finite{-inf, inf, true, true};     ///< any finite number
inline constexpr interval positive{0, inf, true, true};      ///< > 0
inline constexpr interval non_negative{0, inf, false, true}; ///< ≥ 0
inline constexpr interval probability{0, 1, false, false};   ///< [0, 1]
inline constexpr interval unit_open_low{0, 1, true, false};  ///< (0, 1]
inline constexpr interval unit_open_high{0, 1, false, true}; ///< [0, 1)
inline constexpr interval unit_open{0, 1, true, true};       ///< (0, 1)
inline constexpr interval below_half{0, 0.5, false, true};   ///< [0, 0.5)
/// [low, high], both ends included.
[[nodiscard]] constexpr interval closed(double low, double high) { return {low, high, false, false}; }
} // namespace within

/// A number as the help and the messages show it ("0.995", "1e-05", "inf").
[[nodiscard]] inline std::string format_real(double v) {
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char text[32];
  std::snprintf(text, sizeof text, "%g", v);
  return text;
}

inline std::string interval::describe() const {
  return (low_open ? "(" : "[") + format_real(low) + ", " + format_real(high) + (high_open ? ")" : "]");
}

/// A refusal: CLI11's ValidationError, whose message is "<flag>: <why>".
[[noreturn]] inline void refuse(const std::string& flag, const std::string& why) {
  throw CLI::ValidationError(flag, why);
}

/// `text` as an unsigned integer in [min, max], read exactly (decimal digits only); refuses
/// anything else naming `flag`.
template <std::unsigned_integral T>
[[nodiscard]] T parse_unsigned(const std::string& flag, const std::string& text, T min, T max) {
  std::uintmax_t v = 0;
  const char* const end = text.data() + text.size();
  const auto [stop, ec] = std::from_chars(text.data(), end, v, 10);
  const std::string allowed = "an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "]";
  if (text.empty() || ec == std::errc::invalid_argument || stop != end)
    refuse(flag, "'" + text + "' is not a whole number (decimal digits only); expected " + allowed);
  if (ec == std::errc::result_out_of_range || v < min || v > max)
    refuse(flag, text + " is out of range; expected " + allowed);
  return static_cast<T>(v);
}

/// `text` as a finite real inside `range`, rounded correctly (std::from_chars: decimal or
/// scientific notation, no leading '+', spaces or hexadecimal, nothing after the number);
/// refuses anything else naming `flag`.
template <std::floating_point T>
[[nodiscard]] T parse_real(const std::string& flag, const std::string& text, const interval& range) {
  T v = 0;
  const char* const end = text.data() + text.size();
  const auto [stop, ec] = std::from_chars(text.data(), end, v);
  if (text.empty() || ec == std::errc::invalid_argument || stop != end)
    refuse(flag, "'" + text + "' is not a number; expected a finite number in " + range.describe());
  if (ec == std::errc::result_out_of_range)
    refuse(flag, text + " is out of the range of a " + (sizeof(T) == sizeof(float) ? "float" : "double"));
  if (std::isnan(v)) refuse(flag, "NaN is not allowed; expected a finite number in " + range.describe());
  if (!std::isfinite(v))
    refuse(flag, text + " is not finite; expected a finite number in " + range.describe());
  if (!range.contains(static_cast<double>(v))) refuse(flag, text + " is outside " + range.describe());
  return v;
}

/// One example's command line. The registered fields must outlive parse().
class command_line {
public:
  /// `description` heads `--help`.
  explicit command_line(std::string description) : app_(std::move(description)) {
    app_.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::Throw);
  }

  /// The CLI11 application, for anything the helpers do not cover.
  [[nodiscard]] CLI::App& app() noexcept { return app_; }

  /// An unsigned integer flag in [min, max] (counts start at 1 where 0 means nothing).
  template <std::unsigned_integral T>
  CLI::Option* count(const std::string& flag, T& field, const std::string& help, T min = 1,
                     T max = std::numeric_limits<T>::max()) {
    auto* opt = app_.add_option_function<std::string>(
        flag,
        [flag, &field, min, max](const std::string& text) { field = parse_unsigned(flag, text, min, max); },
        help + (max != std::numeric_limits<T>::max()
                    ? " (" + std::to_string(min) + ".." + std::to_string(max) + ")"
                : min > 0 ? " (>= " + std::to_string(min) + ")"
                          : std::string()));
    return settle(opt->type_name("UINT")->default_str(std::to_string(field)));
  }

  /// A real flag: a finite number inside `range`.
  template <std::floating_point T>
  CLI::Option* real(const std::string& flag, T& field, const std::string& help, const interval& range) {
    auto* opt = app_.add_option_function<std::string>(
        flag, [flag, &field, range](const std::string& text) { field = parse_real<T>(flag, text, range); },
        help + " " + range.describe());
    return settle(opt->type_name("REAL")->default_str(format_real(static_cast<double>(field))));
  }

  /// One of `choices`.
  CLI::Option* choice(const std::string& flag, std::string& field, const std::string& help,
                      const std::vector<std::string>& choices) {
    auto* opt = app_.add_option_function<std::string>(
        flag,
        [flag, &field, choices](const std::string& text) {
          if (!is_one_of(text, choices)) refuse(flag, "'" + text + "' is not one of " + join(choices, "|"));
          field = text;
        },
        help);
    return settle(opt->type_name(join(choices, "|"))->default_str(field));
  }

  /// A comma-separated list of one or more of `choices` (order kept, no empty items).
  CLI::Option* list(const std::string& flag, std::vector<std::string>& field, const std::string& help,
                    const std::vector<std::string>& choices) {
    auto* opt = app_.add_option_function<std::string>(
        flag,
        [flag, &field, choices](const std::string& text) {
          std::vector<std::string> items;
          std::stringstream in(text);
          for (std::string item; std::getline(in, item, ',');) items.push_back(item);
          if (items.empty() || text.back() == ',')
            refuse(flag,
                   "'" + text + "' is not a comma-separated list of one or more of " + join(choices, ","));
          for (const auto& item : items)
            if (!is_one_of(item, choices))
              refuse(flag, "'" + item + "' (in '" + text + "') is not one of " + join(choices, ","));
          field = std::move(items);
        },
        help + " (from " + join(choices, ",") + ")");
    return settle(opt->type_name("LIST")->default_str(join(field, ",")));
  }

  /// Free text (a file or directory name); a value that starts with "--" is a forgotten value
  /// followed by the next flag, and is refused.
  CLI::Option* text(const std::string& flag, std::string& field, const std::string& help) {
    auto* opt = app_.add_option_function<std::string>(
        flag,
        [flag, &field](const std::string& value) {
          if (value.rfind("--", 0) == 0)
            refuse(flag, "'" + value + "' looks like a flag, not a value (the value is missing?)");
          field = value;
        },
        help);
    return settle(opt->type_name("TEXT")->default_str(field));
  }

  /// A switch without a value: sets `field` to `value`.
  CLI::Option* toggle(const std::string& flag, bool& field, bool value, const std::string& help) {
    auto* opt = app_.add_flag_callback(
        flag, [&field, value] { field = value; }, help);
    return settle(opt);
  }

  /// A check across flags, run after every flag is read; throw through refuse().
  void check(std::function<void()> rule) { checks_.push_back(std::move(rule)); }

  /// Reads argv. Returns nullopt when the example should run; otherwise the status main should
  /// return: 0 after --help (printed on stdout), non-zero after a refusal (one line on stderr).
  /// `print` = false keeps both quiet (MPI ranks other than 0).
  [[nodiscard]] std::optional<int> parse(int argc, const char* const* argv, bool print = true) {
    try {
      app_.parse(argc, argv);
      for (const auto& rule : checks_) rule();
      return std::nullopt;
    } catch (const CLI::ParseError& e) {
      discard sink;
      std::ostream none(&sink);
      const int status = print ? app_.exit(e) : app_.exit(e, none, none);
      return status;
    }
  }

private:
  /// A streambuf that drops everything.
  struct discard : std::streambuf {
    int overflow(int c) override { return c; }
  };

  static CLI::Option* settle(CLI::Option* opt) {
    return opt->multi_option_policy(CLI::MultiOptionPolicy::Throw);
  }
  static bool is_one_of(const std::string& s, const std::vector<std::string>& choices) {
    for (const auto& c : choices)
      if (s == c) return true;
    return false;
  }
  static std::string join(const std::vector<std::string>& items, const char* separator) {
    std::string out;
    for (const auto& item : items) out += (out.empty() ? "" : separator) + item;
    return out;
  }

  CLI::App app_;
  std::vector<std::function<void()>> checks_;
};

/// The examples' top level: runs `body` (returning the exit status); any exception becomes
/// "error: <message>" on stderr and status 1.
template <class Body>
int guarded(Body&& body) noexcept {
  try {
    return std::forward<Body>(body)();
  } catch (const fedpp::error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "error: unknown exception\n");
  }
  return 1;
}

} // namespace example_cli
