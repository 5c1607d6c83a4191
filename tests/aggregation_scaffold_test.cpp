// SCAFFOLD: doubled layout, client option-II control update vs a naive double reference, the
// server aggregate and step vs the paper's formulas, control store round trips, errors.
#include "fedpp/aggregation/scaffold_aggregator.hpp"
#include "fedpp/aggregation/scaffold_client.hpp"
#include "fedpp/aggregation/scaffold_control_store.hpp"
#include "fedpp/optim/fedopt.hpp"
#include "fedpp/optim/scaffold_server_optimizer.hpp"
#include "fedpp/random/rng.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

namespace {

using fedpp::client_update;
using fedpp::flat_model;
using fedpp::model_layout;

model_layout small_layout() {
  model_layout layout;
  layout.add("w", {2, 3}).add("b", {3});
  return layout;
}

std::vector<float> random_vector(std::size_t n, std::uint64_t seed) {
  fedpp::rng gen(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>(gen.uniform() * 2 - 1);
  return v;
}

TEST(Scaffold, LayoutDoublesWithPrefixedNames) {
  const auto doubled = fedpp::scaffold_layout(small_layout());
  ASSERT_EQ(doubled.num_tensors(), 4U);
  EXPECT_EQ(doubled[2].name, "scaffold.c/w");
  EXPECT_EQ(doubled[3].offset, 9U + 6U);
  EXPECT_EQ(doubled.total_size(), 18U);
  EXPECT_THROW((void)fedpp::scaffold_layout(doubled), fedpp::invalid_config);
  EXPECT_THROW(fedpp::scaffold_aggregator<float>(small_layout(), 4), fedpp::invalid_config);
  EXPECT_THROW(fedpp::scaffold_aggregator<float>(doubled, 0), fedpp::invalid_config);
}

TEST(Scaffold, ClientCorrectionAndOptionTwoUpdate) {
  const std::size_t d = 9;
  const auto c = random_vector(d, 1), ci = random_vector(d, 2), x = random_vector(d, 3);
  fedpp::scaffold_client<float> client(c, ci);
  // Corrected gradient: g − c_i + c.
  auto g = random_vector(d, 4);
  const auto g0 = g;
  client.correct(g);
  for (std::size_t i = 0; i < d; ++i) EXPECT_NEAR(g[i], g0[i] - ci[i] + c[i], 1e-6);
  // K local steps y ← y − η (g − c_i + c) with a fixed g: then (x − y)/(Kη) = g − c_i + c,
  // so c_i⁺ = c_i − c + g − c_i + c = g: option II recovers the (here constant) gradient.
  const std::size_t k = 5;
  const double eta = 0.1;
  std::vector<float> y = x;
  for (std::size_t s = 0; s < k; ++s)
    for (std::size_t i = 0; i < d; ++i) y[i] -= static_cast<float>(eta) * g[i];
  std::vector<float> ci_new = ci, upload(2 * d);
  client.finish(x, y, k, eta, ci_new, upload);
  for (std::size_t i = 0; i < d; ++i) {
    EXPECT_NEAR(ci_new[i], g0[i], 1e-5);
    EXPECT_NEAR(upload[i], double(y[i]) - x[i], 1e-6);
    EXPECT_NEAR(upload[d + i], double(ci_new[i]) - ci[i], 1e-5);
    // Naive double reference of c_i⁺ = c_i − c + (x − y)/(Kη).
    EXPECT_NEAR(ci_new[i], double(ci[i]) - c[i] + (double(x[i]) - y[i]) / (k * eta), 1e-5);
  }
  // Errors: nothing written.
  const auto before = ci_new;
  std::vector<float> short_upload(d);
  EXPECT_THROW(client.finish(x, y, k, eta, ci_new, short_upload), fedpp::invalid_config);
  EXPECT_THROW(client.finish(x, y, 0, eta, ci_new, upload), fedpp::invalid_config);
  EXPECT_THROW(client.finish(x, y, k, -1.0, ci_new, upload), fedpp::invalid_config);
  EXPECT_EQ(ci_new, before);
  EXPECT_THROW(fedpp::scaffold_client<float>(c, std::vector<float>(d + 1)), fedpp::invalid_config);
}

TEST(Scaffold, ServerAggregateAndStepFollowThePaper) {
  const auto model = small_layout();
  const auto doubled = fedpp::scaffold_layout(model);
  const std::size_t d = model.total_size(), n_clients = 10;
  std::vector<flat_model<float>> uploads;
  for (int k = 0; k < 3; ++k) {
    auto& u = uploads.emplace_back(doubled);
    const auto v = random_vector(2 * d, 10 + k);
    std::copy(v.begin(), v.end(), u.data());
  }
  fedpp::scaffold_aggregator<float> agg(doubled, n_clients);
  for (std::size_t k = 0; k < uploads.size(); ++k)
    agg.accumulate(client_update<float>::from_flat(k, doubled, uploads[k].span(), double(k + 1)));
  const auto delta = std::move(agg).report();
  flat_model<float> global(doubled);
  const auto start = random_vector(2 * d, 99);
  std::copy(start.begin(), start.end(), global.data());
  const double eta_g = 0.5;
  fedpp::scaffold_server_optimizer<> opt(d, fedpp::server_sgd<float>(eta_g));
  opt.step(global.span(), delta.span());
  for (std::size_t i = 0; i < d; ++i) {
    double mean_dy = 0, mean_dc = 0;
    for (const auto& u : uploads) {
      mean_dy += u.data()[i] / 3.0;
      mean_dc += u.data()[d + i] / 3.0;
    }
    // x ← x + η_g mean Δy (unweighted), c ← c + (|S|/N) mean Δc.
    EXPECT_NEAR(global.data()[i], start[i] + eta_g * mean_dy, 1e-6);
    EXPECT_NEAR(global.data()[d + i], start[d + i] + 3.0 / 10.0 * mean_dc, 1e-6);
  }
  std::vector<float> wrong(d);
  EXPECT_THROW(opt.step(global.span(), wrong), fedpp::invalid_config);
  // An adaptive inner optimizer steps x only.
  fedpp::scaffold_server_optimizer<fedpp::fedadam<float>> adaptive(d, fedpp::fedadam<float>(d));
  adaptive.step(global.span(), delta.span());
  EXPECT_EQ(adaptive.inner().steps(), 1U);
  // More reports than the population is a configuration error.
  fedpp::scaffold_aggregator<float> tiny(doubled, 1);
  tiny.accumulate(client_update<float>::from_flat(0, doubled, uploads[0].span(), 1));
  tiny.accumulate(client_update<float>::from_flat(1, doubled, uploads[1].span(), 1));
  EXPECT_FALSE(tiny.can_report());
  EXPECT_THROW((void)std::move(tiny).report(), fedpp::invalid_config);
}

TEST(Scaffold, ControlStoreRoundTripAndErrors) {
  fedpp::scaffold_control_store<float> store(4);
  EXPECT_EQ(store.get(7), std::vector<float>(4, 0.0F));
  store.put(7, std::vector<float>{1, 2, 3, 4});
  store.put(2, std::vector<float>{-1, 0, 0.5F, 8});
  EXPECT_THROW(store.put(3, std::vector<float>{1, 2}), fedpp::invalid_config);
  EXPECT_THROW(store.put(3, std::vector<float>{1, 2, std::nanf(""), 4}), fedpp::invalid_config);
  EXPECT_EQ(store.num_clients(), 2U);
  const auto bytes = store.to_bytes();
  const auto back = fedpp::scaffold_control_store<float>::restore(bytes);
  EXPECT_EQ(back.get(7), (std::vector<float>{1, 2, 3, 4}));
  EXPECT_EQ(back.get(2), (std::vector<float>{-1, 0, 0.5F, 8}));
  EXPECT_EQ(back.to_bytes(), bytes);
  auto bad = bytes;
  bad.pop_back();
  EXPECT_THROW((void)fedpp::scaffold_control_store<float>::restore(bad), fedpp::malformed_message);
  bad = bytes;
  bad[1] = std::byte{'X'};
  EXPECT_THROW((void)fedpp::scaffold_control_store<float>::restore(bad), fedpp::malformed_message);
  EXPECT_THROW((void)fedpp::scaffold_control_store<double>::restore(bytes), fedpp::malformed_message);
  bad = bytes;
  const float inf = INFINITY;
  std::memcpy(bad.data() + bad.size() - 4, &inf, 4);
  EXPECT_THROW((void)fedpp::scaffold_control_store<float>::restore(bad), fedpp::malformed_message);
}

// Saved control stores are input (scaffold_control_store::restore): sizes are checked against the
// bytes present, with overflow-safe arithmetic, before anything is allocated; only
// malformed_message is thrown; accepted bytes re-encode to the same bytes.
template <class F>
void expect_store_malformed(F&& restore, const std::string& needle, const char* what) {
  try {
    (void)restore();
    ADD_FAILURE() << what << ": accepted";
  } catch (const fedpp::malformed_message& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << what << ": " << e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << what << ": threw something other than malformed_message: " << e.what();
  }
}

std::vector<std::byte> store_header(std::uint32_t width, std::uint64_t d, std::uint64_t count) {
  std::vector<std::byte> b(24);
  std::memcpy(b.data(), "FPSC", 4);
  std::memcpy(b.data() + 4, &width, 4);
  std::memcpy(b.data() + 8, &d, 8);
  std::memcpy(b.data() + 16, &count, 8);
  return b;
}

using store = fedpp::scaffold_control_store<float>;

TEST(ScaffoldStoreRestore, RoundTripIsTheIdentityIncludingNegativeZeroAndEmptyStores) {
  store s(3);
  s.put(9, std::vector<float>{-0.0F, 0.0F, 1.5F});
  s.put(4, std::vector<float>{std::numeric_limits<float>::denorm_min(), -2.0F, 1e30F});
  const auto bytes = s.to_bytes();
  const auto back = store::restore(bytes);
  EXPECT_EQ(back.to_bytes(), bytes);
  EXPECT_TRUE(std::signbit(back.get(9)[0]));
  EXPECT_FALSE(std::signbit(back.get(9)[1]));
  EXPECT_EQ(store::restore(bytes, 3).to_bytes(), bytes);
  // An empty store round-trips through the overload that knows the model size.
  const auto empty = store(5).to_bytes();
  const auto e = store::restore(empty, 5);
  EXPECT_EQ(e.to_bytes(), empty);
  EXPECT_EQ(e.get(1), std::vector<float>(5, 0.0F));
  // D = 0, with and without clients.
  store zero(0);
  zero.put(3, std::vector<float>{});
  EXPECT_EQ(store::restore(zero.to_bytes()).to_bytes(), zero.to_bytes());
  EXPECT_EQ(store::restore(store(0).to_bytes()).to_bytes(), store(0).to_bytes());
}

TEST(ScaffoldStoreRestore, TruncatedAndExtendedBytesAreMalformed) {
  store s(2);
  s.put(1, std::vector<float>{1, 2});
  s.put(2, std::vector<float>{3, 4});
  const auto bytes = s.to_bytes();
  for (std::size_t len = 0; len < bytes.size(); ++len) {
    SCOPED_TRACE(len);
    const std::vector<std::byte> cut(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(len));
    expect_store_malformed([&] { return store::restore(cut); }, "restore", "truncated");
    expect_store_malformed([&] { return store::restore(cut, 2); }, "restore", "truncated, expected D");
  }
  auto longer = bytes;
  longer.push_back(std::byte{0});
  expect_store_malformed([&] { return store::restore(longer); }, "do not hold 2 clients of D = 2", "longer");
}

TEST(ScaffoldStoreRestore, OversizedAndOverflowingDAreMalformedBeforeAnyAllocation) {
  // D = 2^64 − 1: 8 + D·4 wrapped to 4 (and to 0 with 8-byte elements: a division by zero).
  for (const std::uint64_t count : {std::uint64_t{0}, std::uint64_t{1}}) {
    auto b = store_header(4, std::numeric_limits<std::uint64_t>::max(), count);
    b.resize(b.size() + 4 * count);
    expect_store_malformed([&] { return store::restore(b); }, "overflow", "D = 2^64 - 1");
    auto d = store_header(8, std::numeric_limits<std::uint64_t>::max(), count);
    expect_store_malformed([&] { return fedpp::scaffold_control_store<double>::restore(d); }, "overflow",
                           "D = 2^64 - 1, doubles");
  }
  // D = 2^62 floats: 8 + 2^64 wrapped to 8, so one 8-byte entry (an id) looked like a whole client
  // and the restore asked for a 2^62-element vector (std::length_error).
  auto wraps = store_header(4, std::uint64_t{1} << 62, 1);
  wraps.resize(wraps.size() + 8);
  expect_store_malformed([&] { return store::restore(wraps); }, "overflow", "D = 2^62");
  // A huge D with no client used to be accepted, and the first get() allocated D floats
  // (0x3000000009 × 4 bytes ≈ 824 GB).
  const auto huge = store_header(4, 0x3000000009ULL, 0);
  expect_store_malformed([&] { return store::restore(huge); }, "D = 206158430217", "empty store, huge D");
  expect_store_malformed([&] { return store::restore(huge, 6); }, "saved for D = 206158430217, the model has 6",
                         "expected D");
  // One element more than the bytes hold.
  store s(2);
  s.put(1, std::vector<float>{1, 2});
  auto bigger = s.to_bytes();
  const std::uint64_t three = 3;
  std::memcpy(bigger.data() + 8, &three, 8);
  expect_store_malformed([&] { return store::restore(bigger); }, "do not hold 1 clients of D = 3", "D + 1");
  expect_store_malformed([&] { return store::restore(s.to_bytes(), 3); }, "saved for D = 2", "expected D + 1");
}

TEST(ScaffoldStoreRestore, AnotherKindOfBytesIsMalformed) {
  store s(2);
  s.put(1, std::vector<float>{1, 2});
  const auto bytes = s.to_bytes();
  auto other = bytes;
  std::memcpy(other.data(), "FPSO", 4); // a server optimizer's magic
  expect_store_malformed([&] { return store::restore(other); }, "bad magic", "magic");
  expect_store_malformed([&] { return fedpp::scaffold_control_store<double>::restore(bytes); },
                         "elements of 4 bytes, expected 8", "width");
}

TEST(ScaffoldStoreRestore, NonCanonicalAndNonFiniteBytesAreMalformed) {
  store s(1);
  s.put(1, std::vector<float>{1});
  s.put(2, std::vector<float>{2});
  const auto bytes = s.to_bytes(); // entries of 12 bytes at 24 and 36
  auto swapped = bytes;
  std::swap_ranges(swapped.begin() + 24, swapped.begin() + 36, swapped.begin() + 36);
  expect_store_malformed([&] { return store::restore(swapped); }, "client id 1 at entry 1 does not follow 2",
                         "descending ids");
  auto repeated = bytes;
  std::memcpy(repeated.data() + 36, repeated.data() + 24, 8);
  expect_store_malformed([&] { return store::restore(repeated); }, "client id 1 at entry 1", "repeated id");
  auto nan = bytes;
  const float q = std::numeric_limits<float>::quiet_NaN();
  std::memcpy(nan.data() + 44, &q, 4);
  expect_store_malformed([&] { return store::restore(nan); }, "client 2 element 0 is nan", "NaN");
}

} // namespace
