// Wire format: CRC-32C, round trips, chunking and reassembly, every malformed case, mutation fuzz.
#include "fedpp/transport/detail/crc32c.hpp"
#include "fedpp/transport/duplicate_filter.hpp"
#include "fedpp/transport/wire_format.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <iostream>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

namespace {

using namespace fedpp;
using namespace fedpp::wire;
using ::testing::HasSubstr;

std::vector<std::byte> to_bytes(const message& m) { return {m.bytes().begin(), m.bytes().end()}; }

std::span<const std::byte> as_bytes(const std::string& s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

void fix_crc(std::vector<std::byte>& b) {
  wire::detail::put_u32(b.data() + 92, wire::detail::message_checksum(b));
}

template <class F>
std::string malformed_what(F&& f) {
  try {
    f();
  } catch (const malformed_message& e) {
    return e.what();
  }
  ADD_FAILURE() << "no malformed_message thrown";
  return {};
}

model_layout small_layout(dtype t = dtype::f32) {
  model_layout layout;
  layout.add("fc.weight", tensor_shape{3, 4}, t).add("fc.bias", tensor_shape::vector(3), t);
  return layout;
}

template <class T>
std::vector<T> iota_values(std::size_t n, T start) {
  std::vector<T> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = start + static_cast<T>(i) * static_cast<T>(0.5);
  return v;
}

round_config odd_config() {
  round_config c;
  c.round = 999; // ignored by the encoder: the header's round wins
  c.local_epochs = 5;
  c.batch_size = 17;
  c.learning_rate = 0.0125;
  c.deadline = std::chrono::milliseconds(30000);
  c.extra["fedprox.mu"] = "0.01";
  c.extra[""] = "empty key";
  c.extra["empty value"] = "";
  c.extra["unicode \xc3\xa9\xe2\x82\xac"] = "\xf0\x9f\x98\x80";
  c.extra[std::string("nul\0inside", 10)] = std::string("a\0b\0", 4);
  c.extra["long"] = std::string(5000, 'x');
  return c;
}

// --- CRC-32C ---------------------------------------------------------------------------------

TEST(Crc32c, KnownVectors) {
  EXPECT_EQ(fedpp::detail::crc32c(as_bytes("123456789")), 0xE3069283U);
  EXPECT_EQ(fedpp::detail::crc32c_portable(as_bytes("123456789")), 0xE3069283U);
  EXPECT_EQ(fedpp::detail::crc32c({}), 0U);
  // RFC 3720 (iSCSI) appendix B.4 vectors.
  std::vector<std::byte> zeros(32, std::byte{0}), ones(32, std::byte{0xff}), inc(32);
  for (std::size_t i = 0; i < 32; ++i) inc[i] = static_cast<std::byte>(i);
  EXPECT_EQ(fedpp::detail::crc32c(zeros), 0x8A9136AAU);
  EXPECT_EQ(fedpp::detail::crc32c(ones), 0x62A8AB43U);
  EXPECT_EQ(fedpp::detail::crc32c(inc), 0x46DD794EU);
}

TEST(Crc32c, DispatchedPathMatchesPortableOnOddSizesAndOffsets) {
  std::mt19937_64 rng(7);
  std::vector<std::byte> data(3 * 4096 * 2 + 1000);
  for (auto& b : data) b = static_cast<std::byte>(rng() & 0xff);
  for (std::size_t size : {0UL, 1UL, 7UL, 8UL, 9UL, 63UL, 4095UL, 12288UL, 12289UL, 24576UL + 999UL})
    for (std::size_t start : {0UL, 1UL, 3UL}) {
      if (start + size > data.size()) continue;
      const std::span<const std::byte> s(data.data() + start, size);
      EXPECT_EQ(fedpp::detail::crc32c(s), fedpp::detail::crc32c_portable(s)) << size << " at " << start;
    }
  // Continuation: crc(a ++ b) = crc(b, crc(a)).
  const std::span<const std::byte> all(data);
  EXPECT_EQ(fedpp::detail::crc32c(all.subspan(5000), fedpp::detail::crc32c(all.first(5000))),
            fedpp::detail::crc32c(all));
}

TEST(Crc32c, ThroughputReport) {
  // Reported, never asserted (shared, noisy machines).
  std::vector<std::byte> data(std::size_t{32} << 20);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::byte>(i * 131 + 7);
  auto rate = [&](auto f) {
    const auto t0 = std::chrono::steady_clock::now();
    volatile std::uint32_t sink = f(std::span<const std::byte>(data));
    (void)sink;
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return static_cast<double>(data.size()) / s / 1e6;
  };
  const double fast = rate([](auto s) { return fedpp::detail::crc32c(s); });
  const double portable = rate([](auto s) { return fedpp::detail::crc32c_portable(s); });
  std::cout << "[crc32c] " << fedpp::detail::crc32c_implementation() << ": " << fast
            << " MB/s; slicing-by-8: " << portable << " MB/s (32 MiB, one pass)\n";
  SUCCEED();
}

TEST(WireFormat, ThroughputReport) {
  // Encode (copy + checksum) and decode (checksum + zero-copy view) of a 32 MiB model; reported only.
  model_layout layout;
  layout.add("w", tensor_shape::vector(std::size_t{8} << 20));
  const std::vector<float> values(layout.total_size(), 0.5F);
  const auto t0 = std::chrono::steady_clock::now();
  const auto m = encode_global_model<float>(0, round_config{}, layout, values);
  const auto t1 = std::chrono::steady_clock::now();
  const auto d = decode_for(m, layout, 0);
  const auto t2 = std::chrono::steady_clock::now();
  EXPECT_TRUE(d.payload_is_zero_copy());
  const auto mb = static_cast<double>(m.size()) / 1e6;
  std::cout << "[wire] encode " << mb / std::chrono::duration<double>(t1 - t0).count() << " MB/s, decode "
            << mb / std::chrono::duration<double>(t2 - t1).count() << " MB/s (32 MiB f32 model)\n";
}

// --- Round trips -----------------------------------------------------------------------------

TEST(WireFormat, GlobalModelFloatRoundTrip) {
  const auto layout = small_layout();
  const auto values = iota_values<float>(layout.total_size(), -2.0F);
  const auto config = odd_config();
  const message m = encode_global_model<float>(7, config, layout, values);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(m.data()) % 64, 0U);

  const auto d = decode(m);
  EXPECT_EQ(d.kind(), message_kind::global_model);
  EXPECT_EQ(d.round(), 7U);
  EXPECT_EQ(d.sender(), server_endpoint);
  EXPECT_EQ(d.layout_hash(), layout.hash());
  EXPECT_EQ(d.type(), dtype::f32);
  EXPECT_EQ(d.element_count(), layout.total_size());
  EXPECT_FALSE(d.header().is_chunked());
  auto expected_config = config;
  expected_config.round = 7;
  EXPECT_EQ(d.config(), expected_config);
  EXPECT_TRUE(d.metrics().empty());
  const auto payload = d.payload<float>();
  ASSERT_EQ(payload.size(), values.size());
  EXPECT_TRUE(std::equal(payload.begin(), payload.end(), values.begin()));
  EXPECT_TRUE(d.payload_is_zero_copy());
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(payload.data()) % 64, 0U);
  EXPECT_GE(static_cast<const void*>(payload.data()), static_cast<const void*>(m.data()));
  EXPECT_THROW((void)d.payload<double>(), malformed_message);

  // decode_for accepts the matching layout and round.
  const auto checked = decode_for(m, layout, 7);
  EXPECT_EQ(checked.payload<float>().size(), values.size());
}

TEST(WireFormat, ClientUpdateDoubleRoundTripWithMetrics) {
  const auto layout = small_layout(dtype::f64);
  const auto values = iota_values<double>(layout.total_size(), 1e-300);
  metrics_map metrics{{"loss", 0.25},
                      {"accuracy", 0.875},
                      {"", -0.0},
                      {"inf", std::numeric_limits<double>::infinity()},
                      {std::string("k\0\xff", 3), -1e308}};
  const message m = encode_client_update<double>(3, 42, layout, values, 1234.0, metrics);
  const auto bytes = to_bytes(m);
  const auto d = decode(bytes);
  EXPECT_EQ(d.kind(), message_kind::client_update);
  EXPECT_EQ(d.round(), 3U);
  EXPECT_EQ(d.sender(), 42U);
  EXPECT_EQ(d.weight(), 1234.0);
  EXPECT_EQ(d.type(), dtype::f64);
  EXPECT_EQ(d.metrics(), metrics);
  EXPECT_TRUE(std::signbit(d.metrics().at("")));
  const auto payload = d.payload<double>();
  EXPECT_TRUE(std::equal(payload.begin(), payload.end(), values.begin(), values.end()));
  EXPECT_THROW((void)d.config(), invalid_config);
}

TEST(WireFormat, UnalignedBytesAreCopiedOnce) {
  const auto layout = small_layout(dtype::f64);
  const auto values = iota_values<double>(layout.total_size(), 3.0);
  const auto m = encode_client_update<double>(1, 2, layout, values, 5.0);
  std::vector<std::byte> shifted(m.size() + 1);
  std::memcpy(shifted.data() + 1, m.data(), m.size());
  const auto d = decode(std::span<const std::byte>(shifted).subspan(1));
  EXPECT_FALSE(d.payload_is_zero_copy());
  const auto payload = d.payload<double>();
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(payload.data()) % alignof(double), 0U);
  EXPECT_TRUE(std::equal(payload.begin(), payload.end(), values.begin(), values.end()));
}

TEST(WireFormat, EmptyModelsRoundTrip) {
  const model_layout none;
  const auto m = encode_global_model<float>(0, round_config{}, none, {});
  const auto d = decode_for(m, none, 0);
  EXPECT_EQ(d.element_count(), 0U);
  EXPECT_TRUE(d.payload<float>().empty());
  EXPECT_EQ(d.config(), round_config{});

  model_layout zero_sized;
  zero_sized.add("empty", tensor_shape{0, 5});
  const auto u = encode_client_update<float>(4, 9, zero_sized, {}, 1.0);
  EXPECT_EQ(decode_for(u, zero_sized, 4).payload<float>().size(), 0U);
  const auto chunks = encode_client_update_chunks<float>(4, 9, zero_sized, {}, 1.0, {}, 4);
  ASSERT_EQ(chunks.size(), 1U);
  EXPECT_EQ(to_bytes(chunks[0]), to_bytes(u));
}

TEST(WireFormat, FlatModelOverloadsAndControl) {
  flat_model<float> model(small_layout());
  for (std::size_t i = 0; i < model.size(); ++i) model.data()[i] = static_cast<float>(i);
  const auto g = encode_global_model(2, round_config{}, model);
  EXPECT_EQ(to_bytes(g),
            to_bytes(encode_global_model<float>(2, round_config{}, model.layout(), model.span())));
  const auto u = encode_client_update(2, 8, model, 10.0, {{"loss", 1.0}});
  EXPECT_EQ(decode_for(u, model.layout(), 2).metrics().at("loss"), 1.0);

  const std::string text = "secagg: round 2 public keys";
  const auto c = encode_control(2, 8, 0x5ECA66U, as_bytes(text));
  const auto d = decode(c);
  EXPECT_EQ(d.kind(), message_kind::control);
  EXPECT_EQ(d.tag(), 0x5ECA66U);
  EXPECT_EQ(d.header().encoding, payload_encoding::raw_bytes);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(d.payload_bytes().data()), d.payload_bytes().size()),
            text);
  EXPECT_THROW((void)d.payload<float>(), malformed_message);
  EXPECT_THAT(malformed_what([&] { (void)decode_for(c, model.layout(), 2); }), HasSubstr("control message"));
}

TEST(WireFormat, EncodeRejectsBadInputWithInvalidConfig) {
  const auto layout = small_layout();
  const std::vector<float> short_values(layout.total_size() - 1);
  EXPECT_THROW((void)encode_global_model<float>(0, round_config{}, layout, short_values), invalid_config);
  const std::vector<double> doubles(layout.total_size());
  EXPECT_THROW((void)encode_client_update<double>(0, 1, layout, doubles, 1.0), invalid_config);
  round_config bad;
  bad.deadline = std::chrono::milliseconds(-1);
  const std::vector<float> values(layout.total_size());
  EXPECT_THROW((void)encode_global_model<float>(0, bad, layout, values), invalid_config);
  round_config long_string;
  long_string.extra["k"] = std::string(max_string_bytes + 1, 'v');
  EXPECT_THROW((void)encode_global_model<float>(0, long_string, layout, values), invalid_config);
  EXPECT_THROW((void)encode_client_update_chunks<float>(0, 1, layout, values, 1.0, {}, 3), invalid_config);
}

// --- decode_for mismatches ---------------------------------------------------------------------

TEST(WireFormat, DecodeForNamesEachMismatch) {
  const auto layout = small_layout();
  const std::vector<float> values(layout.total_size(), 1.0F);
  const auto m = encode_client_update<float>(5, 1, layout, values, 1.0);
  EXPECT_THAT(malformed_what([&] { (void)decode_for(m, layout, 6); }),
              HasSubstr("wrong round: the message is for round 5, expected round 6"));
  model_layout other;
  other.add("w", tensor_shape::vector(15));
  EXPECT_THAT(malformed_what([&] { (void)decode_for(m, other, 5); }), HasSubstr("wrong layout hash"));

  // Same hash, other element count: forge the hash of a bigger layout.
  model_layout bigger;
  bigger.add("w", tensor_shape::vector(20));
  auto forged = to_bytes(m);
  wire::detail::put_u64(forged.data() + 32, bigger.hash());
  fix_crc(forged);
  EXPECT_THAT(malformed_what([&] { (void)decode_for(forged, bigger, 5); }),
              HasSubstr("element count 15 differs from the expected layout's 20"));

  // Same hash, other dtype.
  const auto layout64 = small_layout(dtype::f64);
  const std::vector<double> doubles(layout64.total_size(), 1.0);
  auto forged64 = to_bytes(encode_client_update<double>(5, 1, layout64, doubles, 1.0));
  wire::detail::put_u64(forged64.data() + 32, layout.hash());
  fix_crc(forged64);
  EXPECT_THAT(malformed_what([&] { (void)decode_for(forged64, layout, 5); }), HasSubstr("dtype f64 differs"));
}

// --- Every malformed case -----------------------------------------------------------------------

class Malformed : public ::testing::Test {
protected:
  void SetUp() override {
    metrics_map metrics{{"loss", 0.5}};
    good = to_bytes(encode_client_update<float>(2, 3, layout, values, 10.0, metrics));
  }
  std::string what_after(const std::function<void(std::vector<std::byte>&)>& patch, bool fix = true) {
    auto b = good;
    patch(b);
    if (fix && b.size() >= header_bytes) fix_crc(b);
    return malformed_what([&] { (void)decode(b); });
  }
  model_layout layout = small_layout();
  std::vector<float> values = iota_values<float>(15, 0.0F);
  std::vector<std::byte> good;
};

TEST_F(Malformed, TruncatedHeader) {
  EXPECT_THAT(what_after([](auto& b) { b.resize(10); }),
              HasSubstr("truncated header: expected at least 96 bytes, got 10"));
  EXPECT_THAT(malformed_what([] { (void)decode(std::span<const std::byte>{}); }), HasSubstr("got 0"));
}

TEST_F(Malformed, BadMagicAndVersion) {
  EXPECT_THAT(what_after([](auto& b) { b[0] = std::byte{'X'}; }), HasSubstr("bad magic"));
  EXPECT_THAT(what_after([](auto& b) { wire::detail::put_u16(b.data() + 4, 2); }),
              HasSubstr("unsupported format version 2 (this build reads version 1)"));
}

TEST_F(Malformed, TruncatedAndTrailingPayload) {
  EXPECT_THAT(what_after([](auto& b) { b.erase(b.end() - 4, b.end()); },
                         false), // (erase: GCC 12's -Wstringop-overflow misreads resize under ASan)
              HasSubstr("truncated payload: expected 60 bytes, got 56"));
  EXPECT_THAT(what_after([](auto& b) { b.push_back(std::byte{0}); }, false), HasSubstr("1 trailing bytes"));
  EXPECT_THAT(what_after([](auto& b) { b.erase(b.begin() + 100, b.end()); }, false),
              HasSubstr("truncated sections: header and sections need 128 bytes, got 100"));
}

TEST_F(Malformed, ChecksumMismatch) {
  EXPECT_THAT(what_after([](auto& b) { b.back() ^= std::byte{1}; }, false), HasSubstr("checksum mismatch"));
  EXPECT_THAT(what_after([](auto& b) { b[20] ^= std::byte{0x80}; }, false), HasSubstr("checksum mismatch"));
}

TEST_F(Malformed, UnknownKindEncodingDtypeAndReserved) {
  EXPECT_THAT(what_after([](auto& b) { b[6] = std::byte{9}; }), HasSubstr("unknown message kind 9"));
  EXPECT_THAT(what_after([](auto& b) { b[7] = std::byte{0}; }), HasSubstr("unknown payload encoding 0"));
  EXPECT_THAT(what_after([](auto& b) { b[8] = std::byte{77}; }), HasSubstr("unknown dtype 77"));
  EXPECT_THAT(what_after([](auto& b) { b[10] = std::byte{1}; }), HasSubstr("reserved header bytes"));
  EXPECT_THAT(what_after([](auto& b) { b[126] = std::byte{1}; }), HasSubstr("padding byte 126 is not zero"));
}

TEST_F(Malformed, InconsistentCounts) {
  EXPECT_THAT(what_after([](auto& b) { wire::detail::put_u64(b.data() + 40, 16); }),
              HasSubstr("element count 16 of f32 is inconsistent with 60 total payload bytes"));
  EXPECT_THAT(what_after([](auto& b) { wire::detail::put_u64(b.data() + 40, std::uint64_t{1} << 62); }),
              HasSubstr("inconsistent"));
  EXPECT_THAT(what_after([](auto& b) { wire::detail::put_u64(b.data() + 56, 64); }),
              HasSubstr("unchunked message carries 60 payload bytes, the header says 64"));
  EXPECT_THAT(what_after([](auto& b) { b[8] = std::byte{2}; }), HasSubstr("inconsistent")); // f64: 60 bytes
  EXPECT_THAT(what_after([](auto& b) { b[7] = std::byte{2}; }),
              HasSubstr("raw_bytes payload with dtype f32"));
}

TEST_F(Malformed, ChunkFields) {
  EXPECT_THAT(what_after([](auto& b) { wire::detail::put_u32(b.data() + 84, 0); }),
              HasSubstr("chunk count is 0"));
  EXPECT_THAT(what_after([](auto& b) { wire::detail::put_u32(b.data() + 80, 1); }),
              HasSubstr("chunk index 1 is not below the chunk count 1"));
  EXPECT_THAT(what_after([](auto& b) { wire::detail::put_u64(b.data() + 64, 8); }),
              HasSubstr("outside the total"));
  EXPECT_THAT(what_after([](auto& b) {
                wire::detail::put_u32(b.data() + 84, 2);
                wire::detail::put_u64(b.data() + 56, 62);
              }),
              HasSubstr("inconsistent"));
  EXPECT_THAT(what_after([](auto& b) { wire::detail::put_u32(b.data() + 84, 100); }),
              HasSubstr("100 chunks for a payload of 60 bytes"));
}

TEST_F(Malformed, AbsurdSectionAndStringLengths) {
  EXPECT_THAT(what_after([](auto& b) { wire::detail::put_u32(b.data() + 88, 1U << 30); }),
              HasSubstr("sections of 1073741824 bytes exceed the limit"));
  // Metrics: u32 count at 96, then u32 key length at 100.
  EXPECT_THAT(what_after([](auto& b) { wire::detail::put_u32(b.data() + 100, 0xfffffff0U); }),
              HasSubstr("claims a string of 4294967280 bytes"));
  EXPECT_THAT(what_after([](auto& b) { wire::detail::put_u32(b.data() + 100, 100); }),
              HasSubstr("truncated metrics section: a string at offset 8 needs 100 bytes, only 12 left"));
  EXPECT_THAT(what_after([](auto& b) { wire::detail::put_u32(b.data() + 96, 0x7fffffff); }),
              HasSubstr("claims 2147483647 entries"));
  EXPECT_THAT(what_after([](auto& b) { wire::detail::put_u32(b.data() + 96, 0); }),
              HasSubstr("16 unexpected trailing bytes"));
  EXPECT_THAT(what_after([](auto& b) { b[6] = std::byte{3}; }),
              HasSubstr("control message carries 20 section"));
  EXPECT_THAT(what_after([](auto& b) { b[6] = std::byte{1}; }), HasSubstr("round_config section"));
}

TEST(WireFormatConfig, RepeatedKeyAndNegativeDeadline) {
  const auto layout = small_layout();
  const std::vector<float> values(layout.total_size());
  round_config c;
  c.extra["aa"] = "1";
  c.extra["ab"] = "2";
  auto b = to_bytes(encode_global_model<float>(0, c, layout, values));
  // Section: 4+4+8+8 fixed, u32 n at 120, then "aa" entry at 124: len(4) 'a''a' ...
  b[124 + 4 + 1] = std::byte{'a'};                 // still "aa"
  b[124 + 4 + 2 + 4 + 1 + 4 + 1] = std::byte{'a'}; // "ab" -> "aa"
  fix_crc(b);
  EXPECT_THAT(malformed_what([&] { (void)decode(b); }), HasSubstr("repeats the key 'aa'"));
  auto d = to_bytes(encode_global_model<float>(0, round_config{}, layout, values));
  wire::detail::put_u64(d.data() + 96 + 16, ~std::uint64_t{0});
  fix_crc(d);
  EXPECT_THAT(malformed_what([&] { (void)decode(d); }), HasSubstr("is negative"));
}

// --- Chunking ----------------------------------------------------------------------------------

TEST(WireChunks, SplitDecodeAndReassembleToTheUnchunkedBytes) {
  model_layout layout;
  layout.add("w", tensor_shape{5, 5});
  const auto values = iota_values<float>(25, 1.0F);
  const auto config = odd_config();
  const auto chunks = encode_global_model_chunks<float>(4, config, layout, values, 13); // 3 floats per chunk
  ASSERT_EQ(chunks.size(), 9U);
  std::size_t offset = 0;
  for (std::uint32_t i = 0; i < chunks.size(); ++i) {
    const auto d = decode(chunks[i]);
    EXPECT_EQ(d.header().chunk_index, i);
    EXPECT_EQ(d.header().chunk_count, 9U);
    EXPECT_EQ(d.header().chunk_offset, offset * 4);
    EXPECT_EQ(d.element_count(), 25U);
    const auto part = d.payload<float>();
    EXPECT_TRUE(std::equal(part.begin(), part.end(), values.begin() + static_cast<long>(offset)));
    offset += part.size();
    EXPECT_THAT(malformed_what([&] { (void)decode_for(chunks[i], layout, 4); }), HasSubstr("reassemble"));
  }
  EXPECT_EQ(offset, 25U);

  chunk_reassembler r;
  for (std::size_t i = 0; i + 1 < chunks.size(); ++i) EXPECT_FALSE(r.add(chunks[i]).has_value());
  EXPECT_EQ(r.in_progress(), 1U);
  const auto whole = r.add(to_bytes(chunks.back()));
  ASSERT_TRUE(whole.has_value());
  EXPECT_EQ(r.in_progress(), 0U);
  EXPECT_EQ(to_bytes(*whole), to_bytes(encode_global_model<float>(4, config, layout, values)));
  EXPECT_EQ(decode_for(*whole, layout, 4).config().extra, config.extra);
}

TEST(WireChunks, InterleavedSendersDuplicatesAndOrder) {
  model_layout layout;
  layout.add("w", tensor_shape::vector(10), dtype::f64);
  const auto a_values = iota_values<double>(10, 1.0);
  const auto b_values = iota_values<double>(10, -7.0);
  const auto a = encode_client_update_chunks<double>(1, 100, layout, a_values, 3.0, {{"loss", 1.0}}, 24);
  const auto b = encode_client_update_chunks<double>(1, 200, layout, b_values, 4.0, {}, 24);
  ASSERT_EQ(a.size(), 4U);
  ASSERT_EQ(b.size(), 4U);
  chunk_reassembler r;
  EXPECT_THAT(malformed_what([&] { (void)r.add(a[1]); }), HasSubstr("out of order, expected chunk 0 first"));
  EXPECT_EQ(r.in_progress(), 0U);
  EXPECT_FALSE(r.add(a[0]));
  EXPECT_FALSE(r.add(b[0]));
  EXPECT_THAT(malformed_what([&] { (void)r.add(a[0]); }),
              HasSubstr("duplicate, chunks 0..0 already arrived"));
  EXPECT_THAT(malformed_what([&] { (void)r.add(a[2]); }), HasSubstr("out of order, expected chunk 1"));
  EXPECT_FALSE(r.add(a[1]));
  EXPECT_FALSE(r.add(b[1]));
  // A chunk of another message of the same sender and round (other metrics) is refused.
  const auto a_other =
      encode_client_update_chunks<double>(1, 100, layout, a_values, 3.0, {{"loss", 2.0}}, 24);
  EXPECT_THAT(malformed_what([&] { (void)r.add(a_other[2]); }), HasSubstr("sections differ"));
  const auto a_weight =
      encode_client_update_chunks<double>(1, 100, layout, a_values, 9.0, {{"loss", 1.0}}, 24);
  EXPECT_THAT(malformed_what([&] { (void)r.add(a_weight[2]); }), HasSubstr("header fields differ"));
  // State unchanged by the refusals: both messages complete.
  EXPECT_FALSE(r.add(a[2]));
  EXPECT_FALSE(r.add(b[2]));
  const auto whole_b = r.add(b[3]);
  const auto whole_a = r.add(a[3]);
  ASSERT_TRUE(whole_a && whole_b);
  EXPECT_EQ(to_bytes(*whole_a),
            to_bytes(encode_client_update<double>(1, 100, layout, a_values, 3.0, {{"loss", 1.0}})));
  const auto db = decode_for(*whole_b, layout, 1);
  EXPECT_TRUE(std::equal(db.payload<double>().begin(), db.payload<double>().end(), b_values.begin()));
  EXPECT_EQ(db.weight(), 4.0);

  // Unchunked messages pass through; stale partials can be dropped.
  const auto single = encode_client_update<double>(2, 5, layout, a_values, 1.0);
  const auto through = r.add(single);
  ASSERT_TRUE(through);
  EXPECT_TRUE(through->shares_buffer_with(single));
  EXPECT_FALSE(r.add(a[0]));
  r.discard_before(1);
  EXPECT_EQ(r.in_progress(), 1U);
  r.discard_before(2);
  EXPECT_EQ(r.in_progress(), 0U);
}

TEST(WireChunks, ForgedTotalsAndLimits) {
  model_layout layout;
  layout.add("w", tensor_shape::vector(8));
  const auto values = iota_values<float>(8, 0.0F);
  const auto chunks = encode_client_update_chunks<float>(0, 1, layout, values, 1.0, {}, 16);
  ASSERT_EQ(chunks.size(), 2U);
  // The last chunk shortened (total and count adjusted consistently) leaves bytes uncovered.
  chunk_reassembler r;
  EXPECT_FALSE(r.add(chunks[0]));
  auto last = to_bytes(chunks[1]);
  wire::detail::put_u64(last.data() + 72, 12);
  last.resize(last.size() - 4);
  fix_crc(last);
  EXPECT_THAT(malformed_what([&] { (void)r.add(last); }),
              HasSubstr("the chunks cover 28 of 32 payload bytes"));
  EXPECT_TRUE(r.add(chunks[1]).has_value());

  chunk_reassembler small(16);
  EXPECT_THAT(malformed_what([&] { (void)small.add(chunks[0]); }),
              HasSubstr("exceeds the reassembler's limit"));
  EXPECT_EQ(small.in_progress(), 0U);
}

// --- Duplicate filter --------------------------------------------------------------------------

TEST(DuplicateFilter, OneReportPerClientPerRound) {
  duplicate_filter f(3);
  EXPECT_TRUE(f.insert(1));
  EXPECT_FALSE(f.insert(1));
  EXPECT_TRUE(f.contains(1));
  f.check_and_insert(3, 2);
  try {
    f.check_and_insert(3, 2);
    ADD_FAILURE();
  } catch (const rejected_update& e) {
    EXPECT_EQ(e.reason(), rejection_reason::duplicate);
    EXPECT_EQ(e.client(), 2U);
  }
  try {
    f.check_and_insert(2, 5);
    ADD_FAILURE();
  } catch (const rejected_update& e) {
    EXPECT_THAT(e.what(), HasSubstr("round 2, the current round is 3"));
  }
  EXPECT_FALSE(f.contains(5));
  EXPECT_EQ(f.size(), 2U);
  f.start_round(4);
  EXPECT_EQ(f.size(), 0U);
  EXPECT_TRUE(f.insert(1));
}

// --- Mutation fuzz -------------------------------------------------------------------------------

std::vector<std::vector<std::byte>> fuzz_corpus() {
  std::vector<std::vector<std::byte>> corpus;
  const auto layout = small_layout();
  const auto values = iota_values<float>(layout.total_size(), 0.25F);
  corpus.push_back(to_bytes(encode_global_model<float>(1, odd_config(), layout, values)));
  corpus.push_back(
      to_bytes(encode_client_update<float>(1, 6, layout, values, 3.0, {{"loss", 0.1}, {"acc", 0.9}})));
  corpus.push_back(to_bytes(encode_control(1, 6, 2, as_bytes("control payload"))));
  for (const auto& c : encode_client_update_chunks<float>(1, 6, layout, values, 2.0, {{"x", 1.0}}, 20))
    corpus.push_back(to_bytes(c));
  corpus.push_back(to_bytes(encode_global_model<float>(0, round_config{}, model_layout{}, {})));
  return corpus;
}

// Reads every byte the decoded message exposes, so ASan sees any out-of-bounds view.
std::size_t touch(const decoded_message& d) {
  std::size_t sum = 0;
  for (auto b : d.payload_bytes()) sum += std::to_integer<std::size_t>(b);
  for (auto b : d.sections_bytes()) sum += std::to_integer<std::size_t>(b);
  for (const auto& [k, v] : d.metrics()) sum += k.size() + (v > 0 ? 1 : 0);
  if (d.kind() == message_kind::global_model)
    for (const auto& [k, v] : d.config().extra) sum += k.size() + v.size();
  return sum;
}

TEST(WireFuzz, MutatedMessagesDecodeIdenticallyOrThrowMalformed) {
  const auto corpus = fuzz_corpus();
  std::mt19937_64 rng(20240611);
  std::size_t identical = 0, thrown = 0, accepted_forgeries = 0;
  for (int iteration = 0; iteration < 6000; ++iteration) {
    const auto& original = corpus[rng() % corpus.size()];
    std::vector<std::byte> b = original;
    const auto mode = rng() % 4;
    if (mode == 0) {
      b.resize(rng() % (b.size() + 1)); // truncation (possibly none)
    } else if (mode == 1) {
      const auto flips = 1 + rng() % 3; // CRC-32C detects every error of up to 3 bits here
      for (std::uint64_t i = 0; i < flips; ++i)
        b[rng() % b.size()] ^= static_cast<std::byte>(1U << (rng() % 8));
    } else {
      // Header/sections mutations with the checksum recomputed: exercises the field validation.
      const auto edits = 1 + rng() % 4;
      const std::size_t span = std::min<std::size_t>(b.size(), mode == 2 ? header_bytes : b.size());
      for (std::uint64_t i = 0; i < edits; ++i) b[rng() % span] = static_cast<std::byte>(rng() & 0xff);
      if (rng() % 4 == 0) b.resize(b.size() - rng() % 8);
      if (b.size() >= header_bytes) fix_crc(b);
    }
    const std::vector<std::byte> exact(b.begin(), b.end()); // exact-size heap block for ASan
    try {
      const auto d = decode(exact);
      (void)touch(d);
      if (exact == original) {
        ++identical;
      } else {
        ASSERT_GE(mode, 2U) << "a truncated or bit-flipped message decoded (iteration " << iteration << ")";
        ++accepted_forgeries;
      }
    } catch (const malformed_message&) {
      ASSERT_NE(exact, original) << "the original message was refused";
      ++thrown;
    }
  }
  std::cout << "[fuzz] identical " << identical << ", malformed " << thrown
            << ", checksum-fixed forgeries decoded " << accepted_forgeries << "\n";
  EXPECT_GT(thrown, 3000U);
}

} // namespace
