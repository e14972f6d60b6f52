#pragma once
// Fixed-point requantisation with gemmlowp / TensorFlow Lite semantics (bit-exact with TFLite's reference kernels
// in their default, double-rounding form).
//
// A real scale m > 0 is represented as quantized_multiplier * 2^(shift - 31) with quantized_multiplier in
// [2^30, 2^31) (or 0 for m = 0). multiply_by_quantized_multiplier(x, q, shift) computes round(x * m) the way TFLite
// does: a saturating rounding doubling high multiply, then a rounding right shift (ties away from zero).
// Everything here is constexpr, noexcept and freestanding (usable on Cortex-M builds without exceptions).

#include <cmath>
#include <cstdint>
#include <limits>

namespace approxnn {

/// A real scale as TFLite represents it: value = multiplier * 2^(shift - 31).
struct quantized_multiplier {
    std::int32_t multiplier = 0;  ///< in [2^30, 2^31), or 0 for a zero scale
    int shift = 0;                ///< left shift if positive, right shift if negative
    friend constexpr bool operator==(const quantized_multiplier&, const quantized_multiplier&) = default;
};

/// (a * b * 2) >> 32 rounded to nearest (gemmlowp SaturatingRoundingDoublingHighMul); saturates the single
/// overflowing case a = b = INT32_MIN.
constexpr std::int32_t saturating_rounding_doubling_high_mul(std::int32_t a, std::int32_t b) noexcept {
    if (a == b && a == std::numeric_limits<std::int32_t>::min()) return std::numeric_limits<std::int32_t>::max();
    const std::int64_t ab = std::int64_t{a} * std::int64_t{b};
    const std::int64_t nudge = ab >= 0 ? (std::int64_t{1} << 30) : (1 - (std::int64_t{1} << 30));
    return static_cast<std::int32_t>((ab + nudge) / (std::int64_t{1} << 31));
}

/// x / 2^exponent rounded to nearest, ties away from zero (gemmlowp RoundingDivideByPOT); exponent in [0, 31].
constexpr std::int32_t rounding_divide_by_pot(std::int32_t x, int exponent) noexcept {
    const std::int32_t mask = static_cast<std::int32_t>((std::int64_t{1} << exponent) - 1);
    const std::int32_t remainder = x & mask;
    const std::int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/// round(x * m) for m = q.multiplier * 2^(q.shift - 31), TFLite's MultiplyByQuantizedMultiplier. The left shift
/// (q.shift > 0) must not overflow x (TFLite's precondition: shift <= 31 and x * 2^shift fits int32).
constexpr std::int32_t multiply_by_quantized_multiplier(std::int32_t x, quantized_multiplier q) noexcept {
    const int left_shift = q.shift > 0 ? q.shift : 0;
    const int right_shift = q.shift > 0 ? 0 : -q.shift;
    const auto shifted = static_cast<std::int32_t>(static_cast<std::uint32_t>(x) << left_shift);
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted, q.multiplier), right_shift);
}

/// The quantized multiplier of a real scale (TFLite's QuantizeMultiplier). Returns false, leaving `out` zero,
/// when the scale is negative, not finite, or its shift falls outside [-31, 30].
inline bool quantize_multiplier(double real, quantized_multiplier& out) noexcept {
    out = {};
    if (!(real >= 0.0) || !std::isfinite(real)) return false;
    if (real == 0.0) return true;
    int exponent = 0;
    const double fraction = std::frexp(real, &exponent);  // real = fraction * 2^exponent, fraction in [0.5, 1)
    auto q = static_cast<std::int64_t>(std::llround(fraction * static_cast<double>(std::int64_t{1} << 31)));
    if (q == (std::int64_t{1} << 31)) {
        q /= 2;
        ++exponent;
    }
    if (exponent < -31) return true;  // too small to matter: a zero scale, as TFLite does
    if (exponent > 30) return false;
    out = {static_cast<std::int32_t>(q), exponent};
    return true;
}

}  // namespace approxnn
