/// \file secagg_server.hpp
/// The server side of secure aggregation (Bonawitz et al., CCS 2017, Fig. 4; SecAgg+ graphs from
/// Bell et al., CCS 2020) as an explicit state machine over any fedpp transport. Phases:
///
///   advertise (U1) -> share_keys (U2 ⊆ U1) -> masked_input (U3 ⊆ U2) -> unmasking (U5 ⊆ U3) -> done
///
/// A phase closes when every eligible client has answered (handle() returns true) or when the
/// caller decides (deadline) and calls close_phase(). A phase that closes with fewer than t
/// clients — or an unmasking that cannot reach t shares of some needed secret — aborts the round:
/// clients are told, the partial sum is wiped and secagg_aborted is thrown; nothing is revealed.
///
/// Unmasking: z = Σ_{u∈U3} y_u − Σ_{u∈U3} PRG(b_u) − Σ_{v∈U2∖U3} Σ_{u∈U3∩N(v)} ±PRG(s_{u,v})
/// with b_u and s_sk_v reconstructed from t shares (s_sk_v checked against its public key).
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/secagg/detail/protocol.hpp"
#include "fedpp/secagg/detail/sodium.hpp"
#include "fedpp/secagg/mask_expander.hpp"
#include "fedpp/secagg/neighbor_graph.hpp"
#include "fedpp/secagg/secagg_config.hpp"
#include "fedpp/secagg/secagg_counters.hpp"
#include "fedpp/secagg/shamir.hpp"
#include "fedpp/transport/transport.hpp"
#include "fedpp/transport/wire_format.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace fedpp::secagg {

/// The server's state machine for one round.
class secagg_server {
public:
  /// Where the server is in the round.
  enum class phase : std::uint8_t { advertise, share_keys, masked_input, unmasking, done, aborted };

  /// A round over the clients of `graph` (complete for SecAgg, random regular for SecAgg+).
  secagg_server(const secagg_config& config, neighbor_graph graph)
      : config_(config), graph_(std::move(graph)) {
    config_.validate();
    detail::ensure_sodium();
    if (config_.threshold > graph_.degree() + 1)
      throw invalid_config("secagg_server: threshold " + std::to_string(config_.threshold) + " exceeds the " +
                           std::to_string(graph_.degree() + 1) + " holders of each secret (degree + 1)");
  }

  /// The current phase.
  [[nodiscard]] phase current_phase() const noexcept { return phase_; }
  /// Refused messages and aborts.
  [[nodiscard]] const secagg_counters& counters() const noexcept { return counters_; }
  /// The graph of the round.
  [[nodiscard]] const neighbor_graph& graph() const noexcept { return graph_; }
  /// Clients that answered in each phase so far (U1, U2, U3, U5).
  [[nodiscard]] const std::set<client_id>& answered(phase p) const {
    return sets_.at(static_cast<std::size_t>(p));
  }
  /// The unmasked sum mod 2^b (valid in phase done).
  [[nodiscard]] std::span<const std::uint32_t> sum() const {
    if (phase_ != phase::done) throw invalid_config("secagg_server::sum: the round is not done");
    return sum_;
  }

  /// Handles one client message; returns true when every eligible client has answered this
  /// phase. Throws protocol_violation (counted; state unchanged, nothing of the message kept) for
  /// a refused message, checked in this order: bytes that do not decode (malformed), a claimed
  /// sender other than the transport's `e.from` (impersonation), a sender outside the round's
  /// graph (unknown_sender), another round, another phase, a repeat, then the payload.
  template <transport T>
  bool handle(T& ep, const envelope& e) {
    (void)ep;
    const auto d = detail::open_envelope(e.message, e.from, counters_);
    if (!graph_.contains(e.from))
      throw detail::refuse(counters_, violation::unknown_sender, e.from, "not a participant of this round");
    if (d.round() != config_.round)
      throw detail::refuse(counters_, violation::wrong_round, e.from,
                           std::string(detail::tag_name(d.tag())) + " of round " + std::to_string(d.round()) +
                               " in round " + std::to_string(config_.round));
    const auto tag = d.tag();
    const auto expected = expected_tag();
    if (tag != expected) {
      const bool past = tag >= detail::tag_advertise && tag < expected && tag % 2 == 1;
      throw detail::refuse(counters_, past ? violation::duplicate : violation::wrong_phase, e.from,
                           std::string(detail::tag_name(tag)) + " (tag " + std::to_string(tag) +
                               ") during phase " + phase_name() +
                               (past ? " (a replay or late message)" : ""));
    }
    const auto p = static_cast<std::size_t>(phase_);
    if (sets_[p].count(e.from) != 0)
      throw detail::refuse(counters_, violation::duplicate, e.from,
                           std::string(detail::tag_name(tag)) + " received twice");
    if (p > 0 && sets_[p - 1].count(e.from) == 0)
      throw detail::refuse(counters_, violation::wrong_phase, e.from,
                           std::string(detail::tag_name(tag)) +
                               " from a client that dropped out in an earlier phase");
    const auto payload = d.payload_bytes();
    try {
      switch (phase_) {
      case phase::advertise:
        on_advertise(e.from, payload);
        break;
      case phase::share_keys:
        on_shares(e.from, payload);
        break;
      case phase::masked_input:
        on_masked(e.from, payload);
        break;
      case phase::unmasking:
        on_unmask(e.from, payload);
        break;
      default:
        break;
      }
    } catch (const malformed_message& m) {
      throw detail::refuse(counters_, violation::malformed, e.from, m.what());
    }
    sets_[p].insert(e.from);
    return sets_[p].size() == eligible();
  }

  /// Closes the current phase with the clients that answered and sends the next phase's
  /// messages; after unmasking, computes the sum. Throws secagg_aborted when too few survive.
  template <transport T>
  void close_phase(T& ep) {
    const auto p = static_cast<std::size_t>(phase_);
    if (phase_ == phase::done || phase_ == phase::aborted)
      throw invalid_config("secagg_server::close_phase: the round has ended");
    if (sets_[p].size() < config_.threshold)
      abort(ep, std::to_string(sets_[p].size()) + " clients answered in phase " + phase_name() +
                    ", below the threshold " + std::to_string(config_.threshold));
    switch (phase_) {
    case phase::advertise:
      send_keys(ep);
      break;
    case phase::share_keys:
      send_forwards(ep);
      break;
    case phase::masked_input:
      send_survivors(ep);
      break;
    case phase::unmasking:
      unmask(ep);
      return;
    default:
      break;
    }
    phase_ = static_cast<phase>(p + 1);
  }

  /// Runs the whole round: each phase ends when all eligible clients answered or after
  /// `phase_timeout`. Refused messages are counted and skipped. Returns the sum mod 2^b.
  template <transport T, class Rep, class Period>
  std::span<const std::uint32_t> run(T& ep, std::chrono::duration<Rep, Period> phase_timeout) {
    while (phase_ != phase::done) {
      const auto deadline = transport_clock::now() + phase_timeout;
      bool complete = false;
      while (!complete) {
        auto e = ep.receive(deadline);
        if (!e) break;
        try {
          complete = handle(ep, *e);
        } catch (const protocol_violation&) {
          // counted; skip it
        }
      }
      close_phase(ep);
    }
    return sum_;
  }

private:
  struct holder_shares {
    std::vector<shamir_share> shares;
  };

  [[nodiscard]] std::uint32_t expected_tag() const noexcept {
    switch (phase_) {
    case phase::advertise:
      return detail::tag_advertise;
    case phase::share_keys:
      return detail::tag_shares;
    case phase::masked_input:
      return detail::tag_masked;
    case phase::unmasking:
      return detail::tag_unmask;
    default:
      return 0;
    }
  }
  [[nodiscard]] const char* phase_name() const noexcept {
    static constexpr const char* names[] = {"advertise", "share-keys", "masked-input",
                                            "unmasking", "done",       "aborted"};
    return names[static_cast<std::size_t>(phase_)];
  }
  [[nodiscard]] std::size_t eligible() const {
    const auto p = static_cast<std::size_t>(phase_);
    return p == 0 ? graph_.size() : sets_[p - 1].size();
  }
  [[nodiscard]] bool in(phase p, client_id u) const {
    return sets_[static_cast<std::size_t>(p)].count(u) != 0;
  }

  void on_advertise(client_id from, std::span<const std::byte> payload) {
    detail::byte_reader r(payload, "advertise-keys");
    auto c = detail::to_key(r.raw(32));
    auto s = detail::to_key(r.raw(32));
    r.finish();
    if (c == s)
      throw detail::refuse(counters_, violation::inconsistent, from,
                           "the two advertised public keys are equal");
    for (const auto& [v, k] : keys_)
      if (k.first == c || k.second == s || k.first == s || k.second == c)
        throw detail::refuse(counters_, violation::inconsistent, from,
                             "an advertised public key repeats client " + std::to_string(v) + "'s");
    keys_[from] = {c, s};
  }

  void on_shares(client_id from, std::span<const std::byte> payload) {
    detail::byte_reader r(payload, "encrypted-shares");
    const auto n = r.u32();
    r.check_count(n, 8 + detail::ciphertext_bytes);
    std::map<client_id, std::vector<std::byte>> entries;
    for (std::uint32_t i = 0; i < n; ++i) {
      const auto to = r.u64();
      const auto ct = r.raw(detail::ciphertext_bytes);
      if (to == from || !graph_.contains(to) || !graph_.adjacent(from, to) || !in(phase::advertise, to))
        throw detail::refuse(counters_, violation::wrong_recipient, from,
                             "shares addressed to client " + std::to_string(to) + ", not a live neighbour");
      if (!entries.emplace(to, std::vector<std::byte>(ct.begin(), ct.end())).second)
        throw detail::refuse(counters_, violation::duplicate, from,
                             "two shares for client " + std::to_string(to));
    }
    r.finish();
    const auto live = live_neighbors(from, phase::advertise);
    if (entries.size() != live.size())
      throw detail::refuse(counters_, violation::inconsistent, from,
                           std::to_string(entries.size()) + " shares for " + std::to_string(live.size()) +
                               " live neighbours");
    for (auto& [to, ct] : entries) mailbox_[to].emplace_back(from, std::move(ct));
  }

  void on_masked(client_id from, std::span<const std::byte> payload) {
    if (payload.size() != config_.vector_length * 4)
      throw detail::refuse(counters_, violation::malformed, from,
                           "masked input of " + std::to_string(payload.size()) + " bytes, expected " +
                               std::to_string(config_.vector_length * 4));
    if (sum_.empty()) sum_.assign(config_.vector_length, 0);
    const std::byte* p = payload.data();
    for (std::size_t i = 0; i < sum_.size(); ++i) sum_[i] += wire::detail::get_u32(p + 4 * i);
  }

  void on_unmask(client_id from, std::span<const std::byte> payload) {
    detail::byte_reader r(payload, "unmask-shares");
    const auto n = r.u32();
    r.check_count(n, 9 + detail::share_bytes);
    std::map<client_id, shamir_share> got;
    for (std::uint32_t i = 0; i < n; ++i) {
      const auto owner = r.u64();
      const auto kind = r.u8();
      const auto share = detail::get_share(r);
      for (const auto y : share.y)
        if (y >= shamir_prime)
          throw detail::refuse(counters_, violation::malformed, from,
                               "a share of client " + std::to_string(owner) + " holds a value outside the field");
      const bool holder = owner == from || (graph_.contains(owner) && graph_.adjacent(from, owner) &&
                                            in(phase::share_keys, owner));
      if (!holder)
        throw detail::refuse(counters_, violation::wrong_recipient, from,
                             "a share of client " + std::to_string(owner) + ", which it does not hold");
      const bool survived = in(phase::masked_input, owner);
      if (kind > 1 || (kind == 0) != survived)
        throw detail::refuse(
            counters_, violation::inconsistent, from,
            "a share of kind " + std::to_string(kind) + " for client " + std::to_string(owner) +
                (survived ? ", which survived (needs its seed b)" : ", which dropped (needs its key s_sk)"));
      if (share.x != from + 1)
        throw detail::refuse(counters_, violation::forged, from,
                             "a share at point " + std::to_string(share.x) + ", not the sender's " +
                                 std::to_string(from + 1));
      if (!got.emplace(owner, share).second)
        throw detail::refuse(counters_, violation::duplicate, from,
                             "two shares of client " + std::to_string(owner));
    }
    r.finish();
    for (auto& [owner, s] : got) shares_[owner].push_back(s);
  }

  [[nodiscard]] std::vector<client_id> live_neighbors(client_id u, phase p) const {
    std::vector<client_id> out;
    for (const auto v : graph_.neighbors(u))
      if (in(p, v)) out.push_back(v);
    return out;
  }

  template <transport T>
  void send_keys(T& ep) {
    for (const auto u : sets_[0]) {
      detail::byte_writer w;
      const auto live = live_neighbors(u, phase::advertise);
      w.u32(static_cast<std::uint32_t>(live.size()));
      for (const auto v : live) {
        w.u64(v);
        w.raw(keys_.at(v).first);
        w.raw(keys_.at(v).second);
      }
      ep.send(u, wire::encode_control(config_.round, server_endpoint, detail::tag_keys, w.bytes()));
    }
  }

  template <transport T>
  void send_forwards(T& ep) {
    for (const auto u : sets_[1]) {
      detail::byte_writer w;
      std::uint32_t count = 0;
      w.u32(0);
      for (const auto& [from, ct] : mailbox_[u]) {
        if (!in(phase::share_keys, from)) continue;
        w.u64(from);
        w.raw(ct);
        ++count;
      }
      wire::detail::put_u32(w.bytes().data(), count);
      ep.send(u, wire::encode_control(config_.round, server_endpoint, detail::tag_forward, w.bytes()));
    }
    mailbox_.clear();
  }

  template <transport T>
  void send_survivors(T& ep) {
    for (const auto u : sets_[2]) {
      detail::byte_writer w;
      auto live = live_neighbors(u, phase::masked_input);
      std::vector<client_id> list;
      for (const auto v : live)
        if (in(phase::share_keys, v)) list.push_back(v);
      list.push_back(u);
      w.u32(static_cast<std::uint32_t>(list.size()));
      for (const auto v : list) w.u64(v);
      ep.send(u, wire::encode_control(config_.round, server_endpoint, detail::tag_survivors, w.bytes()));
    }
  }

  template <transport T>
  void unmask(T& ep) {
    // Validate that every needed secret has t shares before any mutation.
    const auto& u2 = sets_[1];
    const auto& u3 = sets_[2];
    for (const auto v : u2) {
      const auto it = shares_.find(v);
      const auto have = it == shares_.end() ? 0 : it->second.size();
      const bool needed =
          u3.count(v) != 0 || std::any_of(graph_.neighbors(v).begin(), graph_.neighbors(v).end(),
                                          [&](client_id u) { return u3.count(u) != 0; });
      if (needed && have < config_.threshold)
        abort(ep, "only " + std::to_string(have) + " shares of client " + std::to_string(v) + "'s " +
                      (u3.count(v) != 0 ? "self-mask seed" : "mask key") + " arrived, below the threshold " +
                      std::to_string(config_.threshold));
    }
    try {
      for (const auto v : u2) {
        const auto it = shares_.find(v);
        if (it == shares_.end()) continue;
        if (u3.count(v) != 0) {
          auto b = shamir_reconstruct(it->second, config_.threshold);
          mask_expander::apply(sum_, b, 0, true);
          detail::wipe(b.data(), b.size());
        } else {
          auto s_sk = shamir_reconstruct(it->second, config_.threshold);
          if (detail::public_of(s_sk) != keys_.at(v).second) {
            detail::wipe(s_sk.data(), s_sk.size());
            abort(ep, "the reconstructed mask key of client " + std::to_string(v) +
                          " does not match its public key");
          }
          for (const auto u : graph_.neighbors(v)) {
            if (u3.count(u) == 0) continue;
            auto key = detail::pair_key(s_sk, keys_.at(u).second, config_.round, u, v);
            if (!key) continue;                         // refused at key agreement already
            mask_expander::apply(sum_, *key, 1, u < v); // remove u's ±PRG(s_uv)
            detail::wipe(key->data(), key->size());
          }
          detail::wipe(s_sk.data(), s_sk.size());
        }
      }
    } catch (const malformed_message& e) {
      abort(ep, std::string("unmasking failed: ") + e.what());
    }
    for (auto& [v, list] : shares_) detail::wipe(list.data(), list.size() * sizeof(shamir_share));
    shares_.clear();
    const auto mask = config_.modulus_mask();
    for (auto& w : sum_) w &= mask;
    phase_ = phase::done;
  }

  template <transport T>
  [[noreturn]] void abort(T& ep, const std::string& why) {
    const auto p = static_cast<std::size_t>(phase_);
    detail::byte_writer w;
    w.u32(static_cast<std::uint32_t>(p));
    const auto m = wire::encode_control(config_.round, server_endpoint, detail::tag_abort, w.bytes());
    const auto& notify = p == 0 ? sets_[0] : sets_[p - 1];
    for (const auto u : notify) ep.send(u, m);
    for (auto& [v, list] : shares_) detail::wipe(list.data(), list.size() * sizeof(shamir_share));
    shares_.clear();
    if (!sum_.empty()) detail::wipe(sum_.data(), sum_.size() * sizeof(std::uint32_t));
    sum_.clear();
    phase_ = phase::aborted;
    ++counters_.aborts;
    throw secagg_aborted("secagg: round " + std::to_string(config_.round) + " aborted: " + why);
  }

  secagg_config config_;
  neighbor_graph graph_;
  phase phase_ = phase::advertise;
  secagg_counters counters_;
  std::array<std::set<client_id>, 4> sets_;
  std::map<client_id, std::pair<key32, key32>> keys_; // c_pk, s_pk
  std::map<client_id, std::vector<std::pair<client_id, std::vector<std::byte>>>> mailbox_;
  std::map<client_id, std::vector<shamir_share>> shares_;
  std::vector<std::uint32_t> sum_;
};

} // namespace fedpp::secagg
