// Instruction-count comparison on Cortex-M55 (QEMU mps3-an547): dense MVE GEMV vs dCSR MVE SpMV on the same
// matrices and the same input. Run under the counting plugin (tests/mve/plugin/insn_count.c) with
// marker=<address of approxnn_insn_marker>; tests/mve/insn_counts.cmake turns the marker log and this program's
// output into a CSV.
//
// For each matrix: marker, kernel 1, marker, kernel 2, marker, kernel 3, marker. Before the first matrix two
// markers back to back give the constant the harness subtracts (the marker's own instruction and call). Each
// kernel is called through a noinline function taking the arguments it needs anyway, so a count is the kernel's
// instructions plus a few for the call. Everything else (matrix generation, encoding, validation, checks,
// printing) lies outside the markers. Outputs are checked against the scalar reference; a mismatch exits with 1.
//
// Kernels, in marker order:
//   dense           approxnn::sparse::mve::dense_gemv<4>: 4 rows per pass, unpredicated 16-column vectors, one
//                   vctp8q-predicated vector for the last 1..16 columns
//   dense_vctp      the same 4 rows per pass with every vector predicated by vctp8q (the loop shape of CMSIS-NN's
//                   MVE int8 vector × matrix kernel), written here as a second, simpler baseline
//   dcsr            approxnn::sparse::mve::spmv
//
// Output, one line per matrix:
//   matrix rows cols sparsity nonzeros stored groups bitmasks dcsr_bytes

#include <arm_mve.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "approxnn/sparse/dcsr_view.hpp"
#include "approxnn/sparse/mve/dcsr_spmv.hpp"
#include "approxnn/sparse/mve/dense_gemv.hpp"
#include "dcsr_test_support.hpp"
#include "insn_marker.hpp"

namespace {

namespace mve = approxnn::sparse::mve;
using approxnn::sparse::dcsr_view;

__attribute__((noinline)) void run_dense(const std::int8_t* w, std::uint32_t rows, std::uint32_t cols,
                                         const std::int8_t* x, std::int32_t* y) {
    mve::dense_gemv<4>(w, rows, cols, cols, x, y);
}

/// Rows [0, Rows) against x with every 16-column vector predicated (the CMSIS-NN loop shape).
template <int Rows>
inline __attribute__((always_inline)) void every_vector_block(const std::int8_t* w, std::uint32_t cols,
                                                              const std::int8_t* x, std::int32_t* y) {
    std::int32_t acc[Rows] = {};
    const std::int8_t* row[Rows];
#pragma GCC unroll 4
    for (int i = 0; i < Rows; ++i) row[i] = w + static_cast<std::size_t>(i) * cols;
    for (auto remaining = static_cast<std::int32_t>(cols); remaining > 0; remaining -= 16) {
        const mve_pred16_t p = vctp8q(static_cast<std::uint32_t>(remaining));
        const int8x16_t xs = vldrbq_z_s8(x, p);
        x += 16;
#pragma GCC unroll 4
        for (int i = 0; i < Rows; ++i) {
            acc[i] = vmladavaq_s8(acc[i], vldrbq_z_s8(row[i], p), xs);
            row[i] += 16;
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < Rows; ++i) y[i] = acc[i];
}

__attribute__((noinline)) void run_dense_vctp(const std::int8_t* w, std::uint32_t rows, std::uint32_t cols,
                                              const std::int8_t* x, std::int32_t* y) {
    std::uint32_t r = 0;
    for (; r + 4 <= rows; r += 4) every_vector_block<4>(w + std::size_t{r} * cols, cols, x, y + r);
    for (; r < rows; ++r) every_vector_block<1>(w + std::size_t{r} * cols, cols, x, y + r);
}

__attribute__((noinline)) void run_dcsr(const dcsr_view<std::int8_t>& w, const std::int8_t* x, std::int32_t* y) {
    mve::spmv(w, x, y);
}

struct shape {
    std::uint32_t rows;
    std::uint32_t cols;
};

}  // namespace

int main() {
    const shape shapes[] = {{64, 64}, {172, 172}, {276, 276}, {12, 1536}, {12, 16560}, {1024, 1024}};
    const double sparsities[] = {0.5, 0.7, 0.8, 0.9, 0.95};
    approxnn_test::random_bits rng(20240607);
    int failures = 0;

    approxnn_insn_marker();
    approxnn_insn_marker();
    for (const shape& sh : shapes) {
        for (const double sparsity : sparsities) {
            const std::vector<std::int8_t> w = approxnn_test::random_sparse(sh.rows, sh.cols, sparsity, rng);
            const std::vector<std::int8_t> x = approxnn_test::random_dense(sh.cols, rng);
            const approxnn_test::dcsr_arrays a = approxnn_test::encode_dcsr(w.data(), sh.rows, sh.cols);
            const dcsr_view<std::int8_t> view = a.view();
            if (!approxnn::sparse::validate_dcsr(view)) {
                std::printf("error: the encoded %ux%u matrix does not validate\n", unsigned{sh.rows},
                            unsigned{sh.cols});
                return 1;
            }
            std::vector<std::int32_t> expected(sh.rows);
            std::vector<std::int32_t> dense(sh.rows);
            std::vector<std::int32_t> dense_vctp(sh.rows);
            std::vector<std::int32_t> sparse(sh.rows);
            approxnn_test::dense_reference(w.data(), sh.rows, sh.cols, sh.cols, x.data(), expected.data());

            approxnn_insn_marker();
            run_dense(w.data(), sh.rows, sh.cols, x.data(), dense.data());
            approxnn_insn_marker();
            run_dense_vctp(w.data(), sh.rows, sh.cols, x.data(), dense_vctp.data());
            approxnn_insn_marker();
            run_dcsr(view, x.data(), sparse.data());
            approxnn_insn_marker();

            if (dense != expected || dense_vctp != expected || sparse != expected) {
                std::printf("error: a kernel differs from the scalar reference on %ux%u at %.2f\n",
                            unsigned{sh.rows}, unsigned{sh.cols}, sparsity);
                ++failures;
            }
            std::uint32_t nonzeros = 0;
            for (const std::int8_t v : w) nonzeros += v != 0 ? 1U : 0U;
            std::printf("matrix %u %u %.2f %u %u %u %u %u\n", unsigned{sh.rows}, unsigned{sh.cols}, sparsity,
                        unsigned{nonzeros}, unsigned{view.nnze}, unsigned{view.groups()},
                        unsigned{view.bitmasks_size}, static_cast<unsigned>(view.size_bytes()));
        }
    }
    return failures == 0 ? 0 : 1;
}
