/// \file server_hooks.hpp
/// Where compression, privacy and secure aggregation plug into the server's round, as optional
/// members of a hooks policy (detected with `requires`; absent members mean "do nothing").
///
/// | optional expression                             | when / effect                                      |
/// |-------------------------------------------------|----------------------------------------------------|
/// | `h.decode_update(decoded, scratch)`             | per report: turns a decoded client_update (e.g. a  |
/// |                                                 | compressed payload) into `std::span<const T>` over |
/// |                                                 | the dense delta, using `scratch` (std::span<T>,    |
/// |                                                 | model-sized) if it must; default: the dense payload |
/// | `h.absorb_update(decoded, weight, layout,       | per report, instead of decode_update and the      |
/// |   round)`                                       | aggregator: the hooks aggregate in a compressed   |
/// |                                                 | domain (FetchSGD sums count sketches) with the    |
/// |                                                 | weight the server's weight_policy admitted (never |
/// |                                                 | the header's); throws rejected_update /            |
/// |                                                 | malformed_message (counted)                        |
/// | `h.max_update_payload_bytes(layout)` (const) →  | the largest compressed payload the hooks accept;  |
/// |   `std::uint64_t`                               | larger declared sizes are refused unreserved      |
/// | `h.finish_aggregate(layout, round)` →           | after collection, with ≥ min_reports absorbed: the|
/// |   `std::optional<flat_model<T>>`                | round's mean delta (e.g. the top-k unsketched)     |
/// | `h.on_aggregate(mean_delta, round)`             | after aggregation, before the server update: e.g.  |
/// |                                                 | central DP noise on the mean (std::span<T>)        |
/// | `h.on_round_end(metrics)`                       | last: e.g. a privacy accountant adds ε spent to    |
/// |                                                 | `round_metrics&`                                   |
/// | `h.extend_config(config)` (const)               | per recipient: adds round_config::extra entries    |
/// |                                                 | the clients' hooks need (e.g. a SecAgg threshold)  |
/// | `h.begin_round(recipients, round)`              | before the broadcast of every round                |
/// | `h.collect(endpoint, recipients, round,         | replaces the server's collection (each recipient   |
/// |   deadline, metrics)` →                         | still gets the model first): e.g. the rounds of    |
/// |   `std::optional<flat_model<T>>`                | secure aggregation; returns the mean delta (nullopt|
/// |                                                 | when the round fails) and sets metrics.reported    |
/// | `h.release_failed_rounds()` → bool              | true: a round below min_reports still trains the   |
/// |                                                 | sample, and its partial mean (zeros if nothing was |
/// |                                                 | accepted) goes through on_aggregate and the server |
/// |                                                 | update; `released_without_quorum` is set. Central  |
/// |                                                 | DP needs it: whether a round "failed" depends on   |
/// |                                                 | who was sampled, so it must not be observable      |
#pragma once

namespace fedpp {

/// The default hooks: plain dense updates, no noise, no accounting.
struct no_server_hooks {};

} // namespace fedpp
