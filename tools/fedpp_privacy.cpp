// fedpp-privacy: (ε, δ) of DP-SGD / DP-FedAvg with Poisson sampling, in the spirit of TensorFlow
// Privacy's compute_dp_sgd_privacy. See docs/privacy.md ("CLI").
//
// Exit status: 0 with a result (ε may be reported as infinite: "epsilon": null and "epsilon_reason"
// in JSON); 2 when the arguments are refused (a message on stderr, nothing on stdout); 1 on an
// internal error. Every count is parsed as an exact unsigned integer (digits only), every product
// of counts is computed in 128-bit integers, and no value is silently rounded, wrapped or clamped.
#include "fedpp/error.hpp"
#include "fedpp/privacy/calibration.hpp"
#include "fedpp/privacy/pld_accountant.hpp"
#include "fedpp/privacy/rdp_accountant.hpp"

#include <CLI/CLI.hpp>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>

namespace {

namespace dp = fedpp::privacy;

/// A refused argument: message for stderr, exit status 2.
struct refusal : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// An exact unsigned integer: decimal digits only (no sign, exponent, fraction or spaces), ≤ 2^64 − 1.
std::uint64_t parse_count(const std::string& flag, const std::string& text) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos)
    throw refusal(flag + " '" + text + "' is not a whole number (decimal digits only, e.g. 1000)");
  std::uint64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec == std::errc::result_out_of_range)
    throw refusal(flag + " " + text + " is too large (more than 2^64 - 1)");
  if (ec != std::errc{} || end != text.data() + text.size())
    throw refusal(flag + " '" + text + "' is not a whole number");
  return v;
}

/// A finite real number, the whole text consumed.
double parse_real(const std::string& flag, const std::string& text) {
  double v = 0;
  const char* first = text.data();
  const char* last = text.data() + text.size();
  if (first != last && *first == '+') ++first; // from_chars takes no '+'
  const auto [end, ec] = std::from_chars(first, last, v);
  if (text.empty() || ec != std::errc{} || end != last || !std::isfinite(v))
    throw refusal(flag + " '" + text + "' is not a finite number");
  return v;
}

std::string fmt(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.10g", v);
  return buf;
}

constexpr std::uint64_t max_steps = dp::max_accounted_steps; // 2^53
__extension__ using uint128 = unsigned __int128;               // GCC / Clang

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"(epsilon, delta) of DP-SGD / DP-FedAvg: Poisson-subsampled Gaussian mechanism, add/remove "
               "adjacency, sensitivity 1 (dp_accounting's conventions). Give --sampling-rate Q --steps T, or "
               "--n N --batch-size B --epochs E (q = B/N, steps = ceil(E*N/B)); and --noise-multiplier S, or "
               "--target-epsilon E to solve for S.",
               "fedpp-privacy"};
  std::optional<std::string> q_text, steps_text, n_text, batch_text, epochs_text, sigma_text, target_text, delta_text;
  std::string accountant = "rdp", h_text = "1e-4";
  bool json = false;
  const auto throw_on_repeat = CLI::MultiOptionPolicy::Throw;
  app.add_option("--sampling-rate", q_text, "Poisson sampling rate q in (0, 1]")->type_name("Q")->multi_option_policy(throw_on_repeat);
  app.add_option("--steps", steps_text, "number of steps T, a whole number in [1, 2^53]")
      ->type_name("T")
      ->multi_option_policy(throw_on_repeat);
  app.add_option("--n", n_text, "dataset size (records or clients), a whole number >= 1")
      ->type_name("N")
      ->multi_option_policy(throw_on_repeat);
  app.add_option("--batch-size", batch_text, "expected batch size B, whole, 1 <= B <= N")
      ->type_name("B")
      ->multi_option_policy(throw_on_repeat);
  app.add_option("--epochs", epochs_text, "epochs E, a whole number >= 1")->type_name("E")->multi_option_policy(throw_on_repeat);
  app.add_option("--noise-multiplier", sigma_text, "noise multiplier sigma > 0")->type_name("S")->multi_option_policy(throw_on_repeat);
  app.add_option("--target-epsilon", target_text, "solve for the smallest sigma with epsilon <= this")
      ->type_name("EPS")
      ->multi_option_policy(throw_on_repeat);
  app.add_option("--delta", delta_text, "delta in (0, 1)")->type_name("D")->required()->multi_option_policy(throw_on_repeat);
  app.add_option("--accountant", accountant, "rdp (dp_accounting's RdpAccountant) or pld (PLDAccountant)")
      ->type_name("rdp|pld")
      ->capture_default_str()
      ->multi_option_policy(throw_on_repeat);
  app.add_option("--pld-discretization", h_text, "PLD grid width h in (0, 1) (pld only)")
      ->type_name("H")
      ->capture_default_str()
      ->multi_option_policy(throw_on_repeat);
  app.add_flag("--json", json, "print one JSON object")->multi_option_policy(throw_on_repeat);

  try {
    try {
      app.parse(argc, argv);
    } catch (const CLI::CallForHelp&) {
      std::fputs(app.help().c_str(), stdout);
      return 0;
    } catch (const CLI::ExtrasError& e) {
      throw refusal(std::string("unknown argument(s): ") + e.what());
    } catch (const CLI::ArgumentMismatch& e) {
      throw refusal(std::string("each option may be given once: ") + e.what());
    } catch (const CLI::ParseError& e) {
      throw refusal(e.what());
    }

    // --- validate everything before computing anything ---
    const double delta = parse_real("--delta", *delta_text);
    if (!(delta > 0 && delta < 1)) throw refusal("--delta " + *delta_text + " must be in (0, 1)");
    if (accountant != "rdp" && accountant != "pld")
      throw refusal("--accountant '" + accountant + "' must be rdp or pld");
    const bool h_given = app.count("--pld-discretization") > 0;
    if (h_given && accountant != "pld") throw refusal("--pld-discretization applies only to --accountant pld");
    const double h = parse_real("--pld-discretization", h_text);
    if (!(h > 0 && h < 1)) throw refusal("--pld-discretization " + h_text + " must be in (0, 1)");

    double q = 0;
    std::uint64_t steps = 0;
    const bool direct = q_text || steps_text, dataset = n_text || batch_text || epochs_text;
    if (direct && dataset)
      throw refusal("give either --sampling-rate/--steps or --n/--batch-size/--epochs, not both");
    if (direct) {
      if (!q_text || !steps_text) throw refusal("--sampling-rate and --steps go together");
      q = parse_real("--sampling-rate", *q_text);
      if (!(q > 0 && q <= 1)) throw refusal("--sampling-rate " + *q_text + " must be in (0, 1]");
      steps = parse_count("--steps", *steps_text);
      if (steps < 1 || steps > max_steps)
        throw refusal("--steps " + *steps_text + " must be in [1, 2^53 = 9007199254740992]");
    } else if (dataset) {
      if (!n_text || !batch_text || !epochs_text) throw refusal("--n, --batch-size and --epochs go together");
      const std::uint64_t n = parse_count("--n", *n_text), b = parse_count("--batch-size", *batch_text),
                          e = parse_count("--epochs", *epochs_text);
      if (n < 1) throw refusal("--n " + *n_text + " must be >= 1");
      if (b < 1 || b > n) throw refusal("--batch-size " + *batch_text + " must be in [1, --n = " + *n_text + "]");
      if (e < 1) throw refusal("--epochs " + *epochs_text + " must be >= 1");
      // steps = ceil(e·n / b) in 128-bit integers (e, n < 2^64, so e·n < 2^128)
      const uint128 product = static_cast<uint128>(e) * n;
      const uint128 s = (product + b - 1) / b;
      if (s > max_steps)
        throw refusal("--epochs " + *epochs_text + " x --n " + *n_text + " / --batch-size " + *batch_text +
                      " gives more than 2^53 = 9007199254740992 steps");
      steps = static_cast<std::uint64_t>(s);
      q = static_cast<double>(b) / static_cast<double>(n);
    } else {
      throw refusal("give --sampling-rate Q --steps T, or --n N --batch-size B --epochs E");
    }
    if (accountant == "pld" && steps > dp::pld_accountant::max_steps)
      throw refusal(std::to_string(steps) + " steps exceed the PLD accountant's limit of 2^30 = 1073741824 "
                                            "(FFT round-off grows with the step count); use --accountant rdp");

    if (sigma_text.has_value() == target_text.has_value())
      throw refusal("give exactly one of --noise-multiplier and --target-epsilon");
    double sigma = 0, target = 0;
    if (sigma_text) {
      sigma = parse_real("--noise-multiplier", *sigma_text);
      if (!(sigma > 0)) throw refusal("--noise-multiplier " + *sigma_text + " must be > 0");
    } else {
      target = parse_real("--target-epsilon", *target_text);
      if (!(target > 0)) throw refusal("--target-epsilon " + *target_text + " must be > 0");
    }

    // --- compute ---
    if (target_text) {
      try {
        sigma = accountant == "rdp"
                    ? dp::noise_multiplier_for_epsilon<dp::rdp_accountant>(target, q, steps, delta)
                    : dp::noise_multiplier_for_epsilon<dp::pld_accountant>(target, q, steps, delta,
                                                                           dp::pld_accountant(h));
      } catch (const fedpp::invalid_config& e) {
        throw refusal(e.what());
      }
    }
    double eps = 0, order = 0, error = 0, h_used = h;
    if (accountant == "rdp") {
      dp::rdp_accountant acc;
      acc.compose(q, sigma, steps);
      const auto c = acc.conversion(delta);
      eps = c.epsilon;
      order = c.order;
    } else {
      dp::pld_accountant acc(h);
      acc.compose(q, sigma, steps);
      const auto b = acc.epsilon_bounds(delta);
      eps = b.epsilon;
      error = b.discretization_error;
      h_used = b.discretization;
    }
    if (std::isnan(eps) || std::isnan(error)) {
      std::fprintf(stderr, "fedpp-privacy: internal error: the accountant returned NaN\n");
      return 1;
    }
    const bool finite = std::isfinite(eps);
    const std::string reason = "no finite epsilon reaches delta = " + fmt(delta) +
                               " (the noise is too small for this many steps: the mechanism is not private)";

    if (json) {
      std::string out = "{\"epsilon\": " + (finite ? fmt(eps) : std::string("null"));
      if (!finite) out += ", \"epsilon_reason\": \"" + reason + "\"";
      out += ", \"delta\": " + fmt(delta) + ", \"accountant\": \"" + accountant + "\", \"noise_multiplier\": " +
             fmt(sigma) + ", \"sampling_rate\": " + fmt(q) + ", \"steps\": " + std::to_string(steps);
      if (target_text) out += ", \"target_epsilon\": " + fmt(target);
      if (accountant == "rdp") out += ", \"order\": " + (finite ? fmt(order) : std::string("null"));
      if (accountant == "pld")
        out += ", \"discretization\": " + fmt(h_used) +
               ", \"discretization_error\": " + (std::isfinite(error) ? fmt(error) : std::string("null"));
      out += "}\n";
      std::fputs(out.c_str(), stdout);
    } else {
      std::printf("DP-SGD / DP-FedAvg with Poisson sampling q = %.6g, noise multiplier %.6g, %llu steps:\n", q, sigma,
                  static_cast<unsigned long long>(steps));
      if (finite)
        std::printf("epsilon = %.4f at delta = %g (%s accountant", eps, delta, accountant.c_str());
      else
        std::printf("epsilon = infinity at delta = %g: %s (%s accountant", delta, reason.c_str(), accountant.c_str());
      if (accountant == "rdp" && finite) std::printf(", optimal order %g", order);
      if (accountant == "pld")
        std::printf(", grid %g, discretization error <= %.2g", h_used, std::isfinite(error) ? error : INFINITY);
      std::printf(")\n");
    }
    return 0;
  } catch (const refusal& e) {
    std::fprintf(stderr, "fedpp-privacy: error: %s\nRun with --help for the options.\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fedpp-privacy: internal error: %s\n", e.what());
    return 1;
  }
}
