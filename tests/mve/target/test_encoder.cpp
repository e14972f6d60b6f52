// The target-side test encoder (dcsr_test_support.hpp) against the worked examples of dcsr-format.md §4 and §7,
// and every test matrix against the library's validator and decoder (approxnn/sparse/dcsr_view.hpp).
#include <doctest/doctest.h>

#include <cstdint>
#include <vector>

#include "approxnn/sparse/dcsr_view.hpp"
#include "dcsr_test_support.hpp"

using approxnn::sparse::dcsr_view;
using approxnn_test::encode_dcsr;

namespace {

std::vector<std::int8_t> dense_from_columns(std::uint32_t rows, std::uint32_t cols,
                                            const std::vector<std::vector<std::uint32_t>>& columns,
                                            const std::vector<std::vector<std::int8_t>>& values) {
    std::vector<std::int8_t> m(std::size_t{rows} * cols, 0);
    for (std::uint32_t r = 0; r < rows; ++r) {
        for (std::size_t i = 0; i < columns[r].size(); ++i) m[r * cols + columns[r][i]] = values[r][i];
    }
    return m;
}

}  // namespace

TEST_CASE("encoder: the 4x16 worked example of dcsr-format.md section 7") {
    const auto dense = dense_from_columns(4, 16, {{1, 4, 6, 11}, {0, 2, 3, 5, 8, 9, 13, 15}, {}, {14}},
                                          {{5, -3, 7, 2}, {1, 2, 3, 4, 5, 6, 7, 8}, {}, {9}});
    const auto a = encode_dcsr(dense.data(), 4, 16);
    CHECK(a.values == std::vector<std::int8_t>{5, -3, 7, 2, 1, 2, 3, 4, 5, 6, 7, 8, 9});
    std::vector<std::uint8_t> delta(32, 0);
    const std::uint8_t first[8] = {0x31, 0x21, 0x00, 0x10, 0x01, 0x00, 0x02, 0x02};
    for (int i = 0; i < 8; ++i) delta[i] = first[i];
    CHECK(a.delta_indices == delta);
    CHECK(a.group_minimums == std::vector<std::int8_t>{-2, -1, 14});
    CHECK(a.bitmaps == std::vector<std::uint8_t>{0x00, 0x00});
    CHECK(a.bitmasks.empty());
    CHECK(a.row_offsets == std::vector<std::int16_t>{1, 5, -3, -2});
    CHECK(a.view().nnze == 13U);
    CHECK(a.view().size_bytes() == 62U);
}

TEST_CASE("encoder: the extension example of dcsr-format.md section 7 (1x32, ones at columns 0..7)") {
    std::vector<std::int8_t> dense(32, 0);
    for (int c = 0; c < 8; ++c) dense[c] = 1;
    const auto a = encode_dcsr(dense.data(), 1, 32);
    std::vector<std::uint8_t> delta(16, 0);
    const std::uint8_t first[8] = {0x50, 0x20, 0xF0, 0xC0, 0x90, 0x60, 0x30, 0x00};
    for (int i = 0; i < 8; ++i) delta[i] = first[i];
    CHECK(a.delta_indices == delta);
    CHECK(a.bitmaps == std::vector<std::uint8_t>{0x10});
    CHECK(a.bitmasks == std::vector<std::uint16_t>{0x0003});
    CHECK(a.group_minimums == std::vector<std::int8_t>{-21});
}

TEST_CASE("encoder: the padding examples of dcsr-format.md section 4 (1x256)") {
    std::vector<std::int8_t> dense(256, 0);
    dense[0] = 1;
    dense[200] = 2;
    const auto a = encode_dcsr(dense.data(), 1, 256);
    CHECK(a.values.size() == 17U);
    CHECK(a.view().row_slope(0) == 15U);
    std::vector<std::int8_t> other(256, 0);
    other[3] = 1;
    other[250] = 2;
    const auto b = encode_dcsr(other.data(), 1, 256);
    CHECK(b.values.size() == 15U);
    CHECK(b.view().row_slope(0) == 17U);
}

TEST_CASE("encoder: every kernel test matrix validates and decodes back to its dense matrix") {
    for (const approxnn_test::test_matrix& m : approxnn_test::all_test_matrices()) {
        const approxnn_test::matrix_case& c = m.spec;
        const dcsr_view<std::int8_t> v = m.encoded.view();
        CAPTURE(c.rows);
        CAPTURE(c.cols);
        CAPTURE(c.sparsity);
        const approxnn::sparse::dcsr_validation check = approxnn::sparse::validate_dcsr(v);
        REQUIRE(check.ok());
        std::vector<std::int8_t> back(m.dense.size(), 0);
        approxnn::sparse::dcsr_for_each(v, [&](std::uint32_t r, std::uint32_t col, std::int8_t value) {
            if (value != 0) back[std::size_t{r} * c.cols + col] = value;
        });
        CHECK(back == m.dense);
    }
}

TEST_CASE("encoder: the kernel test matrices cover padding, extension masks, empty rows and odd group starts") {
    std::uint32_t padding = 0;
    std::uint32_t masks = 0;
    std::uint32_t empty_rows = 0;
    std::uint32_t odd_starts = 0;
    std::uint32_t partial_last_groups = 0;
    std::uint32_t plane_bits[4] = {0, 0, 0, 0};
    for (const approxnn_test::test_matrix& m : approxnn_test::all_test_matrices()) {
        const dcsr_view<std::int8_t> v = m.encoded.view();
        padding += m.encoded.padding;
        masks += v.bitmasks_size;
        std::uint32_t group = 0;
        for (std::uint32_t r = 0; r < v.rows; ++r) {
            const std::uint32_t n = v.row_size(r);
            empty_rows += n == 0 ? 1U : 0U;
            odd_starts += n != 0 && group % 2 == 1 ? 1U : 0U;
            partial_last_groups += n % 16 != 0 ? 1U : 0U;
            group += approxnn::sparse::dcsr_groups_of(n);
        }
        for (std::uint32_t g = 0; g < v.groups(); ++g) {
            const std::uint32_t bitmap = approxnn::sparse::dcsr_bitmap(v.bitmaps, g);
            for (int i = 0; i < 4; ++i) plane_bits[i] += (bitmap >> i) & 1U;
        }
    }
    CHECK(padding > 0U);
    CHECK(masks > 0U);
    CHECK(empty_rows > 0U);
    CHECK(odd_starts > 0U);
    CHECK(partial_last_groups > 0U);
    for (int i = 0; i < 4; ++i) {
        CAPTURE(i);
        CHECK(plane_bits[i] > 0U);
    }
}
