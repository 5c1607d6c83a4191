/// \file partitioners.hpp
/// Splits a dataset's examples among simulated clients, IID or with the non-IID skews of the
/// federated-learning literature. Every partitioner is deterministic under its seed (it draws
/// only from fedpp::rng) and returns one index list per client that together cover every
/// example exactly once.
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/random/distributions.hpp"
#include "fedpp/random/rng.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <span>
#include <string>
#include <vector>

namespace fedpp::simulation {

/// Per-client example indices: `partition[k]` lists client k's examples (ascending order
/// unless a partitioner says otherwise).
using partition = std::vector<std::vector<std::size_t>>;

namespace detail {

inline void check_clients(const char* who, std::size_t num_clients) {
  if (num_clients == 0) throw invalid_config(std::string(who) + ": num_clients must be > 0");
}

/// Fisher–Yates shuffle on fedpp::rng (std::shuffle's sequence is implementation-defined).
template <class T>
void shuffle(std::vector<T>& v, rng& gen) noexcept {
  for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[gen.below(i)]);
}

/// Integer counts summing to exactly n, proportional to p (largest-remainder rounding;
/// ties go to the lower index).
inline std::vector<std::size_t> counts_from_proportions(std::span<const double> p, std::size_t n) {
  std::vector<std::size_t> counts(p.size());
  std::vector<double> remainder(p.size());
  std::size_t used = 0;
  for (std::size_t k = 0; k < p.size(); ++k) {
    const double exact = p[k] * static_cast<double>(n);
    counts[k] = std::min(n, static_cast<std::size_t>(std::floor(exact)));
    remainder[k] = exact - static_cast<double>(counts[k]);
    used += counts[k];
  }
  std::vector<std::size_t> order(p.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return remainder[a] > remainder[b]; });
  for (std::size_t i = 0; used < n; i = (i + 1) % order.size(), ++used) ++counts[order[i]];
  while (used > n) { // only through floating-point excess: take from the largest
    auto it = std::max_element(counts.begin(), counts.end());
    --*it;
    --used;
  }
  return counts;
}

/// Gives every client with fewer than `min_size` examples random examples taken from the
/// currently largest client, until it has `min_size` (needs n ≥ num_clients · min_size).
inline void top_up(partition& parts, std::size_t min_size, rng& gen) {
  for (auto& small : parts) {
    while (small.size() < min_size) {
      auto& large = *std::max_element(parts.begin(), parts.end(),
                                      [](const auto& a, const auto& b) { return a.size() < b.size(); });
      const std::size_t pick = gen.below(large.size());
      small.push_back(large[pick]);
      large[pick] = large.back();
      large.pop_back();
    }
  }
}

inline std::uint8_t max_label(std::span<const std::uint8_t> labels) noexcept {
  std::uint8_t m = 0;
  for (auto l : labels) m = std::max(m, l);
  return m;
}

inline void sort_each(partition& parts) {
  for (auto& p : parts) std::sort(p.begin(), p.end());
}

} // namespace detail

/// IID: a random permutation of 0..num_examples−1 cut into num_clients contiguous pieces whose
/// sizes differ by at most one (the first num_examples % num_clients clients get one more).
/// Clients may be empty when num_examples < num_clients. Throws invalid_config for 0 clients.
[[nodiscard]] inline partition partition_iid(std::size_t num_examples, std::size_t num_clients,
                                             std::uint64_t seed) {
  detail::check_clients("partition_iid", num_clients);
  std::vector<std::size_t> order(num_examples);
  std::iota(order.begin(), order.end(), std::size_t{0});
  rng gen(seed);
  detail::shuffle(order, gen);
  partition parts(num_clients);
  std::size_t begin = 0;
  for (std::size_t k = 0; k < num_clients; ++k) {
    const std::size_t size = num_examples / num_clients + (k < num_examples % num_clients ? 1 : 0);
    parts[k].assign(order.begin() + static_cast<std::ptrdiff_t>(begin),
                    order.begin() + static_cast<std::ptrdiff_t>(begin + size));
    begin += size;
  }
  detail::sort_each(parts);
  return parts;
}

/// Dirichlet label skew (Hsu, Qi & Brown 2019, "Measuring the Effects of Non-Identical Data
/// Distribution for Federated Visual Classification"): for each class c, draw proportions
/// q_c ~ Dir(α, ..., α) over the clients and give client k a share ≈ q_{c,k} of class c's
/// (shuffled) examples (largest-remainder rounding, so counts are exact). Small α (0.1): each
/// client is dominated by one or two classes; large α (100): nearly the global class mix.
///
/// Empty clients: after the draw, every client with fewer than `min_per_client` examples takes
/// random examples from the currently largest client until it has `min_per_client` (this moves
/// at most num_clients · min_per_client examples, and keeps the exactly-once coverage; pass 0
/// to allow empty clients). Throws invalid_config for 0 clients, α ≤ 0 or non-finite, or
/// labels.size() < num_clients · min_per_client.
[[nodiscard]] inline partition partition_dirichlet(std::span<const std::uint8_t> labels,
                                                   std::size_t num_clients, double alpha, std::uint64_t seed,
                                                   std::size_t min_per_client = 1) {
  detail::check_clients("partition_dirichlet", num_clients);
  if (!(alpha > 0) || !std::isfinite(alpha))
    throw invalid_config("partition_dirichlet: alpha must be finite and > 0, got " + std::to_string(alpha));
  if (labels.size() / num_clients < min_per_client)
    throw invalid_config("partition_dirichlet: " + std::to_string(labels.size()) + " examples cannot give " +
                         std::to_string(num_clients) + " clients at least " + std::to_string(min_per_client) +
                         " each");
  partition parts(num_clients);
  if (labels.empty()) return parts;
  const std::size_t num_classes = std::size_t{detail::max_label(labels)} + 1;
  std::vector<std::vector<std::size_t>> by_class(num_classes);
  for (std::size_t i = 0; i < labels.size(); ++i) by_class[labels[i]].push_back(i);
  rng gen(seed);
  std::vector<double> q(num_clients);
  for (auto& members : by_class) {
    detail::shuffle(members, gen);
    random::dirichlet(gen, alpha, q);
    const auto counts = detail::counts_from_proportions(q, members.size());
    std::size_t begin = 0;
    for (std::size_t k = 0; k < num_clients; ++k) {
      parts[k].insert(parts[k].end(), members.begin() + static_cast<std::ptrdiff_t>(begin),
                      members.begin() + static_cast<std::ptrdiff_t>(begin + counts[k]));
      begin += counts[k];
    }
  }
  detail::top_up(parts, min_per_client, gen);
  detail::sort_each(parts);
  return parts;
}

/// Pathological non-IID shards (McMahan et al. 2017, "Communication-Efficient Learning of Deep
/// Networks from Decentralized Data", §3): sort the examples by label (ties in random order),
/// cut them into num_clients · shards_per_client contiguous shards whose sizes differ by at most
/// one, and give each client shards_per_client shards chosen at random. A shard spans one label
/// when every class size is a multiple of the shard size (as for 60,000 Fashion-MNIST examples,
/// 100 clients, 2 shards: 300 per shard), so each client then sees at most shards_per_client
/// classes; otherwise a shard may straddle two labels. Throws invalid_config for 0 clients,
/// 0 shards per client, or more shards than examples.
[[nodiscard]] inline partition partition_shards(std::span<const std::uint8_t> labels, std::size_t num_clients,
                                                std::size_t shards_per_client, std::uint64_t seed) {
  detail::check_clients("partition_shards", num_clients);
  if (shards_per_client == 0) throw invalid_config("partition_shards: shards_per_client must be > 0");
  const std::size_t num_shards = num_clients * shards_per_client;
  if (num_shards / num_clients != shards_per_client || num_shards > labels.size())
    throw invalid_config("partition_shards: " + std::to_string(num_clients) + " clients × " +
                         std::to_string(shards_per_client) + " shards need at least as many examples, got " +
                         std::to_string(labels.size()));
  rng gen(seed);
  std::vector<std::size_t> order(labels.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  detail::shuffle(order, gen);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return labels[a] < labels[b]; });
  std::vector<std::size_t> shard_ids(num_shards);
  std::iota(shard_ids.begin(), shard_ids.end(), std::size_t{0});
  detail::shuffle(shard_ids, gen);
  const std::size_t base = labels.size() / num_shards, extra = labels.size() % num_shards;
  auto shard_begin = [&](std::size_t s) { return s * base + std::min(s, extra); };
  partition parts(num_clients);
  for (std::size_t k = 0; k < num_clients; ++k)
    for (std::size_t j = 0; j < shards_per_client; ++j) {
      const std::size_t s = shard_ids[k * shards_per_client + j];
      parts[k].insert(parts[k].end(), order.begin() + static_cast<std::ptrdiff_t>(shard_begin(s)),
                      order.begin() + static_cast<std::ptrdiff_t>(shard_begin(s + 1)));
    }
  detail::sort_each(parts);
  return parts;
}

/// Quantity skew with IID labels: client sizes ∝ q ~ Dir(β, ..., β) (largest-remainder
/// rounding; small β: a few clients hold most data, large β: equal sizes), filled from a random
/// permutation so that labels stay IID. Clients below `min_per_client` are topped up from the
/// largest client as in partition_dirichlet. Throws invalid_config for 0 clients, β ≤ 0 or
/// non-finite, or num_examples < num_clients · min_per_client.
[[nodiscard]] inline partition partition_quantity_skew(std::size_t num_examples, std::size_t num_clients,
                                                       double beta, std::uint64_t seed,
                                                       std::size_t min_per_client = 1) {
  detail::check_clients("partition_quantity_skew", num_clients);
  if (!(beta > 0) || !std::isfinite(beta))
    throw invalid_config("partition_quantity_skew: beta must be finite and > 0, got " + std::to_string(beta));
  if (num_examples / num_clients < min_per_client)
    throw invalid_config("partition_quantity_skew: " + std::to_string(num_examples) +
                         " examples cannot give " + std::to_string(num_clients) + " clients at least " +
                         std::to_string(min_per_client) + " each");
  rng gen(seed);
  std::vector<std::size_t> order(num_examples);
  std::iota(order.begin(), order.end(), std::size_t{0});
  detail::shuffle(order, gen);
  std::vector<double> q(num_clients);
  random::dirichlet(gen, beta, q);
  const auto counts = detail::counts_from_proportions(q, num_examples);
  partition parts(num_clients);
  std::size_t begin = 0;
  for (std::size_t k = 0; k < num_clients; ++k) {
    parts[k].assign(order.begin() + static_cast<std::ptrdiff_t>(begin),
                    order.begin() + static_cast<std::ptrdiff_t>(begin + counts[k]));
    begin += counts[k];
  }
  detail::top_up(parts, min_per_client, gen);
  detail::sort_each(parts);
  return parts;
}

/// Every client's examples in two parts: what it trains on and its local test split.
struct train_test_partition {
  partition train; ///< train[k]: client k's training examples (ascending)
  partition test;  ///< test[k]: client k's held-out examples (ascending), for federated evaluation
};

/// Holds out a local test split of each client's examples, stratified by label, so that every
/// client is evaluated on its own label distribution. Client k with n ≥ 2 examples keeps
/// t = round(test_fraction · n), clamped to [1, n − 1], as its test split (a client with fewer
/// than 2 examples has no test split); class c with n_c of them contributes ⌊n_c t / n⌋ or
/// ⌈n_c t / n⌉ examples, the t − Σ⌊·⌋ round-ups going to the largest remainders (n_c t mod n;
/// ties to the lower label) — exact integer arithmetic, so a test split's class counts are the
/// client's scaled by t/n up to less than one example per class. Which examples of a class are
/// held out is drawn from the fedpp::rng stream (seed, k). train ∪ test = parts[k], disjoint.
/// Throws invalid_config for a test_fraction outside (0, 1) or an index beyond `labels`.
[[nodiscard]] inline train_test_partition split_train_test(std::span<const std::uint8_t> labels,
                                                           const partition& parts, double test_fraction,
                                                           std::uint64_t seed) {
  if (!(test_fraction > 0 && test_fraction < 1))
    throw invalid_config("split_train_test: test_fraction must be in (0, 1), got " +
                         std::to_string(test_fraction));
  train_test_partition out{partition(parts.size()), partition(parts.size())};
  const std::size_t num_classes = labels.empty() ? 0 : std::size_t{detail::max_label(labels)} + 1;
  std::vector<std::vector<std::size_t>> by_class(num_classes);
  std::vector<std::size_t> take(num_classes), remainder(num_classes), order(num_classes);
  for (std::size_t k = 0; k < parts.size(); ++k) {
    const std::size_t n = parts[k].size();
    for (auto& members : by_class) members.clear();
    for (const std::size_t i : parts[k]) {
      if (i >= labels.size())
        throw invalid_config("split_train_test: client " + std::to_string(k) + " holds example " +
                             std::to_string(i) + ", the labels cover " + std::to_string(labels.size()));
      by_class[labels[i]].push_back(i);
    }
    std::size_t t = 0;
    if (n >= 2)
      t = std::clamp<std::size_t>(
          static_cast<std::size_t>(std::llround(test_fraction * static_cast<double>(n))), 1, n - 1);
    std::size_t assigned = 0;
    for (std::size_t c = 0; c < num_classes; ++c) {
      const std::size_t quota = by_class[c].size() * t; // n_c · t ≤ n² (no overflow for any real dataset)
      take[c] = n == 0 ? 0 : quota / n;
      remainder[c] = n == 0 ? 0 : quota % n;
      assigned += take[c];
    }
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return remainder[a] > remainder[b]; });
    for (std::size_t j = 0; assigned < t; ++j, ++assigned) ++take[order[j]]; // t − Σ⌊·⌋ < #classes
    rng gen = rng::for_stream(seed, k);
    for (std::size_t c = 0; c < num_classes; ++c) {
      auto& members = by_class[c];
      detail::shuffle(members, gen);
      const auto cut = members.begin() + static_cast<std::ptrdiff_t>(take[c]);
      out.test[k].insert(out.test[k].end(), members.begin(), cut);
      out.train[k].insert(out.train[k].end(), cut, members.end());
    }
  }
  detail::sort_each(out.train);
  detail::sort_each(out.test);
  return out;
}

} // namespace fedpp::simulation
