#pragma once
// The probabilistic error model (docs: noise-and-qos.md §3): a multiplier's error map and a layer's operand
// histograms -> the mean and standard deviation of the layer's accumulator error, with two references to check it
// against (Monte-Carlo on the same distributions, and the layer's product measured through the gemm kernels).
//
//   error_map           E(a, w) = M(a, w) - value(a) * value(w) over all 256 x 256 raw codes
//   layer_operands      a non-owning view of one layer's integer operands (the layout of nn::operand_trace)
//   sample_histograms   P sampled receptive fields' activation histograms, the weight histogram(s)
//   predict             the population model: mean = K mean_i mu_i, std = K sqrt(mean_i(mu_i^2 + s_i^2 / K) - mu^2)
//                       as published (field_model::drawn), or with each field's own codes held fixed (fixed, default)
//   predict_all         every (layer, multiplier) pair at once, over the thread pool
//   monte_carlo         K errors drawn per simulated neuron from the same distributions, summed
//   measure             sum_k E(a_k, w_k) of the real operands, for every output (or a seeded subset of rows)
//
// Units: every error_prediction is in integer units of the layer's int32 accumulator (codes, before scaling).
// Zero points cancel: E is defined on codes, so the approximate minus the exact accumulator of an affine layer is
// sum_k E(a_k, w_k) whatever the zero points are. Results are independent of the thread count.

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "approxnn/core/error.hpp"
#include "approxnn/core/parallel.hpp"
#include "approxnn/gemm/gemm.hpp"
#include "approxnn/gemm/matrix.hpp"
#include "approxnn/gemm/plan.hpp"
#include "approxnn/multipliers/families/exact.hpp"
#include "approxnn/multipliers/multiplier.hpp"
#include "approxnn/multipliers/table.hpp"

namespace approxnn::noise {

/// E(a, w) = M(a, w) - value(a) * value(w) for every pair of raw codes (activation a, weight w); value() is the
/// two's-complement value for signed multipliers and the raw byte for unsigned ones. Copies share the storage.
class error_map {
public:
    /// From a table in either operand order (the weight's position is taken from the table).
    explicit error_map(const multipliers::table_multiplier& t) {
        const multipliers::table_multiplier ordered = t.in_activation_weight_order();
        build(ordered.name(), ordered.operand_signedness(),
              [&](int a, int w) { return ordered.multiply(a, w); });
    }
    /// From a gemm plan (products by activation and weight code).
    explicit error_map(const gemm::multiplier_plan& plan) {
        build(plan.name(), plan.operand_signedness(), [&](int a, int w) {
            return plan.product(static_cast<std::uint8_t>(a), static_cast<std::uint8_t>(w));
        });
    }

    [[nodiscard]] signedness operand_signedness() const noexcept { return data_->sign; }
    [[nodiscard]] const std::string& name() const noexcept { return data_->name; }
    /// E(a, w) by raw codes.
    [[nodiscard]] std::int32_t operator()(std::uint8_t a, std::uint8_t w) const noexcept {
        return data_->by_activation[std::size_t{a} * 256 + w];
    }
    /// E laid out [a * 256 + w] (activation first).
    [[nodiscard]] const std::int32_t* data() const noexcept { return data_->by_activation.data(); }
    /// E laid out [w * 256 + a] (one weight's errors contiguous).
    [[nodiscard]] const std::int32_t* data_by_weight() const noexcept { return data_->by_weight.data(); }
    /// True when every error is 0.
    [[nodiscard]] bool is_exact() const noexcept { return data_->exact; }

private:
    struct storage {
        std::string name;
        signedness sign = signedness::unsigned_operands;
        bool exact = true;
        std::vector<std::int32_t> by_activation, by_weight;
    };

    template <class Product>
    void build(const std::string& name, signedness s, const Product& product) {
        auto d = std::make_shared<storage>();
        d->name = name;
        d->sign = s;
        d->by_activation.resize(multipliers::table_entries);
        d->by_weight.resize(multipliers::table_entries);
        for (int a = 0; a < 256; ++a) {
            for (int w = 0; w < 256; ++w) {
                const std::int64_t e =
                    std::int64_t{product(a, w)} - std::int64_t{multipliers::operand_value(static_cast<std::uint8_t>(a), s)} *
                                                      multipliers::operand_value(static_cast<std::uint8_t>(w), s);
                if (e < INT32_MIN || e > INT32_MAX) {
                    throw parameter_error("error_map '" + name + "': error " + std::to_string(e) + " at (" +
                                          std::to_string(a) + ", " + std::to_string(w) + ") does not fit int32");
                }
                const auto e32 = static_cast<std::int32_t>(e);
                d->by_activation[static_cast<std::size_t>(a * 256 + w)] = e32;
                d->by_weight[static_cast<std::size_t>(w * 256 + a)] = e32;
                d->exact = d->exact && e32 == 0;
            }
        }
        data_ = std::move(d);
    }

    std::shared_ptr<const storage> data_;
};

/// A non-owning view of one layer's integer operands (raw codes; the layout of nn::operand_trace):
/// activation_rows[(g * pixels + p) * depth + k] are the im2col rows (depth = fan-in per group), weights[o * depth + k];
/// out_channels is a multiple of groups and output channel o belongs to group o / (out_channels / groups).
struct layer_operands {
    signedness scheme = signedness::unsigned_operands;
    std::size_t groups = 1, pixels = 0, depth = 0, out_channels = 0;
    std::span<const std::uint8_t> activation_rows, weights;
};

struct histogram_options {
    std::size_t fields = 512;          ///< receptive fields sampled (all rows when the layer has no more)
    std::uint64_t seed = 1;            ///< which fields
    bool per_channel_weights = false;  ///< also one weight histogram per output channel
};

/// What the model needs from a layer. Histograms are probabilities over the 256 raw codes (each sums to 1).
struct operand_histograms {
    std::size_t fan_in = 0;  ///< K, products per output (depth of an im2col row)
    signedness scheme = signedness::unsigned_operands;
    std::size_t groups = 1, out_channels = 0;
    std::vector<double> activations;           ///< [field * 256 + code], one row per sampled receptive field
    std::vector<std::uint32_t> field_groups;   ///< the group of each field
    std::vector<std::uint64_t> field_rows;     ///< the im2col row (g * pixels + p) of each field
    std::vector<double> weights;               ///< [code], over every weight of the layer
    std::vector<double> channel_weights;       ///< [channel * 256 + code]; empty unless sampled per channel

    [[nodiscard]] std::size_t fields() const noexcept { return field_groups.size(); }
    [[nodiscard]] bool has_channel_weights() const noexcept { return !channel_weights.empty(); }
    [[nodiscard]] std::size_t channels_per_group() const noexcept { return groups == 0 ? 0 : out_channels / groups; }
};

/// Mean and standard deviation of an accumulator error, in integer units of the layer's accumulator.
struct error_prediction {
    double mean = 0;
    double std = 0;
};

/// Which weight distribution a neuron's weights come from.
enum class weight_model {
    layer,        ///< the layer-wide weight histogram (noise-and-qos.md §3)
    per_channel,  ///< the histogram of the neuron's output channel: neurons are (field, channel of its group) pairs
};

/// What a sampled receptive field stands for.
enum class field_model {
    /// noise-and-qos.md §3 as published: a neuron's K activations are fresh draws from its field's histogram, so the
    /// spread of e1(a) within a field counts in s_i^2 although the field's codes are fixed.
    drawn,
    /// A neuron's activations are the field's K codes themselves, only its weights are random: the within-field
    /// variance of a neuron is K (s_i^2 - v_i), v_i = sum_a p_i(a) e1(a)^2 - mu_i^2 the spread of e1 over the
    /// field's codes (which the drawn model counts twice: in s_i^2 and in Var(mu)).
    fixed,
};

namespace detail::errmodel {

/// splitmix64: small, fast and the same on every platform.
struct random_stream {
    std::uint64_t state;
    std::uint64_t next() noexcept {
        std::uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        return z ^ (z >> 31);
    }
    /// Uniform in [0, n), n > 0 (modulo bias below n / 2^64).
    std::uint64_t below(std::uint64_t n) noexcept { return next() % n; }
};

inline std::uint64_t mix_seed(std::uint64_t seed, std::uint64_t stream) noexcept {
    random_stream r{seed ^ (stream * 0xD1B54A32D192ED03ULL)};
    r.next();
    return r.next();
}

inline std::string scheme_name(signedness s) { return std::string(to_string(s)); }

inline void check_operands(const char* who, const layer_operands& l) {
    const std::string w(who);
    if (l.groups == 0) throw shape_error(w + ": groups is 0");
    if (l.depth == 0) throw shape_error(w + ": depth (fan-in) is 0");
    if (l.pixels == 0) throw shape_error(w + ": pixels is 0");
    if (l.out_channels == 0 || l.out_channels % l.groups != 0) {
        throw shape_error(w + ": out_channels " + std::to_string(l.out_channels) + " is not a positive multiple of groups " +
                          std::to_string(l.groups));
    }
    const std::size_t rows = l.groups * l.pixels * l.depth;
    if (l.activation_rows.size() != rows) {
        throw shape_error(w + ": activation_rows holds " + std::to_string(l.activation_rows.size()) +
                          " codes, groups * pixels * depth = " + std::to_string(l.groups) + " * " +
                          std::to_string(l.pixels) + " * " + std::to_string(l.depth) + " = " + std::to_string(rows));
    }
    if (l.weights.size() != l.out_channels * l.depth) {
        throw shape_error(w + ": weights holds " + std::to_string(l.weights.size()) +
                          " codes, out_channels * depth = " + std::to_string(l.out_channels) + " * " +
                          std::to_string(l.depth) + " = " + std::to_string(l.out_channels * l.depth));
    }
}

inline void check_histograms(const char* who, const operand_histograms& h, std::size_t index) {
    const std::string w = std::string(who) + (index == SIZE_MAX ? "" : " (histograms " + std::to_string(index) + ")");
    if (h.fan_in == 0) throw shape_error(w + ": fan_in is 0");
    if (h.fields() == 0) throw parameter_error(w + ": no sampled fields (0)");
    if (h.activations.size() != h.fields() * 256) {
        throw shape_error(w + ": activations holds " + std::to_string(h.activations.size()) + " probabilities for " +
                          std::to_string(h.fields()) + " fields (expected fields * 256 = " +
                          std::to_string(h.fields() * 256) + ")");
    }
    if (h.weights.size() != 256) {
        throw shape_error(w + ": weights holds " + std::to_string(h.weights.size()) + " probabilities, expected 256");
    }
    if (h.groups == 0 || h.out_channels == 0 || h.out_channels % h.groups != 0) {
        throw shape_error(w + ": out_channels " + std::to_string(h.out_channels) + " is not a positive multiple of groups " +
                          std::to_string(h.groups));
    }
    for (const std::uint32_t g : h.field_groups) {
        if (g >= h.groups) {
            throw shape_error(w + ": a field's group " + std::to_string(g) + " is not below groups " +
                              std::to_string(h.groups));
        }
    }
    if (h.has_channel_weights() && h.channel_weights.size() != h.out_channels * 256) {
        throw shape_error(w + ": channel_weights holds " + std::to_string(h.channel_weights.size()) +
                          " probabilities, expected out_channels * 256 = " + std::to_string(h.out_channels * 256));
    }
}

inline void check_model(const char* who, const error_map& e, const operand_histograms& h, weight_model model) {
    if (e.operand_signedness() != h.scheme) {
        throw parameter_error(std::string(who) + ": multiplier '" + e.name() + "' has " +
                              scheme_name(e.operand_signedness()) + " operands, the layer's operands are " +
                              scheme_name(h.scheme));
    }
    if (model == weight_model::per_channel && !h.has_channel_weights()) {
        throw parameter_error(std::string(who) + ": weight_model::per_channel needs per-channel weight histograms "
                                                 "(histogram_options::per_channel_weights)");
    }
}

/// sum_i x[i] * y[i] over 256 entries, four independent partial sums.
inline double dot256(const double* x, const double* y) noexcept {
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (std::size_t i = 0; i < 256; i += 4) {
        s0 += x[i] * y[i];
        s1 += x[i + 1] * y[i + 1];
        s2 += x[i + 2] * y[i + 2];
        s3 += x[i + 3] * y[i + 3];
    }
    return (s0 + s1) + (s2 + s3);
}

/// e1(a) = sum_w p_w(w) E(a, w), e2(a) = sum_w p_w(w) E(a, w)^2.
inline void weight_moments(const error_map& e, const double* p_w, double* e1, double* e2) noexcept {
    std::fill(e1, e1 + 256, 0.0);
    std::fill(e2, e2 + 256, 0.0);
    const std::int32_t* by_weight = e.data_by_weight();
    for (std::size_t w = 0; w < 256; ++w) {
        const double p = p_w[w];
        if (p == 0.0) continue;
        const std::int32_t* row = by_weight + w * 256;
        for (std::size_t a = 0; a < 256; ++a) {
            const double x = row[a];
            e1[a] += p * x;
            e2[a] += p * x * x;
        }
    }
}

/// The mixture over neurons: sums of mu, mu^2, the second moment m2 = s^2 + mu^2 and (fixed fields) the mean of
/// e1^2 over the field, q = v + mu^2.
struct mixture {
    double sum_mu = 0, sum_mu2 = 0, sum_m2 = 0, sum_q = 0;
    double neurons = 0;

    void add(double mu, double m2, double q = 0.0) noexcept {
        sum_mu += mu;
        sum_mu2 += mu * mu;
        sum_m2 += m2;
        sum_q += q;
        neurons += 1;
    }
    [[nodiscard]] error_prediction result(std::size_t fan_in, field_model fields = field_model::drawn) const noexcept {
        const double k = static_cast<double>(fan_in);
        const double mean_mu = sum_mu / neurons;
        const double mean_mu2 = sum_mu2 / neurons;
        // drawn: mean(s^2) = mean(m2 - mu^2); fixed: mean(s^2 - v) = mean(m2 - q).
        const double within = std::max(0.0, (sum_m2 - (fields == field_model::fixed ? sum_q : sum_mu2)) / neurons);
        const double between = std::max(0.0, mean_mu2 - mean_mu * mean_mu);
        return {k * mean_mu, std::sqrt(k * k * between + k * within)};
    }
};

/// predict() without the checks; scratch grows to what the model needs.
/// Per weight distribution 768 doubles of scratch: e1, e2 and e1^2.
inline void weight_moments_squared(const error_map& e, const double* p_w, double* out) noexcept {
    weight_moments(e, p_w, out, out + 256);
    for (std::size_t a = 0; a < 256; ++a) out[512 + a] = out[a] * out[a];
}

inline error_prediction predict_unchecked(const error_map& e, const operand_histograms& h, weight_model model,
                                          field_model fields_as, std::vector<double>& scratch) {
    if (e.is_exact()) return {};
    mixture m;
    const std::size_t fields = h.fields();
    const bool fixed = fields_as == field_model::fixed;
    const auto add = [&](const double* p, const double* moments) {
        m.add(dot256(p, moments), dot256(p, moments + 256), fixed ? dot256(p, moments + 512) : 0.0);
    };
    if (model == weight_model::layer) {
        scratch.resize(768);
        weight_moments_squared(e, h.weights.data(), scratch.data());
        for (std::size_t i = 0; i < fields; ++i) add(h.activations.data() + i * 256, scratch.data());
        return m.result(h.fan_in, fields_as);
    }
    const std::size_t channels = h.out_channels;
    const std::size_t per_group = h.channels_per_group();
    scratch.resize(channels * 768);
    for (std::size_t c = 0; c < channels; ++c) {
        weight_moments_squared(e, h.channel_weights.data() + c * 256, scratch.data() + c * 768);
    }
    for (std::size_t i = 0; i < fields; ++i) {
        const double* p = h.activations.data() + i * 256;
        const std::size_t first = std::size_t{h.field_groups[i]} * per_group;
        for (std::size_t c = first; c < first + per_group; ++c) add(p, scratch.data() + c * 768);
    }
    return m.result(h.fan_in, fields_as);
}

/// Walker/Vose alias table over 256 codes: draw() in O(1).
struct alias_table {
    std::array<double, 256> accept{};
    std::array<std::uint8_t, 256> alias{};

    explicit alias_table(const double* p) {
        double total = 0;
        for (std::size_t i = 0; i < 256; ++i) total += p[i];
        std::array<double, 256> scaled{};
        std::array<std::uint8_t, 256> small{}, large{};
        std::size_t ns = 0, nl = 0;
        for (std::size_t i = 0; i < 256; ++i) {
            scaled[i] = p[i] * 256.0 / total;
            if (scaled[i] < 1.0) small[ns++] = static_cast<std::uint8_t>(i);
            else large[nl++] = static_cast<std::uint8_t>(i);
        }
        while (ns > 0 && nl > 0) {
            const std::uint8_t s = small[--ns];
            const std::uint8_t l = large[nl - 1];
            accept[s] = scaled[s];
            alias[s] = l;
            scaled[l] -= 1.0 - scaled[s];
            if (scaled[l] < 1.0) {
                --nl;
                small[ns++] = l;
            }
        }
        while (nl > 0) {
            const std::uint8_t l = large[--nl];
            accept[l] = 1.0;
            alias[l] = l;
        }
        while (ns > 0) {  // rounding leftovers
            const std::uint8_t s = small[--ns];
            accept[s] = 1.0;
            alias[s] = s;
        }
    }
    [[nodiscard]] std::uint8_t draw(random_stream& r) const noexcept {
        const std::uint64_t x = r.next();
        const auto slot = static_cast<std::uint8_t>(x >> 56);
        const double u = static_cast<double>(x & ((std::uint64_t{1} << 53) - 1)) * 0x1.0p-53;
        return u < accept[slot] ? slot : alias[slot];
    }
};

/// Count, mean and sum of squared deviations (Chan et al. for merging).
struct running_moments {
    double n = 0, mean = 0, m2 = 0;
    void add(double x) noexcept {
        n += 1;
        const double d = x - mean;
        mean += d / n;
        m2 += d * (x - mean);
    }
    void merge(const running_moments& o) noexcept {
        if (o.n == 0) return;
        const double total = n + o.n;
        const double d = o.mean - mean;
        mean += d * o.n / total;
        m2 += o.m2 + d * d * n * o.n / total;
        n = total;
    }
    [[nodiscard]] error_prediction result() const noexcept {
        return {mean, n > 0 ? std::sqrt(std::max(0.0, m2 / n)) : 0.0};
    }
};

/// k distinct indices below n in increasing order (all of them when k >= n), chosen by seed.
inline std::vector<std::uint64_t> choose_rows(std::uint64_t n, std::uint64_t k, std::uint64_t seed) {
    std::vector<std::uint64_t> idx(n);
    for (std::uint64_t i = 0; i < n; ++i) idx[i] = i;
    if (k >= n) return idx;
    random_stream r{mix_seed(seed, 0x726f7773)};
    for (std::uint64_t i = 0; i < k; ++i) std::swap(idx[i], idx[i + r.below(n - i)]);
    idx.resize(k);
    std::sort(idx.begin(), idx.end());
    return idx;
}

template <class T>
void measure_group(const gemm::multiplier_plan& plan, const layer_operands& l, std::size_t g,
                   std::span<const std::uint64_t> rows, running_moments& out) {
    const std::size_t per_group = l.out_channels / l.groups;
    const std::size_t n = rows.size();
    const std::size_t k = l.depth;
    // The group's selected rows, contiguous (no copy when they are all of the group's rows, in order).
    std::vector<std::uint8_t> gathered;
    const std::uint8_t* base = l.activation_rows.data() + g * l.pixels * k;
    if (n != l.pixels) {
        gathered.resize(n * k);
        for (std::size_t i = 0; i < n; ++i) {
            std::copy_n(l.activation_rows.data() + rows[i] * k, k, gathered.data() + i * k);
        }
        base = gathered.data();
    }
    const auto* x = reinterpret_cast<const T*>(base);
    const auto* w = reinterpret_cast<const T*>(l.weights.data() + g * per_group * k);
    const auto weights = gemm::row_major<const T>(w, per_group, k);
    const auto activations = gemm::row_major<const T>(x, n, k).transposed();
    std::vector<std::int32_t> approximate(per_group * n), exact(per_group * n);
    gemm::gemm<T>(plan, weights, activations, gemm::row_major<std::int32_t>(approximate.data(), per_group, n));
    gemm::gemm<T>(gemm::multiplier_plan::of<multipliers::exact<T>>(), weights, activations,
                  gemm::row_major<std::int32_t>(exact.data(), per_group, n));
    for (std::size_t i = 0; i < approximate.size(); ++i) {
        // Both accumulators wrap alike: the difference is exact whenever it fits int32.
        const auto d = static_cast<std::int32_t>(static_cast<std::uint32_t>(approximate[i]) -
                                                 static_cast<std::uint32_t>(exact[i]));
        out.add(static_cast<double>(d));
    }
}

}  // namespace detail::errmodel

/// Samples min(fields, groups * pixels) distinct im2col rows (all of them, in order, when there are no more than
/// options.fields) and builds their activation histograms, the layer's weight histogram and, when asked, one weight
/// histogram per output channel. Throws shape_error for spans that do not match the shape, parameter_error for
/// options.fields == 0.
inline operand_histograms sample_histograms(const layer_operands& l, const histogram_options& options = {}) {
    detail::errmodel::check_operands("sample_histograms", l);
    if (options.fields == 0) throw parameter_error("sample_histograms: options.fields is 0 (at least one field)");
    operand_histograms h;
    h.fan_in = l.depth;
    h.scheme = l.scheme;
    h.groups = l.groups;
    h.out_channels = l.out_channels;
    const std::uint64_t rows = std::uint64_t{l.groups} * l.pixels;
    h.field_rows = detail::errmodel::choose_rows(rows, options.fields, options.seed);
    const std::size_t fields = h.field_rows.size();
    h.field_groups.resize(fields);
    h.activations.assign(fields * 256, 0.0);
    const double per_code = 1.0 / static_cast<double>(l.depth);
    for (std::size_t i = 0; i < fields; ++i) {
        h.field_groups[i] = static_cast<std::uint32_t>(h.field_rows[i] / l.pixels);
        const std::uint8_t* row = l.activation_rows.data() + h.field_rows[i] * l.depth;
        double* p = h.activations.data() + i * 256;
        for (std::size_t k = 0; k < l.depth; ++k) p[row[k]] += per_code;
    }
    std::array<std::uint64_t, 256> counts{};
    for (const std::uint8_t w : l.weights) ++counts[w];
    h.weights.resize(256);
    for (std::size_t c = 0; c < 256; ++c) h.weights[c] = static_cast<double>(counts[c]) / static_cast<double>(l.weights.size());
    if (options.per_channel_weights) {
        h.channel_weights.assign(l.out_channels * 256, 0.0);
        for (std::size_t o = 0; o < l.out_channels; ++o) {
            double* p = h.channel_weights.data() + o * 256;
            for (std::size_t k = 0; k < l.depth; ++k) p[l.weights[o * l.depth + k]] += per_code;
        }
    }
    return h;
}

/// The population model of noise-and-qos.md §3 over the sampled fields (layer) or (field, channel of the field's
/// group) pairs (per_channel): per neuron mu and s^2 of one product's error, then
/// mean = K mean(mu), std = K sqrt(mean(mu^2 + s^2 / K) - mean(mu)^2). Throws parameter_error when the signedness of
/// the map and the operands differ or per_channel is asked without channel histograms, shape_error / parameter_error
/// for malformed histograms.
/// That is field_model::drawn; the default, field_model::fixed, uses K mean(s_i^2 - v_i) as the within-field term
/// (see field_model): measured on ResNet-8 it predicts the output-error std 4x more closely (docs/noise-model.md).
inline error_prediction predict(const error_map& e, const operand_histograms& h, weight_model model = weight_model::layer,
                                field_model fields = field_model::fixed) {
    detail::errmodel::check_histograms("predict", h, SIZE_MAX);
    detail::errmodel::check_model("predict", e, h, model);
    std::vector<double> scratch;
    return detail::errmodel::predict_unchecked(e, h, model, fields, scratch);
}

/// predict() for every layer and multiplier: result[l][m] for layers[l] and maps[m], spread over the thread pool.
/// Throws like predict() (before any work) for any pair.
inline std::vector<std::vector<error_prediction>> predict_all(std::span<const error_map> maps,
                                                              std::span<const operand_histograms> layers,
                                                              weight_model model = weight_model::layer,
                                                              field_model fields = field_model::fixed) {
    for (std::size_t l = 0; l < layers.size(); ++l) {
        detail::errmodel::check_histograms("predict_all", layers[l], l);
        for (const error_map& e : maps) detail::errmodel::check_model("predict_all", e, layers[l], model);
    }
    std::vector<std::vector<error_prediction>> result(layers.size(), std::vector<error_prediction>(maps.size()));
    const std::size_t tasks = layers.size() * maps.size();
    parallel_for(tasks, 0, [&](std::size_t t) {
        thread_local std::vector<double> scratch;
        const std::size_t l = t / maps.size();
        const std::size_t m = t % maps.size();
        result[l][m] = detail::errmodel::predict_unchecked(maps[m], layers[l], model, fields, scratch);
    });
    return result;
}

/// Monte-Carlo reference: per simulated neuron a field chosen uniformly, K activation codes drawn from its histogram
/// and K weight codes from the weight histogram (per_channel: from a channel of the field's group chosen uniformly),
/// the K errors summed; mean and (population) std over `neurons` neurons. Deterministic for a seed, whatever the
/// thread count. Throws like predict(), and parameter_error for neurons == 0.
inline error_prediction monte_carlo(const error_map& e, const operand_histograms& h, std::size_t neurons,
                                    std::uint64_t seed, weight_model model = weight_model::layer) {
    namespace d = detail::errmodel;
    d::check_histograms("monte_carlo", h, SIZE_MAX);
    d::check_model("monte_carlo", e, h, model);
    if (neurons == 0) throw parameter_error("monte_carlo: neurons is 0");
    std::vector<d::alias_table> fields;
    fields.reserve(h.fields());
    for (std::size_t i = 0; i < h.fields(); ++i) fields.emplace_back(h.activations.data() + i * 256);
    std::vector<d::alias_table> weights;
    if (model == weight_model::layer) {
        weights.emplace_back(h.weights.data());
    } else {
        weights.reserve(h.out_channels);
        for (std::size_t c = 0; c < h.out_channels; ++c) weights.emplace_back(h.channel_weights.data() + c * 256);
    }
    constexpr std::size_t chunk = 2048;
    const std::size_t chunks = (neurons + chunk - 1) / chunk;
    std::vector<d::running_moments> partial(chunks);
    const std::int32_t* map = e.data();
    const std::size_t per_group = h.channels_per_group();
    parallel_for(chunks, 0, [&](std::size_t c) {
        d::random_stream r{d::mix_seed(seed, c)};
        const std::size_t last = std::min(neurons, (c + 1) * chunk);
        for (std::size_t n = c * chunk; n < last; ++n) {
            const std::size_t field = r.below(fields.size());
            const d::alias_table& a_table = fields[field];
            const d::alias_table& w_table =
                model == weight_model::layer
                    ? weights[0]
                    : weights[std::size_t{h.field_groups[field]} * per_group + r.below(per_group)];
            std::int64_t sum = 0;
            for (std::size_t k = 0; k < h.fan_in; ++k) {
                const std::uint8_t a = a_table.draw(r);
                const std::uint8_t w = w_table.draw(r);
                sum += map[std::size_t{a} * 256 + w];
            }
            partial[c].add(static_cast<double>(sum));
        }
    });
    d::running_moments total;
    for (const d::running_moments& p : partial) total.merge(p);
    return total.result();
}

/// Measured reference: sum_k E(a_k, w_k) for every output (im2col row x channel of the row's group), computed as
/// the layer's product through the gemm kernels with `plan` minus the exact product; mean and (population) std.
/// With more than max_rows rows, a seeded random subset of max_rows rows (all channels of each row's group).
/// Throws shape_error for spans that do not match the shape, parameter_error for a signedness mismatch or
/// max_rows == 0. The accumulator difference must fit int32 (as any int8 GEMM's sums).
inline error_prediction measure(const gemm::multiplier_plan& plan, const layer_operands& l, std::size_t max_rows = 4096,
                                std::uint64_t seed = 1) {
    namespace d = detail::errmodel;
    d::check_operands("measure", l);
    if (plan.operand_signedness() != l.scheme) {
        throw parameter_error("measure: multiplier '" + plan.name() + "' has " + d::scheme_name(plan.operand_signedness()) +
                              " operands, the layer's operands are " + d::scheme_name(l.scheme));
    }
    if (max_rows == 0) throw parameter_error("measure: max_rows is 0 (at least one row)");
    const std::vector<std::uint64_t> rows = d::choose_rows(std::uint64_t{l.groups} * l.pixels, max_rows, seed);
    d::running_moments total;
    std::size_t begin = 0;
    for (std::size_t g = 0; g < l.groups; ++g) {
        std::size_t end = begin;
        while (end < rows.size() && rows[end] < (g + 1) * l.pixels) ++end;
        if (end > begin) {
            d::running_moments group;
            const std::span<const std::uint64_t> group_rows(rows.data() + begin, end - begin);
            if (l.scheme == signedness::signed_operands) d::measure_group<std::int8_t>(plan, l, g, group_rows, group);
            else d::measure_group<std::uint8_t>(plan, l, g, group_rows, group);
            total.merge(group);
        }
        begin = end;
    }
    return total.result();
}

}  // namespace approxnn::noise
