// The MVE row walk on hand-built dCSR streams: every 4-bit bitmap (0 to 15, all four extension planes) in every
// place the walk decodes a group — the even and the odd group of the pair loop (one jump on the bitmap byte), a row's
// first group taken alone (row starting in the lower half of a block), the last full group and the last group
// sharing a block, a last group in the upper half of a block — for SpMV and SpMM, against a scalar decode of the
// same arrays written from dcsr-format.md §6.
//
// Encoded matrices (the other tests) almost only produce the bitmaps 0, 1, 3 and 7, which the walk decodes with
// dedicated straight-line cases; every other bitmap takes the walk's generic path. These streams are built group by
// group instead: random nibbles, a uniformly random bitmap with random masks (lane 0 always set), a random B_k
// within the limits of the format (lane offsets <= 255, −128 < m_k < 127) and of the matrix (every active column
// in [0, C)). Columns are not sorted within a row, so the streams do not pass validate_dcsr's ordering rule; the
// kernels do not depend on it (they only need every column in [0, C)).
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <tuple>
#include <vector>

#include "approxnn/core/fixed_point.hpp"
#include "approxnn/core/output_stage.hpp"
#include "approxnn/sparse/dcsr_layout.hpp"
#include "approxnn/sparse/dcsr_view.hpp"
#include "approxnn/sparse/mve/dcsr_spmm.hpp"
#include "approxnn/sparse/mve/dcsr_spmv.hpp"
#include "dcsr_test_support.hpp"
#include "guard_zone.hpp"

namespace mve = approxnn::sparse::mve;
using approxnn::sparse::dcsr_view;

namespace {

/// Where the row walk decodes a group (dcsr_decode.hpp, APPROXNN_MVE_ROW_WALK).
enum walk_place : std::size_t {
    pair_even,        ///< the upper half of a block in the pair loop
    pair_odd,         ///< the lower half of a block in the pair loop
    first_alone,      ///< a row's first group, in the lower half of a block
    tail_even,        ///< the last full group, upper half of the block it shares with the row's last group
    tail_odd,         ///< that last group (lower half)
    last_upper_half,  ///< a row's last group in the upper half of a block (the next row starts in its lower half)
    walk_places
};

struct stream_group {
    std::array<std::uint8_t, 16> nibbles{};
    std::uint32_t bitmap = 0;
    std::array<std::uint16_t, 4> masks{};
    std::int32_t minimum = 0;
};

/// A hand-built stream and what its groups cover.
struct stream {
    approxnn_test::dcsr_arrays arrays;
    std::array<std::array<std::uint32_t, 16>, walk_places> seen{};  ///< groups per place and bitmap
};

std::uint32_t below(approxnn_test::random_bits& rng, std::uint32_t n) { return rng.next() % n; }

/// A random stream of `rows` rows over `cols` columns; row sizes up to max_count (some rows empty).
stream random_stream(std::uint32_t rows, std::uint32_t cols, std::uint32_t max_count, std::uint32_t seed) {
    approxnn_test::random_bits rng(seed);
    stream out;
    approxnn_test::dcsr_arrays& a = out.arrays;
    a.rows = rows;
    a.cols = cols;
    std::vector<stream_group> groups;
    std::vector<std::uint32_t> sizes;
    const auto c = static_cast<std::int32_t>(cols);
    std::uint32_t smallest = 1;  // the fewest elements of a row whose slope is at most 17
    while (approxnn::sparse::dcsr_slope(cols, smallest) > approxnn::sparse::dcsr_max_slope) ++smallest;
    for (std::uint32_t r = 0; r < rows; ++r) {
        std::uint32_t n = 0;
        std::vector<stream_group> row;
        while (below(rng, 10) != 0) {  // one row in ten stays empty; otherwise retry until a row fits
            n = smallest + below(rng, max_count - smallest + 1);
            const auto s = static_cast<std::int32_t>(approxnn::sparse::dcsr_slope(cols, n));
            row.clear();
            std::int32_t previous = 0;  // B_{k−1}
            bool fits = true;
            for (std::uint32_t k = 0; 16 * k < n && fits; ++k) {
                const auto active = static_cast<std::int32_t>(std::min<std::uint32_t>(16, n - 16 * k));
                fits = false;
                for (int attempt = 0; attempt < 64 && !fits; ++attempt) {
                    stream_group g;
                    g.bitmap = attempt < 48 ? below(rng, 16) : 0;
                    std::int32_t d[16] = {};
                    for (std::int32_t j = 0; j < active; ++j) {  // lane offsets s·j + d_j <= 255
                        const auto nibbles = static_cast<std::uint32_t>(std::min<std::int32_t>(16, 256 - s * j));
                        d[j] = static_cast<std::int32_t>(below(rng, nibbles));
                    }
                    for (unsigned i = 0; i < 4; ++i) {
                        if (((g.bitmap >> i) & 1U) == 0) continue;
                        for (std::int32_t j = 0; j < active; ++j) {
                            const std::int32_t with = d[j] + (16 << i);
                            if ((j == 0 || below(rng, 2) == 0) && s * j + with <= 255) {
                                d[j] = with;
                                g.masks[i] = static_cast<std::uint16_t>(g.masks[i] | (1U << j));
                            }
                        }
                    }
                    std::int32_t lowest = 255;
                    std::int32_t highest = 0;
                    for (std::int32_t j = 0; j < active; ++j) {
                        lowest = std::min(lowest, s * j + d[j]);
                        highest = std::max(highest, s * j + d[j]);
                        g.nibbles[static_cast<std::size_t>(j)] = static_cast<std::uint8_t>(d[j] & 15);
                    }
                    // B_k: every active column in [0, C); m_k = B_k − B_{k−1} − 16·s (m_0 = B_0) in (−128, 127).
                    const std::int32_t expected = k == 0 ? 0 : previous + 16 * s;
                    const std::int32_t lo = std::max(-lowest, expected - 127);
                    const std::int32_t hi = std::min(c - 1 - highest, expected + 126);
                    if (lo > hi) continue;
                    const auto spread = static_cast<std::uint32_t>(std::min<std::int32_t>(hi - lo, 24)) + 1;
                    const std::int32_t b = lo + static_cast<std::int32_t>(below(rng, spread));
                    g.minimum = b - expected;
                    previous = b;
                    row.push_back(g);
                    fits = true;
                }
            }
            if (fits) break;
            n = 0;
        }
        if (n == 0) row.clear();
        sizes.push_back(n);
        groups.insert(groups.end(), row.begin(), row.end());
        for (std::uint32_t e = 0; e < n; ++e) a.values.push_back(rng.nonzero_int8());
    }
    // Pack the arrays as dcsr-format.md §5 says, and note where the walk decodes each group.
    const std::size_t total = groups.size();
    a.delta_indices.assign(16 * ((total + 1) / 2), 0);
    a.bitmaps.assign((total + 1) / 2, 0);
    for (std::size_t k = 0; k < total; ++k) {
        const stream_group& g = groups[k];
        const unsigned shift = k % 2 == 0 ? 4 : 0;
        for (std::size_t j = 0; j < 16; ++j) {
            a.delta_indices[16 * (k / 2) + j] =
                static_cast<std::uint8_t>(a.delta_indices[16 * (k / 2) + j] | (g.nibbles[j] << shift));
        }
        a.bitmaps[k / 2] = static_cast<std::uint8_t>(a.bitmaps[k / 2] | (g.bitmap << shift));
        a.group_minimums.push_back(static_cast<std::int8_t>(g.minimum));
        for (unsigned i = 0; i < 4; ++i) {
            if (((g.bitmap >> i) & 1U) != 0) a.bitmasks.push_back(g.masks[i]);
        }
    }
    const auto base = static_cast<std::int64_t>(a.values.size() / rows);
    for (const std::uint32_t n : sizes) a.row_offsets.push_back(static_cast<std::int16_t>(n - base));
    std::size_t k = 0;
    for (const std::uint32_t n : sizes) {
        if (n == 0) continue;
        std::uint32_t full = (n - 1) / 16;
        const auto note = [&](walk_place place) { ++out.seen[place][groups[k++].bitmap]; };
        if (k % 2 != 0) {
            note(first_alone);
            if (full == 0) continue;
            --full;
        }
        for (std::uint32_t p = 0; p < full / 2; ++p) {
            note(pair_even);
            note(pair_odd);
        }
        if (full % 2 != 0) {
            note(tail_even);
            note(tail_odd);
        } else {
            note(last_upper_half);
        }
    }
    return out;
}

/// y = W·x − zero_point·(row sums), decoding the arrays of dcsr-format.md §6 lane by lane (every column is checked
/// to lie in [0, C)).
std::vector<std::int32_t> scalar_spmv(const approxnn_test::dcsr_arrays& a, const std::int8_t* x,
                                      std::int32_t zero_point = 0) {
    std::vector<std::int32_t> y;
    const std::int32_t base_count = static_cast<std::int32_t>(a.values.size() / a.rows);
    std::size_t group = 0;
    std::size_t mask = 0;
    std::size_t value = 0;
    for (std::uint32_t r = 0; r < a.rows; ++r) {
        const std::int32_t n = base_count + a.row_offsets[r];
        const std::int32_t s = n > 0 ? static_cast<std::int32_t>(approxnn::sparse::dcsr_slope(
                                           a.cols, static_cast<std::uint32_t>(n)))
                                     : 0;
        std::uint32_t acc = 0;
        std::int32_t b = 0;
        for (std::int32_t k = 0; 16 * k < n; ++k, ++group) {
            b = (k == 0 ? 0 : b + 16 * s) + a.group_minimums[group];
            const auto index = static_cast<std::uint32_t>(group);
            const std::uint32_t bitmap = approxnn::sparse::dcsr_bitmap(a.bitmaps.data(), index);
            std::int32_t d[16];
            for (std::uint32_t j = 0; j < 16; ++j) {
                d[j] = static_cast<std::int32_t>(approxnn::sparse::dcsr_nibble(a.delta_indices.data(), index, j));
            }
            for (unsigned i = 0; i < 4; ++i) {
                if (((bitmap >> i) & 1U) == 0) continue;
                const std::uint16_t m = a.bitmasks[mask++];
                for (std::uint32_t j = 0; j < 16; ++j) d[j] += ((m >> j) & 1U) != 0 ? 16 << i : 0;
            }
            for (std::int32_t j = 0; j < 16 && 16 * k + j < n; ++j) {
                const std::int32_t column = b + s * j + d[j];
                if (column < 0 || column >= static_cast<std::int32_t>(a.cols)) {
                    FAIL("a decoded column lies outside [0, C): the stream generator is wrong");
                    return y;
                }
                const std::int32_t w = a.values[value++];
                acc += static_cast<std::uint32_t>(w * x[column] - zero_point * w);
            }
        }
        y.push_back(static_cast<std::int32_t>(acc));
    }
    return y;
}

std::vector<stream> test_streams() {
    std::vector<stream> out;
    out.push_back(random_stream(300, 240, 60, 11));     // rows of one to four groups
    out.push_back(random_stream(200, 700, 140, 12));    // s up to 17: large lane offsets, all planes
    out.push_back(random_stream(80, 3000, 900, 13));    // long rows: many pairs
    out.push_back(random_stream(120, 1200, 300, 14));
    return out;
}

}  // namespace

TEST_CASE("mve row walk: hand-built streams put every bitmap in every place the walk decodes a group") {
    std::array<std::array<std::uint32_t, 16>, walk_places> seen{};
    for (const stream& st : test_streams()) {
        for (std::size_t p = 0; p < walk_places; ++p) {
            for (std::size_t b = 0; b < 16; ++b) seen[p][b] += st.seen[p][b];
        }
    }
    for (std::size_t p = 0; p < walk_places; ++p) {
        for (std::size_t b = 0; b < 16; ++b) {
            CAPTURE(p);
            CAPTURE(b);
            CHECK(seen[p][b] > 0U);
        }
    }
}

TEST_CASE("mve spmv on hand-built streams (every bitmap in every place): equal to the scalar decode") {
    for (const stream& st : test_streams()) {
        const approxnn_test::dcsr_arrays& a = st.arrays;
        CAPTURE(a.rows);
        CAPTURE(a.cols);
        const dcsr_view<std::int8_t> w = a.view();
        approxnn_test::random_bits rng(a.cols);
        const std::vector<std::int8_t> x = approxnn_test::random_dense(a.cols, rng);
        const std::vector<std::int32_t> expected = scalar_spmv(a, x.data());
        std::vector<std::int32_t> y(a.rows + 1, 0x5A5A5A5A);
        mve::spmv(w, x.data(), y.data());
        CHECK(y.back() == 0x5A5A5A5A);
        y.pop_back();
        CHECK(y == expected);
        // x placed right before unmapped memory: the predicated last groups read nothing past it
        mve::spmv(w, approxnn_test::at_guard_end(x), y.data());
        CHECK(y == expected);
        // the input zero point (the row sums), with int32 and with int8 outputs
        for (const std::int32_t zp : {-128, 77}) {
            CAPTURE(zp);
            const std::vector<std::int32_t> shifted = scalar_spmv(a, x.data(), zp);
            mve::spmv(w, x.data(), y.data(), std::tuple<>{}, zp);
            CHECK(y == shifted);
            std::vector<approxnn::quantized_multiplier> multipliers(a.rows);
            for (auto& q : multipliers) REQUIRE(approxnn::quantize_multiplier(0.0009, q));
            const auto pipeline = approxnn::quantized_output<std::int8_t>(nullptr, {multipliers.data(), {}, 3});
            std::vector<std::int8_t> y8(a.rows);
            mve::spmv(w, x.data(), y8.data(), pipeline, zp);
            for (std::uint32_t r = 0; r < a.rows; ++r) {
                CAPTURE(r);
                CHECK(y8[r] == approxnn::apply_output_stages(shifted[r], r, pipeline));
            }
        }
    }
}

TEST_CASE("mve spmm on hand-built streams (every bitmap in every place): equal to the scalar decode per column") {
    for (const stream& st : test_streams()) {
        const approxnn_test::dcsr_arrays& a = st.arrays;
        CAPTURE(a.rows);
        CAPTURE(a.cols);
        const dcsr_view<std::int8_t> w = a.view();
        std::vector<std::uint32_t> buffer(mve::spmm_buffer_size(w) / 4 + 1);
        for (const std::size_t n : {std::size_t{1}, std::size_t{4}, std::size_t{7}}) {
            CAPTURE(n);
            approxnn_test::random_bits rng(a.cols * 7 + static_cast<std::uint32_t>(n));
            const std::vector<std::int8_t> x = approxnn_test::random_dense(a.cols * n, rng);
            std::vector<std::int32_t> expected;
            for (std::size_t p = 0; p < n; ++p) {
                const std::vector<std::int32_t> column = scalar_spmv(a, x.data() + p * a.cols, 5);
                expected.insert(expected.end(), column.begin(), column.end());
            }
            std::vector<std::int32_t> y(a.rows * n);
            mve::spmm(w, x.data(), a.cols, n, y.data(), a.rows, buffer.data(), std::tuple<>{}, 5);
            CHECK(y == expected);
        }
    }
}

