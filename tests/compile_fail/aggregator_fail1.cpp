// Why: merge_all combines partial aggregates with merge(); a type without merge() is not an aggregator.
// FEDPP_FAIL_REGEX: (satisfaction of.*aggregator<A>|does not satisfy 'aggregator')
// FEDPP_FAIL_REGEX: a\.merge\(
#include "fedpp/aggregation/aggregator.hpp"

#include <cstddef>
#include <utility>
#include <vector>

struct counter {
  using input_type = int;
  using result_type = long;
  void accumulate(int x) { sum += x; }
#if !FEDPP_SHOULD_FAIL
  void merge(counter&& other) { sum += other.sum; }
#endif
  [[nodiscard]] std::size_t num_inputs() const { return 1; }
  [[nodiscard]] bool can_report() const { return true; }
  [[nodiscard]] long report() && { return sum; }
  long sum = 0;
};

int main() {
  std::vector<counter> parts(2);
  return static_cast<int>(std::move(fedpp::merge_all(std::move(parts))).report());
}
