/// \file progress_bar.hpp
/// A one-line progress display for long simulations: "round i/n", a bar, elapsed time, ETA and
/// a message, redrawn in place. It draws only when its stream is a terminal, so logs and CI
/// output stay clean.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <iostream>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>

#if defined(_WIN32)
#include <io.h>
#else
#include <unistd.h>
#endif

namespace fedpp::simulation {

/// Progress over `total` steps (rounds).
class progress_bar {
public:
  /// Draws to `out`. `enabled` forces drawing on or off; by default it draws only when `out` is
  /// std::cout / std::cerr / std::clog and the matching file descriptor is a TTY (isatty).
  explicit progress_bar(std::size_t total, std::ostream& out = std::cerr,
                        std::optional<bool> enabled = std::nullopt)
      : total_(total), out_(&out), enabled_(enabled ? *enabled : is_terminal(out)),
        start_(std::chrono::steady_clock::now()) {}

  progress_bar(const progress_bar&) = delete;
  progress_bar& operator=(const progress_bar&) = delete;
  /// Ends the line if anything was drawn.
  ~progress_bar() { finish(); }

  /// Whether this bar draws at all.
  [[nodiscard]] bool enabled() const noexcept { return enabled_; }

  /// Records that `done` steps are complete and redraws with `message` (e.g. "acc 0.843").
  void update(std::size_t done, std::string_view message = {}) {
    if (!enabled_) return;
    const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start_;
    *out_ << '\r' << render(done, total_, elapsed.count(), message) << "\x1b[K" << std::flush;
    drawn_ = true;
  }

  /// Moves to a new line after the last draw (idempotent).
  void finish() {
    if (drawn_) *out_ << '\n' << std::flush;
    drawn_ = false;
  }

  /// The text of one frame, e.g. "round  3/10 [######--------------]  30% 00:12 ETA 00:28 acc 0.81";
  /// ETA = elapsed · (total − done) / done ("--:--" before the first step).
  [[nodiscard]] static std::string render(std::size_t done, std::size_t total, double elapsed_s,
                                          std::string_view message, std::size_t width = 20) {
    if (done > total) done = total;
    const double fraction = total == 0 ? 1.0 : static_cast<double>(done) / static_cast<double>(total);
    const auto filled = static_cast<std::size_t>(fraction * static_cast<double>(width));
    const std::string total_text = std::to_string(total);
    std::string done_text = std::to_string(done);
    if (done_text.size() < total_text.size()) done_text.insert(0, total_text.size() - done_text.size(), ' ');
    std::string line = "round " + done_text + "/" + total_text + " [" + std::string(filled, '#') +
                       std::string(width - filled, '-') + "] ";
    char percent[8];
    std::snprintf(percent, sizeof percent, "%3d%%", static_cast<int>(fraction * 100.0));
    line += percent;
    line += ' ' + clock(elapsed_s) + " ETA ";
    line += done == 0 ? std::string("--:--")
                      : clock(elapsed_s * static_cast<double>(total - done) / static_cast<double>(done));
    if (!message.empty()) (line += ' ') += message;
    return line;
  }

  /// "mm:ss", or "h:mm:ss" from one hour on.
  [[nodiscard]] static std::string clock(double seconds) {
    const auto s = static_cast<long long>(seconds < 0 ? 0 : seconds + 0.5);
    char buffer[32];
    if (s >= 3600)
      std::snprintf(buffer, sizeof buffer, "%lld:%02lld:%02lld", s / 3600, (s / 60) % 60, s % 60);
    else
      std::snprintf(buffer, sizeof buffer, "%02lld:%02lld", s / 60, s % 60);
    return buffer;
  }

  /// True when `out` is std::cout/std::cerr/std::clog and that descriptor is a terminal.
  [[nodiscard]] static bool is_terminal(const std::ostream& out) noexcept {
    int fd = -1;
    if (&out == &std::cout) fd = 1;
    if (&out == &std::cerr || &out == &std::clog) fd = 2;
    if (fd < 0) return false;
#if defined(_WIN32)
    return _isatty(fd) != 0;
#else
    return isatty(fd) != 0;
#endif
  }

private:
  std::size_t total_;
  std::ostream* out_;
  bool enabled_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_;
};

} // namespace fedpp::simulation
