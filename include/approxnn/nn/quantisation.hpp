#pragma once
// 8-bit quantisation of the engine (docs/engine.md, "Quantisation"): fake quantisation with straight-through
// gradients for training, and the integer codes the multipliers see.
//
// Two schemes, matching the two operand signednesses of the multipliers:
// (round(x / s) below is computed as nearbyint(x * (1 / s)) in float, ties to even, identically everywhere.)
//  * signed:   activations int8 symmetric (code = clamp(round(x / s), -127, 127), zero point 0);
//              weights int8 symmetric (code in [-127, 127]), per output channel or per tensor.
//  * unsigned: activations uint8 affine (code = clamp(round(x / s) + z, 0, 255), z from the observed range);
//              weights uint8 with the fixed zero point 128 (code = clamp(round(w / s) + 128, 1, 255)), scales per
//              output channel or per tensor. One weight zero point for every channel keeps the zero-point
//              correction of the integer kernels exact.
// Codes are stored as raw bytes (uint8_t; reinterpret as int8_t for the signed scheme).
// Activation ranges are observed: the first training batch sets [min, max], later batches move it by an
// exponential moving average (momentum 0.1); evaluation uses the stored range. The range always contains 0.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "approxnn/core/error.hpp"
#include "approxnn/multipliers/multiplier.hpp"
#include "approxnn/nn/tensor.hpp"

namespace approxnn::nn {


/// How a conv / linear layer quantises its operands.
struct quantisation {
    signedness scheme = signedness::unsigned_operands;
    bool per_channel_weights = true;
    float range_momentum = 0.1F;  ///< EMA factor of the observed activation range
};

/// Scale and zero point of one tensor (or one channel).
struct quant_params {
    float scale = 1.0F;
    std::int32_t zero_point = 0;
};

namespace detail {
inline std::int32_t round_to_code(float v) noexcept { return static_cast<std::int32_t>(std::nearbyint(v)); }
}  // namespace detail

/// The observed range of an activation tensor and its quantisation. The range lives in a 2-element buffer
/// ("input_range": min, max) so that it is saved with the model; [0, 0] means "not observed yet".
class activation_quantiser {
public:
    explicit activation_quantiser(signedness scheme = signedness::unsigned_operands, float momentum = 0.1F)
        : scheme_(scheme), momentum_(momentum), range_(shape_t{2}) {
        if (!(momentum > 0.0F && momentum <= 1.0F)) {
            throw parameter_error("activation_quantiser: momentum " + std::to_string(momentum) +
                                  " is outside (0, 1]");
        }
    }

    [[nodiscard]] signedness scheme() const noexcept { return scheme_; }
    [[nodiscard]] tensor& range() noexcept { return range_; }
    [[nodiscard]] const tensor& range() const noexcept { return range_; }
    [[nodiscard]] bool observed() const noexcept { return range_[0] != 0.0F || range_[1] != 0.0F; }

    /// Updates the range from a training batch.
    void observe(const tensor& x) {
        float lo = 0.0F;
        float hi = 0.0F;
        for (float v : x) {
            lo = std::min(lo, v);
            hi = std::max(hi, v);
        }
        if (!observed()) {
            range_[0] = lo;
            range_[1] = hi;
        } else {
            range_[0] += momentum_ * (lo - range_[0]);
            range_[1] += momentum_ * (hi - range_[1]);
        }
    }

    /// The current scale and zero point (an unobserved or empty range quantises with scale 1).
    [[nodiscard]] quant_params params() const noexcept {
        const float lo = std::min(range_[0], 0.0F);
        const float hi = std::max(range_[1], 0.0F);
        if (scheme_ == signedness::signed_operands) {
            const float m = std::max(-lo, hi);
            return {m > 0.0F ? m / 127.0F : 1.0F, 0};
        }
        if (hi - lo <= 0.0F) return {1.0F, 0};
        const float scale = (hi - lo) / 255.0F;
        const std::int32_t z = std::clamp(detail::round_to_code(-lo / scale), 0, 255);
        return {scale, z};
    }

    [[nodiscard]] std::int32_t code_min() const noexcept { return scheme_ == signedness::signed_operands ? -127 : 0; }
    [[nodiscard]] std::int32_t code_max() const noexcept { return scheme_ == signedness::signed_operands ? 127 : 255; }

    /// xq = dequantised codes of x; codes (optional) receives the raw code bytes; mask (optional) receives 1 where
    /// the value was inside the representable range (the straight-through gradient passes there), else 0.
    void quantise(const tensor& x, tensor& xq, std::vector<std::uint8_t>* codes, std::vector<std::uint8_t>* mask) const {
        const quant_params q = params();
        xq.resize(x.shape());
        if (codes) codes->resize(x.size());
        if (mask) mask->resize(x.size());
        const float inv = 1.0F / q.scale;
        const std::int32_t lo = code_min();
        const std::int32_t hi = code_max();
        for (std::size_t i = 0; i < x.size(); ++i) {
            const std::int32_t raw = detail::round_to_code(x[i] * inv) + q.zero_point;
            const std::int32_t c = std::clamp(raw, lo, hi);
            xq[i] = static_cast<float>(c - q.zero_point) * q.scale;
            if (codes) (*codes)[i] = static_cast<std::uint8_t>(c);
            if (mask) (*mask)[i] = raw == c ? 1 : 0;
        }
    }

private:
    signedness scheme_;
    float momentum_;
    tensor range_;
};

/// Weight quantisation: per output channel (the first dimension) or per tensor.
class weight_quantiser {
public:
    explicit weight_quantiser(signedness scheme = signedness::unsigned_operands, bool per_channel = true)
        : scheme_(scheme), per_channel_(per_channel) {}

    [[nodiscard]] signedness scheme() const noexcept { return scheme_; }
    [[nodiscard]] bool per_channel() const noexcept { return per_channel_; }
    /// The zero point of every channel (0 signed, 128 unsigned).
    [[nodiscard]] std::int32_t zero_point() const noexcept { return scheme_ == signedness::signed_operands ? 0 : 128; }

    /// Scales per output channel (the same value repeated when per tensor) for weights w (first dim = channels).
    [[nodiscard]] std::vector<float> scales(const tensor& w) const {
        const std::size_t channels = w.rank() == 0 ? 1 : w.dim(0);
        const std::size_t per = channels == 0 ? 0 : w.size() / channels;
        std::vector<float> s(channels, 1.0F);
        float global = 0.0F;
        for (std::size_t o = 0; o < channels; ++o) {
            float m = 0.0F;
            for (std::size_t i = 0; i < per; ++i) m = std::max(m, std::fabs(w[o * per + i]));
            s[o] = m;
            global = std::max(global, m);
        }
        for (float& v : s) {
            const float m = per_channel_ ? v : global;
            v = m > 0.0F ? m / 127.0F : 1.0F;
        }
        return s;
    }

    /// wq = dequantised codes of w, codes = raw bytes; returns the scales.
    std::vector<float> quantise(const tensor& w, tensor& wq, std::vector<std::uint8_t>* codes) const {
        std::vector<float> s = scales(w);
        wq.resize(w.shape());
        if (codes) codes->resize(w.size());
        const std::size_t channels = s.size();
        const std::size_t per = channels == 0 ? 0 : w.size() / channels;
        const std::int32_t z = zero_point();
        for (std::size_t o = 0; o < channels; ++o) {
            const float inv = 1.0F / s[o];
            for (std::size_t i = 0; i < per; ++i) {
                const std::size_t at = o * per + i;
                const std::int32_t c = std::clamp(detail::round_to_code(w[at] * inv), -127, 127);
                wq[at] = static_cast<float>(c) * s[o];
                if (codes) (*codes)[at] = static_cast<std::uint8_t>(c + z);
            }
        }
        return s;
    }

private:
    signedness scheme_;
    bool per_channel_;
};

}  // namespace approxnn::nn
