// Paillier on GMP (fedpp/vertical/paillier*.hpp): textbook equality given p, q and r (a hand
// example and a 2048-bit key, the references computed here with plain mpz arithmetic: g^m · r^n
// and L(c^λ mod n²) · μ), python-paillier's integers for the same key, homomorphic operations,
// encodings, packing bounds, batched/threaded operations, and every refusal of the codecs.
#include "fedpp/parallel/thread_pool.hpp"
#include "fedpp/vertical/paillier.hpp"
#include "fedpp/vertical/paillier_encoding.hpp"
#include "fedpp/vertical/paillier_packing.hpp"
#include "fedpp/vertical/paillier_wire.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <ostream>
#include <vector>

namespace {

using namespace fedpp::vertical;
} // namespace

namespace fedpp::vertical {
// GoogleTest prints bigints in decimal.
void PrintTo(const bigint& b, std::ostream* os) { *os << b.to_string(); }
void PrintTo(const paillier_ciphertext& c, std::ostream* os) { *os << "ciphertext " << c.value.to_string(); }
} // namespace fedpp::vertical

namespace {

random_source seeded(std::uint8_t s) {
  fedpp::secagg::key32 k{};
  k[0] = std::byte{s};
  return random_source::reproducible(k);
}

// Reference arithmetic, written from the definitions (no CRT, no n+1 shortcut).
bigint powm(const bigint& b, const bigint& e, const bigint& m) {
  bigint r;
  mpz_powm(r.get(), b.get(), e.get(), m.get());
  return r;
}
bigint textbook_encrypt(const bigint& n, const bigint& m, const bigint& r) {
  const bigint n2 = n * n;
  const bigint g = n + bigint(1);
  return (powm(g, m, n2) * powm(r, n, n2)).mod(n2);
}
bigint textbook_decrypt(const bigint& p, const bigint& q, const bigint& c) {
  const bigint n = p * q;
  const bigint n2 = n * n;
  bigint lambda;
  const bigint pm1 = p - bigint(1);
  const bigint qm1 = q - bigint(1);
  mpz_lcm(lambda.get(), pm1.get(), qm1.get());
  auto L = [&](const bigint& x) {
    bigint t = x - bigint(1);
    mpz_tdiv_q(t.get(), t.get(), n.get());
    return t;
  };
  bigint mu = L(powm(n + bigint(1), lambda, n2));
  mpz_invert(mu.get(), mu.get(), n.get());
  return (L(powm(c, lambda, n2)) * mu).mod(n);
}

// The fixed 511-bit key the python-paillier reference values below were computed with.
const bigint ref_p =
    bigint::from_string("86844066927987146567678238756515930889952488499230423029593188005934847242313");
const bigint ref_q =
    bigint::from_string("72370055773322622139731865630429942408293740416025352524660990004945706092893");

TEST(VerticalPaillier, HandExampleMatchesTextbook) {
  // p = 17, q = 19: n = 323, m = 42, r = 23 → c = 35763 (by hand: (1 + 42·323) · 23^323 mod 323²).
  const paillier_private_key sk(bigint(17), bigint(19));
  const auto& pk = sk.public_key();
  const auto c = pk.encrypt_with_r(bigint(42), bigint(23));
  EXPECT_EQ(c.value, bigint(35763));
  EXPECT_EQ(c.value, textbook_encrypt(bigint(323), bigint(42), bigint(23)));
  EXPECT_EQ(sk.obfuscator_for(bigint(23)), pk.obfuscator_for(bigint(23)));
  EXPECT_EQ(sk.decrypt(c), bigint(42));
  for (int m = 0; m < 323; m += 7) {
    const auto cm = pk.encrypt_with_r(bigint(m), bigint(2));
    EXPECT_EQ(sk.decrypt(cm), bigint(m));
    EXPECT_EQ(textbook_decrypt(bigint(17), bigint(19), cm.value), bigint(m));
  }
}

TEST(VerticalPaillier, PythonPaillierRawEncryptWithR) {
  const paillier_private_key sk(ref_p, ref_q);
  // phe 1.5: PaillierPublicKey(n).raw_encrypt(31337, r_value=987654321987654321)
  const auto c = sk.public_key().encrypt_with_r(bigint(31337), bigint::from_string("987654321987654321"));
  EXPECT_EQ(
      c.value,
      bigint::from_string(
          "242394560815956031177280206672834005531199350117076460754606660951089066601950644352738761379575"
          "482330929522051085703041279038802860166383897956329958418285182683044665693841553827270078598980"
          "884442211523884474201360362621078774113703482470891613561200346518892483899935891425764260736757"
          "72268108223983955120"));
  EXPECT_EQ(sk.decrypt(c), bigint(31337));
}

TEST(VerticalPaillier, Textbook2048BitKey) {
  bigint p = bigint::pow2(1023) + bigint::pow2(1022) + bigint::from_string("123456789123456789");
  bigint q = bigint::pow2(1023) + bigint::pow2(1022) + bigint::from_string("987654321987654321987654321");
  mpz_nextprime(p.get(), p.get());
  mpz_nextprime(q.get(), q.get());
  const paillier_private_key sk(p, q);
  const auto& pk = sk.public_key();
  ASSERT_EQ(pk.bits(), 2048U);
  auto rng = seeded(1);
  const bigint m = detail::uniform_below(pk.n(), rng);
  const bigint r = pk.random_r(rng);
  const auto c = pk.encrypt_with_r(m, r);
  EXPECT_EQ(c.value, textbook_encrypt(pk.n(), m, r));
  EXPECT_EQ(sk.obfuscator_for(r), powm(r, pk.n(), pk.n_squared()));
  EXPECT_EQ(sk.decrypt(c), m);
  EXPECT_EQ(textbook_decrypt(p, q, c.value), m);
  // The key holder's fresh CRT obfuscator is an n-th residue: Enc(m) with it decrypts to m.
  const auto c2 = sk.encrypt(m, rng);
  EXPECT_NE(c2, c);
  EXPECT_EQ(textbook_decrypt(p, q, c2.value), m);
  // Serialization round trip at the production size.
  const auto pk2 = paillier_wire::decode_public_key(paillier_wire::encode_public_key(pk));
  EXPECT_EQ(pk2, pk);
}

TEST(VerticalPaillier, KeyGeneration) {
  auto rng = seeded(2);
  const auto kp = generate_paillier_keypair(512, rng);
  const auto& sk = kp.private_key;
  EXPECT_EQ(kp.public_key.bits(), 512U);
  EXPECT_EQ(sk.public_key(), kp.public_key);
  EXPECT_EQ(sk.p().bit_length(), 256U);
  EXPECT_EQ(sk.q().bit_length(), 256U);
  EXPECT_NE(mpz_probab_prime_p(sk.p().get(), 30), 0);
  EXPECT_NE(mpz_probab_prime_p(sk.q().get(), 30), 0);
  EXPECT_GE((sk.q() - sk.p()).bit_length(), 256U - 100U);
  // Reproducible stream → same key; another seed → another key.
  auto rng2 = seeded(2);
  EXPECT_EQ(generate_paillier_keypair(512, rng2).public_key, kp.public_key);
  auto rng3 = seeded(3);
  EXPECT_NE(generate_paillier_keypair(512, rng3).public_key, kp.public_key);
  EXPECT_THROW((void)generate_paillier_keypair(513, rng), fedpp::invalid_config);
  EXPECT_THROW((void)generate_paillier_keypair(100, rng), fedpp::invalid_config);
  EXPECT_THROW((void)generate_paillier_keypair(16384, rng), fedpp::invalid_config);
}

TEST(VerticalPaillier, PrivateKeyRefusals) {
  EXPECT_THROW(paillier_private_key(bigint(17), bigint(17)), fedpp::invalid_config);
  EXPECT_THROW(paillier_private_key(bigint(15), bigint(19)), fedpp::invalid_config);
  EXPECT_THROW(paillier_private_key(bigint(-17), bigint(19)), fedpp::invalid_config);
  EXPECT_THROW(paillier_public_key(bigint(322)), fedpp::invalid_config); // even
  EXPECT_THROW(paillier_public_key(bigint(289)), fedpp::invalid_config); // 17²
}

class VerticalPaillierOps : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    auto rng = seeded(4);
    keys = new paillier_keypair(generate_paillier_keypair(512, rng));
  }
  static void TearDownTestSuite() {
    delete keys;
    keys = nullptr;
  }
  static paillier_keypair* keys;
};
paillier_keypair* VerticalPaillierOps::keys = nullptr;

TEST_F(VerticalPaillierOps, HomomorphicOperationsMatchPlainArithmetic) {
  const auto& pk = keys->public_key;
  const auto& sk = keys->private_key;
  auto rng = seeded(5);
  for (int trial = 0; trial < 10; ++trial) {
    const bigint a = detail::uniform_below(pk.n(), rng);
    const bigint b = detail::uniform_below(pk.n(), rng);
    const std::int64_t k = static_cast<std::int64_t>(rng.u64() % 2000001) - 1000000;
    const auto ca = pk.encrypt(a, rng);
    const auto cb = sk.encrypt(b, rng); // the key holder's CRT path
    EXPECT_EQ(sk.decrypt(ca), a);
    EXPECT_EQ(sk.decrypt(cb), b);
    EXPECT_EQ(sk.decrypt(pk.add(ca, cb)), (a + b).mod(pk.n()));
    EXPECT_EQ(sk.decrypt(pk.add_plain(ca, b)), (a + b).mod(pk.n()));
    EXPECT_EQ(sk.decrypt(pk.multiply(ca, bigint(k))), (a * bigint(k)).mod(pk.n()));
    EXPECT_EQ(sk.decrypt(pk.negate(ca)), (-a).mod(pk.n()));
    const auto fresh = pk.rerandomize(ca, rng);
    EXPECT_NE(fresh, ca);
    EXPECT_EQ(sk.decrypt(fresh), a);
  }
  // Negative plaintexts are residues mod n.
  EXPECT_EQ(sk.decrypt(pk.encrypt(bigint(-5), rng)), pk.n() - bigint(5));
  EXPECT_EQ(sk.decrypt(pk.multiply(pk.encrypt(bigint(7), rng), bigint(0))), bigint(0));
  EXPECT_THROW((void)pk.encrypt(pk.n(), rng), fedpp::invalid_config);
  EXPECT_THROW((void)pk.multiply(pk.encrypt(bigint(1), rng), pk.n()), fedpp::invalid_config);
  EXPECT_THROW((void)pk.encrypt_with_r(bigint(1), bigint(0)), fedpp::invalid_config);
  EXPECT_THROW((void)pk.encrypt_with_r(bigint(1), sk.p()), fedpp::invalid_config); // not in Z*_n
  EXPECT_THROW((void)pk.encrypt_with_r(bigint(1), pk.n()), fedpp::invalid_config);
}

TEST_F(VerticalPaillierOps, DecryptRefusesInvalidCiphertexts) {
  const auto& sk = keys->private_key;
  const auto& pk = keys->public_key;
  EXPECT_THROW((void)sk.decrypt(paillier_ciphertext{bigint(0)}), fedpp::malformed_message);
  EXPECT_THROW((void)sk.decrypt(paillier_ciphertext{pk.n_squared()}), fedpp::malformed_message);
  EXPECT_THROW((void)sk.decrypt(paillier_ciphertext{sk.p() * bigint(3)}), fedpp::malformed_message);
  EXPECT_THROW((void)sk.decrypt(paillier_ciphertext{bigint(-3)}), fedpp::malformed_message);
}

TEST_F(VerticalPaillierOps, BatchedAndThreadedEqualSerial) {
  const auto& pk = keys->public_key;
  const auto& sk = keys->private_key;
  std::vector<bigint> ms;
  for (int i = -20; i < 20; ++i) ms.emplace_back(i * 1000003);
  fedpp::parallel::thread_pool pool(2);
  auto r1 = seeded(6);
  auto r2 = seeded(6);
  const auto serial = pk.encrypt(ms, r1);
  const auto threaded = pk.encrypt(ms, r2, &pool);
  EXPECT_EQ(serial, threaded);
  auto r3 = seeded(7);
  auto r4 = seeded(7);
  EXPECT_EQ(sk.encrypt(ms, r3), sk.encrypt(ms, r4, &pool));
  const auto plain = sk.decrypt(threaded, &pool);
  ASSERT_EQ(plain.size(), ms.size());
  for (std::size_t i = 0; i < ms.size(); ++i) EXPECT_EQ(plain[i], ms[i].mod(pk.n()));
  // One bad ciphertext: refused before anything is decrypted.
  auto bad = threaded;
  bad[17].value = bigint(0);
  EXPECT_THROW((void)sk.decrypt(bad, &pool), fedpp::malformed_message);
}

TEST(VerticalPaillierEncoding, MatchesPythonPaillier) {
  const paillier_private_key sk(ref_p, ref_q);
  const auto& pk = sk.public_key();
  const bigint n = pk.n();
  struct row {
    double x;
    std::optional<double> precision;
    std::optional<int> max_exponent;
    int exponent;
    const char* mantissa; // signed
    double decoded;
  };
  // phe 1.5 EncodedNumber.encode(pk, x, precision, max_exponent): exponent, encoding (negative
  // ones as encoding − n), decode().
  const row rows[] = {
      {0.5, {}, {}, -14, "36028797018963968", 0.5},
      {-1.5, {}, {}, -13, "-6755399441055744", -1.5},
      {3.141592653589793, {}, {}, -13, "14148475504056880", 3.141592653589793},
      {1e-300, {}, {}, -263, "48256457640483528", 1e-300},
      {-123456.789, {}, {}, -9, "-8483885939586761", -123456.789},
      {0.1, 1e-6, {}, -5, "104858", 0.10000038146972656},
      {2.5, {}, -20, -20, "3022314549036572936765440", 2.5},
      {1e20, {}, {}, 3, "24414062500000000", 1e20},
      {-0.3, 0.01, {}, -2, "-77", -0.30078125},
      {5e-324, {}, {}, -282, "18014398509481984", 5e-324},
  };
  for (const auto& r : rows) {
    const auto e = encode(pk, r.x, r.precision, r.max_exponent);
    EXPECT_EQ(e.exponent, r.exponent) << r.x;
    EXPECT_EQ(e.encoding, bigint::from_string(r.mantissa).mod(n)) << r.x;
    EXPECT_EQ(decode(pk, e), r.decoded) << r.x;
  }
  // phe: (enc(0.5) + enc(-1.5)) has exponent -14 and decrypts to -1.0; enc(0.5) * -2.25 has
  // exponent -27 and decrypts to -1.125; enc(0.5) + 0.1 has exponent -14 and decrypts to 0.6.
  auto rng = seeded(8);
  const auto a = encrypt(pk, 0.5, rng);
  const auto b = encrypt(pk, -1.5, rng);
  const auto s = add(pk, a, b);
  EXPECT_EQ(s.exponent, -14);
  EXPECT_EQ(decrypt(sk, s), -1.0);
  const auto m = multiply(pk, a, -2.25);
  EXPECT_EQ(m.exponent, -27);
  EXPECT_EQ(decrypt(sk, m), -1.125);
  const auto t = add(pk, a, 0.1);
  EXPECT_EQ(t.exponent, -14);
  EXPECT_EQ(decrypt(sk, t), 0.6);
}

TEST(VerticalPaillierEncoding, RoundTripsAndRefusals) {
  const paillier_private_key sk(ref_p, ref_q);
  const auto& pk = sk.public_key();
  auto rng = seeded(9);
  std::vector<double> xs = {
      0.0, -0.0, 1.0, -1.0, 1e-10, -3.25e7, 123.456, -9.87654321e-5, 1e300, -2.2250738585072014e-308};
  fedpp::parallel::thread_pool pool(2);
  const auto cs = encrypt(pk, xs, rng, &pool);
  const auto back = decrypt(sk, cs, &pool);
  for (std::size_t i = 0; i < xs.size(); ++i) EXPECT_EQ(back[i], xs[i]) << i;
  const auto cs2 = encrypt(sk, xs, rng, &pool);
  EXPECT_EQ(decrypt(sk, cs2), back);
  // Integers.
  EXPECT_EQ(decode(pk, encode_integer(pk, bigint(-42))), -42.0);
  EXPECT_EQ(encode_integer(pk, bigint(3), -2).encoding, bigint(768));
  // Refusals.
  EXPECT_THROW((void)encode(pk, std::nan("")), fedpp::invalid_config);
  EXPECT_THROW((void)encode(pk, INFINITY), fedpp::invalid_config);
  EXPECT_THROW((void)encode(pk, 1.0, 0.0), fedpp::invalid_config);
  EXPECT_THROW((void)encode(pk, 1e300, {}, -300), fedpp::invalid_config); // mantissa beyond n/3
  EXPECT_THROW((void)decode(pk, encoded_number{pk.max_int() + bigint(1), 0}), paillier_overflow);
  EXPECT_THROW((void)decode(pk, encoded_number{pk.n(), 0}), fedpp::invalid_config);
  EXPECT_THROW((void)decode(pk, encoded_number{bigint(1), 300}), paillier_overflow); // 16^300 > DBL_MAX
  EXPECT_THROW((void)decrease_exponent_to(pk, cs[2], cs[2].exponent + 1), fedpp::invalid_config);
}

TEST(VerticalPaillierPacking, SlotsAddUpToTheDocumentedBound) {
  auto rng = seeded(10);
  const auto kp = generate_paillier_keypair(512, rng);
  const paillier_packing packing(kp.public_key, 20, 8); // slots of 23 bits, 511 / 23 = 22 slots
  EXPECT_EQ(packing.slot_bits(), 23U);
  EXPECT_EQ(packing.max_terms(), 8U);
  EXPECT_EQ(packing.slots(), 22U);
  std::vector<std::vector<std::int64_t>> vals(8, std::vector<std::int64_t>(22));
  std::vector<std::int64_t> sum(22, 0);
  for (auto& v : vals)
    for (std::size_t i = 0; i < v.size(); ++i) {
      v[i] = static_cast<std::int64_t>(rng.u64() % (1U << 20)) - (1 << 19);
      sum[i] += v[i];
    }
  vals[0][0] = -(1 << 19); // the extremes of the range
  vals[1][0] = (1 << 19) - 1;
  sum[0] = 0;
  for (auto& v : vals) sum[0] += v[0];
  auto acc = packing.encrypt(vals[0], rng);
  EXPECT_EQ(packing.decrypt(kp.private_key, acc), vals[0]);
  for (std::size_t k = 1; k < vals.size(); ++k) acc = packing.add(acc, packing.encrypt(vals[k], rng));
  EXPECT_EQ(acc.terms, 8U);
  EXPECT_EQ(packing.decrypt(kp.private_key, acc), sum);
  // A ninth term could carry into the next slot: refused.
  EXPECT_THROW((void)packing.add(acc, packing.encrypt(vals[0], rng)), fedpp::invalid_config);
  const auto twice = packing.multiply(packing.encrypt(vals[2], rng), 4);
  std::vector<std::int64_t> expect4(vals[2]);
  for (auto& v : expect4) v *= 4;
  EXPECT_EQ(packing.decrypt(kp.private_key, twice), expect4);
  EXPECT_THROW((void)packing.multiply(twice, 3), fedpp::invalid_config);
  EXPECT_THROW((void)packing.pack(std::vector<std::int64_t>(23, 0)), fedpp::invalid_config);
  EXPECT_THROW((void)packing.pack(std::vector<std::int64_t>{1 << 19}), fedpp::invalid_config);
  EXPECT_THROW((void)packing.unpack(bigint::pow2(30), 1, 1), fedpp::malformed_message);
  EXPECT_THROW((void)packing.unpack(bigint(0), 1, 9), fedpp::invalid_config);
  EXPECT_THROW(paillier_packing(kp.public_key, 1, 8), fedpp::invalid_config);
  EXPECT_THROW(paillier_packing(kp.public_key, 20, 0), fedpp::invalid_config);
}

TEST_F(VerticalPaillierOps, WireRoundTripsAndRefusals) {
  namespace pw = paillier_wire;
  const auto& pk = keys->public_key;
  const auto& sk = keys->private_key;
  const pw::key_limits test_limits{512, 4096, std::nullopt};
  auto rng = seeded(11);
  // Keys.
  auto pkb = pw::encode_public_key(pk);
  EXPECT_EQ(pw::decode_public_key(pkb, test_limits), pk);
  EXPECT_THROW((void)pw::decode_public_key(pkb), fedpp::malformed_message); // below the default 2048 bits
  EXPECT_THROW((void)pw::decode_public_key(pkb, {512, 4096, 1024}), fedpp::malformed_message);
  auto bad = pkb;
  bad[0] = std::byte{2}; // version
  EXPECT_THROW((void)pw::decode_public_key(bad, test_limits), fedpp::malformed_message);
  bad = pkb;
  bad[8] ^= std::byte{1}; // n even
  EXPECT_THROW((void)pw::decode_public_key(bad, test_limits), fedpp::malformed_message);
  bad = pkb;
  bad.back() = std::byte{0}; // fewer bits than declared
  EXPECT_THROW((void)pw::decode_public_key(bad, test_limits), fedpp::malformed_message);
  bad = pkb;
  bad.push_back(std::byte{0});
  EXPECT_THROW((void)pw::decode_public_key(bad, test_limits), fedpp::malformed_message);
  bad = pkb;
  bad.resize(bad.size() - 3);
  EXPECT_THROW((void)pw::decode_public_key(bad, test_limits), fedpp::malformed_message);
  const auto skb = pw::encode_private_key(sk);
  EXPECT_EQ(pw::decode_private_key(skb, test_limits).public_key(), pk);
  { // The primes swapped: the same key, a second encoding (tests/fuzz/findings/paillier_wire-1).
    auto swapped = skb;
    const std::size_t field = (skb.size() - 8) / 2;
    std::swap_ranges(swapped.begin() + 8, swapped.begin() + 8 + static_cast<std::ptrdiff_t>(field),
                     swapped.begin() + 8 + static_cast<std::ptrdiff_t>(field));
    EXPECT_THROW((void)pw::decode_private_key(swapped, test_limits), fedpp::malformed_message);
  }
  // Ciphertexts.
  std::vector<bigint> ms = {bigint(1), bigint(-2), bigint(3)};
  const auto cs = pk.encrypt(ms, rng);
  const auto cb = pw::encode_ciphertexts(pk, cs);
  const auto list = pw::decode_ciphertexts(pk, cb, 3);
  EXPECT_EQ(list.ciphertexts, cs);
  EXPECT_TRUE(list.exponents.empty());
  EXPECT_THROW((void)pw::decode_ciphertexts(pk, cb, 2), fedpp::malformed_message);       // above the bound
  EXPECT_THROW((void)pw::decode_encrypted_numbers(pk, cb, 3), fedpp::malformed_message); // no exponents
  auto corrupt = [&](std::size_t index, const bigint& value) {
    auto b = cb;
    value.write_le(
        std::span<std::byte>(b.data() + 17 + index * pk.ciphertext_bytes(), pk.ciphertext_bytes()));
    return b;
  };
  EXPECT_THROW((void)pw::decode_ciphertexts(pk, corrupt(1, bigint(0)), 3), fedpp::malformed_message);
  EXPECT_THROW((void)pw::decode_ciphertexts(pk, corrupt(2, pk.n_squared() - bigint(0)), 3),
               fedpp::malformed_message);
  EXPECT_THROW((void)pw::decode_ciphertexts(pk, corrupt(0, sk.q() * bigint(5)), 3), fedpp::malformed_message);
  auto wrong_count = cb;
  fedpp::wire::detail::put_u64(wrong_count.data() + 8, 4);
  EXPECT_THROW((void)pw::decode_ciphertexts(pk, wrong_count, 10), fedpp::malformed_message);
  fedpp::wire::detail::put_u64(wrong_count.data() + 8, std::uint64_t{1} << 60);
  EXPECT_THROW((void)pw::decode_ciphertexts(pk, wrong_count, ~std::uint64_t{0}), fedpp::malformed_message);
  { // An empty list flagged as carrying exponents: a second encoding of the empty list
    // (tests/fuzz/findings/paillier_wire-2).
    const auto empty = pw::encode_ciphertexts(pk, {});
    EXPECT_TRUE(pw::decode_ciphertexts(pk, empty, 3).ciphertexts.empty());
    auto flagged = empty;
    flagged[16] = std::byte{1};
    EXPECT_THROW((void)pw::decode_ciphertexts(pk, flagged, 3), fedpp::malformed_message);
  }
  auto other_size = cb;
  fedpp::wire::detail::put_u32(other_size.data() + 4, 1024);
  EXPECT_THROW((void)pw::decode_ciphertexts(pk, other_size, 3), fedpp::malformed_message);
  // Encrypted numbers with exponents, through a wire message.
  const std::vector<double> xs = {0.25, -7.5};
  const auto ens = encrypt(pk, xs, rng);
  const auto payload = pw::encode_encrypted_numbers(pk, ens);
  const auto msg = detail::control_message(9, 1, to_wire(vertical_tag::paillier_ciphertexts), payload);
  const auto d = fedpp::wire::decode(msg);
  const auto got =
      pw::decode_encrypted_numbers(pk, pw::expect_control(d, vertical_tag::paillier_ciphertexts, 9), 2);
  EXPECT_EQ(decrypt(sk, got), xs);
  EXPECT_THROW((void)pw::expect_control(d, vertical_tag::paillier_ciphertexts, 8), fedpp::malformed_message);
  EXPECT_THROW((void)pw::expect_control(d, vertical_tag::paillier_public_key, 9), fedpp::malformed_message);
  auto bad_exp = pw::encode_encrypted_numbers(pk, ens);
  fedpp::wire::detail::put_u32(bad_exp.data() + bad_exp.size() - 4, 200000);
  EXPECT_THROW((void)pw::decode_encrypted_numbers(pk, bad_exp, 2), fedpp::malformed_message);
}

} // namespace
