#pragma once
// DRUM(k) (Hashemi, Bahar, Reda, ICCAD 2015): each operand x with leading one at t(x) >= k keeps only the k bits
// starting at its leading one, with the lowest of them forced to 1, shifted right by s = t(x) - k + 1; operands with
// t(x) <= k - 1 are kept whole (s = 0). M = (x~_a * x~_b) << (s_a + s_b).

#include <array>
#include <bit>
#include <cstdint>
#include <string_view>

#include "approxnn/multipliers/closed_form.hpp"
#include "approxnn/multipliers/power_model.hpp"

namespace approxnn::multipliers {

struct drum_family {
    static constexpr std::string_view name = "drum";
    static constexpr std::array<parameter_spec, 1> parameter_specs{
        {{"k", 1, 7, "bits kept from the leading one of each operand (k >= 8 keeps every 8-bit operand whole)"}}};

    struct reduced_operand {
        std::uint32_t value;
        int shift;
    };
    static constexpr reduced_operand reduce(std::uint32_t x, int k) noexcept {
        const int leading_one = static_cast<int>(std::bit_width(x)) - 1;  // -1 for x = 0
        if (leading_one <= k - 1) return {x, 0};
        const int shift = leading_one - k + 1;
        return {(x >> shift) | 1U, shift};
    }
    static constexpr std::uint32_t multiply(std::uint32_t a, std::uint32_t b, const std::array<int, 1>& p) noexcept {
        const reduced_operand ra = reduce(a, p[0]);
        const reduced_operand rb = reduce(b, p[0]);
        return (ra.value * rb.value) << (ra.shift + rb.shift);
    }
    static constexpr bool is_exact(const std::array<int, 1>&) noexcept { return false; }
    /// Two leading-one detectors, two selectors taking k bits from 8 (shift 0..8-k), a k x k array, an output
    /// shifter placing the 2k-bit product (shift 0..2(8-k)), a 3-bit adder for the shift amounts, and the
    /// forced-one selection (one OR per operand).
    static constexpr double relative_power(const std::array<int, 1>& p) noexcept {
        namespace pm = power_model;
        const int k = p[0];
        const pm::gate_cost cost = 2 * (pm::leading_one_detector(8) + pm::barrel_shifter(k, 8 - k) + pm::or2) +
                            pm::square_array_cost(k) + pm::barrel_shifter(2 * k, 2 * (8 - k)) + pm::ripple_adder(3);
        return pm::relative_to_exact(cost);
    }
};

/// DRUM with k bits kept per operand, k in [1, 7].
template <operand_code Operand, int K>
using drum = closed_form<Operand, drum_family, K>;

}  // namespace approxnn::multipliers
