// Test support: N clients, each on its own in-process endpoint and thread, served by a
// client_host until the hub closes (the simplest possible deployment, one thread per client).
#pragma once

#include "fedpp/orchestration/client_host.hpp"
#include "fedpp/transport/in_process_transport.hpp"

#include <chrono>
#include <thread>
#include <vector>

namespace test_support {

template <class Trainer>
class threaded_federation {
public:
  threaded_federation(std::size_t n, Trainer trainer, fedpp::model_layout layout)
      : trainer_(std::move(trainer)), layout_(std::move(layout)) {
    for (fedpp::client_id c = 0; c < n; ++c)
      threads_.emplace_back([this, c] {
        auto endpoint = hub_.endpoint(c);
        fedpp::client_host<float, Trainer, fedpp::in_process_endpoint> host(endpoint, trainer_, layout_);
        host.serve(std::chrono::seconds(60));
      });
  }
  threaded_federation(const threaded_federation&) = delete;
  threaded_federation& operator=(const threaded_federation&) = delete;
  ~threaded_federation() {
    hub_.close();
    for (auto& t : threads_) t.join();
  }
  fedpp::in_process_transport& hub() { return hub_; }

private:
  fedpp::in_process_transport hub_;
  Trainer trainer_;
  fedpp::model_layout layout_;
  std::vector<std::thread> threads_;
};

} // namespace test_support
