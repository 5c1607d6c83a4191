// Example 16: entity alignment for vertical FL — ECDH private set intersection over ristretto255
// (fedpp/vertical/psi.hpp, component fedpp::psi). A label holder and one or more feature holders,
// each a thread with its own endpoint of the in-process transport, learn which ids they share
// (each as its own row numbers in the label holder's order), or only how many with --size-only.
//
//   16_entity_alignment --ids 1000000                      two parties, 10^6 generated ids each
//   16_entity_alignment --left-csv a.csv --right-csv b.csv --column customer_id
//   16_entity_alignment --ids 20000 --parties 3            a label holder and 3 feature holders
//
// Generated ids: party p holds "customer-<k>" for k in its own window of a common range, so that
// a fraction --overlap of the label holder's ids is held by every party. The run checks the
// outcome against plain set logic on the ids (every party's rows name the same ids in the same
// order) and prints the sizes, the time, ids/s per core and the bytes exchanged.
#include "example_cli.hpp"

#include "fedpp/parallel/thread_pool.hpp"
#include "fedpp/simulation/progress_bar.hpp"
#include "fedpp/transport/in_process_transport.hpp"
#include "fedpp/vertical/psi.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <future>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

namespace {

using namespace fedpp::vertical;

struct settings {
  std::uint64_t ids = 100000;
  double overlap = 0.5;
  std::uint32_t parties = 1;
  std::uint32_t threads = std::max(1U, std::thread::hardware_concurrency());
  std::string left_csv;
  std::string right_csv;
  std::string column;
  bool size_only = false;
  bool progress = true;
};

// The id column of a CSV file (header line first; fields separated by commas, no quoting).
std::vector<std::string> read_id_column(const std::string& path, const std::string& column) {
  std::ifstream in(path);
  if (!in) throw fedpp::invalid_config("cannot open " + path);
  std::string line;
  if (!std::getline(in, line)) throw fedpp::invalid_config(path + " is empty (expected a header line)");
  auto split = [](const std::string& s) {
    std::vector<std::string> out;
    std::stringstream ss(s);
    for (std::string f; std::getline(ss, f, ',');) out.push_back(f);
    if (!s.empty() && s.back() == ',') out.emplace_back();
    return out;
  };
  auto strip = [](std::string s) {
    if (!s.empty() && s.back() == '\r') s.pop_back();
    return s;
  };
  const auto header = split(strip(line));
  std::size_t at = 0;
  if (!column.empty()) {
    const auto it = std::find(header.begin(), header.end(), column);
    if (it == header.end()) throw fedpp::invalid_config(path + " has no column '" + column + "'");
    at = static_cast<std::size_t>(it - header.begin());
  }
  std::vector<std::string> ids;
  for (std::size_t row = 2; std::getline(in, line); ++row) {
    line = strip(line);
    if (line.empty()) continue;
    const auto fields = split(line);
    if (at >= fields.size())
      throw fedpp::invalid_config(path + " line " + std::to_string(row) + " has no field " +
                                  std::to_string(at + 1));
    ids.push_back(fields[at]);
  }
  return ids;
}

// Party p's generated ids: "customer-<k>" for k in [start_p, start_p + n), the label holder's
// window starting at 0 and each feature holder's shifted by n·(1 − overlap), then shuffled.
std::vector<std::string> generated_ids(std::uint64_t n, double overlap, std::uint32_t party) {
  const auto shift = static_cast<std::uint64_t>(static_cast<double>(n) * (1.0 - overlap));
  const std::uint64_t start = party == 0 ? 0 : shift;
  std::vector<std::string> ids(n);
  for (std::uint64_t i = 0; i < n; ++i) ids[i] = "customer-" + std::to_string(start + i);
  std::uint64_t x = 0x9E3779B97F4A7C15ULL * (party + 1);
  for (std::size_t i = n; i-- > 1;) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    std::swap(ids[i], ids[x % (i + 1)]);
  }
  return ids;
}

int run(const settings& s) {
  std::vector<std::vector<std::string>> sets;
  if (!s.left_csv.empty()) {
    sets.push_back(read_id_column(s.left_csv, s.column));
    sets.push_back(read_id_column(s.right_csv, s.column));
  } else {
    for (std::uint32_t p = 0; p <= s.parties; ++p) sets.push_back(generated_ids(s.ids, s.overlap, p));
  }
  const std::size_t holders = sets.size() - 1;
  std::printf("entity alignment: label holder %zu ids, %zu feature holder(s) with %zu ids each, %s, %u "
              "thread(s) per party\n",
              sets[0].size(), holders, sets[1].size(), s.size_only ? "size only" : "intersection", s.threads);

  fedpp::in_process_transport hub;
  const fedpp::endpoint_id label_id = 1000;
  std::vector<fedpp::endpoint_id> peers;
  for (std::size_t f = 0; f < holders; ++f) peers.push_back(f + 1);

  fedpp::parallel::thread_pool label_pool(s.threads);
  psi_options options;
  options.mode = s.size_only ? psi_mode::size_only : psi_mode::intersection;
  options.session = 1;
  options.pool = &label_pool;
  // The label holder's work: hash+blind its ids, blind each peer's, match; one bar over all.
  std::size_t total_units = sets[0].size() * (1 + holders);
  for (std::size_t f = 1; f < sets.size(); ++f) total_units += sets[f].size();
  fedpp::simulation::progress_bar bar(total_units, std::cerr,
                                      s.progress ? std::nullopt : std::optional<bool>(false));
  std::size_t finished_units = 0;
  std::map<std::string, std::size_t> last;
  options.progress = [&](std::string_view stage, std::size_t done, std::size_t) {
    auto& prev = last[std::string(stage)];
    if (done < prev) prev = 0; // the same stage again, for the next peer
    finished_units += done - prev;
    prev = done;
    bar.update(std::min(finished_units, total_units), stage);
  };

  const auto start = std::chrono::steady_clock::now();
  const std::clock_t cpu_start = std::clock();
  std::vector<std::future<psi_result>> holder_runs;
  std::vector<std::unique_ptr<fedpp::parallel::thread_pool>> pools;
  for (std::size_t f = 0; f < holders; ++f) {
    pools.push_back(std::make_unique<fedpp::parallel::thread_pool>(s.threads));
    holder_runs.push_back(std::async(std::launch::async, [&, f] {
      auto t = hub.endpoint(peers[f]);
      psi_options o = options;
      o.pool = pools[f].get();
      o.progress = nullptr;
      random_source rng;
      return run_psi_responder(t, label_id, sets[f + 1], o, rng);
    }));
  }
  auto tl = hub.endpoint(label_id);
  random_source rng;
  const psi_result label = run_psi_label_holder(tl, peers, sets[0], options, rng);
  std::vector<psi_result> results;
  for (auto& h : holder_runs) results.push_back(h.get());
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double cpu_seconds = static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC;
  bar.finish();

  // Plain set logic on the ids.
  std::vector<std::unordered_set<std::string>> others;
  for (std::size_t f = 1; f < sets.size(); ++f) others.emplace_back(sets[f].begin(), sets[f].end());
  std::vector<std::size_t> expected;
  for (std::size_t i = 0; i < sets[0].size(); ++i)
    if (std::all_of(others.begin(), others.end(), [&](const auto& o) { return o.count(sets[0][i]) != 0; }))
      expected.push_back(i);
  bool ok = label.size == expected.size();
  if (!s.size_only) {
    ok = ok && label.rows == expected;
    for (std::size_t f = 0; f < holders; ++f) {
      ok = ok && results[f].rows.size() == expected.size();
      for (std::size_t k = 0; ok && k < expected.size(); ++k)
        ok = sets[f + 1][results[f].rows[k]] == sets[0][expected[k]];
    }
  } else {
    ok = ok && results[0].size == expected.size();
  }
  std::size_t all_ids = 0;
  for (const auto& v : sets) all_ids += v.size();
  std::printf("shared ids: %llu (label holder's rows %s)\n", static_cast<unsigned long long>(label.size),
              s.size_only ? "not revealed" : "in its own order");
  // Per core: ids (of all parties) per second of CPU time (every thread of the process), which a
  // loaded, shared machine does not distort the way it distorts wall time.
  std::printf("time: %.2f s wall, %.2f s CPU; %.0f ids/s in all, %.0f ids/s per core (%zu ids)\n", seconds,
              cpu_seconds, static_cast<double>(all_ids) / seconds, static_cast<double>(all_ids) / cpu_seconds,
              all_ids);
  std::printf("bytes: label holder sent %llu, received %llu\n",
              static_cast<unsigned long long>(tl.bytes_sent()),
              static_cast<unsigned long long>(tl.bytes_received()));
  std::printf(ok ? "alignment verified against plain set logic\n" : "ALIGNMENT MISMATCH\n");
  return ok ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
  settings s;
  example_cli::command_line cli(
      "16_entity_alignment: entity alignment by ECDH private set intersection (ristretto255)");
  cli.count("--ids", s.ids, "generated ids per party", std::uint64_t{1}, std::uint64_t{100000000});
  cli.real("--overlap", s.overlap, "fraction of the label holder's generated ids every party holds",
           example_cli::within::probability);
  cli.count("--parties", s.parties, "feature holders aligned with the label holder", 1U, 16U);
  cli.count("--threads", s.threads, "threads per party", 1U, 256U);
  cli.text("--left-csv", s.left_csv, "the label holder's ids: a CSV file with a header line");
  cli.text("--right-csv", s.right_csv, "the feature holder's ids: a CSV file with a header line");
  cli.text("--column", s.column, "the id column's name in both CSV files (default: the first column)");
  cli.toggle("--size-only", s.size_only, true, "learn only how many ids are shared");
  cli.toggle("--no-progress", s.progress, false, "no progress bar (it draws only on a terminal anyway)");
  auto* ids_flag = cli.app().get_option("--ids");
  auto* overlap_flag = cli.app().get_option("--overlap");
  auto* parties_flag = cli.app().get_option("--parties");
  cli.check([&] {
    if (s.left_csv.empty() != s.right_csv.empty())
      example_cli::refuse("--left-csv", "--left-csv and --right-csv go together");
    if (!s.left_csv.empty() &&
        (ids_flag->count() > 0 || overlap_flag->count() > 0 || parties_flag->count() > 0))
      example_cli::refuse("--left-csv",
                          "CSV files replace the generated ids: --ids, --overlap and --parties do not apply");
    if (s.left_csv.empty() && !s.column.empty())
      example_cli::refuse("--column", "needs --left-csv and --right-csv");
    if (s.size_only && s.parties > 1)
      example_cli::refuse(
          "--size-only",
          "runs between two parties (the size of a multi-way intersection is not the pairwise sizes')");
  });
  if (const auto status = cli.parse(argc, argv)) return *status;
  return example_cli::guarded([&] { return run(s); });
}
