/// \file psi.hpp
/// Entity alignment by ECDH private set intersection over ristretto255 (opt-in component
/// fedpp::psi, libsodium). Two parties — the initiator (in vertical FL the label holder) and a
/// responder (a feature holder) — learn the ids they share, each as its own row indices in the
/// initiator's order, or only how many they share; one label holder aligns with several feature
/// holders to the ids all of them hold. docs/vertical.md has the protocol, the threat model and
/// the figures.
///
/// The protocol (semi-honest parties; H hashes an id to the group, a and b are the parties'
/// secret scalars, [·] a list in the order it is sent):
///
///   initiator → responder   psi_request    [H(x)^a] for x in X, in X's order
///   responder → initiator   psi_response   [H(x)^ab] in the request's order (shuffled in size-only
///                                          mode), then [H(y)^b] for y in Y, shuffled
///   initiator → responder   psi_result     for each shared id in X's order, its position in the
///                                          responder's shuffled list (size-only mode: the count)
///
/// The initiator raises each H(y)^b to a and looks its H(x)^ab up among them (equal group
/// elements have equal 32-byte encodings). H(id) = crypto_core_ristretto255_from_hash(SHA-512(
/// u8 len(domain) ‖ domain ‖ u64le len(id) ‖ id)): RFC 9380's hash_to_ristretto255 with SHA-512
/// in place of its expand_message (Elligator 2 twice and a sum, what from_hash does).
///
/// What each party learns: the other's set size; the initiator the intersection (its own rows),
/// the responder the intersection too (from psi_result) — or both only its size in size-only
/// mode, where the responder shuffles the double-blinded list so the initiator cannot tell which
/// of its ids matched. Nothing else about the other's ids, under the decisional Diffie–Hellman
/// assumption on ristretto255 with H modelled as a random oracle (Huberman, Franklin, Hogg 1999;
/// Meadows 1986). Ids are arbitrary byte strings; duplicates within one party's list are refused
/// (invalid_config naming both rows): an id column with duplicates cannot be aligned row by row.
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/parallel/thread_pool.hpp"
#include "fedpp/secagg/random_source.hpp"
#include "fedpp/transport/message.hpp"
#include "fedpp/transport/transport.hpp"
#include "fedpp/transport/wire_format.hpp"
#include "fedpp/vertical/detail/codec.hpp"
#include "fedpp/vertical/tags.hpp"

#include <sodium.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace fedpp::vertical {

/// Cryptographic randomness (libsodium's randombytes_buf, or a reproducible ChaCha20 stream for
/// tests): fedpp::secagg's type (paillier.hpp declares the same alias).
using random_source = fedpp::secagg::random_source;

/// What the parties learn.
enum class psi_mode : std::uint8_t {
  intersection = 1, ///< both learn the shared ids (their own rows, in the initiator's order)
  size_only = 2     ///< both learn only how many ids they share
};

/// Options of both parties (they must agree on mode, session and domain).
struct psi_options {
  psi_mode mode = psi_mode::intersection;
  /// Carried as the wire header's round: messages of another session are refused.
  std::uint64_t session = 0;
  /// Domain-separation tag of the hash to the group (at most 255 bytes).
  std::string domain = "fedpp/vertical/psi/v1";
  /// Largest peer set accepted: a message declaring more is refused before anything is allocated.
  std::uint64_t max_peer_ids = std::uint64_t{1} << 27;
  /// Runs the hashing and the exponentiations on this pool (not owned; null: serially).
  fedpp::parallel::thread_pool* pool = nullptr;
  /// Called on the calling thread after each block: (stage, done, total), stage one of "hash+blind",
  /// "blind peer", "match".
  std::function<void(std::string_view, std::size_t, std::size_t)> progress{};
  /// The drivers' wait for each message.
  std::chrono::milliseconds timeout{std::chrono::minutes(10)};
};

/// One party's outcome.
struct psi_result {
  /// This party's row indices of the shared ids, in the initiator's order (empty in size-only
  /// mode). For the initiator they ascend.
  std::vector<std::size_t> rows;
  /// How many ids are shared (with every peer, for a multi-party label holder).
  std::uint64_t size = 0;
  /// The other party's set size (the label holder: of the last peer; see per_peer_sizes).
  std::uint64_t peer_set_size = 0;
};

/// A ristretto255 element's canonical encoding.
using psi_point = std::array<unsigned char, crypto_core_ristretto255_BYTES>;

namespace detail {

inline constexpr std::uint32_t psi_version = 1;
inline constexpr std::size_t psi_block = 8192;

inline void check_domain(std::string_view domain) {
  if (domain.size() > 255)
    throw invalid_config("psi: the domain tag has " + std::to_string(domain.size()) +
                         " bytes, more than 255");
}

/// Runs body(i) for i in [begin, end) on the pool (contiguous parts) or serially.
template <class Body>
void psi_parallel(fedpp::parallel::thread_pool* pool, std::size_t begin, std::size_t end, Body&& body) {
  const std::size_t n = end - begin;
  if (pool == nullptr || pool->size() <= 1 || n < 64) {
    for (std::size_t i = begin; i < end; ++i) body(i);
    return;
  }
  const std::size_t tasks = pool->size();
  pool->run(tasks, [&](std::size_t t) {
    for (std::size_t i = begin + n * t / tasks; i < begin + n * (t + 1) / tasks; ++i) body(i);
  });
}

/// body over [0, n) in blocks, reporting progress after each.
template <class Body>
void psi_blocks(const psi_options& o, std::string_view stage, std::size_t n, Body&& body) {
  for (std::size_t b = 0; b < n; b += psi_block) {
    const std::size_t e = std::min(n, b + psi_block);
    psi_parallel(o.pool, b, e, body);
    if (o.progress) o.progress(stage, e, n);
  }
  if (n == 0 && o.progress) o.progress(stage, 0, 0);
}

/// A secret scalar, wiped on destruction.
class psi_scalar {
public:
  explicit psi_scalar(fedpp::secagg::random_source& rng) {
    std::array<std::byte, crypto_core_ristretto255_NONREDUCEDSCALARBYTES> wide{};
    do {
      rng.fill(wide);
      crypto_core_ristretto255_scalar_reduce(s_.data(), reinterpret_cast<const unsigned char*>(wide.data()));
    } while (sodium_is_zero(s_.data(), s_.size()) != 0);
    sodium_memzero(wide.data(), wide.size());
  }
  psi_scalar(const psi_scalar&) = delete;
  psi_scalar& operator=(const psi_scalar&) = delete;
  psi_scalar(psi_scalar&& o) noexcept : s_(o.s_) { sodium_memzero(o.s_.data(), o.s_.size()); }
  psi_scalar& operator=(psi_scalar&& o) noexcept {
    s_ = o.s_;
    sodium_memzero(o.s_.data(), o.s_.size());
    return *this;
  }
  ~psi_scalar() { sodium_memzero(s_.data(), s_.size()); }
  [[nodiscard]] const unsigned char* data() const noexcept { return s_.data(); }

private:
  std::array<unsigned char, crypto_core_ristretto255_SCALARBYTES> s_{};
};

/// q = p^s; throws malformed_message naming `what` when p is not a valid encoding or q is the
/// identity.
inline void blind(unsigned char* q, const unsigned char* p, const psi_scalar& s, const char* what,
                  std::size_t i) {
  if (crypto_scalarmult_ristretto255(q, s.data(), p) != 0)
    throw malformed_message(std::string("psi: ") + what + " " + std::to_string(i) +
                            " is not a valid ristretto255 element (or is the identity)");
}

/// Refuses duplicate ids (invalid_config naming both rows).
template <class Id>
void check_distinct(std::span<const Id> ids) {
  std::unordered_map<std::string_view, std::size_t> seen;
  seen.reserve(ids.size());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const auto [it, fresh] = seen.emplace(std::string_view(ids[i]), i);
    if (!fresh)
      throw invalid_config("psi: ids " + std::to_string(it->second) + " and " + std::to_string(i) +
                           " are equal; duplicate ids cannot be aligned (deduplicate the id column first)");
  }
}

/// Uniformly random permutation of [0, n) (Fisher–Yates with rejection-sampled draws).
inline std::vector<std::uint64_t> random_permutation(std::size_t n, fedpp::secagg::random_source& rng) {
  std::vector<std::uint64_t> perm(n);
  for (std::size_t i = 0; i < n; ++i) perm[i] = i;
  if (n < 2) return perm;
  std::vector<std::byte> draws(8 * n);
  rng.fill(draws);
  std::size_t used = 0;
  auto next = [&]() {
    if (used == n) {
      rng.fill(draws);
      used = 0;
    }
    return wire::detail::get_u64(draws.data() + 8 * used++);
  };
  for (std::size_t i = n - 1; i > 0; --i) {
    const std::uint64_t bound = i + 1;
    const std::uint64_t limit = ~std::uint64_t{0} - (~std::uint64_t{0} % bound);
    std::uint64_t x = next();
    while (x >= limit) x = next();
    std::swap(perm[i], perm[x % bound]);
  }
  sodium_memzero(draws.data(), draws.size());
  return perm;
}

inline void read_points(vertical::detail::byte_reader& r, std::uint64_t count, std::vector<psi_point>& out,
                        const psi_options& o, const char* what) {
  r.check_count(count, crypto_core_ristretto255_BYTES);
  const auto bytes = r.raw(count * crypto_core_ristretto255_BYTES);
  out.resize(count);
  if (count != 0) std::memcpy(out.data(), bytes.data(), bytes.size()); // an empty set: no data() to copy to
  // Every element checked before any is used.
  psi_parallel(o.pool, 0, out.size(), [&](std::size_t i) {
    if (crypto_core_ristretto255_is_valid_point(out[i].data()) != 1)
      throw malformed_message(std::string("psi: ") + what + " " + std::to_string(i) +
                              " is not a valid ristretto255 encoding");
  });
}

inline void write_points(vertical::detail::byte_writer& w, std::span<const psi_point> ps) {
  w.u64(ps.size());
  if (!ps.empty())
    std::memcpy(w.grow(ps.size() * sizeof(psi_point)), ps.data(), ps.size() * sizeof(psi_point));
}

inline std::span<const std::byte> expect(const wire::decoded_message& d, vertical_tag tag,
                                         const psi_options& o) {
  if (d.kind() != wire::message_kind::control || d.tag() != to_wire(tag))
    throw malformed_message("psi: expected a control message with tag " + wire::detail::hex(to_wire(tag)) +
                            ", got kind " + wire::to_string(d.kind()) + " tag " + wire::detail::hex(d.tag()) +
                            " (out of order?)");
  if (d.round() != o.session)
    throw malformed_message("psi: message of session " + std::to_string(d.round()) + ", expected " +
                            std::to_string(o.session));
  return d.payload_bytes();
}

inline void read_preamble(vertical::detail::byte_reader& r, const psi_options& o) {
  const std::uint32_t v = r.u32();
  if (v != psi_version)
    r.fail("has version " + std::to_string(v) + ", expected " + std::to_string(psi_version));
  const std::uint8_t mode = r.u8();
  if (mode != static_cast<std::uint8_t>(o.mode))
    r.fail("is for mode " + std::to_string(mode) + ", this party runs mode " +
           std::to_string(static_cast<unsigned>(o.mode)) + " (1 intersection, 2 size only)");
}

} // namespace detail

/// H(id): the id hashed to ristretto255 under `domain` (see the file comment).
[[nodiscard]] inline psi_point psi_hash_to_group(std::string_view id, std::string_view domain) {
  detail::check_domain(domain);
  crypto_hash_sha512_state st;
  crypto_hash_sha512_init(&st);
  const auto dlen = static_cast<unsigned char>(domain.size());
  crypto_hash_sha512_update(&st, &dlen, 1);
  crypto_hash_sha512_update(&st, reinterpret_cast<const unsigned char*>(domain.data()), domain.size());
  std::array<std::byte, 8> len{};
  wire::detail::put_u64(len.data(), id.size());
  crypto_hash_sha512_update(&st, reinterpret_cast<const unsigned char*>(len.data()), len.size());
  crypto_hash_sha512_update(&st, reinterpret_cast<const unsigned char*>(id.data()), id.size());
  std::array<unsigned char, crypto_hash_sha512_BYTES> h{};
  crypto_hash_sha512_final(&st, h.data());
  psi_point p{};
  crypto_core_ristretto255_from_hash(p.data(), h.data());
  return p;
}

/// The initiator's side of one two-party run (the label holder's, one per feature holder).
/// Calls in order: request(), on_response(), result_message(). A message that is malformed,
/// of another session, tag or mode, or out of order is refused with malformed_message and the
/// object is unchanged; calling out of order is invalid_config.
class psi_initiator {
public:
  /// `ids` must outlive the object; duplicates are refused (invalid_config).
  psi_initiator(std::span<const std::string> ids, psi_options options, fedpp::secagg::random_source& rng)
      : ids_(ids), o_(std::move(options)), a_(rng) {
    detail::check_domain(o_.domain);
    detail::check_distinct(ids_);
  }

  /// psi_request: [H(x)^a] in the ids' order.
  [[nodiscard]] message request(endpoint_id self) {
    if (state_ != state::fresh) throw invalid_config("psi_initiator::request: already sent");
    std::vector<psi_point> blinded(ids_.size());
    detail::psi_blocks(o_, "hash+blind", ids_.size(), [&](std::size_t i) {
      const psi_point h = psi_hash_to_group(ids_[i], o_.domain);
      detail::blind(blinded[i].data(), h.data(), a_, "own id", i);
    });
    vertical::detail::byte_writer w;
    w.reserve(21 + blinded.size() * sizeof(psi_point));
    w.u32(detail::psi_version);
    w.u8(static_cast<std::uint8_t>(o_.mode));
    detail::write_points(w, blinded);
    state_ = state::requested;
    return vertical::detail::control_message(o_.session, self, to_wire(vertical_tag::psi_request), w.bytes());
  }

  /// Reads psi_response and returns this party's outcome with this peer.
  psi_result on_response(const wire::decoded_message& d) {
    if (state_ != state::requested)
      throw invalid_config("psi_initiator::on_response: no request outstanding");
    vertical::detail::byte_reader r(detail::expect(d, vertical_tag::psi_response, o_), "psi response");
    detail::read_preamble(r, o_);
    const std::uint64_t na = r.u64();
    if (na != ids_.size())
      r.fail("answers " + std::to_string(na) + " ids, the request had " + std::to_string(ids_.size()));
    std::vector<psi_point> ab;
    detail::read_points(r, na, ab, o_, "double-blinded id");
    const std::uint64_t nb = r.u64();
    if (nb > o_.max_peer_ids)
      r.fail("declares " + std::to_string(nb) +
             " peer ids, more than max_peer_ids = " + std::to_string(o_.max_peer_ids));
    std::vector<psi_point> b;
    detail::read_points(r, nb, b, o_, "peer id");
    r.finish();
    // [H(y)^ba], then a sorted index of it.
    std::vector<psi_point> ba(b.size());
    detail::psi_blocks(o_, "blind peer", b.size(),
                       [&](std::size_t i) { detail::blind(ba[i].data(), b[i].data(), a_, "peer id", i); });
    std::vector<std::uint64_t> order(ba.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](std::uint64_t x, std::uint64_t y) { return ba[x] < ba[y]; });
    for (std::size_t i = 1; i < order.size(); ++i)
      if (ba[order[i]] == ba[order[i - 1]])
        r.fail("repeats an id (entries " + std::to_string(order[i - 1]) + " and " + std::to_string(order[i]) +
               ")");
    std::vector<std::uint64_t> match(ab.size(), no_match);
    detail::psi_blocks(o_, "match", ab.size(), [&](std::size_t i) {
      const auto it = std::lower_bound(order.begin(), order.end(), ab[i],
                                       [&](std::uint64_t x, const psi_point& v) { return ba[x] < v; });
      if (it != order.end() && ba[*it] == ab[i]) match[i] = *it;
    });
    psi_result out;
    out.peer_set_size = nb;
    for (std::size_t i = 0; i < match.size(); ++i)
      if (match[i] != no_match) {
        ++out.size;
        if (o_.mode == psi_mode::intersection) out.rows.push_back(i);
      }
    if (o_.mode == psi_mode::intersection) {
      // A matched responder entry used twice would mean two of our ids matched one of theirs.
      std::vector<std::uint64_t> used;
      for (std::size_t i : out.rows) used.push_back(match[i]);
      std::sort(used.begin(), used.end());
      if (std::adjacent_find(used.begin(), used.end()) != used.end()) r.fail("matches one peer id twice");
    }
    match_ = std::move(match);
    result_ = out;
    state_ = state::answered;
    return out;
  }

  /// psi_result for the responder: the shared ids among `rows` (this party's rows, in the order
  /// to report: by default every shared id of this run, ascending) as positions in the
  /// responder's list; in size-only mode only their count. Throws invalid_config when a row is
  /// not shared with this peer.
  [[nodiscard]] message
  result_message(endpoint_id self, std::optional<std::span<const std::size_t>> rows = std::nullopt) const {
    if (state_ != state::answered)
      throw invalid_config("psi_initiator::result_message: no response read yet");
    vertical::detail::byte_writer w;
    w.u32(detail::psi_version);
    w.u8(static_cast<std::uint8_t>(o_.mode));
    if (o_.mode == psi_mode::size_only) {
      w.u64(result_.size);
    } else {
      const std::span<const std::size_t> chosen = rows ? *rows : std::span<const std::size_t>(result_.rows);
      w.u64(chosen.size());
      for (std::size_t row : chosen) {
        if (row >= match_.size() || match_[row] == no_match)
          throw invalid_config("psi_initiator::result_message: row " + std::to_string(row) +
                               " is not shared with this peer");
        w.u64(match_[row]);
      }
    }
    return vertical::detail::control_message(o_.session, self, to_wire(vertical_tag::psi_result), w.bytes());
  }

  /// The outcome read by on_response.
  [[nodiscard]] const psi_result& result() const noexcept { return result_; }
  /// The options.
  [[nodiscard]] const psi_options& options() const noexcept { return o_; }

private:
  static constexpr std::uint64_t no_match = ~std::uint64_t{0};
  enum class state { fresh, requested, answered };
  std::span<const std::string> ids_;
  psi_options o_;
  detail::psi_scalar a_;
  state state_ = state::fresh;
  std::vector<std::uint64_t> match_;
  psi_result result_;
};

/// The responder's side (a feature holder). Calls in order: on_request(), on_result(); refusals
/// as psi_initiator's.
class psi_responder {
public:
  /// `ids` must outlive the object; duplicates are refused (invalid_config). The shuffles are
  /// drawn from `rng` here.
  psi_responder(std::span<const std::string> ids, psi_options options, fedpp::secagg::random_source& rng)
      : ids_(ids), o_(std::move(options)), b_(rng) {
    detail::check_domain(o_.domain);
    detail::check_distinct(ids_);
    perm_ = detail::random_permutation(ids_.size(), rng);
    seed_ = rng.key();
  }
  psi_responder(const psi_responder&) = delete;
  psi_responder& operator=(const psi_responder&) = delete;
  ~psi_responder() { sodium_memzero(seed_.data(), seed_.size()); }

  /// Reads psi_request and returns psi_response.
  [[nodiscard]] message on_request(const wire::decoded_message& d, endpoint_id self) {
    if (state_ != state::fresh)
      throw malformed_message("psi: a second request in one session (out of order)");
    vertical::detail::byte_reader r(detail::expect(d, vertical_tag::psi_request, o_), "psi request");
    detail::read_preamble(r, o_);
    const std::uint64_t na = r.u64();
    if (na > o_.max_peer_ids)
      r.fail("declares " + std::to_string(na) +
             " peer ids, more than max_peer_ids = " + std::to_string(o_.max_peer_ids));
    std::vector<psi_point> a;
    detail::read_points(r, na, a, o_, "peer id");
    r.finish();
    std::vector<psi_point> ab(a.size());
    detail::psi_blocks(o_, "blind peer", a.size(),
                       [&](std::size_t i) { detail::blind(ab[i].data(), a[i].data(), b_, "peer id", i); });
    if (o_.mode == psi_mode::size_only) {
      fedpp::secagg::random_source shuffle = fedpp::secagg::random_source::reproducible(seed_);
      const auto p = detail::random_permutation(ab.size(), shuffle);
      std::vector<psi_point> shuffled(ab.size());
      for (std::size_t i = 0; i < p.size(); ++i) shuffled[i] = ab[p[i]];
      ab = std::move(shuffled);
    }
    std::vector<psi_point> own(ids_.size());
    detail::psi_blocks(o_, "hash+blind", ids_.size(), [&](std::size_t i) {
      const psi_point h = psi_hash_to_group(ids_[perm_[i]], o_.domain);
      detail::blind(own[i].data(), h.data(), b_, "own id", i);
    });
    vertical::detail::byte_writer w;
    w.reserve(29 + (ab.size() + own.size()) * sizeof(psi_point));
    w.u32(detail::psi_version);
    w.u8(static_cast<std::uint8_t>(o_.mode));
    detail::write_points(w, ab);
    detail::write_points(w, own);
    peer_size_ = na;
    state_ = state::responded;
    return vertical::detail::control_message(o_.session, self, to_wire(vertical_tag::psi_response),
                                             w.bytes());
  }

  /// Reads psi_result: this party's rows of the shared ids in the initiator's order (or the size).
  psi_result on_result(const wire::decoded_message& d) {
    if (state_ != state::responded)
      throw malformed_message("psi: a result before any request (out of order)");
    vertical::detail::byte_reader r(detail::expect(d, vertical_tag::psi_result, o_), "psi result");
    detail::read_preamble(r, o_);
    const std::uint64_t k = r.u64();
    const std::uint64_t bound = std::min<std::uint64_t>(peer_size_, ids_.size());
    if (k > bound)
      r.fail("reports " + std::to_string(k) +
             " shared ids, more than min(set sizes) = " + std::to_string(bound));
    psi_result out;
    out.size = k;
    out.peer_set_size = peer_size_;
    if (o_.mode == psi_mode::intersection) {
      r.check_count(k, 8);
      std::vector<bool> seen(ids_.size(), false);
      out.rows.reserve(k);
      for (std::uint64_t i = 0; i < k; ++i) {
        const std::uint64_t pos = r.u64();
        if (pos >= ids_.size())
          r.fail("names position " + std::to_string(pos) + " of " + std::to_string(ids_.size()));
        if (seen[pos]) r.fail("names position " + std::to_string(pos) + " twice");
        seen[pos] = true;
        out.rows.push_back(static_cast<std::size_t>(perm_[pos]));
      }
    }
    r.finish();
    state_ = state::finished;
    return out;
  }

private:
  enum class state { fresh, responded, finished };
  std::span<const std::string> ids_;
  psi_options o_;
  detail::psi_scalar b_;
  std::vector<std::uint64_t> perm_;
  fedpp::secagg::key32 seed_{};
  std::uint64_t peer_size_ = 0;
  state state_ = state::fresh;
};

namespace detail {
/// The next message from `peer` (decoded); throws fedpp::error at the deadline, malformed_message
/// (impersonation) for a message from anyone else or claiming another sender.
template <transport T>
wire::decoded_message psi_receive(T& t, std::span<const endpoint_id> peers, endpoint_id& from,
                                  const psi_options& o) {
  const auto deadline = transport_clock::now() + o.timeout;
  auto env = t.receive(deadline);
  if (!env) throw fedpp::error("psi: no message within " + std::to_string(o.timeout.count()) + " ms");
  if (std::find(peers.begin(), peers.end(), env->from) == peers.end())
    throw malformed_message("psi: a message from endpoint " + std::to_string(env->from) +
                            ", not a party of this run");
  auto d = wire::decode(env->message);
  if (!may_speak_for(t, env->from, d.sender())) throw impersonation(env->from, d.sender(), "psi message");
  from = env->from;
  return d;
}
} // namespace detail

/// The responder over a transport: waits for `initiator`'s request, answers, waits for the
/// result. Throws malformed_message for a bad or out-of-order message, fedpp::error on timeout.
template <transport T>
psi_result run_psi_responder(T& t, endpoint_id initiator, std::span<const std::string> ids,
                             const psi_options& options, fedpp::secagg::random_source& rng) {
  psi_responder party(ids, options, rng);
  const std::array<endpoint_id, 1> peers{initiator};
  endpoint_id from = 0;
  t.send(initiator, party.on_request(detail::psi_receive(t, peers, from, options), t.id()));
  return party.on_result(detail::psi_receive(t, peers, from, options));
}

/// The label holder (initiator) aligned with every feature holder of `peers`: one two-party run
/// each (requests sent to all first), then the ids shared with all of them, in this party's
/// order; each feature holder receives its rows of exactly those ids in that order. Size-only
/// mode is for one peer only (the size of a multi-way intersection is not the pairwise sizes'):
/// invalid_config otherwise.
template <transport T>
psi_result run_psi_label_holder(T& t, std::span<const endpoint_id> peers, std::span<const std::string> ids,
                                const psi_options& options, fedpp::secagg::random_source& rng) {
  if (peers.empty()) throw invalid_config("psi: no feature holders");
  if (options.mode == psi_mode::size_only && peers.size() != 1)
    throw invalid_config("psi: size-only mode runs between two parties; got " + std::to_string(peers.size()) +
                         " peers");
  for (std::size_t i = 0; i < peers.size(); ++i)
    for (std::size_t j = i + 1; j < peers.size(); ++j)
      if (peers[i] == peers[j])
        throw invalid_config("psi: feature holder " + std::to_string(peers[i]) + " listed twice");
  std::vector<psi_initiator> runs;
  runs.reserve(peers.size());
  for (std::size_t i = 0; i < peers.size(); ++i) runs.emplace_back(ids, options, rng);
  for (std::size_t i = 0; i < peers.size(); ++i) t.send(peers[i], runs[i].request(t.id()));
  std::vector<bool> answered(peers.size(), false);
  psi_result all;
  for (std::size_t left = peers.size(); left > 0; --left) {
    endpoint_id from = 0;
    auto d = detail::psi_receive(t, peers, from, options);
    const auto at = static_cast<std::size_t>(std::find(peers.begin(), peers.end(), from) - peers.begin());
    if (answered[at]) throw malformed_message("psi: a second response from endpoint " + std::to_string(from));
    runs[at].on_response(d);
    answered[at] = true;
  }
  if (options.mode == psi_mode::size_only) {
    all = runs[0].result();
  } else {
    std::vector<int> count(ids.size(), 0);
    for (const auto& r : runs)
      for (std::size_t row : r.result().rows) ++count[row];
    for (std::size_t row = 0; row < ids.size(); ++row)
      if (count[row] == static_cast<int>(peers.size())) all.rows.push_back(row);
    all.size = all.rows.size();
    all.peer_set_size = runs.back().result().peer_set_size;
  }
  for (std::size_t i = 0; i < peers.size(); ++i) t.send(peers[i], runs[i].result_message(t.id(), all.rows));
  return all;
}

/// Two parties: run_psi_label_holder with one peer.
template <transport T>
psi_result run_psi_initiator(T& t, endpoint_id responder, std::span<const std::string> ids,
                             const psi_options& options, fedpp::secagg::random_source& rng) {
  const std::array<endpoint_id, 1> peers{responder};
  return run_psi_label_holder(t, peers, ids, options, rng);
}

} // namespace fedpp::vertical
