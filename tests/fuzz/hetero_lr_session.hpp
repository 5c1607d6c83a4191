// The honest hetero-LR session of the hetero_lr harness and of its seeds (make_corpus.cpp): a guest
// (2 columns + labels) and one host (2 columns) on 4 aligned rows, one batch of 4 per epoch, the
// 256-bit key of vertical_fixtures.hpp and reproducible randomness, so every message of the first
// step (and the epoch's end) is the same on every run. Needs fedpp::paillier.
#pragma once

#include "vertical_fixtures.hpp"

#include "fedpp/vertical/hetero_lr.hpp"

#include <array>
#include <cstdint>
#include <vector>

namespace fuzz::hetero_lr_session {

using namespace fedpp;
using namespace fedpp::vertical;
namespace vf = fuzz::vertical_fixtures;

inline constexpr endpoint_id guest_endpoint = 10, host_endpoint = 11;
inline constexpr std::size_t max_predict_rows = 4;

inline hetero_lr_options options() {
  hetero_lr_options o;
  o.batch_size = 4;
  o.max_epochs = 3;
  o.session = 5;
  o.max_abs_value = 100;
  o.max_host_columns = 8;
  return o;
}

/// What the host accepts as the guest's key: 256 bits exactly.
inline paillier_wire::key_limits key_limits() { return {256, 512, 256}; }

inline hetero_lr_guest make_guest() {
  hetero_lr_features f{4, 2, {0.5, -1.0, 1.5, 0.25, -0.75, 2.0, 1.0, -0.5}};
  return hetero_lr_guest(std::move(f), {1, 0, 1, 0}, 1, options(), vf::key256(), vf::source(31));
}
inline hetero_lr_host make_host() {
  hetero_lr_features f{4, 2, {1.0, 0.5, -0.25, -1.5, 0.75, 0.125, -2.0, 1.0}};
  return hetero_lr_host(std::move(f), options(), vf::source(32));
}

/// A prediction request naming `rows`.
inline message predict_request(std::span<const std::uint64_t> rows) {
  vertical::detail::byte_writer w;
  w.u64(rows.size());
  for (const std::uint64_t r : rows) w.u64(r);
  return vertical::detail::hlr_message(hetero_lr_tag::predict_rows, options().session, guest_endpoint,
                                       std::move(w.bytes()));
}

/// The honest session's messages, in protocol order.
struct transcript {
  message public_key, hello, partial_wx, residuals, masked_gradient, unmasked, epoch_end, predict_rows;
};

inline const transcript& honest() {
  static const transcript t = [] {
    transcript s;
    auto g = make_guest();
    auto h = make_host();
    s.public_key = g.public_key_message(guest_endpoint);
    s.hello = h.hello_message(host_endpoint);
    g.on_hello(0, wire::decode(s.hello));
    h.on_public_key(wire::decode(s.public_key), key_limits());
    s.partial_wx = h.partial_wx_message(host_endpoint);
    s.residuals = *g.on_partial_wx(0, wire::decode(s.partial_wx), guest_endpoint);
    s.masked_gradient = h.on_residuals(wire::decode(s.residuals), host_endpoint);
    s.unmasked = g.on_masked_gradient(0, wire::decode(s.masked_gradient), guest_endpoint);
    h.on_unmasked(wire::decode(s.unmasked));
    s.epoch_end = g.epoch_end_message(guest_endpoint).second;
    (void)h.on_epoch_end(wire::decode(s.epoch_end));
    const std::array<std::uint64_t, 2> rows{2, 0};
    s.predict_rows = predict_request(rows);
    return s;
  }();
  return t;
}

/// The eight receive points: (party, the message it awaits).
enum class target : unsigned {
  guest_hello,
  guest_partial_wx,
  guest_masked_gradient,
  host_public_key,
  host_residuals,
  host_unmasked,
  host_epoch_end,
  host_predict_rows
};
inline constexpr unsigned targets = 8;

/// The honest message a target awaits.
inline const message& genuine(target t) {
  const transcript& s = honest();
  switch (t) {
  case target::guest_hello:
    return s.hello;
  case target::guest_partial_wx:
    return s.partial_wx;
  case target::guest_masked_gradient:
    return s.masked_gradient;
  case target::host_public_key:
    return s.public_key;
  case target::host_residuals:
    return s.residuals;
  case target::host_unmasked:
    return s.unmasked;
  case target::host_epoch_end:
    return s.epoch_end;
  case target::host_predict_rows:
    break;
  }
  return s.predict_rows;
}

} // namespace fuzz::hetero_lr_session
