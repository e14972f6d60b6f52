// dcsr_matrix: round trips dense -> dCSR -> dense, builders (dense, CSR, triplets, xtensor, foreign arrays), row
// iteration, sizes, the row-start index, int16 and float values, and the errors of bad input.

#include <doctest/doctest.h>

#include <cstdint>
#include <limits>
#include <map>
#include <random>
#include <span>
#include <utility>
#include <vector>

#include <xtensor/xtensor.hpp>

#include "approxnn/core/error.hpp"
#include "approxnn/sparse/dcsr_matrix.hpp"
#include "approxnn/sparse/dcsr_xtensor.hpp"
#include "dcsr_test_support.hpp"
#include "test_support.hpp"

namespace sp = approxnn::sparse;
using i8 = std::int8_t;
using test_support::check_throws_with;

namespace {

template <class Value>
void check_round_trip(const std::vector<Value>& d, std::size_t rows, std::size_t cols) {
    CAPTURE(rows);
    CAPTURE(cols);
    const auto m = sp::dcsr_matrix<Value>::from_dense(d.data(), rows, cols);
    REQUIRE(sp::validate_dcsr(m.view()).ok());
    CHECK(m.to_dense() == d);
    std::uint64_t nonzeros = 0;
    for (const Value v : d) nonzeros += v != Value{} ? 1 : 0;
    CHECK(m.nonzeros() == nonzeros);
    CHECK(m.padding_zeros() == m.nnze() - nonzeros);
    // Row iteration: every non-zero in column order, padding zeros in between; nothing else.
    std::size_t seen = 0;
    for (std::uint32_t r = 0; r < m.rows(); ++r) {
        std::int64_t previous = -1;
        for (const sp::dcsr_entry<Value> e : m.row(r)) {
            CHECK(static_cast<std::int64_t>(e.column) >= previous);
            previous = e.column;
            REQUIRE(e.column < cols);
            if (e.value != Value{}) {
                CHECK(d[r * cols + e.column] == e.value);
                ++seen;
            }
        }
    }
    CHECK(seen == nonzeros);
}

}  // namespace

TEST_CASE("dcsr matrix: round trip dense -> dCSR -> dense is exact, sparsity 0 to 99.9 %, many shapes") {
    std::uint32_t seed = 11;
    const std::pair<std::size_t, std::size_t> shapes[] = {{1, 1},     {1, 2},     {2, 1},     {7, 3},   {64, 64},
                                                          {172, 172}, {12, 1536}, {5, 16560}, {300, 1}, {33, 257}};
    for (const auto& [rows, cols] : shapes) {
        for (const double sparsity : {0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99, 0.999, 1.0}) {
            CAPTURE(sparsity);
            check_round_trip(dcsr_test::random_sparse(rows, cols, sparsity, seed++), rows, cols);
        }
    }
}

TEST_CASE("dcsr matrix: special matrices (all zero, empty rows, single column, 1x1, wide rows, extension masks)") {
    SUBCASE("all zero") {
        const std::vector<i8> d(40 * 70, 0);
        const auto m = sp::dcsr_matrix<i8>::from_dense(d.data(), 40, 70);
        CHECK(m.nnze() == 0);
        CHECK(m.groups() == 0);
        CHECK(m.delta_indices().empty());
        CHECK(m.row_offsets().size() == 40);
        CHECK(m.size_bytes() == 2 * 40 + 4);
        CHECK(m.bytes_per_nonzero() == 0.0);
        CHECK(m.to_dense() == d);
    }
    SUBCASE("1x1") {
        for (const int v : {0, 1, -128, 127}) {
            const std::vector<i8> d = {static_cast<i8>(v)};
            check_round_trip(d, 1, 1);
        }
    }
    SUBCASE("empty rows between full ones") {
        std::vector<i8> d = dcsr_test::random_sparse(30, 100, 0.2, 3);
        for (std::size_t r = 0; r < 30; r += 3)
            std::fill_n(d.begin() + static_cast<std::ptrdiff_t>(r * 100), 100, i8{0});
        check_round_trip(d, 30, 100);
    }
    SUBCASE("single column, dense and sparse") {
        check_round_trip(dcsr_test::random_sparse(1000, 1, 0.5, 4), 1000, 1);
        check_round_trip(dcsr_test::random_sparse(1000, 1, 0.0, 5), 1000, 1);
    }
    SUBCASE("wide rows (C = 16560) need padding and extension masks") {
        const std::vector<i8> d = dcsr_test::random_sparse(12, 16560, 0.95, 6);
        const auto m = sp::dcsr_matrix<i8>::from_dense(d.data(), 12, 16560);
        CHECK(m.padding_zeros() > 0);
        CHECK(!m.bitmasks().empty());
        CHECK(m.to_dense() == d);
    }
    SUBCASE("a full row: s = 1, no padding, no masks") {
        std::vector<i8> d(1000, 3);
        const auto m = sp::dcsr_matrix<i8>::from_dense(d.data(), 1, 1000);
        CHECK(m.view().row_slope(0) == 1);
        CHECK(m.padding_zeros() == 0);
        CHECK(m.bitmasks().empty());
        CHECK(m.to_dense() == d);
    }
}

TEST_CASE("dcsr matrix: int16 and float values keep the int8 index layout") {
    const std::vector<i8> d8 = dcsr_test::random_sparse(50, 200, 0.85, 21);
    std::vector<std::int16_t> d16(d8.size());
    std::vector<float> df(d8.size());
    for (std::size_t i = 0; i < d8.size(); ++i) {
        d16[i] = static_cast<std::int16_t>(d8[i] * 200);
        df[i] = static_cast<float>(d8[i]) * 0.125f;
    }
    const auto m8 = sp::dcsr_matrix<i8>::from_dense(d8.data(), 50, 200);
    const auto m16 = sp::dcsr_matrix<std::int16_t>::from_dense(d16.data(), 50, 200);
    const auto mf = sp::dcsr_matrix<float>::from_dense(df.data(), 50, 200);
    CHECK(m16.to_dense() == d16);
    CHECK(mf.to_dense() == df);
    for (const auto& m : {m16.arrays().delta_indices, mf.arrays().delta_indices}) CHECK(m == m8.arrays().delta_indices);
    CHECK(m16.arrays().group_minimums == m8.arrays().group_minimums);
    CHECK(mf.arrays().bitmasks == m8.arrays().bitmasks);
    CHECK(m16.arrays().row_offsets == m8.arrays().row_offsets);
    // Wider values: N·sizeof(Value) in the size.
    CHECK(m16.size_bytes() == m8.size_bytes() + m8.nnze());
    CHECK(mf.size_bytes() == m8.size_bytes() + 3 * m8.nnze());
    check_round_trip(d16, 50, 200);
    check_round_trip(df, 50, 200);
}

TEST_CASE("dcsr matrix: CSR and triplet builders agree with the dense builder; explicit zeros are dropped") {
    const std::vector<i8> d = dcsr_test::random_sparse(40, 90, 0.8, 31);
    const auto reference = sp::dcsr_matrix<i8>::from_dense(d.data(), 40, 90);
    std::vector<std::int64_t> row_ptr = {0};
    std::vector<std::uint16_t> cols;
    std::vector<i8> vals;
    std::vector<sp::dcsr_triplet<i8>> triplets;
    std::mt19937 rng(5);
    for (std::size_t r = 0; r < 40; ++r) {
        std::vector<std::pair<std::uint16_t, i8>> row;
        for (std::size_t c = 0; c < 90; ++c) {
            if (d[r * 90 + c] != 0) row.emplace_back(static_cast<std::uint16_t>(c), d[r * 90 + c]);
        }
        if (r % 5 == 0)
            row.emplace_back(static_cast<std::uint16_t>(89 - r % 3), i8{0});  // maybe a duplicate, see below
        std::shuffle(row.begin(), row.end(), rng);  // CSR columns may come unsorted
        // Keep a zero only when its column is not taken by a non-zero (else it would be a duplicate).
        std::vector<std::pair<std::uint16_t, i8>> kept;
        for (const auto& e : row) {
            bool taken = false;
            for (const auto& f : row) taken = taken || (f.first == e.first && f.second != 0 && e.second == 0);
            if (!taken) kept.push_back(e);
        }
        for (const auto& [c, v] : kept) {
            cols.push_back(c);
            vals.push_back(v);
            triplets.push_back({r, c, v});
        }
        row_ptr.push_back(static_cast<std::int64_t>(cols.size()));
    }
    std::shuffle(triplets.begin(), triplets.end(), rng);
    const auto from_csr = sp::dcsr_matrix<i8>::from_csr<std::int64_t, std::uint16_t>(40, 90, row_ptr, cols, vals);
    const auto from_triplets = sp::dcsr_matrix<i8>::from_triplets(40, 90, triplets);
    CHECK(from_csr == reference);
    CHECK(from_triplets == reference);
    const auto copy = sp::dcsr_matrix<i8>::from_view(reference.view());
    CHECK(copy == reference);
}

TEST_CASE("dcsr matrix: bad builder input throws, naming the value") {
    const std::vector<i8> d(12, 1);
    check_throws_with<approxnn::shape_error>([&] { (void)sp::dcsr_matrix<i8>::from_dense(d.data(), 0, 12); },
                                             {"0x12", "empty"});
    check_throws_with<approxnn::shape_error>([&] { (void)sp::dcsr_matrix<i8>::from_dense(d.data(), 3, 4, 2); },
                                             {"row stride 2", "cols = 4"});
    using triplet = sp::dcsr_triplet<i8>;
    const std::vector<triplet> duplicate = {{0, 1, 5}, {2, 3, 1}, {0, 1, 6}};
    check_throws_with<approxnn::format_error>([&] { (void)sp::dcsr_matrix<i8>::from_triplets(3, 4, duplicate); },
                                              {"(0, 1)", "twice"});
    const std::vector<triplet> outside = {{0, 1, 5}, {3, 0, 1}};
    check_throws_with<approxnn::shape_error>([&] { (void)sp::dcsr_matrix<i8>::from_triplets(3, 4, outside); },
                                             {"(3, 0)", "3x4"});
    const std::vector<triplet> outside_col = {{1, 4, 5}};
    check_throws_with<approxnn::shape_error>([&] { (void)sp::dcsr_matrix<i8>::from_triplets(3, 4, outside_col); },
                                             {"(1, 4)"});
    const std::vector<int> row_ptr = {0, 2, 1, 3};
    const std::vector<int> cols = {0, 1, 2};
    const std::vector<i8> vals = {1, 2, 3};
    check_throws_with<approxnn::format_error>(
        [&] { (void)sp::dcsr_matrix<i8>::from_csr<int, int>(3, 4, row_ptr, cols, vals); }, {"decreases at row 1"});
    const std::vector<int> short_ptr = {0, 3};
    check_throws_with<approxnn::shape_error>(
        [&] { (void)sp::dcsr_matrix<i8>::from_csr<int, int>(3, 4, short_ptr, cols, vals); },
        {"4 row pointers", "got 2"});
    const std::vector<int> negative = {0, -1, 2};
    const std::vector<int> ptr1 = {0, 3};
    check_throws_with<approxnn::shape_error>(
        [&] { (void)sp::dcsr_matrix<i8>::from_csr<int, int>(1, 4, ptr1, negative, vals); }, {"column index -1"});
    const std::vector<int> dup_cols = {2, 0, 2};
    check_throws_with<approxnn::format_error>(
        [&] { (void)sp::dcsr_matrix<i8>::from_csr<int, int>(1, 4, ptr1, dup_cols, vals); }, {"(0, 2)", "twice"});
    const std::vector<int> too_few = {0, 4};
    check_throws_with<approxnn::shape_error>(
        [&] { (void)sp::dcsr_matrix<i8>::from_csr<int, int>(1, 4, too_few, cols, vals); }, {"row_ptr[rows] = 4"});
    const auto m = sp::dcsr_matrix<i8>::from_dense(d.data(), 3, 4);
    check_throws_with<approxnn::shape_error>([&] { (void)m.row(3); }, {"row 3"});
}

TEST_CASE("dcsr matrix: a row whose offset from floor(N/R) does not fit int16 is rejected (a limit of the format)") {
    // One full row of 40000 and 99 empty rows: floor(N/R) = 400, row_offsets[0] = 39600 > 32767.
    std::vector<i8> d(100 * 40000, 0);
    std::fill_n(d.begin(), 40000, i8{1});
    check_throws_with<approxnn::format_error>([&] { (void)sp::dcsr_matrix<i8>::from_dense(d.data(), 100, 40000); },
                                              {"row_offsets[0] = 39600", "int16"});
}

TEST_CASE("dcsr matrix: the row-start index gives random row access and is built, dropped and rebuilt identically") {
    const std::vector<i8> d = dcsr_test::random_sparse(200, 300, 0.9, 41);
    auto m = sp::dcsr_matrix<i8>::from_dense(d.data(), 200, 300);
    const auto plain = m;
    CHECK_FALSE(m.has_row_index());
    CHECK(m.row_index_bytes() == 0);
    m.build_row_index();
    REQUIRE(m.has_row_index());
    CHECK(m.row_index_bytes() == 201 * sizeof(sp::dcsr_row_start));
    CHECK(m.size_bytes() == plain.size_bytes());  // the reference size does not include the index
    CHECK(m.arrays().values == plain.arrays().values);
    CHECK(m.arrays().bitmasks == plain.arrays().bitmasks);
    CHECK(sp::validate_dcsr(m.view()).ok());
    CHECK(m.row_starts().back() ==
          sp::dcsr_row_start{m.nnze(), m.groups(), static_cast<std::uint32_t>(m.bitmasks().size())});
    // Rows visited out of order, with and without the index, decode the same.
    for (const std::uint32_t r : {199U, 0U, 57U, 123U, 1U}) {
        std::vector<sp::dcsr_entry<i8>> a(m.row(r).begin(), m.row(r).end());
        std::vector<sp::dcsr_entry<i8>> b(plain.row(r).begin(), plain.row(r).end());
        CHECK(a == b);
        CHECK(a.size() == m.row_size(r));
    }
    m.drop_row_index();
    CHECK(m == plain);
}

TEST_CASE("dcsr matrix: for_each visits every stored element row by row") {
    const std::vector<i8> d = dcsr_test::random_sparse(30, 40, 0.6, 51);
    const auto m = sp::dcsr_matrix<i8>::from_dense(d.data(), 30, 40);
    std::vector<i8> rebuilt(d.size(), 0);
    std::uint32_t last_row = 0;
    std::uint64_t count = 0;
    m.for_each([&](std::uint32_t r, std::uint32_t c, i8 v) {
        CHECK(r >= last_row);
        last_row = r;
        if (v != 0) rebuilt[r * 40 + c] = v;
        ++count;
    });
    CHECK(count == m.nnze());
    CHECK(rebuilt == d);
}

TEST_CASE("dcsr matrix: xtensor front end") {
    xt::xtensor<int, 2> e = xt::zeros<int>({5, 9});
    e(0, 3) = 4;
    e(4, 8) = -7;
    e(2, 0) = 100;
    const auto m = sp::dcsr_from_xtensor<i8>(e);
    CHECK(m.rows() == 5);
    CHECK(m.cols() == 9);
    const xt::xtensor<i8, 2> back = sp::to_xtensor(m);
    for (std::size_t r = 0; r < 5; ++r) {
        for (std::size_t c = 0; c < 9; ++c) CHECK(static_cast<int>(back(r, c)) == e(r, c));
    }
    const xt::xtensor<int, 1> flat = xt::zeros<int>({4});
    check_throws_with<approxnn::shape_error>([&] { (void)sp::dcsr_from_xtensor<i8>(flat); }, {"got 1 dimensions"});
}
