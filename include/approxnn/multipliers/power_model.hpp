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

namespace approxnn::multipliers::power_model {

/// GE areas of a generic static CMOS cell library (NAND2 = 1).
inline constexpr double and2 = 4.0 / 3.0;
inline constexpr double or2 = 4.0 / 3.0;
inline constexpr double xor2 = 7.0 / 3.0;
inline constexpr double mux2 = 7.0 / 3.0;
inline constexpr double half_adder = xor2 + and2;
inline constexpr double full_adder = 2 * xor2 + 2 * and2 + or2;

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

constexpr double reduction_cost(const column_heights& heights) noexcept {
    const adder_count n = reduction_adders(heights);
    return n.full * full_adder + n.half * half_adder;
}

/// Bit (8*j + i) set means the partial product a_i * b_j of an 8x8 array is kept.
using partial_product_mask = std::uint64_t;

inline constexpr partial_product_mask all_partial_products = ~partial_product_mask{0};

/// Cost of an array multiplier keeping the partial products in `kept`, plus constant one-bits in `constant`
/// (hard-wired bits of a correction term, summed like partial products but needing no AND gate).
constexpr double partial_product_array_cost(partial_product_mask kept, std::uint32_t constant = 0) noexcept {
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
inline constexpr double exact_array_cost = partial_product_array_cost(all_partial_products);

/// Cost of a k x k array multiplier (k <= 8).
constexpr double square_array_cost(int k) noexcept {
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
constexpr double leading_one_detector(int width) noexcept {
    return width * (and2 + or2) + ceil_log2(width) * (width / 2) * or2;
}

/// Logarithmic barrel shifter producing `width` output bits, shifting by 0..max_shift positions.
constexpr double barrel_shifter(int width, int max_shift) noexcept {
    return width * ceil_log2(max_shift + 1) * mux2;
}

/// Ripple-carry adder of `width` bits.
constexpr double ripple_adder(int width) noexcept { return width * full_adder; }

}  // namespace approxnn::multipliers::power_model
