// CSV metrics writer (quoting, named rows, flushing) and the progress bar's rendering.
#include "fedpp/simulation/csv_writer.hpp"
#include "fedpp/simulation/progress_bar.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <utility>

#include <unistd.h>

using namespace fedpp::simulation;

TEST(CsvWriter, QuotesPerRfc4180) {
  EXPECT_EQ(csv_writer::quote("plain"), "plain");
  EXPECT_EQ(csv_writer::quote(""), "");
  EXPECT_EQ(csv_writer::quote("a,b"), "\"a,b\"");
  EXPECT_EQ(csv_writer::quote("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(csv_writer::quote("two\nlines"), "\"two\nlines\"");
  EXPECT_EQ(csv_writer::quote("cr\r"), "\"cr\r\"");
  EXPECT_EQ(csv_writer::quote(" padded"), "\" padded\"");
}

TEST(CsvWriter, HeaderAndRows) {
  std::ostringstream out;
  csv_writer w(out, {"round", "accuracy", "note", "bytes_up"});
  w.write_row({std::int64_t{1}, 0.5, std::string("ok"), std::uint64_t{1234567890123ULL}});
  w.write_named({{"round", std::int64_t{2}}, {"note", std::string("a, \"b\"")}, {"accuracy", 0.1}});
  EXPECT_EQ(w.num_rows(), 2U);
  EXPECT_EQ(out.str(), "round,accuracy,note,bytes_up\n"
                       "1,0.5,ok,1234567890123\n"
                       "2,0.1,\"a, \"\"b\"\"\",\n");
}

TEST(CsvWriter, RealsRoundTrip) {
  EXPECT_EQ(csv_writer::format(0.1), "0.1");
  EXPECT_EQ(csv_writer::format(1e-300), "1e-300");
  EXPECT_EQ(std::stod(csv_writer::format(2.0 / 3.0)), 2.0 / 3.0);
  EXPECT_EQ(csv_writer::format(std::int64_t{-7}), "-7");
}

TEST(CsvWriter, BadRowsWriteNothing) {
  std::ostringstream out;
  csv_writer w(out, {"a", "b"});
  const auto header = out.str();
  EXPECT_THROW(w.write_row({std::int64_t{1}}), fedpp::invalid_config);
  EXPECT_THROW(w.write_named({{"c", std::int64_t{1}}}), fedpp::invalid_config);
  EXPECT_THROW(w.write_named({{"a", std::int64_t{1}}, {"a", std::int64_t{2}}}), fedpp::invalid_config);
  EXPECT_EQ(out.str(), header);
  EXPECT_EQ(w.num_rows(), 0U);
  EXPECT_THROW(csv_writer(out, {}), fedpp::invalid_config);
  EXPECT_THROW(csv_writer(out, {"x", "x"}), fedpp::invalid_config);
}

TEST(CsvWriter, FileIsFlushedPerRow) {
  const auto path =
      std::filesystem::temp_directory_path() / ("fedpp_csv_" + std::to_string(::getpid()) + ".csv");
  {
    csv_writer w(path, {"round", "accuracy"});
    w.write_row({std::int64_t{0}, 0.25});
    std::ifstream in(path); // readable while the writer is still open
    const std::string text((std::istreambuf_iterator<char>(in)), {});
    EXPECT_EQ(text, "round,accuracy\n0,0.25\n");
  }
  std::filesystem::remove(path);
  EXPECT_THROW(csv_writer("/nonexistent-dir/x.csv", {"a"}), fedpp::invalid_config);
}

TEST(ProgressBar, RendersRoundElapsedEtaAndMessage) {
  EXPECT_EQ(progress_bar::render(3, 10, 12.0, "acc 0.81", 10),
            "round  3/10 [###-------]  30% 00:12 ETA 00:28 acc 0.81");
  EXPECT_EQ(progress_bar::render(0, 5, 0.0, "", 4), "round 0/5 [----]   0% 00:00 ETA --:--");
  EXPECT_EQ(progress_bar::render(5, 5, 4000.0, "", 4), "round 5/5 [####] 100% 1:06:40 ETA 00:00");
  EXPECT_EQ(progress_bar::clock(59.6), "01:00");
}

TEST(ProgressBar, SilentUnlessATerminal) {
  std::ostringstream out;
  {
    progress_bar bar(4, out); // a string stream is never a terminal
    EXPECT_FALSE(bar.enabled());
    bar.update(1, "x");
  }
  EXPECT_TRUE(out.str().empty());
  {
    progress_bar bar(4, out, true);
    bar.update(2, "acc 0.5");
  }
  EXPECT_NE(out.str().find("round 2/4"), std::string::npos);
  EXPECT_NE(out.str().find("acc 0.5"), std::string::npos);
  EXPECT_EQ(out.str().front(), '\r');
  EXPECT_EQ(out.str().back(), '\n');
  EXPECT_EQ(progress_bar::is_terminal(std::cerr), ::isatty(2) != 0);
}
