// Writes the seed corpora of the fuzz harnesses from the library's own encoders:
//   make_corpus <dir>   →   <dir>/<harness>/<seed>   (deterministic: same bytes on every run)
// Each seed is in its harness's input format (see the comment at the top of each *_fuzz.cpp).
// scripts/fuzz.sh runs it (CI: into the build folder; --corpus: into tests/fuzz/corpus).
#include "checkpoint_servers.hpp"
#include "fuzz_common.hpp"
#if defined(FEDPP_WITH_PAILLIER)
#include "ftl_session.hpp"
#include "hetero_lr_session.hpp"
#endif
#include "secagg_transcript.hpp"
#include "vertical_fixtures.hpp"

#include "fedpp/aggregation/fedavg.hpp"
#include "fedpp/aggregation/scaffold_control_store.hpp"
#include "fedpp/compression/compressed_update.hpp"
#include "fedpp/compression/count_sketch.hpp"
#include "fedpp/compression/fetchsgd.hpp"
#include "fedpp/compression/float_cast.hpp"
#include "fedpp/compression/qsgd.hpp"
#include "fedpp/compression/sign_compressor.hpp"
#include "fedpp/compression/sparsifier.hpp"
#include "fedpp/compression/uniform_quantizer.hpp"
#include "fedpp/optim/fedopt.hpp"
#include "fedpp/optim/server_momentum.hpp"
#include "fedpp/orchestration/checkpoint.hpp"
#include "fedpp/orchestration/federated_evaluation.hpp"
#include "fedpp/orchestration/server.hpp"
#include "fedpp/transport/wire_format.hpp"

#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using namespace fedpp;
namespace fs = std::filesystem;
using bytes = std::vector<std::uint8_t>;

fs::path root;

void write(const std::string& harness, const std::string& name, const bytes& b) {
  const fs::path dir = root / harness;
  fs::create_directories(dir);
  std::ofstream f(dir / name, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  if (!f) throw std::runtime_error("make_corpus: cannot write " + (dir / name).string());
}

void append(bytes& out, std::span<const std::byte> b) {
  for (const auto x : b) out.push_back(std::to_integer<std::uint8_t>(x));
}

bytes with_prefix(std::initializer_list<std::uint8_t> prefix, std::span<const std::byte> b) {
  bytes out(prefix);
  append(out, b);
  return out;
}

std::vector<float> values(std::size_t n, float scale = 1.0F) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i)
    v[i] = scale * (static_cast<float>((i * 37) % 17) - 8.0F) / (1.0F + static_cast<float>(i % 5));
  return v;
}

round_config sample_config() {
  round_config c;
  c.local_epochs = 2;
  c.batch_size = 32;
  c.learning_rate = 0.05;
  c.deadline = std::chrono::milliseconds(1500);
  c.extra = {{"mu", "0.01"}, {"scaffold", "1"}};
  return c;
}

// --- wire_decode -------------------------------------------------------------------------------

void wire_decode() {
  const auto fl = fuzz::float_layout();
  const auto dl = fuzz::double_layout();
  const auto f = values(fl.total_size());
  std::vector<double> d(dl.total_size());
  for (std::size_t i = 0; i < d.size(); ++i) d[i] = 0.25 * static_cast<double>(i) - 1.0;
  const std::string h = "wire_decode";
  write(h, "global_model",
        with_prefix({0}, wire::encode_global_model<float>(3, sample_config(), fl, f).bytes()));
  write(h, "global_model_shifted",
        with_prefix({4 | 8}, wire::encode_global_model<float>(0, round_config{}, fl, f).bytes()));
  write(
      h, "client_update",
      with_prefix(
          {0},
          wire::encode_client_update<float>(3, 7, fl, f, 120.0, {{"accuracy", 0.9}, {"loss", 0.3}}).bytes()));
  write(h, "client_update_f64",
        with_prefix({2}, wire::encode_client_update<double>(1, 2, dl, d, 5.0).bytes()));
  write(h, "control", with_prefix({0}, wire::encode_control(9, 4, 77, std::as_bytes(std::span(f))).bytes()));
  const auto chunks = wire::encode_client_update_chunks<float>(3, 7, fl, f, 120.0, {{"loss", 0.3}}, 24);
  write(h, "chunk", with_prefix({0}, chunks.at(1).bytes()));
  { // metrics keys out of order (the decoder takes them; the encoder sorts): flags bit 0 fixes the CRC
    const message m = wire::encode_client_update<float>(1, 2, fl, f, 3.0, {{"a", 1.0}, {"b", 2.0}});
    std::vector<std::byte> b(m.bytes().begin(), m.bytes().end());
    const std::size_t entry = 4 + 1 + 8, first = wire::header_bytes + 4;
    std::swap_ranges(b.begin() + first, b.begin() + first + entry, b.begin() + first + entry);
    write(h, "unsorted_metrics", with_prefix({1}, b));
  }
  std::vector<std::byte> payload(40, std::byte{3});
  write(h, "compressed_update",
        with_prefix({0}, compression::encode_compressed_update(2, 5, fl, payload, 10.0).bytes()));
}

// --- chunk_reassembler -------------------------------------------------------------------------

void add_message(bytes& out, std::uint8_t op, const message& m) {
  out.push_back(op);
  fuzz::put_record(out, m.bytes());
}

void chunk_reassembler() {
  const std::string h = "chunk_reassembler";
  const auto fl = fuzz::float_layout();
  const auto f = values(fl.total_size());
  const auto a = wire::encode_client_update_chunks<float>(0, 1, fl, f, 10.0, {{"loss", 0.5}}, 24);
  const auto b = wire::encode_client_update_chunks<float>(0, 2, fl, f, 20.0, {}, 40);
  const auto g = wire::encode_global_model_chunks<float>(3, sample_config(), fl, f, 16);
  {
    bytes s{255, 255};
    for (const auto& m : a) add_message(s, 0, m);
    write(h, "one_sender", s);
  }
  {
    bytes s{255, 255};
    add_message(s, 0, a[0]);
    add_message(s, 1, b[0]);
    add_message(s, 2, a[1]);
    add_message(s, 0, wire::encode_client_update<float>(0, 3, fl, f, 1.0));
    add_message(s, 1, b[1]);
    add_message(s, 2, a[2]);
    write(h, "interleaved", s);
  }
  {
    bytes s{255, 4}; // 256-byte budget: the second sender's chunks exceed it
    add_message(s, 0, a[0]);
    add_message(s, 0, b[0]);
    add_message(s, 0, a[1]);
    write(h, "budget", s);
  }
  {
    bytes s{1, 255}; // 64-byte total limit
    for (const auto& m : g) add_message(s, 0, m);
    write(h, "limit", s);
  }
  {
    bytes s{255, 255};
    add_message(s, 0, g[0]);
    add_message(s, 0, a[0]);
    s.push_back(3 | (1 << 3)); // discard_before(1): drops sender 1's round-0 message
    fuzz::put_record(s, {});
    add_message(s, 0, a[1]);
    add_message(s, 0, g[1]);
    add_message(s, 0, g[1]); // duplicate
    add_message(s, 0, g[3]); // out of order
    s.push_back(3 | 4);      // clear()
    fuzz::put_record(s, {});
    write(h, "discard", s);
  }
}

// --- server_admission --------------------------------------------------------------------------

void add_from(bytes& out, std::uint8_t from, std::uint8_t op, const message& m) {
  out.push_back(from);
  out.push_back(op);
  fuzz::put_record(out, m.bytes());
}

void server_admission() {
  const std::string h = "server_admission";
  const auto fl = fuzz::float_layout();
  const auto f = values(fl.total_size(), 0.1F);
  write(h, "honest", bytes{7, 0});
  write(h, "one_fails", bytes{5, 1});
  {
    bytes s{7, 0};
    for (const auto& m : wire::encode_client_update_chunks<float>(0, 1, fl, f, 12.0, {{"loss", 1.0}}, 20))
      add_from(s, 0, 0, m);
    write(h, "chunked", s);
  }
  {
    bytes s{7, 0};
    add_from(s, 3, 0, wire::encode_client_update<float>(0, 2, fl, f, 12.0)); // endpoint 4 claims client 2
    add_from(s, 1, 0x80, message{});                                         // client 2's honest report now
    add_from(s, 3, 0, wire::encode_client_update<float>(0, 4, fl, f, 12.0)); // not selected
    write(h, "impostor", s);
  }
  {
    bytes s{3 | 8, 2};
    add_from(s, 0, 0, wire::encode_client_update<float>(1, 1, fl, f, 12.0)); // a later round
    std::vector<float> bad = f;
    bad[3] = std::numeric_limits<float>::quiet_NaN();
    add_from(s, 1, 0, wire::encode_client_update<float>(0, 2, fl, bad, 12.0));
    add_from(s, 2, 0, wire::encode_client_update<float>(0, 3, fl, f, 1e9, {{"loss", 1e300}}));
    write(h, "bad_reports", s);
  }
  {
    bytes s{6 | 16, 4};
    std::vector<std::byte> payload;
    compression::sign_compressor(true).compress(f, 1, payload);
    add_from(s, 0, 0, compression::encode_compressed_update(0, 1, fl, payload, 3.0));
    add_from(s, 1, 0, wire::encode_control(0, 2, static_cast<std::uint32_t>(control_tag::client_failed), {}));
    add_from(s, 2, 0, wire::encode_global_model<float>(0, round_config{}, fl, f));
    write(h, "odd_kinds", s);
  }
}

// --- client_host, async_server -------------------------------------------------------------------

void client_host() {
  const std::string h = "client_host";
  const auto fl = fuzz::float_layout();
  const auto f = values(fl.total_size(), 0.5F);
  auto add = [](bytes& s, std::uint8_t from, std::uint8_t to, const message& m) {
    s.push_back(from);
    s.push_back(to);
    s.push_back(0);
    fuzz::put_record(s, m.bytes());
  };
  round_config failing = sample_config();
  failing.local_epochs = 13;
  {
    bytes s;
    add(s, 0, 0, wire::encode_global_model<float>(0, sample_config(), fl, f));
    add(s, 0, 1, wire::encode_global_model<float>(0, failing, fl, f));
    add(s, 0, 0,
        wire::encode_control(0, server_endpoint, static_cast<std::uint32_t>(control_tag::shutdown), {}));
    write(h, "models", s);
  }
  {
    bytes s;
    for (const auto& m : wire::encode_global_model_chunks<float>(2, sample_config(), fl, f, 24))
      add(s, 0, 1, m);
    add(s, 3, 0, wire::encode_global_model<float>(0, sample_config(), fl, f)); // from client 3
    add(s, 0, 0, wire::encode_client_update<float>(0, server_endpoint, fl, f, 1.0));
    add(s, 0, 0,
        wire::encode_global_model<double>(0, sample_config(), fuzz::double_layout(),
                                          std::vector<double>(fuzz::double_layout().total_size(), 1.0)));
    write(h, "chunks_and_strangers", s);
  }
  {
    // Evaluation requests (federated evaluation): one answered, one whose evaluation throws.
    round_config evaluate = sample_config();
    evaluate.extra[std::string(evaluate_key)] = "1";
    round_config evaluate_failing = failing;
    evaluate_failing.extra[std::string(evaluate_key)] = "2";
    bytes s;
    add(s, 0, 0, wire::encode_global_model<float>(1, evaluate, fl, f));
    add(s, 0, 1, wire::encode_global_model<float>(1, evaluate_failing, fl, f));
    write(h, "evaluations", s);
  }
}

void async_server() {
  const std::string h = "async_server";
  const auto fl = fuzz::float_layout();
  const auto f = values(fl.total_size(), 0.5F);
  write(h, "honest", bytes{0});
  {
    bytes s{1};
    add_from(s, 1, 0x80, message{});                                        // client 2's honest upload first
    add_from(s, 3, 0, wire::encode_client_update<float>(0, 1, fl, f, 2.0)); // endpoint 4 claims client 1
    add_from(s, 0, 0, wire::encode_control(0, 1, static_cast<std::uint32_t>(control_tag::client_failed), {}));
    write(h, "impostor_and_failure", s);
  }
  {
    bytes s{0};
    for (const auto& m : wire::encode_client_update_chunks<float>(0, 2, fl, f, 30.0, {{"loss", 2.0}}, 28))
      add_from(s, 1, 0, m);
    add_from(s, 2, 0, wire::encode_client_update<float>(4, 3, fl, f, 1.0)); // a version not sent
    write(h, "chunked_heavy", s);
  }
}

// --- compression -------------------------------------------------------------------------------

template <class C>
void compressed(const std::string& h, const std::string& name, const C& c, std::size_t d, float scale,
                std::initializer_list<std::uint8_t> prefix = {0, 0}) {
  std::vector<std::byte> out;
  c.compress(values(d, scale), 11, out);
  write(h, name, with_prefix(prefix, out));
}

void compression_seeds() {
  using namespace fedpp::compression;
  compressed("compression_float_cast", "fp16", float_cast(half_format::fp16), 37, 1.0F);
  compressed("compression_float_cast", "bf16", float_cast(half_format::bf16), 8, 1e30F, {2, 3});
  for (const unsigned bits : {1U, 2U, 4U, 8U}) {
    const auto b = std::to_string(bits);
    compressed("compression_uniform", "bits" + b, uniform_quantizer(bits, 0, rounding::nearest), 37, 1.0F);
    compressed("compression_uniform", "bits" + b + "_chunked",
               uniform_quantizer(bits, 16, rounding::stochastic), 37, 1e3F, {1, 1});
    compressed("compression_hadamard", "bits" + b, uniform_quantizer(bits, 0, rounding::stochastic, true), 37,
               1.0F);
  }
  compressed("compression_hadamard", "chunked", uniform_quantizer(4, 8, rounding::nearest, true), 5, 1e30F,
             {2, 5});
  for (const unsigned levels : {1U, 7U, 127U}) {
    const auto l = std::to_string(levels);
    compressed("compression_qsgd", "levels" + l, qsgd(levels), 37, 1.0F);
    compressed("compression_qsgd", "levels" + l + "_chunked", qsgd(levels, 16), 37, 1e20F, {3, 4});
  }
  compressed("compression_sign", "scaled", sign_compressor(true), 37, 1.0F);
  compressed("compression_sign", "scaled_chunked", sign_compressor(true, 8), 37, 1e25F, {2, 1});
  compressed("compression_sign", "unscaled", sign_compressor(false), 37, 1.0F, {0, 1});
  compressed("compression_sparse", "top_k_varint", sparsifier::top_k(3), 300, 1.0F);
  compressed("compression_sparse", "top_fraction_mask", sparsifier::top_fraction(0.5), 37, 1.0F);
  compressed("compression_sparse", "random_k", sparsifier::random_fraction(0.2), 37, 1e35F, {1, 2});
  compressed("compression_sparse", "threshold", sparsifier::threshold(2.0F), 37, 1.0F);
  compressed("compression_count_sketch", "r1c64", sketch_compressor(1, 64, 5), 37, 1.0F);
  compressed("compression_count_sketch", "r3c128", sketch_compressor(3, 128, 6), 150, 1.0F, {4, 1});
  compressed("compression_count_sketch", "r4c64_big", sketch_compressor(4, 64, 7), 20, 1e37F, {8, 3});
}

// --- state restores ----------------------------------------------------------------------------

template <class A>
void fedavg_seed(const std::string& name, std::uint8_t ctl, const model_layout& layout, int inputs,
                 weighting mode = weighting::by_examples) {
  using T = typename A::result_type::value_type;
  A agg(layout, mode);
  for (int k = 0; k < inputs; ++k) {
    std::vector<T> x(layout.total_size());
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<T>(0.5 * static_cast<double>(i) - k);
    agg.accumulate(
        client_update<T>::from_flat(static_cast<client_id>(k), layout, std::span<const T>(x), 3.0 + k));
  }
  write("fedavg_restore", name, with_prefix({ctl}, agg.to_bytes()));
}

void restores() {
  model_layout f16;
  f16.add("fc.weight", {3, 4}).add("fc.bias", {4});
  model_layout f1;
  f1.add("x", {1});
  model_layout f3;
  f3.add("a", {2}).add("b", {1});
  model_layout d3;
  d3.add("a", {2}, dtype::f64).add("b", {1}, dtype::f64);
  fedavg_seed<fedavg<float>>("float_two_inputs", 0, f16, 2);
  fedavg_seed<fedavg<float>>("float_empty", 3, f1, 0);
  fedavg_seed<fedavg<float>>("float_uniform", 6, f3, 3, weighting::uniform);
  fedavg_seed<fedavg<float, float>>("float_float", 1, f16, 1);
  fedavg_seed<fedavg<double>>("double", 8, d3, 2);

  const std::vector<float> delta = values(16, 0.01F);
  std::vector<float> model(16, 0.5F);
  auto opt_seed = [&](const std::string& name, std::uint8_t ctl, auto optimizer, int steps) {
    for (int s = 0; s < steps; ++s) optimizer.step(model, delta);
    write("fedopt_restore", name, with_prefix({ctl}, optimizer.to_bytes()));
  };
  opt_seed("adam", 0, fedadam<float>(16), 1);
  opt_seed("adam_double", 1, fedadam<float, double>(16), 2);
  opt_seed("yogi", 2, fedyogi<float>(16), 1);
  opt_seed("yogi_double", 3 | 8, fedyogi<float, double>(16), 0);
  opt_seed("adagrad", 4, fedadagrad<float>(16), 3);
  opt_seed("adagrad_double", 5 | 8, fedadagrad<float, double>(3), 0);

  server_momentum<float> m1(16, 0.7, 0.5);
  m1.step(model, delta);
  write("server_momentum_restore", "float", with_prefix({0}, m1.to_bytes()));
  server_momentum<float, double> m2(5, 1.0, 0.9);
  write("server_momentum_restore", "double", with_prefix({1 | 8}, m2.to_bytes()));

  scaffold_control_store<float> s1(4);
  s1.put(3, values(4));
  s1.put(9, values(4, -2.0F));
  write("scaffold_restore", "float", with_prefix({2}, s1.to_bytes()));
  scaffold_control_store<double> s2(3);
  s2.put(1, std::vector<double>{0.5, -1.0, 2.0});
  write("scaffold_restore", "double", with_prefix({1 | 2 | 4}, s2.to_bytes()));
  write("scaffold_restore", "empty", with_prefix({2}, scaffold_control_store<float>(6).to_bytes()));
}

// --- secure aggregation ------------------------------------------------------------------------

void control_record(bytes& out, std::uint8_t mode, const message& m) {
  const auto d = wire::decode(m);
  std::vector<std::byte> rec{static_cast<std::byte>(d.tag())};
  rec.insert(rec.end(), d.payload_bytes().begin(), d.payload_bytes().end());
  out.push_back(mode);
  fuzz::put_record(out, rec);
}

void secagg_seeds() {
  const auto& t = fuzz::secagg_round::honest();
  for (std::uint8_t state = 1; state <= 3; ++state) {
    bytes s{state};
    control_record(s, 1, t.to_client[state].at(1)); // the honest next message, rebuilt
    write("secagg_client", "state" + std::to_string(state) + "_honest", s);
    bytes r{state};
    r.push_back(0);
    fuzz::put_record(r, t.to_client[state].at(1).bytes());
    r.push_back(3);
    fuzz::put_record(r, {});
    write("secagg_client", "state" + std::to_string(state) + "_raw", r);
  }
  {
    bytes s{2};
    const std::array<std::byte, 5> abort{std::byte{8}, std::byte{1}, std::byte{0}, std::byte{0},
                                         std::byte{0}};
    s.push_back(1);
    fuzz::put_record(s, abort);
    write("secagg_client", "abort", s);
  }
  for (std::uint8_t phase = 0; phase < 4; ++phase) {
    bytes s{phase};
    for (std::uint8_t k = 0; k < 3; ++k) {
      s.push_back(k); // from client k + 1
      s.push_back(1);
      const auto d = wire::decode(t.to_server[phase].at(k + 1));
      std::vector<std::byte> rec{static_cast<std::byte>(d.tag())};
      rec.insert(rec.end(), d.payload_bytes().begin(), d.payload_bytes().end());
      fuzz::put_record(s, rec);
    }
    write("secagg_server", "phase" + std::to_string(phase) + "_honest", s);
    bytes e{phase};
    e.push_back(0); // client 1's honest message, client 2's raw, then an early close
    e.push_back(2);
    fuzz::put_record(e, {});
    e.push_back(1);
    e.push_back(0);
    fuzz::put_record(e, t.to_server[phase].at(2).bytes());
    e.push_back(0);
    e.push_back(3);
    fuzz::put_record(e, {});
    write("secagg_server", "phase" + std::to_string(phase) + "_early_close", e);
  }
}

// --- checkpoint_restore ------------------------------------------------------------------------

void checkpoint_seeds() {
  const std::string h = "checkpoint_restore";
  const std::array<const char*, fuzz::checkpoint_servers::kinds> names{
      "sgd", "adam", "momentum", "central_dp", "scaffold", "sgd_double"};
  for (unsigned k = 0; k < fuzz::checkpoint_servers::kinds; ++k)
    fuzz::checkpoint_servers::with_server(k, [&](const auto& s, const auto&... extras) {
      const auto b = checkpoint_bytes(s, extras...);
      write(h, names[k], with_prefix({static_cast<std::uint8_t>(k | 16)}, b));
      if (k == 0 || k == 4)
        write(h, std::string(names[k]) + "_file", with_prefix({static_cast<std::uint8_t>(k | 8 | 16)}, b));
      if (k == 1)
        write(h, "adam_into_momentum", with_prefix({2 | 16}, b)); // a sound checkpoint of another server
    });
}

// --- evaluation_answers ------------------------------------------------------------------------

void evaluation_seeds() {
  const std::string h = "evaluation_answers";
  write(h, "honest", bytes{7});
  write(h, "failures_known_sizes", bytes{1 | 8 | 16});
  // [from index][op][record]: endpoints {1, 2, 3, 4, 9, 0, server_endpoint}.
  auto raw = [](bytes& s, std::uint8_t from, const message& m) {
    s.push_back(from);
    s.push_back(0);
    fuzz::put_record(s, m.bytes());
  };
  auto fields = [](bytes& s, std::uint8_t from, std::uint8_t op, std::initializer_list<std::uint8_t> head,
                   std::span<const double> values) {
    bytes rec(head);
    for (const double v : values) {
      std::array<std::byte, 8> b{};
      wire::detail::put_u64(b.data(), std::bit_cast<std::uint64_t>(v));
      append(rec, b);
    }
    s.push_back(from);
    s.push_back(op);
    fuzz::put_record(s, std::as_bytes(std::span(rec)));
  };
  {
    bytes s{7};
    raw(s, 3, encode_evaluation_report(4, 1, 2, {10, 0.5, 0.75})); // endpoint 4 claims client 1
    raw(s, 4, encode_evaluation_report(4, 3, 2, {30, 0.25, 0.5})); // client 3's host
    raw(s, 1, encode_evaluation_report(4, 2, 1, {20, 0.5, 0.5}));  // an earlier evaluation
    s.push_back(0);
    s.push_back(2); // client 1's honest answer now
    fuzz::put_record(s, {});
    raw(s, 0, encode_evaluation_report(4, 1, 2, {10, 0.5, 0.75})); // a repeat
    write(h, "hosts_and_impostors", s);
  }
  {
    bytes s{7 | 8};
    const std::array<double, 3> nan_loss{10, std::numeric_limits<double>::quiet_NaN(), 0.5};
    const std::array<double, 3> half_example{2.5, 0.5, 0.5};
    const std::array<double, 3> accuracy_two{10, 0.5, 2.0};
    fields(s, 0, 1 | 16, {0, 1, 0, 1}, nan_loss);     // tag report, round 4, evaluation 2
    fields(s, 1, 1 | 16, {0, 1, 0, 1}, half_example); // from client 2
    fields(s, 2, 1 | 16, {0, 1, 0, 1}, accuracy_two); // from client 3
    fields(s, 3, 1 | 8 | 16, {1, 1, 1, 1}, {});       // endpoint 4, "failed" claiming client 1
    write(h, "bad_values", s);
  }
}

// --- vertical FL -------------------------------------------------------------------------------

void split_nn_seeds() {
  namespace vf = fuzz::vertical_fixtures;
  using vertical::split_nn_message_kind;
  const std::string h = "split_nn";
  auto record = [](bytes& s, std::uint8_t from, std::uint8_t mode, std::span<const std::byte> b) {
    s.push_back(from);
    s.push_back(mode);
    fuzz::put_record(s, b);
  };
  // The fields record of a message: kind, step, party, width byte, then its values.
  auto fields = [](const message& m, std::uint8_t kind) {
    const auto d = wire::decode(m);
    const auto p = d.payload_bytes();
    std::vector<std::byte> rec{std::byte{kind}, std::byte{0}, std::byte{1}, std::byte{2}};
    rec.insert(rec.end(), p.begin() + 32 + 8 * 3, p.end());
    return rec;
  };
  auto seeds = [&](auto tag, const std::string& type, std::uint8_t type_bit) {
    using T = decltype(tag);
    const vf::split_session<T> s(1e6);
    const message train = s.activations(split_nn_message_kind::train_activations);
    const message eval = s.activations(split_nn_message_kind::eval_activations);
    const message grad = s.gradient();
    {
      bytes b{type_bit};
      record(b, 0, 0, train.bytes());
      write(h, "label_train_" + type, b);
      bytes e{static_cast<std::uint8_t>(type_bit | 4)};
      record(e, 0, 1, fields(eval, 1));
      write(h, "label_eval_fields_" + type, e);
      bytes two{static_cast<std::uint8_t>(type_bit | 8)};
      record(two, 0, 1 | 64, fields(train, 0)); // two messages of the party in one step
      record(two, 0, 2, {});
      record(two, 0, 2, {});
      write(h, "label_twice_" + type, two);
    }
    {
      bytes b{static_cast<std::uint8_t>(type_bit | 1)};
      record(b, 1, 0, grad.bytes());
      write(h, "feature_" + type, b);
      bytes f{static_cast<std::uint8_t>(type_bit | 1)};
      record(f, 0, 1 | 8, fields(grad, 2)); // from the feature party's endpoint, claiming the label holder
      record(f, 1, 1, fields(grad, 2));
      write(h, "feature_fields_" + type, f);
    }
  };
  seeds(float{}, "float", 0);
  seeds(double{}, "double", 2);
}

#if defined(FEDPP_WITH_PSI)
void psi_seeds() {
  namespace vf = fuzz::vertical_fixtures;
  const std::string h = "psi";
  for (const auto mode : {vertical::psi_mode::intersection, vertical::psi_mode::size_only}) {
    const auto& t = vf::psi_honest(mode);
    const std::uint8_t mode_bit = mode == vertical::psi_mode::size_only ? 4 : 0;
    const std::string suffix = mode == vertical::psi_mode::size_only ? "_size_only" : "";
    const std::array<const message*, 3> genuine{&t.request, &t.response, &t.result};
    const std::array<const char*, 3> names{"request", "response", "result"};
    for (std::uint8_t target = 0; target < 3; ++target) {
      bytes raw{static_cast<std::uint8_t>(target | mode_bit)};
      raw.push_back(0);
      fuzz::put_record(raw, genuine[target]->bytes());
      write(h, std::string(names[target]) + suffix + "_raw", raw);
      bytes rebuilt{static_cast<std::uint8_t>(target | mode_bit)};
      const auto d = wire::decode(*genuine[target]);
      std::vector<std::byte> rec{std::byte{target}};
      rec.insert(rec.end(), d.payload_bytes().begin(), d.payload_bytes().end());
      rebuilt.push_back(1);
      fuzz::put_record(rebuilt, rec);
      rebuilt.push_back(2); // then the honest message
      fuzz::put_record(rebuilt, {});
      write(h, std::string(names[target]) + suffix + "_fields", rebuilt);
    }
  }
}
#endif

#if defined(FEDPP_WITH_PAILLIER)
void paillier_seeds() {
  namespace vf = fuzz::vertical_fixtures;
  namespace pw = vertical::paillier_wire;
  const std::string h = "paillier_wire";
  const auto& big = vf::key256();
  const auto& tiny = vf::tiny_key();
  write(h, "public_key_256", with_prefix({0 | 8}, pw::encode_public_key(big.public_key)));
  write(h, "public_key_21", with_prefix({0}, pw::encode_public_key(tiny.public_key())));
  write(h, "public_key_message", with_prefix({0 | 16}, pw::public_key_message(big.public_key, 9, 4).bytes()));
  write(h, "private_key_21", with_prefix({1}, pw::encode_private_key(tiny)));
  write(h, "private_key_256", with_prefix({1}, pw::encode_private_key(big.private_key)));
  auto rng = vf::source(3);
  for (const bool large : {false, true}) {
    const vertical::paillier_public_key& pk = large ? big.public_key : tiny.public_key();
    const std::string size = large ? "_256" : "_21";
    const std::uint8_t key_bit = large ? 4 : 0;
    std::vector<vertical::encrypted_number> xs; // small integers: the 21-bit key encodes little
    for (const int m : {5, -13, 1000}) xs.push_back({pk.encrypt(vertical::bigint(m), rng), m % 7});
    std::vector<vertical::paillier_ciphertext> cs;
    for (const auto& x : xs) cs.push_back(x.ciphertext);
    constexpr std::uint8_t max3 = 2 << 5; // max_count 3
    write(h, "ciphertexts" + size,
          with_prefix({static_cast<std::uint8_t>(2 | key_bit | max3)}, pw::encode_ciphertexts(pk, cs)));
    write(h, "numbers" + size,
          with_prefix({static_cast<std::uint8_t>(3 | key_bit | max3)}, pw::encode_encrypted_numbers(pk, xs)));
    write(h, "ciphertexts_message" + size,
          with_prefix({static_cast<std::uint8_t>(2 | key_bit | 16 | max3)},
                      pw::ciphertexts_message(pk, cs, 9, 4).bytes()));
  }
}

void hetero_lr_seeds() {
  namespace hs = fuzz::hetero_lr_session;
  const std::string h = "hetero_lr";
  const std::array<const char*, hs::targets> names{
      "guest_hello",    "guest_partial_wx", "guest_masked_gradient", "host_public_key",
      "host_residuals", "host_unmasked",    "host_epoch_end",        "host_predict_rows"};
  auto fields = [](const message& m) { // tag index, then the payload
    const auto d = wire::decode(m);
    std::vector<std::byte> rec{static_cast<std::byte>(d.tag() - 0x484c0001U)};
    rec.insert(rec.end(), d.payload_bytes().begin(), d.payload_bytes().end());
    return rec;
  };
  for (std::uint8_t t = 0; t < hs::targets; ++t) {
    const message& m = hs::genuine(static_cast<hs::target>(t));
    bytes raw{t, 0};
    fuzz::put_record(raw, m.bytes());
    write(h, std::string(names[t]) + "_raw", raw);
    bytes rebuilt{t, 1};
    fuzz::put_record(rebuilt, fields(m));
    rebuilt.push_back(2);
    fuzz::put_record(rebuilt, {});
    write(h, std::string(names[t]) + "_fields", rebuilt);
  }
  { // the host asks the guest to decrypt the residuals it was sent
    bytes s{static_cast<std::uint8_t>(hs::target::guest_masked_gradient), 1};
    const auto& pk = fuzz::vertical_fixtures::key256().public_key;
    auto residuals = vertical::paillier_wire::decode_ciphertexts(
        pk, wire::decode(hs::honest().residuals).payload_bytes(), 4);
    residuals.ciphertexts.resize(2);          // as many as the host's columns
    std::vector<std::byte> rec{std::byte{4}}; // masked_gradient
    const auto list = vertical::paillier_wire::encode_ciphertexts(pk, residuals.ciphertexts);
    rec.insert(rec.end(), list.begin(), list.end());
    fuzz::put_record(s, rec);
    write(h, "guest_decrypts_residuals", s);
  }
  { // rows beyond the host's, too many rows
    bytes s{static_cast<std::uint8_t>(hs::target::host_predict_rows)};
    const std::array<std::uint64_t, 1> far{4};
    const std::array<std::uint64_t, 5> many{0, 1, 2, 3, 0};
    s.push_back(0);
    fuzz::put_record(s, hs::predict_request(far).bytes());
    s.push_back(0);
    fuzz::put_record(s, hs::predict_request(many).bytes());
    write(h, "host_predict_bad_rows", s);
  }
}

void ftl_seeds() {
  namespace fs = fuzz::ftl_session;
  const std::string h = "ftl";
  const std::array<const char*, fs::points> names{"a_public_key",   "b_public_key", "a_b_components",
                                                  "b_a_components", "a_b_reply",    "b_a_reply",
                                                  "b_phi",          "a_scores",     "b_scores_reply"};
  for (const auto mode : {vertical::ftl_mode::plaintext, vertical::ftl_mode::paillier}) {
    const bool paillier = mode == vertical::ftl_mode::paillier;
    const auto& inbox = fs::honest(mode);
    const std::array<std::uint8_t, 3> plain{2, 3, 6};
    for (std::uint8_t p = 0; p < fs::points; ++p) {
      if (!inbox[p]) continue;
      std::uint8_t ctl = static_cast<std::uint8_t>(p << 1 | 1);
      if (!paillier)
        ctl = static_cast<std::uint8_t>((std::find(plain.begin(), plain.end(), p) - plain.begin()) << 1);
      const std::string name = std::string(paillier ? "paillier_" : "plaintext_") + names[p];
      bytes raw{ctl, 0};
      fuzz::put_record(raw, inbox[p]->bytes());
      write(h, name + "_raw", raw);
      const auto d = wire::decode(*inbox[p]);
      std::vector<std::byte> rec{static_cast<std::byte>(d.tag() - 0x46540001U)};
      rec.insert(rec.end(), d.payload_bytes().begin(), d.payload_bytes().end());
      bytes fields{ctl, 1};
      fuzz::put_record(fields, rec);
      fields.push_back(2);
      fuzz::put_record(fields, {});
      write(h, name + "_fields", fields);
    }
  }
}
#endif

// --- idx_reader --------------------------------------------------------------------------------

bytes idx(std::uint8_t type, std::initializer_list<std::uint32_t> extents, std::size_t width) {
  bytes out{0, 0, type, static_cast<std::uint8_t>(extents.size())};
  std::size_t n = 1;
  for (const auto e : extents) {
    for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<std::uint8_t>((e >> s) & 0xff));
    n *= e;
  }
  for (std::size_t i = 0; i < n * width; ++i) out.push_back(static_cast<std::uint8_t>((i * 29 + 7) & 0xff));
  return out;
}

bytes gzip(const bytes& in) {
  z_stream z{};
  if (deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw std::runtime_error("deflateInit2");
  bytes out(in.size() + 64);
  z.next_in = const_cast<Bytef*>(in.data());
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = out.data();
  z.avail_out = static_cast<uInt>(out.size());
  if (deflate(&z, Z_FINISH) != Z_STREAM_END) throw std::runtime_error("deflate");
  out.resize(z.total_out);
  deflateEnd(&z);
  out[4] = out[5] = out[6] = out[7] = 0; // no timestamp
  return out;
}

void idx_reader() {
  write("idx_reader", "u8", idx(0x08, {2, 3}, 1));
  write("idx_reader", "i16", idx(0x0B, {2, 2}, 2));
  write("idx_reader", "f32", idx(0x0D, {3}, 4));
  write("idx_reader", "f64", idx(0x0E, {1, 1, 2}, 8));
  write("idx_reader", "empty", idx(0x0C, {0, 5}, 4));
  write("idx_reader", "u8_gz", gzip(idx(0x08, {4, 4}, 1)));
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_corpus <output folder>\n");
    return 2;
  }
  root = argv[1];
  wire_decode();
  chunk_reassembler();
  server_admission();
  client_host();
  async_server();
  compression_seeds();
  restores();
  secagg_seeds();
  idx_reader();
  checkpoint_seeds();
  evaluation_seeds();
  split_nn_seeds();
#if defined(FEDPP_WITH_PSI)
  psi_seeds();
#endif
#if defined(FEDPP_WITH_PAILLIER)
  paillier_seeds();
  hetero_lr_seeds();
  ftl_seeds();
#endif
  return 0;
}
