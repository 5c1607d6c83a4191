/// \file mpi_transport.hpp
/// Transport over MPI (opt-in component fedpp::mpi): rank 0 hosts the server endpoint, ranks
/// 1..P-1 host the clients, several virtual clients per rank as a placement decides.
///
/// Each message travels as one 48-byte envelope head (tag `tag_base`) followed by its bytes in
/// pieces of at most `max_piece_bytes` (tag `tag_base + 1`, MPI_BYTE), so messages above
/// INT_MAX bytes go through unchanged. MPI's non-overtaking rule keeps the pieces of one
/// sender in order. Sends are non-blocking (MPI_Isend) and keep the shared message alive until
/// MPI has finished with it; receives poll every source rank with MPI_Iprobe (a head, or the next
/// piece of the message under way from that rank) and back off with short sleeps until the
/// deadline, so a rank that announces pieces and never sends them delays nobody.
///
/// What a receiving rank trusts: `envelope::from` is checked against the source rank (the claimed
/// sender must be hosted by the rank that sent the bytes: else `impersonation` is thrown from
/// receive and the message's pieces are skipped), the addressee must live here, and memory grows
/// with the pieces received, never with the size a head announces. Ranks must agree on
/// `max_piece_bytes`: a head with larger pieces, or a piece of the wrong length, breaks the framing
/// of that rank's byte stream, so the rank is quarantined (no longer listened to) after the error.
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
#include <cstring>
#include <deque>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
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

  /// One message being received from a source rank, piece by piece.
  struct incoming {
    endpoint_id from = 0;
    endpoint_id to = 0;
    std::uint64_t total = 0;  // message bytes
    std::uint64_t piece = 0;  // bytes per piece (the last may be shorter)
    std::uint64_t pieces = 0; // pieces announced
    std::uint64_t next = 0;   // pieces received
    bool discard = false;     // a refused head: its pieces are received and dropped
    fedpp::detail::aligned_buffer<std::byte> buffer; // grows with the pieces, up to `total`
  };

  [[noreturn]] static void refuse(int source, const std::string& what) {
    throw malformed_message("mpi_transport: envelope from rank " + std::to_string(source) + ": " + what);
  }

  /// Takes what MPI has for this rank: the next head or piece of every source, without waiting.
  /// True when anything was taken. Throws malformed_message (impersonation for a `from` the
  /// source rank does not host) for a refused envelope, after recording how to skip its pieces.
  bool poll_mpi() {
    bool progress = false;
    for (int source = 0; source < size_; ++source) {
      if (source == rank_ || quarantined_.contains(source)) continue;
      const auto it = incoming_.find(source);
      progress = (it == incoming_.end() ? take_head(source) : take_piece(it)) || progress;
    }
    return progress;
  }

  /// Receives the head of `source`'s next message, if one is waiting, and checks it: the piece
  /// geometry against this rank's own limits, the size limit, the addressee and that `source`
  /// hosts the claimed sender. A head with impossible geometry quarantines the source (its bytes
  /// cannot be told apart any more); other refusals skip that message's pieces.
  bool take_head(int source) {
    int flag = 0;
    MPI_Status status;
    check(MPI_Iprobe(source, options_.tag_base, comm_, &flag, &status), "MPI_Iprobe");
    if (flag == 0) return false;
    int count = 0;
    check(MPI_Get_count(&status, MPI_BYTE, &count), "MPI_Get_count");
    if (count != head_bytes) {
      quarantined_.insert(source);
      refuse(source, "head of " + std::to_string(count) + " bytes, expected " + std::to_string(head_bytes) +
                         "; the rank is no longer listened to");
    }
    std::array<std::byte, head_bytes> head{};
    check(MPI_Recv(head.data(), head_bytes, MPI_BYTE, source, options_.tag_base, comm_, MPI_STATUS_IGNORE),
          "MPI_Recv");
    const std::byte* h = head.data();
    incoming in;
    in.pieces = wire::detail::get_u32(h + 4);
    in.from = wire::detail::get_u64(h + 8);
    in.to = wire::detail::get_u64(h + 16);
    in.total = wire::detail::get_u64(h + 24);
    in.piece = wire::detail::get_u64(h + 32);
    const bool framed = wire::detail::get_u32(h) == head_magic && in.piece != 0 &&
                        in.piece <= options_.max_piece_bytes && in.pieces == (in.total + in.piece - 1) / in.piece;
    if (!framed) {
      quarantined_.insert(source);
      refuse(source, "bad magic or piece geometry (" + std::to_string(in.pieces) + " pieces of " +
                         std::to_string(in.piece) + " bytes for " + std::to_string(in.total) +
                         " bytes; this rank takes pieces of at most " + std::to_string(options_.max_piece_bytes) +
                         "); the rank is no longer listened to");
    }
    std::optional<std::string> refusal;
    bool forged = false;
    if (in.total > options_.max_message_bytes) {
      refusal = std::to_string(in.total) + " bytes exceed the limit of " + std::to_string(options_.max_message_bytes);
    } else {
      try {
        if (rank_of(in.to) != rank_) {
          refusal = "addressed to endpoint " + std::to_string(in.to) + ", not hosted on this rank";
        } else if (rank_of(in.from) != source) {
          refusal = "claims to come from endpoint " + std::to_string(in.from) + ", which lives on rank " +
                    std::to_string(rank_of(in.from));
          forged = true;
        }
      } catch (const invalid_config& e) { // the placement answered outside 1..P-1
        refusal = e.what();
      }
    }
    in.discard = refusal.has_value();
    const endpoint_id claimed = in.from;
    if (in.pieces == 0) {
      if (!in.discard) inbox_.push_back(envelope{in.from, in.to, message{}});
    } else {
      incoming_.emplace(source, std::move(in));
    }
    if (refusal) {
      if (forged)
        throw impersonation(static_cast<std::uint64_t>(source), claimed,
                            "mpi_transport: an envelope from rank " + std::to_string(source) + " " + *refusal);
      refuse(source, *refusal);
    }
    return true;
  }

  /// Receives the next piece of `it`'s message if it is waiting. The buffer grows with the pieces
  /// (capacity doubling, capped at the message), so memory follows the bytes received.
  template <class It>
  bool take_piece(It it) {
    const int source = it->first;
    incoming& in = it->second;
    int flag = 0;
    MPI_Status status;
    check(MPI_Iprobe(source, options_.tag_base + 1, comm_, &flag, &status), "MPI_Iprobe");
    if (flag == 0) return false;
    int count = 0;
    check(MPI_Get_count(&status, MPI_BYTE, &count), "MPI_Get_count");
    const std::uint64_t offset = in.next * in.piece;
    const auto expected = std::min(in.piece, in.total - offset);
    if (count < 0 || static_cast<std::uint64_t>(count) != expected) {
      incoming_.erase(it);
      quarantined_.insert(source);
      refuse(source, "piece of " + std::to_string(count) + " bytes, expected " + std::to_string(expected) +
                         "; the rank is no longer listened to");
    }
    if (in.discard) {
      std::vector<std::byte> scratch(static_cast<std::size_t>(expected));
      check(MPI_Recv(scratch.data(), count, MPI_BYTE, source, options_.tag_base + 1, comm_, MPI_STATUS_IGNORE),
            "MPI_Recv");
    } else {
      const auto needed = static_cast<std::size_t>(offset + expected);
      if (needed > in.buffer.size()) {
        const auto total = static_cast<std::size_t>(in.total);
        const std::size_t grown = std::min(total, std::max(needed, 2 * in.buffer.size()));
        fedpp::detail::aligned_buffer<std::byte> bigger(grown, fedpp::detail::uninitialized);
        if (offset != 0) std::memcpy(bigger.data(), in.buffer.data(), static_cast<std::size_t>(offset));
        in.buffer = std::move(bigger);
      }
      check(MPI_Recv(in.buffer.data() + offset, count, MPI_BYTE, source, options_.tag_base + 1, comm_,
                     MPI_STATUS_IGNORE),
            "MPI_Recv");
    }
    if (++in.next == in.pieces) {
      if (!in.discard) inbox_.push_back(envelope{in.from, in.to, message(std::move(in.buffer))});
      incoming_.erase(it);
    }
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
  std::map<int, incoming> incoming_; // per source rank: the message whose pieces are arriving
  std::set<int> quarantined_;        // ranks whose framing broke: no longer listened to
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
