// Fuzzes the Paillier codecs of vertical/paillier_wire.hpp (bytes from a peer, or a key read from
// disk): decode_public_key, decode_private_key, decode_ciphertexts and decode_encrypted_numbers,
// directly or behind a wire-format control message (wire::decode + expect_control).
//
// Input: [ctl u8][bytes]. ctl % 4: 0 public key, 1 private key, 2 ciphertext list, 3 encrypted
// numbers; bit 2: the lists' key is the 256-bit one (else the 21-bit one of vertical_fixtures.hpp);
// bit 3: the receiver expects a 256-bit public key (key_limits::expected_bits); bit 4: the bytes
// are a whole wire message (round 9; tag paillier_public_key for keys, paillier_ciphertexts for
// lists); bits 5-7: a list's max_count − 1 (1..8). Keys are decoded with key sizes 8..512 bits.
//
// Invariants: only malformed_message escapes; an accepted public key is odd, of the declared
// size, within the limits, not a perfect square, and re-encodes to its bytes; an accepted
// private key has p < q, both probable primes, n = pq of the declared size, re-encodes to its
// bytes and decrypts what its public key encrypts; an accepted list holds at most max_count
// ciphertexts, each in [1, n²) and coprime to n, no exponent or one in [−100000, 100000] per
// ciphertext (always one for encrypted numbers), and re-encodes to its bytes.
#include "fuzz_common.hpp"
#include "vertical_fixtures.hpp"

#include "fedpp/vertical/paillier_wire.hpp"

#include <gmp.h>

#include <optional>

namespace {

using namespace fedpp;
using namespace fedpp::vertical;
namespace pw = fedpp::vertical::paillier_wire;
namespace vf = fuzz::vertical_fixtures;
constexpr const char* harness = "paillier_wire";
constexpr std::uint64_t message_round = 9;

void same_bytes(std::span<const std::byte> again, std::span<const std::byte> bytes, const char* what) {
  if (!fuzz::same_bits(again, bytes)) fuzz::fail(harness, what);
}

void check_public_key(std::span<const std::byte> bytes, const pw::key_limits& limits) {
  std::optional<paillier_public_key> pk;
  try {
    pk.emplace(pw::decode_public_key(bytes, limits));
  } catch (const malformed_message& e) {
    fuzz::note(harness, e.what());
    return;
  } catch (...) {
    fuzz::undocumented(harness, "decode_public_key");
  }
  const std::size_t bits = pk->bits();
  if (bits < limits.min_bits || bits > limits.max_bits ||
      (limits.expected_bits && bits != *limits.expected_bits))
    fuzz::fail(harness, "an accepted public key is outside the receiver's limits",
               std::to_string(bits) + " bits");
  if (!pk->n().is_odd() || mpz_perfect_square_p(pk->n().get()) != 0)
    fuzz::fail(harness, "an accepted public key is even or a perfect square");
  same_bytes(pw::encode_public_key(*pk), bytes, "an accepted public key does not re-encode to its bytes");
}

void check_private_key(std::span<const std::byte> bytes, const pw::key_limits& limits) {
  std::optional<paillier_private_key> sk;
  try {
    sk.emplace(pw::decode_private_key(bytes, limits));
  } catch (const malformed_message& e) {
    fuzz::note(harness, e.what());
    return;
  } catch (...) {
    fuzz::undocumented(harness, "decode_private_key");
  }
  const bigint& p = sk->p();
  const bigint& q = sk->q();
  if (!(p < q)) fuzz::fail(harness, "an accepted private key does not have p < q");
  if (mpz_probab_prime_p(p.get(), 25) == 0 || mpz_probab_prime_p(q.get(), 25) == 0)
    fuzz::fail(harness, "an accepted private key has a composite factor");
  bigint n;
  mpz_mul(n.get(), p.get(), q.get());
  if (!(n == sk->public_key().n())) fuzz::fail(harness, "an accepted private key's n is not pq");
  const std::size_t bits = sk->public_key().bits();
  if (bits < limits.min_bits || bits > limits.max_bits)
    fuzz::fail(harness, "an accepted private key is outside the receiver's limits",
               std::to_string(bits) + " bits");
  same_bytes(pw::encode_private_key(*sk), bytes, "an accepted private key does not re-encode to its bytes");
  auto rng = vf::source(9);
  const bigint m = bigint(12345).mod(sk->public_key().n());
  const bigint back = sk->decrypt(sk->public_key().encrypt(m, rng));
  if (!(back == m))
    fuzz::fail(harness, "an accepted private key does not decrypt what its public key encrypts");
}

void check_values(const paillier_public_key& pk, std::span<const paillier_ciphertext> cs) {
  for (const auto& c : cs) {
    if (c.value.sign() <= 0 || !(c.value < pk.n_squared()))
      fuzz::fail(harness, "an accepted ciphertext is outside [1, n^2)");
    bigint g;
    mpz_gcd(g.get(), c.value.get(), pk.n().get());
    if (mpz_cmp_ui(g.get(), 1) != 0) fuzz::fail(harness, "an accepted ciphertext shares a factor with n");
  }
}

void check_exponents(std::span<const int> es) {
  for (const int e : es)
    if (e < -100000 || e > 100000)
      fuzz::fail(harness, "an accepted exponent is out of range", std::to_string(e));
}

void check_list(const paillier_public_key& pk, std::span<const std::byte> bytes, std::uint64_t max_count) {
  std::optional<pw::ciphertext_list> list;
  try {
    list.emplace(pw::decode_ciphertexts(pk, bytes, max_count));
  } catch (const malformed_message& e) {
    fuzz::note(harness, e.what());
    return;
  } catch (...) {
    fuzz::undocumented(harness, "decode_ciphertexts");
  }
  if (list->ciphertexts.size() > max_count) fuzz::fail(harness, "an accepted list holds more than max_count");
  if (!list->exponents.empty() && list->exponents.size() != list->ciphertexts.size())
    fuzz::fail(harness, "an accepted list has exponents for some ciphertexts only");
  check_values(pk, list->ciphertexts);
  check_exponents(list->exponents);
  same_bytes(pw::encode_ciphertexts(pk, list->ciphertexts, list->exponents), bytes,
             "an accepted ciphertext list does not re-encode to its bytes");
}

void check_numbers(const paillier_public_key& pk, std::span<const std::byte> bytes, std::uint64_t max_count) {
  std::optional<std::vector<encrypted_number>> xs;
  try {
    xs.emplace(pw::decode_encrypted_numbers(pk, bytes, max_count));
  } catch (const malformed_message& e) {
    fuzz::note(harness, e.what());
    return;
  } catch (...) {
    fuzz::undocumented(harness, "decode_encrypted_numbers");
  }
  if (xs->size() > max_count) fuzz::fail(harness, "accepted encrypted numbers exceed max_count");
  std::vector<paillier_ciphertext> cs;
  std::vector<int> es;
  for (const auto& x : *xs) {
    cs.push_back(x.ciphertext);
    es.push_back(x.exponent);
  }
  check_values(pk, cs);
  check_exponents(es);
  same_bytes(pw::encode_encrypted_numbers(pk, *xs), bytes,
             "accepted encrypted numbers do not re-encode to their bytes");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::reader in(data, size);
  const std::uint8_t ctl = in.u8();
  std::span<const std::byte> bytes = in.rest();
  const unsigned kind = ctl % 4;
  const paillier_public_key& pk = (ctl & 4) ? vf::key256().public_key : vf::tiny_key().public_key();
  pw::key_limits limits = vf::key_limits();
  if (ctl & 8) limits.expected_bits = 256;
  const std::uint64_t max_count = 1 + ((ctl >> 5) & 7);

  message m; // outlives `decoded` and the payload span into it
  std::optional<wire::decoded_message> decoded;
  if (ctl & 16) { // a whole control message: the payload is what expect_control hands on
    m = message::copy_of(bytes);
    try {
      decoded.emplace(wire::decode(m));
      bytes = pw::expect_control(
          *decoded, kind < 2 ? vertical_tag::paillier_public_key : vertical_tag::paillier_ciphertexts,
          message_round);
    } catch (const malformed_message& e) {
      fuzz::note(harness, e.what());
      return 0;
    } catch (...) {
      fuzz::undocumented(harness, "wire::decode / expect_control");
    }
    if (decoded->kind() != wire::message_kind::control || decoded->round() != message_round)
      fuzz::fail(harness, "expect_control passed a message of another kind or round");
  }
  switch (kind) {
  case 0:
    check_public_key(bytes, limits);
    break;
  case 1:
    check_private_key(bytes, limits);
    break;
  case 2:
    check_list(pk, bytes, max_count);
    break;
  default:
    check_numbers(pk, bytes, max_count);
    break;
  }
  return 0;
}
