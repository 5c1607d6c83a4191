// The fixed parties of the vertical-FL harnesses (paillier_wire, psi, split_nn) and of the seed
// generator (make_corpus.cpp): keys, id lists and a split-NN session built from fixed seeds, so
// every honest message is the same on every run. Each part is compiled only where its component
// is linked (FEDPP_WITH_PAILLIER, FEDPP_WITH_PSI); the split-NN session needs no optional
// dependency.
#pragma once

#include "fedpp/privacy/secure_rng.hpp"
#include "fedpp/vertical/split_nn_feature_party.hpp"
#include "fedpp/vertical/split_nn_label_party.hpp"
#include "fedpp/vertical/split_nn_messages.hpp"

#if defined(FEDPP_WITH_PAILLIER)
#include "fedpp/vertical/paillier.hpp"
#include "fedpp/vertical/paillier_encoding.hpp"
#include "fedpp/vertical/paillier_wire.hpp"
#endif
#if defined(FEDPP_WITH_PSI)
#include "fedpp/secagg/random_source.hpp"
#include "fedpp/vertical/psi.hpp"
#endif

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace fuzz::vertical_fixtures {

using namespace fedpp;

#if defined(FEDPP_WITH_PAILLIER) || defined(FEDPP_WITH_PSI)
/// A reproducible random source of the fixtures (not secret: tests only).
inline fedpp::secagg::random_source source(std::uint8_t which) {
  fedpp::secagg::key32 k{};
  k[0] = std::byte{which};
  k[31] = std::byte{0xa5};
  return fedpp::secagg::random_source::reproducible(k);
}
#endif

#if defined(FEDPP_WITH_PAILLIER)
/// The limits the paillier_wire harness decodes keys with: small keys allowed (8 bits, the
/// library's floor), at most 512 bits so that a fuzzed private key's primality tests stay cheap.
inline vertical::paillier_wire::key_limits key_limits() { return {vertical::paillier_min_key_bits, 512, {}}; }

/// A 256-bit key pair generated from a fixed seed (the smallest size generate_paillier_keypair
/// makes).
inline const vertical::paillier_keypair& key256() {
  static const vertical::paillier_keypair k = [] {
    auto rng = source(1);
    return vertical::generate_paillier_keypair(256, rng);
  }();
  return k;
}

/// A second 256-bit key pair (the other party's, where both parties hold one).
inline const vertical::paillier_keypair& key256b() {
  static const vertical::paillier_keypair k = [] {
    auto rng = source(2);
    return vertical::generate_paillier_keypair(256, rng);
  }();
  return k;
}

/// A 21-bit key of two small primes (p = 1019, q = 2027), whose ciphertexts are 6 bytes: the
/// fuzzer reaches values ≥ n², 0 and multiples of p or q easily.
inline const vertical::paillier_private_key& tiny_key() {
  static const vertical::paillier_private_key k(vertical::bigint(1019), vertical::bigint(2027));
  return k;
}
#endif

#if defined(FEDPP_WITH_PSI)
/// The initiator's ids (4) and the responder's (5, two shared: "carol", "dave").
inline const std::vector<std::string>& initiator_ids() {
  static const std::vector<std::string> ids{"alice", "bob", "carol", "dave"};
  return ids;
}
inline const std::vector<std::string>& responder_ids() {
  static const std::vector<std::string> ids{"erin", "dave", "frank", "carol", "grace"};
  return ids;
}
inline constexpr endpoint_id psi_initiator_endpoint = 1, psi_responder_endpoint = 2;

/// Both parties' options: session 7, at most 16 peer ids (the harness's bound on a message).
inline vertical::psi_options psi_options(vertical::psi_mode mode) {
  vertical::psi_options o;
  o.mode = mode;
  o.session = 7;
  o.max_peer_ids = 16;
  return o;
}

inline vertical::psi_initiator make_initiator(vertical::psi_mode mode) {
  auto rng = source(21);
  return vertical::psi_initiator(initiator_ids(), psi_options(mode), rng);
}
inline vertical::psi_responder make_responder(vertical::psi_mode mode) {
  auto rng = source(22);
  return vertical::psi_responder(responder_ids(), psi_options(mode), rng);
}

/// The honest run's messages and outcomes.
struct psi_transcript {
  message request, response, result;
  vertical::psi_result initiator, responder;
};

/// The honest run in `mode` (computed once).
inline const psi_transcript& psi_honest(vertical::psi_mode mode) {
  static const std::array<psi_transcript, 2> runs = [] {
    std::array<psi_transcript, 2> t;
    for (const auto m : {vertical::psi_mode::intersection, vertical::psi_mode::size_only}) {
      auto& r = t[m == vertical::psi_mode::intersection ? 0 : 1];
      auto i = make_initiator(m);
      auto p = make_responder(m);
      r.request = i.request(psi_initiator_endpoint);
      r.response = p.on_request(wire::decode(r.request), psi_responder_endpoint);
      r.initiator = i.on_response(wire::decode(r.response));
      r.result = i.result_message(psi_initiator_endpoint);
      r.responder = p.on_result(wire::decode(r.result));
    }
    return t;
  }();
  return runs[mode == vertical::psi_mode::intersection ? 0 : 1];
}
#endif

// --- split neural network ----------------------------------------------------------------------

/// Two parties: the label holder at server_endpoint (bottom 4 → 3 ReLU, top 5 → 3 classes) and
/// feature party 1 at endpoint 5 (bottom 3 → 2 ReLU), concatenated cut layers, batches of at most
/// 4 of 8 aligned examples, values bounded by `bound`.
inline constexpr endpoint_id split_feature_endpoint = 5;
inline constexpr std::array<std::uint64_t, 3> split_batch{3, 1, 4};

template <class T>
struct split_session {
  std::vector<T> x0, x1; // the parties' features, 8 rows each
  std::vector<std::uint8_t> labels;
  vertical::split_nn_config config;
  vertical::split_nn_mlp<T> bottom0{{4, 3}, true}, top{{5, 3}, false}, bottom1{{3, 2}, true};

  explicit split_session(double bound)
      : config({server_endpoint, split_feature_endpoint}, {3, 2}, vertical::split_nn_combine::concat, 4,
               bound) {
    for (std::size_t i = 0; i < 8 * 4; ++i)
      x0.push_back(static_cast<T>(0.125 * static_cast<double>((i * 7) % 11) - 0.5));
    for (std::size_t i = 0; i < 8 * 3; ++i)
      x1.push_back(static_cast<T>(0.25 * static_cast<double>((i * 5) % 9) - 1.0));
    for (std::size_t i = 0; i < 8; ++i) labels.push_back(static_cast<std::uint8_t>(i % 3));
  }
  [[nodiscard]] vertical::split_nn_rows<T> rows0() const { return {x0.data(), 8, 4, 4}; }
  [[nodiscard]] vertical::split_nn_rows<T> rows1() const { return {x1.data(), 8, 3, 3}; }
  [[nodiscard]] static privacy::secure_rng noise() {
    return privacy::secure_rng::reproducible(privacy::reproducible_seed{11});
  }
  [[nodiscard]] vertical::split_nn_label_party<T> label() const {
    std::vector<T> pb(bottom0.num_parameters()), pt(top.num_parameters());
    bottom0.initialize(pb, 1);
    top.initialize(pt, 2);
    return vertical::split_nn_label_party<T>(config, bottom0, pb, top, pt, {}, noise());
  }
  [[nodiscard]] vertical::split_nn_feature_party<T> feature() const {
    std::vector<T> p(bottom1.num_parameters());
    bottom1.initialize(p, 3);
    return vertical::split_nn_feature_party<T>(config, 1, bottom1, p, {}, noise());
  }
  /// The feature party's honest activations of the batch at step 0 (training or evaluation).
  [[nodiscard]] message activations(vertical::split_nn_message_kind kind) const {
    auto f = feature();
    return f.forward(kind, split_batch, rows1());
  }
  /// The label holder's honest gradient for the feature party at step 0.
  [[nodiscard]] message gradient() const {
    auto l = label();
    const std::array<envelope, 1> in{
        envelope{split_feature_endpoint, server_endpoint,
                 activations(vertical::split_nn_message_kind::train_activations)}};
    return l.train_step(split_batch, rows0(), labels, in).gradients.at(0);
  }
};

} // namespace fuzz::vertical_fixtures
