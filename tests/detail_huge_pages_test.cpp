// advise_huge_pages: harmless on any range, sets the huge-page advice on the 2 MiB pages inside a
// large buffer (Linux), and update_matrix still hands out zeroed rows after using it.
#include "fedpp/aggregation/robust/update_matrix.hpp"
#include "fedpp/detail/aligned_buffer.hpp"
#include "fedpp/detail/huge_pages.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <span>
#include <sstream>
#include <string>
#include <vector>

namespace {

using fedpp::detail::advise_huge_pages;
using fedpp::detail::huge_page_bytes;

TEST(HugePages, AdviceOnSmallEmptyOrUnalignedRangesChangesNothing) {
  advise_huge_pages(nullptr, 0);
  fedpp::detail::aligned_buffer<float> small(1000);
  for (std::size_t i = 0; i < small.size(); ++i) small[i] = static_cast<float>(i);
  advise_huge_pages(small.data(), small.size() * sizeof(float));
  advise_huge_pages(small.data() + 3, 17);
  for (std::size_t i = 0; i < small.size(); ++i) ASSERT_EQ(small[i], static_cast<float>(i));
}

#if defined(__linux__)
// The VmFlags of the mapping that holds `address`, from /proc/self/smaps ("" if not found).
std::string vm_flags_of(std::uintptr_t address) {
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool inside = false;
  while (std::getline(smaps, line)) {
    std::uintptr_t lo = 0, hi = 0;
    char dash = 0;
    std::istringstream header(line);
    if (header >> std::hex >> lo >> dash >> hi && dash == '-') {
      inside = lo <= address && address < hi;
      continue;
    }
    if (inside && line.rfind("VmFlags:", 0) == 0) return line;
  }
  return "";
}

TEST(HugePages, LargeBufferGetsTheHugePageAdvice) {
  if (!std::filesystem::exists("/sys/kernel/mm/transparent_hugepage/enabled"))
    GTEST_SKIP() << "kernel without transparent huge pages: the advice is a no-op here";
  const std::size_t bytes = 4 * huge_page_bytes;
  fedpp::detail::aligned_buffer<char> buffer(bytes, fedpp::detail::uninitialized);
  const auto begin = reinterpret_cast<std::uintptr_t>(buffer.data());
  const std::uintptr_t first_huge = (begin + huge_page_bytes - 1) & ~(std::uintptr_t{huge_page_bytes} - 1);
  ASSERT_EQ(vm_flags_of(first_huge).find(" hg"), std::string::npos) << "advised before the call?";
  advise_huge_pages(buffer.data(), bytes);
  const std::string flags = vm_flags_of(first_huge);
  ASSERT_FALSE(flags.empty()) << "no /proc/self/smaps entry for the buffer";
  EXPECT_NE(flags.find(" hg"), std::string::npos) << flags;
}
#endif

TEST(HugePages, UpdateMatrixRowsStayZeroPaddedAfterGrowth) {
  // Rows of D = 1000 floats in a stride with padding; the padding must read as zeros after every
  // growth (the buffer is allocated uninitialised, advised, then zeroed).
  fedpp::update_matrix<float> m(1000);
  ASSERT_GT(m.stride(), m.dim());
  std::vector<float> row(1000, 1.5F);
  for (std::size_t k = 0; k < 9; ++k) {
    m.reserve_more(1, "test");
    const std::span<const float> piece[1] = {row};
    m.append(k, 1.0, piece);
  }
  for (std::size_t k = 0; k < m.rows(); ++k) {
    const float* r = m.data() + k * m.stride();
    for (std::size_t i = 0; i < m.dim(); ++i) ASSERT_EQ(r[i], 1.5F);
    for (std::size_t i = m.dim(); i < m.stride(); ++i) ASSERT_EQ(r[i], 0.0F) << "row " << k << " pad " << i;
  }
}

} // namespace
