#pragma once
// dcsr_view<Value>: a non-owning view of a dCSR matrix over foreign buffers (flash, a container read in place,
// a dcsr_matrix), its validation and its decoding. FREESTANDING: compiles with arm-none-eabi-g++ -std=c++20
// -mcpu=cortex-m55 -fno-exceptions -fno-rtti; no exceptions, no heap, no iostream, no xtensor.
//
// Contract (stable API; the MVE kernels and the C export build on it):
//
//   dcsr_view<Value> is an aggregate of plain pointers and uint32 lengths, in this member order (the initialiser
//   written by the C export, dcsr_c_export.hpp, relies on the order):
//     rows, cols, nnze,
//     values, values_size                    Value[N]   stored elements incl. padding zeros, rows in order
//     delta_indices, delta_indices_size      uint8[16·ceil(Gt/2)]  residual nibbles, even group upper nibble
//     group_minimums, group_minimums_size    int8[Gt]   m_k (first group of a row absolute, then relative)
//     bitmaps, bitmaps_size                  uint8[ceil(Gt/2)]     extension bitmaps, even group upper nibble
//     bitmasks, bitmasks_size                uint16[E]  one 16-lane mask per set bitmap bit
//     row_offsets, row_offsets_size          int16[R]   n_r − floor(N / R)
//     row_starts, row_starts_size            dcsr_row_start[R + 1] or null/0: OPTIONAL row-start index
//                                            (approxnn extension, not part of the reference layout)
//   Value = std::int8_t is the reference layout (bit-exact with dcsr-format.md); int16 and float views use the
//   same index arrays with wider values (host only). A pointer may be null only when its length is 0.
//
//   validate_dcsr(view) checks every invariant (lengths, row_offsets sum, n_r >= 0, group/bitmap/bitmask counts,
//   unused nibbles zero, −128 < m_k < 127, every lane offset s·j + d <= 255, residual 0 in inactive lanes, every
//   active column in [0, C) and non-decreasing within its row, a repeated column only with a zero on one side
//   (padding), the row-start index when present) reading only
//   inside the declared lengths, and returns a dcsr_validation: status::ok, or status::format_error with the
//   first violated invariant (dcsr_defect), the row / group where it was found and the offending value and limit.
//   Decoding functions below assume a view that validated (they do not check indices).
//
//   Decoding: rows are walked in order with dcsr_row_walker (row size n_r, slope s, group count, and the
//   positions of the row's first value / group / bitmask); dcsr_decode_offsets() rebuilds the 16 uint8 lane
//   offsets s·j + d of one group; a lane's column is B_k + offset with B_0 = m_0 and B_k = B_{k−1} + 16·s + m_k
//   (B_0 may be negative: keep it an index, not a pointer). dcsr_for_each_in_row / dcsr_for_each visit
//   (column, value) pairs, padding zeros included. With a row-start index, dcsr_row_walker can start at any row
//   in O(1) (random row access, row-parallel kernels).

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string_view>
#include <type_traits>

#include "approxnn/core/error.hpp"
#include "approxnn/sparse/dcsr_layout.hpp"

namespace approxnn::sparse {

/// Where a row's data starts in the three streams (approxnn's optional row-start index has R + 1 of these; the
/// last one holds the totals N, Gt, E).
struct dcsr_row_start {
    std::uint32_t value = 0;  ///< index of the row's first element in values
    std::uint32_t group = 0;  ///< global number of the row's first group
    std::uint32_t bitmask = 0;  ///< index of the row's first mask in bitmasks
    friend constexpr bool operator==(const dcsr_row_start&, const dcsr_row_start&) = default;
};

/// Non-owning view of a dCSR matrix (see the contract at the top of this header). Value: std::int8_t (reference
/// layout), std::int16_t or float (host).
template <class Value>
struct dcsr_view {
    static_assert(std::is_same_v<Value, std::int8_t> || std::is_same_v<Value, std::int16_t> ||
                      std::is_same_v<Value, float>,
                  "approxnn: dCSR values are std::int8_t (the reference layout), std::int16_t or float");
    using value_type = Value;

    std::uint32_t rows = 0;  ///< R >= 1
    std::uint32_t cols = 0;  ///< C >= 1
    std::uint32_t nnze = 0;  ///< N: stored elements, padding zeros included
    const Value* values = nullptr;
    std::uint32_t values_size = 0;
    const std::uint8_t* delta_indices = nullptr;
    std::uint32_t delta_indices_size = 0;
    const std::int8_t* group_minimums = nullptr;
    std::uint32_t group_minimums_size = 0;
    const std::uint8_t* bitmaps = nullptr;
    std::uint32_t bitmaps_size = 0;
    const std::uint16_t* bitmasks = nullptr;
    std::uint32_t bitmasks_size = 0;
    const std::int16_t* row_offsets = nullptr;
    std::uint32_t row_offsets_size = 0;
    const dcsr_row_start* row_starts = nullptr;  ///< optional row-start index (R + 1 entries), or null
    std::uint32_t row_starts_size = 0;

    /// Gt, the number of groups.
    [[nodiscard]] constexpr std::uint32_t groups() const noexcept { return group_minimums_size; }
    /// Whether the optional row-start index is present.
    [[nodiscard]] constexpr bool has_row_index() const noexcept { return row_starts != nullptr; }
    /// n_r = floor(N / R) + row_offsets[r] (valid views only).
    [[nodiscard]] constexpr std::uint32_t row_size(std::uint32_t r) const noexcept {
        return static_cast<std::uint32_t>(static_cast<std::int64_t>(nnze / rows) + row_offsets[r]);
    }
    /// s_r = (C + n_r/2) / n_r, 0 for an empty row (valid views only).
    [[nodiscard]] constexpr std::uint32_t row_slope(std::uint32_t r) const noexcept {
        return dcsr_slope(cols, row_size(r));
    }
    /// Array lengths and byte size of the reference arrays (values at sizeof(Value) bytes each).
    [[nodiscard]] constexpr dcsr_sizes sizes() const noexcept {
        return {rows, nnze, group_minimums_size, bitmasks_size, sizeof(Value)};
    }
    /// Exact byte size of the reference arrays: N·sizeof(Value) + 16·ceil(Gt/2) + Gt + ceil(Gt/2) + 2E + 2R + 4.
    [[nodiscard]] constexpr std::uint64_t size_bytes() const noexcept { return sizes().total_bytes(); }
    /// Bytes of the optional row-start index (0 when absent).
    [[nodiscard]] constexpr std::uint64_t row_index_bytes() const noexcept {
        return std::uint64_t{row_starts_size} * sizeof(dcsr_row_start);
    }
};

// ---------------------------------------------------------------------------------------------------------------
// Validation

/// The invariant a dCSR view violates (the first one found).
enum class dcsr_defect : std::uint8_t {
    none = 0,
    empty_shape,  ///< rows or cols is 0 (value = the zero dimension's index: 0 rows, 1 cols)
    too_many_columns,  ///< cols > INT32_MAX
    missing_array,  ///< a null pointer with a non-zero length (value = array id, see dcsr_array_name)
    values_length,  ///< values_size != nnze
    row_offsets_length,  ///< row_offsets_size != rows
    negative_row_size,  ///< floor(N/R) + row_offsets[r] < 0
    row_size_too_large,  ///< floor(N/R) + row_offsets[r] > N
    row_offsets_sum,  ///< the row sizes do not add up to N
    group_minimums_length,  ///< group_minimums_size != Gt = sum of ceil(n_r / 16)
    delta_indices_length,  ///< delta_indices_size != 16·ceil(Gt/2)
    bitmaps_length,  ///< bitmaps_size != ceil(Gt/2)
    unused_bitmap_nibble,  ///< Gt odd and the last bitmap byte's lower nibble is not 0
    unused_delta_nibble,  ///< Gt odd and a lower nibble of the last delta block is not 0
    bitmasks_length,  ///< bitmasks_size != E = sum of the bitmaps' set bits
    row_index_length,  ///< row_starts present and row_starts_size != rows + 1
    row_index_mismatch,  ///< a row_starts entry differs from the running sums
    group_minimum_range,  ///< m_k outside (−128, 127)
    lane_offset_range,  ///< s·j + d > 255 in some lane
    inactive_lane_residual,  ///< a lane past the row's end has a non-zero residual
    column_out_of_range,  ///< a decoded column outside [0, C)
    column_order,  ///< columns decrease inside a row
    duplicate_column,  ///< two non-zero elements of a row share a column (only padding zeros may repeat one)
};

/// A short description of a defect (what is wrong, without the values).
constexpr std::string_view to_string(dcsr_defect d) noexcept {
    switch (d) {
        case dcsr_defect::none: return "no defect";
        case dcsr_defect::empty_shape: return "the matrix needs at least one row and one column";
        case dcsr_defect::too_many_columns: return "more columns than INT32_MAX";
        case dcsr_defect::missing_array: return "an array with a non-zero length has a null pointer";
        case dcsr_defect::values_length: return "the length of values differs from nnze";
        case dcsr_defect::row_offsets_length: return "the length of row_offsets differs from the row count";
        case dcsr_defect::negative_row_size: return "a row size floor(N/R) + row_offsets[r] is negative";
        case dcsr_defect::row_size_too_large: return "a row size floor(N/R) + row_offsets[r] exceeds nnze";
        case dcsr_defect::row_offsets_sum: return "the row sizes do not sum to nnze";
        case dcsr_defect::group_minimums_length:
            return "the length of group_minimums differs from the group count sum(ceil(n_r/16))";
        case dcsr_defect::delta_indices_length: return "the length of delta_indices differs from 16*ceil(groups/2)";
        case dcsr_defect::bitmaps_length: return "the length of bitmaps differs from ceil(groups/2)";
        case dcsr_defect::unused_bitmap_nibble: return "the unused lower nibble of the last bitmap byte is not zero";
        case dcsr_defect::unused_delta_nibble: return "an unused lower nibble of the last delta block is not zero";
        case dcsr_defect::bitmasks_length: return "the length of bitmasks differs from the set bits of the bitmaps";
        case dcsr_defect::row_index_length: return "the row-start index does not have rows + 1 entries";
        case dcsr_defect::row_index_mismatch: return "a row-start index entry differs from the running sums";
        case dcsr_defect::group_minimum_range: return "a group minimum lies outside (-128, 127)";
        case dcsr_defect::lane_offset_range: return "a lane offset s*j + d exceeds 255";
        case dcsr_defect::inactive_lane_residual: return "a lane past the end of its row has a non-zero residual";
        case dcsr_defect::column_out_of_range: return "a decoded column lies outside [0, cols)";
        case dcsr_defect::column_order: return "the columns of a row decrease";
        case dcsr_defect::duplicate_column: return "two non-zero elements of a row share a column";
    }
    return "unknown defect";
}

/// Array ids used as the value of dcsr_defect::missing_array.
enum class dcsr_array : std::uint8_t {
    values,
    delta_indices,
    group_minimums,
    bitmaps,
    bitmasks,
    row_offsets,
    row_starts
};

constexpr std::string_view dcsr_array_name(dcsr_array a) noexcept {
    switch (a) {
        case dcsr_array::values: return "values";
        case dcsr_array::delta_indices: return "delta_indices";
        case dcsr_array::group_minimums: return "group_minimums";
        case dcsr_array::bitmaps: return "bitmaps";
        case dcsr_array::bitmasks: return "bitmasks";
        case dcsr_array::row_offsets: return "row_offsets";
        case dcsr_array::row_starts: return "row_starts";
    }
    return "unknown array";
}

/// Result of validate_dcsr: ok, or the first violated invariant with where and what.
struct dcsr_validation {
    status code = status::ok;
    dcsr_defect defect = dcsr_defect::none;
    std::uint32_t row = 0;  ///< row where the defect was found (0 when not row-specific)
    std::uint32_t group = 0;  ///< global group (or row-index entry, or array position) where it was found
    std::uint32_t lane = 0;  ///< lane of the group, when lane-specific
    std::int64_t value = 0;  ///< the offending value (a length, a sum, an offset, a column, ...)
    std::int64_t limit = 0;  ///< what it should be, or the bound it violates

    [[nodiscard]] constexpr bool ok() const noexcept { return code == status::ok; }
    constexpr explicit operator bool() const noexcept { return ok(); }
};

namespace detail {
constexpr dcsr_validation dcsr_fail(dcsr_defect d, std::int64_t value, std::int64_t limit, std::uint32_t row = 0,
                                    std::uint32_t group = 0, std::uint32_t lane = 0) noexcept {
    return {status::format_error, d, row, group, lane, value, limit};
}
}  // namespace detail

/// Checks every invariant of a (foreign) view; reads nothing outside the declared lengths. O(N + R).
template <class Value>
constexpr dcsr_validation validate_dcsr(const dcsr_view<Value>& v) noexcept {
    using detail::dcsr_fail;
    if (v.rows == 0) return dcsr_fail(dcsr_defect::empty_shape, 0, 1);
    if (v.cols == 0) return dcsr_fail(dcsr_defect::empty_shape, 1, 1);
    if (v.cols > static_cast<std::uint32_t>(std::numeric_limits<std::int32_t>::max())) {
        return dcsr_fail(dcsr_defect::too_many_columns, v.cols, std::numeric_limits<std::int32_t>::max());
    }
    const auto missing = [](const void* p, std::uint32_t n) { return p == nullptr && n != 0; };
    if (missing(v.values, v.values_size))
        return dcsr_fail(dcsr_defect::missing_array, static_cast<std::int64_t>(dcsr_array::values), 0);
    if (missing(v.delta_indices, v.delta_indices_size))
        return dcsr_fail(dcsr_defect::missing_array, static_cast<std::int64_t>(dcsr_array::delta_indices), 0);
    if (missing(v.group_minimums, v.group_minimums_size))
        return dcsr_fail(dcsr_defect::missing_array, static_cast<std::int64_t>(dcsr_array::group_minimums), 0);
    if (missing(v.bitmaps, v.bitmaps_size))
        return dcsr_fail(dcsr_defect::missing_array, static_cast<std::int64_t>(dcsr_array::bitmaps), 0);
    if (missing(v.bitmasks, v.bitmasks_size))
        return dcsr_fail(dcsr_defect::missing_array, static_cast<std::int64_t>(dcsr_array::bitmasks), 0);
    if (missing(v.row_offsets, v.row_offsets_size))
        return dcsr_fail(dcsr_defect::missing_array, static_cast<std::int64_t>(dcsr_array::row_offsets), 0);
    if (missing(v.row_starts, v.row_starts_size))
        return dcsr_fail(dcsr_defect::missing_array, static_cast<std::int64_t>(dcsr_array::row_starts), 0);
    if (v.values_size != v.nnze) return dcsr_fail(dcsr_defect::values_length, v.values_size, v.nnze);
    if (v.row_offsets_size != v.rows) return dcsr_fail(dcsr_defect::row_offsets_length, v.row_offsets_size, v.rows);

    // Row sizes, their sum and the group count.
    const std::int64_t base = v.nnze / v.rows;
    std::uint64_t sum = 0;
    std::uint64_t groups = 0;
    for (std::uint32_t r = 0; r < v.rows; ++r) {
        const std::int64_t n = base + v.row_offsets[r];
        if (n < 0) return dcsr_fail(dcsr_defect::negative_row_size, n, 0, r);
        if (n > static_cast<std::int64_t>(v.nnze)) return dcsr_fail(dcsr_defect::row_size_too_large, n, v.nnze, r);
        sum += static_cast<std::uint64_t>(n);
        if (sum > v.nnze) return dcsr_fail(dcsr_defect::row_offsets_sum, static_cast<std::int64_t>(sum), v.nnze, r);
        groups += dcsr_groups_of(static_cast<std::uint32_t>(n));
    }
    if (sum != v.nnze) return dcsr_fail(dcsr_defect::row_offsets_sum, static_cast<std::int64_t>(sum), v.nnze);
    if (groups != v.group_minimums_size) {
        return dcsr_fail(dcsr_defect::group_minimums_length, v.group_minimums_size, static_cast<std::int64_t>(groups));
    }
    const auto gt = static_cast<std::uint32_t>(groups);
    const std::uint64_t blocks = dcsr_blocks_of(gt);
    if (v.delta_indices_size != dcsr_lanes * blocks) {
        return dcsr_fail(dcsr_defect::delta_indices_length, v.delta_indices_size,
                         static_cast<std::int64_t>(dcsr_lanes * blocks));
    }
    if (v.bitmaps_size != blocks) {
        return dcsr_fail(dcsr_defect::bitmaps_length, v.bitmaps_size, static_cast<std::int64_t>(blocks));
    }
    if (gt % 2 == 1) {
        if ((v.bitmaps[blocks - 1] & 0xFU) != 0) {
            return dcsr_fail(dcsr_defect::unused_bitmap_nibble, v.bitmaps[blocks - 1] & 0xF, 0, 0,
                             static_cast<std::uint32_t>(blocks - 1));
        }
        for (std::uint32_t j = 0; j < dcsr_lanes; ++j) {
            const std::uint32_t byte = v.delta_indices[(blocks - 1) * dcsr_lanes + j];
            if ((byte & 0xFU) != 0) {
                return dcsr_fail(dcsr_defect::unused_delta_nibble, byte & 0xF, 0, 0,
                                 static_cast<std::uint32_t>((blocks - 1) * dcsr_lanes + j));
            }
        }
    }
    std::uint64_t masks = 0;
    for (std::uint32_t g = 0; g < gt; ++g) masks += dcsr_popcount4(dcsr_bitmap(v.bitmaps, g));
    if (masks != v.bitmasks_size) {
        return dcsr_fail(dcsr_defect::bitmasks_length, v.bitmasks_size, static_cast<std::int64_t>(masks));
    }
    if (v.row_starts != nullptr && v.row_starts_size != std::uint64_t{v.rows} + 1) {
        return dcsr_fail(dcsr_defect::row_index_length, v.row_starts_size, std::int64_t{v.rows} + 1);
    }
    if (v.row_starts == nullptr && v.row_starts_size != 0) {
        return dcsr_fail(dcsr_defect::missing_array, static_cast<std::int64_t>(dcsr_array::row_starts), 0);
    }

    // Decode every group: offsets, residuals of inactive lanes, columns.
    dcsr_row_start at{};
    for (std::uint32_t r = 0; r < v.rows; ++r) {
        if (v.row_starts != nullptr && v.row_starts[r] != at) {
            const dcsr_row_start& e = v.row_starts[r];
            const bool value_differs = e.value != at.value;
            const bool group_differs = e.group != at.group;
            return dcsr_fail(dcsr_defect::row_index_mismatch,
                             value_differs ? e.value : (group_differs ? e.group : e.bitmask),
                             value_differs ? at.value : (group_differs ? at.group : at.bitmask), r, r);
        }
        const auto n = static_cast<std::uint32_t>(base + v.row_offsets[r]);
        const std::uint32_t s = dcsr_slope(v.cols, n);
        const std::uint32_t k_end = dcsr_groups_of(n);
        std::int64_t b = 0;
        std::int64_t previous_column = -1;
        Value previous_value{};
        for (std::uint32_t k = 0; k < k_end; ++k) {
            const std::uint32_t g = at.group + k;
            const std::int32_t m = v.group_minimums[g];
            if (m <= -128 || m >= 127) return dcsr_fail(dcsr_defect::group_minimum_range, m, m < 0 ? -128 : 127, r, g);
            b = k == 0 ? m : b + std::int64_t{16} * s + m;
            const std::uint32_t bitmap = dcsr_bitmap(v.bitmaps, g);
            std::uint32_t high[4] = {0, 0, 0, 0};
            for (std::uint32_t i = 0; i < 4; ++i) {
                if ((bitmap >> i) & 1U) high[i] = v.bitmasks[at.bitmask++];
            }
            const std::uint32_t active = n - k * dcsr_lanes < dcsr_lanes ? n - k * dcsr_lanes : dcsr_lanes;
            for (std::uint32_t j = 0; j < dcsr_lanes; ++j) {
                std::uint32_t d = dcsr_nibble(v.delta_indices, g, j);
                for (std::uint32_t i = 0; i < 4; ++i) d |= ((high[i] >> j) & 1U) << (4 + i);
                const std::uint64_t offset = std::uint64_t{s} * j + d;
                if (offset > dcsr_max_lane_offset) {
                    return dcsr_fail(dcsr_defect::lane_offset_range, static_cast<std::int64_t>(offset),
                                     dcsr_max_lane_offset, r, g, j);
                }
                if (j >= active) {
                    if (d != 0) return dcsr_fail(dcsr_defect::inactive_lane_residual, d, 0, r, g, j);
                    continue;
                }
                const std::int64_t column = b + static_cast<std::int64_t>(offset);
                if (column < 0 || column >= v.cols) {
                    return dcsr_fail(dcsr_defect::column_out_of_range, column, v.cols, r, g, j);
                }
                if (column < previous_column) {
                    return dcsr_fail(dcsr_defect::column_order, column, previous_column, r, g, j);
                }
                const Value value = v.values[at.value + k * dcsr_lanes + j];
                if (column == previous_column && value != Value{} && previous_value != Value{}) {
                    return dcsr_fail(dcsr_defect::duplicate_column, column, previous_column, r, g, j);
                }
                previous_column = column;
                previous_value = value;
            }
        }
        at.value += n;
        at.group += k_end;
    }
    if (v.row_starts != nullptr && v.row_starts[v.rows] != at) {
        const dcsr_row_start& e = v.row_starts[v.rows];
        const bool value_differs = e.value != at.value;
        const bool group_differs = e.group != at.group;
        return dcsr_fail(dcsr_defect::row_index_mismatch,
                         value_differs ? e.value : (group_differs ? e.group : e.bitmask),
                         value_differs ? at.value : (group_differs ? at.group : at.bitmask), v.rows, v.rows);
    }
    return {};
}

// ---------------------------------------------------------------------------------------------------------------
// Decoding (valid views only)

/// One row as the decoder sees it.
struct dcsr_row_info {
    std::uint32_t row = 0;  ///< r
    std::uint32_t size = 0;  ///< n_r, stored elements (padding zeros included)
    std::uint32_t slope = 0;  ///< s_r
    std::uint32_t groups = 0;  ///< ceil(n_r / 16)
    dcsr_row_start begin{};  ///< positions of the row's first value, group and bitmask
};

/// Walks the rows of a valid view in order. Starting at a row other than 0 is O(1) with the row-start index and
/// O(row) without it (the running sums are recomputed).
template <class Value>
class dcsr_row_walker {
public:
    constexpr explicit dcsr_row_walker(const dcsr_view<Value>& view, std::uint32_t first_row = 0) noexcept
        : view_(&view) {
        if (view.row_starts != nullptr) {
            row_ = first_row;
            at_ = first_row < view.rows ? view.row_starts[first_row] : view.row_starts[view.rows];
        } else {
            while (row_ < first_row && row_ < view.rows) next();
        }
    }
    /// Whether every row has been visited.
    [[nodiscard]] constexpr bool done() const noexcept { return row_ >= view_->rows; }
    /// Where the current row's data starts (after the last row: the totals N, Gt, E).
    [[nodiscard]] constexpr dcsr_row_start position() const noexcept { return at_; }
    /// The current row (not after the last one).
    [[nodiscard]] constexpr dcsr_row_info info() const noexcept {
        const std::uint32_t n = view_->row_size(row_);
        return {row_, n, dcsr_slope(view_->cols, n), dcsr_groups_of(n), at_};
    }
    /// Moves to the next row.
    constexpr void next() noexcept {
        const std::uint32_t n = view_->row_size(row_);
        const std::uint32_t k = dcsr_groups_of(n);
        for (std::uint32_t g = at_.group; g < at_.group + k; ++g) {
            at_.bitmask += dcsr_popcount4(dcsr_bitmap(view_->bitmaps, g));
        }
        at_.value += n;
        at_.group += k;
        ++row_;
    }

private:
    const dcsr_view<Value>* view_;
    std::uint32_t row_ = 0;
    dcsr_row_start at_{};
};

/// Lane offsets s·j + d_{g,j} of global group `group` (slope = its row's slope). Reads the group's bitmasks from
/// index `bitmask` on and advances `bitmask` past them. Inactive lanes of a short group get s·j.
template <class Value>
constexpr void dcsr_decode_offsets(const dcsr_view<Value>& v, std::uint32_t group, std::uint32_t slope,
                                   std::uint32_t& bitmask, std::uint8_t (&offsets)[dcsr_lanes]) noexcept {
    std::uint32_t d[dcsr_lanes] = {};
    for (std::uint32_t j = 0; j < dcsr_lanes; ++j) d[j] = dcsr_nibble(v.delta_indices, group, j);
    const std::uint32_t bitmap = dcsr_bitmap(v.bitmaps, group);
    for (std::uint32_t i = 0; i < 4; ++i) {
        if (((bitmap >> i) & 1U) == 0) continue;
        const std::uint32_t mask = v.bitmasks[bitmask++];
        for (std::uint32_t j = 0; j < dcsr_lanes; ++j) d[j] |= ((mask >> j) & 1U) << (4 + i);
    }
    for (std::uint32_t j = 0; j < dcsr_lanes; ++j) offsets[j] = static_cast<std::uint8_t>(slope * j + d[j]);
}

/// Calls f(column, value) for every stored element of `row` in order (padding zeros included); column is a
/// std::uint32_t in [0, C).
template <class Value, class F>
constexpr void dcsr_for_each_in_row(const dcsr_view<Value>& v, const dcsr_row_info& row, F&& f) {
    std::uint32_t bitmask = row.begin.bitmask;
    std::int64_t b = 0;
    for (std::uint32_t k = 0; k < row.groups; ++k) {
        const std::uint32_t g = row.begin.group + k;
        b = k == 0 ? v.group_minimums[g] : b + std::int64_t{16} * row.slope + v.group_minimums[g];
        std::uint8_t offsets[dcsr_lanes];
        dcsr_decode_offsets(v, g, row.slope, bitmask, offsets);
        const std::uint32_t first = k * dcsr_lanes;
        const std::uint32_t active = row.size - first < dcsr_lanes ? row.size - first : dcsr_lanes;
        for (std::uint32_t j = 0; j < active; ++j) {
            f(static_cast<std::uint32_t>(b + offsets[j]), v.values[row.begin.value + first + j]);
        }
    }
}

/// Calls f(row, column, value) for every stored element, rows in order (padding zeros included).
template <class Value, class F>
constexpr void dcsr_for_each(const dcsr_view<Value>& v, F&& f) {
    for (dcsr_row_walker<Value> w(v); !w.done(); w.next()) {
        const dcsr_row_info row = w.info();
        dcsr_for_each_in_row(v, row, [&](std::uint32_t column, Value value) { f(row.row, column, value); });
    }
}

}  // namespace approxnn::sparse
