/// \file coalition.hpp
/// Coalitions of players (a set of clients as a bitset), the coalition_utility concept every
/// contribution method of fedpp/incentives takes, a memoizing wrapper that counts the utility's
/// evaluations, and the result type the methods return.
///
/// A cooperative game is n players and a utility v: 2^{0..n−1} → ℝ; a contribution method maps
/// it to one value per player. In federated learning the players are clients and v(S) is how good
/// a model built from coalition S is (validation accuracy, negative loss): retrained on S's data
/// (expensive, Ghorbani & Zou 2019), or reconstructed from S's updates of one round (cheap,
/// GTG-Shapley, Liu et al. 2022; gtg_shapley.hpp).
///
/// | expression (coalition_utility)         | type / effect                                         |
/// |----------------------------------------|-------------------------------------------------------|
/// | `u(c)`, c a `const coalition&`          | convertible to double: v(c)                           |
/// | or `u(ids)`, ids a `std::span<const std::size_t>` | v of the players listed (ascending)        |
///
/// Either form is accepted (a user utility may take whichever is handier); the methods call it
/// through evaluate_utility(). A utility may be stateful (counts, scratch buffers) and is called
/// from one thread. Every value it returns must be finite: the methods throw invalid_config naming
/// the coalition otherwise (a NaN would silently poison every average it enters).
#pragma once

#include "fedpp/error.hpp"

#include <bit>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

namespace fedpp::incentives {

/// A subset of the players 0..n−1, as a bitset of n bits (n fixed at construction).
/// Memory: 8 bytes per 64 players, plus the vector's header.
class coalition {
public:
  /// The empty coalition of a game with `players` players.
  explicit coalition(std::size_t players = 0) : players_(players), words_((players + 63) / 64, 0) {}

  /// The coalition whose members are the set bits of `mask` (players ≤ 64); throws
  /// invalid_config when `mask` names a player ≥ players.
  [[nodiscard]] static coalition from_mask(std::size_t players, std::uint64_t mask) {
    if (players > 64)
      throw invalid_config("coalition::from_mask: " + std::to_string(players) + " players exceed 64");
    if (players < 64 && (mask >> players) != 0)
      throw invalid_config("coalition::from_mask: the mask names a player >= " + std::to_string(players));
    coalition c(players);
    if (players > 0) c.words_[0] = mask;
    return c;
  }

  /// Every player.
  [[nodiscard]] static coalition all(std::size_t players) {
    coalition c(players);
    for (std::size_t i = 0; i < players; ++i) c.add(i);
    return c;
  }

  /// n, the number of players of the game.
  [[nodiscard]] std::size_t players() const noexcept { return players_; }
  /// |S|, the number of members.
  [[nodiscard]] std::size_t size() const noexcept {
    std::size_t s = 0;
    for (const std::uint64_t w : words_) s += static_cast<std::size_t>(std::popcount(w));
    return s;
  }
  /// Whether S is empty.
  [[nodiscard]] bool empty() const noexcept { return size() == 0; }
  /// Whether player i is a member (false for i ≥ players()).
  [[nodiscard]] bool contains(std::size_t i) const noexcept {
    return i < players_ && ((words_[i / 64] >> (i % 64)) & 1U) != 0;
  }
  /// Adds player i; throws invalid_config when i ≥ players().
  coalition& add(std::size_t i) {
    check(i);
    words_[i / 64] |= std::uint64_t{1} << (i % 64);
    return *this;
  }
  /// Removes player i; throws invalid_config when i ≥ players().
  coalition& remove(std::size_t i) {
    check(i);
    words_[i / 64] &= ~(std::uint64_t{1} << (i % 64));
    return *this;
  }
  /// S ∪ {i} (a copy).
  [[nodiscard]] coalition with(std::size_t i) const { return coalition(*this).add(i); }
  /// S \ {i} (a copy).
  [[nodiscard]] coalition without(std::size_t i) const { return coalition(*this).remove(i); }
  /// Whether every member of S is a member of `other` (same game).
  [[nodiscard]] bool subset_of(const coalition& other) const noexcept {
    if (other.players_ != players_) return false;
    for (std::size_t w = 0; w < words_.size(); ++w)
      if ((words_[w] & ~other.words_[w]) != 0) return false;
    return true;
  }
  /// The members, ascending.
  [[nodiscard]] std::vector<std::size_t> members() const {
    std::vector<std::size_t> out;
    out.reserve(size());
    for (std::size_t i = 0; i < players_; ++i)
      if (contains(i)) out.push_back(i);
    return out;
  }
  /// The members as a 64-bit mask; throws invalid_config when players() > 64.
  [[nodiscard]] std::uint64_t mask() const {
    if (players_ > 64)
      throw invalid_config("coalition::mask: " + std::to_string(players_) + " players exceed 64");
    return words_.empty() ? 0 : words_[0];
  }
  /// "{0, 2, 5}": for messages.
  [[nodiscard]] std::string to_string() const {
    std::string s = "{";
    bool first = true;
    for (std::size_t i = 0; i < players_; ++i)
      if (contains(i)) {
        s += (first ? "" : ", ") + std::to_string(i);
        first = false;
      }
    return s + "}";
  }
  /// A hash of the members (for memoization).
  [[nodiscard]] std::size_t hash() const noexcept {
    std::uint64_t h = 0x9e3779b97f4a7c15ULL ^ players_;
    for (const std::uint64_t w : words_) {
      h ^= w + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
      h *= 0xbf58476d1ce4e5b9ULL;
    }
    return static_cast<std::size_t>(h ^ (h >> 31));
  }
  friend bool operator==(const coalition&, const coalition&) = default;

private:
  void check(std::size_t i) const {
    if (i >= players_)
      throw invalid_config("coalition: player " + std::to_string(i) + " is not below " +
                           std::to_string(players_));
  }
  std::size_t players_;
  std::vector<std::uint64_t> words_;
};

/// See the file comment: v(S) from a coalition, or from the list of its members.
template <class U>
concept coalition_utility = requires(U& u, const coalition& c) {
  { u(c) } -> std::convertible_to<double>;
}
|| requires(U& u, std::span<const std::size_t> ids) {
  { u(ids) } -> std::convertible_to<double>;
};

/// v(c) through whichever form `u` takes; throws invalid_config when the value is not finite.
template <coalition_utility U>
[[nodiscard]] double evaluate_utility(U& u, const coalition& c) {
  double v = 0;
  if constexpr (requires {
                  { u(c) } -> std::convertible_to<double>;
                }) {
    v = static_cast<double>(u(c));
  } else {
    const std::vector<std::size_t> ids = c.members();
    v = static_cast<double>(u(std::span<const std::size_t>(ids)));
  }
  if (!std::isfinite(v))
    throw invalid_config("coalition utility: v(" + c.to_string() + ") = " + std::to_string(v) +
                         " is not finite");
  return v;
}

/// What every contribution method returns.
struct contribution_result {
  std::vector<double> values;          ///< one value per player (φ_i, or the leave-one-out value)
  double full_utility = 0;             ///< v(N) (all players)
  double empty_utility = 0;            ///< v(∅)
  std::size_t utility_evaluations = 0; ///< calls of the user's utility (memoized repeats not counted)
  std::size_t permutations = 0;        ///< permutations scanned (sampling methods; 0 otherwise)
  std::size_t truncated_steps = 0;     ///< marginal contributions set to 0 by truncation
  bool round_truncated = false;        ///< GTG's between-round truncation: every value is 0
};

/// Wraps a utility with a cache of the values already computed (keyed by coalition) and counts
/// the calls that reached the wrapped utility. The cache holds at most `max_entries` values
/// (default 2^20, about 80 MiB for n ≤ 64 counting the hash table's overhead); beyond it, values
/// are computed again instead of stored. Itself a coalition_utility.
template <coalition_utility U>
class memoized_utility {
public:
  /// Wraps `u`; throws invalid_config when max_entries is 0.
  explicit memoized_utility(U u, std::size_t max_entries = std::size_t{1} << 20)
      : u_(std::move(u)), max_entries_(max_entries) {
    if (max_entries == 0) throw invalid_config("memoized_utility: max_entries must be >= 1");
  }

  /// v(c), from the cache when known; throws invalid_config for a non-finite value.
  double operator()(const coalition& c) {
    if (const auto it = cache_.find(c); it != cache_.end()) {
      ++hits_;
      return it->second;
    }
    const double v = evaluate_utility(u_, c);
    ++evaluations_;
    if (cache_.size() < max_entries_) cache_.emplace(c, v);
    return v;
  }

  /// Calls that reached the wrapped utility.
  [[nodiscard]] std::size_t evaluations() const noexcept { return evaluations_; }
  /// Calls answered from the cache.
  [[nodiscard]] std::size_t hits() const noexcept { return hits_; }
  /// Values held.
  [[nodiscard]] std::size_t cached() const noexcept { return cache_.size(); }
  /// The wrapped utility.
  [[nodiscard]] U& inner() noexcept { return u_; }

private:
  struct hasher {
    std::size_t operator()(const coalition& c) const noexcept { return c.hash(); }
  };
  U u_;
  std::size_t max_entries_;
  std::unordered_map<coalition, double, hasher> cache_;
  std::size_t evaluations_ = 0;
  std::size_t hits_ = 0;
};

namespace detail {

/// Throws invalid_config unless 1 ≤ players ≤ limit.
inline void check_players(std::size_t players, std::size_t limit, const char* who) {
  if (players == 0) throw invalid_config(std::string(who) + ": a game needs at least one player");
  if (players > limit)
    throw invalid_config(std::string(who) + ": " + std::to_string(players) + " players exceed the limit of " +
                         std::to_string(limit));
}

} // namespace detail

} // namespace fedpp::incentives
