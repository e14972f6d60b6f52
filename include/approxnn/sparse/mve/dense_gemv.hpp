#pragma once
// Dense int8 GEMV for Arm MVE (Cortex-M55): the baseline the dCSR kernels are measured against.
//
//   dense_gemv<RowBlock>(w, rows, cols, ldw, x, y, pipeline = {}, input_zero_point = 0)
//       y[r] = pipeline_r( sum_c w[r·ldw + c]·x[c] − input_zero_point·sum_c w[r·ldw + c] )   for r in [0, rows)
//   w: rows × cols int8, row-major with leading dimension ldw >= cols; x: cols int8; y: rows outputs of
//   pipeline_output_t<Pipeline> (int32 for the empty pipeline; see approxnn/core/output_stage.hpp).
//
// RowBlock rows (1 to 4) share each 16-byte load of x, each with its own vmladavaq accumulator (CMSIS-NN's
// arrangement uses 4); rows left over at the end are run as one smaller block. Full 16-column vectors run
// unpredicated; the last 1 to 16 columns are one vctp8q-predicated vector (inactive lanes load zeros and read no
// memory): no scalar remainder loop, no read past the end of a row or of x. Exact int8
// products, int32 accumulation (wrapping, like the scalar references). The same semantics as
// sparse::spmv_reference on the equivalent dCSR matrix, bit for bit.
//
// Only on targets with MVE (see approxnn/sparse/mve/config.hpp); elsewhere this header declares nothing.

#include "approxnn/sparse/mve/config.hpp"

#if APPROXNN_MVE

#include <arm_mve.h>

#include <cstddef>
#include <cstdint>
#include <tuple>

#include "approxnn/core/output_stage.hpp"

namespace approxnn::sparse::mve {

namespace detail {

/// rows [0, Rows) of a block: accumulators (and row sums when RowSums) of Rows rows against x.
template <std::size_t Rows, bool RowSums>
inline __attribute__((always_inline)) void dense_block(const std::int8_t* w, std::size_t ldw, std::size_t cols,
                                                       const std::int8_t* x, std::int32_t (&acc)[Rows],
                                                       std::int32_t (&sum)[Rows]) noexcept {
    const std::int8_t* row[Rows];
#pragma GCC unroll 4
    for (std::size_t i = 0; i < Rows; ++i) {
        row[i] = w + i * ldw;
        acc[i] = 0;
        sum[i] = 0;
    }
    // Full vectors: all but the last 1 to 16 columns. A loop counted down from a precomputed trip count, with one
    // pointer per row, compiles to the minimal loop (GCC 12: 1 + Rows post-increment loads, Rows vmladava, le);
    // a loop on the remaining column count makes GCC address every row through one shared index instead.
    const std::size_t full = cols != 0 ? (cols - 1) / 16 : 0;
    for (std::size_t n = full; n != 0; --n) {
        const int8x16_t xs = vld1q_s8(x);
        x += 16;
#pragma GCC unroll 4
        for (std::size_t i = 0; i < Rows; ++i) {
            const int8x16_t ws = vld1q_s8(row[i]);
            row[i] += 16;
            acc[i] = vmladavaq_s8(acc[i], ws, xs);
            if constexpr (RowSums) sum[i] = vaddvaq_s8(sum[i], ws);
        }
    }
    // The last 1 to 16 columns (none when cols = 0): inactive lanes load zeros and read no memory.
    const mve_pred16_t p = vctp8q(static_cast<std::uint32_t>(cols - 16 * full));
    const int8x16_t xs = vldrbq_z_s8(x, p);
#pragma GCC unroll 4
    for (std::size_t i = 0; i < Rows; ++i) {
        const int8x16_t ws = vldrbq_z_s8(row[i], p);
        acc[i] = vmladavaq_s8(acc[i], ws, xs);
        if constexpr (RowSums) sum[i] = vaddvaq_s8(sum[i], ws);
    }
}

template <std::size_t Rows, bool RowSums, class Pipeline>
inline void dense_rows(const std::int8_t* w, std::size_t ldw, std::size_t cols, const std::int8_t* x,
                       pipeline_output_t<Pipeline>* y, std::size_t first_row, const Pipeline& pipeline,
                       std::int32_t input_zero_point) noexcept {
    std::int32_t acc[Rows];
    std::int32_t sum[Rows];
    dense_block<Rows, RowSums>(w, ldw, cols, x, acc, sum);
#pragma GCC unroll 4
    for (std::size_t i = 0; i < Rows; ++i) {
        std::int32_t a = acc[i];
        if constexpr (RowSums) {  // a − zero_point·sum modulo 2^32
            const std::uint32_t correction =
                static_cast<std::uint32_t>(input_zero_point) * static_cast<std::uint32_t>(sum[i]);
            a = static_cast<std::int32_t>(static_cast<std::uint32_t>(a) - correction);
        }
        y[i] = apply_output_stages(a, first_row + i, pipeline);
    }
}

template <std::size_t RowBlock, bool RowSums, class Pipeline>
inline void dense_gemv_impl(const std::int8_t* w, std::size_t rows, std::size_t cols, std::size_t ldw,
                            const std::int8_t* x, pipeline_output_t<Pipeline>* y, const Pipeline& pipeline,
                            std::int32_t input_zero_point) noexcept {
    std::size_t r = 0;
    for (; r + RowBlock <= rows; r += RowBlock) {
        dense_rows<RowBlock, RowSums>(w + r * ldw, ldw, cols, x, y + r, r, pipeline, input_zero_point);
    }
    const std::size_t left = rows - r;
    if constexpr (RowBlock > 3) {
        if (left == 3) return dense_rows<3, RowSums>(w + r * ldw, ldw, cols, x, y + r, r, pipeline, input_zero_point);
    }
    if constexpr (RowBlock > 2) {
        if (left == 2) return dense_rows<2, RowSums>(w + r * ldw, ldw, cols, x, y + r, r, pipeline, input_zero_point);
    }
    if constexpr (RowBlock > 1) {
        if (left == 1) return dense_rows<1, RowSums>(w + r * ldw, ldw, cols, x, y + r, r, pipeline, input_zero_point);
    }
}

}  // namespace detail

/// y = W·x for a dense int8 matrix (see the header comment). RowBlock: rows per pass, 1 to 4.
template <std::size_t RowBlock = 4, class Pipeline = std::tuple<>>
void dense_gemv(const std::int8_t* w, std::size_t rows, std::size_t cols, std::size_t ldw, const std::int8_t* x,
                pipeline_output_t<Pipeline>* y, const Pipeline& pipeline = {},
                std::int32_t input_zero_point = 0) noexcept {
    static_assert(RowBlock >= 1 && RowBlock <= 4, "approxnn: dense_gemv runs 1 to 4 rows per pass (RowBlock)");
    if (input_zero_point == 0) {
        detail::dense_gemv_impl<RowBlock, false>(w, rows, cols, ldw, x, y, pipeline, 0);
    } else {
        detail::dense_gemv_impl<RowBlock, true>(w, rows, cols, ldw, x, y, pipeline, input_zero_point);
    }
}

}  // namespace approxnn::sparse::mve

#endif  // APPROXNN_MVE
