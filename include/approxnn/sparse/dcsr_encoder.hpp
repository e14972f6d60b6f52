#pragma once
// The dCSR encoder (host): rows of (column, value) in, the seven reference arrays out, bit-exact with the layout of
// dcsr-format.md (docs/dcsr.md):
//
//   slope      s = (C + n/2) / n
//   groups     16 lanes; r_{k,j} = c_{16k+j} − s·j; padding lanes of a short last group take the group minimum;
//              M_k = min_j r_{k,j}; d_{k,j} = r_{k,j} − M_k; m_0 = M_0, m_k = M_k − M_{k−1} − 16·s
//   validity   every lane (padding lanes included): s·j + d <= 255; every m_k in (−128, 127); every d <= 255
//   padding    while a row is not valid, insert one zero element: with a single element c_0, at floor(c_0/2) in front
//              of it; otherwise into the first largest gap (g_0 = c_0, g_i = c_i − c_{i−1}, g_n = C − c_{n−1}) at
//              c_i − ceil(g_i/2) just before c_i, or appended at C − ceil(g_n/2) for the last gap
//   packing    nibbles of groups 2p / 2p+1 share block p (even group upper); bitmaps two per byte (even upper);
//              one uint16 mask per set bitmap bit, bit-planes 4..7 in order, groups in stream order
//
// One deliberate difference from the authors' encoder, in a corner never seen on real data: their encoder narrows
// residuals to uint8 BEFORE checking them, so a residual >= 256 wraps and the row is accepted corrupt; approxnn checks
// the unnarrowed residual and pads the row instead (correct where the reference would be corrupt). dcsr_row_fits
// can run the reference's narrowing check (dcsr_residual_check::after_narrowing) to find such rows.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <queue>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "approxnn/core/error.hpp"
#include "approxnn/sparse/dcsr_layout.hpp"

namespace approxnn::sparse {

/// How the residual check of dcsr_row_fits treats residuals >= 256.
enum class dcsr_residual_check : unsigned char {
    before_narrowing,  ///< approxnn: a residual >= 256 makes the row invalid (it gets padded)
    after_narrowing,  ///< the authors' encoder: residuals are cast to uint8 first (>= 256 wraps); for comparison only
};

namespace detail {

/// One group of a row being encoded: residuals (unnarrowed) and the group minimum M_k.
struct dcsr_group_code {
    std::int64_t minimum = 0;  // M_k
    std::int64_t residual[dcsr_lanes] = {};  // d_{k,j}, padding lanes included
};

/// Computes M_k and d_{k,j} of group k of a row with sorted columns.
inline dcsr_group_code dcsr_code_group(std::span<const std::uint32_t> columns, std::uint32_t slope, std::size_t k) {
    dcsr_group_code g;
    const std::size_t first = k * dcsr_lanes;
    const std::size_t active = std::min<std::size_t>(dcsr_lanes, columns.size() - first);
    std::int64_t r[dcsr_lanes];
    std::int64_t minimum = std::numeric_limits<std::int64_t>::max();
    for (std::size_t j = 0; j < active; ++j) {
        r[j] = static_cast<std::int64_t>(columns[first + j]) -
               static_cast<std::int64_t>(slope) * static_cast<std::int64_t>(j);
        minimum = std::min(minimum, r[j]);
    }
    for (std::size_t j = active; j < dcsr_lanes; ++j) r[j] = minimum;
    g.minimum = minimum;
    for (std::size_t j = 0; j < dcsr_lanes; ++j) g.residual[j] = r[j] - minimum;
    return g;
}

}  // namespace detail

/// Whether a row with these (non-decreasing) columns in a matrix of `columns_total` columns encodes validly as it
/// is, without padding (dcsr-format.md §3 step 8). An empty row always fits.
inline bool dcsr_row_fits(std::span<const std::uint32_t> columns, std::uint32_t columns_total,
                          dcsr_residual_check check = dcsr_residual_check::before_narrowing) {
    const auto n = static_cast<std::uint32_t>(columns.size());
    if (n == 0) return true;
    const std::uint32_t s = dcsr_slope(columns_total, n);
    // Lane 15 exists in every group (padding lanes included) and has d >= 0 (before narrowing): s·15 <= 255.
    if (check == dcsr_residual_check::before_narrowing && s > dcsr_max_slope) return false;
    std::int64_t previous = 0;
    for (std::size_t k = 0; k < dcsr_groups_of(n); ++k) {
        const detail::dcsr_group_code g = detail::dcsr_code_group(columns, s, k);
        const std::int64_t m = k == 0 ? g.minimum : g.minimum - previous - std::int64_t{16} * s;
        if (m <= -128 || m >= 127) return false;
        previous = g.minimum;
        for (std::uint32_t j = 0; j < dcsr_lanes; ++j) {
            std::int64_t d = g.residual[j];
            if (check == dcsr_residual_check::after_narrowing) {
                d &= 0xFF;
            } else if (d > 255) {
                return false;
            }
            if (std::int64_t{s} * j + d > 255) return false;
        }
    }
    return true;
}

/// Inserts padding zeros into a row (sorted columns, values alongside) until it encodes validly (§4 of the format).
/// Returns the number of zeros inserted. Value is any type whose Value{} is zero.
template <class Value>
std::size_t dcsr_pad_row(std::vector<std::uint32_t>& columns, std::vector<Value>& values, std::uint32_t columns_total) {
    if (columns.empty() || dcsr_row_fits(columns, columns_total)) return 0;
    std::size_t inserted = 0;
    if (columns.size() == 1) {  // the single-element rule: a zero at floor(c_0 / 2) in front of it
        columns.insert(columns.begin(), columns.front() / 2);
        values.insert(values.begin(), Value{});
        ++inserted;
        if (dcsr_row_fits(columns, columns_total)) return inserted;
    }
    // Gaps as (size, right end): g_i ends at c_i, the last gap at C. The first largest = largest size, then the
    // smallest right end (right ends of equal non-zero gaps are distinct; zero gaps are never chosen).
    struct gap {
        std::uint32_t size;
        std::uint32_t end;
    };
    const auto smaller = [](const gap& a, const gap& b) { return a.size != b.size ? a.size < b.size : a.end > b.end; };
    std::priority_queue<gap, std::vector<gap>, decltype(smaller)> gaps(smaller);
    std::uint32_t previous = 0;
    for (const std::uint32_t c : columns) {
        gaps.push({c - previous, c});
        previous = c;
    }
    gaps.push({columns_total - previous, columns_total});
    // A row stops needing padding once its columns are (nearly) all present; this bound is never reached.
    const std::size_t limit = 2 * std::size_t{columns_total} + 2 * dcsr_lanes;
    do {
        const gap g = gaps.top();
        gaps.pop();
        const std::uint32_t half = g.size / 2 + g.size % 2;  // ceil(g / 2)
        const std::uint32_t column = g.end - half;
        const auto at = std::lower_bound(columns.begin(), columns.end(), g.end);
        const auto index = at - columns.begin();
        columns.insert(at, column);
        values.insert(values.begin() + index, Value{});
        ++inserted;
        gaps.push({g.size - half, column});
        gaps.push({half, g.end});
        if (columns.size() > limit) throw std::logic_error("approxnn: dCSR padding did not terminate");
        // While s > 17 the row cannot be valid (lane 15's offset s·15 exceeds 255): skip the full check.
    } while (dcsr_slope(columns_total, static_cast<std::uint32_t>(columns.size())) > dcsr_max_slope ||
             !dcsr_row_fits(columns, columns_total));
    return inserted;
}

/// The seven reference arrays (owning), as the encoder produces them.
template <class Value>
struct dcsr_arrays {
    std::uint32_t rows = 0;
    std::uint32_t cols = 0;
    std::vector<Value> values;
    std::vector<std::uint8_t> delta_indices;
    std::vector<std::int8_t> group_minimums;
    std::vector<std::uint8_t> bitmaps;
    std::vector<std::uint16_t> bitmasks;
    std::vector<std::int16_t> row_offsets;
    std::uint32_t nnze = 0;
};

/// Builds the seven reference arrays row by row.
template <class Value>
class dcsr_encoder {
public:
    /// Starts a matrix of `columns` columns (1 <= columns <= INT32_MAX).
    explicit dcsr_encoder(std::size_t columns) {
        if (columns == 0 || columns > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max())) {
            throw shape_error("dCSR: the column count " + std::to_string(columns) + " is outside [1, 2^31 - 1]");
        }
        columns_ = static_cast<std::uint32_t>(columns);
        out_.cols = columns_;
    }

    /// Appends the next row: strictly increasing columns < C and their values (zeros allowed; they are stored).
    /// Pads the row as the format requires; returns the padding zeros inserted.
    std::size_t append_row(std::vector<std::uint32_t> columns, std::vector<Value> values) {
        const std::size_t padding = dcsr_pad_row(columns, values, columns_);
        if (out_.values.size() + values.size() > std::numeric_limits<std::uint32_t>::max()) {
            throw format_error("dCSR: more than 2^32 - 1 stored elements (nnze is a uint32)");
        }
        const auto n = static_cast<std::uint32_t>(columns.size());
        const std::uint32_t s = dcsr_slope(columns_, n);
        std::int64_t previous = 0;
        for (std::size_t k = 0; k < dcsr_groups_of(n); ++k) {
            const detail::dcsr_group_code g = detail::dcsr_code_group(columns, s, k);
            const std::int64_t m = k == 0 ? g.minimum : g.minimum - previous - std::int64_t{16} * s;
            previous = g.minimum;
            append_group(static_cast<std::int8_t>(m), g.residual);
        }
        out_.values.insert(out_.values.end(), values.begin(), values.end());
        row_sizes_.push_back(n);
        return padding;
    }

    [[nodiscard]] std::uint32_t columns() const noexcept { return columns_; }
    [[nodiscard]] std::size_t rows() const noexcept { return row_sizes_.size(); }
    [[nodiscard]] const std::vector<std::uint32_t>& row_sizes() const noexcept { return row_sizes_; }

    /// The finished arrays. row_offsets = n_r − floor(N / R); throws format_error when one does not fit int16 (a
    /// limit of the format) and shape_error for a matrix without rows.
    [[nodiscard]] dcsr_arrays<Value> finish() && {
        if (row_sizes_.empty()) throw shape_error("dCSR: a matrix needs at least one row");
        if (row_sizes_.size() > std::numeric_limits<std::uint32_t>::max()) {
            throw shape_error("dCSR: more than 2^32 - 1 rows");
        }
        out_.rows = static_cast<std::uint32_t>(row_sizes_.size());
        out_.nnze = static_cast<std::uint32_t>(out_.values.size());
        out_.row_offsets = row_offsets();
        return std::move(out_);
    }

private:
    [[nodiscard]] std::vector<std::int16_t> row_offsets() const {
        std::vector<std::int16_t> offsets;
        const std::int64_t base = static_cast<std::int64_t>(out_.values.size() / row_sizes_.size());
        offsets.reserve(row_sizes_.size());
        for (std::size_t r = 0; r < row_sizes_.size(); ++r) {
            const std::int64_t offset = std::int64_t{row_sizes_[r]} - base;
            if (offset < std::numeric_limits<std::int16_t>::min() ||
                offset > std::numeric_limits<std::int16_t>::max()) {
                throw format_error("dCSR cannot represent this matrix: row " + std::to_string(r) + " stores " +
                                   std::to_string(row_sizes_[r]) + " elements, floor(N/R) = " + std::to_string(base) +
                                   ", so row_offsets[" + std::to_string(r) + "] = " + std::to_string(offset) +
                                   " does not fit int16");
            }
            offsets.push_back(static_cast<std::int16_t>(offset));
        }
        return offsets;
    }

    void append_group(std::int8_t minimum, const std::int64_t (&residual)[dcsr_lanes]) {
        const std::size_t g = out_.group_minimums.size();
        out_.group_minimums.push_back(minimum);
        const bool even = g % 2 == 0;
        if (even) {
            out_.delta_indices.resize(out_.delta_indices.size() + dcsr_lanes, 0);
            out_.bitmaps.push_back(0);
        }
        std::uint8_t* block = out_.delta_indices.data() + (g / 2) * dcsr_lanes;
        std::uint32_t bitmap = 0;
        for (std::uint32_t j = 0; j < dcsr_lanes; ++j) {
            const auto d = static_cast<std::uint32_t>(residual[j]);  // <= 255: the row is valid
            block[j] = static_cast<std::uint8_t>(block[j] | (even ? (d & 0xFU) << 4 : d & 0xFU));
        }
        for (std::uint32_t i = 0; i < 4; ++i) {
            std::uint32_t mask = 0;
            for (std::uint32_t j = 0; j < dcsr_lanes; ++j)
                mask |= ((static_cast<std::uint32_t>(residual[j]) >> (4 + i)) & 1U) << j;
            if (mask != 0) {
                bitmap |= 1U << i;
                out_.bitmasks.push_back(static_cast<std::uint16_t>(mask));
            }
        }
        out_.bitmaps.back() = static_cast<std::uint8_t>(out_.bitmaps.back() | (even ? bitmap << 4 : bitmap));
    }

    std::uint32_t columns_ = 0;
    std::vector<std::uint32_t> row_sizes_;
    dcsr_arrays<Value> out_;
};

}  // namespace approxnn::sparse
