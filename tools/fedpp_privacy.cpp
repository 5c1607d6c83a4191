// fedpp-privacy: (ε, δ) of DP-SGD / DP-FedAvg with Poisson sampling, in the spirit of TensorFlow
// Privacy's compute_dp_sgd_privacy. See docs/privacy.md.
#include "fedpp/privacy/calibration.hpp"
#include "fedpp/privacy/pld_accountant.hpp"
#include "fedpp/privacy/rdp_accountant.hpp"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>

namespace {

const char* usage = "usage: fedpp-privacy (--sampling-rate Q --steps T | --n N --batch-size B --epochs E)\n"
                    "                     (--noise-multiplier S | --target-epsilon E) --delta D\n"
                    "                     [--accountant rdp|pld] [--json]\n"
                    "  steps = ceil(E*N/B) and q = B/N when --n/--batch-size/--epochs are given.\n";

double parse_number(const std::string& flag, const std::string& text) {
  std::size_t used = 0;
  double v = 0;
  try {
    v = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || !std::isfinite(v))
    throw std::invalid_argument(flag + ": '" + text + "' is not a finite number");
  return v;
}

} // namespace

int main(int argc, char** argv) {
  try {
    std::map<std::string, std::string> values;
    bool json = false;
    const char* known[] = {"--sampling-rate", "--noise-multiplier", "--steps",      "--delta",         "--n",
                           "--batch-size",    "--epochs",           "--accountant", "--target-epsilon"};
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      if (a == "--json") {
        json = true;
        continue;
      }
      if (a == "--help" || a == "-h") {
        std::fputs(usage, stdout);
        return 0;
      }
      bool ok = false;
      for (const char* k : known) ok = ok || a == k;
      if (!ok) throw std::invalid_argument("unknown flag '" + a + "'");
      if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
      values[a] = argv[++i];
    }
    auto has = [&](const char* k) { return values.count(k) != 0; };
    auto num = [&](const char* k) { return parse_number(k, values.at(k)); };
    if (!has("--delta")) throw std::invalid_argument("--delta is required");
    const double delta = num("--delta");
    if (!(delta > 0 && delta < 1))
      throw std::invalid_argument("--delta " + values["--delta"] + " must be in (0, 1)");
    double q = 0;
    std::uint64_t steps = 0;
    if (has("--sampling-rate") || has("--steps")) {
      if (!has("--sampling-rate") || !has("--steps"))
        throw std::invalid_argument("--sampling-rate and --steps go together");
      if (has("--n") || has("--batch-size") || has("--epochs"))
        throw std::invalid_argument(
            "give either --sampling-rate/--steps or --n/--batch-size/--epochs, not both");
      q = num("--sampling-rate");
      const double t = num("--steps");
      if (!(t >= 1) || t != std::floor(t))
        throw std::invalid_argument("--steps " + values["--steps"] + " must be a positive integer");
      steps = static_cast<std::uint64_t>(t);
    } else if (has("--n") && has("--batch-size") && has("--epochs")) {
      const double n = num("--n"), b = num("--batch-size"), e = num("--epochs");
      if (!(n >= 1) || !(b >= 1) || !(e > 0) || b > n)
        throw std::invalid_argument("need --n >= 1, 1 <= --batch-size <= --n and --epochs > 0");
      q = b / n;
      steps = static_cast<std::uint64_t>(std::ceil(e * n / b));
    } else {
      throw std::invalid_argument("give --sampling-rate Q --steps T, or --n N --batch-size B --epochs E");
    }
    if (!(q > 0 && q <= 1))
      throw std::invalid_argument("--sampling-rate " + std::to_string(q) + " must be in (0, 1]");
    const std::string accountant = has("--accountant") ? values["--accountant"] : "rdp";
    if (accountant != "rdp" && accountant != "pld")
      throw std::invalid_argument("--accountant '" + accountant + "' must be rdp or pld");
    const bool solve = has("--target-epsilon");
    if (solve == has("--noise-multiplier"))
      throw std::invalid_argument("give exactly one of --noise-multiplier and --target-epsilon");
    double sigma = 0, eps = 0, order = 0;
    if (solve) {
      const double target = num("--target-epsilon");
      if (!(target > 0)) throw std::invalid_argument("--target-epsilon must be > 0");
      sigma = accountant == "rdp"
                  ? fedpp::privacy::noise_multiplier_for_epsilon<fedpp::privacy::rdp_accountant>(target, q,
                                                                                                 steps, delta)
                  : fedpp::privacy::noise_multiplier_for_epsilon<fedpp::privacy::pld_accountant>(
                        target, q, steps, delta);
    } else {
      sigma = num("--noise-multiplier");
      if (!(sigma > 0))
        throw std::invalid_argument("--noise-multiplier " + values["--noise-multiplier"] + " must be > 0");
    }
    if (accountant == "rdp") {
      fedpp::privacy::rdp_accountant acc;
      acc.compose(q, sigma, steps);
      const auto c = acc.conversion(delta);
      eps = c.epsilon;
      order = c.order;
    } else {
      fedpp::privacy::pld_accountant acc;
      acc.compose(q, sigma, steps);
      eps = acc.epsilon(delta);
    }
    if (json) {
      std::printf(
          "{\"epsilon\": %.10g, \"delta\": %.10g, \"accountant\": \"%s\", \"noise_multiplier\": %.10g, "
          "\"sampling_rate\": %.10g, \"steps\": %llu",
          eps, delta, accountant.c_str(), sigma, q, static_cast<unsigned long long>(steps));
      if (accountant == "rdp") std::printf(", \"order\": %.10g", order);
      std::printf("}\n");
    } else {
      std::printf("DP-SGD / DP-FedAvg with Poisson sampling q = %.6g, noise multiplier %.6g, %llu steps:\n",
                  q, sigma, static_cast<unsigned long long>(steps));
      std::printf("epsilon = %.4f at delta = %g (%s accountant", eps, delta, accountant.c_str());
      if (accountant == "rdp") std::printf(", optimal order %g", order);
      std::printf(")\n");
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fedpp-privacy: error: %s\n%s", e.what(), usage);
    return 2;
  }
}
