/// \file selection_feedback_hooks.hpp
/// Server hooks that feed guided samplers (oort_sampler, power_of_choice_sampler) from inside
/// fedpp::server, with no change to its round: begin_round starts the round on a shared
/// selection_feedback_board, and every report that reaches decode_update (sender authenticated,
/// round and selection checked, weight admitted by the weight policy) posts one
/// selection_feedback there. The sampler, connected to the same board, reads and checks it at its
/// next sample().
///
/// What a client reports, and what the server measures:
/// - metrics["train_loss"] (loss_key): the mean per-example training loss of the round;
/// - metrics["train_loss_sq"] (loss_sq_key, optional): (1/|B|) Σ_k loss(k)² over the same
///   examples, Oort's statistical utility input; absent: train_loss² (a lower bound, Jensen);
/// - the report's weight: |B|, the examples it trained on;
/// - the duration is never the client's word: `duration(client, round)` when set (a simulation:
///   the availability model's forecast in simulated seconds), else the wall-clock seconds from
///   begin_round to the report's arrival at decode_update.
/// A report without a finite train_loss posts nothing (its client counts as silent). The sampler
/// refuses out-of-bounds values (feedback_bounds). Dense payloads only.
#pragma once

#include "fedpp/scheduling/selection_feedback.hpp"
#include "fedpp/tensor/dtype.hpp"
#include "fedpp/tensor/model_layout.hpp"
#include "fedpp/transport/wire_format.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace fedpp {

/// See the file comment.
template <element_type T = float>
struct selection_feedback_hooks {
  /// Shared with the sampler (sampler.connect(hooks.board)).
  std::shared_ptr<selection_feedback_board> board = std::make_shared<selection_feedback_board>();
  std::string loss_key = "train_loss";       ///< the mean training loss
  std::string loss_sq_key = "train_loss_sq"; ///< the mean squared per-example loss (optional)
  /// Seconds client `c` took in `round` as the server knows it; empty: wall clock.
  std::function<double(client_id, std::uint64_t)> duration;

  /// Starts the round on the board.
  void begin_round(const std::vector<client_id>& recipients, std::uint64_t round) {
    board->begin(round);
    recipients_ = recipients;
    std::sort(recipients_.begin(), recipients_.end());
    round_ = round;
    started_ = std::chrono::steady_clock::now();
  }

  /// Posts the report's feedback and returns the dense payload unchanged.
  std::span<const T> decode_update(const wire::decoded_message& decoded, std::span<T> /*scratch*/) {
    const client_id c = decoded.sender();
    const auto& m = decoded.metrics();
    const auto loss = m.find(loss_key);
    if (loss != m.end() && std::isfinite(loss->second) &&
        std::binary_search(recipients_.begin(), recipients_.end(), c)) {
      selection_feedback f;
      f.client = c;
      f.examples = decoded.weight();
      f.loss = loss->second;
      const auto sq = m.find(loss_sq_key);
      f.loss_sq = sq != m.end() ? sq->second : loss->second * loss->second;
      f.duration = duration
                       ? duration(c, round_)
                       : std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
      board->post(f);
    }
    return decoded.template payload<T>();
  }

  /// Dense updates only: no payload larger than the model.
  [[nodiscard]] std::uint64_t max_update_payload_bytes(const model_layout& layout) const noexcept {
    return static_cast<std::uint64_t>(layout.total_size()) * sizeof(T);
  }

private:
  std::vector<client_id> recipients_;
  std::uint64_t round_ = 0;
  std::chrono::steady_clock::time_point started_{};
};

} // namespace fedpp
