// Validation of foreign dCSR arrays: every invariant is checked by the freestanding validator (status + defect) and
// reported by the host wrapper as format_error naming the problem and the value; random corruption never reads out
// of bounds (ASan build) and is either rejected or decodes inside the matrix.

#include <doctest/doctest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "approxnn/core/error.hpp"
#include "approxnn/sparse/dcsr_check.hpp"
#include "approxnn/sparse/dcsr_matrix.hpp"
#include "approxnn/sparse/dcsr_reference.hpp"
#include "dcsr_test_support.hpp"
#include "test_support.hpp"

namespace sp = approxnn::sparse;
using i8 = std::int8_t;
using test_support::check_throws_with;

namespace {

/// Mutable copies of a matrix's arrays and a view over them.
struct foreign {
    sp::dcsr_arrays<i8> a;
    std::vector<sp::dcsr_row_start> starts;

    explicit foreign(const sp::dcsr_matrix<i8>& m)
        : a(m.arrays()), starts(m.row_starts().begin(), m.row_starts().end()) {}

    [[nodiscard]] sp::dcsr_view<i8> view() const {
        sp::dcsr_view<i8> v;
        v.rows = a.rows;
        v.cols = a.cols;
        v.nnze = a.nnze;
        v.values = a.values.data();
        v.values_size = static_cast<std::uint32_t>(a.values.size());
        v.delta_indices = a.delta_indices.data();
        v.delta_indices_size = static_cast<std::uint32_t>(a.delta_indices.size());
        v.group_minimums = a.group_minimums.data();
        v.group_minimums_size = static_cast<std::uint32_t>(a.group_minimums.size());
        v.bitmaps = a.bitmaps.data();
        v.bitmaps_size = static_cast<std::uint32_t>(a.bitmaps.size());
        v.bitmasks = a.bitmasks.data();
        v.bitmasks_size = static_cast<std::uint32_t>(a.bitmasks.size());
        v.row_offsets = a.row_offsets.data();
        v.row_offsets_size = static_cast<std::uint32_t>(a.row_offsets.size());
        if (!starts.empty()) {
            v.row_starts = starts.data();
            v.row_starts_size = static_cast<std::uint32_t>(starts.size());
        }
        return v;
    }
};

sp::dcsr_matrix<i8> sample(bool index = false) {
    // 4 rows x 40, one group each except the empty row 1 (3 groups: an odd count):
    //   row 0: columns 0..7, s = 5, d = 28 - 4j (bit-plane 4 in lanes 0..3: one mask 0x000F)
    //   row 2: columns 5, 30, 31, s = 13, d = 0, 12, 0
    //   row 3: column 20 alone, padded to 10, 20, 30 (s = 13)
    std::vector<i8> d(4 * 40, 0);
    for (int c = 0; c < 8; ++c) d[static_cast<std::size_t>(c)] = static_cast<i8>(c + 1);
    d[80 + 5] = 3;
    d[80 + 30] = -4;
    d[80 + 31] = 9;
    d[120 + 20] = 6;
    return sp::dcsr_matrix<i8>::from_dense(d.data(), 4, 40, 0, {.row_index = index});
}

void expect_defect(const foreign& f, sp::dcsr_defect defect, std::initializer_list<std::string> parts) {
    const sp::dcsr_validation v = sp::validate_dcsr(f.view());
    CHECK(v.code == approxnn::status::format_error);
    CHECK_MESSAGE(v.defect == defect, "got: " << sp::describe(v));
    check_throws_with<approxnn::format_error>([&] { sp::check_dcsr(f.view()); }, parts);
    check_throws_with<approxnn::format_error>([&] { (void)sp::dcsr_matrix<i8>::from_view(f.view()); }, parts);
}

}  // namespace

TEST_CASE("dcsr validation: a valid matrix passes; its groups are odd and it has an extension mask") {
    const auto m = sample();
    CHECK(m.groups() % 2 == 1);
    CHECK_FALSE(m.bitmasks().empty());
    CHECK(sp::validate_dcsr(m.view()).ok());
    CHECK(sp::validate_dcsr(sample(true).view()).ok());
    CHECK(sp::describe(sp::validate_dcsr(m.view())) == "valid dCSR data");
}

TEST_CASE("dcsr validation: every invariant is checked and named") {
    const auto m = sample();
    SUBCASE("empty shape") {
        foreign f(m);
        f.a.cols = 0;
        expect_defect(f, sp::dcsr_defect::empty_shape, {"at least one row", "cols = 0"});
    }
    SUBCASE("too many columns") {
        foreign f(m);
        f.a.cols = 0x80000000U;
        expect_defect(f, sp::dcsr_defect::too_many_columns, {"cols = 2147483648"});
    }
    SUBCASE("missing array") {
        foreign f(m);
        auto v = f.view();
        v.bitmasks = nullptr;
        const sp::dcsr_validation r = sp::validate_dcsr(v);
        CHECK(r.defect == sp::dcsr_defect::missing_array);
        check_throws_with<approxnn::format_error>([&] { sp::check_dcsr(v); }, {"bitmasks is null"});
    }
    SUBCASE("values length") {
        foreign f(m);
        f.a.values.pop_back();
        expect_defect(f, sp::dcsr_defect::values_length, {"values has 13 elements, nnze = 14"});
    }
    SUBCASE("row_offsets length") {
        foreign f(m);
        f.a.row_offsets.push_back(0);
        expect_defect(f, sp::dcsr_defect::row_offsets_length, {"row_offsets has 5 entries, rows = 4"});
    }
    SUBCASE("negative row size") {
        foreign f(m);
        f.a.row_offsets[1] = -100;
        expect_defect(f, sp::dcsr_defect::negative_row_size, {"row 1 has -97 elements"});
    }
    SUBCASE("row size beyond nnze") {
        foreign f(m);
        f.a.row_offsets[0] = 30000;
        expect_defect(f, sp::dcsr_defect::row_size_too_large, {"row 0 has 30003 elements", "nnze = 14"});
    }
    SUBCASE("row offsets do not sum to nnze") {
        foreign f(m);
        f.a.row_offsets[2] += 1;
        expect_defect(f, sp::dcsr_defect::row_offsets_sum, {"sum to 15", "nnze = 14"});
    }
    SUBCASE("group count") {
        foreign f(m);
        f.a.group_minimums.push_back(0);
        expect_defect(f, sp::dcsr_defect::group_minimums_length, {"group_minimums has 4 entries", "need 3"});
    }
    SUBCASE("delta_indices length") {
        foreign f(m);
        f.a.delta_indices.resize(16);
        expect_defect(f, sp::dcsr_defect::delta_indices_length, {"delta_indices has 16 bytes, expected 32"});
    }
    SUBCASE("bitmaps length") {
        foreign f(m);
        f.a.bitmaps.push_back(0);
        expect_defect(f, sp::dcsr_defect::bitmaps_length, {"bitmaps has 3 bytes, expected 2"});
    }
    SUBCASE("unused bitmap nibble") {
        foreign f(m);
        f.a.bitmaps.back() |= 0x01;
        expect_defect(f, sp::dcsr_defect::unused_bitmap_nibble, {"bitmaps[1] has lower nibble 1"});
    }
    SUBCASE("unused delta nibble") {
        foreign f(m);
        f.a.delta_indices[16 + 3] |= 0x02;
        expect_defect(f, sp::dcsr_defect::unused_delta_nibble, {"delta_indices[19] has lower nibble 2"});
    }
    SUBCASE("bitmask count") {
        foreign f(m);
        f.a.bitmasks.push_back(1);
        expect_defect(f, sp::dcsr_defect::bitmasks_length, {"bitmasks has 2 entries, the bitmaps announce 1"});
    }
    SUBCASE("group minimum range") {
        foreign f(m);
        f.a.group_minimums[1] = 127;
        expect_defect(f, sp::dcsr_defect::group_minimum_range,
                      {"a group minimum lies outside", "row 2, group 1: m = 127"});
        f.a.group_minimums[1] = -128;
        CHECK(sp::validate_dcsr(f.view()).defect == sp::dcsr_defect::group_minimum_range);
    }
    SUBCASE("lane offset beyond 255 (bit-plane 7 on a lane with a large ramp)") {
        foreign f(m);
        // Row 0 (s = 5, lanes 0..7 active, d_7 = 0): bit-planes 4..7 for lane 7 give d = 240, offset 35 + 240.
        REQUIRE(f.a.bitmaps[0] == 0x10);
        REQUIRE(f.a.bitmasks == std::vector<std::uint16_t>{0x000F});
        f.a.bitmaps[0] = 0xF0;
        f.a.bitmasks = {0x008F, 0x0080, 0x0080, 0x0080};
        expect_defect(f, sp::dcsr_defect::lane_offset_range, {"row 0, group 0, lane 7: offset 275"});
    }
    SUBCASE("residual in an inactive lane") {
        foreign f(m);
        f.a.delta_indices[12] |= 0x10;  // group 0 (row 0 has 8 elements), lane 12
        expect_defect(f, sp::dcsr_defect::inactive_lane_residual, {"row 0, group 0, lane 12: residual 1"});
    }
    SUBCASE("column out of range") {
        foreign f(m);
        f.a.group_minimums[2] = 120;  // row 3 starts beyond column 40
        expect_defect(f, sp::dcsr_defect::column_out_of_range, {"row 3, group 2, lane 0: column 126", "cols = 40"});
        f.a.group_minimums[2] = -100;
        CHECK(sp::validate_dcsr(f.view()).defect == sp::dcsr_defect::column_out_of_range);
    }
    SUBCASE("columns decreasing") {
        foreign f(m);
        // Row 2 = group 1 (odd: the lower nibbles of block 0), columns 5 + 13j + d: residuals 15, 0 give columns
        // 20, then 18.
        f.a.delta_indices[0] = static_cast<std::uint8_t>((f.a.delta_indices[0] & 0xF0) | 0x0F);
        f.a.delta_indices[1] = static_cast<std::uint8_t>(f.a.delta_indices[1] & 0xF0);
        expect_defect(f, sp::dcsr_defect::column_order,
                      {"columns of a row decrease", "row 2, group 1, lane 1: column 18 after column 20"});
    }
    SUBCASE("two non-zeros in one column") {
        // 1x18, column 0: the single-element rule stores (0, 0) then (0, 7). A non-zero instead of the padding zero
        // makes two non-zeros share column 0.
        std::vector<i8> d(18, 0);
        d[0] = 7;
        foreign f(sp::dcsr_matrix<i8>::from_dense(d.data(), 1, 18));
        REQUIRE(f.a.values.size() == 2);
        CHECK(sp::validate_dcsr(f.view()).ok());
        f.a.values[0] = 1;
        expect_defect(f, sp::dcsr_defect::duplicate_column, {"column 0 holds two non-zero elements"});
    }
}

TEST_CASE("dcsr validation: the row-start index is checked entry by entry") {
    const auto m = sample(true);
    foreign f(m);
    REQUIRE(f.starts.size() == 5);
    f.starts[2].group += 1;
    expect_defect(f, sp::dcsr_defect::row_index_mismatch, {"row_starts[2] holds 2", "running sum is 1"});
    foreign g(m);
    g.starts[3].value = 99;
    expect_defect(g, sp::dcsr_defect::row_index_mismatch, {"row_starts[3] holds 99"});
    foreign h(m);
    h.starts.pop_back();
    expect_defect(h, sp::dcsr_defect::row_index_length, {"row_starts has 4 entries, expected 5"});
}

TEST_CASE("dcsr validation: random corruption is rejected or stays inside the matrix (never an out-of-bounds read)") {
    const std::vector<i8> d = dcsr_test::random_sparse(40, 120, 0.85, 61);
    const auto m = sp::dcsr_matrix<i8>::from_dense(d.data(), 40, 120, 0, {.row_index = true});
    std::mt19937 rng(62);
    std::size_t rejected = 0;
    std::size_t accepted = 0;
    for (int trial = 0; trial < 3000; ++trial) {
        foreign f(m);
        const int flips = 1 + static_cast<int>(rng() % 3);
        for (int i = 0; i < flips; ++i) {
            switch (rng() % 7) {
                case 0:
                    f.a.delta_indices[rng() % f.a.delta_indices.size()] ^= static_cast<std::uint8_t>(1U << (rng() % 8));
                    break;
                case 1:
                    f.a.group_minimums[rng() % f.a.group_minimums.size()] ^= static_cast<i8>(1U << (rng() % 8));
                    break;
                case 2: f.a.bitmaps[rng() % f.a.bitmaps.size()] ^= static_cast<std::uint8_t>(1U << (rng() % 8)); break;
                case 3:
                    if (!f.a.bitmasks.empty())
                        f.a.bitmasks[rng() % f.a.bitmasks.size()] ^= static_cast<std::uint16_t>(1U << (rng() % 16));
                    break;
                case 4:
                    f.a.row_offsets[rng() % f.a.row_offsets.size()] ^= static_cast<std::int16_t>(1U << (rng() % 16));
                    break;
                case 5: f.a.nnze ^= 1U << (rng() % 8); break;
                default: f.starts[rng() % f.starts.size()].bitmask ^= 1U << (rng() % 4); break;
            }
        }
        const sp::dcsr_view<i8> v = f.view();
        const sp::dcsr_validation r = sp::validate_dcsr(v);
        if (!r.ok()) {
            ++rejected;
            continue;
        }
        ++accepted;
        // Accepted: it decodes inside [0, C) and the kernels run on it.
        sp::dcsr_for_each(v, [&](std::uint32_t row, std::uint32_t col, i8) {
            REQUIRE(row < v.rows);
            REQUIRE(col < v.cols);
        });
        std::vector<i8> x(v.cols, 1);
        std::vector<std::int32_t> y(v.rows);
        sp::spmv_reference(v, x.data(), y.data());
    }
    CHECK(rejected > 2000);
    CHECK(accepted > 0);  // e.g. a flipped bit of a nibble that keeps every column in range
}
