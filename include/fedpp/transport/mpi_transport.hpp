/// \file mpi_transport.hpp
/// Transport over MPI (opt-in component fedpp::mpi): rank 0 hosts the server endpoint, ranks
/// 1..P-1 host the clients, several virtual clients per rank as a placement decides.
///
/// Each message travels as one 48-byte envelope head (tag `tag_base`) followed by its bytes in
/// pieces of at most `max_piece_bytes` (tag `tag_base + 1`, MPI_BYTE), so messages above
/// INT_MAX bytes go through unchanged. MPI's non-overtaking rule keeps the pieces of one
/// sender in order. Sends are non-blocking (MPI_Isend) and keep the shared message alive until
/// MPI has finished with it; receives poll with MPI_Iprobe and back off with short sleeps until
/// the deadline, then take the pieces with MPI_Probe / MPI_Get_count / MPI_Recv.
///
/// Threading: one mpi_transport per rank, used from one thread (MPI_THREAD_FUNNELED is enough).
/// The caller initialises MPI and destroys the transport (which waits for its pending sends)
/// before MPI_Finalize.
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/transport/message.hpp"
#include "fedpp/transport/transport.hpp"
#include "fedpp/transport/wire_format.hpp"

// Only MPI's C API is used: skip the (deprecated, warning-laden) C++ bindings where we can.
#if !defined(OMPI_SKIP_MPICXX)
#define OMPI_SKIP_MPICXX 1
#define FEDPP_UNDEF_OMPI_SKIP_MPICXX
#endif
#if !defined(MPICH_SKIP_MPICXX)
#define MPICH_SKIP_MPICXX 1
#define FEDPP_UNDEF_MPICH_SKIP_MPICXX
#endif
#include <mpi.h>
#ifdef FEDPP_UNDEF_OMPI_SKIP_MPICXX
#undef OMPI_SKIP_MPICXX
#undef FEDPP_UNDEF_OMPI_SKIP_MPICXX
#endif
#ifdef FEDPP_UNDEF_MPICH_SKIP_MPICXX
#undef MPICH_SKIP_MPICXX
#undef FEDPP_UNDEF_MPICH_SKIP_MPICXX
#endif

#include <algorithm>
#include <array>
#include <chrono>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace fedpp {

/// The default placement: client c lives on rank 1 + c mod (P - 1).
struct round_robin_placement {
  [[nodiscard]] int operator()(endpoint_id client, int num_ranks) const noexcept {
    return 1 + static_cast<int>(client % static_cast<endpoint_id>(num_ranks - 1));
  }
};

/// Tuning of an mpi_transport.
struct mpi_transport_options {
  /// Largest MPI message (one piece); at most INT_MAX. Smaller values are for tests.
  std::size_t max_piece_bytes = std::size_t{1} << 30;
  /// Tags used: tag_base (envelope heads) and tag_base + 1 (pieces); keep them apart from the
  /// application's own tags on the same communicator.
  int tag_base = 0x4650;
  /// Receive polling: first sleep and longest sleep between MPI_Iprobe calls.
  std::chrono::microseconds min_poll_sleep{20};
  std::chrono::microseconds max_poll_sleep{1000};
  /// A head announcing more bytes than this is refused as malformed (protects the allocation).
  std::uint64_t max_message_bytes = std::uint64_t{1} << 38;
};

class mpi_transport;

/// One endpoint hosted by this rank; satisfies `transport`. A light handle: the mpi_transport
/// must outlive it.
class mpi_endpoint {
public:
  /// This endpoint's id.
  [[nodiscard]] endpoint_id id() const noexcept { return id_; }
  /// Sends `m` to `to` from this endpoint.
  void send(endpoint_id to, const message& m);
  /// The next message addressed to this endpoint (messages for the rank's other endpoints that
  /// arrive meanwhile are kept for them); nullopt at the deadline.
  [[nodiscard]] std::optional<envelope> receive(transport_clock::time_point deadline);
  /// Bytes this endpoint has sent.
  [[nodiscard]] std::uint64_t bytes_sent() const noexcept;
  /// Bytes this endpoint has received.
  [[nodiscard]] std::uint64_t bytes_received() const noexcept;

private:
  friend class mpi_transport;
  mpi_endpoint(mpi_transport* owner, endpoint_id id) noexcept : owner_(owner), id_(id) {}
  mpi_transport* owner_;
  endpoint_id id_;
};

/// The MPI transport of one rank. Not copyable or movable (endpoints point to it).
class mpi_transport {
public:
  /// Maps a client id to the rank (1..P-1) that hosts it.
  using placement_function = std::function<int(endpoint_id client, int num_ranks)>;

  /// The transport of this rank on `comm` (which needs at least 2 ranks). Throws
  /// invalid_config for fewer ranks or bad options.
  explicit mpi_transport(MPI_Comm comm = MPI_COMM_WORLD,
                         placement_function placement = round_robin_placement{},
                         mpi_transport_options options = {})
      : comm_(comm), placement_(std::move(placement)), options_(options) {
    check(MPI_Comm_rank(comm_, &rank_), "MPI_Comm_rank");
    check(MPI_Comm_size(comm_, &size_), "MPI_Comm_size");
    if (size_ < 2)
      throw invalid_config("mpi_transport: needs at least 2 ranks (a server and a client rank), the "
                           "communicator has " +
                           std::to_string(size_));
    if (options_.max_piece_bytes == 0 || options_.max_piece_bytes > static_cast<std::size_t>(INT_MAX))
      throw invalid_config("mpi_transport: max_piece_bytes " + std::to_string(options_.max_piece_bytes) +
                           " is not in [1, INT_MAX]");
    if (!placement_) throw invalid_config("mpi_transport: empty placement function");
  }

  mpi_transport(const mpi_transport&) = delete;
  mpi_transport& operator=(const mpi_transport&) = delete;

  /// Waits for the pending sends.
  ~mpi_transport() {
    for (auto& p : pending_)
      MPI_Waitall(static_cast<int>(p->requests.size()), p->requests.data(), MPI_STATUSES_IGNORE);
  }

  /// This rank and the communicator's size.
  [[nodiscard]] int rank() const noexcept { return rank_; }
  [[nodiscard]] int num_ranks() const noexcept { return size_; }
  /// True on rank 0, which hosts server_endpoint.
  [[nodiscard]] bool is_server_rank() const noexcept { return rank_ == 0; }

  /// The rank hosting endpoint `id`; throws invalid_config when the placement answers outside
  /// 1..P-1.
  [[nodiscard]] int rank_of(endpoint_id id) const {
    if (id == server_endpoint) return 0;
    const int r = placement_(id, size_);
    if (r < 1 || r >= size_)
      throw invalid_config("mpi_transport: the placement puts client " + std::to_string(id) + " on rank " +
                           std::to_string(r) + ", outside 1.." + std::to_string(size_ - 1));
    return r;
  }

  /// True when this rank hosts endpoint `id`.
  [[nodiscard]] bool hosts(endpoint_id id) const { return rank_of(id) == rank_; }

  /// Handle for a local endpoint; throws invalid_config when `id` lives on another rank.
  [[nodiscard]] mpi_endpoint endpoint(endpoint_id id) {
    require_local(id, "endpoint");
    return mpi_endpoint(this, id);
  }

  /// Sends `m` from local endpoint `from` to endpoint `to` (delivered locally when `to` is on
  /// this rank). Does not wait; the message's buffer is kept alive until MPI is done with it.
  void send_as(endpoint_id from, endpoint_id to, const message& m) {
    require_local(from, "send_as");
    const int dest = rank_of(to);
    if (m.size() / options_.max_piece_bytes >= std::numeric_limits<std::uint32_t>::max())
      throw invalid_config("mpi_transport::send_as: a message of " + std::to_string(m.size()) +
                           " bytes needs more than 2^32 pieces of " +
                           std::to_string(options_.max_piece_bytes));
    progress_sends();
    if (dest == rank_) {
      inbox_.push_back(envelope{from, to, m});
    } else {
      auto p = std::make_unique<pending_send>();
      p->keep_alive = m;
      const std::size_t piece = options_.max_piece_bytes;
      const std::size_t pieces = (m.size() + piece - 1) / piece;
      wire::detail::put_u32(p->head.data() + 0, head_magic);
      wire::detail::put_u32(p->head.data() + 4, static_cast<std::uint32_t>(pieces));
      wire::detail::put_u64(p->head.data() + 8, from);
      wire::detail::put_u64(p->head.data() + 16, to);
      wire::detail::put_u64(p->head.data() + 24, m.size());
      wire::detail::put_u64(p->head.data() + 32, piece);
      wire::detail::put_u64(p->head.data() + 40, 0);
      p->requests.resize(1 + pieces);
      check(MPI_Isend(p->head.data(), head_bytes, MPI_BYTE, dest, options_.tag_base, comm_, &p->requests[0]),
            "MPI_Isend");
      for (std::size_t i = 0; i < pieces; ++i) {
        const std::size_t offset = i * piece;
        const auto count = static_cast<int>(std::min(piece, m.size() - offset));
        // MPI's C binding takes a non-const-correct buffer in older versions.
        check(MPI_Isend(const_cast<std::byte*>(m.data() + offset), count, MPI_BYTE, dest,
                        options_.tag_base + 1, comm_, &p->requests[1 + i]),
              "MPI_Isend");
      }
      pending_.push_back(std::move(p));
    }
    auto& c = counters_[from];
    c.bytes_sent += m.size();
    total_.bytes_sent += m.size();
  }

  /// The next message for any endpoint of this rank (envelope.to says which), waiting until
  /// `deadline` at most; nullopt on timeout.
  [[nodiscard]] std::optional<envelope> receive_any(transport_clock::time_point deadline) {
    return receive_matching(deadline, [](const envelope&) { return true; });
  }

  /// The next message addressed to local endpoint `id`; the others stay queued for their
  /// endpoints. nullopt on timeout.
  [[nodiscard]] std::optional<envelope> receive_for(endpoint_id id, transport_clock::time_point deadline) {
    require_local(id, "receive_for");
    return receive_matching(deadline, [id](const envelope& e) { return e.to == id; });
  }

  /// Waits until MPI has finished with every pending send.
  void flush() {
    for (auto& p : pending_)
      check(MPI_Waitall(static_cast<int>(p->requests.size()), p->requests.data(), MPI_STATUSES_IGNORE),
            "MPI_Waitall");
    pending_.clear();
  }

  /// Sends MPI has not finished yet.
  [[nodiscard]] std::size_t pending_sends() {
    progress_sends();
    return pending_.size();
  }

  /// Messages received from MPI and not yet handed out.
  [[nodiscard]] std::size_t queued() const noexcept { return inbox_.size(); }

  /// Bytes sent and received by all endpoints of this rank.
  [[nodiscard]] std::uint64_t bytes_sent() const noexcept { return total_.bytes_sent; }
  [[nodiscard]] std::uint64_t bytes_received() const noexcept { return total_.bytes_received; }
  /// Bytes sent and received by one local endpoint.
  [[nodiscard]] std::uint64_t bytes_sent(endpoint_id id) const noexcept {
    const auto it = counters_.find(id);
    return it == counters_.end() ? 0 : it->second.bytes_sent;
  }
  [[nodiscard]] std::uint64_t bytes_received(endpoint_id id) const noexcept {
    const auto it = counters_.find(id);
    return it == counters_.end() ? 0 : it->second.bytes_received;
  }

private:
  static constexpr std::uint32_t head_magic = 0x504d4446U; // "FDMP"
  static constexpr int head_bytes = 48;

  struct pending_send {
    std::array<std::byte, head_bytes> head{};
    message keep_alive;
    std::vector<MPI_Request> requests;
  };
  struct counters {
    std::uint64_t bytes_sent = 0;
    std::uint64_t bytes_received = 0;
  };

  static void check(int rc, const char* what) {
    if (rc != MPI_SUCCESS)
      throw error(std::string("mpi_transport: ") + what + " failed with code " + std::to_string(rc));
  }

  void require_local(endpoint_id id, const char* who) const {
    if (const int r = rank_of(id); r != rank_)
      throw invalid_config(std::string("mpi_transport::") + who + ": endpoint " +
                           (id == server_endpoint ? std::string("server") : std::to_string(id)) +
                           " lives on rank " + std::to_string(r) + ", this is rank " + std::to_string(rank_));
  }

  void progress_sends() {
    std::erase_if(pending_, [](const std::unique_ptr<pending_send>& p) {
      int done = 0;
      check(MPI_Testall(static_cast<int>(p->requests.size()), p->requests.data(), &done, MPI_STATUSES_IGNORE),
            "MPI_Testall");
      return done != 0;
    });
  }

  /// Takes one message from MPI if a head is waiting; false when none is.
  bool poll_mpi() {
    int flag = 0;
    MPI_Status status;
    check(MPI_Iprobe(MPI_ANY_SOURCE, options_.tag_base, comm_, &flag, &status), "MPI_Iprobe");
    if (flag == 0) return false;
    const int source = status.MPI_SOURCE;
    int count = 0;
    check(MPI_Get_count(&status, MPI_BYTE, &count), "MPI_Get_count");
    std::vector<std::byte> head(static_cast<std::size_t>(std::max(count, 0)));
    check(MPI_Recv(head.data(), count, MPI_BYTE, source, options_.tag_base, comm_, MPI_STATUS_IGNORE),
          "MPI_Recv");
    const auto fail = [source](const std::string& what) {
      throw malformed_message("mpi_transport: envelope from rank " + std::to_string(source) + ": " + what);
    };
    if (count != head_bytes)
      fail("head of " + std::to_string(count) + " bytes, expected " + std::to_string(head_bytes));
    const std::byte* h = head.data();
    if (wire::detail::get_u32(h) != head_magic) fail("bad magic");
    const std::uint64_t pieces = wire::detail::get_u32(h + 4);
    const endpoint_id from = wire::detail::get_u64(h + 8);
    const endpoint_id to = wire::detail::get_u64(h + 16);
    const std::uint64_t total = wire::detail::get_u64(h + 24);
    const std::uint64_t piece = wire::detail::get_u64(h + 32);
    if (total > options_.max_message_bytes)
      fail(std::to_string(total) + " bytes exceed the limit of " +
           std::to_string(options_.max_message_bytes));
    if (piece == 0 || piece > static_cast<std::uint64_t>(INT_MAX))
      fail("piece size " + std::to_string(piece) + " is not in [1, INT_MAX]");
    if (pieces != (total + piece - 1) / piece)
      fail(std::to_string(pieces) + " pieces of " + std::to_string(piece) + " bytes cannot carry " +
           std::to_string(total) + " bytes");
    if (rank_of(to) != rank_)
      fail("addressed to endpoint " + std::to_string(to) + ", not hosted on this rank");
    if (rank_of(from) != source)
      fail("claims to come from endpoint " + std::to_string(from) + ", which lives on rank " +
           std::to_string(rank_of(from)));
    fedpp::detail::aligned_buffer<std::byte> buffer(static_cast<std::size_t>(total));
    for (std::uint64_t i = 0; i < pieces; ++i) {
      const auto offset = static_cast<std::size_t>(i * piece);
      const auto expected = static_cast<int>(std::min<std::uint64_t>(piece, total - offset));
      check(MPI_Probe(source, options_.tag_base + 1, comm_, &status), "MPI_Probe");
      check(MPI_Get_count(&status, MPI_BYTE, &count), "MPI_Get_count");
      if (count != expected)
        fail("piece " + std::to_string(i) + " has " + std::to_string(count) + " bytes, expected " +
             std::to_string(expected));
      check(MPI_Recv(buffer.data() + offset, count, MPI_BYTE, source, options_.tag_base + 1, comm_,
                     MPI_STATUS_IGNORE),
            "MPI_Recv");
    }
    inbox_.push_back(envelope{from, to, message(std::move(buffer))});
    return true;
  }

  template <class Match>
  std::optional<envelope> take(Match& match) {
    const auto it = std::find_if(inbox_.begin(), inbox_.end(), match);
    if (it == inbox_.end()) return std::nullopt;
    envelope e = std::move(*it);
    inbox_.erase(it);
    counters_[e.to].bytes_received += e.message.size();
    total_.bytes_received += e.message.size();
    return e;
  }

  template <class Match>
  std::optional<envelope> receive_matching(transport_clock::time_point deadline, Match match) {
    auto sleep = options_.min_poll_sleep;
    for (;;) {
      progress_sends();
      if (auto e = take(match)) return e;
      bool got = false;
      while (poll_mpi()) got = true;
      if (got) {
        sleep = options_.min_poll_sleep;
        if (auto e = take(match)) return e;
      }
      const auto now = transport_clock::now();
      if (now >= deadline) return std::nullopt;
      const auto left = std::chrono::duration_cast<std::chrono::microseconds>(deadline - now);
      std::this_thread::sleep_for(std::min(sleep, left + std::chrono::microseconds(1)));
      sleep = std::min(sleep * 2, options_.max_poll_sleep);
    }
  }

  friend class mpi_endpoint;

  MPI_Comm comm_;
  placement_function placement_;
  mpi_transport_options options_;
  int rank_ = 0;
  int size_ = 0;
  std::vector<std::unique_ptr<pending_send>> pending_;
  std::deque<envelope> inbox_;
  std::map<endpoint_id, counters> counters_;
  counters total_;
};

inline void mpi_endpoint::send(endpoint_id to, const message& m) { owner_->send_as(id_, to, m); }
inline std::optional<envelope> mpi_endpoint::receive(transport_clock::time_point deadline) {
  return owner_->receive_for(id_, deadline);
}
inline std::uint64_t mpi_endpoint::bytes_sent() const noexcept { return owner_->bytes_sent(id_); }
inline std::uint64_t mpi_endpoint::bytes_received() const noexcept { return owner_->bytes_received(id_); }

static_assert(transport<mpi_endpoint>);

/// Every client endpoint of this rank seen as one host, for a client_host serving all the
/// virtual clients placed on the rank: receive() takes the next message for any of them
/// (envelope.to says which), send_as() answers for one of them.
class mpi_rank_host {
public:
  explicit mpi_rank_host(mpi_transport& transport) noexcept : transport_(&transport) {}
  [[nodiscard]] std::optional<envelope> receive(transport_clock::time_point deadline) {
    return transport_->receive_any(deadline);
  }
  void send_as(endpoint_id from, endpoint_id to, const message& m) { transport_->send_as(from, to, m); }

private:
  mpi_transport* transport_;
};

} // namespace fedpp
