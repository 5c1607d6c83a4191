// Why: a client_hook_chain hands the upload to the one member that encodes it; with two encoders
// (here two compressors) which one speaks for the client would be ambiguous.
// FEDPP_FAIL_REGEX: two members encode the upload
#include "fedpp/compression/compression.hpp"
#include "fedpp/orchestration/hook_chain.hpp"
#include "fedpp/privacy/local_dp_hooks.hpp"

#include <vector>

namespace fc = fedpp::compression;

int main() {
#if FEDPP_SHOULD_FAIL
  fedpp::client_hook_chain chain(fc::compressing_client_hooks(fc::uniform_quantizer(8)),
                                 fc::compressing_client_hooks(fc::sign_compressor()));
#else
  fedpp::client_hook_chain chain(fedpp::privacy::local_dp_hooks(1.0, 0.0),
                                 fc::compressing_client_hooks(fc::uniform_quantizer(8)));
#endif
  fedpp::model_layout layout;
  layout.add("w", {4});
  const std::vector<float> delta{1, 2, 3, 4};
  const auto m = chain.encode_update(0, 1, layout, std::span<const float>(delta), 1.0, {});
  return m.size() == 0 ? 1 : 0;
}
