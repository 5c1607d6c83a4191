// Saved server-optimizer states are input: restore() of FedAvgM and FedAdam/FedYogi/FedAdagrad
// (float and double state) refuses truncated and extended bytes, a D the bytes do not back, a D
// whose size overflows, another optimizer's bytes, non-finite values and non-canonical bytes
// (unused hyper-parameter slots not +0.0) with malformed_message and nothing else, and accepted
// bytes re-encode to the same bytes (−0.0 included, D = 0 included).
#include "fedpp/optim/fedopt.hpp"
#include "fedpp/optim/server_momentum.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace {

using fedpp::fedopt_params;

template <class Opt>
Opt make(std::size_t n) {
  if constexpr (requires { Opt(n, fedopt_params{}); })
    return Opt(n, fedopt_params{0.05, 0.9, 0.99, 1e-3});
  else
    return Opt(n, 0.5, 0.9);
}

// An optimizer of D elements after three steps on seeded deltas, as bytes.
template <class Opt>
std::vector<std::byte> stepped_bytes(std::size_t n) {
  Opt opt = make<Opt>(n);
  std::mt19937 gen(17);
  std::uniform_real_distribution<float> u(-1, 1);
  using T = typename Opt::value_type;
  std::vector<T> x(n), d(n);
  for (int t = 0; t < 3; ++t) {
    for (auto& v : d) v = static_cast<T>(u(gen));
    opt.step(std::span<T>(x), std::span<const T>(d));
  }
  return opt.to_bytes();
}

template <class Opt>
void expect_malformed(const std::vector<std::byte>& bytes, const std::string& needle, const char* what) {
  try {
    (void)Opt::restore(bytes);
    ADD_FAILURE() << what << ": accepted";
  } catch (const fedpp::malformed_message& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << what << ": " << e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << what << ": threw something other than malformed_message: " << e.what();
  }
}

void put_u64(std::vector<std::byte>& b, std::size_t at, std::uint64_t v) {
  std::memcpy(b.data() + at, &v, 8);
}
void put_f64(std::vector<std::byte>& b, std::size_t at, double v) { std::memcpy(b.data() + at, &v, 8); }

template <class Opt>
struct OptimizerRestore : ::testing::Test {};

using optimizers = ::testing::Types<fedpp::server_momentum<float>, fedpp::server_momentum<float, double>,
                                    fedpp::fedadam<float>, fedpp::fedyogi<float, double>,
                                    fedpp::fedadagrad<float>, fedpp::fedadam<double>>;
TYPED_TEST_SUITE(OptimizerRestore, optimizers);

constexpr std::size_t header = 56; // state_codec.hpp: 4 + 4 + 8 + 8 + 4 × 8

TYPED_TEST(OptimizerRestore, RoundTripIsTheIdentityIncludingNegativeZeroAndEmptyModels) {
  using Opt = TypeParam;
  using S = typename Opt::state_type;
  for (const std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{37}}) {
    SCOPED_TRACE(n);
    const auto bytes = stepped_bytes<Opt>(n);
    const Opt back = Opt::restore(bytes);
    EXPECT_EQ(back.to_bytes(), bytes);
    EXPECT_EQ(back.size(), n);
    EXPECT_EQ(back.steps(), 3U);
    Opt loaded = make<Opt>(n);
    loaded.load(bytes);
    EXPECT_EQ(loaded.to_bytes(), bytes);
    if (n == 0) continue;
    // −0.0 in the first state buffer stays −0.0 (and +0.0 stays +0.0).
    auto signed_zero = bytes;
    const S minus_zero = -S(0);
    std::memcpy(signed_zero.data() + header, &minus_zero, sizeof(S));
    const Opt z = Opt::restore(signed_zero);
    EXPECT_EQ(z.to_bytes(), signed_zero);
    if constexpr (requires { z.momentum_buffer(); })
      EXPECT_TRUE(std::signbit(z.momentum_buffer()[0]));
    else
      EXPECT_TRUE(std::signbit(z.first_moment()[0]));
  }
}

TYPED_TEST(OptimizerRestore, TruncatedAndExtendedBytesAreMalformed) {
  using Opt = TypeParam;
  const auto bytes = stepped_bytes<Opt>(3);
  for (std::size_t len = 0; len < bytes.size(); ++len) {
    SCOPED_TRACE(len);
    expect_malformed<Opt>(
        std::vector<std::byte>(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(len)), "restore",
        "truncated");
  }
  auto longer = bytes;
  longer.push_back(std::byte{0});
  expect_malformed<Opt>(longer, "do not hold", "one byte more");
}

TYPED_TEST(OptimizerRestore, OversizedAndOverflowingDAreMalformedBeforeAnyAllocation) {
  using Opt = TypeParam;
  const auto bytes = stepped_bytes<Opt>(3);
  for (const std::uint64_t d :
       {std::uint64_t{4}, std::uint64_t{1} << 40, std::uint64_t{1} << 61, std::uint64_t{1} << 62,
        std::uint64_t{1} << 63, std::numeric_limits<std::uint64_t>::max()}) {
    SCOPED_TRACE(d);
    auto bad = bytes;
    put_u64(bad, 8, d);
    expect_malformed<Opt>(bad, "do not hold", "D");
  }
  // D = 0 with state bytes after the header.
  auto zero = bytes;
  put_u64(zero, 8, 0);
  expect_malformed<Opt>(zero, "do not hold", "D = 0 with bytes");
}

TYPED_TEST(OptimizerRestore, AnotherOptimizersBytesAreMalformed) {
  using Opt = TypeParam;
  const auto momentum = stepped_bytes<fedpp::server_momentum<float>>(3);
  const auto adam = stepped_bytes<fedpp::fedadam<float>>(3);
  const auto adam_double = stepped_bytes<fedpp::fedadam<float, double>>(3);
  const auto yogi = stepped_bytes<fedpp::fedyogi<float>>(3);
  const auto own = stepped_bytes<Opt>(3);
  int refused = 0;
  for (const auto* other : {&momentum, &adam, &adam_double, &yogi}) {
    if (other->size() == own.size() && (*other)[5] == own[5] && (*other)[6] == own[6]) continue; // same kind
    expect_malformed<Opt>(*other, "restore", "another optimizer");
    ++refused;
  }
  EXPECT_GE(refused, 3);
  auto bad = own;
  bad[0] = std::byte{'X'};
  expect_malformed<Opt>(bad, "bad magic", "magic");
  bad = own;
  bad[4] = std::byte{2};
  expect_malformed<Opt>(bad, "unsupported version 2", "version");
  bad = own;
  if constexpr (requires { Opt(std::size_t{1}, fedopt_params{}); }) {
    // FedOpt's flags byte: bit 0 = v starts at 0, bits 1–2 = bias correction (FedAdam/FedYogi);
    // FedAdagrad defines bit 0 only. Undefined bits are refused.
    bad[7] = std::byte{0x80};
    expect_malformed<Opt>(bad, "flags byte is 128", "undefined flag");
  } else {
    bad[7] = std::byte{1};
    expect_malformed<Opt>(bad, "reserved byte is 1", "reserved");
  }
}

TYPED_TEST(OptimizerRestore, NonFiniteAndNonCanonicalBytesAreMalformed) {
  using Opt = TypeParam;
  using S = typename Opt::state_type;
  const auto bytes = stepped_bytes<Opt>(3);
  auto bad = bytes;
  put_f64(bad, 24, std::numeric_limits<double>::infinity());
  expect_malformed<Opt>(bad, "slot 0 is inf", "η = inf");
  bad = bytes;
  const S nan = std::numeric_limits<S>::quiet_NaN();
  std::memcpy(bad.data() + header + sizeof(S), &nan, sizeof(S));
  expect_malformed<Opt>(bad, "state buffer 0 element 1", "NaN state");
  if constexpr (requires { Opt(3, fedopt_params{}); }) {
    bad = bytes;
    const S negative = -1;
    std::memcpy(bad.data() + header + 3 * sizeof(S) + sizeof(S), &negative, sizeof(S));
    expect_malformed<Opt>(bad, "state buffer 1 element 1", "negative v");
    if constexpr (Opt::rule == fedpp::fedopt_rule::adagrad) {
      // FedAdagrad has no β2: its slot is written +0.0 and must read back so.
      for (const double v : {0.99, -0.0, 4.9e-324}) {
        SCOPED_TRACE(v);
        bad = bytes;
        put_f64(bad, 24 + 8 * 2, v);
        expect_malformed<Opt>(bad, "unused hyper-parameter slot 2", "β2 slot");
      }
    }
  } else {
    // FedAvgM uses η and β only: the β2 and τ slots are written +0.0 and must read back so.
    for (const double v : {0.5, -0.0, 4.9e-324, 1.0}) {
      for (const std::size_t slot : {std::size_t{2}, std::size_t{3}}) {
        SCOPED_TRACE(std::to_string(v) + " in slot " + std::to_string(slot));
        bad = bytes;
        put_f64(bad, 24 + 8 * slot, v);
        expect_malformed<Opt>(bad, "unused hyper-parameter slot " + std::to_string(slot), "unused slot");
      }
    }
  }
}

TYPED_TEST(OptimizerRestore, LoadChecksTheSizeFromTheHeaderAndLeavesTheStateUnchanged) {
  using Opt = TypeParam;
  const auto bytes = stepped_bytes<Opt>(5);
  Opt target = make<Opt>(4);
  const auto before = target.to_bytes();
  EXPECT_THROW(target.load(bytes), fedpp::invalid_config);
  EXPECT_EQ(target.to_bytes(), before);
  auto bad = bytes;
  put_u64(bad, 8, std::numeric_limits<std::uint64_t>::max());
  EXPECT_THROW(target.load(bad), fedpp::malformed_message);
  EXPECT_EQ(target.to_bytes(), before);
}

} // namespace
