// Dense int8 GEMV on Cortex-M55 (approxnn/sparse/mve/dense_gemv.hpp) against a scalar dot product on the target.
#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <tuple>
#include <vector>

#include "approxnn/core/fixed_point.hpp"
#include "approxnn/core/output_stage.hpp"
#include "approxnn/sparse/mve/dense_gemv.hpp"
#include "dcsr_test_support.hpp"
#include "guard_zone.hpp"

namespace mve = approxnn::sparse::mve;

namespace {

struct shape {
    std::uint32_t rows;
    std::uint32_t cols;
};
constexpr shape shapes[] = {{1, 1}, {1, 15}, {1, 16}, {1, 17}, {2, 31}, {3, 33},  {4, 64},
                            {5, 100}, {6, 1}, {7, 255}, {8, 48}, {9, 1000}, {12, 1536}};

std::vector<std::int32_t> scalar_gemv(const std::vector<std::int8_t>& w, std::uint32_t rows, std::uint32_t cols,
                                      std::size_t ldw, const std::vector<std::int8_t>& x, std::int32_t zp = 0) {
    std::vector<std::int32_t> y(rows);
    for (std::uint32_t r = 0; r < rows; ++r) {
        std::int32_t acc = 0;
        for (std::uint32_t c = 0; c < cols; ++c) acc += std::int32_t{w[r * ldw + c]} * (std::int32_t{x[c]} - zp);
        y[r] = acc;
    }
    return y;
}

template <std::size_t RowBlock>
void check_all_shapes() {
    for (const shape& s : shapes) {
        for (const std::size_t pad : {std::size_t{0}, std::size_t{3}}) {
            CAPTURE(RowBlock);
            CAPTURE(s.rows);
            CAPTURE(s.cols);
            CAPTURE(pad);
            const std::size_t ldw = s.cols + pad;
            approxnn_test::random_bits rng(s.rows * 1000 + s.cols + static_cast<std::uint32_t>(pad));
            const std::vector<std::int8_t> w = approxnn_test::random_dense(ldw * s.rows, rng);
            const std::vector<std::int8_t> x = approxnn_test::random_dense(s.cols, rng);
            std::vector<std::int32_t> y(s.rows + 1, 0x5A5A5A5A);
            mve::dense_gemv<RowBlock>(w.data(), s.rows, s.cols, ldw, x.data(), y.data());
            CHECK(y[s.rows] == 0x5A5A5A5A);
            y.pop_back();
            CHECK(y == scalar_gemv(w, s.rows, s.cols, ldw, x));
            for (const std::int32_t zp : {-128, 17}) {
                CAPTURE(zp);
                mve::dense_gemv<RowBlock>(w.data(), s.rows, s.cols, ldw, x.data(), y.data(), std::tuple<>{}, zp);
                CHECK(y == scalar_gemv(w, s.rows, s.cols, ldw, x, zp));
            }
        }
    }
}

}  // namespace

TEST_CASE("mve dense_gemv int8 exact, 1 row per pass: equal to the scalar dot product") { check_all_shapes<1>(); }
TEST_CASE("mve dense_gemv int8 exact, 2 rows per pass: equal to the scalar dot product") { check_all_shapes<2>(); }
TEST_CASE("mve dense_gemv int8 exact, 3 rows per pass: equal to the scalar dot product") { check_all_shapes<3>(); }
TEST_CASE("mve dense_gemv int8 exact, 4 rows per pass: equal to the scalar dot product") { check_all_shapes<4>(); }

TEST_CASE("mve dense_gemv int8 with an int8 output stage: equal to the scalar product through the same stages") {
    const std::uint32_t rows = 11;
    const std::uint32_t cols = 70;
    approxnn_test::random_bits rng(4242);
    const std::vector<std::int8_t> w = approxnn_test::random_dense(rows * cols, rng);
    const std::vector<std::int8_t> x = approxnn_test::random_dense(cols, rng);
    std::vector<std::int32_t> bias(rows);
    std::vector<approxnn::quantized_multiplier> q(rows);
    for (std::uint32_t r = 0; r < rows; ++r) {
        bias[r] = static_cast<std::int32_t>(r) * 100 - 500;
        REQUIRE(approxnn::quantize_multiplier(0.002 + 0.0005 * r, q[r]));
    }
    const auto pipeline = approxnn::quantized_output<std::int8_t>(bias.data(), {q.data(), {}, 4});
    const std::vector<std::int32_t> acc = scalar_gemv(w, rows, cols, cols, x, -9);
    std::vector<std::int8_t> expected(rows);
    for (std::uint32_t r = 0; r < rows; ++r) expected[r] = approxnn::apply_output_stages(acc[r], r, pipeline);
    std::vector<std::int8_t> y(rows);
    mve::dense_gemv(w.data(), rows, cols, cols, x.data(), y.data(), pipeline, -9);
    CHECK(y == expected);
}

TEST_CASE("mve dense_gemv reads nothing past the end of x or of the matrix (operands before unmapped memory)") {
    for (const shape& s : shapes) {
        CAPTURE(s.rows);
        CAPTURE(s.cols);
        approxnn_test::random_bits rng(s.rows + 7 * s.cols);
        const std::vector<std::int8_t> w = approxnn_test::random_dense(std::size_t{s.rows} * s.cols, rng);
        const std::vector<std::int8_t> x = approxnn_test::random_dense(s.cols, rng);
        const std::vector<std::int32_t> expected = scalar_gemv(w, s.rows, s.cols, s.cols, x);
        std::vector<std::int32_t> y(s.rows);
        mve::dense_gemv(w.data(), s.rows, s.cols, s.cols, approxnn_test::at_guard_end(x), y.data());
        CHECK(y == expected);
        mve::dense_gemv(approxnn_test::at_guard_end(w), s.rows, s.cols, s.cols, x.data(), y.data());
        CHECK(y == expected);
    }
}
