// dCSR SpMV on Cortex-M55 (approxnn/sparse/mve/dcsr_spmv.hpp) against the scalar oracles computed on the target:
// sparse::spmv_reference on the same view and the dense scalar product of the original matrix.
#include <doctest/doctest.h>

#include <cstdint>
#include <tuple>
#include <vector>

#include "approxnn/core/fixed_point.hpp"
#include "approxnn/core/output_stage.hpp"
#include "approxnn/sparse/dcsr_reference.hpp"
#include "approxnn/sparse/dcsr_view.hpp"
#include "approxnn/sparse/mve/dcsr_spmv.hpp"
#include "dcsr_test_support.hpp"
#include "guard_zone.hpp"

namespace mve = approxnn::sparse::mve;
using approxnn::sparse::dcsr_view;

namespace {

/// The int8 output stage of a fully connected layer: bias, per-channel requantisation, zero point, clamp.
struct int8_epilogue {
    std::vector<std::int32_t> bias;
    std::vector<approxnn::quantized_multiplier> multipliers;
    explicit int8_epilogue(std::uint32_t rows) {
        for (std::uint32_t r = 0; r < rows; ++r) {
            bias.push_back(static_cast<std::int32_t>(r * 37 % 501) - 250);
            approxnn::quantized_multiplier q;
            REQUIRE(approxnn::quantize_multiplier(0.0007 * (1 + r % 5), q));
            multipliers.push_back(q);
        }
    }
    auto pipeline() const {
        return approxnn::quantized_output<std::int8_t>(bias.data(), {multipliers.data(), {}, -3}, -100, 120);
    }
};

}  // namespace

TEST_CASE("mve spmv int8 exact int32 output: equal to spmv_reference and to the dense product") {
    std::uint32_t checked = 0;
    for (const approxnn_test::test_matrix& m : approxnn_test::all_test_matrices()) {
        const std::uint32_t rows = m.spec.rows;
        const std::uint32_t cols = m.spec.cols;
        CAPTURE(rows);
        CAPTURE(cols);
        CAPTURE(m.spec.sparsity);
        approxnn_test::random_bits rng(m.spec.seed + 1000);
        const std::vector<std::int8_t> x = approxnn_test::random_dense(cols, rng);
        const dcsr_view<std::int8_t> w = m.encoded.view();
        std::vector<std::int32_t> dense(rows);
        approxnn_test::dense_reference(m.dense.data(), rows, cols, cols, x.data(), dense.data());
        std::vector<std::int32_t> reference(rows);
        approxnn::sparse::spmv_reference(w, x.data(), reference.data());
        std::vector<std::int32_t> y(rows + 1, 0x7A7A7A7A);  // one canary past the end
        mve::spmv(w, x.data(), y.data());
        CHECK(y[rows] == 0x7A7A7A7A);
        y.pop_back();
        CHECK(y == reference);
        CHECK(y == dense);
        ++checked;
    }
    CHECK(checked > 100U);
}

TEST_CASE("mve spmv int8 with an int8 output stage and an input zero point: equal to spmv_reference") {
    const std::int32_t zero_points[] = {0, 5, -128, 127};
    for (const approxnn_test::test_matrix& m : approxnn_test::all_test_matrices()) {
        const std::uint32_t rows = m.spec.rows;
        const std::uint32_t cols = m.spec.cols;
        CAPTURE(rows);
        CAPTURE(cols);
        CAPTURE(m.spec.sparsity);
        approxnn_test::random_bits rng(m.spec.seed + 2000);
        const std::vector<std::int8_t> x = approxnn_test::random_dense(cols, rng);
        const dcsr_view<std::int8_t> w = m.encoded.view();
        const int8_epilogue epilogue(rows);
        for (const std::int32_t zp : zero_points) {
            CAPTURE(zp);
            std::vector<std::int8_t> reference(rows);
            approxnn::sparse::spmv_reference(w, x.data(), reference.data(), epilogue.pipeline(), zp);
            std::vector<std::int8_t> y(rows);
            mve::spmv(w, x.data(), y.data(), epilogue.pipeline(), zp);
            CHECK(y == reference);
            // int32 output with the zero point alone
            std::vector<std::int32_t> reference32(rows);
            approxnn::sparse::spmv_reference(w, x.data(), reference32.data(), std::tuple<>{}, zp);
            std::vector<std::int32_t> y32(rows);
            mve::spmv(w, x.data(), y32.data(), std::tuple<>{}, zp);
            CHECK(y32 == reference32);
        }
    }
}

TEST_CASE("mve spmv reads nothing past the end of x or of the values (operands placed before unmapped memory)") {
    // A read past the end would be a bus fault: the program would end with status 222.
    for (const approxnn_test::test_matrix& m : approxnn_test::all_test_matrices()) {
        const std::uint32_t rows = m.spec.rows;
        const std::uint32_t cols = m.spec.cols;
        CAPTURE(rows);
        CAPTURE(cols);
        CAPTURE(m.spec.sparsity);
        approxnn_test::random_bits rng(m.spec.seed + 3000);
        const std::vector<std::int8_t> x = approxnn_test::random_dense(cols, rng);
        dcsr_view<std::int8_t> w = m.encoded.view();
        std::vector<std::int32_t> reference(rows);
        approxnn::sparse::spmv_reference(w, x.data(), reference.data());

        std::vector<std::int32_t> y(rows);
        mve::spmv(w, approxnn_test::at_guard_end(x), y.data());
        CHECK(y == reference);

        w.values = approxnn_test::at_guard_end(m.encoded.values);
        mve::spmv(w, x.data(), y.data());
        CHECK(y == reference);
    }
}
