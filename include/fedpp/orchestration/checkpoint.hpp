/// \file checkpoint.hpp
/// Checkpoints of the synchronous server (fedpp::server): save between rounds, restore into a
/// freshly built server, and the federation goes on exactly as if it had never stopped.
///
/// A checkpoint holds everything of a server that changes from round to round:
///  - the next round's number. The sampler's generator is a pure function of (seed, round)
///    (`rng::for_stream(options.seed, round)`), so the round and the seed are its whole state;
///  - the global model;
///  - the server optimizer's state (FedAvgM's momentum, FedAdam/Yogi/Adagrad's m, v and step
///    count, SCAFFOLD's inner optimizer; server SGD has none and saves its η);
///  - the hooks' state, where they keep one: central_dp_hooks' noise generator (its secret key
///    included), privacy accountant and adaptive clipping bound;
///  - any number of extra objects given to save and restore in the same order, e.g. the clients'
///    SCAFFOLD control variates (scaffold_control_store).
/// What is configuration — options, sampler, aggregator, availability, capability hints — is not
/// saved: the server restored into is built with the same settings. The checkpoint checks those
/// it can tell (layout, element type, seed, population, optimizer and hooks settings) and
/// refuses a server that does not match.
///
/// File format, version 1 (all integers little-endian, floats as IEEE 754 bit patterns):
///
///   header   [magic "FEDPPCKP" 8][version u32 = 1][section count u32][file bytes u64]
///   sections [tag u32][reserved u32 = 0][length u64][length bytes] each, in this order:
///            1 server    [next round u64][seed u64][layout hash u64][elements u64]
///                        [dtype u32][tensors u32][sampler population u64]
///            2 model     elements × sizeof(T)
///            3 optimizer checkpoint_codec<Optimizer> (FedOpt/FedAvgM: optim/detail/state_codec.hpp)
///            4 hooks     checkpoint_codec<Hooks> (empty for no_server_hooks)
///            5 extra     checkpoint_codec<X>, one section per extra object, in argument order
///   trailer  [CRC-32C u32 of every byte before it]
///
/// CRC-32C (Castagnoli, Bräuer, Herrmann 1993; the wire format's checksum, transport/detail/
/// crc32c.hpp) catches every error burst of up to 32 bits and any other corruption with
/// probability 1 − 2⁻³²; it is not a signature (whoever can write the file can fix the sum), which
/// is why everything is validated again after it.
///
/// Writing is atomic: the bytes go to a temporary file in the checkpoint's folder (mode 0600: it
/// may hold a noise key), are fsync'ed, the file is renamed over the old checkpoint and the
/// folder fsync'ed (POSIX; elsewhere std::filesystem::rename without the fsyncs). A crash leaves
/// the old checkpoint or the new one, never a mixture.
///
/// Restoring treats the file as untrusted input and validates everything before it touches the
/// server: the file's size against a limit before reading it; magic, version, declared length
/// (truncation) and checksum; each section's tag, reserved field and length against the bytes
/// present (no allocation is sized by a length field that was not checked against them); sizes
/// against the server's layout; every value finite; every encoding canonical (reserved fields
/// zero, no trailing bytes, the codecs' own canonical checks). Refusals throw malformed_message
/// (bytes that do not decode), invalid_config (a sound checkpoint of another configuration, a
/// missing file) or fedpp::error (I/O), each naming the file, the section and the values; the
/// server, its hooks and the extra objects are then exactly unchanged. Only when everything was
/// accepted are they replaced, by operations that do not throw.
#pragma once

#include "fedpp/aggregation/scaffold_control_store.hpp"
#include "fedpp/detail/state_io.hpp"
#include "fedpp/error.hpp"
#include "fedpp/optim/detail/state_codec.hpp"
#include "fedpp/optim/scaffold_server_optimizer.hpp"
#include "fedpp/optim/server_sgd.hpp"
#include "fedpp/orchestration/server.hpp"
#include "fedpp/orchestration/server_hooks.hpp"
#include "fedpp/tensor/dtype.hpp"
#include "fedpp/tensor/flat_model.hpp"
#include "fedpp/transport/detail/crc32c.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cerrno>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <system_error>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#if defined(__unix__) || defined(__APPLE__)
#include <fcntl.h>
#include <unistd.h>
#define FEDPP_CHECKPOINT_POSIX 1
#else
#define FEDPP_CHECKPOINT_POSIX 0
#endif

namespace fedpp {

/// Constants of the checkpoint file format (see the file comment).
namespace checkpoint_format {
inline constexpr std::array<char, 8> magic{'F', 'E', 'D', 'P', 'P', 'C', 'K', 'P'};
inline constexpr std::uint32_t version = 1;
inline constexpr std::size_t header_bytes = 24;         ///< magic, version, section count, file bytes
inline constexpr std::size_t section_header_bytes = 16; ///< tag, reserved, length
inline constexpr std::size_t server_section_bytes = 48;
inline constexpr std::size_t trailer_bytes = 4; ///< CRC-32C
/// Section tags, in file order (extra sections all carry `extra`).
enum class section : std::uint32_t { server = 1, model = 2, optimizer = 3, hooks = 4, extra = 5 };
} // namespace checkpoint_format

/// How a type's state goes into a checkpoint section and comes back. Specializations provide
///
/// | expression                      | type / effect                                                |
/// |---------------------------------|--------------------------------------------------------------|
/// | `checkpoint_codec<X>::save(cx)` | `std::vector<std::byte>`: the section's bytes                 |
/// | `checkpoint_codec<X>::parse(cx, bytes)` | a `parsed` value: bytes checked against `cx`'s settings,
/// nothing changed; throws malformed_message / invalid_config | | `checkpoint_codec<X>::adopt(x,
/// std::move(p))` | noexcept: `x` takes the parsed state (hooks and extras; optimizers are handed to the
/// server instead) | | optional `checkpoint_codec<X>::max_bytes(cx, population)` | the largest section a
/// restore must accept (default: the size of save(cx) plus 1 MiB for the whole file) |
///
/// fedpp has codecs for server_sgd, server_momentum, FedAdam/FedYogi/FedAdagrad,
/// scaffold_server_optimizer, no_server_hooks, scaffold_control_store, and for any type with the
/// members `checkpoint_state()`, `parse_checkpoint_state(bytes)` and
/// `adopt_checkpoint_state(parsed&&) noexcept` (central_dp_hooks with rdp_accountant).
template <class X>
struct checkpoint_codec;

/// Types that keep their checkpoint state through members (see checkpoint_codec).
template <class X>
concept checkpoint_members = requires(const X& cx, X& x, std::span<const std::byte> bytes) {
  { cx.checkpoint_state() } -> std::same_as<std::vector<std::byte>>;
  x.adopt_checkpoint_state(cx.parse_checkpoint_state(bytes));
};

/// Types a checkpoint can save and parse.
template <class X>
concept checkpointable = requires(const X& cx, std::span<const std::byte> bytes) {
  { checkpoint_codec<X>::save(cx) } -> std::same_as<std::vector<std::byte>>;
  checkpoint_codec<X>::parse(cx, bytes);
};

/// Checkpointable types that take a parsed state themselves (hooks, extra objects).
template <class X>
concept checkpoint_part = checkpointable<X> && requires(const X& cx, X& x, std::span<const std::byte> bytes) {
  checkpoint_codec<X>::adopt(x, checkpoint_codec<X>::parse(cx, bytes));
};

template <checkpoint_members X>
struct checkpoint_codec<X> {
  using parsed = decltype(std::declval<const X&>().parse_checkpoint_state(std::span<const std::byte>{}));
  static std::vector<std::byte> save(const X& x) { return x.checkpoint_state(); }
  static parsed parse(const X& current, std::span<const std::byte> bytes) {
    return current.parse_checkpoint_state(bytes);
  }
  static void adopt(X& x, parsed&& p) noexcept { x.adopt_checkpoint_state(std::move(p)); }
};

/// Hooks without state: an empty section.
template <>
struct checkpoint_codec<no_server_hooks> {
  struct parsed {};
  static std::vector<std::byte> save(const no_server_hooks&) { return {}; }
  static parsed parse(const no_server_hooks&, std::span<const std::byte> bytes) {
    if (!bytes.empty())
      throw malformed_message("no_server_hooks: " + std::to_string(bytes.size()) +
                              " bytes of hooks state, expected none");
    return {};
  }
  static void adopt(no_server_hooks&, parsed&&) noexcept {}
};

/// Server SGD is stateless: its section holds η, which must be this server's.
template <element_type T>
struct checkpoint_codec<server_sgd<T>> {
  using parsed = server_sgd<T>;
  static std::vector<std::byte> save(const server_sgd<T>& o) {
    std::vector<std::byte> out;
    detail::state_writer(out).f64(o.learning_rate());
    return out;
  }
  static parsed parse(const server_sgd<T>& current, std::span<const std::byte> bytes) {
    detail::state_reader r("server_sgd", bytes);
    const double eta = r.f64("learning rate");
    r.expect_end("after the learning rate");
    if (!(eta > 0) || !std::isfinite(eta))
      r.fail("learning rate " + detail::format_param(eta) + ", not finite and > 0");
    if (std::bit_cast<std::uint64_t>(eta) != std::bit_cast<std::uint64_t>(current.learning_rate()))
      throw invalid_config("server_sgd: saved with learning rate " + detail::format_param(eta) +
                           ", this server's is " + detail::format_param(current.learning_rate()));
    return current;
  }
};

/// Optimizers with a state codec of their own (optim/detail/state_codec.hpp: server_momentum,
/// fedopt): to_bytes() / restore(bytes).
template <class O>
concept optimizer_state_codec = requires(const O& o, std::span<const std::byte> bytes) {
  { o.to_bytes() } -> std::same_as<std::vector<std::byte>>;
  { O::restore(bytes) } -> std::same_as<O>;
  { o.size() } -> std::convertible_to<std::size_t>;
  { o.steps() } -> std::convertible_to<std::uint64_t>;
};

/// FedAvgM and FedOpt: their saved state; kind, element width, size and hyper-parameters
/// (bytes 4–16 and 24–56 of the state header) must be this server's, the steps and buffers are taken.
template <class O>
requires optimizer_state_codec<O> && server_optimizer<O>
struct checkpoint_codec<O> {
  using parsed = O;
  static std::vector<std::byte> save(const O& o) { return o.to_bytes(); }
  static parsed parse(const O& current, std::span<const std::byte> bytes) {
    const std::vector<std::byte> mine = current.to_bytes();
    constexpr std::size_t h = detail::optimizer_header_bytes;
    // A sound state of another optimizer is a configuration mismatch, told apart from bad bytes.
    if (bytes.size() >= 8 && std::memcmp(bytes.data(), mine.data(), 5) == 0 &&
        (bytes[5] != mine[5] || bytes[6] != mine[6]))
      throw invalid_config("server optimizer: saved by optimizer kind " + byte_string(bytes[5]) + " with " +
                           byte_string(bytes[6]) + "-byte state, this server's is kind " +
                           byte_string(mine[5]) + " with " + byte_string(mine[6]) + "-byte state (" +
                           kind_names + ")");
    O restored = O::restore(bytes); // malformed_message for anything that does not decode
    if (restored.size() != current.size())
      throw invalid_config("server optimizer: saved for " + std::to_string(restored.size()) +
                           " elements, this server's model has " + std::to_string(current.size()));
    if (bytes[7] != mine[7] || std::memcmp(bytes.data() + 24, mine.data() + 24, h - 24) != 0)
      throw invalid_config("server optimizer: saved with hyper-parameters " + params_string(bytes) +
                           ", this server's are " + params_string(mine));
    return restored;
  }

private:
  static constexpr const char* kind_names = "1 FedAvgM, 2 FedAdam, 3 FedYogi, 4 FedAdagrad";
  static std::string byte_string(std::byte b) { return std::to_string(std::to_integer<unsigned>(b)); }
  // (η, β1, β2, τ) and the conventions byte of a state header the caller has bounds-checked.
  static std::string params_string(std::span<const std::byte> header) {
    std::string s = "(";
    for (std::size_t i = 0; i < 4; ++i) {
      double v = 0;
      std::memcpy(&v, header.data() + 24 + 8 * i, 8);
      s += (i == 0 ? "" : ", ") + detail::format_param(v);
    }
    return s + ") with conventions " + byte_string(header[7]);
  }
};

/// SCAFFOLD's server optimizer: [D u64][the inner optimizer's section].
template <class Inner>
requires checkpointable<Inner>
struct checkpoint_codec<scaffold_server_optimizer<Inner>> {
  using parsed = scaffold_server_optimizer<Inner>;
  static std::vector<std::byte> save(const parsed& o) {
    std::vector<std::byte> out;
    detail::state_writer w(out);
    w.u64(o.model_size());
    w.bytes(checkpoint_codec<Inner>::save(o.inner()));
    return out;
  }
  static parsed parse(const parsed& current, std::span<const std::byte> bytes) {
    detail::state_reader r("scaffold_server_optimizer", bytes);
    const std::uint64_t d = r.u64("model size D");
    if (d != current.model_size())
      throw invalid_config("scaffold_server_optimizer: saved for D = " + std::to_string(d) +
                           ", this server's has D = " + std::to_string(current.model_size()));
    Inner inner = checkpoint_codec<Inner>::parse(current.inner(), r.bytes(r.remaining(), "inner optimizer"));
    return parsed(current.model_size(), std::move(inner));
  }
};

/// The clients' SCAFFOLD control variates (an extra object): scaffold_control_store::to_bytes.
template <element_type T>
struct checkpoint_codec<scaffold_control_store<T>> {
  struct parsed {
    std::unique_ptr<scaffold_control_store<T>> store;
  };
  static std::vector<std::byte> save(const scaffold_control_store<T>& s) { return s.to_bytes(); }
  static parsed parse(const scaffold_control_store<T>& current, std::span<const std::byte> bytes) {
    if (bytes.size() >= 24 && std::memcmp(bytes.data(), "FPSC", 4) == 0) {
      detail::state_reader r("scaffold_control_store", bytes.subspan(4));
      const std::uint32_t width = r.u32("element width");
      const std::uint64_t d = r.u64("D");
      if (width != sizeof(T) || d != current.model_size())
        throw invalid_config("scaffold_control_store: saved controls of D = " + std::to_string(d) +
                             " elements of " + std::to_string(width) + " bytes, this store holds D = " +
                             std::to_string(current.model_size()) + " of " + std::to_string(sizeof(T)));
    }
    return parsed{std::unique_ptr<scaffold_control_store<T>>(
        new scaffold_control_store<T>(scaffold_control_store<T>::restore(bytes, current.model_size())))};
  }
  static void adopt(scaffold_control_store<T>& s, parsed&& p) noexcept {
    s.replace_with(std::move(*p.store));
  }
  /// At most one control per client of the population.
  static std::uint64_t max_bytes(const scaffold_control_store<T>& s, std::uint64_t population) noexcept {
    constexpr std::uint64_t cap = std::numeric_limits<std::uint64_t>::max();
    const std::uint64_t d = s.model_size();
    if (d > (cap - 8) / sizeof(T)) return cap;
    const std::uint64_t entry = 8 + d * sizeof(T);
    if (population != 0 && entry > (cap - 24) / population) return cap;
    return 24 + population * entry;
  }
};

/// When a server saves: the file and the cadence.
struct checkpoint_schedule {
  std::filesystem::path path;     ///< the checkpoint file (its folder must exist)
  std::uint64_t every_rounds = 0; ///< save after every k-th round; 0 = never
  /// True when a server that has run `rounds_run` rounds should save now.
  [[nodiscard]] bool due(std::uint64_t rounds_run) const noexcept {
    return every_rounds != 0 && rounds_run != 0 && rounds_run % every_rounds == 0;
  }
};

/// Bounds of a restore.
struct checkpoint_limits {
  /// Larger files are refused before they are read. 0 = automatic: the size of the checkpoint
  /// this server would write now, plus 1 MiB, plus each extra object's max_bytes (a SCAFFOLD store:
  /// one control per client of the sampler's population).
  std::uint64_t max_file_bytes = 0;
};

namespace detail {

template <class Server>
struct server_traits;
template <element_type T, client_sampler S, server_optimizer O, aggregator A, availability_model V, class H>
struct server_traits<server<T, S, O, A, V, H>> {
  using value_type = T;
  using optimizer = O;
  using hooks = H;
};

template <class Server>
concept any_server = requires {
  typename server_traits<std::remove_cvref_t<Server>>::value_type;
};

/// The population a server's sampler draws from.
template <class Server>
std::uint64_t population_of(const Server& s) {
  return static_cast<std::uint64_t>(s.sampler().population_size());
}

/// Compile-time checks with readable messages.
template <class Server, class... Extras>
constexpr void check_checkpointable() {
  using traits = server_traits<std::remove_cvref_t<Server>>;
  static_assert(std::is_floating_point_v<typename traits::value_type>,
                "checkpoint: servers over float or double models only");
  static_assert(checkpointable<typename traits::optimizer>,
                "checkpoint: this server optimizer has no checkpoint_codec (fedpp has one for server_sgd, "
                "server_momentum, FedAdam/FedYogi/FedAdagrad and scaffold_server_optimizer); specialize "
                "fedpp::checkpoint_codec for it");
  static_assert(std::is_nothrow_move_assignable_v<typename traits::optimizer>,
                "checkpoint: the server optimizer must be nothrow move-assignable (the restore's commit)");
  static_assert(checkpoint_part<typename traits::hooks>,
                "checkpoint: these server hooks have no checkpoint_codec. Give them checkpoint_state(), "
                "parse_checkpoint_state(bytes) and adopt_checkpoint_state(parsed&&) noexcept, or specialize "
                "fedpp::checkpoint_codec (no_server_hooks and central_dp_hooks<T, rdp_accountant> have one)");
  static_assert((checkpoint_part<Extras> && ...),
                "checkpoint: an extra object has no checkpoint_codec (scaffold_control_store has one)");
}

/// Runs `f`, re-throwing its malformed_message / invalid_config with `context` in front.
template <class F>
decltype(auto) with_context(const std::string& context, F&& f) {
  try {
    return std::forward<F>(f)();
  } catch (const malformed_message& e) {
    throw malformed_message(context + ": " + e.what());
  } catch (const invalid_config& e) {
    throw invalid_config(context + ": " + e.what());
  }
}

inline std::string hex32(std::uint32_t v) {
  std::array<char, 11> buf{};
  std::snprintf(buf.data(), buf.size(), "0x%08x", static_cast<unsigned>(v));
  return buf.data();
}

inline void append_section(state_writer& w, checkpoint_format::section tag,
                           std::span<const std::byte> payload) {
  w.u32(static_cast<std::uint32_t>(tag));
  w.u32(0);
  w.u64(payload.size());
  w.bytes(payload);
}

inline const char* section_name(std::size_t index) noexcept {
  constexpr std::array<const char*, 4> names{"server", "model", "optimizer", "hooks"};
  return index < names.size() ? names[index] : "extra";
}

/// The sections of a checkpoint after its header, trailer and checksum were checked.
struct checkpoint_sections {
  std::vector<std::span<const std::byte>> payloads;
};

/// Magic, version, declared length, checksum, then the section directory: each tag in order,
/// reserved 0, length within the bytes; nothing after the last section. `expected_sections` = 0
/// accepts any number of extra sections (reading the model alone). Allocates nothing sized by
/// the bytes that was not checked against them.
inline checkpoint_sections read_sections(const std::string& who, std::span<const std::byte> bytes,
                                         std::size_t expected_sections) {
  namespace f = checkpoint_format;
  const auto fail = [&who](const std::string& what) { throw malformed_message(who + ": " + what); };
  const std::string minimum = std::to_string(f::header_bytes + f::trailer_bytes);
  if (bytes.size() < f::magic.size())
    fail(std::to_string(bytes.size()) + " bytes, too short for a checkpoint (at least " + minimum +
         "): truncated, or not a checkpoint");
  if (std::memcmp(bytes.data(), f::magic.data(), f::magic.size()) != 0)
    fail("bad magic: not a fedpp checkpoint (expected \"FEDPPCKP\")");
  if (bytes.size() < f::header_bytes + f::trailer_bytes)
    fail("truncated: " + std::to_string(bytes.size()) + " bytes, shorter than the " +
         std::to_string(f::header_bytes) + "-byte header and the " + std::to_string(f::trailer_bytes) +
         "-byte checksum");
  state_reader header(who, bytes.subspan(f::magic.size(), f::header_bytes - f::magic.size()));
  const std::uint32_t version = header.u32("version");
  if (version != f::version)
    fail("format version " + std::to_string(version) + "; this build reads version " +
         std::to_string(f::version));
  const std::uint32_t count = header.u32("section count");
  const std::uint64_t declared = header.u64("file bytes");
  if (declared > bytes.size())
    fail("truncated: " + std::to_string(bytes.size()) + " bytes of the " + std::to_string(declared) +
         " the header declares");
  if (declared < bytes.size())
    fail(std::to_string(bytes.size()) + " bytes where the header declares " + std::to_string(declared) +
         ": trailing bytes after the checkpoint");
  const std::size_t body_end = bytes.size() - f::trailer_bytes;
  state_reader trailer(who, bytes.subspan(body_end));
  const std::uint32_t stored = trailer.u32("checksum");
  const std::uint32_t computed = crc32c(bytes.first(body_end));
  if (stored != computed)
    fail("checksum mismatch (CRC-32C stored " + hex32(stored) + ", computed " + hex32(computed) +
         "): the file is corrupt");
  if (expected_sections == 0) {
    // Any number of extra sections, each at least its 16-byte header within the bytes.
    if (count < 4 || count > (body_end - f::header_bytes) / f::section_header_bytes)
      fail(std::to_string(count) + " sections, expected 4 or more within the " +
           std::to_string(bytes.size()) + " bytes");
  } else if (count != expected_sections)
    throw invalid_config(who + ": " + std::to_string(count) + " sections (" +
                         std::to_string(count < 4 ? 0 : count - 4) +
                         " extra objects), this restore expects " + std::to_string(expected_sections) + " (" +
                         std::to_string(expected_sections - 4) + " extra objects given)");
  checkpoint_sections out;
  out.payloads.reserve(count); // the caller's number, or bounded by the bytes present
  state_reader r(who, bytes.subspan(f::header_bytes, body_end - f::header_bytes));
  for (std::size_t i = 0; i < count; ++i) {
    const auto expected_tag = static_cast<std::uint32_t>(i < 4 ? i + 1 : 5);
    const std::string name = std::string("section ") + std::to_string(i) + " (" + section_name(i) + ")";
    const std::uint32_t tag = r.u32("section tag");
    if (tag != expected_tag)
      fail(name + " has tag " + std::to_string(tag) + ", expected " + std::to_string(expected_tag));
    r.expect_zero(r.u32("reserved"), (name + " reserved field").c_str());
    out.payloads.push_back(r.bytes(r.u64("section length"), name.c_str()));
  }
  r.expect_end("after the last section");
  return out;
}

/// Reads a whole file of at most `max_bytes` bytes.
inline std::vector<std::byte> read_file(const std::filesystem::path& path, std::uint64_t max_bytes) {
  const std::string who = "checkpoint '" + path.string() + "'";
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (!std::filesystem::exists(status)) throw invalid_config(who + ": no such file");
  if (!std::filesystem::is_regular_file(status)) throw invalid_config(who + ": not a regular file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw invalid_config(who + ": cannot be opened for reading");
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  if (size < 0) throw error(who + ": cannot tell its size");
  if (static_cast<std::uint64_t>(size) > max_bytes)
    throw malformed_message(who + ": " + std::to_string(size) + " bytes, more than the " +
                            std::to_string(max_bytes) +
                            " a checkpoint of this server can hold (checkpoint_limits::max_file_bytes)");
  std::vector<std::byte> bytes(static_cast<std::size_t>(size));
  in.seekg(0, std::ios::beg);
  if (!bytes.empty()) in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(size));
  if (in.gcount() != static_cast<std::streamsize>(size))
    throw error(who + ": read " + std::to_string(in.gcount()) + " of " + std::to_string(size) + " bytes");
  return bytes;
}

inline std::string errno_text(int e) { return std::system_category().message(e); }

/// Writes `bytes` to `path` atomically: a temporary file in the same folder, fsync, rename over
/// `path`, fsync of the folder (POSIX). Throws fedpp::error naming the step that failed, leaving
/// `path` as it was and no temporary file behind.
inline void write_file_atomically(const std::filesystem::path& path, std::span<const std::byte> bytes) {
  static std::atomic<std::uint64_t> serial{0};
  const std::string who = "checkpoint '" + path.string() + "'";
  if (path.filename().empty()) throw invalid_config(who + ": the path names no file");
  std::filesystem::path tmp = path;
#if FEDPP_CHECKPOINT_POSIX
  tmp += ".tmp." + std::to_string(::getpid()) + "." + std::to_string(serial++);
  const auto fail = [&](const std::string& step, int e, int fd) {
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    throw error(who + ": " + step + ": " + errno_text(e));
  };
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0 && errno == EEXIST) { // left by a crashed process that had our pid
    ::unlink(tmp.c_str());
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  }
  if (fd < 0) {
    const int e = errno;
    throw error(who + ": cannot create the temporary file '" + tmp.string() + "': " + errno_text(e));
  }
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ::ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail("writing the temporary file", n < 0 ? errno : EIO, fd);
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) fail("fsync of the temporary file", errno, fd);
  if (::close(fd) != 0) fail("closing the temporary file", errno, -1);
  if (::rename(tmp.c_str(), path.c_str()) != 0) fail("renaming the temporary file over it", errno, -1);
  const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    const int rc = ::fsync(dfd);
    const int e = errno;
    ::close(dfd);
    if (rc != 0 && e != EINVAL) // some file systems cannot sync a folder; the rename is done
      throw error(who + ": written, but the fsync of its folder failed: " + errno_text(e));
  }
#else
  tmp += ".tmp." + std::to_string(serial++);
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (out)
      out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    if (!out) {
      std::error_code ignored;
      std::filesystem::remove(tmp, ignored);
      throw error(who + ": cannot write the temporary file '" + tmp.string() + "'");
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    throw error(who + ": renaming the temporary file over it: " + ec.message());
  }
#endif
}

/// The largest checkpoint a restore into `s` accepts by default (see checkpoint_limits).
template <class Server, class... Extras>
std::uint64_t default_max_file_bytes(std::uint64_t current_size, const Server& s, const Extras&... extras) {
  constexpr std::uint64_t cap = std::numeric_limits<std::uint64_t>::max();
  std::uint64_t limit = current_size + (std::uint64_t{1} << 20);
  const auto add = [&](const auto& x) {
    using X = std::remove_cvref_t<decltype(x)>;
    if constexpr (requires { checkpoint_codec<X>::max_bytes(x, std::uint64_t{}); }) {
      const std::uint64_t extra = checkpoint_codec<X>::max_bytes(x, population_of(s));
      limit = extra > cap - limit ? cap : limit + extra;
    }
  };
  (add(extras), ...);
  (void)add;
  return limit;
}

} // namespace detail

/// The checkpoint of `s` (and of `extras`, in order) as bytes: the file's content.
template <class Server, class... Extras>
requires detail::any_server<Server>
[[nodiscard]] std::vector<std::byte> checkpoint_bytes(const Server& s, const Extras&... extras) {
  detail::check_checkpointable<Server, Extras...>();
  using traits = detail::server_traits<Server>;
  using T = typename traits::value_type;
  namespace f = checkpoint_format;
  std::vector<std::byte> out;
  detail::state_writer w(out);
  w.bytes(std::as_bytes(std::span<const char>(f::magic)));
  w.u32(f::version);
  w.u32(static_cast<std::uint32_t>(4 + sizeof...(Extras)));
  w.u64(0); // file bytes, patched below
  {
    std::vector<std::byte> server_section;
    detail::state_writer sw(server_section);
    sw.u64(s.round());
    sw.u64(s.options().seed);
    sw.u64(s.layout().hash());
    sw.u64(s.model().size());
    sw.u32(static_cast<std::uint32_t>(dtype_of<T>));
    sw.u32(static_cast<std::uint32_t>(s.layout().num_tensors()));
    sw.u64(detail::population_of(s));
    detail::append_section(w, f::section::server, server_section);
  }
  {
    std::vector<std::byte> model;
    model.reserve(s.model().size() * sizeof(T));
    detail::state_writer(model).values(s.model().span());
    detail::append_section(w, f::section::model, model);
  }
  detail::append_section(w, f::section::optimizer,
                         checkpoint_codec<typename traits::optimizer>::save(s.optimizer()));
  detail::append_section(w, f::section::hooks, checkpoint_codec<typename traits::hooks>::save(s.hooks()));
  (detail::append_section(w, f::section::extra, checkpoint_codec<Extras>::save(extras)), ...);
  const std::uint64_t total = out.size() + f::trailer_bytes;
  for (std::size_t i = 0; i < 8; ++i) out[16 + i] = static_cast<std::byte>((total >> (8 * i)) & 0xffU);
  w.u32(detail::crc32c(out));
  return out;
}

namespace detail {

/// The fields of the server section.
struct server_fields {
  std::uint64_t next_round = 0, seed = 0, layout_hash = 0, elements = 0;
  std::uint32_t type = 0, tensors = 0;
  std::uint64_t population = 0;
};

inline server_fields read_server_section(std::span<const std::byte> payload) {
  state_reader r("server", payload);
  server_fields f;
  f.next_round = r.u64("next round");
  f.seed = r.u64("seed");
  f.layout_hash = r.u64("layout hash");
  f.elements = r.u64("elements");
  f.type = r.u32("dtype");
  f.tensors = r.u32("tensors");
  f.population = r.u64("sampler population");
  r.expect_end("after the server fields");
  return f;
}

/// The saved element type and layout against the model's (invalid_config naming both).
template <class T>
void check_model_fields(const server_fields& f, const model_layout& layout) {
  if (f.type != static_cast<std::uint32_t>(dtype_of<T>))
    throw invalid_config("saved for elements of dtype " + std::to_string(f.type) + ", this model's are " +
                         to_string(dtype_of<T>) + " (" + std::to_string(static_cast<unsigned>(dtype_of<T>)) +
                         ")");
  if (f.layout_hash != layout.hash() || f.elements != layout.total_size() ||
      f.tensors != layout.num_tensors())
    throw invalid_config(
        "saved for a model of " + std::to_string(f.tensors) + " tensors, " + std::to_string(f.elements) +
        " elements (layout hash " + std::to_string(f.layout_hash) + "); this server's model has " +
        std::to_string(layout.num_tensors()) + " tensors, " + std::to_string(layout.total_size()) +
        " elements (layout hash " + std::to_string(layout.hash()) + ")");
}

/// The model section into `model` (sized by the layout, not by the bytes): exactly its
/// elements, every one finite.
template <class T>
void read_model_section(std::span<const std::byte> payload, flat_model<T>& model) {
  state_reader r("model", payload);
  if (payload.size() != model.size() * sizeof(T))
    r.fail(std::to_string(payload.size()) + " bytes, the layout's " + std::to_string(model.size()) +
           " elements take " + std::to_string(model.size() * sizeof(T)));
  r.values(model.span(), "model values");
  const std::span<const T> values = model.span();
  for (std::size_t i = 0; i < values.size(); ++i)
    if (!std::isfinite(values[i]))
      r.fail("element " + std::to_string(i) + " is " + std::to_string(values[i]) + ", not finite");
}

/// restore_checkpoint_bytes with `source` naming the bytes in messages.
template <class Server, class... Extras>
void restore_from_bytes(const std::string& source, Server& s, std::span<const std::byte> bytes,
                        Extras&... extras) {
  check_checkpointable<Server, Extras...>();
  using traits = server_traits<Server>;
  using T = typename traits::value_type;
  using Optimizer = typename traits::optimizer;
  using Hooks = typename traits::hooks;
  const checkpoint_sections sections = read_sections(source, bytes, 4 + sizeof...(Extras));
  const auto context = [&source](std::size_t i) { return source + ", " + section_name(i) + " section"; };

  // 1. server: the layout, element type, seed and population must be this server's.
  std::uint64_t next_round = 0;
  with_context(context(0), [&] {
    const server_fields f = read_server_section(sections.payloads[0]);
    check_model_fields<T>(f, s.layout());
    if (f.seed != s.options().seed)
      throw invalid_config("saved by a server with seed " + std::to_string(f.seed) + ", this one has seed " +
                           std::to_string(s.options().seed) + ": the clients sampled would differ");
    if (f.population != population_of(s))
      throw invalid_config("saved by a server sampling from " + std::to_string(f.population) +
                           " clients, this one samples from " + std::to_string(population_of(s)));
    next_round = f.next_round;
  });

  // 2. model: exactly the layout's elements, every one finite. Sized by this server's layout.
  flat_model<T> model(s.layout());
  with_context(context(1), [&] { read_model_section(sections.payloads[1], model); });

  // 3–5. optimizer, hooks, extras: parsed against this server's, nothing changed yet.
  Optimizer optimizer = with_context(context(2), [&] {
    return Optimizer(checkpoint_codec<Optimizer>::parse(s.optimizer(), sections.payloads[2]));
  });
  auto hooks_state = with_context(context(3), [&] {
    return checkpoint_codec<Hooks>::parse(std::as_const(s.hooks()), sections.payloads[3]);
  });
  auto extras_state = [&]<std::size_t... I>(std::index_sequence<I...>) {
    return std::tuple<typename checkpoint_codec<Extras>::parsed...>(with_context(context(4 + I), [&] {
      return checkpoint_codec<Extras>::parse(std::as_const(extras), sections.payloads[4 + I]);
    })...);
  }
  (std::index_sequence_for<Extras...>{});

  // Commit: nothing below throws (replace_state's layout check was made above).
  s.replace_state(std::move(model), std::move(optimizer), next_round);
  checkpoint_codec<Hooks>::adopt(s.hooks(), std::move(hooks_state));
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (checkpoint_codec<Extras>::adopt(extras, std::move(std::get<I>(extras_state))), ...);
  }
  (std::index_sequence_for<Extras...>{});
}

} // namespace detail

/// Restores `s` (and `extras`, in the order they were saved) from checkpoint bytes; see the file
/// comment for what is checked. Throws malformed_message / invalid_config naming the section and
/// the values; `s` and `extras` are then exactly unchanged.
template <class Server, class... Extras>
requires detail::any_server<Server>
void restore_checkpoint_bytes(Server& s, std::span<const std::byte> bytes, Extras&... extras) {
  detail::restore_from_bytes(std::string("checkpoint"), s, bytes, extras...);
}

/// The model of the checkpoint at `path` alone, for a warm start: a federation that begins from
/// a saved (e.g. centrally pre-trained) model, at round 0 with fresh optimizer state. The whole
/// file is checked as restore_checkpoint checks it (size limit, magic, version, length, checksum,
/// section directory), then the server section's element type and layout against `layout`, and
/// every value finite; the optimizer, hooks and extra sections are not interpreted. Throws as
/// restore_checkpoint does. `limits.max_file_bytes` = 0: 16 × the model's bytes + 64 MiB.
template <class T>
requires std::is_floating_point_v<T>
[[nodiscard]] flat_model<T> load_checkpoint_model(const std::filesystem::path& path,
                                                  const model_layout& layout,
                                                  const checkpoint_limits& limits = {}) {
  const std::string who = "checkpoint '" + path.string() + "'";
  const std::uint64_t model_bytes = static_cast<std::uint64_t>(layout.total_size()) * sizeof(T);
  const std::uint64_t limit = limits.max_file_bytes != 0 ? limits.max_file_bytes
                              : model_bytes > (std::numeric_limits<std::uint64_t>::max() >> 5)
                                  ? std::numeric_limits<std::uint64_t>::max()
                                  : 16 * model_bytes + (std::uint64_t{64} << 20);
  const std::vector<std::byte> bytes = detail::read_file(path, limit);
  const detail::checkpoint_sections sections = detail::read_sections(who, bytes, 0);
  flat_model<T> model(layout);
  detail::with_context(who + ", server section", [&] {
    detail::check_model_fields<T>(detail::read_server_section(sections.payloads[0]), layout);
  });
  detail::with_context(who + ", model section",
                       [&] { detail::read_model_section(sections.payloads[1], model); });
  return model;
}

/// Saves the checkpoint of `s` (and `extras`) to `path` atomically (see the file comment). Call
/// it between rounds. Throws fedpp::error when the file cannot be written; `path` is then as it was.
template <class Server, class... Extras>
requires detail::any_server<Server>
void save_checkpoint(const Server& s, const std::filesystem::path& path, const Extras&... extras) {
  const std::vector<std::byte> bytes = checkpoint_bytes(s, extras...);
  detail::write_file_atomically(path, bytes);
}

/// Saves when `schedule` says this server is due (after every k-th round); true when it saved.
template <class Server, class... Extras>
requires detail::any_server<Server>
bool save_checkpoint_if_due(const Server& s, const checkpoint_schedule& schedule, const Extras&... extras) {
  if (!schedule.due(s.round())) return false;
  save_checkpoint(s, schedule.path, extras...);
  return true;
}

/// Restores `s` (and `extras`, in the order they were saved) from the checkpoint at `path`.
/// Throws invalid_config for a missing file or a checkpoint of another configuration,
/// malformed_message for bytes that do not decode, fedpp::error for a failed read; `s` and
/// `extras` are then exactly unchanged.
template <class Server, class... Extras>
requires detail::any_server<Server> &&
    (checkpoint_part<Extras>&&...) void restore_checkpoint(Server& s, const std::filesystem::path& path,
                                                           const checkpoint_limits& limits,
                                                           Extras&... extras) {
  detail::check_checkpointable<Server, Extras...>();
  const std::uint64_t limit =
      limits.max_file_bytes != 0
          ? limits.max_file_bytes
          : detail::default_max_file_bytes(checkpoint_bytes(s, extras...).size(), s, extras...);
  const std::vector<std::byte> bytes = detail::read_file(path, limit);
  detail::restore_from_bytes("checkpoint '" + path.string() + "'", s, std::span<const std::byte>(bytes),
                             extras...);
}

/// restore_checkpoint with the default limits.
template <class Server, class... Extras>
requires detail::any_server<Server> &&
    (checkpoint_part<Extras>&&...) void restore_checkpoint(Server& s, const std::filesystem::path& path,
                                                           Extras&... extras) {
  restore_checkpoint(s, path, checkpoint_limits{}, extras...);
}

} // namespace fedpp

#undef FEDPP_CHECKPOINT_POSIX
