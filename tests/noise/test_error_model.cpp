// The probabilistic error model (noise/error_model.hpp) against direct enumerations of its formulas: error maps,
// histograms, predict (layer and per-channel, grouped operands, signed and unsigned) for drum, column truncation and
// mitchell; measure against a brute-force sum of E over every output; Monte-Carlo converging to predict; measured
// std matching the prediction on i.i.d. operands; the fixed-field model against the variance over random weights of
// fixed rows; predict_all; the exact multiplier; the typed errors.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "approxnn/gemm/plan.hpp"
#include "approxnn/multipliers/families.hpp"
#include "approxnn/multipliers/table.hpp"
#include "approxnn/noise/error_model.hpp"
#include "approxnn/noise/trace_operands.hpp"
#include "test_support.hpp"

namespace {

namespace am = approxnn::multipliers;
namespace ag = approxnn::gemm;
namespace an = approxnn::noise;
using approxnn::signedness;

/// A layer's operands, owned; codes drawn from per-row distributions so that fields differ.
struct owned_layer {
    signedness scheme = signedness::unsigned_operands;
    std::size_t groups = 1, pixels = 0, depth = 0, out_channels = 0;
    std::vector<std::uint8_t> rows, weights;

    [[nodiscard]] an::layer_operands view() const {
        return {scheme, groups, pixels, depth, out_channels, rows, weights};
    }
};

/// A code of value v (clamped to the scheme's range).
std::uint8_t code_of(double v, signedness s) {
    const double lo = s == signedness::signed_operands ? -128 : 0;
    const double hi = s == signedness::signed_operands ? 127 : 255;
    return static_cast<std::uint8_t>(static_cast<int>(std::lround(std::min(hi, std::max(lo, v)))));
}

/// Activations: each row has its own scale (several field types), ReLU-like for unsigned (many codes near the zero
/// point), symmetric for signed; weights: a symmetric bell around the zero point.
owned_layer synthetic_layer(signedness s, std::size_t groups, std::size_t pixels, std::size_t depth,
                            std::size_t out_channels, unsigned seed) {
    owned_layer l{s, groups, pixels, depth, out_channels, {}, {}};
    std::mt19937 rng(seed);
    std::normal_distribution<double> normal(0.0, 1.0);
    std::uniform_real_distribution<double> scale(5.0, 60.0);
    const double zero = s == signedness::signed_operands ? 0.0 : 20.0;
    l.rows.resize(groups * pixels * depth);
    for (std::size_t r = 0; r < groups * pixels; ++r) {
        const double sc = scale(rng);
        for (std::size_t k = 0; k < depth; ++k) {
            double v = sc * normal(rng);
            if (s == signedness::unsigned_operands) v = zero + std::max(0.0, v) * 2.0;
            l.rows[r * depth + k] = code_of(v, s);
        }
    }
    l.weights.resize(out_channels * depth);
    const double weight_zero = s == signedness::signed_operands ? 0.0 : 128.0;
    for (std::size_t o = 0; o < out_channels; ++o) {
        const double sc = 15.0 + 5.0 * static_cast<double>(o % 3);  // channels differ in spread
        for (std::size_t k = 0; k < depth; ++k) l.weights[o * depth + k] = code_of(weight_zero + sc * normal(rng), s);
    }
    return l;
}

int value(std::uint8_t code, signedness s) { return am::operand_value(code, s); }

an::error_map map_of(const std::string& family, signedness s, std::vector<int> params = {}) {
    return an::error_map(am::design_instance(family, s, std::move(params)).table());
}

/// The formula of noise-and-qos.md §3 enumerated directly: for each neuron, mu and s^2 by double loops over (a, w).
an::error_prediction brute_force_predict(const an::error_map& e, const an::operand_histograms& h, bool per_channel) {
    std::vector<double> mus, s2s;
    const std::size_t per_group = h.out_channels / h.groups;
    for (std::size_t i = 0; i < h.fields(); ++i) {
        const double* p = h.activations.data() + i * 256;
        std::vector<const double*> weight_histograms;
        if (per_channel) {
            for (std::size_t c = 0; c < per_group; ++c) {
                weight_histograms.push_back(h.channel_weights.data() + (h.field_groups[i] * per_group + c) * 256);
            }
        } else {
            weight_histograms.push_back(h.weights.data());
        }
        for (const double* q : weight_histograms) {
            double mu = 0;
            for (int a = 0; a < 256; ++a) {
                for (int w = 0; w < 256; ++w) {
                    mu += p[a] * q[w] * e(static_cast<std::uint8_t>(a), static_cast<std::uint8_t>(w));
                }
            }
            double s2 = 0;
            for (int a = 0; a < 256; ++a) {
                for (int w = 0; w < 256; ++w) {
                    const double d = e(static_cast<std::uint8_t>(a), static_cast<std::uint8_t>(w)) - mu;
                    s2 += p[a] * q[w] * d * d;
                }
            }
            mus.push_back(mu);
            s2s.push_back(s2);
        }
    }
    const double k = static_cast<double>(h.fan_in);
    double mean_mu = 0, inner = 0;
    for (std::size_t n = 0; n < mus.size(); ++n) {
        mean_mu += mus[n];
        inner += mus[n] * mus[n] + s2s[n] / k;
    }
    mean_mu /= static_cast<double>(mus.size());
    inner /= static_cast<double>(mus.size());
    return {k * mean_mu, k * std::sqrt(std::max(0.0, inner - mean_mu * mean_mu))};
}

/// sum_k E(a_k, w_k) for every output of the given rows (row-major over (row, channel of its group)).
std::vector<double> brute_force_errors(const an::error_map& e, const owned_layer& l, const std::vector<std::uint64_t>& rows) {
    std::vector<double> out;
    const std::size_t per_group = l.out_channels / l.groups;
    for (const std::uint64_t r : rows) {
        const std::size_t g = r / l.pixels;
        for (std::size_t o = g * per_group; o < (g + 1) * per_group; ++o) {
            std::int64_t sum = 0;
            for (std::size_t k = 0; k < l.depth; ++k) sum += e(l.rows[r * l.depth + k], l.weights[o * l.depth + k]);
            out.push_back(static_cast<double>(sum));
        }
    }
    return out;
}

an::error_prediction moments(const std::vector<double>& v) {
    long double sum = 0;
    for (const double x : v) sum += x;
    const long double mean = sum / static_cast<long double>(v.size());
    long double ss = 0;
    for (const double x : v) ss += (x - mean) * (x - mean);
    return {static_cast<double>(mean), static_cast<double>(std::sqrt(ss / static_cast<long double>(v.size())))};
}

void check_close(const an::error_prediction& got, const an::error_prediction& want, double tolerance) {
    const double scale = std::max({1.0, std::abs(want.mean), want.std});
    CHECK(std::abs(got.mean - want.mean) <= tolerance * scale);
    CHECK(std::abs(got.std - want.std) <= tolerance * std::max(1.0, want.std));
}

double relative(double got, double want) { return std::abs(got - want) / std::abs(want); }

struct named_map {
    std::string family;
    std::vector<int> params;
};

const std::vector<named_map>& families() {
    static const std::vector<named_map> f{{"drum", {4}}, {"column_truncation", {6}}, {"mitchell", {}}};
    return f;
}

}  // namespace

TEST_CASE("error_map: E(a, w) = M(a, w) - value(a) value(w) by raw codes, from a table in either order and a plan") {
    for (const signedness s : {signedness::unsigned_operands, signedness::signed_operands}) {
        const am::design_instance d("drum", s, {3});
        const am::table_multiplier t = d.table();
        const an::error_map e(t);
        CHECK(e.operand_signedness() == s);
        CHECK(e.name() == t.name());
        CHECK_FALSE(e.is_exact());
        // The same multiplier stored weight-first.
        std::vector<std::int32_t> swapped(am::table_entries);
        for (int a = 0; a < 256; ++a) {
            for (int w = 0; w < 256; ++w) swapped[static_cast<std::size_t>(w * 256 + a)] = t.multiply(a, w);
        }
        const an::error_map from_swapped(am::table_multiplier(s, approxnn::operand_position::first, swapped, "swapped"));
        const an::error_map from_plan{ag::multiplier_plan(d)};
        std::size_t wrong = 0;
        for (int a = 0; a < 256; ++a) {
            for (int w = 0; w < 256; ++w) {
                const auto ca = static_cast<std::uint8_t>(a), cw = static_cast<std::uint8_t>(w);
                const std::int32_t want = t.multiply(a, w) - value(ca, s) * value(cw, s);
                wrong += e(ca, cw) != want || e.data()[a * 256 + w] != want || e.data_by_weight()[w * 256 + a] != want ||
                         from_swapped(ca, cw) != want || from_plan(ca, cw) != want;
            }
        }
        CHECK(wrong == 0);
        CHECK(an::error_map(am::table_multiplier::exact(s)).is_exact());
    }
}

TEST_CASE("sample_histograms: the sampled rows' code frequencies, the weight histograms, deterministic per seed") {
    const owned_layer l = synthetic_layer(signedness::unsigned_operands, 3, 40, 12, 6, 11);
    an::histogram_options o;
    o.fields = 25;
    o.seed = 5;
    o.per_channel_weights = true;
    const an::operand_histograms h = an::sample_histograms(l.view(), o);
    REQUIRE(h.fields() == 25);
    CHECK(h.fan_in == 12);
    CHECK(h.groups == 3);
    CHECK(h.out_channels == 6);
    std::size_t wrong = 0;
    for (std::size_t i = 0; i < h.fields(); ++i) {
        const std::uint64_t r = h.field_rows[i];
        REQUIRE(r < 120);
        wrong += h.field_groups[i] != r / 40;
        std::vector<double> p(256, 0.0);
        for (std::size_t k = 0; k < 12; ++k) p[l.rows[r * 12 + k]] += 1.0 / 12.0;
        for (std::size_t c = 0; c < 256; ++c) wrong += std::abs(p[c] - h.activations[i * 256 + c]) > 1e-12;
        if (i > 0) wrong += h.field_rows[i] <= h.field_rows[i - 1];  // distinct, increasing
    }
    std::vector<double> pw(256, 0.0);
    for (const std::uint8_t w : l.weights) pw[w] += 1.0 / static_cast<double>(l.weights.size());
    for (std::size_t c = 0; c < 256; ++c) wrong += std::abs(pw[c] - h.weights[c]) > 1e-12;
    for (std::size_t ch = 0; ch < 6; ++ch) {
        std::vector<double> pc(256, 0.0);
        for (std::size_t k = 0; k < 12; ++k) pc[l.weights[ch * 12 + k]] += 1.0 / 12.0;
        for (std::size_t c = 0; c < 256; ++c) wrong += std::abs(pc[c] - h.channel_weights[ch * 256 + c]) > 1e-12;
    }
    CHECK(wrong == 0);
    CHECK(an::sample_histograms(l.view(), o).field_rows == h.field_rows);
    o.seed = 6;
    CHECK(an::sample_histograms(l.view(), o).field_rows != h.field_rows);
    o.fields = 1000;  // more than the 120 rows: every row once
    const an::operand_histograms all = an::sample_histograms(l.view(), o);
    REQUIRE(all.fields() == 120);
    for (std::size_t i = 0; i < 120; ++i) wrong += all.field_rows[i] != i;
    CHECK(wrong == 0);
    CHECK(!an::sample_histograms(l.view(), {}).has_channel_weights());
}

TEST_CASE("predict equals the formula enumerated over (a, w): drum, column truncation, mitchell; layer and "
          "per-channel; dense and grouped; signed and unsigned") {
    for (const signedness s : {signedness::unsigned_operands, signedness::signed_operands}) {
        struct shape {
            std::size_t groups, pixels, depth, out_channels;
        };
        for (const shape sh : {shape{1, 60, 27, 5}, shape{4, 20, 9, 4}, shape{2, 25, 18, 6}}) {
            const owned_layer l = synthetic_layer(s, sh.groups, sh.pixels, sh.depth, sh.out_channels, 3);
            an::histogram_options o;
            o.fields = 12;
            o.per_channel_weights = true;
            const an::operand_histograms h = an::sample_histograms(l.view(), o);
            for (const named_map& f : families()) {
                const an::error_map e = map_of(f.family, s, f.params);
                CAPTURE(e.name());
                CAPTURE(sh.groups);
                const an::error_prediction layer = an::predict(e, h, an::weight_model::layer, an::field_model::drawn);
                const an::error_prediction channel = an::predict(e, h, an::weight_model::per_channel, an::field_model::drawn);
                check_close(layer, brute_force_predict(e, h, false), 1e-9);
                check_close(channel, brute_force_predict(e, h, true), 1e-9);
                CHECK(layer.std > 0);
                CHECK(channel.std > 0);
            }
        }
    }
}

TEST_CASE("the exact multiplier: mean 0 and std 0 in predict, monte_carlo and measure") {
    for (const signedness s : {signedness::unsigned_operands, signedness::signed_operands}) {
        const owned_layer l = synthetic_layer(s, 2, 30, 16, 4, 7);
        an::histogram_options o;
        o.per_channel_weights = true;
        const an::operand_histograms h = an::sample_histograms(l.view(), o);
        const am::table_multiplier exact = am::table_multiplier::exact(s);
        const an::error_map e(exact);
        for (const an::weight_model m : {an::weight_model::layer, an::weight_model::per_channel}) {
            const an::error_prediction p = an::predict(e, h, m);
            const an::error_prediction mc = an::monte_carlo(e, h, 5000, 3, m);
            CHECK(p.mean == 0.0);
            CHECK(p.std == 0.0);
            CHECK(mc.mean == 0.0);
            CHECK(mc.std == 0.0);
        }
        const an::error_prediction measured = an::measure(ag::multiplier_plan(exact), l.view());
        CHECK(measured.mean == 0.0);
        CHECK(measured.std == 0.0);
    }
}

TEST_CASE("measure equals sum_k E(a_k, w_k) enumerated over every output; subsets are the seeded rows") {
    for (const signedness s : {signedness::unsigned_operands, signedness::signed_operands}) {
        struct shape {
            std::size_t groups, pixels, depth, out_channels;
        };
        for (const shape sh : {shape{1, 70, 27, 7}, shape{5, 33, 9, 5}, shape{2, 40, 50, 8}}) {
            const owned_layer l = synthetic_layer(s, sh.groups, sh.pixels, sh.depth, sh.out_channels, 21);
            const std::uint64_t rows = sh.groups * sh.pixels;
            std::vector<std::uint64_t> all(rows);
            for (std::uint64_t r = 0; r < rows; ++r) all[r] = r;
            for (const named_map& f : families()) {
                const am::design_instance d(f.family, s, f.params);
                const ag::multiplier_plan plan(d);
                const an::error_map e(d.table());
                CAPTURE(e.name());
                CAPTURE(sh.groups);
                const an::error_prediction want = moments(brute_force_errors(e, l, all));
                check_close(an::measure(plan, l.view(), rows), want, 1e-12);
                check_close(an::measure(plan, l.view(), 100000, 9), want, 1e-12);
                // A subset: the rows choose_rows picks for the seed, deterministic, different for another seed.
                const std::size_t subset = rows / 3;
                const an::error_prediction a = an::measure(plan, l.view(), subset, 4);
                const an::error_prediction b = an::measure(plan, l.view(), subset, 4);
                const an::error_prediction c = an::measure(plan, l.view(), subset, 5);
                CHECK(a.mean == b.mean);
                CHECK(a.std == b.std);
                CHECK((a.mean != c.mean || a.std != c.std));
                const auto chosen = an::detail::errmodel::choose_rows(rows, subset, 4);
                REQUIRE(chosen.size() == subset);
                check_close(a, moments(brute_force_errors(e, l, chosen)), 1e-12);
            }
        }
    }
}

TEST_CASE("measure: zero points do not matter (E is defined on codes) and the table and decomposed paths agree") {
    // column_truncation is an array design: its plan from the design decomposes, from the table it does not.
    const owned_layer l = synthetic_layer(signedness::unsigned_operands, 1, 300, 36, 16, 5);
    const am::design_instance d("column_truncation", signedness::unsigned_operands, {7});
    const an::error_prediction decomposed = an::measure(ag::multiplier_plan(d), l.view());
    const an::error_prediction table = an::measure(ag::multiplier_plan(d.table()), l.view());
    CHECK(decomposed.mean == table.mean);
    CHECK(decomposed.std == table.std);
    CHECK(decomposed.std > 0);
}

TEST_CASE("monte_carlo converges to predict: relative difference within 4/sqrt(neurons), under 3 % at 200k") {
    for (const signedness s : {signedness::unsigned_operands, signedness::signed_operands}) {
        const owned_layer l = synthetic_layer(s, 2, 200, 16, 6, 13);
        an::histogram_options o;
        o.fields = 64;
        o.per_channel_weights = true;
        const an::operand_histograms h = an::sample_histograms(l.view(), o);
        for (const named_map& f : families()) {
            const an::error_map e = map_of(f.family, s, f.params);
            CAPTURE(e.name());
            for (const an::weight_model m : {an::weight_model::layer, an::weight_model::per_channel}) {
                const an::error_prediction p = an::predict(e, h, m, an::field_model::drawn);
                for (const std::size_t neurons : {2000UL, 20000UL, 200000UL}) {
                    CAPTURE(neurons);
                    const an::error_prediction mc = an::monte_carlo(e, h, neurons, 17, m);
                    const double std_error = relative(mc.std, p.std);
                    const double mean_error = std::abs(mc.mean - p.mean) / p.std;
                    const double bound = 4.0 / std::sqrt(static_cast<double>(neurons));
                    CHECK(std_error < bound);
                    CHECK(mean_error < bound);
                    if (neurons == 200000) CHECK(std_error < 0.03);
                }
                // Deterministic per seed.
                const an::error_prediction x = an::monte_carlo(e, h, 3000, 99, m);
                const an::error_prediction y = an::monte_carlo(e, h, 3000, 99, m);
                CHECK(x.mean == y.mean);
                CHECK(x.std == y.std);
            }
        }
    }
}

TEST_CASE("i.i.d. operands: the measured std matches the predicted std within 5 %") {
    // The model's assumptions made true: rows of T field types, each row's codes i.i.d. from its type's
    // distribution p_t, every weight i.i.d. from p_w; the histograms given are those distributions (one field per
    // type, the types equally frequent). Only the finite sample (rows, channels sharing their weights) differs.
    constexpr std::size_t types = 6;
    for (const signedness s : {signedness::unsigned_operands, signedness::signed_operands}) {
        const bool is_signed = s == signedness::signed_operands;
        an::operand_histograms h;
        h.fan_in = 64;
        h.scheme = s;
        h.out_channels = 48;
        h.activations.assign(types * 256, 0.0);
        h.field_groups.assign(types, 0);
        h.weights.assign(256, 0.0);
        const auto normalise = [](double* p) {
            double total = 0;
            for (std::size_t c = 0; c < 256; ++c) total += p[c];
            for (std::size_t c = 0; c < 256; ++c) p[c] /= total;
        };
        for (std::size_t t = 0; t < types; ++t) {
            const double lambda = 4.0 + 12.0 * static_cast<double>(t);
            for (std::size_t c = 0; c < 256; ++c) {
                h.activations[t * 256 + c] = std::exp(-std::abs(value(static_cast<std::uint8_t>(c), s)) / lambda);
            }
            normalise(h.activations.data() + t * 256);
        }
        for (std::size_t c = 0; c < 256; ++c) {
            const double v = value(static_cast<std::uint8_t>(c), s) - (is_signed ? 0.0 : 128.0);
            h.weights[c] = std::exp(-v * v / (2.0 * 25.0 * 25.0));
        }
        normalise(h.weights.data());

        const auto draw = [](const double* p, std::mt19937& rng) {
            const double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
            double cumulative = 0;
            for (std::size_t c = 0; c < 256; ++c) {
                cumulative += p[c];
                if (u < cumulative) return static_cast<std::uint8_t>(c);
            }
            return std::uint8_t{255};
        };
        owned_layer l{s, 1, types * 1000, h.fan_in, h.out_channels, {}, {}};
        std::mt19937 rng(41);
        l.rows.resize(l.pixels * l.depth);
        for (std::size_t r = 0; r < l.pixels; ++r) {
            for (std::size_t k = 0; k < l.depth; ++k) l.rows[r * l.depth + k] = draw(h.activations.data() + (r % types) * 256, rng);
        }
        l.weights.resize(l.out_channels * l.depth);
        for (std::uint8_t& w : l.weights) w = draw(h.weights.data(), rng);
        for (const named_map& f : families()) {
            const am::design_instance d(f.family, s, f.params);
            const an::error_map e(d.table());
            CAPTURE(e.name());
            const an::error_prediction p = an::predict(e, h, an::weight_model::layer, an::field_model::drawn);
            const an::error_prediction measured = an::measure(ag::multiplier_plan(d), l.view(), l.pixels);
            CHECK(relative(p.std, measured.std) < 0.05);
            CHECK(std::abs(p.mean - measured.mean) < 0.1 * measured.std);
        }
    }
}

TEST_CASE("field_model::fixed: the variance over random weights of the sampled fields' own codes, enumerated; "
          "measured on many random-weight channels it is the closer model") {
    // Every row of the layer is a field (rows <= fields). For fixed rows and weights i.i.d. from p_w, a neuron on row i
    // has mean sum_k e1(a_ik) and variance sum_k (e2(a_ik) - e1(a_ik)^2); the population variance is the mean of the
    // variances plus the variance of the means. Computed from the rows, without the histograms.
    for (const signedness s : {signedness::unsigned_operands, signedness::signed_operands}) {
        const owned_layer l = synthetic_layer(s, 1, 300, 48, 8, 5);
        an::histogram_options o;
        o.fields = 512;
        const an::operand_histograms h = an::sample_histograms(l.view(), o);
        for (const named_map& f : families()) {
            const an::error_map e = map_of(f.family, s, f.params);
            CAPTURE(e.name());
            std::vector<double> e1(256, 0.0), e2(256, 0.0);
            for (int a = 0; a < 256; ++a) {
                for (int w = 0; w < 256; ++w) {
                    const double x = e(static_cast<std::uint8_t>(a), static_cast<std::uint8_t>(w));
                    e1[static_cast<std::size_t>(a)] += h.weights[static_cast<std::size_t>(w)] * x;
                    e2[static_cast<std::size_t>(a)] += h.weights[static_cast<std::size_t>(w)] * x * x;
                }
            }
            double sum_mean = 0, sum_mean2 = 0, sum_var = 0;
            for (std::size_t r = 0; r < l.pixels; ++r) {
                double mean = 0, var = 0;
                for (std::size_t k = 0; k < l.depth; ++k) {
                    const std::uint8_t a = l.rows[r * l.depth + k];
                    mean += e1[a];
                    var += e2[a] - e1[a] * e1[a];
                }
                sum_mean += mean;
                sum_mean2 += mean * mean;
                sum_var += var;
            }
            const double n = static_cast<double>(l.pixels);
            const double want_std = std::sqrt(sum_var / n + sum_mean2 / n - (sum_mean / n) * (sum_mean / n));
            const an::error_prediction fixed = an::predict(e, h, an::weight_model::layer, an::field_model::fixed);
            const an::error_prediction drawn = an::predict(e, h, an::weight_model::layer, an::field_model::drawn);
            CHECK(fixed.std == doctest::Approx(want_std).epsilon(1e-9));
            CHECK(fixed.mean == doctest::Approx(drawn.mean).epsilon(1e-12));
            CHECK(drawn.std >= fixed.std);  // the drawn model adds K mean(v_i) >= 0
        }
    }
    // Measured: rows with per-row scales (fields differ), 256 channels of weights drawn i.i.d. from one distribution.
    const owned_layer base = synthetic_layer(signedness::unsigned_operands, 1, 400, 72, 1, 9);
    owned_layer l = base;
    l.out_channels = 256;
    l.weights.resize(l.out_channels * l.depth);
    std::mt19937 rng(3);
    std::normal_distribution<double> normal(0.0, 1.0);
    for (std::uint8_t& w : l.weights) w = code_of(128.0 + 20.0 * normal(rng), signedness::unsigned_operands);
    const an::operand_histograms h = an::sample_histograms(l.view(), {});
    double drawn_error = 0, fixed_error = 0;
    for (const named_map& f : families()) {
        if (f.family == "exact") continue;
        const am::design_instance d(f.family, signedness::unsigned_operands, f.params);
        const an::error_map e(d.table());
        const double measured = an::measure(ag::multiplier_plan(d), l.view(), l.pixels).std;
        drawn_error += relative(an::predict(e, h, an::weight_model::layer, an::field_model::drawn).std, measured);
        fixed_error += relative(an::predict(e, h, an::weight_model::layer, an::field_model::fixed).std, measured);
    }
    MESSAGE("mean relative error of the std over the families: drawn fields " << drawn_error / families().size()
                                                                              << ", fixed fields "
                                                                              << fixed_error / families().size());
    CHECK(fixed_error < drawn_error);
}

TEST_CASE("predict_all equals predict element-wise, both weight models and both field models") {
    std::vector<an::operand_histograms> layers;
    an::histogram_options o;
    o.fields = 40;
    o.per_channel_weights = true;
    layers.push_back(an::sample_histograms(synthetic_layer(signedness::unsigned_operands, 1, 50, 27, 8, 1).view(), o));
    layers.push_back(an::sample_histograms(synthetic_layer(signedness::unsigned_operands, 8, 30, 9, 8, 2).view(), o));
    layers.push_back(an::sample_histograms(synthetic_layer(signedness::unsigned_operands, 1, 10, 64, 10, 3).view(), o));
    std::vector<an::error_map> maps;
    for (const am::design_instance& d : {am::design_instance("drum", signedness::unsigned_operands, {4}),
                                         am::design_instance("mitchell", signedness::unsigned_operands, {}),
                                         am::design_instance("exact", signedness::unsigned_operands, {}),
                                         am::design_instance("column_truncation", signedness::unsigned_operands, {8})}) {
        maps.emplace_back(d.table());
    }
    for (const an::weight_model m : {an::weight_model::layer, an::weight_model::per_channel}) {
        for (const an::field_model f : {an::field_model::drawn, an::field_model::fixed}) {
            const auto all = an::predict_all(maps, layers, m, f);
            REQUIRE(all.size() == layers.size());
            std::size_t wrong = 0;
            for (std::size_t l = 0; l < layers.size(); ++l) {
                REQUIRE(all[l].size() == maps.size());
                for (std::size_t k = 0; k < maps.size(); ++k) {
                    const an::error_prediction p = an::predict(maps[k], layers[l], m, f);
                    wrong += all[l][k].mean != p.mean || all[l][k].std != p.std;
                }
            }
            CHECK(wrong == 0);
        }
    }
    CHECK(an::predict_all(maps, {}).empty());
}

TEST_CASE("bad inputs throw typed errors naming the values") {
    using test_support::check_throws_with;
    const owned_layer good = synthetic_layer(signedness::unsigned_operands, 2, 10, 9, 4, 1);
    an::layer_operands bad = good.view();
    bad.pixels = 11;
    check_throws_with<approxnn::shape_error>([&] { (void)an::sample_histograms(bad); },
                                             {"activation_rows holds 180", "2 * 11 * 9 = 198"});
    check_throws_with<approxnn::shape_error>([&] { (void)an::measure(ag::multiplier_plan(am::table_multiplier::exact(
                                                                         signedness::unsigned_operands)),
                                                                     bad); },
                                             {"measure", "activation_rows holds 180"});
    bad = good.view();
    bad.out_channels = 3;
    check_throws_with<approxnn::shape_error>([&] { (void)an::sample_histograms(bad); },
                                             {"out_channels 3", "groups 2"});
    bad = good.view();
    bad.weights = bad.weights.subspan(1);
    check_throws_with<approxnn::shape_error>([&] { (void)an::sample_histograms(bad); }, {"weights holds 35", "4 * 9 = 36"});
    an::histogram_options none;
    none.fields = 0;
    check_throws_with<approxnn::parameter_error>([&] { (void)an::sample_histograms(good.view(), none); },
                                                 {"fields is 0"});

    const an::operand_histograms h = an::sample_histograms(good.view());
    const an::error_map signed_map = map_of("drum", signedness::signed_operands, {4});
    const an::error_map unsigned_map = map_of("drum", signedness::unsigned_operands, {4});
    check_throws_with<approxnn::parameter_error>([&] { (void)an::predict(signed_map, h); },
                                                 {"drum_s8_k4", "signed", "unsigned"});
    check_throws_with<approxnn::parameter_error>([&] { (void)an::predict(unsigned_map, h, an::weight_model::per_channel); },
                                                 {"per_channel"});
    check_throws_with<approxnn::parameter_error>([&] { (void)an::monte_carlo(unsigned_map, h, 0, 1); }, {"neurons is 0"});
    check_throws_with<approxnn::parameter_error>([&] { (void)an::monte_carlo(signed_map, h, 10, 1); }, {"drum_s8_k4"});
    const std::vector<an::error_map> maps{unsigned_map, signed_map};
    const std::vector<an::operand_histograms> layers{h};
    check_throws_with<approxnn::parameter_error>([&] { (void)an::predict_all(maps, layers); }, {"drum_s8_k4"});
    an::operand_histograms broken = h;
    broken.activations.pop_back();
    check_throws_with<approxnn::shape_error>([&] { (void)an::predict(unsigned_map, broken); },
                                             {"activations holds 5119", "20 fields"});
    broken = h;
    broken.field_groups.clear();
    broken.activations.clear();
    check_throws_with<approxnn::parameter_error>([&] { (void)an::predict(unsigned_map, broken); }, {"no sampled fields"});
    broken = h;
    broken.field_groups[0] = 7;
    check_throws_with<approxnn::shape_error>([&] { (void)an::predict(unsigned_map, broken); }, {"group 7", "groups 2"});
    const ag::multiplier_plan signed_plan(am::design_instance("drum", signedness::signed_operands, {4}));
    check_throws_with<approxnn::parameter_error>([&] { (void)an::measure(signed_plan, good.view()); },
                                                 {"drum_s8_k4", "signed"});
    const ag::multiplier_plan unsigned_plan(am::design_instance("drum", signedness::unsigned_operands, {4}));
    check_throws_with<approxnn::parameter_error>([&] { (void)an::measure(unsigned_plan, good.view(), 0); },
                                                 {"max_rows is 0"});
}

TEST_CASE("operands_of: a view of an operand trace") {
    approxnn::nn::operand_trace t;
    t.scheme = signedness::signed_operands;
    t.groups = 2;
    t.pixels = 3;
    t.depth = 4;
    t.out_channels = 6;
    t.activation_rows.assign(24, 1);
    t.weights.assign(24, 2);
    const an::layer_operands l = an::operands_of(t);
    CHECK(l.scheme == signedness::signed_operands);
    CHECK(l.groups == 2);
    CHECK(l.pixels == 3);
    CHECK(l.depth == 4);
    CHECK(l.out_channels == 6);
    CHECK(l.activation_rows.data() == t.activation_rows.data());
    CHECK(l.activation_rows.size() == 24);
    CHECK(l.weights.data() == t.weights.data());
    CHECK(l.weights.size() == 24);
}
