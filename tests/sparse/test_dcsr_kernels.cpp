// dCSR kernels: the scalar reference against a dense computation, and every backend (scalar, avx2, avx512) against
// the reference for SpMV and SpMM: random shapes with fixed seeds, edge shapes, zero points, output pipelines,
// strides, threads with the row-start index, an approximate product, int16 and float values; the dense baseline;
// shape errors.

#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include "approxnn/core/error.hpp"
#include "approxnn/core/output_stage.hpp"
#include "approxnn/multipliers/families/drum.hpp"
#include "approxnn/sparse/dcsr_kernels.hpp"
#include "approxnn/sparse/dense_baseline.hpp"
#include "dcsr_test_support.hpp"
#include "test_support.hpp"

namespace sp = approxnn::sparse;
using i8 = std::int8_t;
using test_support::check_throws_with;

namespace {

struct shape {
    std::size_t rows;
    std::size_t cols;
};

const shape shapes[] = {{1, 1},    {1, 2},    {2, 3},      {3, 1},     {4, 16},    {5, 17},   {16, 16}, {64, 64},
                        {31, 172}, {12, 276}, {100, 1000}, {12, 1536}, {3, 16560}, {33, 257}, {200, 3}};

/// y = W·x − zp·rowsum(W) computed densely (int64, then wrapped like the kernels).
std::vector<std::int32_t> dense_spmv(const std::vector<i8>& w, std::size_t rows, std::size_t cols, const i8* x,
                                     std::int32_t zp) {
    std::vector<std::int32_t> y(rows);
    for (std::size_t r = 0; r < rows; ++r) {
        std::int64_t acc = 0;
        for (std::size_t c = 0; c < cols; ++c) acc += std::int64_t{w[r * cols + c]} * (std::int64_t{x[c]} - zp);
        y[r] = static_cast<std::int32_t>(acc);
    }
    return y;
}

template <class Backend>
void check_backend_spmv_spmm() {
    INFO("backend " << Backend::name << " runs as " << sp::backend_name<Backend>());
    if (!Backend::available()) MESSAGE("this CPU lacks " << Backend::name << ": its calls fall back");
    std::uint32_t seed = 1000;
    for (const shape s : shapes) {
        for (const double sparsity : {0.0, 0.5, 0.9, 0.97, 1.0}) {
            CAPTURE(s.rows);
            CAPTURE(s.cols);
            CAPTURE(sparsity);
            const std::vector<i8> d = dcsr_test::random_sparse(s.rows, s.cols, sparsity, seed++);
            const auto m = sp::dcsr_matrix<i8>::from_dense(d.data(), s.rows, s.cols);
            const sp::dcsr_view<i8> w = m.view();
            for (const std::int32_t zp : {0, -128, 7, 127}) {
                CAPTURE(zp);
                const std::vector<i8> x = dcsr_test::random_bytes(s.cols, seed++);
                std::vector<std::int32_t> reference(s.rows);
                sp::spmv_reference(w, x.data(), reference.data(), std::tuple<>{}, zp);
                REQUIRE(reference == dense_spmv(d, s.rows, s.cols, x.data(), zp));
                std::vector<std::int32_t> y(s.rows, -1);
                sp::spmv(Backend{}, w, x, std::span<std::int32_t>(y), std::tuple<>{}, {.input_zero_point = zp});
                CHECK(y == reference);
            }
            // SpMM: n columns with strides larger than the operands.
            for (const std::size_t n : {1U, 3U, 4U, 9U}) {
                CAPTURE(n);
                const std::size_t ldx = s.cols + 5;
                const std::size_t ldy = s.rows + 2;
                const std::vector<i8> x = dcsr_test::random_bytes(n * ldx, seed++);
                std::vector<std::int32_t> reference(n * ldy, 0);
                sp::spmm_reference(w, x.data(), ldx, n, reference.data(), ldy, std::tuple<>{}, -3);
                std::vector<std::int32_t> y(n * ldy, 0);
                sp::spmm(Backend{}, w, x.data(), ldx, n, y.data(), ldy, std::tuple<>{}, {.input_zero_point = -3});
                CHECK(y == reference);
            }
        }
    }
}

}  // namespace

TEST_CASE("dcsr kernels: scalar backend = reference = dense computation") {
    check_backend_spmv_spmm<sp::backends::scalar>();
}
TEST_CASE("dcsr kernels: avx2 backend equals the reference") { check_backend_spmv_spmm<sp::backends::avx2>(); }
TEST_CASE("dcsr kernels: avx512 backend equals the reference") { check_backend_spmv_spmm<sp::backends::avx512>(); }

TEST_CASE("dcsr kernels: the backends this CPU has are the ones that run") {
    CHECK(sp::backend_name<sp::backends::scalar>() == "scalar");
    CHECK(sp::backend_name<sp::backends::avx2>() == (sp::backends::avx2::available() ? "avx2" : "scalar"));
    if (sp::backends::avx512::available()) CHECK(sp::backend_name() == "avx512");
    MESSAGE("best dCSR backend here: " << sp::backend_name() << ", dense baseline: " << sp::dense_backend_name());
}

TEST_CASE("dcsr kernels: matrices with extension masks, padding, empty rows and columns below 3 in later groups") {
    // Dense first columns make B_k < 3 in groups after the first; wide sparse rows need padding and bit-planes.
    std::vector<i8> d = dcsr_test::random_sparse(50, 2000, 0.97, 5);
    for (std::size_t r = 0; r < 50; r += 7) {
        for (std::size_t c = 0; c < 40; ++c) d[r * 2000 + c] = static_cast<i8>(c + 1);
    }
    for (std::size_t c = 0; c < 2000; ++c) d[3 * 2000 + c] = 0;
    const auto m = sp::dcsr_matrix<i8>::from_dense(d.data(), 50, 2000);
    REQUIRE(m.padding_zeros() > 0);
    REQUIRE(!m.bitmasks().empty());
    const std::vector<i8> x = dcsr_test::random_bytes(2000, 6);
    const std::vector<std::int32_t> expected = dense_spmv(d, 50, 2000, x.data(), 0);
    for (const auto& y : {[&] {
                              std::vector<std::int32_t> y(50);
                              sp::spmv(sp::backends::scalar{}, m.view(), x, std::span<std::int32_t>(y));
                              return y;
                          }(),
                          [&] {
                              std::vector<std::int32_t> y(50);
                              sp::spmv(sp::backends::avx2{}, m.view(), x, std::span<std::int32_t>(y));
                              return y;
                          }(),
                          [&] {
                              std::vector<std::int32_t> y(50);
                              sp::spmv(sp::backends::avx512{}, m.view(), x, std::span<std::int32_t>(y));
                              return y;
                          }()}) {
        CHECK(y == expected);
    }
}

TEST_CASE("dcsr kernels: the TFLite output pipeline (bias, requantisation, clamp, int8) on every backend") {
    const std::vector<i8> d = dcsr_test::random_sparse(77, 300, 0.85, 7);
    const auto m = sp::dcsr_matrix<i8>::from_dense(d.data(), 77, 300);
    std::vector<std::int32_t> bias(77);
    std::vector<approxnn::quantized_multiplier> scales(77);
    for (std::size_t r = 0; r < 77; ++r) {
        bias[r] = static_cast<std::int32_t>(r * 37) - 1000;
        REQUIRE(approxnn::quantize_multiplier(0.0005 + 0.0001 * static_cast<double>(r), scales[r]));
    }
    const auto pipeline = approxnn::quantized_output<std::int8_t>(bias.data(), {scales.data(), {}, -5}, -100, 120);
    const std::vector<i8> x = dcsr_test::random_bytes(300, 8);
    std::vector<i8> reference(77);
    sp::spmv_reference(m.view(), x.data(), reference.data(), pipeline, 12);
    // The pipeline is not trivial here: outputs spread over the clamp range.
    int clamped = 0;
    for (const i8 v : reference) clamped += (v == -100 || v == 120) ? 1 : 0;
    CHECK(clamped < 77);
    for (int b = 0; b < 3; ++b) {
        std::vector<i8> y(77, 0);
        const sp::dcsr_kernel_options o{.input_zero_point = 12};
        if (b == 0) sp::spmv(sp::backends::scalar{}, m.view(), x, std::span<i8>(y), pipeline, o);
        if (b == 1) sp::spmv(sp::backends::avx2{}, m.view(), x, std::span<i8>(y), pipeline, o);
        if (b == 2) sp::spmv(sp::backends::avx512{}, m.view(), x, std::span<i8>(y), pipeline, o);
        CHECK(y == reference);
        std::vector<i8> ym(77 * 5, 0);
        std::vector<i8> xm(300 * 5);
        for (std::size_t p = 0; p < 5; ++p)
            std::copy(x.begin(), x.end(), xm.begin() + static_cast<std::ptrdiff_t>(p * 300));
        if (b == 0) sp::spmm(sp::backends::scalar{}, m.view(), xm, 5, std::span<i8>(ym), pipeline, o);
        if (b == 1) sp::spmm(sp::backends::avx2{}, m.view(), xm, 5, std::span<i8>(ym), pipeline, o);
        if (b == 2) sp::spmm(sp::backends::avx512{}, m.view(), xm, 5, std::span<i8>(ym), pipeline, o);
        for (std::size_t p = 0; p < 5; ++p)
            CHECK(std::vector<i8>(ym.begin() + static_cast<std::ptrdiff_t>(p * 77),
                                  ym.begin() + static_cast<std::ptrdiff_t>(p * 77 + 77)) == reference);
    }
}

TEST_CASE("dcsr kernels: row-parallel runs with the row-start index equal one-thread runs") {
    const std::size_t rows = 2000;
    const std::size_t cols = 3000;
    const std::vector<i8> d = dcsr_test::random_sparse(rows, cols, 0.8, 9);
    const auto m = sp::dcsr_matrix<i8>::from_dense(d.data(), rows, cols, 0, {.row_index = true});
    REQUIRE(m.nnze() > sp::detail::dcsr_parallel_threshold);  // SpMV alone is worth two threads
    const auto chunks = sp::detail::dcsr_chunks(m.view(), 2, 1);
    CHECK(chunks.size() > 1);  // the work is really split
    CHECK(chunks.front().first == 0);
    CHECK(chunks.back().last == rows);
    for (std::size_t i = 1; i < chunks.size(); ++i) CHECK(chunks[i].first == chunks[i - 1].last);
    CHECK(sp::detail::dcsr_chunks(m.reference_view(), 2, 1).size() == 1);  // no index: one thread
    const std::vector<i8> x = dcsr_test::random_bytes(cols * 3, 10);
    std::vector<std::int32_t> one(rows * 3);
    std::vector<std::int32_t> all(rows * 3);
    std::vector<std::int32_t> reference(rows * 3);
    sp::spmm_reference(m.view(), x.data(), cols, 3, reference.data(), rows);
    sp::spmm(m.view(), x, 3, std::span<std::int32_t>(one), std::tuple<>{}, {.threads = 1});
    sp::spmm(m.view(), x, 3, std::span<std::int32_t>(all), std::tuple<>{}, {.threads = 0});
    CHECK(one == reference);
    CHECK(all == reference);
    for (const auto& backend_result : {0, 1, 2}) {
        std::vector<std::int32_t> y(rows);
        const sp::dcsr_kernel_options o{.input_zero_point = 0, .threads = 2};
        const std::span<const i8> x0(x.data(), cols);
        if (backend_result == 0)
            sp::spmv(sp::backends::scalar{}, m.view(), x0, std::span<std::int32_t>(y), std::tuple<>{}, o);
        if (backend_result == 1)
            sp::spmv(sp::backends::avx2{}, m.view(), x0, std::span<std::int32_t>(y), std::tuple<>{}, o);
        if (backend_result == 2)
            sp::spmv(sp::backends::avx512{}, m.view(), x0, std::span<std::int32_t>(y), std::tuple<>{}, o);
        CHECK(std::vector<std::int32_t>(reference.begin(), reference.begin() + static_cast<std::ptrdiff_t>(rows)) == y);
    }
}

TEST_CASE("dcsr kernels: an approximate multiplier policy (DRUM k=4) runs through the reference path") {
    using drum = approxnn::multipliers::drum<std::int8_t, 4>;
    const std::vector<i8> d = dcsr_test::random_sparse(40, 200, 0.7, 11);
    const auto m = sp::dcsr_matrix<i8>::from_dense(d.data(), 40, 200, 0, {.row_index = true});
    const std::vector<i8> x = dcsr_test::random_bytes(200, 12);
    std::vector<std::int32_t> expected(40);
    for (std::size_t r = 0; r < 40; ++r) {
        std::int32_t acc = 0;
        std::int32_t sum = 0;
        for (std::size_t c = 0; c < 200; ++c) {
            acc += approxnn::multiply_activation_weight<drum>(x[c], d[r * 200 + c]);
            sum += d[r * 200 + c];
        }
        expected[r] = acc - 3 * sum;
    }
    std::vector<std::int32_t> y(40);
    sp::spmv<drum>(m, x, std::span<std::int32_t>(y), std::tuple<>{}, {.input_zero_point = 3});
    CHECK(y == expected);
    std::vector<std::int32_t> exact(40);
    sp::spmv(m, x, std::span<std::int32_t>(exact), std::tuple<>{}, {.input_zero_point = 3});
    CHECK(exact != y);  // the policy is really used
}

TEST_CASE("dcsr kernels: int16 and float values") {
    const std::vector<i8> d8 = dcsr_test::random_sparse(45, 130, 0.75, 13);
    std::vector<std::int16_t> d16(d8.size());
    std::vector<float> df(d8.size());
    for (std::size_t i = 0; i < d8.size(); ++i) {
        d16[i] = static_cast<std::int16_t>(d8[i] * 250);
        df[i] = static_cast<float>(d8[i]) * 0.5f;
    }
    const auto m16 = sp::dcsr_matrix<std::int16_t>::from_dense(d16.data(), 45, 130, 0, {.row_index = true});
    const auto mf = sp::dcsr_matrix<float>::from_dense(df.data(), 45, 130);
    std::vector<std::int16_t> x16(130 * 2);
    std::vector<float> xf(130 * 2);
    for (std::size_t i = 0; i < x16.size(); ++i) {
        x16[i] = static_cast<std::int16_t>(static_cast<int>(i * 7919 % 60001) - 30000);
        xf[i] = static_cast<float>(static_cast<int>(i % 17) - 8) * 0.25f;
    }
    std::vector<std::int64_t> y16(45 * 2);
    std::vector<float> yf(45 * 2);
    sp::spmm(m16, x16, 2, std::span<std::int64_t>(y16));
    sp::spmm(mf, xf, 2, std::span<float>(yf));
    for (std::size_t p = 0; p < 2; ++p) {
        for (std::size_t r = 0; r < 45; ++r) {
            std::int64_t e16 = 0;
            double ef = 0;
            for (std::size_t c = 0; c < 130; ++c) {
                e16 += std::int64_t{d16[r * 130 + c]} * x16[p * 130 + c];
                ef += static_cast<double>(df[r * 130 + c]) * static_cast<double>(xf[p * 130 + c]);
            }
            CHECK(y16[p * 45 + r] == e16);
            CHECK(static_cast<double>(yf[p * 45 + r]) == doctest::Approx(ef));  // values are exact in float here
        }
    }
    std::vector<float> yv(45);
    sp::spmv(mf, std::span<const float>(xf.data(), 130), std::span<float>(yv));
    CHECK(std::vector<float>(yf.begin(), yf.begin() + 45) == yv);
}

TEST_CASE("dcsr kernels: operands of the wrong size throw shape_error naming them") {
    const std::vector<i8> d = dcsr_test::random_sparse(4, 6, 0.5, 14);
    const auto m = sp::dcsr_matrix<i8>::from_dense(d.data(), 4, 6);
    std::vector<i8> x(5);
    std::vector<std::int32_t> y(4);
    check_throws_with<approxnn::shape_error>([&] { sp::spmv(m, x, std::span<std::int32_t>(y)); },
                                             {"spmv: x holds 5 elements, the matrix needs 6"});
    std::vector<i8> x6(6);
    std::vector<std::int32_t> y3(3);
    check_throws_with<approxnn::shape_error>([&] { sp::spmv(m, x6, std::span<std::int32_t>(y3)); },
                                             {"y holds 3 elements, the matrix needs 4"});
    std::vector<i8> xm(6 * 2);
    check_throws_with<approxnn::shape_error>([&] { sp::spmm(m, xm, 3, std::span<std::int32_t>(y)); },
                                             {"spmm: X holds 12 elements, the matrix needs 18"});
    check_throws_with<approxnn::shape_error>(
        [&] { sp::spmm(sp::backends::best{}, m.view(), xm.data(), 5, 1, y.data(), 4); }, {"column stride of X"});
}

TEST_CASE("dcsr kernels: the dense baseline equals a dense computation (GEMV and GEMM, zero point, pipeline)") {
    for (const shape s : {shape{1, 1}, shape{3, 5}, shape{4, 64}, shape{9, 130}, shape{64, 64}, shape{12, 1536}}) {
        CAPTURE(s.rows);
        CAPTURE(s.cols);
        const std::vector<i8> d = dcsr_test::random_sparse(s.rows, s.cols, 0.3, 15);
        const sp::dense_int8_matrix w(d.data(), s.rows, s.cols);
        CHECK(w.size_bytes() == s.rows * s.cols);
        for (const std::size_t n : {1U, 4U, 6U}) {
            const std::vector<i8> x = dcsr_test::random_bytes(n * s.cols, 16);
            std::vector<std::int32_t> y(n * s.rows);
            sp::dense_gemm(w, x.data(), s.cols, n, y.data(), s.rows, std::tuple<>{}, -9);
            for (std::size_t p = 0; p < n; ++p) {
                CHECK(std::vector<std::int32_t>(y.begin() + static_cast<std::ptrdiff_t>(p * s.rows),
                                                y.begin() + static_cast<std::ptrdiff_t>((p + 1) * s.rows)) ==
                      dense_spmv(d, s.rows, s.cols, x.data() + p * s.cols, -9));
            }
        }
        const std::vector<i8> x = dcsr_test::random_bytes(s.cols, 17);
        std::vector<std::int32_t> y(s.rows);
        sp::dense_gemv(w, x, std::span<std::int32_t>(y));
        CHECK(y == dense_spmv(d, s.rows, s.cols, x.data(), 0));
    }
}
