// The honest federated-transfer-learning session of the ftl harness and of its seeds
// (make_corpus.cpp): party A (4 labelled rows of 3 features, 2 classes) and party B (3 rows of 2
// features), two overlap rows, linear networks to d = 2, in plaintext or Paillier mode (A and B
// each with a 256-bit key of vertical_fixtures.hpp), reproducible randomness, so every message of
// one step, Φ and one prediction is the same on every run. Needs fedpp::paillier.
#pragma once

#include "vertical_fixtures.hpp"

#include "fedpp/vertical/ftl.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

namespace fuzz::ftl_session {

using namespace fedpp;
using namespace fedpp::vertical;
namespace vf = fuzz::vertical_fixtures;

inline constexpr endpoint_id a_endpoint = 20, b_endpoint = 21;
inline constexpr std::array<std::size_t, 2> score_rows{0, 2};

inline ftl_options options(ftl_mode mode) {
  ftl_options o;
  o.classes = 2;
  o.gamma = 0.5;
  o.learning_rate = 0.01;
  o.mode = mode;
  o.max_abs_value = 1e3;
  o.session = 6;
  return o;
}

inline ftl_party_a make_a(ftl_mode mode) {
  ftl_rows x{4, 3, {0.5, -1.0, 0.25, 1.5, 0.75, -0.5, -0.25, 2.0, 1.0, 0.0, -1.5, 0.5}};
  std::optional<paillier_keypair> keys;
  if (mode == ftl_mode::paillier) keys = vf::key256();
  return ftl_party_a(split_nn_mlp<double>({3, 2}), 1, std::move(x), {0, 1, 1, 0}, {0, 2}, options(mode), keys,
                     vf::source(41));
}
inline ftl_party_b make_b(ftl_mode mode) {
  ftl_rows x{3, 2, {1.0, -0.5, 0.25, 0.75, -1.25, 0.5}};
  std::optional<paillier_keypair> keys;
  if (mode == ftl_mode::paillier) keys = vf::key256b();
  return ftl_party_b(split_nn_mlp<double>({2, 2}), 2, std::move(x), {1, 2}, options(mode), keys,
                     vf::source(42));
}

/// The receive points, in protocol order (plaintext mode uses A_b_components, B_a_components and
/// B_phi only).
enum class point : unsigned {
  a_public_key,
  b_public_key,
  a_b_components,
  b_a_components,
  a_b_reply,
  b_a_reply,
  b_phi,
  a_scores,
  b_scores_reply
};
inline constexpr unsigned points = 9;

[[nodiscard]] inline bool is_a(point p) {
  return p == point::a_public_key || p == point::a_b_components || p == point::a_b_reply ||
         p == point::a_scores;
}

/// Both parties, and the session's driver: `run(upto)` plays the honest session up to (without)
/// the receive point `upto`, recording each message a receive point takes.
struct session {
  ftl_mode mode;
  ftl_party_a a;
  ftl_party_b b;
  std::array<std::optional<message>, points> inbox{}; // the honest message of each receive point
  explicit session(ftl_mode m) : mode(m), a(make_a(m)), b(make_b(m)) {}

  [[nodiscard]] bool applies(point p) const {
    return mode == ftl_mode::paillier || p == point::a_b_components || p == point::b_a_components ||
           p == point::b_phi;
  }

  /// Delivers `m` to receive point `p`; the reply, if any. Throws as the party does.
  std::optional<message> receive(point p, const message& m) {
    const auto d = wire::decode(m);
    const paillier_wire::key_limits limits{256, 512, 256};
    switch (p) {
    case point::a_public_key:
      a.on_public_key(d, limits);
      return std::nullopt;
    case point::b_public_key:
      b.on_public_key(d, limits);
      return std::nullopt;
    case point::a_b_components:
      return a.on_b_components(d, a_endpoint);
    case point::b_a_components:
      return b.on_a_components(d, b_endpoint);
    case point::a_b_reply:
      return a.on_b_reply(d, a_endpoint);
    case point::b_a_reply:
      b.on_a_reply(d);
      return std::nullopt;
    case point::b_phi:
      b.on_phi(d);
      return std::nullopt;
    case point::a_scores:
      return a.on_scores(d, a_endpoint, score_rows.size());
    case point::b_scores_reply:
      (void)b.on_scores_reply(d);
      return std::nullopt;
    }
    return std::nullopt;
  }

  /// Plays the honest session until receive point `upto` is next (all of it for points).
  void run(unsigned upto) {
    const bool p = mode == ftl_mode::paillier;
    std::optional<message> next; // the message the next receive point takes
    auto at = [&](point q, const message& m) {
      if (static_cast<unsigned>(q) >= upto) return false;
      inbox[static_cast<unsigned>(q)] = m;
      next = receive(q, m);
      return true;
    };
    if (p) {
      const message pka = a.public_key_message(a_endpoint), pkb = b.public_key_message(b_endpoint);
      if (!at(point::a_public_key, pkb) || !at(point::b_public_key, pka)) return;
    }
    if (!at(point::a_b_components, b.components_message(b_endpoint))) return;
    if (!at(point::b_a_components, *next)) return;
    if (p) {
      if (!at(point::a_b_reply, *next) || !at(point::b_a_reply, *next)) return;
    }
    if (!at(point::b_phi, a.phi_message(a_endpoint))) return;
    if (p) {
      if (!at(point::a_scores, b.scores_message(score_rows, b_endpoint))) return;
      (void)at(point::b_scores_reply, *next);
    }
  }
};

/// The honest messages of each receive point in `mode`.
inline const std::array<std::optional<message>, points>& honest(ftl_mode mode) {
  static const auto runs = [] {
    std::array<std::array<std::optional<message>, points>, 2> r;
    for (const ftl_mode m : {ftl_mode::plaintext, ftl_mode::paillier}) {
      session s(m);
      s.run(points);
      r[m == ftl_mode::plaintext ? 0 : 1] = s.inbox;
    }
    return r;
  }();
  return runs[mode == ftl_mode::plaintext ? 0 : 1];
}

} // namespace fuzz::ftl_session
