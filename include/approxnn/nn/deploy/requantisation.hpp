#pragma once
// Requantisation of the int8 deployment (nn/deploy.hpp): the per-channel affine map of a product layer (its
// batch norm and bias folded), the fixed-point parameters that map its int32 accumulators onto output codes, and
// the saturating fixed-point helpers every integer op of the deployment uses.
//
// A product layer's real output in channel o, before any activation, is
//     y_o = a_o * (s_x * s_w[o] * acc_o) + b_o                                             (channel_affine a, b)
// with acc_o the int32 accumulator of the codes (zero points applied exactly), s_x the input scale and s_w[o] the
// weight scale. Batch norm (evaluation statistics) and the layer bias fold into a and b:
//     a_o = gamma_o / sqrt(var_o + eps),  b_o = a_o * (bias_o - mean_o) + beta_o;   without batch norm a_o = 1, b_o = bias_o.
// Onto an output tensor of scale s and zero point z, with F = requantisation_fraction_bits extra fraction bits:
//     M_o  = a_o * s_x * s_w[o] / s                       the folded scale; any sign, 0 allowed
//     Q_o  = |M_o| * 2^F                                  a quantized_multiplier (31-bit mantissa, shift)
//     B_o  = round(b_o / s * 2^F)                         an int32 offset in units of 2^-F codes
//     v    = acc_o, or -acc_o when M_o < 0                negation is exact (-2^31 saturates to 2^31 - 1)
//     u    = sat_add(saturating_multiply(v, Q_o), B_o)    u ~ (M_o * acc_o + b_o / s) * 2^F
// The op that owns the requantisation then adds the shortcut term of a residual (in the same 2^-F units), divides by
// 2^F with rounding (ties away from zero), adds z and clamps (see int8_model.hpp). Carrying F fraction bits to the
// end keeps one rounding per output code: the accumulator's product, the bias and the shortcut are each rounded to
// 2^-F-1 codes only.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "approxnn/core/error.hpp"
#include "approxnn/core/fixed_point.hpp"
#include "approxnn/nn/layers/batch_norm.hpp"
#include "approxnn/nn/quantisation.hpp"

namespace approxnn::nn {

/// Fraction bits the integer ops carry below one output code until the final rounding.
inline constexpr int requantisation_fraction_bits = 16;

/// y_o = scale[o] * (s_x * s_w[o] * acc_o) + shift[o] for every output channel o of a product layer.
struct channel_affine {
    std::vector<double> scale;
    std::vector<double> shift;
};

/// The affine map of a product layer with `bias` (empty: none) followed by `bn` (null: none), for `channels`
/// output channels. Throws shape_error when the bias or the batch norm has another channel count.
inline channel_affine fold_batch_norm(std::size_t channels, std::span<const float> bias, const batch_norm* bn) {
    if (!bias.empty() && bias.size() != channels) {
        throw shape_error("fold_batch_norm: " + std::to_string(bias.size()) + " bias values for " +
                          std::to_string(channels) + " channels");
    }
    if (bn != nullptr && bn->channels() != channels) {
        throw shape_error("fold_batch_norm: a batch norm of " + std::to_string(bn->channels()) + " channels for " +
                          std::to_string(channels) + " channels");
    }
    channel_affine f;
    f.scale.assign(channels, 1.0);
    f.shift.assign(channels, 0.0);
    for (std::size_t o = 0; o < channels; ++o) {
        const double b = bias.empty() ? 0.0 : static_cast<double>(bias[o]);
        if (bn == nullptr) {
            f.shift[o] = b;
            continue;
        }
        const double k = static_cast<double>(bn->gamma()[o]) / std::sqrt(static_cast<double>(bn->running_var()[o]) + bn->eps());
        f.scale[o] = k;
        f.shift[o] = k * (b - static_cast<double>(bn->running_mean()[o])) + static_cast<double>(bn->beta()[o]);
    }
    return f;
}

/// One output channel's fixed-point requantisation onto one output tensor.
struct channel_requantisation {
    quantized_multiplier multiplier;  ///< Q_o = |M_o| * 2^F
    std::int32_t offset = 0;          ///< B_o = round(b_o / s * 2^F)
    bool negate = false;              ///< M_o < 0
    friend bool operator==(const channel_requantisation&, const channel_requantisation&) = default;
};

/// The requantisation of one product layer: integer[t * channels + o] for each output tensor t the layer writes, or,
/// for the layer that produces the float logits, logit = real_scale[o] * acc_o + real_shift[o] (plus the shortcut).
struct requantisation {
    std::size_t channels = 0;
    std::vector<channel_requantisation> integer;
    std::vector<float> real_scale;  ///< a_o * s_x * s_w[o] (the float-output layer only)
    std::vector<float> real_shift;  ///< b_o (the float-output layer only)
    friend bool operator==(const requantisation&, const requantisation&) = default;
};

/// min(max(a + b, INT32_MIN), INT32_MAX).
constexpr std::int32_t saturating_add(std::int32_t a, std::int32_t b) noexcept {
    const std::int64_t s = std::int64_t{a} + std::int64_t{b};
    return static_cast<std::int32_t>(std::clamp<std::int64_t>(s, std::numeric_limits<std::int32_t>::min(),
                                                              std::numeric_limits<std::int32_t>::max()));
}

/// -x, with -INT32_MIN saturated to INT32_MAX.
constexpr std::int32_t saturating_negate(std::int32_t x) noexcept {
    return x == std::numeric_limits<std::int32_t>::min() ? std::numeric_limits<std::int32_t>::max() : -x;
}

/// round(x * m) for m = q.multiplier * 2^(q.shift - 31), saturated to int32. Right shifts (q.shift <= 0) are
/// multiply_by_quantized_multiplier itself; for left shifts the product is formed in 64 bits, which gives the same
/// result wherever TFLite's x << shift does not overflow and the saturated one where it does.
constexpr std::int32_t saturating_multiply(std::int32_t x, quantized_multiplier q) noexcept {
    if (q.shift <= 0) return multiply_by_quantized_multiplier(x, q);
    const std::int64_t product = std::int64_t{x} * std::int64_t{q.multiplier};
    const int down = 31 - q.shift;  // >= 1 (quantize_multiplier gives shift <= 30)
    const std::int64_t half = std::int64_t{1} << (down - 1);
    const std::int64_t rounded = (product + (product >= 0 ? half : 1 - half)) / (std::int64_t{1} << down);
    return static_cast<std::int32_t>(std::clamp<std::int64_t>(rounded, std::numeric_limits<std::int32_t>::min(),
                                                              std::numeric_limits<std::int32_t>::max()));
}

/// x / d rounded to nearest, ties away from zero; d > 0.
constexpr std::int32_t rounding_divide(std::int32_t x, std::int32_t d) noexcept {
    const std::int64_t half = d / 2;
    const std::int64_t v = x >= 0 ? (std::int64_t{x} + half) / d : -((-std::int64_t{x} + half) / d);
    return static_cast<std::int32_t>(v);
}

namespace detail::deploy {

/// The quantized multiplier of a non-negative real; parameter_error naming `what` when it is not representable.
inline quantized_multiplier fixed_point_scale(double real, const std::string& what) {
    quantized_multiplier q;
    if (!quantize_multiplier(real, q)) {
        throw parameter_error(what + ": the scale " + std::to_string(real) +
                              " has no fixed-point representation (not finite or at least 2^30)");
    }
    return q;
}

/// round(v) clamped to int32 (v finite).
inline std::int32_t saturating_round(double v) noexcept {
    constexpr double lo = std::numeric_limits<std::int32_t>::min();
    constexpr double hi = std::numeric_limits<std::int32_t>::max();
    return static_cast<std::int32_t>(std::clamp(std::nearbyint(v), lo, hi));
}

}  // namespace detail::deploy

/// The requantisation of a layer with input scale `input_scale`, weight scales `weight_scales` (one per channel) and
/// affine map `affine` onto the output tensors `outputs` (empty with float_output). `layer` names the layer in errors:
/// shape_error for sizes that do not match, parameter_error for scales without a fixed-point representation.
inline requantisation make_requantisation(const std::string& layer, const channel_affine& affine, float input_scale,
                                          std::span<const float> weight_scales, std::span<const quant_params> outputs,
                                          bool float_output) {
    const std::size_t channels = weight_scales.size();
    if (affine.scale.size() != channels || affine.shift.size() != channels) {
        throw shape_error("layer '" + layer + "': an affine map of " + std::to_string(affine.scale.size()) +
                          " scales and " + std::to_string(affine.shift.size()) + " shifts for " +
                          std::to_string(channels) + " channels");
    }
    for (std::size_t o = 0; o < channels; ++o) {
        if (!std::isfinite(affine.scale[o]) || !std::isfinite(affine.shift[o])) {
            throw parameter_error("layer '" + layer + "': the affine map of channel " + std::to_string(o) +
                                  " is not finite (scale " + std::to_string(affine.scale[o]) + ", shift " +
                                  std::to_string(affine.shift[o]) + ")");
        }
    }
    requantisation r;
    r.channels = channels;
    const double two_f = std::ldexp(1.0, requantisation_fraction_bits);
    if (float_output) {
        r.real_scale.resize(channels);
        r.real_shift.resize(channels);
        for (std::size_t o = 0; o < channels; ++o) {
            r.real_scale[o] = static_cast<float>(affine.scale[o] * input_scale * weight_scales[o]);
            r.real_shift[o] = static_cast<float>(affine.shift[o]);
        }
        return r;
    }
    r.integer.resize(outputs.size() * channels);
    for (std::size_t t = 0; t < outputs.size(); ++t) {
        const double s = outputs[t].scale;
        for (std::size_t o = 0; o < channels; ++o) {
            const double m = affine.scale[o] * input_scale * weight_scales[o] / s;
            channel_requantisation& c = r.integer[t * channels + o];
            c.negate = m < 0.0;
            c.multiplier = detail::deploy::fixed_point_scale(std::fabs(m) * two_f,
                                                             "layer '" + layer + "', channel " + std::to_string(o));
            c.offset = detail::deploy::saturating_round(affine.shift[o] / s * two_f);
        }
    }
    return r;
}

}  // namespace approxnn::nn
