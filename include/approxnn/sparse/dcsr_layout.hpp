#pragma once
// dCSR layout constants and bit-level helpers (freestanding: no exceptions, no heap, no iostream).
//
// The layout is the one of docs/dcsr.md (and dcsr-format.md): per row r an integer slope
// s_r = (C + n_r/2) / n_r, nonzeros cut into groups of 16 lanes, lane j of group k at column
// B_k + s_r·j + d_{k,j}, the residual d split into a 4-bit nibble (two groups share one 16-byte block, the even
// group in the upper nibble) and up to four extension bit-planes (bits 4..7) announced by a 4-bit bitmap per
// group (two groups per byte, even group upper) and stored as one uint16 lane mask per set bitmap bit.
// Group numbers are global across the matrix. Everything here is constexpr and noexcept; indices are unchecked
// (validate a foreign view with validate_dcsr() from dcsr_view.hpp before decoding it).

#include <cstddef>
#include <cstdint>

namespace approxnn::sparse {

/// Lanes per group: one 128-bit vector of int8.
inline constexpr std::uint32_t dcsr_lanes = 16;
/// Largest slope of a non-empty row whose lane 15 offset s·15 (+ residual 0) still fits a uint8.
inline constexpr std::uint32_t dcsr_max_slope = 17;
/// Largest lane offset s·j + d (lane offsets are uint8).
inline constexpr std::uint32_t dcsr_max_lane_offset = 255;

/// The slope of a row with `count` stored elements in a matrix of `columns` columns: (C + n/2) / n, 0 for n = 0.
constexpr std::uint32_t dcsr_slope(std::uint32_t columns, std::uint32_t count) noexcept {
    if (count == 0) return 0;
    return static_cast<std::uint32_t>((std::uint64_t{columns} + count / 2) / count);
}

/// Groups of a row with `count` stored elements: ceil(count / 16).
constexpr std::uint32_t dcsr_groups_of(std::uint32_t count) noexcept {
    return count / dcsr_lanes + (count % dcsr_lanes != 0 ? 1U : 0U);
}

/// 16-byte nibble blocks (and bitmap bytes) for `groups` groups: ceil(groups / 2).
constexpr std::uint32_t dcsr_blocks_of(std::uint32_t groups) noexcept { return groups / 2 + groups % 2; }

/// The residual nibble of lane `lane` of global group `group`.
constexpr std::uint32_t dcsr_nibble(const std::uint8_t* delta_indices, std::uint32_t group,
                                    std::uint32_t lane) noexcept {
    const std::uint32_t byte = delta_indices[std::size_t{group / 2} * dcsr_lanes + lane];
    return group % 2 == 0 ? byte >> 4 : byte & 0xFU;
}

/// The 4-bit extension bitmap of global group `group` (bit i: bit-plane 4 + i is present).
constexpr std::uint32_t dcsr_bitmap(const std::uint8_t* bitmaps, std::uint32_t group) noexcept {
    const std::uint32_t byte = bitmaps[group / 2];
    return group % 2 == 0 ? byte >> 4 : byte & 0xFU;
}

/// Number of set bits of a 4-bit bitmap (= bitmasks the group owns).
constexpr std::uint32_t dcsr_popcount4(std::uint32_t bitmap) noexcept {
    return (bitmap & 1U) + ((bitmap >> 1) & 1U) + ((bitmap >> 2) & 1U) + ((bitmap >> 3) & 1U);
}

/// Array lengths and byte size of a dCSR matrix (reference arrays only; the optional row-start index is extra).
struct dcsr_sizes {
    std::uint64_t rows = 0;  ///< R (length of row_offsets)
    std::uint64_t nnze = 0;  ///< N (length of values)
    std::uint64_t groups = 0;  ///< Gt (length of group_minimums)
    std::uint64_t bitmasks = 0;  ///< E (length of bitmasks)
    std::uint64_t value_bytes = 1;  ///< sizeof(Value): 1 for the reference int8 layout

    [[nodiscard]] constexpr std::uint64_t blocks() const noexcept { return groups / 2 + groups % 2; }
    [[nodiscard]] constexpr std::uint64_t delta_indices_bytes() const noexcept { return dcsr_lanes * blocks(); }
    /// N·sizeof(Value) + 16·ceil(Gt/2) + Gt + ceil(Gt/2) + 2E + 2R + 4 (the format's size formula for int8).
    [[nodiscard]] constexpr std::uint64_t total_bytes() const noexcept {
        return nnze * value_bytes + delta_indices_bytes() + groups + blocks() + 2 * bitmasks + 2 * rows + 4;
    }
};

}  // namespace approxnn::sparse
