#pragma once
// Logarithmic multipliers.
//
// Mitchell (1962): a = 2^k1 (1 + x1), b = 2^k2 (1 + x2), x the bits below the leading one read as a binary fraction;
//   x1 + x2 < 1:  M = 2^(k1+k2) (1 + x1 + x2)
//   x1 + x2 >= 1: M = 2^(k1+k2+1) (x1 + x2)
// and M = 0 when an operand is 0. For 8-bit operands both cases are integers; M never overestimates.
//
// Minimally biased multiplier (MBM; Saadat et al., TCAD 2018): Mitchell with a constant c added to the fraction sum,
// halved when x1 + x2 >= 1:
//   x1 + x2 < 1:  M = floor(2^(k1+k2) (1 + x1 + x2 + c))
//   x1 + x2 >= 1: M = floor(2^(k1+k2+1) (x1 + x2 + c/2))
// with the fractions in fixed point with 7 fraction bits (exact for 8-bit operands), c = C * 2^-7, and the
// antilogarithm truncating the bits it shifts out. The default C = 10 is c = 2^-4 + 2^-6. C = 0 is Mitchell.

#include <array>
#include <bit>
#include <cstdint>
#include <string_view>

#include "approxnn/multipliers/closed_form.hpp"
#include "approxnn/multipliers/power_model.hpp"

namespace approxnn::multipliers {

namespace detail {
/// The MBM product with correction C * 2^-7 (C = 0: Mitchell) for a, b in [0, 255].
constexpr std::uint32_t logarithmic_product(std::uint32_t a, std::uint32_t b, std::uint32_t correction) noexcept {
    if (a == 0 || b == 0) return 0;
    const int k1 = static_cast<int>(std::bit_width(a)) - 1;
    const int k2 = static_cast<int>(std::bit_width(b)) - 1;
    // Fractions in units of 2^-7.
    const std::uint32_t f1 = (a - (std::uint32_t{1} << k1)) << (7 - k1);
    const std::uint32_t f2 = (b - (std::uint32_t{1} << k2)) << (7 - k2);
    const std::uint32_t sum = f1 + f2;
    // Mantissa in units of 2^-7, scaled by 2^(k1+k2): case < 1 is 1 + x1 + x2 + c, case >= 1 is 2 (x1 + x2 + c/2).
    const std::uint32_t mantissa = sum < 128U ? 128U + sum + correction : 2U * sum + correction;
    return (mantissa << (k1 + k2)) >> 7;
}

/// Two leading-one detectors, two normalising shifters (7 fraction bits, shift 0..7), a 7-bit fraction adder, a
/// 3-bit characteristic adder, and the antilogarithm shifter (16 output bits, shift 0..15).
constexpr power_model::gate_cost logarithmic_cost() noexcept {
    namespace pm = power_model;
    return 2 * (pm::leading_one_detector(8) + pm::barrel_shifter(7, 7)) + pm::ripple_adder(7) + pm::ripple_adder(3) +
           pm::barrel_shifter(16, 15);
}
}  // namespace detail

struct mitchell_family {
    static constexpr std::string_view name = "mitchell";
    static constexpr std::array<parameter_spec, 0> parameter_specs{};

    static constexpr std::uint32_t multiply(std::uint32_t a, std::uint32_t b, const std::array<int, 0>&) noexcept {
        return detail::logarithmic_product(a, b, 0);
    }
    static constexpr bool is_exact(const std::array<int, 0>&) noexcept { return false; }
    static constexpr double relative_power(const std::array<int, 0>&) noexcept {
        return power_model::relative_to_exact(detail::logarithmic_cost());
    }
};

struct mbm_family {
    static constexpr std::string_view name = "mbm";
    static constexpr std::array<parameter_spec, 1> parameter_specs{
        {{"c", 0, 127, "correction added to the fraction sum, in units of 2^-7 (halved when x1 + x2 >= 1)"}}};

    static constexpr std::uint32_t multiply(std::uint32_t a, std::uint32_t b, const std::array<int, 1>& p) noexcept {
        return detail::logarithmic_product(a, b, static_cast<std::uint32_t>(p[0]));
    }
    static constexpr bool is_exact(const std::array<int, 1>&) noexcept { return false; }
    /// Mitchell plus the constant addition into the fraction sum (7 half adders) and the choice of c or c/2
    /// (7 multiplexers).
    static constexpr double relative_power(const std::array<int, 1>&) noexcept {
        namespace pm = power_model;
        return pm::relative_to_exact(detail::logarithmic_cost() + 7 * pm::half_adder + 7 * pm::mux2);
    }
};

/// Mitchell's logarithmic multiplier.
template <operand_code Operand>
using mitchell = closed_form<Operand, mitchell_family>;

/// The minimally biased multiplier with correction C * 2^-7 (default c = 2^-4 + 2^-6).
template <operand_code Operand, int C = 10>
using mbm = closed_form<Operand, mbm_family, C>;

}  // namespace approxnn::multipliers
