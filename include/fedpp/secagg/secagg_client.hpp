/// \file secagg_client.hpp
/// The client side of secure aggregation (Bonawitz et al., "Practical secure aggregation for
/// privacy-preserving machine learning", CCS 2017, Fig. 4; SecAgg+ neighbourhoods from Bell et
/// al., CCS 2020) as an explicit state machine over any fedpp transport:
///
///   idle --start--> advertised --key list--> shared --forwarded shares--> masked
///        --survivor list--> done;  any state --abort--> aborted.
///
/// Round 0 (advertise): fresh X25519 pairs (c for share encryption, s for mask agreement).
/// Round 1 (share keys): Shamir-share s_sk and a fresh self-mask seed b among the live neighbours
/// and itself (point id + 1), each share encrypted and authenticated to its holder.
/// Round 2 (masked input): y = x + PRG(b) + Σ_{v live neighbour} ±PRG(s_{u,v}) mod 2^32, with +
/// when u < v and − otherwise, s_{u,v} the agreed pair key.
/// Round 3 (unmasking): for each neighbour the server says survived, the share of its b; for each
/// one it says dropped, the share of its s_sk — never both for one client.
///
/// Every hostile or out-of-place message — truncated or over-long payloads included — is refused
/// with protocol_violation (counted in counters(), state unchanged); no malformed_message
/// escapes handle(). Secrets are wiped when the round ends or aborts.
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/secagg/detail/protocol.hpp"
#include "fedpp/secagg/detail/sodium.hpp"
#include "fedpp/secagg/mask_expander.hpp"
#include "fedpp/secagg/random_source.hpp"
#include "fedpp/secagg/secagg_config.hpp"
#include "fedpp/secagg/secagg_counters.hpp"
#include "fedpp/secagg/shamir.hpp"
#include "fedpp/transport/transport.hpp"
#include "fedpp/transport/wire_format.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace fedpp::secagg {

/// One client's state machine for one round.
class secagg_client {
public:
  /// Where the client is in the round.
  enum class state : std::uint8_t { idle, advertised, shared, masked, done, aborted };

  /// A client with operating-system randomness.
  secagg_client(client_id id, const secagg_config& config)
      : secagg_client(id, config, random_source()) {}
  /// A client drawing its keys, seeds and shares from `rng` — e.g. random_source::reproducible
  /// for reproducible tests and benchmarks (a known seed reveals everything).
  secagg_client(client_id id, const secagg_config& config, random_source rng)
      : secagg_client(id, config, std::make_unique<random_source>(std::move(rng))) {}
  /// Shorthand for random_source::reproducible(seed): tests and benchmarks only.
  secagg_client(client_id id, const secagg_config& config, const key32& seed)
      : secagg_client(id, config, random_source::reproducible(seed)) {}

  secagg_client(const secagg_client&) = delete;
  secagg_client& operator=(const secagg_client&) = delete;
  secagg_client(secagg_client&&) noexcept = default;
  secagg_client& operator=(secagg_client&&) noexcept = default;
  ~secagg_client() { wipe_secrets(); }

  /// This client's id.
  [[nodiscard]] client_id id() const noexcept { return id_; }
  /// The current state.
  [[nodiscard]] state current_state() const noexcept { return state_; }
  /// Refused messages so far.
  [[nodiscard]] const secagg_counters& counters() const noexcept { return counters_; }

  /// Sets the encoded input (vector_length residues mod 2^b); needed before the forwarded shares
  /// arrive. Throws invalid_config on a wrong length or an out-of-range residue.
  void set_input(std::vector<std::uint32_t> input) {
    if (input.size() != config_.vector_length)
      throw invalid_config("secagg_client " + std::to_string(id_) + ": input has " +
                           std::to_string(input.size()) + " words, the round expects " +
                           std::to_string(config_.vector_length));
    const auto mask = config_.modulus_mask();
    for (std::size_t i = 0; i < input.size(); ++i)
      if ((input[i] & ~mask) != 0)
        throw invalid_config("secagg_client " + std::to_string(id_) + ": input word " + std::to_string(i) +
                             " is not below 2^" + std::to_string(config_.modulus_bits));
    input_ = std::move(input);
  }

  /// Round 0: generates the key pairs and sends them to the server.
  template <transport T>
  void start(T& ep) {
    if (state_ != state::idle)
      throw invalid_config("secagg_client " + std::to_string(id_) + ": start() called twice in one round");
    c_sk_ = rng_->key();
    s_sk_ = rng_->key();
    c_pk_ = detail::public_of(c_sk_);
    s_pk_ = detail::public_of(s_sk_);
    detail::byte_writer w;
    w.raw(c_pk_);
    w.raw(s_pk_);
    ep.send(server_endpoint, wire::encode_control(config_.round, id_, detail::tag_advertise, w.bytes()));
    state_ = state::advertised;
  }

  /// Handles one message from the server, sending this client's reply if any. Throws
  /// protocol_violation (counted in counters(); state unchanged) for a refused message — bytes
  /// that do not decode or a payload that is truncated, has trailing bytes or claims more
  /// entries than it holds are violation::malformed, never a bare malformed_message.
  template <transport T>
  void handle(T& ep, const envelope& e) {
    if (e.from != server_endpoint)
      throw detail::refuse(counters_, violation::unknown_sender, e.from,
                           "clients accept messages from the server only");
    const auto d = detail::open_envelope(e.message, e.from, counters_);
    if (d.round() != config_.round)
      throw detail::refuse(counters_, violation::wrong_round, e.from,
                           std::string(detail::tag_name(d.tag())) + " of round " + std::to_string(d.round()) +
                               " in round " + std::to_string(config_.round));
    const auto payload = d.payload_bytes();
    // The payload parsers validate before they mutate: a malformed payload leaves the state as
    // it was, so it is counted and refused like any other violation.
    try {
      switch (d.tag()) {
      case detail::tag_keys:
        expect(detail::tag_keys, state::advertised, state::shared);
        on_keys(ep, payload);
        return;
      case detail::tag_forward:
        expect(detail::tag_forward, state::shared, state::masked);
        on_forward(ep, payload);
        return;
      case detail::tag_survivors:
        expect(detail::tag_survivors, state::masked, state::done);
        on_survivors(ep, payload);
        return;
      case detail::tag_abort: {
        if (state_ == state::done || state_ == state::aborted)
          throw detail::refuse(counters_, violation::wrong_phase, e.from, "abort after the round ended");
        detail::byte_reader r(payload, "abort");
        (void)r.u32(); // the phase the server aborted in
        r.finish();
        wipe_secrets();
        state_ = state::aborted;
        return;
      }
      default:
        throw detail::refuse(counters_, violation::wrong_phase, e.from,
                             "tag " + std::to_string(d.tag()) + " is not a server-to-client message");
      }
    } catch (const malformed_message& m) {
      throw detail::refuse(counters_, violation::malformed, e.from, m.what());
    }
  }

  /// Receives and handles messages until the round ends (done or aborted) or `deadline` passes;
  /// refused messages are counted and skipped. Returns the final state.
  template <transport T>
  state run(T& ep, transport_clock::time_point deadline) {
    if (state_ == state::idle) start(ep);
    while (state_ != state::done && state_ != state::aborted) {
      auto e = ep.receive(deadline);
      if (!e) break;
      try {
        handle(ep, *e);
      } catch (const protocol_violation&) {
        // counted; a refused message changes nothing
      }
    }
    return state_;
  }

private:
  struct neighbor {
    key32 c_pk{};
    key32 s_pk{};
    bool has_share = false;  // its shares reached us (it is in U2)
    shamir_share s_share{};  // our share of its s_sk
    shamir_share b_share{};  // our share of its b
    key32 box_key{}; // crypto_box shared key with it (one X25519 for both directions)
  };

  secagg_client(client_id id, const secagg_config& config, std::unique_ptr<random_source> rng)
      : id_(id), config_(config), rng_(std::move(rng)) {
    config_.validate();
    if (id >= (std::uint64_t{1} << 60))
      throw invalid_config("secagg_client: id " + std::to_string(id) + " is not below 2^60");
  }

  void expect(std::uint32_t tag, state needed, state after) {
    if (state_ == needed) return;
    const bool seen = static_cast<int>(state_) >= static_cast<int>(after) && state_ != state::aborted;
    throw detail::refuse(counters_, seen ? violation::duplicate : violation::wrong_phase, server_endpoint,
                         std::string(detail::tag_name(tag)) +
                             (seen ? " received twice" : " before its phase"));
  }

  template <transport T>
  void on_keys(T& ep, std::span<const std::byte> payload) {
    detail::byte_reader r(payload, "key list");
    const auto n = r.u32();
    r.check_count(n, 8 + 64);
    std::map<client_id, neighbor> list;
    for (std::uint32_t i = 0; i < n; ++i) {
      const auto v = r.u64();
      neighbor nb;
      nb.c_pk = detail::to_key(r.raw(32));
      nb.s_pk = detail::to_key(r.raw(32));
      if (v == id_ || v >= (std::uint64_t{1} << 60))
        throw detail::refuse(counters_, violation::inconsistent, server_endpoint,
                             "key list names client " + std::to_string(v) + " (itself or an invalid id)");
      if (nb.c_pk == c_pk_ || nb.s_pk == s_pk_ || nb.c_pk == nb.s_pk)
        throw detail::refuse(counters_, violation::inconsistent, server_endpoint,
                             "key list gives client " + std::to_string(v) + " a repeated public key");
      if (!list.emplace(v, nb).second)
        throw detail::refuse(counters_, violation::duplicate, server_endpoint,
                             "key list names client " + std::to_string(v) + " twice");
    }
    r.finish();
    if (list.size() + 1 < config_.threshold)
      throw detail::refuse(counters_, violation::inconsistent, server_endpoint,
                           "key list has " + std::to_string(list.size()) +
                               " neighbours; with this client that is below the threshold " +
                               std::to_string(config_.threshold));
    // The pairwise keys first: a list naming an invalid (e.g. low-order) public key is refused
    // before any randomness is drawn, so a refused list leaves even the generator as it was.
    // The shared key is kept for opening this neighbour's shares in the next round, so each pair
    // costs one X25519 for the shares (and one for the mask key), not two.
    for (auto& [v, nb] : list) {
      if (crypto_box_beforenm(detail::uc(nb.box_key.data()), detail::uc(nb.c_pk.data()),
                              detail::uc(c_sk_.data())) != 0) {
        for (auto& entry : list) detail::wipe(entry.second.box_key.data(), entry.second.box_key.size());
        throw detail::refuse(counters_, violation::inconsistent, server_endpoint,
                             "key list gives client " + std::to_string(v) + " an invalid public key");
      }
    }
    // Share s_sk and a fresh b among the neighbours and ourselves (points id + 1). b becomes the
    // client's only once the reply is built.
    key32 b = rng_->key();
    std::vector<std::uint64_t> xs;
    xs.reserve(list.size() + 1);
    for (const auto& [v, nb] : list) xs.push_back(v + 1);
    xs.push_back(id_ + 1);
    auto s_shares = shamir_split(s_sk_, config_.threshold, xs, *rng_);
    auto b_shares = shamir_split(b, config_.threshold, xs, *rng_);
    detail::byte_writer w;
    w.u32(static_cast<std::uint32_t>(list.size()));
    std::size_t i = 0;
    for (auto& [v, nb] : list) {
      detail::byte_writer pt;
      pt.u64(config_.round);
      pt.u64(id_);
      pt.u64(v);
      detail::put_share(pt, s_shares[i]);
      detail::put_share(pt, b_shares[i]);
      std::array<std::byte, detail::ciphertext_bytes> ct;
      rng_->fill(std::span(ct).first(crypto_box_NONCEBYTES));
      // Cannot fail: the plaintext has a fixed, small size.
      (void)crypto_box_easy_afternm(detail::uc(ct.data() + crypto_box_NONCEBYTES),
                                    detail::uc(pt.bytes().data()), pt.bytes().size(), detail::uc(ct.data()),
                                    detail::uc(nb.box_key.data()));
      pt.wipe_all();
      w.u64(v);
      w.raw(ct);
      ++i;
    }
    b_ = b;
    detail::wipe(b.data(), b.size());
    own_s_share_ = s_shares.back();
    own_b_share_ = b_shares.back();
    detail::wipe(s_shares.data(), s_shares.size() * sizeof(shamir_share));
    detail::wipe(b_shares.data(), b_shares.size() * sizeof(shamir_share));
    neighbors_ = std::move(list);
    ep.send(server_endpoint, wire::encode_control(config_.round, id_, detail::tag_shares, w.bytes()));
    state_ = state::shared;
  }

  template <transport T>
  void on_forward(T& ep, std::span<const std::byte> payload) {
    if (input_.size() != config_.vector_length)
      throw invalid_config("secagg_client " + std::to_string(id_) +
                           ": set_input() was not called before the masked-input round");
    detail::byte_reader r(payload, "forwarded shares");
    const auto n = r.u32();
    r.check_count(n, 8 + detail::ciphertext_bytes);
    struct opened {
      client_id from;
      shamir_share s, b;
    };
    std::vector<opened> got;
    got.reserve(n);
    const auto cleanup = [&] { detail::wipe(got.data(), got.size() * sizeof(opened)); };
    try {
      for (std::uint32_t i = 0; i < n; ++i) {
        const auto v = r.u64();
        const auto ct = r.raw(detail::ciphertext_bytes);
        const auto it = neighbors_.find(v);
        if (it == neighbors_.end())
          throw detail::refuse(counters_, violation::wrong_recipient, server_endpoint,
                               "forwarded shares from client " + std::to_string(v) + ", not a neighbour");
        if (std::any_of(got.begin(), got.end(), [&](const opened& o) { return o.from == v; }))
          throw detail::refuse(counters_, violation::duplicate, server_endpoint,
                               "forwarded shares from client " + std::to_string(v) + " twice");
        std::array<std::byte, detail::plaintext_bytes> pt;
        if (crypto_box_open_easy_afternm(detail::uc(pt.data()), detail::uc(ct.data() + crypto_box_NONCEBYTES),
                                         ct.size() - crypto_box_NONCEBYTES, detail::uc(ct.data()),
                                         detail::uc(it->second.box_key.data())) != 0)
          throw detail::refuse(counters_, violation::forged, server_endpoint,
                               "the shares from client " + std::to_string(v) + " fail authentication");
        detail::byte_reader p(pt, "share plaintext");
        const auto round = p.u64();
        const auto from = p.u64();
        const auto to = p.u64();
        opened o{v, detail::get_share(p), detail::get_share(p)};
        detail::wipe(pt.data(), pt.size());
        if (round != config_.round || from != v)
          throw detail::refuse(counters_, violation::forged, server_endpoint,
                               "the shares from client " + std::to_string(v) + " are bound to round " +
                                   std::to_string(round) + " and sender " + std::to_string(from));
        if (to != id_ || o.s.x != id_ + 1 || o.b.x != id_ + 1)
          throw detail::refuse(counters_, violation::wrong_recipient, server_endpoint,
                               "the shares from client " + std::to_string(v) + " are addressed to client " +
                                   std::to_string(to));
        got.push_back(o);
      }
      r.finish();
    } catch (...) {
      cleanup();
      throw;
    }
    if (got.size() + 1 < config_.threshold) {
      cleanup();
      throw detail::refuse(counters_, violation::inconsistent, server_endpoint,
                           std::to_string(got.size()) +
                               " neighbours shared keys; with this client that is below the threshold " +
                               std::to_string(config_.threshold));
    }
    // Mask: y = x + PRG(b) + Σ ±PRG(s_uv).
    std::vector<std::uint32_t> y = input_;
    mask_expander::apply(y, b_, 0, false);
    for (const auto& o : got) {
      auto& nb = neighbors_.at(o.from);
      const auto key = detail::pair_key(s_sk_, nb.s_pk, config_.round, id_, o.from);
      if (!key) {
        cleanup();
        throw detail::refuse(counters_, violation::inconsistent, server_endpoint,
                             "client " + std::to_string(o.from) + " advertised a low-order mask key");
      }
      mask_expander::apply(y, *key, 1, id_ > o.from);
      auto k = *key;
      detail::wipe(k.data(), k.size());
    }
    for (const auto& o : got) {
      auto& nb = neighbors_.at(o.from);
      nb.has_share = true;
      nb.s_share = o.s;
      nb.b_share = o.b;
    }
    cleanup();
    const auto mask = config_.modulus_mask();
    if (mask != 0xffffffffU)
      for (auto& w : y) w &= mask;
    detail::wipe(input_.data(), input_.size() * sizeof(std::uint32_t));
    std::vector<std::uint32_t>().swap(input_); // release the memory: a host may simulate many clients
    ep.send(server_endpoint, wire::encode_control(config_.round, id_, detail::tag_masked,
                                                  std::as_bytes(std::span<const std::uint32_t>(y))));
    state_ = state::masked;
  }

  template <transport T>
  void on_survivors(T& ep, std::span<const std::byte> payload) {
    detail::byte_reader r(payload, "survivor list");
    const auto n = r.u32();
    r.check_count(n, 8);
    std::vector<client_id> alive;
    alive.reserve(n);
    for (std::uint32_t i = 0; i < n; ++i) alive.push_back(r.u64());
    r.finish();
    std::sort(alive.begin(), alive.end());
    if (std::adjacent_find(alive.begin(), alive.end()) != alive.end())
      throw detail::refuse(counters_, violation::duplicate, server_endpoint,
                           "survivor list names a client twice");
    bool self = false;
    for (const auto v : alive) {
      if (v == id_) {
        self = true;
        continue;
      }
      const auto it = neighbors_.find(v);
      if (it == neighbors_.end() || !it->second.has_share)
        throw detail::refuse(counters_, violation::inconsistent, server_endpoint,
                             "survivor list names client " + std::to_string(v) +
                                 ", which did not share keys with this client");
    }
    if (!self)
      throw detail::refuse(counters_, violation::inconsistent, server_endpoint,
                           "survivor list omits this client although it sent its masked input");
    if (alive.size() < config_.threshold)
      throw detail::refuse(counters_, violation::inconsistent, server_endpoint,
                           std::to_string(alive.size()) + " survivors are below the threshold " +
                               std::to_string(config_.threshold) + "; refusing to unmask");
    // For each holder-owner: b if it survived, s_sk if it dropped — never both.
    detail::byte_writer w;
    std::uint32_t count = 0;
    w.u32(0);
    const auto put = [&](client_id owner, std::uint8_t kind, const shamir_share& s) {
      w.u64(owner);
      w.u8(kind);
      detail::put_share(w, s);
      ++count;
    };
    put(id_, 0, own_b_share_);
    for (const auto& [v, nb] : neighbors_) {
      if (!nb.has_share) continue;
      if (std::binary_search(alive.begin(), alive.end(), v))
        put(v, 0, nb.b_share);
      else
        put(v, 1, nb.s_share);
    }
    wire::detail::put_u32(w.bytes().data(), count);
    const auto m = wire::encode_control(config_.round, id_, detail::tag_unmask, w.bytes());
    w.wipe_all();
    ep.send(server_endpoint, m);
    wipe_secrets();
    state_ = state::done;
  }

  void wipe_secrets() noexcept {
    detail::wipe(c_sk_.data(), c_sk_.size());
    detail::wipe(s_sk_.data(), s_sk_.size());
    detail::wipe(b_.data(), b_.size());
    detail::wipe(&own_s_share_, sizeof(own_s_share_));
    detail::wipe(&own_b_share_, sizeof(own_b_share_));
    for (auto& [v, nb] : neighbors_) {
      detail::wipe(&nb.s_share, sizeof(nb.s_share));
      detail::wipe(&nb.b_share, sizeof(nb.b_share));
      detail::wipe(nb.box_key.data(), nb.box_key.size());
    }
    if (!input_.empty()) detail::wipe(input_.data(), input_.size() * sizeof(std::uint32_t));
  }

  client_id id_;
  secagg_config config_;
  std::unique_ptr<random_source> rng_;
  state state_ = state::idle;
  secagg_counters counters_;
  key32 c_sk_{}, s_sk_{}, c_pk_{}, s_pk_{}, b_{};
  shamir_share own_s_share_{}, own_b_share_{};
  std::map<client_id, neighbor> neighbors_;
  std::vector<std::uint32_t> input_;
};

} // namespace fedpp::secagg
