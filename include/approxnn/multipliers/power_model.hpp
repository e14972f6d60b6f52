#pragma once
// A gate-count model for estimating the relative power of closed-form 8x8 multiplier designs.
//
// This is an ESTIMATE, not a synthesis result: a design's cost is the gate-equivalent (GE) area of the logic its
// definition needs (partial-product AND gates, the full/half adders that sum the remaining bits, leading-one
// detectors, shifters, small adders), with power taken as proportional to that area. Dividing by the cost of
// the exact 8x8 array multiplier gives a relative figure (exact = 1). docs/power-estimate.md explains each count.
// Synthesised figures (e.g. from EvoApproxLib) travel with tables instead and always take precedence.

#include <array>
#include <cstddef>
#include <cstdint>

#include "approxnn/multipliers/partial_product_array.hpp"

namespace approxnn::multipliers::power_model {

/// An area in thirds of a gate equivalent (GE, NAND2 = 1). Every cell area below is a whole number of thirds, so
/// costs are exact integers and an estimate is one division, identical at compile time and at run time.
using gate_cost = long long;

/// Areas of a generic static CMOS cell library, in thirds of a GE (AND2 = 4/3 GE, XOR2 = 7/3 GE, ...).
inline constexpr gate_cost and2 = 4;
inline constexpr gate_cost or2 = 4;
inline constexpr gate_cost xor2 = 7;
inline constexpr gate_cost mux2 = 7;
inline constexpr gate_cost half_adder = xor2 + and2;
inline constexpr gate_cost full_adder = 2 * xor2 + 2 * and2 + or2;

/// Number of bits of weight 2^c to be summed, for columns c = 0..31.
using column_heights = std::array<int, 32>;

struct adder_count {
    int full = 0;
    int half = 0;
};

/// Adders a column-by-column reduction needs to turn the bit matrix into one bit per column: in each column,
/// full adders take three bits to one (carry to the next column) while three or more remain, and a half adder
/// takes a remaining pair to one.
constexpr adder_count reduction_adders(const column_heights& heights) noexcept {
    adder_count count;
    int carries = 0;
    for (int h : heights) {
        int bits = h + carries;
        carries = 0;
        while (bits >= 3) {
            ++count.full;
            bits -= 2;
            ++carries;
        }
        if (bits == 2) {
            ++count.half;
            ++carries;
        }
    }
    // Carries out of the last column: these would become further output bits; none arise for 8x8 products.
    return count;
}

constexpr gate_cost reduction_cost(const column_heights& heights) noexcept {
    const adder_count n = reduction_adders(heights);
    return n.full * full_adder + n.half * half_adder;
}

/// Bit (8*j + i) set means the partial product a_i * b_j of an 8x8 array is kept.
using partial_product_mask = std::uint64_t;

inline constexpr partial_product_mask all_partial_products = ~partial_product_mask{0};

/// Cost of an array multiplier keeping the partial products in `kept`, plus constant one-bits in `constant`
/// (hard-wired bits of a correction term, summed like partial products but needing no AND gate).
constexpr gate_cost partial_product_array_cost(partial_product_mask kept, std::uint32_t constant = 0) noexcept {
    column_heights heights{};
    int gates = 0;
    for (int j = 0; j < 8; ++j) {
        for (int i = 0; i < 8; ++i) {
            if ((kept >> (8 * j + i)) & 1U) {
                ++heights[static_cast<std::size_t>(i + j)];
                ++gates;
            }
        }
    }
    for (int c = 0; c < 32; ++c) {
        if ((constant >> c) & 1U) ++heights[static_cast<std::size_t>(c)];
    }
    return gates * and2 + reduction_cost(heights);
}

/// Cost of the exact 8x8 array multiplier: the normalisation of every relative estimate.
inline constexpr gate_cost exact_array_cost = partial_product_array_cost(all_partial_products);

/// Cost of an array design: its kept partial products and its constant's one-bits.
constexpr gate_cost array_design_cost(const partial_product_array& design) noexcept {
    return partial_product_array_cost(design.kept, design.constant);
}

/// A cost relative to the exact 8x8 array multiplier.
constexpr double relative_to_exact(gate_cost cost) noexcept {
    return static_cast<double>(cost) / static_cast<double>(exact_array_cost);
}

/// Cost of a k x k array multiplier (k <= 8).
constexpr gate_cost square_array_cost(int k) noexcept {
    partial_product_mask kept = 0;
    for (int j = 0; j < k; ++j) {
        for (int i = 0; i < k; ++i) kept |= partial_product_mask{1} << (8 * j + i);
    }
    return partial_product_array_cost(kept);
}

constexpr int ceil_log2(int x) noexcept {
    int bits = 0;
    while ((1 << bits) < x) ++bits;
    return bits;
}

/// Leading-one detector with position encoder for a `width`-bit operand: a priority chain (one AND and one OR
/// per bit) and a binary encoder (log2(width) OR trees of width/2 inputs).
constexpr gate_cost leading_one_detector(int width) noexcept {
    return width * (and2 + or2) + ceil_log2(width) * (width / 2) * or2;
}

/// Logarithmic barrel shifter producing `width` output bits, shifting by 0..max_shift positions.
constexpr gate_cost barrel_shifter(int width, int max_shift) noexcept {
    return width * ceil_log2(max_shift + 1) * mux2;
}

/// Ripple-carry adder of `width` bits.
constexpr gate_cost ripple_adder(int width) noexcept { return width * full_adder; }

}  // namespace approxnn::multipliers::power_model
