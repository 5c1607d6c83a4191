// Compares two raw float32 models: the same size, every element within 1e-5 relative (the
// rounding that a different summation order of the reports may cause); prints how many are
// bit-identical.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <vector>

namespace {
std::vector<float> read(const char* path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<float> values(bytes.size() / sizeof(float));
  if (!values.empty()) std::memcpy(values.data(), bytes.data(), values.size() * sizeof(float));
  return values;
}
} // namespace

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  const auto a = read(argv[1]);
  const auto b = read(argv[2]);
  if (a.empty() || a.size() != b.size()) {
    std::printf("size mismatch: %zu vs %zu elements\n", a.size(), b.size());
    return 1;
  }
  std::size_t identical = 0;
  double worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::memcmp(&a[i], &b[i], sizeof(float)) == 0) ++identical;
    const double scale = std::max(1e-3, static_cast<double>(std::fabs(a[i])));
    worst = std::max(worst, std::fabs(static_cast<double>(a[i]) - b[i]) / scale);
  }
  std::printf("%zu of %zu elements bit-identical, worst relative difference %.3g\n", identical, a.size(),
              worst);
  return worst <= 1e-5 ? 0 : 1;
}
