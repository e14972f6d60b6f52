// dCSR SpMM on Cortex-M55 (approxnn/sparse/mve/dcsr_spmm.hpp, variant A: decode once per row, 4 columns at a
// time) against sparse::spmm_reference computed on the target.
#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <tuple>
#include <vector>

#include "approxnn/core/fixed_point.hpp"
#include "approxnn/core/output_stage.hpp"
#include "approxnn/sparse/dcsr_reference.hpp"
#include "approxnn/sparse/dcsr_view.hpp"
#include "approxnn/sparse/mve/dcsr_spmm.hpp"
#include "dcsr_test_support.hpp"
#include "guard_zone.hpp"

namespace mve = approxnn::sparse::mve;
using approxnn::sparse::dcsr_view;

namespace {

constexpr std::uint8_t canary = 0xC3;

/// A decode buffer of exactly spmm_buffer_size(w) bytes (4-byte aligned) followed by canary bytes.
struct decode_buffer {
    std::vector<std::uint32_t> storage;
    std::size_t bytes;
    explicit decode_buffer(const dcsr_view<std::int8_t>& w) : bytes(mve::spmm_buffer_size(w)) {
        storage.assign((bytes + 64) / 4 + 1, 0xC3C3C3C3U);
    }
    void* data() { return storage.data(); }
    bool canaries_intact() const {
        const auto* b = reinterpret_cast<const std::uint8_t*>(storage.data());
        for (std::size_t i = bytes; i < storage.size() * 4; ++i) {
            if (b[i] != canary) return false;
        }
        return true;
    }
};

}  // namespace

TEST_CASE("mve spmm int8 exact int32 output: equal to spmm_reference for 1 to 13 columns, with strides") {
    const std::size_t column_counts[] = {1, 2, 3, 4, 5, 7, 8, 13};
    for (const approxnn_test::test_matrix& m : approxnn_test::all_test_matrices()) {
        const std::uint32_t rows = m.spec.rows;
        const std::uint32_t cols = m.spec.cols;
        if (std::size_t{rows} * cols > 20000) continue;  // the widest cases run in the SpMV tests
        CAPTURE(rows);
        CAPTURE(cols);
        CAPTURE(m.spec.sparsity);
        const dcsr_view<std::int8_t> w = m.encoded.view();
        decode_buffer buffer(w);
        for (const std::size_t n : column_counts) {
            for (const std::size_t pad : {std::size_t{0}, std::size_t{5}}) {
                CAPTURE(n);
                CAPTURE(pad);
                const std::size_t ldx = cols + pad;
                const std::size_t ldy = rows + pad;
                approxnn_test::random_bits rng(m.spec.seed * 31 + static_cast<std::uint32_t>(n + pad));
                const std::vector<std::int8_t> x = approxnn_test::random_dense(ldx * n, rng);
                std::vector<std::int32_t> reference(ldy * n, -1);
                approxnn::sparse::spmm_reference(w, x.data(), ldx, n, reference.data(), ldy);
                std::vector<std::int32_t> y(ldy * n, -1);  // the gaps between columns must stay untouched
                mve::spmm(w, x.data(), ldx, n, y.data(), ldy, buffer.data());
                CHECK(y == reference);
                CHECK(buffer.canaries_intact());
            }
        }
    }
}

TEST_CASE("mve spmm int8 with an int8 output stage and an input zero point: equal to spmm_reference") {
    for (const approxnn_test::test_matrix& m : approxnn_test::all_test_matrices()) {
        const std::uint32_t rows = m.spec.rows;
        const std::uint32_t cols = m.spec.cols;
        if (std::size_t{rows} * cols > 20000) continue;
        CAPTURE(rows);
        CAPTURE(cols);
        CAPTURE(m.spec.sparsity);
        const dcsr_view<std::int8_t> w = m.encoded.view();
        decode_buffer buffer(w);
        std::vector<std::int32_t> bias(rows);
        std::vector<approxnn::quantized_multiplier> multipliers(rows);
        for (std::uint32_t r = 0; r < rows; ++r) {
            bias[r] = static_cast<std::int32_t>(r * 53 % 301) - 150;
            REQUIRE(approxnn::quantize_multiplier(0.0011 * (1 + r % 3), multipliers[r]));
        }
        const auto pipeline = approxnn::quantized_output<std::int8_t>(bias.data(), {multipliers.data(), {}, 7});
        const std::size_t n = 6;
        approxnn_test::random_bits rng(m.spec.seed + 4000);
        const std::vector<std::int8_t> x = approxnn_test::random_dense(cols * n, rng);
        for (const std::int32_t zp : {0, -128, 33}) {
            CAPTURE(zp);
            std::vector<std::int8_t> reference(rows * n);
            approxnn::sparse::spmm_reference(w, x.data(), cols, n, reference.data(), rows, pipeline, zp);
            std::vector<std::int8_t> y(rows * n);
            mve::spmm(w, x.data(), cols, n, y.data(), rows, buffer.data(), pipeline, zp);
            CHECK(y == reference);
        }
    }
}

TEST_CASE("mve spmm reads nothing past the end of X or of the values (operands placed before unmapped memory)") {
    for (const approxnn_test::test_matrix& m : approxnn_test::all_test_matrices()) {
        const std::uint32_t rows = m.spec.rows;
        const std::uint32_t cols = m.spec.cols;
        if (std::size_t{rows} * cols > 20000) continue;
        CAPTURE(rows);
        CAPTURE(cols);
        CAPTURE(m.spec.sparsity);
        dcsr_view<std::int8_t> w = m.encoded.view();
        decode_buffer buffer(w);
        const std::size_t n = 5;
        approxnn_test::random_bits rng(m.spec.seed + 5000);
        const std::vector<std::int8_t> x = approxnn_test::random_dense(cols * n, rng);
        std::vector<std::int32_t> reference(rows * n);
        approxnn::sparse::spmm_reference(w, x.data(), cols, n, reference.data(), rows);
        std::vector<std::int32_t> y(rows * n);
        mve::spmm(w, approxnn_test::at_guard_end(x), cols, n, y.data(), rows, buffer.data());
        CHECK(y == reference);
        w.values = approxnn_test::at_guard_end(m.encoded.values);
        mve::spmm(w, x.data(), cols, n, y.data(), rows, buffer.data());
        CHECK(y == reference);
    }
}

TEST_CASE("mve spmm_buffer_size: the longest row's groups times 20 bytes") {
    const approxnn_test::test_matrix m = approxnn_test::make_test_matrix({9, 1000, 0.5, 99});
    const dcsr_view<std::int8_t> w = m.encoded.view();
    std::uint32_t most = 0;
    for (std::uint32_t r = 0; r < w.rows; ++r) {
        const std::uint32_t g = approxnn::sparse::dcsr_groups_of(w.row_size(r));
        most = g > most ? g : most;
    }
    CHECK(mve::spmm_buffer_size(w) == std::size_t{most} * 20);
    const approxnn_test::test_matrix empty = approxnn_test::make_test_matrix({4, 30, 1.0, 5});
    CHECK(mve::spmm_buffer_size(empty.encoded.view()) == 0U);
}
