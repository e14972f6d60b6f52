// The dCSR layout, bit for bit: the worked examples of dcsr-format.md §7, the padding rules of §4, the residual
// >= 256 corner, and the library's encoder against an independent naive encoder on random matrices.

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "approxnn/sparse/dcsr_encoder.hpp"
#include "approxnn/sparse/dcsr_matrix.hpp"
#include "dcsr_test_support.hpp"

namespace sp = approxnn::sparse;
using i8 = std::int8_t;
using u8 = std::uint8_t;

namespace {

template <class T>
std::vector<T> vec(std::span<const T> s) {
    return {s.begin(), s.end()};
}

std::vector<i8> worked_example_dense() {
    std::vector<i8> d(4 * 16, 0);
    const auto set = [&](int r, int c, int v) { d[static_cast<std::size_t>(r * 16 + c)] = static_cast<i8>(v); };
    set(0, 1, 5);
    set(0, 4, -3);
    set(0, 6, 7);
    set(0, 11, 2);
    const int row1[] = {0, 2, 3, 5, 8, 9, 13, 15};
    for (int i = 0; i < 8; ++i) set(1, row1[i], i + 1);
    set(3, 14, 9);
    return d;
}

void check_worked_example(const sp::dcsr_matrix<i8>& m) {
    CHECK(m.rows() == 4);
    CHECK(m.cols() == 16);
    CHECK(m.nnze() == 13);
    CHECK(vec(m.row_offsets()) == std::vector<std::int16_t>{1, 5, -3, -2});
    CHECK(vec(m.values()) == std::vector<i8>{5, -3, 7, 2, 1, 2, 3, 4, 5, 6, 7, 8, 9});
    std::vector<u8> delta(32, 0);
    const u8 first[8] = {0x31, 0x21, 0x00, 0x10, 0x01, 0x00, 0x02, 0x02};
    for (int i = 0; i < 8; ++i) delta[static_cast<std::size_t>(i)] = first[i];
    CHECK(vec(m.delta_indices()) == delta);
    CHECK(vec(m.group_minimums()) == std::vector<i8>{-2, -1, 14});
    CHECK(vec(m.bitmaps()) == std::vector<u8>{0x00, 0x00});
    CHECK(m.bitmasks().empty());
    CHECK(m.size_bytes() == 62);
    CHECK(m.view().row_slope(0) == 4);
    CHECK(m.view().row_slope(1) == 2);
    CHECK(m.view().row_slope(2) == 0);
    CHECK(m.view().row_slope(3) == 16);
}

}  // namespace

TEST_CASE("dcsr format: the 4x16 worked example of §7 gives exactly the listed arrays and 62 bytes") {
    const std::vector<i8> d = worked_example_dense();
    SUBCASE("from dense") { check_worked_example(sp::dcsr_matrix<i8>::from_dense(d.data(), 4, 16)); }
    SUBCASE("from triplets, shuffled") {
        std::vector<sp::dcsr_triplet<i8>> t;
        for (std::size_t i = d.size(); i-- > 0;) {
            if (d[i] != 0) t.push_back({i / 16, i % 16, d[i]});
        }
        check_worked_example(sp::dcsr_matrix<i8>::from_triplets(4, 16, t));
    }
    SUBCASE("from CSR") {
        const std::vector<int> row_ptr = {0, 4, 12, 12, 13};
        const std::vector<int> cols = {1, 4, 6, 11, 0, 2, 3, 5, 8, 9, 13, 15, 14};
        const std::vector<i8> vals = {5, -3, 7, 2, 1, 2, 3, 4, 5, 6, 7, 8, 9};
        check_worked_example(sp::dcsr_matrix<i8>::from_csr<int, int>(4, 16, row_ptr, cols, vals));
    }
    SUBCASE("the row-start index leaves the reference arrays untouched") {
        const auto m = sp::dcsr_matrix<i8>::from_dense(d.data(), 4, 16, 0, {.row_index = true});
        check_worked_example(m);
        REQUIRE(m.has_row_index());
        CHECK(m.row_starts().size() == 5);
        CHECK(m.row_starts()[1] == sp::dcsr_row_start{4, 1, 0});
        CHECK(m.row_starts()[3] == sp::dcsr_row_start{12, 2, 0});
        CHECK(m.row_starts()[4] == sp::dcsr_row_start{13, 3, 0});
        CHECK(m.row_index_bytes() == 5 * 12);
    }
}

TEST_CASE("dcsr format: the 1x32 extension example of §7 (bit-plane 4 in lanes 0 and 1)") {
    std::vector<i8> d(32, 0);
    for (int c = 0; c < 8; ++c) d[static_cast<std::size_t>(c)] = 1;
    const auto m = sp::dcsr_matrix<i8>::from_dense(d.data(), 1, 32);
    CHECK(m.view().row_slope(0) == 4);
    std::vector<u8> delta = {0x50, 0x20, 0xF0, 0xC0, 0x90, 0x60, 0x30, 0x00};
    delta.resize(16, 0);
    CHECK(vec(m.delta_indices()) == delta);
    CHECK(vec(m.bitmaps()) == std::vector<u8>{0x10});
    CHECK(vec(m.bitmasks()) == std::vector<std::uint16_t>{0x0003});
    CHECK(vec(m.group_minimums()) == std::vector<i8>{-21});
    CHECK(m.padding_zeros() == 0);
    CHECK(m.to_dense() == d);
    // N + 16·ceil(Gt/2) + Gt + ceil(Gt/2) + 2E + 2R + 4 = 8 + 16 + 1 + 1 + 2 + 2 + 4
    CHECK(m.size_bytes() == 34);
}

TEST_CASE("dcsr format: padding examples of §4 (1x256 rows with two non-zeros)") {
    std::vector<i8> d(256, 0);
    SUBCASE("columns 0 and 200: 17 stored elements, s = 15") {
        d[0] = 1;
        d[200] = 2;
        const auto m = sp::dcsr_matrix<i8>::from_dense(d.data(), 1, 256);
        CHECK(m.nnze() == 17);
        CHECK(m.view().row_slope(0) == 15);
        CHECK(m.padding_zeros() == 15);
        CHECK(m.to_dense() == d);
    }
    SUBCASE("columns 3 and 250: 15 stored elements, s = 17") {
        d[3] = 1;
        d[250] = 2;
        const auto m = sp::dcsr_matrix<i8>::from_dense(d.data(), 1, 256);
        CHECK(m.nnze() == 15);
        CHECK(m.view().row_slope(0) == 17);
        CHECK(m.to_dense() == d);
    }
}

TEST_CASE("dcsr format: padding goes into the first largest gap, ceil(g/2) before its right end") {
    // 1x64, columns 10 and 40: n = 2 gives s = 33 > 17. Gaps 10, 30, 24: the zero goes to 40 - 15 = 25.
    std::vector<std::uint32_t> c = {10, 40};
    std::vector<i8> v = {1, 2};
    CHECK_FALSE(sp::dcsr_row_fits(c, 64));
    const std::size_t padding = sp::dcsr_pad_row(c, v, 64);
    CHECK(padding == c.size() - 2);
    // Pad a copy of the row step by step with the naive rule and compare the final columns.
    std::vector<long long> naive = {10, 40};
    while (!dcsr_test::naive_try_row(naive, 64, nullptr, nullptr)) {
        std::size_t best = 0;
        long long best_gap = -1;
        for (std::size_t i = 0; i <= naive.size(); ++i) {
            const long long gap = i == 0 ? naive[0] : (i == naive.size() ? 64 - naive.back() : naive[i] - naive[i - 1]);
            if (gap > best_gap) {
                best_gap = gap;
                best = i;
            }
        }
        const long long end = best == naive.size() ? 64 : naive[best];
        naive.insert(naive.begin() + static_cast<std::ptrdiff_t>(best), end - (best_gap + 1) / 2);
    }
    REQUIRE(naive.size() == c.size());
    for (std::size_t i = 0; i < c.size(); ++i) CHECK(c[i] == naive[i]);
    CHECK(std::find(c.begin(), c.end(), 25U) != c.end());
    // Ties: columns 8 and 24 in 1x32 have gaps 8, 16, 8: the largest is unique (16) -> 24 - 8 = 16.
    // Gaps 16 (g_0 of column 16) and 16 (g_n of 16 in 32) tie: the first (leftmost) wins -> 16 - 8 = 8.
    std::vector<std::uint32_t> tie = {16};
    std::vector<i8> tie_values = {3};
    sp::dcsr_pad_row(tie, tie_values, 32);  // single element: the rule of its own, floor(16 / 2) = 8 in front
    CHECK(tie.front() == 8);
    CHECK(tie_values.front() == 0);
}

TEST_CASE("dcsr format: a single element c_0 gets a zero at floor(c_0/2) in front of it; c_0 = 0 repeats column 0") {
    for (const std::uint32_t c0 : {0U, 1U, 7U, 100U, 999U}) {
        CAPTURE(c0);
        std::vector<std::uint32_t> c = {c0};
        std::vector<i8> v = {5};
        const std::size_t padding = sp::dcsr_pad_row(c, v, 1000);
        REQUIRE(padding >= 1);
        // The first inserted zero sits at floor(c0/2), before everything at or right of it.
        CHECK(std::find(c.begin(), c.end(), c0 / 2) != c.end());
        CHECK(std::is_sorted(c.begin(), c.end()));
        const auto at = std::find(v.begin(), v.end(), i8{5});
        REQUIRE(at != v.end());
        CHECK(c[static_cast<std::size_t>(at - v.begin())] == c0);
    }
    // 1x18 with a non-zero at column 0: s = 18 > 17, so one zero is inserted at column 0 itself.
    std::vector<i8> d(18, 0);
    d[0] = 7;
    const auto m = sp::dcsr_matrix<i8>::from_dense(d.data(), 1, 18);
    CHECK(m.nnze() == 2);
    CHECK(vec(m.values()) == std::vector<i8>{0, 7});
    std::vector<sp::dcsr_entry<i8>> entries(m.row(0).begin(), m.row(0).end());
    REQUIRE(entries.size() == 2);
    CHECK(entries[0] == sp::dcsr_entry<i8>{0, 0});
    CHECK(entries[1] == sp::dcsr_entry<i8>{0, 7});
    CHECK(m.to_dense() == d);
    // 1x17 with the same element fits as it is (s = 17, lane 15 offset 255).
    const auto fits = sp::dcsr_matrix<i8>::from_dense(d.data(), 1, 17);
    CHECK(fits.nnze() == 1);
}

TEST_CASE("dcsr format: a residual >= 256 is checked before narrowing (the reference encoder would wrap it)") {
    // 1x528 row: 0, 17, ..., 238 (r = 0), then 511 (r = 511 - 255 = 256), then 512..527. n = 32, s = (528+16)/32 = 17.
    // Narrowed to uint8 the lane-15 residual is 0 and every check passes: the reference encoder would store this
    // row unpadded and decode column 255 instead of 511. approxnn sees d = 256 and pads.
    std::vector<std::uint32_t> c;
    for (std::uint32_t j = 0; j < 15; ++j) c.push_back(17 * j);
    c.push_back(511);
    for (std::uint32_t j = 0; j < 16; ++j) c.push_back(512 + j);
    REQUIRE(c.size() == 32);
    REQUIRE(sp::dcsr_slope(528, 32) == 17);
    CHECK(sp::dcsr_row_fits(c, 528, sp::dcsr_residual_check::after_narrowing));
    CHECK_FALSE(sp::dcsr_row_fits(c, 528, sp::dcsr_residual_check::before_narrowing));
    std::vector<i8> d(528, 0);
    for (const std::uint32_t col : c) d[col] = static_cast<i8>(1 + col % 100);
    const auto m = sp::dcsr_matrix<i8>::from_dense(d.data(), 1, 528);
    CHECK(m.nnze() > 32);
    CHECK(m.padding_zeros() == m.nnze() - 32);
    CHECK(m.to_dense() == d);
    CHECK(sp::validate_dcsr(m.view()).ok());
}

TEST_CASE("dcsr format: the encoder equals an independent naive encoder, bit for bit, on random matrices") {
    dcsr_test::rule_counts counts;
    std::uint32_t seed = 1;
    struct shape {
        std::size_t rows, cols;
    };
    for (const shape s : {shape{1, 1}, shape{1, 17}, shape{1, 18}, shape{3, 5}, shape{16, 16}, shape{33, 64},
                          shape{64, 64}, shape{20, 172}, shape{12, 276}, shape{8, 1536}, shape{2, 5000}}) {
        for (const double sparsity : {0.0, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99, 0.999, 1.0}) {
            CAPTURE(s.rows);
            CAPTURE(s.cols);
            CAPTURE(sparsity);
            const std::vector<i8> d = dcsr_test::random_sparse(s.rows, s.cols, sparsity, seed++);
            const dcsr_test::naive_arrays expected = dcsr_test::naive_encode(d, s.rows, s.cols, &counts);
            const auto m = sp::dcsr_matrix<i8>::from_dense(d.data(), s.rows, s.cols);
            CHECK(vec(m.values()) == expected.values);
            CHECK(vec(m.delta_indices()) == expected.delta_indices);
            CHECK(vec(m.group_minimums()) == expected.group_minimums);
            CHECK(vec(m.bitmaps()) == expected.bitmaps);
            CHECK(vec(m.bitmasks()) == expected.bitmasks);
            CHECK(vec(m.row_offsets()) == expected.row_offsets);
            CHECK(m.nnze() == expected.nnze);
            CHECK(m.to_dense() == d);
        }
    }
    // Rows whose non-zeros cluster in a window (far right, far left, in the middle): the group minimum rule (b)
    // fails with (a) holding (e.g. a dense tail: m_0 = M_0 >= 127).
    std::mt19937 rng(7);
    for (const std::size_t cols : {64U, 300U, 1536U, 16560U}) {
        const std::size_t rows = 24;
        std::vector<i8> d(rows * cols, 0);
        for (std::size_t r = 0; r < rows; ++r) {
            const std::size_t width = 1 + rng() % cols;
            const std::size_t start = rng() % (cols - width + 1);
            const double density = 0.3 + 0.7 * double(rng() % 100) / 100.0;
            for (std::size_t c = start; c < start + width; ++c) {
                if (double(rng() % 1000) / 1000.0 < density) d[r * cols + c] = static_cast<i8>(1 + rng() % 100);
            }
        }
        CAPTURE(cols);
        const dcsr_test::naive_arrays expected = dcsr_test::naive_encode(d, rows, cols, &counts);
        const auto m = sp::dcsr_matrix<i8>::from_dense(d.data(), rows, cols);
        CHECK(vec(m.values()) == expected.values);
        CHECK(vec(m.delta_indices()) == expected.delta_indices);
        CHECK(vec(m.group_minimums()) == expected.group_minimums);
        CHECK(vec(m.bitmaps()) == expected.bitmaps);
        CHECK(vec(m.bitmasks()) == expected.bitmasks);
        CHECK(vec(m.row_offsets()) == expected.row_offsets);
        CHECK(m.to_dense() == d);
    }
    // The random cases exercised every padding rule (else this comparison would prove less than it seems).
    CHECK(counts.slope > 0);
    CHECK(counts.minimum > 0);
    CHECK(counts.single_element > 0);
    CHECK(counts.last_gap > 0);
}

TEST_CASE("dcsr format: the size formula N + 16*ceil(Gt/2) + Gt + ceil(Gt/2) + 2E + 2R + 4 equals the arrays' bytes") {
    std::uint32_t seed = 100;
    for (const double sparsity : {0.0, 0.5, 0.9, 0.99}) {
        const std::vector<i8> d = dcsr_test::random_sparse(37, 300, sparsity, seed++);
        const auto m = sp::dcsr_matrix<i8>::from_dense(d.data(), 37, 300);
        const std::uint64_t bytes = m.values().size() + m.delta_indices().size() + m.group_minimums().size() +
                                    m.bitmaps().size() + 2 * m.bitmasks().size() + 2 * m.row_offsets().size() + 4;
        CHECK(m.size_bytes() == bytes);
        const std::uint64_t gt = m.groups();
        CHECK(m.delta_indices().size() == 16 * ((gt + 1) / 2));
        CHECK(m.bitmaps().size() == (gt + 1) / 2);
        if (m.nonzeros() > 0) CHECK(m.bytes_per_nonzero() == doctest::Approx(double(bytes) / double(m.nonzeros())));
    }
}
