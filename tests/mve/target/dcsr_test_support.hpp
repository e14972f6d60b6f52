#pragma once
// Test support for the Cortex-M55 programs: a deterministic random generator, random sparse int8 matrices, and a
// dCSR encoder written from dcsr-format.md §3–§5 (tie rules and padding included). The encoder is test code only:
// the library's own encoder (approxnn::sparse::dcsr_matrix) is host code with exceptions; this one runs on the
// target with -fno-exceptions, and every matrix it produces must pass the library's validate_dcsr().

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "approxnn/sparse/dcsr_layout.hpp"
#include "approxnn/sparse/dcsr_view.hpp"

namespace approxnn_test {

/// xorshift32: the same sequence on every run and every machine.
class random_bits {
public:
    explicit random_bits(std::uint32_t seed) : state_(seed != 0 ? seed : 0x9E3779B9U) {}
    std::uint32_t next() {
        state_ ^= state_ << 13;
        state_ ^= state_ >> 17;
        state_ ^= state_ << 5;
        return state_;
    }
    /// Uniform in [0, 1).
    double unit() { return static_cast<double>(next() >> 8) / 16777216.0; }
    /// A random int8, never 0.
    std::int8_t nonzero_int8() {
        for (;;) {
            const auto v = static_cast<std::int8_t>(static_cast<std::uint8_t>(next() >> 24));
            if (v != 0) return v;
        }
    }

private:
    std::uint32_t state_;
};

/// A rows × cols row-major int8 matrix whose elements are 0 with probability `sparsity`.
inline std::vector<std::int8_t> random_sparse(std::uint32_t rows, std::uint32_t cols, double sparsity,
                                              random_bits& rng) {
    std::vector<std::int8_t> m(std::size_t{rows} * cols, 0);
    for (auto& v : m) {
        if (rng.unit() >= sparsity) v = rng.nonzero_int8();
    }
    return m;
}

inline std::vector<std::int8_t> random_dense(std::size_t n, random_bits& rng) {
    std::vector<std::int8_t> v(n);
    for (auto& e : v) e = static_cast<std::int8_t>(static_cast<std::uint8_t>(rng.next() >> 24));
    return v;
}

/// The seven dCSR arrays of an encoded matrix, owned, and a view of them.
struct dcsr_arrays {
    std::uint32_t rows = 0;
    std::uint32_t cols = 0;
    std::vector<std::int8_t> values;
    std::vector<std::uint8_t> delta_indices;
    std::vector<std::int8_t> group_minimums;
    std::vector<std::uint8_t> bitmaps;
    std::vector<std::uint16_t> bitmasks;
    std::vector<std::int16_t> row_offsets;
    std::uint32_t padding = 0;  ///< padding zeros inserted

    approxnn::sparse::dcsr_view<std::int8_t> view() const {
        approxnn::sparse::dcsr_view<std::int8_t> v;
        v.rows = rows;
        v.cols = cols;
        v.nnze = static_cast<std::uint32_t>(values.size());
        v.values = values.data();
        v.values_size = static_cast<std::uint32_t>(values.size());
        v.delta_indices = delta_indices.data();
        v.delta_indices_size = static_cast<std::uint32_t>(delta_indices.size());
        v.group_minimums = group_minimums.data();
        v.group_minimums_size = static_cast<std::uint32_t>(group_minimums.size());
        v.bitmaps = bitmaps.data();
        v.bitmaps_size = static_cast<std::uint32_t>(bitmaps.size());
        v.bitmasks = bitmasks.data();
        v.bitmasks_size = static_cast<std::uint32_t>(bitmasks.size());
        v.row_offsets = row_offsets.data();
        v.row_offsets_size = static_cast<std::uint32_t>(row_offsets.size());
        return v;
    }
};

namespace detail {

struct encoded_group {
    std::uint8_t nibbles[16];
    std::uint32_t bitmap;
    std::uint16_t masks[4];
    std::int32_t minimum;  // m_k
};

/// Encodes one row's sorted columns (§3); false when a validity rule of §3.8 fails.
inline bool encode_row(const std::vector<std::int64_t>& columns, std::int64_t cols,
                       std::vector<encoded_group>& groups) {
    groups.clear();
    const auto n = static_cast<std::int64_t>(columns.size());
    if (n == 0) return true;
    const std::int64_t s = (cols + n / 2) / n;
    std::int64_t previous_minimum = 0;
    for (std::int64_t k = 0; 16 * k < n; ++k) {
        const std::int64_t active = std::min<std::int64_t>(16, n - 16 * k);
        std::int64_t r[16];
        for (std::int64_t j = 0; j < active; ++j) r[j] = columns[static_cast<std::size_t>(16 * k + j)] - s * j;
        const std::int64_t minimum = *std::min_element(r, r + active);
        for (std::int64_t j = active; j < 16; ++j) r[j] = minimum;  // padding lanes (§3.4)
        encoded_group g{};
        g.minimum = static_cast<std::int32_t>(k == 0 ? minimum : minimum - previous_minimum - 16 * s);
        if (!(g.minimum > -128 && g.minimum < 127)) return false;  // (b)
        previous_minimum = minimum;
        for (std::int64_t j = 0; j < 16; ++j) {
            const std::int64_t d = r[j] - minimum;
            if (d > 255 || s * j + d > 255) return false;  // (c), (a)
            g.nibbles[j] = static_cast<std::uint8_t>(d & 0xF);
            for (int b = 4; b < 8; ++b) {
                if ((d >> b) & 1) g.masks[b - 4] = static_cast<std::uint16_t>(g.masks[b - 4] | (1U << j));
            }
        }
        for (int i = 0; i < 4; ++i) {
            if (g.masks[i] != 0) g.bitmap |= 1U << i;
        }
        groups.push_back(g);
    }
    return true;
}

/// Inserts one padding zero into the largest gap (§4); returns the inserted column's position.
inline std::size_t pad_row(std::vector<std::int64_t>& columns, std::int64_t cols) {
    const std::size_t n = columns.size();
    if (n == 1) {
        columns.insert(columns.begin(), columns[0] / 2);
        return 0;
    }
    std::size_t best = 0;
    std::int64_t best_gap = columns[0];
    for (std::size_t i = 1; i <= n; ++i) {
        const std::int64_t gap = i < n ? columns[i] - columns[i - 1] : cols - columns[n - 1];
        if (gap > best_gap) {
            best_gap = gap;
            best = i;
        }
    }
    const std::int64_t half = (best_gap + 1) / 2;
    if (best < n) {
        columns.insert(columns.begin() + static_cast<std::ptrdiff_t>(best), columns[best] - half);
        return best;
    }
    columns.push_back(cols - half);
    return n;
}

}  // namespace detail

/// Encodes a dense rows × cols row-major int8 matrix (rows >= 1, cols >= 1).
inline dcsr_arrays encode_dcsr(const std::int8_t* dense, std::uint32_t rows, std::uint32_t cols) {
    dcsr_arrays out;
    out.rows = rows;
    out.cols = cols;
    std::vector<std::int64_t> columns;
    std::vector<std::int8_t> row_values;
    std::vector<detail::encoded_group> groups;
    std::vector<detail::encoded_group> all_groups;
    std::vector<std::int64_t> sizes;
    for (std::uint32_t r = 0; r < rows; ++r) {
        columns.clear();
        row_values.clear();
        for (std::uint32_t c = 0; c < cols; ++c) {
            const std::int8_t v = dense[std::size_t{r} * cols + c];
            if (v != 0) {
                columns.push_back(c);
                row_values.push_back(v);
            }
        }
        while (!detail::encode_row(columns, cols, groups)) {
            const std::size_t at = detail::pad_row(columns, cols);
            row_values.insert(row_values.begin() + static_cast<std::ptrdiff_t>(at), std::int8_t{0});
            ++out.padding;
        }
        out.values.insert(out.values.end(), row_values.begin(), row_values.end());
        all_groups.insert(all_groups.end(), groups.begin(), groups.end());
        sizes.push_back(static_cast<std::int64_t>(columns.size()));
    }
    const std::size_t gt = all_groups.size();
    out.delta_indices.assign(16 * ((gt + 1) / 2), 0);
    out.bitmaps.assign((gt + 1) / 2, 0);
    for (std::size_t g = 0; g < gt; ++g) {
        const detail::encoded_group& e = all_groups[g];
        const unsigned shift = g % 2 == 0 ? 4 : 0;
        for (std::size_t j = 0; j < 16; ++j) {
            out.delta_indices[16 * (g / 2) + j] =
                static_cast<std::uint8_t>(out.delta_indices[16 * (g / 2) + j] | (e.nibbles[j] << shift));
        }
        out.bitmaps[g / 2] = static_cast<std::uint8_t>(out.bitmaps[g / 2] | (e.bitmap << shift));
        out.group_minimums.push_back(static_cast<std::int8_t>(e.minimum));
        for (int i = 0; i < 4; ++i) {
            if ((e.bitmap >> i) & 1U) out.bitmasks.push_back(e.masks[i]);
        }
    }
    const auto base = static_cast<std::int64_t>(out.values.size() / rows);
    for (const std::int64_t n : sizes) out.row_offsets.push_back(static_cast<std::int16_t>(n - base));
    return out;
}

/// y = W·x with W dense (rows × cols, leading dimension ldw), the scalar oracle.
inline void dense_reference(const std::int8_t* w, std::uint32_t rows, std::uint32_t cols, std::size_t ldw,
                            const std::int8_t* x, std::int32_t* y) {
    for (std::uint32_t r = 0; r < rows; ++r) {
        std::int32_t acc = 0;
        for (std::uint32_t c = 0; c < cols; ++c) acc += std::int32_t{w[r * ldw + c]} * x[c];
        y[r] = acc;
    }
}

}  // namespace approxnn_test

namespace approxnn_test {

/// One random test matrix: shape, sparsity, seed.
struct matrix_case {
    std::uint32_t rows;
    std::uint32_t cols;
    double sparsity;
    std::uint32_t seed;
};

/// The matrices every MVE kernel test runs on: 1×1 and single rows/columns, K (columns) not a multiple of 16,
/// square and keyword-spotting shapes, and very wide sparse rows that need padding zeros; sparsities from dense to
/// all zero (empty rows), at fixed seeds.
inline std::vector<matrix_case> kernel_test_matrices() {
    struct shape {
        std::uint32_t rows;
        std::uint32_t cols;
    };
    const shape shapes[] = {{1, 1},   {1, 17},  {3, 17},  {2, 16},   {7, 33},  {13, 100}, {16, 16},
                            {40, 1},  {64, 64}, {5, 255}, {20, 300}, {9, 1000}, {12, 1536}, {3, 4000}};
    const double sparsities[] = {0.0, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0};
    std::vector<matrix_case> cases;
    std::uint32_t seed = 1;
    for (const shape& s : shapes) {
        for (const double sparsity : sparsities) cases.push_back({s.rows, s.cols, sparsity, seed++});
    }
    return cases;
}

/// A random int8 matrix of a case (row-major, rows × cols) and its dCSR encoding.
struct test_matrix {
    matrix_case spec;
    std::vector<std::int8_t> dense;
    dcsr_arrays encoded;
};

inline test_matrix make_test_matrix(const matrix_case& c) {
    random_bits rng(c.seed * 2654435761U);
    test_matrix m{c, random_sparse(c.rows, c.cols, c.sparsity, rng), {}};
    m.encoded = encode_dcsr(m.dense.data(), c.rows, c.cols);
    return m;
}

}  // namespace approxnn_test

namespace approxnn_test {

/// Hand-made matrices beside the random ones: the worked examples of dcsr-format.md, rows whose clustered
/// nonzeros need every extension plane (residuals up to 255), rows that need padding zeros, an all-zero matrix,
/// a full row and single elements at the edges.
inline std::vector<test_matrix> structured_test_matrices() {
    std::vector<test_matrix> out;
    const auto add = [&](std::uint32_t rows, std::uint32_t cols, std::vector<std::int8_t> dense) {
        test_matrix m{{rows, cols, -1.0, 0}, std::move(dense), {}};
        m.encoded = encode_dcsr(m.dense.data(), rows, cols);
        out.push_back(std::move(m));
    };
    {  // dcsr-format.md §7, 4×16
        std::vector<std::int8_t> d(64, 0);
        const std::uint32_t c0[] = {1, 4, 6, 11};
        const std::int8_t v0[] = {5, -3, 7, 2};
        for (int i = 0; i < 4; ++i) d[c0[i]] = v0[i];
        const std::uint32_t c1[] = {0, 2, 3, 5, 8, 9, 13, 15};
        for (int i = 0; i < 8; ++i) d[16 + c1[i]] = static_cast<std::int8_t>(i + 1);
        d[48 + 14] = 9;
        add(4, 16, std::move(d));
    }
    {  // §7 extension example, 1×32
        std::vector<std::int8_t> d(32, 0);
        for (int c = 0; c < 8; ++c) d[c] = static_cast<std::int8_t>(c - 4 == 0 ? 1 : c - 4);
        add(1, 32, std::move(d));
    }
    {  // clustered rows, 6×512: dense runs far apart, residuals up to ~240 (all four planes)
        std::vector<std::int8_t> d(6 * 512, 0);
        random_bits rng(77);
        for (std::uint32_t r = 0; r < 6; ++r) {
            const std::uint32_t run = 8 + 4 * r;
            for (std::uint32_t c = 0; c < run; ++c) d[r * 512 + c] = rng.nonzero_int8();
            for (std::uint32_t c = 0; c < run; ++c) d[r * 512 + 300 + 30 * r + c] = rng.nonzero_int8();
        }
        add(6, 512, std::move(d));
    }
    {  // §4 padding examples and a single element at the last column, 3×256
        std::vector<std::int8_t> d(3 * 256, 0);
        d[0] = 1;
        d[200] = -2;
        d[256 + 3] = 3;
        d[256 + 250] = -128;
        d[512 + 255] = 127;
        add(3, 256, std::move(d));
    }
    add(5, 40, std::vector<std::int8_t>(200, 0));  // all zero: no groups at all
    {  // a full row between empty rows, and extreme values
        std::vector<std::int8_t> d(3 * 100, 0);
        for (std::uint32_t c = 0; c < 100; ++c) d[100 + c] = c % 2 == 0 ? -128 : 127;
        add(3, 100, std::move(d));
    }
    return out;
}

/// Every matrix the MVE kernel tests run on: the random cases, then the hand-made ones.
inline std::vector<test_matrix> all_test_matrices() {
    std::vector<test_matrix> out;
    for (const matrix_case& c : kernel_test_matrices()) out.push_back(make_test_matrix(c));
    std::vector<test_matrix> structured = structured_test_matrices();
    for (test_matrix& m : structured) out.push_back(std::move(m));
    return out;
}

}  // namespace approxnn_test
