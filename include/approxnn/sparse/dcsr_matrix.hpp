#pragma once
// dcsr_matrix<Value>: an owning dCSR matrix (host).
//
//   Build:     from_dense(data, rows, cols[, row_stride]), from_csr(rows, cols, row_ptr, col_idx, values),
//              from_triplets(rows, cols, triplets), from_view(view) (a validated copy of foreign arrays).
//              Zeros of the input are not stored (explicit zeros of CSR / triplets are dropped); the encoder adds the
//              padding zeros the format needs. Bad input throws: shape_error (empty shape, an index outside the
//              matrix, array lengths that do not fit), format_error (duplicates, unsorted or decreasing row_ptr,
//              data the format cannot represent, invalid foreign arrays), each naming the value.
//   Read:      the seven reference arrays (read-only spans), nnze(), rows(), cols(), view() for the kernels;
//              row(r) iterates (column, value) pairs in column order (padding zeros included); for_each(f);
//              to_dense(). size_bytes() is the format's exact size N + 16·ceil(Gt/2) + Gt + ceil(Gt/2) + 2E + 2R + 4
//              (N·sizeof(Value) for wider values); nonzeros(), padding_zeros() = N − nonzeros(), bytes_per_nonzero().
//   Option (1) beyond the original: a row-start index (dcsr_build_options::row_index, off by default; or
//              build_row_index() later). It adds R + 1 entries of three uint32 next to the reference arrays, which
//              stay bit-identical; it enables O(1) row(r) and row-parallel kernels. Not counted in size_bytes()
//              (see row_index_bytes()).
//   Option (2): Value = std::int16_t or float keeps the same index arrays with wider values (host kernels only).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <numeric>
#include <span>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "approxnn/core/error.hpp"
#include "approxnn/sparse/dcsr_check.hpp"
#include "approxnn/sparse/dcsr_encoder.hpp"
#include "approxnn/sparse/dcsr_view.hpp"

namespace approxnn::sparse {

/// Options of the builders.
struct dcsr_build_options {
    /// Also build approxnn's row-start index (random row access, row-parallel kernels). Off: the reference layout only.
    bool row_index = false;
};

/// One (row, column, value) entry for from_triplets.
template <class Value>
struct dcsr_triplet {
    std::size_t row = 0;
    std::size_t col = 0;
    Value value{};
};

/// A (column, value) pair of a row.
template <class Value>
struct dcsr_entry {
    std::uint32_t column = 0;
    Value value{};
    friend constexpr bool operator==(const dcsr_entry&, const dcsr_entry&) = default;
};

/// The (column, value) pairs of one row of a valid view, decoded on the fly (a forward range).
template <class Value>
class dcsr_row_entries {
public:
    class iterator {
    public:
        using value_type = dcsr_entry<Value>;
        using difference_type = std::ptrdiff_t;
        iterator() = default;
        iterator(const dcsr_view<Value>* view, const dcsr_row_info& row) : view_(view), row_(row) {
            bitmask_ = row.begin.bitmask;
            if (row_.size != 0) load_group();
        }
        value_type operator*() const {
            return {static_cast<std::uint32_t>(base_ + offsets_[index_ % dcsr_lanes]),
                    view_->values[row_.begin.value + index_]};
        }
        iterator& operator++() {
            ++index_;
            if (index_ < row_.size && index_ % dcsr_lanes == 0) load_group();
            return *this;
        }
        iterator operator++(int) {
            iterator old = *this;
            ++*this;
            return old;
        }
        friend bool operator==(const iterator& a, const iterator& b) { return a.remaining() == b.remaining(); }

    private:
        [[nodiscard]] std::uint32_t remaining() const { return view_ == nullptr ? 0 : row_.size - index_; }
        void load_group() {
            const std::uint32_t k = index_ / dcsr_lanes;
            const std::uint32_t g = row_.begin.group + k;
            base_ =
                k == 0 ? view_->group_minimums[g] : base_ + std::int64_t{16} * row_.slope + view_->group_minimums[g];
            dcsr_decode_offsets(*view_, g, row_.slope, bitmask_, offsets_);
        }

        const dcsr_view<Value>* view_ = nullptr;
        dcsr_row_info row_{};
        std::uint32_t index_ = 0;
        std::uint32_t bitmask_ = 0;
        std::int64_t base_ = 0;
        std::uint8_t offsets_[dcsr_lanes] = {};
    };

    dcsr_row_entries(const dcsr_view<Value>& view, const dcsr_row_info& row) : view_(view), row_(row) {}
    [[nodiscard]] iterator begin() const { return iterator(&view_, row_); }
    [[nodiscard]] iterator end() const { return iterator(); }
    [[nodiscard]] std::uint32_t size() const noexcept { return row_.size; }
    [[nodiscard]] const dcsr_row_info& info() const noexcept { return row_; }

private:
    dcsr_view<Value> view_;
    dcsr_row_info row_;
};

/// An owning dCSR matrix (see the contract at the top of this header).
template <class Value = std::int8_t>
class dcsr_matrix {
public:
    using value_type = Value;

    /// An empty 1×1 matrix (no stored elements).
    dcsr_matrix() : dcsr_matrix(empty_arrays(), {}) {}

    // ---- builders ------------------------------------------------------------------------------------------------

    /// From a dense row-major matrix: element (r, c) at data[r * row_stride + c] (row_stride >= cols; 0 means cols).
    static dcsr_matrix from_dense(const Value* data, std::size_t rows, std::size_t cols, std::size_t row_stride = 0,
                                  dcsr_build_options options = {}) {
        check_shape(rows, cols);
        if (row_stride == 0) row_stride = cols;
        if (row_stride < cols) {
            throw shape_error("dCSR: row stride " + std::to_string(row_stride) +
                              " is smaller than cols = " + std::to_string(cols));
        }
        if (data == nullptr)
            throw shape_error("dCSR: from_dense got a null pointer for a " + shape_text(rows, cols) + " matrix");
        dcsr_encoder<Value> encoder(cols);
        std::vector<std::uint32_t> columns;
        std::vector<Value> values;
        for (std::size_t r = 0; r < rows; ++r) {
            columns.clear();
            values.clear();
            const Value* row = data + r * row_stride;
            for (std::size_t c = 0; c < cols; ++c) {
                if (row[c] != Value{}) {
                    columns.push_back(static_cast<std::uint32_t>(c));
                    values.push_back(row[c]);
                }
            }
            encoder.append_row(columns, values);
        }
        return dcsr_matrix(std::move(encoder).finish(), options);
    }

    /// From CSR arrays: row r holds col_idx[row_ptr[r] .. row_ptr[r+1]) and their values; row_ptr has rows + 1
    /// entries starting at 0; columns may come unsorted but not twice in a row.
    template <class Pointer, class Index>
    static dcsr_matrix from_csr(std::size_t rows, std::size_t cols, std::span<const Pointer> row_ptr,
                                std::span<const Index> col_idx, std::span<const Value> values,
                                dcsr_build_options options = {}) {
        static_assert(std::is_integral_v<Pointer> && std::is_integral_v<Index>,
                      "approxnn: CSR row pointers and column indices must be integers");
        check_shape(rows, cols);
        if (row_ptr.size() != rows + 1) {
            throw shape_error("dCSR: from_csr needs rows + 1 = " + std::to_string(rows + 1) + " row pointers, got " +
                              std::to_string(row_ptr.size()));
        }
        if (col_idx.size() != values.size()) {
            throw shape_error("dCSR: from_csr got " + std::to_string(col_idx.size()) + " column indices and " +
                              std::to_string(values.size()) + " values");
        }
        if (row_ptr[0] != 0) throw format_error("dCSR: CSR row_ptr[0] = " + std::to_string(row_ptr[0]) + ", must be 0");
        for (std::size_t r = 0; r < rows; ++r) {
            if (row_ptr[r + 1] < row_ptr[r]) {
                throw format_error("dCSR: CSR row_ptr decreases at row " + std::to_string(r) + " (" +
                                   std::to_string(row_ptr[r]) + " then " + std::to_string(row_ptr[r + 1]) + ")");
            }
        }
        if (static_cast<std::uint64_t>(row_ptr[rows]) != col_idx.size()) {
            throw shape_error("dCSR: CSR row_ptr[rows] = " + std::to_string(row_ptr[rows]) + " but there are " +
                              std::to_string(col_idx.size()) + " column indices");
        }
        dcsr_encoder<Value> encoder(cols);
        std::vector<std::pair<std::uint32_t, Value>> entries;
        for (std::size_t r = 0; r < rows; ++r) {
            entries.clear();
            for (auto i = static_cast<std::size_t>(row_ptr[r]); i < static_cast<std::size_t>(row_ptr[r + 1]); ++i) {
                check_index(r, col_idx[i], rows, cols);
                entries.emplace_back(static_cast<std::uint32_t>(col_idx[i]), values[i]);
            }
            append_sorted(encoder, entries, r);
        }
        return dcsr_matrix(std::move(encoder).finish(), options);
    }

    /// From (row, column, value) triplets in any order; an index outside the matrix throws shape_error, a repeated
    /// (row, column) format_error.
    static dcsr_matrix from_triplets(std::size_t rows, std::size_t cols, std::span<const dcsr_triplet<Value>> triplets,
                                     dcsr_build_options options = {}) {
        check_shape(rows, cols);
        std::vector<std::size_t> order(triplets.size());
        std::iota(order.begin(), order.end(), std::size_t{0});
        for (const dcsr_triplet<Value>& t : triplets) check_index(t.row, t.col, rows, cols);
        std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
            return triplets[a].row != triplets[b].row ? triplets[a].row < triplets[b].row
                                                      : triplets[a].col < triplets[b].col;
        });
        dcsr_encoder<Value> encoder(cols);
        std::vector<std::pair<std::uint32_t, Value>> entries;
        std::size_t i = 0;
        for (std::size_t r = 0; r < rows; ++r) {
            entries.clear();
            for (; i < order.size() && triplets[order[i]].row == r; ++i) {
                entries.emplace_back(static_cast<std::uint32_t>(triplets[order[i]].col), triplets[order[i]].value);
            }
            append_sorted(encoder, entries, r);
        }
        return dcsr_matrix(std::move(encoder).finish(), options);
    }

    /// A copy of foreign arrays, validated first (format_error naming the first violated invariant). A row-start
    /// index in the view is validated and kept.
    static dcsr_matrix from_view(const dcsr_view<Value>& view) {
        check_dcsr(view);
        dcsr_arrays<Value> a;
        a.rows = view.rows;
        a.cols = view.cols;
        a.nnze = view.nnze;
        a.values.assign(view.values, view.values + view.values_size);
        a.delta_indices.assign(view.delta_indices, view.delta_indices + view.delta_indices_size);
        a.group_minimums.assign(view.group_minimums, view.group_minimums + view.group_minimums_size);
        a.bitmaps.assign(view.bitmaps, view.bitmaps + view.bitmaps_size);
        a.bitmasks.assign(view.bitmasks, view.bitmasks + view.bitmasks_size);
        a.row_offsets.assign(view.row_offsets, view.row_offsets + view.row_offsets_size);
        return dcsr_matrix(std::move(a), dcsr_build_options{view.row_starts != nullptr});
    }

    /// From arrays already checked by validate_dcsr (e.g. by the container reader); validates again.
    static dcsr_matrix from_arrays(dcsr_arrays<Value> arrays, dcsr_build_options options = {}) {
        dcsr_matrix m(std::move(arrays), options);
        check_dcsr(m.view());
        return m;
    }

    // ---- the reference arrays ------------------------------------------------------------------------------------

    [[nodiscard]] std::uint32_t rows() const noexcept { return a_.rows; }
    [[nodiscard]] std::uint32_t cols() const noexcept { return a_.cols; }
    /// N: stored elements, padding zeros included (the format's nnze).
    [[nodiscard]] std::uint32_t nnze() const noexcept { return a_.nnze; }
    /// Gt: number of 16-lane groups.
    [[nodiscard]] std::uint32_t groups() const noexcept { return static_cast<std::uint32_t>(a_.group_minimums.size()); }
    [[nodiscard]] std::span<const Value> values() const noexcept { return a_.values; }
    [[nodiscard]] std::span<const std::uint8_t> delta_indices() const noexcept { return a_.delta_indices; }
    [[nodiscard]] std::span<const std::int8_t> group_minimums() const noexcept { return a_.group_minimums; }
    [[nodiscard]] std::span<const std::uint8_t> bitmaps() const noexcept { return a_.bitmaps; }
    [[nodiscard]] std::span<const std::uint16_t> bitmasks() const noexcept { return a_.bitmasks; }
    [[nodiscard]] std::span<const std::int16_t> row_offsets() const noexcept { return a_.row_offsets; }
    /// All arrays at once (a copy is made by the caller if wanted).
    [[nodiscard]] const dcsr_arrays<Value>& arrays() const noexcept { return a_; }

    /// n_r, the stored elements of row r (padding zeros included).
    [[nodiscard]] std::uint32_t row_size(std::uint32_t r) const { return view().row_size(checked_row(r)); }

    // ---- sizes ---------------------------------------------------------------------------------------------------

    /// Exact byte size of the reference arrays (N·sizeof(Value) + 16·ceil(Gt/2) + Gt + ceil(Gt/2) + 2E + 2R + 4).
    [[nodiscard]] std::uint64_t size_bytes() const noexcept { return view().size_bytes(); }
    /// Stored elements that are not zero.
    [[nodiscard]] std::uint64_t nonzeros() const noexcept {
        return static_cast<std::uint64_t>(
            std::count_if(a_.values.begin(), a_.values.end(), [](Value v) { return v != Value{}; }));
    }
    /// Stored zeros (the padding the format inserted; zeros of the input are never stored).
    [[nodiscard]] std::uint64_t padding_zeros() const noexcept { return a_.nnze - nonzeros(); }
    /// size_bytes() / nonzeros() (0 for a matrix without non-zeros).
    [[nodiscard]] double bytes_per_nonzero() const noexcept {
        const std::uint64_t nz = nonzeros();
        return nz == 0 ? 0.0 : static_cast<double>(size_bytes()) / static_cast<double>(nz);
    }

    // ---- option (1): the row-start index -------------------------------------------------------------------------

    [[nodiscard]] bool has_row_index() const noexcept { return !row_starts_.empty(); }
    /// The row-start index: R + 1 entries (empty when absent).
    [[nodiscard]] std::span<const dcsr_row_start> row_starts() const noexcept { return row_starts_; }
    /// Bytes of the row-start index (0 when absent).
    [[nodiscard]] std::uint64_t row_index_bytes() const noexcept { return row_starts_.size() * sizeof(dcsr_row_start); }
    /// Builds the row-start index (no change to the reference arrays).
    void build_row_index() {
        row_starts_.clear();
        row_starts_.reserve(std::size_t{a_.rows} + 1);
        dcsr_view<Value> v = view();
        dcsr_row_walker<Value> w(v);
        for (; !w.done(); w.next()) row_starts_.push_back(w.position());
        row_starts_.push_back(w.position());
    }
    /// Drops the row-start index.
    void drop_row_index() noexcept {
        row_starts_.clear();
        row_starts_.shrink_to_fit();
    }

    // ---- views and decoding --------------------------------------------------------------------------------------

    /// A view for the kernels (valid while this matrix lives and is not modified); carries the row index if any.
    [[nodiscard]] dcsr_view<Value> view() const noexcept {
        dcsr_view<Value> v;
        v.rows = a_.rows;
        v.cols = a_.cols;
        v.nnze = a_.nnze;
        v.values = a_.values.data();
        v.values_size = static_cast<std::uint32_t>(a_.values.size());
        v.delta_indices = a_.delta_indices.data();
        v.delta_indices_size = static_cast<std::uint32_t>(a_.delta_indices.size());
        v.group_minimums = a_.group_minimums.data();
        v.group_minimums_size = static_cast<std::uint32_t>(a_.group_minimums.size());
        v.bitmaps = a_.bitmaps.data();
        v.bitmaps_size = static_cast<std::uint32_t>(a_.bitmaps.size());
        v.bitmasks = a_.bitmasks.data();
        v.bitmasks_size = static_cast<std::uint32_t>(a_.bitmasks.size());
        v.row_offsets = a_.row_offsets.data();
        v.row_offsets_size = static_cast<std::uint32_t>(a_.row_offsets.size());
        if (!row_starts_.empty()) {
            v.row_starts = row_starts_.data();
            v.row_starts_size = static_cast<std::uint32_t>(row_starts_.size());
        }
        return v;
    }
    /// The view without the row-start index (the reference layout alone).
    [[nodiscard]] dcsr_view<Value> reference_view() const noexcept {
        dcsr_view<Value> v = view();
        v.row_starts = nullptr;
        v.row_starts_size = 0;
        return v;
    }

    /// The (column, value) pairs of row r in column order, padding zeros included. O(1) to reach the row with the
    /// row index, O(r) without (walk the rows in order with for_each for a whole pass).
    [[nodiscard]] dcsr_row_entries<Value> row(std::uint32_t r) const {
        const dcsr_view<Value> v = view();
        return dcsr_row_entries<Value>(v, dcsr_row_walker<Value>(v, checked_row(r)).info());
    }

    /// Calls f(row, column, value) for every stored element, rows in order.
    template <class F>
    void for_each(F&& f) const {
        dcsr_for_each(view(), f);
    }

    /// Writes the dense matrix: element (r, c) to out[r * row_stride + c] (row_stride >= cols; 0 means cols).
    void to_dense(Value* out, std::size_t row_stride = 0) const {
        if (row_stride == 0) row_stride = a_.cols;
        if (row_stride < a_.cols) {
            throw shape_error("dCSR: row stride " + std::to_string(row_stride) +
                              " is smaller than cols = " + std::to_string(a_.cols));
        }
        for (std::size_t r = 0; r < a_.rows; ++r) std::fill_n(out + r * row_stride, a_.cols, Value{});
        for_each([&](std::uint32_t r, std::uint32_t c, Value v) {
            if (v != Value{}) out[std::size_t{r} * row_stride + c] = v;
        });
    }
    /// The dense matrix, row-major.
    [[nodiscard]] std::vector<Value> to_dense() const {
        std::vector<Value> out(std::size_t{a_.rows} * a_.cols);
        to_dense(out.data());
        return out;
    }

    friend bool operator==(const dcsr_matrix& a, const dcsr_matrix& b) {
        return a.a_.rows == b.a_.rows && a.a_.cols == b.a_.cols && a.a_.nnze == b.a_.nnze &&
               a.a_.values == b.a_.values && a.a_.delta_indices == b.a_.delta_indices &&
               a.a_.group_minimums == b.a_.group_minimums && a.a_.bitmaps == b.a_.bitmaps &&
               a.a_.bitmasks == b.a_.bitmasks && a.a_.row_offsets == b.a_.row_offsets && a.row_starts_ == b.row_starts_;
    }

private:
    dcsr_matrix(dcsr_arrays<Value> arrays, dcsr_build_options options) : a_(std::move(arrays)) {
        if (options.row_index) build_row_index();
    }

    static dcsr_arrays<Value> empty_arrays() {
        dcsr_encoder<Value> encoder(1);
        encoder.append_row({}, {});
        return std::move(encoder).finish();
    }

    static std::string shape_text(std::size_t rows, std::size_t cols) {
        return std::to_string(rows) + "x" + std::to_string(cols);
    }

    static void check_shape(std::size_t rows, std::size_t cols) {
        if (rows == 0 || cols == 0) {
            throw shape_error("dCSR: a " + shape_text(rows, cols) +
                              " matrix is empty (the format needs at least one "
                              "row and one column)");
        }
        if (rows > std::numeric_limits<std::uint32_t>::max() ||
            cols > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max())) {
            throw shape_error("dCSR: a " + shape_text(rows, cols) +
                              " matrix is too large (rows <= 2^32 - 1, cols <= 2^31 - 1)");
        }
    }

    template <class Index>
    static void check_index(std::size_t row, Index col, std::size_t rows, std::size_t cols) {
        if constexpr (std::is_signed_v<Index>) {
            if (col < 0) {
                throw shape_error("dCSR: column index " + std::to_string(col) + " in row " + std::to_string(row) +
                                  " is negative");
            }
        }
        if (row >= rows || static_cast<std::uint64_t>(col) >= cols) {
            throw shape_error("dCSR: entry (" + std::to_string(row) + ", " + std::to_string(col) +
                              ") lies outside the " + shape_text(rows, cols) + " matrix");
        }
    }

    static void append_sorted(dcsr_encoder<Value>& encoder, std::vector<std::pair<std::uint32_t, Value>>& entries,
                              std::size_t row) {
        std::stable_sort(entries.begin(), entries.end(),
                         [](const auto& a, const auto& b) { return a.first < b.first; });
        std::vector<std::uint32_t> columns;
        std::vector<Value> values;
        columns.reserve(entries.size());
        values.reserve(entries.size());
        for (std::size_t i = 0; i < entries.size(); ++i) {
            if (i > 0 && entries[i].first == entries[i - 1].first) {
                throw format_error("dCSR: entry (" + std::to_string(row) + ", " + std::to_string(entries[i].first) +
                                   ") is given twice");
            }
            if (entries[i].second == Value{}) continue;  // explicit zeros are not stored
            columns.push_back(entries[i].first);
            values.push_back(entries[i].second);
        }
        encoder.append_row(std::move(columns), std::move(values));
    }

    [[nodiscard]] std::uint32_t checked_row(std::uint32_t r) const {
        if (r >= a_.rows) {
            throw shape_error("dCSR: row " + std::to_string(r) + " is outside the " + shape_text(a_.rows, a_.cols) +
                              " matrix");
        }
        return r;
    }

    dcsr_arrays<Value> a_;
    std::vector<dcsr_row_start> row_starts_;
};

}  // namespace approxnn::sparse
