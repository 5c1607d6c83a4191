// Fuzzes the client side of synchronous rounds: a fedpp::client_host serving clients 1 and 2
// (client 2 routed to client 1's endpoint) over the in-process transport, its mailbox
// pre-loaded with fuzzed messages from fuzzed endpoints, served with serve_one() until empty.
//
// Input: records [from u8][to u8][op u8][u16 length][bytes]: from = endpoint
// {server_endpoint, 1, 2, 3, 0}[from % 5]; to = client (to & 1) + 1; op bit 0: rewrite the CRC.
// The trainer fails (throws) when the round_config asks for 13 local epochs, and so does its
// evaluation (a global model whose config carries extra["fedpp.evaluate"]).
//
// Invariants: serve_one never throws; the trainer runs only for global models of the host's
// layout sent by the server (transport sender and claimed sender both server_endpoint), for a
// client of this host; every training sends the server exactly one message (the update, or
// client_failed when the trainer threw) for that client and round, every evaluation one answer
// (an evaluation report, or evaluation_failed); nothing from anyone else makes the host train,
// evaluate or send.
#include "fuzz_common.hpp"

#include "fedpp/orchestration/client_host.hpp"
#include "fedpp/transport/in_process_transport.hpp"

#include <array>
#include <stdexcept>

namespace {

using namespace fedpp;
constexpr const char* harness = "client_host";
constexpr std::array<endpoint_id, 5> endpoints{server_endpoint, 1, 2, 3, 0};

struct trainer {
  std::size_t* calls;
  client_result<float> operator()(client_id id, const host_model_view<const float>& global,
                                  const round_config& config) const {
    ++*calls;
    if (id != 1 && id != 2) fuzz::fail(harness, "the trainer ran for a client this host does not serve");
    if (config.local_epochs == 13) throw std::runtime_error("local training failed");
    flat_model<float> model(fuzz::float_layout());
    if (global.num_tensors() != model.layout().num_tensors()) fuzz::fail(harness, "the trainer got another layout");
    auto out = model.span();
    std::size_t i = 0;
    for (std::size_t t = 0; t < global.num_tensors(); ++t)
      for (const float v : global[t].view.span()) out[i++] = 0.5F * v + 0.25F;
    return {std::move(model), update_kind::weights, 10.0 * static_cast<double>(id), {{"loss", 0.5}}};
  }
  evaluation_result evaluate(client_id id, const host_model_view<const float>&,
                             const round_config& config) const {
    ++*calls;
    if (id != 1 && id != 2) fuzz::fail(harness, "the evaluation ran for a client this host does not serve");
    if (config.local_epochs == 13) throw std::runtime_error("evaluation failed");
    return {10.0, 0.5, 0.5};
  }
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::reader in(data, size);
  in_process_transport hub;
  hub.route(2, 1);
  in_process_endpoint host_ep = hub.endpoint(1);
  in_process_endpoint server_ep = hub.server();
  std::size_t from_server = 0, records = 0;
  while (!in.empty() && records++ < 32) {
    const endpoint_id from = endpoints[in.u8() % endpoints.size()];
    const endpoint_id to = (in.u8() & 1) + 1;
    const std::uint8_t op = in.u8();
    const auto rec = in.record();
    std::vector<std::byte> bytes(rec.begin(), rec.end());
    if (op & 1) fuzz::fix_crc(bytes);
    const message m = message::copy_of(bytes);
    if (from == server_endpoint) {
      ++from_server;
      server_ep.send(to, m);
    } else {
      hub.endpoint(from).send(to, m);
    }
  }
  std::size_t calls = 0;
  client_host<float, trainer, in_process_endpoint> host(host_ep, trainer{&calls}, fuzz::float_layout());
  std::size_t trained = 0, failed = 0, evaluated = 0, events = 0;
  for (;;) {
    host_event e{};
    try {
      e = host.serve_one(transport_clock::now());
    } catch (...) {
      fuzz::undocumented(harness, "client_host::serve_one");
    }
    if (e == host_event::timed_out) break;
    if (++events > 64) fuzz::fail(harness, "serve_one did not drain the mailbox");
    if (e == host_event::trained) ++trained;
    if (e == host_event::failed) ++failed;
    if (e == host_event::evaluated) ++evaluated;
  }
  const std::size_t answered = trained + failed + evaluated;
  if (calls != answered) fuzz::fail(harness, "trainer calls differ from trained + failed + evaluated events");
  if (answered > from_server)
    fuzz::fail(harness, "the host trained for a message that did not come from the server");
  std::size_t replies = 0;
  while (auto r = server_ep.try_receive()) {
    ++replies;
    if (r->from != 1 && r->from != 2) fuzz::fail(harness, "a reply from an endpoint the host does not serve");
    try {
      const auto d = wire::decode(r->message);
      if (d.sender() != r->from) fuzz::fail(harness, "a reply claims another sender than the one it is sent as");
      const bool update = d.kind() == wire::message_kind::client_update;
      const bool failure = d.kind() == wire::message_kind::control &&
                           d.tag() == static_cast<std::uint32_t>(control_tag::client_failed);
      const bool answer = d.kind() == wire::message_kind::control &&
                          (d.tag() == evaluation_report_tag || d.tag() == evaluation_failed_tag);
      if (!update && !failure && !answer)
        fuzz::fail(harness, "a reply that is neither an update, client_failed nor an evaluation answer");
      if (update) wire::check_model_message(d, fuzz::float_layout(), d.round());
      if (answer) (void)decode_evaluation_answer(d.tag(), d.payload_bytes());
    } catch (const malformed_message& e) {
      fuzz::fail(harness, "a reply does not decode", e.what());
    }
  }
  if (replies != answered) fuzz::fail(harness, "replies differ from trained + failed + evaluated events");
  return 0;
}
