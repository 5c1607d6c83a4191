// Split neural networks (vertical FL): the split model's gradients against an independent unsplit
// reference in double (checked itself by finite differences), concat and sum, with and without
// cut-layer clipping; every refusal of a message with the party unchanged; the cut-layer noise's
// statistics; bit-identical reruns; and two parties training over the in-process transport in two
// threads on data that neither party could learn alone.
#include "fedpp/privacy/secure_rng.hpp"
#include "fedpp/random/rng.hpp"
#include "fedpp/transport/in_process_transport.hpp"
#include "fedpp/vertical/split_nn.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <optional>
#include <set>
#include <span>
#include <thread>
#include <vector>

namespace {

namespace v = fedpp::vertical;
using fedpp::envelope;
using fedpp::message;

// --- An unsplit reference: the whole network as plain loops in double -----------------------------

/// One dense stack, as split_nn_mlp defines it (weights [out, in] row-major then bias, per layer).
struct naive_stack {
  std::vector<std::size_t> widths;
  bool relu_output;

  [[nodiscard]] std::size_t size() const {
    std::size_t s = 0;
    for (std::size_t l = 1; l < widths.size(); ++l) s += widths[l] * widths[l - 1] + widths[l];
    return s;
  }
  [[nodiscard]] bool relu(std::size_t l) const { return l + 2 < widths.size() || relu_output; }

  /// acts[0] = x (n × w0); acts[l + 1] = act(acts[l] Wᵀ + b).
  std::vector<std::vector<double>> forward(const std::vector<double>& p, const std::vector<double>& x,
                                           std::size_t n) const {
    std::vector<std::vector<double>> acts{x};
    std::size_t off = 0;
    for (std::size_t l = 0; l + 1 < widths.size(); ++l) {
      const std::size_t in = widths[l], out = widths[l + 1];
      std::vector<double> a(n * out);
      for (std::size_t r = 0; r < n; ++r)
        for (std::size_t o = 0; o < out; ++o) {
          double s = p[off + out * in + o];
          for (std::size_t i = 0; i < in; ++i) s += acts[l][r * in + i] * p[off + o * in + i];
          a[r * out + o] = relu(l) ? std::max(0.0, s) : s;
        }
      acts.push_back(a);
      off += out * in + out;
    }
    return acts;
  }

  /// Gradient of the parameters (into g) and of the input, given dA of the output.
  std::vector<double> backward(const std::vector<double>& p, const std::vector<std::vector<double>>& acts,
                               std::vector<double> da, std::size_t n, std::vector<double>& g) const {
    g.assign(size(), 0.0);
    std::vector<std::size_t> offs;
    std::size_t off = 0;
    for (std::size_t l = 0; l + 1 < widths.size(); ++l) {
      offs.push_back(off);
      off += widths[l + 1] * widths[l] + widths[l + 1];
    }
    for (std::size_t l = widths.size() - 1; l-- > 0;) {
      const std::size_t in = widths[l], out = widths[l + 1], o0 = offs[l];
      if (relu(l))
        for (std::size_t i = 0; i < n * out; ++i)
          if (!(acts[l + 1][i] > 0)) da[i] = 0;
      std::vector<double> din(n * in, 0.0);
      for (std::size_t r = 0; r < n; ++r)
        for (std::size_t o = 0; o < out; ++o) {
          const double d = da[r * out + o];
          g[o0 + out * in + o] += d;
          for (std::size_t i = 0; i < in; ++i) {
            g[o0 + o * in + i] += d * acts[l][r * in + i];
            din[r * in + i] += d * p[o0 + o * in + i];
          }
        }
      da = std::move(din);
    }
    return da;
  }
};

struct reference_result {
  double loss = 0;
  std::vector<std::vector<double>> bottom_grads; // per party
  std::vector<double> top_grad;
};

/// Loss and gradients of top(combine(clip(bottom_p(x_p)))) on n rows: the network without any
/// cut. Parties p ≥ 1 have their activation rows clipped to `clip` when clip > 0.
reference_result reference(const std::vector<naive_stack>& bottoms,
                           const std::vector<std::vector<double>>& bparams, const naive_stack& top,
                           const std::vector<double>& tparams, const std::vector<std::vector<double>>& xs,
                           const std::vector<std::uint8_t>& y, std::size_t n, bool concat, double clip) {
  const std::size_t parties = bottoms.size();
  std::vector<std::vector<std::vector<double>>> acts(parties);
  std::vector<std::vector<double>> h(parties), raw(parties);
  std::vector<std::vector<double>> scale(parties, std::vector<double>(n, 1.0)),
      norm(parties, std::vector<double>(n));
  std::size_t top_w = 0;
  for (std::size_t p = 0; p < parties; ++p) {
    acts[p] = bottoms[p].forward(bparams[p], xs[p], n);
    raw[p] = acts[p].back();
    h[p] = raw[p];
    const std::size_t k = bottoms[p].widths.back();
    if (p > 0 && clip > 0)
      for (std::size_t r = 0; r < n; ++r) {
        double s = 0;
        for (std::size_t j = 0; j < k; ++j) s += raw[p][r * k + j] * raw[p][r * k + j];
        norm[p][r] = std::sqrt(s);
        if (norm[p][r] > clip) {
          scale[p][r] = clip / norm[p][r];
          for (std::size_t j = 0; j < k; ++j) h[p][r * k + j] *= scale[p][r];
        }
      }
    top_w = concat ? top_w + k : k;
  }
  std::vector<double> z(n * top_w, 0.0);
  for (std::size_t r = 0; r < n; ++r) {
    std::size_t off = 0;
    for (std::size_t p = 0; p < parties; ++p) {
      const std::size_t k = bottoms[p].widths.back();
      for (std::size_t j = 0; j < k; ++j) z[r * top_w + (concat ? off : 0) + j] += h[p][r * k + j];
      off += k;
    }
  }
  const auto tacts = top.forward(tparams, z, n);
  const auto& logits = tacts.back();
  const std::size_t c = top.widths.back();
  reference_result out;
  std::vector<double> dl(n * c);
  for (std::size_t r = 0; r < n; ++r) {
    double m = -1e300;
    for (std::size_t j = 0; j < c; ++j) m = std::max(m, logits[r * c + j]);
    double s = 0;
    for (std::size_t j = 0; j < c; ++j) s += std::exp(logits[r * c + j] - m);
    out.loss += (std::log(s) + m - logits[r * c + y[r]]) / static_cast<double>(n);
    for (std::size_t j = 0; j < c; ++j)
      dl[r * c + j] =
          (std::exp(logits[r * c + j] - m) / s - (j == y[r] ? 1.0 : 0.0)) / static_cast<double>(n);
  }
  const auto dz = top.backward(tparams, tacts, dl, n, out.top_grad);
  out.bottom_grads.resize(parties);
  std::size_t off = 0;
  for (std::size_t p = 0; p < parties; ++p) {
    const std::size_t k = bottoms[p].widths.back();
    std::vector<double> dh(n * k);
    for (std::size_t r = 0; r < n; ++r)
      for (std::size_t j = 0; j < k; ++j) dh[r * k + j] = dz[r * top_w + (concat ? off : 0) + j];
    if (p > 0 && clip > 0)
      for (std::size_t r = 0; r < n; ++r)
        if (scale[p][r] < 1) { // d/dh of h·C/‖h‖ = (C/‖h‖)(I − h hᵀ/‖h‖²)
          double dot = 0;
          for (std::size_t j = 0; j < k; ++j) dot += raw[p][r * k + j] * dh[r * k + j];
          for (std::size_t j = 0; j < k; ++j)
            dh[r * k + j] =
                scale[p][r] * (dh[r * k + j] - dot / (norm[p][r] * norm[p][r]) * raw[p][r * k + j]);
        }
    bottoms[p].backward(bparams[p], acts[p], dh, n, out.bottom_grads[p]);
    off += k;
  }
  return out;
}

// --- Fixtures -------------------------------------------------------------------------------------

/// Random features for `rows` examples of `width` values, deterministic in `seed`.
template <class T>
std::vector<T> random_rows(std::size_t rows, std::size_t width, std::uint64_t seed) {
  fedpp::rng gen(seed);
  std::vector<T> x(rows * width);
  for (auto& v : x) v = static_cast<T>(2.0 * gen.uniform() - 1.0);
  return x;
}

template <class T>
v::split_nn_rows<T> rows_of(const std::vector<T>& x, std::size_t width) {
  return {x.data(), x.size() / width, width, width};
}

/// A session of one label holder and `feature_parties` feature parties over one in-process hub:
/// party p has `in[p]` features, a bottom in[p] → hidden → cut[p], and the top model.
template <class T>
struct session {
  v::split_nn_config config;
  fedpp::in_process_transport hub;
  std::vector<fedpp::in_process_endpoint> eps;
  std::vector<std::vector<T>> data;
  std::vector<std::uint8_t> labels;
  std::optional<v::split_nn_label_party<T>> label;
  std::vector<v::split_nn_feature_party<T>> features;

  session(std::vector<std::size_t> in, std::vector<std::size_t> cut, v::split_nn_combine combine,
          std::size_t rows, std::size_t batch, v::split_nn_feature_options fo = {},
          v::split_nn_label_options lo = {}, std::size_t hidden = 5, std::size_t top_hidden = 6,
          std::size_t classes = 3)
      : config(endpoints(in.size()), cut, combine, batch) {
    for (std::size_t p = 0; p < in.size(); ++p) {
      eps.push_back(hub.endpoint(config.endpoint(p)));
      data.push_back(random_rows<T>(rows, in[p], 100 + p));
    }
    fedpp::rng gen(7);
    for (std::size_t r = 0; r < rows; ++r) labels.push_back(static_cast<std::uint8_t>(gen.below(classes)));
    v::split_nn_mlp<T> b0({in[0], hidden, cut[0]}, true);
    v::split_nn_mlp<T> top({config.top_input_width(), top_hidden, classes}, false);
    std::vector<T> pb(b0.num_parameters()), pt(top.num_parameters());
    b0.initialize(pb, 11);
    top.initialize(pt, 12);
    label.emplace(config, b0, pb, top, pt, lo,
                  fedpp::privacy::secure_rng::reproducible(fedpp::privacy::reproducible_seed{1}));
    for (std::size_t p = 1; p < in.size(); ++p) {
      v::split_nn_mlp<T> b({in[p], hidden, cut[p]}, true);
      std::vector<T> pp(b.num_parameters());
      b.initialize(pp, 20 + p);
      features.emplace_back(
          config, p, b, pp, fo,
          fedpp::privacy::secure_rng::reproducible(fedpp::privacy::reproducible_seed{1 + p}));
    }
  }

  static std::vector<fedpp::endpoint_id> endpoints(std::size_t parties) {
    std::vector<fedpp::endpoint_id> e{fedpp::server_endpoint};
    for (std::size_t p = 1; p < parties; ++p) e.push_back(40 + p);
    return e;
  }

  [[nodiscard]] v::split_nn_rows<T> rows(std::size_t p) const {
    const std::size_t w = p == 0 ? label->bottom().input_width() : features[p - 1].bottom().input_width();
    return rows_of(data[p], w);
  }

  /// The activation envelopes of every feature party for batch `ids`, as the label holder receives them.
  std::vector<envelope>
  activations(std::span<const std::uint64_t> ids,
              v::split_nn_message_kind kind = v::split_nn_message_kind::train_activations) {
    for (std::size_t p = 1; p < config.num_parties(); ++p)
      eps[p].send(config.endpoint(0), features[p - 1].forward(kind, ids, rows(p)));
    std::vector<envelope> got;
    while (auto e = eps[0].try_receive()) got.push_back(std::move(*e));
    return got;
  }

  /// One whole training step in this thread.
  v::split_nn_scores step(std::span<const std::uint64_t> ids) {
    auto acts = activations(ids);
    auto r = label->train_step(ids, rows(0), labels, acts);
    for (std::size_t p = 1; p < config.num_parties(); ++p) {
      eps[0].send(config.endpoint(p), r.gradients[p - 1]);
      features[p - 1].backward(*eps[p].try_receive());
    }
    return r.scores;
  }
};

template <class T>
std::vector<double> as_double(std::span<const T> x) {
  return {x.begin(), x.end()};
}

/// Checks the split step's gradients against the reference on batch `ids`.
void expect_matches_reference(session<double>& s, std::span<const std::uint64_t> ids, double clip) {
  const std::size_t n = ids.size(), parties = s.config.num_parties();
  std::vector<naive_stack> bottoms;
  std::vector<std::vector<double>> bparams, xs;
  for (std::size_t p = 0; p < parties; ++p) {
    const auto& m = p == 0 ? s.label->bottom() : s.features[p - 1].bottom();
    bottoms.push_back({m.widths(), m.relu_output()});
    bparams.push_back(as_double(p == 0 ? s.label->bottom_parameters() : s.features[p - 1].parameters()));
    std::vector<double> x;
    for (auto id : ids)
      for (std::size_t j = 0; j < m.input_width(); ++j) x.push_back(s.data[p][id * m.input_width() + j]);
    xs.push_back(x);
  }
  const naive_stack top{s.label->top().widths(), false};
  const auto tparams = as_double(s.label->top_parameters());
  std::vector<std::uint8_t> y;
  for (auto id : ids) y.push_back(s.labels[id]);
  const auto ref = reference(bottoms, bparams, top, tparams, xs, y, n,
                             s.config.combine() == v::split_nn_combine::concat, clip);
  const auto scores = s.step(ids);
  EXPECT_NEAR(scores.mean_loss(), ref.loss, 1e-12);
  const auto compare = [](std::span<const double> got, const std::vector<double>& want, const char* what) {
    ASSERT_EQ(got.size(), want.size()) << what;
    double worst = 0, scale = 0;
    for (std::size_t i = 0; i < got.size(); ++i) {
      worst = std::max(worst, std::abs(got[i] - want[i]));
      scale = std::max(scale, std::abs(want[i]));
    }
    EXPECT_LE(worst, 1e-10) << what;
    EXPECT_GT(scale, 1e-4) << what << ": the gradient should not be (nearly) zero";
  };
  compare(s.label->top_gradient(), ref.top_grad, "top");
  compare(s.label->bottom_gradient(), ref.bottom_grads[0], "label holder's bottom");
  for (std::size_t p = 1; p < parties; ++p)
    compare(s.features[p - 1].gradient(), ref.bottom_grads[p], "feature party");
}

// --- Gradients ------------------------------------------------------------------------------------

TEST(SplitNN, ReferenceAgreesWithFiniteDifferences) {
  // The reference itself, against central differences of its loss (concat, clipping active).
  const std::vector<naive_stack> bottoms{{{3, 4, 2}, true}, {{2, 3, 2}, true}};
  const naive_stack top{{4, 3, 3}, false};
  fedpp::rng gen(3);
  const auto rnd = [&](std::size_t k) {
    std::vector<double> x(k);
    for (auto& v : x) v = 2 * gen.uniform() - 1;
    return x;
  };
  std::vector<std::vector<double>> bp{rnd(bottoms[0].size()), rnd(bottoms[1].size())};
  auto tp = rnd(top.size());
  const std::size_t n = 4;
  const std::vector<std::vector<double>> xs{rnd(n * 3), rnd(n * 2)};
  const std::vector<std::uint8_t> y{0, 2, 1, 2};
  const double clip = 0.3;
  const auto base = reference(bottoms, bp, top, tp, xs, y, n, true, clip);
  const double h = 1e-6;
  for (std::size_t i = 0; i < tp.size(); ++i) {
    auto up = tp, down = tp;
    up[i] += h;
    down[i] -= h;
    const double fd = (reference(bottoms, bp, top, up, xs, y, n, true, clip).loss -
                       reference(bottoms, bp, top, down, xs, y, n, true, clip).loss) /
                      (2 * h);
    EXPECT_NEAR(base.top_grad[i], fd, 1e-7) << "top " << i;
  }
  for (std::size_t p = 0; p < 2; ++p)
    for (std::size_t i = 0; i < bp[p].size(); ++i) {
      auto up = bp, down = bp;
      up[p][i] += h;
      down[p][i] -= h;
      const double fd = (reference(bottoms, up, top, tp, xs, y, n, true, clip).loss -
                         reference(bottoms, down, top, tp, xs, y, n, true, clip).loss) /
                        (2 * h);
      EXPECT_NEAR(base.bottom_grads[p][i], fd, 1e-7) << "party " << p << " parameter " << i;
    }
}

TEST(SplitNN, ConcatGradientsEqualTheUnsplitModel) {
  session<double> s({4, 3, 5}, {3, 2, 4}, v::split_nn_combine::concat, 30, 8);
  const std::vector<std::uint64_t> ids{5, 0, 17, 29, 3, 11, 8};
  expect_matches_reference(s, ids, 0);
  // Parameters moved by exactly −lr·gradient; the next step matches again.
  const std::vector<std::uint64_t> more{1, 2, 28};
  expect_matches_reference(s, more, 0);
  EXPECT_EQ(s.label->step(), 2U);
  EXPECT_EQ(s.features[0].step(), 2U);
}

TEST(SplitNN, SumGradientsEqualTheUnsplitModel) {
  session<double> s({4, 3, 5}, {3, 3, 3}, v::split_nn_combine::sum, 30, 8);
  const std::vector<std::uint64_t> ids{9, 4, 21, 2, 13};
  expect_matches_reference(s, ids, 0);
}

TEST(SplitNN, ClippedActivationsBackpropagateThroughTheClip) {
  v::split_nn_feature_options fo;
  fo.activation_noise.clip = 0.05; // below every row's norm: all rows clipped
  session<double> s({4, 6}, {3, 4}, v::split_nn_combine::concat, 20, 8, fo);
  const std::vector<std::uint64_t> ids{1, 7, 3, 19, 0, 12};
  expect_matches_reference(s, ids, 0.05);
}

// --- Messages and their refusals -----------------------------------------------------------------

TEST(SplitNN, MessageRoundTrip) {
  const std::vector<std::uint64_t> ids{4, 9};
  const std::vector<float> values{1, 2, 3, 4, 5, 6};
  const auto m = v::encode_split_nn_message(v::split_nn_message_kind::gradients, 17, 99, 2, ids, 3,
                                            std::span<const float>(values));
  std::vector<float> out(6);
  v::read_split_nn_message(envelope{99, 5, m}, {v::split_nn_message_kind::gradients, 17, 99, 2, ids, 3, 1e6},
                           std::span<float>(out));
  EXPECT_EQ(out, values);
  // 96-byte wire header + 32-byte payload header, padded to 64, then 2 ids and 6 floats.
  EXPECT_EQ(m.size(), 128U + 32 + 16 + 24);
}

/// The label holder's state, to check that a refusal changed nothing.
struct label_snapshot {
  std::vector<float> bottom, top;
  std::uint64_t step;
  explicit label_snapshot(const v::split_nn_label_party<float>& l)
      : bottom(l.bottom_parameters().begin(), l.bottom_parameters().end()),
        top(l.top_parameters().begin(), l.top_parameters().end()), step(l.step()) {}
  bool operator==(const label_snapshot&) const = default;
};

/// Re-encodes `m` (a float activation message of party 1) with fields changed.
message forged(const message& m, v::split_nn_message_kind kind, std::uint64_t step, fedpp::endpoint_id sender,
               std::uint32_t party, std::vector<std::uint64_t> ids, std::size_t width,
               std::vector<float> values) {
  (void)m;
  return v::encode_split_nn_message(kind, step, sender, party, ids, width, std::span<const float>(values));
}

TEST(SplitNN, LabelHolderRefusesBadActivations) {
  session<float> s({4, 3}, {3, 2}, v::split_nn_combine::concat, 20, 4);
  const std::vector<std::uint64_t> ids{3, 1, 4};
  const auto party = s.config.endpoint(1);
  auto good = s.activations(ids);
  ASSERT_EQ(good.size(), 1U);
  std::vector<float> vals(ids.size() * 2);
  v::read_split_nn_message(good[0], {v::split_nn_message_kind::train_activations, 0, party, 1, ids, 2, 1e6},
                           std::span<float>(vals));
  const label_snapshot before(*s.label);
  using kind = v::split_nn_message_kind;
  using why = v::split_nn_refusal;
  const auto expect_refused = [&](std::vector<envelope> in, why reason, const char* what) {
    try {
      (void)s.label->train_step(ids, s.rows(0), s.labels, in);
      ADD_FAILURE() << what << ": accepted";
    } catch (const v::split_nn_protocol_error& e) {
      EXPECT_EQ(e.reason(), reason) << what << ": " << e.what();
    }
    EXPECT_EQ(label_snapshot(*s.label), before) << what;
  };
  const auto env = [&](const message& m, fedpp::endpoint_id from) {
    return envelope{from, fedpp::server_endpoint, m};
  };
  const auto& m = good[0].message;
  expect_refused({env(m, 77)}, why::wrong_sender, "an endpoint outside the session");
  expect_refused({env(forged(m, kind::train_activations, 0, 1234, 1, ids, 2, vals), party)},
                 why::wrong_sender, "a claimed sender other than the envelope's");
  expect_refused({env(forged(m, kind::eval_activations, 0, party, 1, ids, 2, vals), party)}, why::wrong_kind,
                 "evaluation activations in a training step");
  expect_refused({env(forged(m, kind::gradients, 0, party, 1, ids, 2, vals), party)}, why::wrong_kind,
                 "a gradient message");
  expect_refused({env(forged(m, kind::train_activations, 1, party, 1, ids, 2, vals), party)},
                 why::out_of_order, "the next step");
  expect_refused({env(forged(m, kind::train_activations, 0, party, 1, {3, 1, 5}, 2, vals), party)},
                 why::wrong_batch, "another example in the batch");
  expect_refused({env(forged(m, kind::train_activations, 0, party, 1, {1, 3, 4}, 2, vals), party)},
                 why::wrong_batch, "the batch's examples in another order");
  expect_refused({env(forged(m, kind::train_activations, 0, party, 1, {3, 1}, 2, {1, 2, 3, 4}), party)},
                 why::wrong_shape, "a row short");
  expect_refused(
      {env(forged(m, kind::train_activations, 0, party, 1, ids, 3, std::vector<float>(9, 0.5F)), party)},
      why::wrong_shape, "a wider cut than agreed");
  expect_refused({env(forged(m, kind::train_activations, 0, party, 0, ids, 2, vals), party)},
                 why::wrong_shape, "another party's index");
  {
    const std::vector<double> d(vals.begin(), vals.end());
    expect_refused({env(v::encode_split_nn_message(kind::train_activations, 0, party, 1, ids, 2,
                                                   std::span<const double>(d)),
                        party)},
                   why::wrong_shape, "double values for a float session");
  }
  for (const float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    auto nv = vals;
    nv[3] = bad;
    expect_refused({env(forged(m, kind::train_activations, 0, party, 1, ids, 2, nv), party)}, why::non_finite,
                   "a NaN or an infinity");
  }
  {
    auto big = vals;
    big[0] = 1.5e6F; // finite, beyond the agreed bound of 1e6
    expect_refused({env(forged(m, kind::train_activations, 0, party, 1, ids, 2, big), party)},
                   why::out_of_range, "an activation beyond the agreed bound");
  }
  {
    std::vector<std::byte> bytes(m.bytes().begin(), m.bytes().end());
    bytes[bytes.size() - 3] ^= std::byte{0x40};
    expect_refused({env(message::copy_of(bytes), party)}, why::malformed, "a flipped bit (CRC-32C)");
    bytes.resize(100);
    expect_refused({env(message::copy_of(bytes), party)}, why::malformed, "truncated bytes");
    bytes.assign(4096, std::byte{1});
    expect_refused({env(message::copy_of(bytes), party)}, why::wrong_shape,
                   "more bytes than the tensor needs");
  }
  expect_refused({env(m, party), env(m, party)}, why::out_of_order, "two messages from one party");
  expect_refused({}, why::timeout, "no message from the party");
  // After all that, the genuine message is taken and the step completes.
  auto r = s.label->train_step(ids, s.rows(0), s.labels, good);
  EXPECT_EQ(s.label->step(), 1U);
  EXPECT_EQ(r.gradients.size(), 1U);
  EXPECT_FALSE(label_snapshot(*s.label) == before);
}

TEST(SplitNN, FeaturePartyRefusesBadGradients) {
  session<float> s({4, 3}, {3, 2}, v::split_nn_combine::concat, 20, 4);
  const std::vector<std::uint64_t> ids{3, 1, 4};
  auto& f = s.features[0];
  EXPECT_THROW(f.backward(envelope{}), fedpp::invalid_config); // nothing pending
  auto acts = s.activations(ids);
  EXPECT_TRUE(f.awaiting_gradient());
  EXPECT_THROW((void)f.forward(v::split_nn_message_kind::train_activations, ids, s.rows(1)),
               fedpp::invalid_config);
  auto r = s.label->train_step(ids, s.rows(0), s.labels, acts);
  const auto& g = r.gradients[0];
  std::vector<float> vals(6);
  v::read_split_nn_message(envelope{fedpp::server_endpoint, 41, g},
                           {v::split_nn_message_kind::gradients, 0, fedpp::server_endpoint, 1, ids, 2, 1e6},
                           std::span<float>(vals));
  const std::vector<float> params(f.parameters().begin(), f.parameters().end());
  using why = v::split_nn_refusal;
  const auto from_label = [](const message& m) { return envelope{fedpp::server_endpoint, 41, m}; };
  const auto forge = [&](std::uint64_t step, std::vector<std::uint64_t> batch, std::vector<float> x) {
    return v::encode_split_nn_message(v::split_nn_message_kind::gradients, step, fedpp::server_endpoint, 1,
                                      batch, 2, std::span<const float>(x));
  };
  const auto expect_refused = [&](const envelope& e, why reason, const char* what) {
    try {
      f.backward(e);
      ADD_FAILURE() << what << ": accepted";
    } catch (const v::split_nn_protocol_error& err) {
      EXPECT_EQ(err.reason(), reason) << what << ": " << err.what();
    }
    EXPECT_TRUE(std::equal(params.begin(), params.end(), f.parameters().begin())) << what;
    EXPECT_EQ(f.step(), 0U) << what;
    EXPECT_TRUE(f.awaiting_gradient()) << what;
  };
  expect_refused(envelope{42, 41, g}, why::wrong_sender, "from a feature party, not the label holder");
  expect_refused(from_label(forge(1, ids, vals)), why::out_of_order, "a later step");
  expect_refused(from_label(forge(0, {3, 1, 2}, vals)), why::wrong_batch, "another batch");
  auto nan = vals;
  nan[0] = std::numeric_limits<float>::quiet_NaN();
  expect_refused(from_label(forge(0, ids, nan)), why::non_finite, "a NaN");
  auto huge = vals;
  huge[1] = -2e6F;
  expect_refused(from_label(forge(0, ids, huge)), why::out_of_range, "a gradient beyond the agreed bound");
  expect_refused(
      from_label(v::encode_split_nn_message(v::split_nn_message_kind::eval_activations, 0,
                                            fedpp::server_endpoint, 1, ids, 2, std::span<const float>(vals))),
      why::wrong_kind, "activations instead of gradients");
  {
    const std::vector<float> wide(9, 0.1F);
    expect_refused(
        from_label(v::encode_split_nn_message(v::split_nn_message_kind::gradients, 0, fedpp::server_endpoint,
                                              1, ids, 3, std::span<const float>(wide))),
        why::wrong_shape, "rows of another width");
  }
  f.backward(from_label(g));
  EXPECT_EQ(f.step(), 1U);
  EXPECT_FALSE(f.awaiting_gradient());
  EXPECT_FALSE(std::equal(params.begin(), params.end(), f.parameters().begin()));
}

TEST(SplitNN, StepsWhoseGradientsOverflowAreRefused) {
  // Values within the bound can still overflow a step; the step is then refused as a whole.
  const v::split_nn_config c({fedpp::server_endpoint, 5}, {2, 2}, v::split_nn_combine::concat, 4);
  const std::vector<float> x{0.5F, -0.25F, 1, 0.75F, -1, 0.5F};
  const v::split_nn_rows<float> rows{x.data(), 3, 2, 2};
  const std::vector<std::uint8_t> y{0, 1, 0};
  const std::vector<std::uint64_t> ids{0, 2};
  const auto gen = [] {
    return fedpp::privacy::secure_rng::reproducible(fedpp::privacy::reproducible_seed{3});
  };
  // The label holder: top weights of 1e34 turn activations of 1e5 into infinite logits.
  v::split_nn_mlp<float> bottom({2, 2}, true), top({4, 3, 2}, false);
  std::vector<float> pb(bottom.num_parameters(), 0.5F), pt(top.num_parameters(), 1e34F);
  v::split_nn_label_party<float> label(c, bottom, pb, top, pt, {}, gen());
  const std::vector<float> acts(4, 1e5F);
  const auto m = v::encode_split_nn_message(v::split_nn_message_kind::train_activations, 0, 5, 1, ids, 2,
                                            std::span<const float>(acts));
  const std::vector<envelope> in{envelope{5, fedpp::server_endpoint, m}};
  try {
    (void)label.train_step(ids, rows, y, in);
    ADD_FAILURE() << "an overflowing step was taken";
  } catch (const v::split_nn_protocol_error& e) {
    EXPECT_EQ(e.reason(), v::split_nn_refusal::non_finite) << e.what();
    EXPECT_EQ(e.from(), 5U);
  }
  EXPECT_EQ(label.step(), 0U);
  EXPECT_TRUE(std::all_of(label.top_parameters().begin(), label.top_parameters().end(),
                          [](float w) { return w == 1e34F; }));
  // A feature party whose hidden layer outputs 1e37 (bias) and cut layer 1: a gradient of 1e5
  // gives ∂W₂ = 1e42, beyond float.
  v::split_nn_mlp<float> deep({2, 3, 2}, true);
  std::vector<float> pd(deep.num_parameters(), 0.0F);
  for (std::size_t i = 6; i < 9; ++i) pd[i] = 1e37F;  // fc1.bias
  for (std::size_t i = 15; i < 17; ++i) pd[i] = 1.0F; // fc2.bias
  v::split_nn_feature_party<float> feature(c, 1, deep, pd, {}, gen());
  (void)feature.forward(v::split_nn_message_kind::train_activations, ids, rows);
  const std::vector<float> g(4, 1e5F);
  const auto gm = v::encode_split_nn_message(v::split_nn_message_kind::gradients, 0, fedpp::server_endpoint,
                                             1, ids, 2, std::span<const float>(g));
  try {
    feature.backward(envelope{fedpp::server_endpoint, 5, gm});
    ADD_FAILURE() << "an overflowing step was taken";
  } catch (const v::split_nn_protocol_error& e) {
    EXPECT_EQ(e.reason(), v::split_nn_refusal::non_finite) << e.what();
  }
  EXPECT_EQ(feature.step(), 0U);
  EXPECT_TRUE(feature.awaiting_gradient());
  EXPECT_TRUE(std::equal(pd.begin(), pd.end(), feature.parameters().begin()));
}

TEST(SplitNN, ConfigurationRefusals) {
  using fedpp::invalid_config;
  const std::vector<fedpp::endpoint_id> two{fedpp::server_endpoint, 1};
  EXPECT_THROW(v::split_nn_config({fedpp::server_endpoint}, {4}, v::split_nn_combine::concat, 8),
               invalid_config);
  EXPECT_THROW(v::split_nn_config(two, {4}, v::split_nn_combine::concat, 8), invalid_config);
  EXPECT_THROW(v::split_nn_config(two, {4, 0}, v::split_nn_combine::concat, 8), invalid_config);
  EXPECT_THROW(v::split_nn_config(two, {4, 3}, v::split_nn_combine::sum, 8), invalid_config);
  EXPECT_THROW(v::split_nn_config(two, {4, 4}, v::split_nn_combine::concat, 0), invalid_config);
  EXPECT_THROW(v::split_nn_config({1, 1}, {4, 4}, v::split_nn_combine::concat, 8), invalid_config);
  EXPECT_THROW(v::split_nn_config(two, {4, 4}, v::split_nn_combine::concat, 8, 0), invalid_config);
  EXPECT_THROW(v::split_nn_config(two, {4, 4}, v::split_nn_combine::concat, 8,
                                  std::numeric_limits<double>::infinity()),
               invalid_config);
  const v::split_nn_config c(two, {4, 3}, v::split_nn_combine::concat, 8);
  EXPECT_EQ(c.top_input_width(), 7U);
  EXPECT_EQ(c.top_offset(1), 4U);
  v::split_nn_mlp<float> bottom({5, 3}, true);
  std::vector<float> p(bottom.num_parameters(), 0.1F);
  auto gen = [] { return fedpp::privacy::secure_rng::reproducible(fedpp::privacy::reproducible_seed{1}); };
  EXPECT_NO_THROW(v::split_nn_feature_party<float>(c, 1, bottom, p, {}, gen()));
  EXPECT_THROW(v::split_nn_feature_party<float>(c, 0, bottom, p, {}, gen()),
               invalid_config); // the label holder
  EXPECT_THROW(v::split_nn_feature_party<float>(c, 2, bottom, p, {}, gen()), invalid_config); // no such party
  EXPECT_THROW(v::split_nn_feature_party<float>(c, 1, bottom, {0.1F}, {}, gen()), invalid_config); // size
  v::split_nn_feature_options noise_without_clip;
  noise_without_clip.activation_noise.noise_multiplier = 1;
  EXPECT_THROW(v::split_nn_feature_party<float>(c, 1, bottom, p, noise_without_clip, gen()), invalid_config);
  v::split_nn_feature_options bad_lr;
  bad_lr.learning_rate = std::numeric_limits<double>::quiet_NaN();
  EXPECT_THROW(v::split_nn_feature_party<float>(c, 1, bottom, p, bad_lr, gen()), invalid_config);
  auto nan_params = p;
  nan_params[0] = std::numeric_limits<float>::infinity();
  EXPECT_THROW(v::split_nn_feature_party<float>(c, 1, bottom, nan_params, {}, gen()), invalid_config);
  v::split_nn_mlp<float> wrong_cut({5, 4}, true);
  EXPECT_THROW(v::split_nn_feature_party<float>(c, 1, wrong_cut,
                                                std::vector<float>(wrong_cut.num_parameters()), {}, gen()),
               invalid_config);
  v::split_nn_mlp<float> b0({2, 4}, true), top_relu({7, 3}, true), top({7, 3}, false),
      top_wrong_in({6, 3}, false);
  std::vector<float> pb(b0.num_parameters()), pt(top.num_parameters());
  EXPECT_NO_THROW(v::split_nn_label_party<float>(c, b0, pb, top, pt, {}, gen()));
  EXPECT_THROW(v::split_nn_label_party<float>(c, b0, pb, top_relu, pt, {}, gen()), invalid_config);
  EXPECT_THROW(v::split_nn_label_party<float>(c, b0, pb, top_wrong_in,
                                              std::vector<float>(top_wrong_in.num_parameters()), {}, gen()),
               invalid_config);
}

// --- Cut-layer noise ------------------------------------------------------------------------------

TEST(SplitNN, ActivationNoiseIsClippedRowsPlusGaussianOfSigmaTimesC) {
  const double clip = 0.5, sigma = 0.8;
  v::split_nn_feature_options plain, noisy;
  noisy.activation_noise = {clip, sigma};
  plain.activation_noise = {clip, 0};
  session<double> a({3, 6}, {2, 16}, v::split_nn_combine::concat, 256, 256, plain, {}, 8);
  session<double> b({3, 6}, {2, 16}, v::split_nn_combine::concat, 256, 256, noisy, {}, 8);
  std::vector<std::uint64_t> ids(256);
  std::iota(ids.begin(), ids.end(), std::uint64_t{0});
  const auto read = [&](session<double>& s) {
    auto m = s.features[0].forward(v::split_nn_message_kind::eval_activations, ids, s.rows(1));
    std::vector<double> out(256 * 16);
    v::read_split_nn_message(
        envelope{s.config.endpoint(1), 0, m},
        {v::split_nn_message_kind::eval_activations, 0, s.config.endpoint(1), 1, ids, 16, 1e6},
        std::span<double>(out));
    return out;
  };
  const auto clipped = read(a), released = read(b);
  for (std::size_t r = 0; r < 256; ++r) {
    double s = 0;
    for (std::size_t j = 0; j < 16; ++j) s += clipped[r * 16 + j] * clipped[r * 16 + j];
    EXPECT_LE(std::sqrt(s), clip * (1 + 1e-12)) << "row " << r;
  }
  // 4096 noise draws: mean 0 (±4 standard errors) and variance (σC)² (±5 %, about 4.5 standard errors).
  double sum = 0, sq = 0;
  for (std::size_t i = 0; i < released.size(); ++i) {
    const double e = released[i] - clipped[i];
    sum += e;
    sq += e * e;
  }
  const double count = static_cast<double>(released.size()), sd = sigma * clip;
  EXPECT_NEAR(sum / count, 0.0, 4 * sd / std::sqrt(count));
  EXPECT_NEAR(sq / count / (sd * sd), 1.0, 0.05);
}

TEST(SplitNN, GradientNoiseClipsPerExampleGradients) {
  // With a tiny per-example bound every returned row has norm exactly C_g / n.
  v::split_nn_label_options lo;
  lo.gradient_noise = {1e-4, 0};
  session<double> s({3, 4}, {2, 5}, v::split_nn_combine::concat, 40, 10, {}, lo);
  const std::vector<std::uint64_t> ids{0, 1, 2, 3, 4, 5, 6, 7};
  auto acts = s.activations(ids);
  const auto r = s.label->train_step(ids, s.rows(0), s.labels, acts);
  std::vector<double> g(8 * 5);
  v::read_split_nn_message(envelope{fedpp::server_endpoint, 0, r.gradients[0]},
                           {v::split_nn_message_kind::gradients, 0, fedpp::server_endpoint, 1, ids, 5, 1e6},
                           std::span<double>(g));
  for (std::size_t row = 0; row < 8; ++row) {
    double sq = 0;
    for (std::size_t j = 0; j < 5; ++j) sq += g[row * 5 + j] * g[row * 5 + j];
    EXPECT_NEAR(std::sqrt(sq), 1e-4 / 8, 1e-15);
  }
}

// --- Training over the transport -----------------------------------------------------------------

/// A vertical XOR: party 0 sees a, party 1 sees b, the label is [a₀ > 0] XOR [b₀ > 0]; neither
/// half predicts it alone (50 %). Trains E epochs with the two parties in two threads over the
/// in-process transport and returns (accuracy on held-out rows, both parties' parameters).
struct xor_run {
  double accuracy = 0;
  std::vector<float> label_params, feature_params;
  std::uint64_t bytes = 0;
};

xor_run train_xor(std::uint64_t seed, std::size_t epochs, double noise_multiplier = 0) {
  const std::size_t train = 1200, test = 400, width = 4;
  std::vector<float> a = random_rows<float>(train + test, width, 1),
                     b = random_rows<float>(train + test, width, 2);
  std::vector<std::uint8_t> y(train + test);
  for (std::size_t i = 0; i < y.size(); ++i)
    y[i] = static_cast<std::uint8_t>((a[i * width] > 0) != (b[i * width] > 0));
  const v::split_nn_config config({fedpp::server_endpoint, 0}, {8, 8}, v::split_nn_combine::concat, 32);
  fedpp::in_process_transport hub;
  auto label_ep = hub.endpoint(fedpp::server_endpoint);
  auto feature_ep = hub.endpoint(0);
  v::split_nn_mlp<float> bottom({width, 16, 8}, true), top({16, 16, 2}, false);
  std::vector<float> p0(bottom.num_parameters()), p1(bottom.num_parameters()), pt(top.num_parameters());
  bottom.initialize(p0, seed);
  bottom.initialize(p1, seed + 1);
  top.initialize(pt, seed + 2);
  v::split_nn_label_options lo;
  lo.learning_rate = 0.2;
  v::split_nn_feature_options fo;
  fo.learning_rate = 0.2;
  if (noise_multiplier > 0) fo.activation_noise = {4.0, noise_multiplier};
  v::split_nn_label_party<float> label(
      config, bottom, p0, top, pt, lo,
      fedpp::privacy::secure_rng::reproducible(fedpp::privacy::reproducible_seed{seed}));
  v::split_nn_feature_party<float> feature(
      config, 1, bottom, p1, fo,
      fedpp::privacy::secure_rng::reproducible(fedpp::privacy::reproducible_seed{seed + 9}));
  const v::split_nn_rows<float> rows_a{a.data(), train + test, width, width},
      rows_b{b.data(), train + test, width, width};
  const v::split_nn_schedule schedule(train, 32, seed);
  std::vector<std::uint64_t> held_out(test);
  std::iota(held_out.begin(), held_out.end(), std::uint64_t{train});
  std::thread other([&] {
    for (std::size_t e = 0; e < epochs; ++e) feature.train_epoch(feature_ep, schedule, e, rows_b);
    feature.evaluate(feature_ep, held_out, rows_b);
  });
  for (std::size_t e = 0; e < epochs; ++e) (void)label.train_epoch(label_ep, schedule, e, rows_a, y);
  const auto scores = label.evaluate(label_ep, held_out, rows_a, y);
  other.join();
  xor_run out;
  out.accuracy = scores.accuracy();
  out.label_params.assign(label.top_parameters().begin(), label.top_parameters().end());
  out.label_params.insert(out.label_params.end(), label.bottom_parameters().begin(),
                          label.bottom_parameters().end());
  out.feature_params.assign(feature.parameters().begin(), feature.parameters().end());
  out.bytes = label_ep.bytes_sent() + label_ep.bytes_received();
  return out;
}

TEST(SplitNN, TwoPartiesLearnWhatNeitherCouldAlone) {
  const auto run = train_xor(5, 30);
  EXPECT_GT(run.accuracy, 0.9);
  // 38 batches of ≤ 32 rows × 8 floats each way per epoch, plus ids and headers.
  EXPECT_GT(run.bytes, 30U * 1200 * 8 * 4 * 2);
}

TEST(SplitNN, RerunsAreBitIdentical) {
  const auto a = train_xor(8, 2), b = train_xor(8, 2);
  EXPECT_EQ(a.label_params, b.label_params);
  EXPECT_EQ(a.feature_params, b.feature_params);
  const auto c = train_xor(8, 2, 0.5), d = train_xor(8, 2, 0.5);
  EXPECT_EQ(c.label_params, d.label_params);
  EXPECT_EQ(c.feature_params, d.feature_params);
  EXPECT_NE(a.feature_params, c.feature_params); // the noise changed the training
}

TEST(SplitNN, ScheduleIsASharedPermutationPerEpoch) {
  const v::split_nn_schedule s(103, 10, 4);
  EXPECT_EQ(s.num_batches(), 11U);
  const auto e0 = s.epoch_order(0), e1 = s.epoch_order(1);
  EXPECT_EQ(std::set<std::uint64_t>(e0.begin(), e0.end()).size(), 103U);
  EXPECT_EQ(*std::max_element(e0.begin(), e0.end()), 102U);
  EXPECT_NE(e0, e1);
  EXPECT_EQ(e0, v::split_nn_schedule(103, 10, 4).epoch_order(0));
  EXPECT_EQ(s.batch(e0, 10).size(), 3U);
  EXPECT_THROW((void)s.batch(e0, 11), fedpp::invalid_config);
}

} // namespace
