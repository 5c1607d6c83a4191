// IDX reader on small files crafted here (plain and gzip), each malformed case, and the
// Fashion-MNIST loader's missing-dataset message.
#include "fedpp/simulation/fashion_mnist.hpp"
#include "fedpp/simulation/idx_reader.hpp"

#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <unistd.h>

namespace fs = std::filesystem;
using namespace fedpp::simulation;
using bytes = std::vector<std::uint8_t>;

namespace {

class IdxReader : public ::testing::Test {
protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("fedpp_idx_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) +
            "_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path write_plain(const std::string& name, const bytes& content) {
    const auto path = dir_ / name;
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(content.data()), static_cast<std::streamsize>(content.size()));
    return path;
  }
  fs::path write_gzip(const std::string& name, const bytes& content) {
    const auto path = dir_ / name;
    gzFile f = gzopen(path.string().c_str(), "wb");
    if (!content.empty()) gzwrite(f, content.data(), static_cast<unsigned>(content.size()));
    gzclose(f);
    return path;
  }
  fs::path dir_;
};

bytes header(std::uint8_t type, std::vector<std::uint32_t> dims) {
  bytes b{0, 0, type, static_cast<std::uint8_t>(dims.size())};
  for (auto d : dims)
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<std::uint8_t>(d >> s));
  return b;
}

bytes u8_file(std::vector<std::uint32_t> dims) {
  bytes b = header(0x08, dims);
  std::size_t n = 1;
  for (auto d : dims) n *= d;
  for (std::size_t i = 0; i < n; ++i) b.push_back(static_cast<std::uint8_t>(i * 7 + 1));
  return b;
}

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const fedpp::malformed_message& e) {
    return e.what();
  }
  return "(no malformed_message)";
}

} // namespace

TEST_F(IdxReader, ReadsPlainU8) {
  const auto path = write_plain("a.idx", u8_file({2, 3, 4}));
  const auto a = read_idx(path);
  EXPECT_EQ(a.type, idx_type::u8);
  EXPECT_EQ(a.extents, (std::vector<std::size_t>{2, 3, 4}));
  ASSERT_EQ(a.size(), 24U);
  for (std::size_t i = 0; i < 24; ++i) EXPECT_EQ(a.bytes[i], static_cast<std::uint8_t>(i * 7 + 1));
  EXPECT_EQ(a.to_vector<float>()[3], 22.0F);
}

TEST_F(IdxReader, ReadsGzipWithBigEndianElements) {
  bytes b = header(0x0C, {3}); // i32
  for (std::int32_t v : {1, -2, 0x01020304})
    for (int s = 24; s >= 0; s -= 8)
      b.push_back(static_cast<std::uint8_t>(static_cast<std::uint32_t>(v) >> s));
  const auto a = read_idx(write_gzip("b.idx.gz", b));
  EXPECT_EQ(a.type, idx_type::i32);
  EXPECT_EQ(a.to_vector<std::int64_t>(), (std::vector<std::int64_t>{1, -2, 0x01020304}));

  bytes f = header(0x0D, {2}); // f32 1.5, -0.25
  for (std::uint32_t bits : {0x3FC00000U, 0xBE800000U})
    for (int s = 24; s >= 0; s -= 8) f.push_back(static_cast<std::uint8_t>(bits >> s));
  EXPECT_EQ(read_idx(write_gzip("f.idx.gz", f)).to_vector<double>(), (std::vector<double>{1.5, -0.25}));

  bytes d = header(0x0B, {1}); // i16 −3
  d.push_back(0xFF);
  d.push_back(0xFD);
  EXPECT_EQ(read_idx(write_plain("d.idx", d)).to_vector<int>(), std::vector<int>{-3});
}

TEST_F(IdxReader, ZeroExtentIsEmpty) {
  const auto a = read_idx(write_gzip("e.gz", header(0x08, {0, 28, 28})));
  EXPECT_EQ(a.size(), 0U);
  EXPECT_TRUE(a.bytes.empty());
}

TEST_F(IdxReader, MissingFileIsInvalidConfig) {
  EXPECT_THROW((void)read_idx(dir_ / "nope.idx"), fedpp::invalid_config);
}

TEST_F(IdxReader, BadMagic) {
  bytes b = u8_file({4});
  b[1] = 0x08;
  const auto path = write_plain("magic.idx", b);
  const auto msg = error_of([&] { (void)read_idx(path); });
  EXPECT_NE(msg.find("magic.idx"), std::string::npos) << msg;
  EXPECT_NE(msg.find("bad magic"), std::string::npos) << msg;
  EXPECT_NE(msg.find("0x08"), std::string::npos) << msg;
}

TEST_F(IdxReader, UnknownTypeCode) {
  bytes b = u8_file({4});
  b[2] = 0x07;
  const auto msg = error_of([&] { (void)read_idx(write_gzip("type.gz", b)); });
  EXPECT_NE(msg.find("type.gz"), std::string::npos) << msg;
  EXPECT_NE(msg.find("unknown element type code 0x07"), std::string::npos) << msg;
}

TEST_F(IdxReader, RankOutOfRange) {
  EXPECT_NE(error_of([&] { (void)read_idx(write_plain("r0.idx", header(0x08, {}))); }).find("rank 0"),
            std::string::npos);
  bytes b = header(0x08, {1, 1, 1, 1, 1, 1, 1, 1, 1});
  b.push_back(5);
  EXPECT_NE(error_of([&] { (void)read_idx(write_plain("r9.idx", b)); }).find("rank 9"), std::string::npos);
}

TEST_F(IdxReader, TruncatedHeaderAndData) {
  auto msg = error_of([&] { (void)read_idx(write_plain("short.idx", bytes{0, 0})); });
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
  bytes b = header(0x08, {3, 5});
  b.resize(b.size() - 2); // extents cut short
  msg = error_of([&] { (void)read_idx(write_plain("ext.idx", b)); });
  EXPECT_NE(msg.find("extents"), std::string::npos) << msg;

  bytes data = u8_file({3, 5});
  data.resize(data.size() - 4);
  for (const auto& path : {write_plain("data.idx", data), write_gzip("data.gz", data)}) {
    msg = error_of([&] { (void)read_idx(path); });
    EXPECT_NE(msg.find(path.filename().string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
    EXPECT_NE(msg.find("need 15 data bytes, the file has 11"), std::string::npos) << msg;
  }
}

TEST_F(IdxReader, OversizedFile) {
  bytes b = u8_file({2, 2});
  b.push_back(9);
  b.push_back(9);
  for (const auto& path : {write_plain("big.idx", b), write_gzip("big.gz", b)}) {
    const auto msg = error_of([&] { (void)read_idx(path); });
    EXPECT_NE(msg.find("oversized: 2 bytes follow the 4 data bytes"), std::string::npos) << msg;
  }
}

TEST_F(IdxReader, AbsurdExtents) {
  const auto path = write_plain("huge.idx", header(0x0E, {0xFFFFFFFFU, 0xFFFFFFFFU, 3}));
  const auto msg = error_of([&] { (void)read_idx(path); });
  EXPECT_NE(msg.find("exceed the limit"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[4294967295, 4294967295, 3]"), std::string::npos) << msg;
  // Within the byte limit but far beyond the file: reported as truncated, allocation bounded.
  const auto msg2 = error_of([&] { (void)read_idx(write_gzip("lie.gz", header(0x08, {1U << 30}))); });
  EXPECT_NE(msg2.find("truncated"), std::string::npos) << msg2;
  // A caller-chosen limit.
  EXPECT_THROW((void)read_idx(write_plain("small.idx", u8_file({10})), 9), fedpp::malformed_message);
  EXPECT_NO_THROW((void)read_idx(write_plain("ok.idx", u8_file({10})), 10));
}

TEST_F(IdxReader, CorruptGzipStream) {
  bytes b = u8_file({64});
  const auto path = write_gzip("corrupt.gz", b);
  bytes raw;
  {
    std::ifstream in(path, std::ios::binary);
    raw.assign(std::istreambuf_iterator<char>(in), {});
  }
  for (std::size_t i = 12; i + 8 < raw.size(); ++i) raw[i] ^= 0x5A; // mangle the deflate body
  write_plain("corrupt.gz", raw);
  const auto msg = error_of([&] { (void)read_idx(path); });
  EXPECT_NE(msg.find("corrupt.gz"), std::string::npos) << msg;
  EXPECT_NE(msg.find("gzip stream"), std::string::npos) << msg;
}

TEST_F(IdxReader, GzipWithoutItsTrailer) {
  const auto path = write_gzip("cut.gz", u8_file({64}));
  bytes raw;
  {
    std::ifstream in(path, std::ios::binary);
    raw.assign(std::istreambuf_iterator<char>(in), {});
  }
  raw.resize(raw.size() - 6); // the CRC and length trailer, cut short
  write_plain("cut.gz", raw);
  const auto msg = error_of([&] { (void)read_idx(path); });
  EXPECT_NE(msg.find("truncated gzip stream"), std::string::npos) << msg;
}

TEST_F(IdxReader, LoadIdxDatasetScalesAndChecksPairs) {
  const auto images = write_gzip("img.gz", u8_file({3, 2, 2}));
  bytes labels = header(0x08, {3});
  labels.insert(labels.end(), {1, 0, 2});
  const auto ds = load_idx_dataset(images, write_plain("lab", labels), 3);
  EXPECT_EQ(ds.size(), 3U);
  EXPECT_EQ(ds.num_features(), 4U);
  EXPECT_FLOAT_EQ(ds.example(1)[0], static_cast<float>(static_cast<std::uint8_t>(4 * 7 + 1)) / 255.0F);
  EXPECT_EQ(ds.label(2), 2);
  bytes two = header(0x08, {2});
  two.insert(two.end(), {1, 0});
  EXPECT_THROW((void)load_idx_dataset(images, write_plain("two", two), 3), fedpp::malformed_message);
  EXPECT_THROW((void)load_idx_dataset(images, write_plain("lab2", labels), 2), fedpp::invalid_config);
}

TEST_F(IdxReader, MissingDatasetSaysHowToInstall) {
  try {
    (void)load_fashion_mnist(dir_ / "absent");
    FAIL() << "expected dataset_not_found";
  } catch (const dataset_not_found& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("dataset-fashion-mnist"), std::string::npos) << msg;
    EXPECT_NE(msg.find("apt-get install dataset-fashion-mnist"), std::string::npos) << msg;
    EXPECT_NE(msg.find("absent"), std::string::npos) << msg;
  }
}

TEST_F(IdxReader, DirectoryPrecedence) {
  const auto* old = std::getenv(fashion_mnist_directory_env);
  const std::string saved = old ? old : "";
  ::setenv(fashion_mnist_directory_env, "/from/env", 1);
  EXPECT_EQ(fashion_mnist_directory(), fs::path("/from/env"));
  EXPECT_EQ(fashion_mnist_directory(fs::path("/arg")), fs::path("/arg"));
  ::unsetenv(fashion_mnist_directory_env);
  EXPECT_EQ(fashion_mnist_directory(), fs::path("/usr/share/datasets/fashion-mnist"));
  if (old) ::setenv(fashion_mnist_directory_env, saved.c_str(), 1);
}
