#pragma once
// dCSR SpMV (fully connected layer) for Arm MVE (Cortex-M55), on the reference int8 layout.
//
//   spmv(w, x, y, pipeline = {}, input_zero_point = 0)
//       y[r] = pipeline_r( sum_j w_j·x[c_j] − input_zero_point·sum_j w_j )   for every row r of W (R × C)
//   w: a VALID dcsr_view<std::int8_t> (validate_dcsr() it first when it comes from outside: the kernel does not
//   check indices); x: C int8 activations; y: R outputs of pipeline_output_t<Pipeline> (int32 for the empty
//   pipeline; int8 with quantized_output<std::int8_t>(...), see approxnn/core/output_stage.hpp).
//
// Bit-exact with sparse::spmv_reference (exact products, int32 accumulation modulo 2^32). Each non-empty row is the
// row walk of approxnn/sparse/mve/dcsr_decode.hpp (one asm statement): per group the offsets (ramp + upper or lower
// nibble + predicated extension planes), the running base B_k, a byte gather of x (VLDRB.U8 Qd, [Rn, Qm]), the 16
// weights, VMLADAVA. A row's last group is predicated with VCTP (n_r − 16k lanes): inactive lanes read nothing,
// there is no remainder loop. Rows are walked in order (the optional row-start index is not read). With an input
// zero point, the row sum of the weights is a separate pass over the row's values (VADDVA, 2 instructions per 16
// weights), selected once per call.
//
// Only on targets with MVE (see approxnn/sparse/mve/config.hpp); elsewhere this header declares nothing.

#include "approxnn/sparse/mve/config.hpp"

#if APPROXNN_MVE

#include <arm_mve.h>

#include <cstdint>
#include <tuple>

#include "approxnn/core/output_stage.hpp"
#include "approxnn/sparse/dcsr_layout.hpp"
#include "approxnn/sparse/dcsr_view.hpp"
#include "approxnn/sparse/mve/dcsr_decode.hpp"

namespace approxnn::sparse::mve {

namespace detail {

// The row kernel (spmv_row): the row walk of dcsr_decode.hpp with, per group, a gather into q6 at %[base] + offsets,
// the 16 weights (into the offsets' register, free by then) and VMLADAVA into %[acc] (an even register); %[v] walks
// the values.

/// One full group of SpMV.
#define APPROXNN_MVE_SPMV_FULL(offsets)       \
    "vldrb.u8 q6, [%[base], " offsets "]\n\t" \
    "vldrb.u8 " offsets ", [%[v]], #16\n\t"   \
    "vmladava.s8 %[acc], " offsets ", q6\n\t"

/// The row's last group of SpMV: predicated by VCTP (inactive lanes read nothing); %[v] ends past the row.
#define APPROXNN_MVE_SPMV_LAST         \
    "and %[b], %[n], #15\n\t"         \
    "adds %[b], %[b], #1\n\t"         \
    "vctp.8 %[b]\n\t"                 \
    "vpstt\n\t"                       \
    "vldrbt.u8 q6, [%[base], q5]\n\t" \
    "vldrbt.u8 q5, [%[v]]\n\t"        \
    "add %[v], %[v], %[b]\n\t"        \
    "vmladava.s8 %[acc], q5, q6"

/// One non-empty row of `count` stored elements and slope `slope`: returns sum_j w_j·x[c_j] (int32, modulo 2^32).
/// One asm statement (the row walk). `phase` carries the parity of the group stream from row to row (16 before the
/// first row); the four stream pointers and `v` (the values) advance past the row.
APPROXNN_MVE_ALWAYS_INLINE std::int32_t spmv_row(std::uint32_t count, std::uint32_t slope, const std::int8_t* x,
                                                 std::uint32_t& phase, const std::uint8_t*& block,
                                                 const std::uint8_t*& bitmap, const std::uint16_t*& mask,
                                                 const std::int8_t*& minimum, const std::int8_t*& v) noexcept {
    std::uint32_t b;
    std::int32_t acc = 0;
    auto base = reinterpret_cast<std::uintptr_t>(x);
    __asm__ volatile(APPROXNN_MVE_ROW_WALK(APPROXNN_MVE_SPMV_FULL("q4"), APPROXNN_MVE_SPMV_FULL("q5"),
                                            APPROXNN_MVE_SPMV_LAST)
                     : [blk] "+r"(block), [bmp] "+r"(bitmap), [m] "+r"(mask), [min] "+r"(minimum), [v] "+r"(v),
                       [acc] "+Te"(acc), [base] "+r"(base), [step] "+r"(slope), [n] "+r"(count), [t] "+r"(phase),
                       [b] "=&Te"(b)
                     :
                     : APPROXNN_MVE_ROW_WALK_CLOBBERS);
    phase = count;
    return acc;
}

template <bool RowSums, class Pipeline>
inline void spmv_impl(const dcsr_view<std::int8_t>& w, const std::int8_t* x, pipeline_output_t<Pipeline>* y,
                      const Pipeline& pipeline, std::int32_t input_zero_point) noexcept {
    // Everything the loops read from the view is copied first: stores to y could alias the view's members.
    const std::uint8_t* block = w.delta_indices;
    const std::uint8_t* bitmap = w.bitmaps;
    const std::int8_t* minimum = w.group_minimums;
    const std::uint16_t* mask = w.bitmasks;
    std::uint32_t phase = dcsr_lanes;  // the first row starts with the upper half of a block
    const std::int8_t* values = w.values;
    const std::int16_t* row_offset = w.row_offsets;
    const std::int16_t* const row_offsets_end = row_offset + w.rows;
    const std::uint32_t cols = w.cols;
    const auto base_count = static_cast<std::int32_t>(w.nnze / w.rows);
    for (std::uint32_t r = 0; row_offset != row_offsets_end; ++row_offset, ++r) {
        const std::int32_t count = base_count + *row_offset;
        std::int32_t acc = 0;
        std::int32_t sum = 0;
        if (count > 0) {
            const auto n = static_cast<std::uint32_t>(count);
            if constexpr (RowSums) sum = weight_sum(values, n);
            acc = spmv_row(n, row_slope(cols, n), x, phase, block, bitmap, mask, minimum, values);
        }
        if constexpr (RowSums) acc = subtract_zero_point(acc, input_zero_point, sum);
        y[r] = apply_output_stages(acc, r, pipeline);
    }
}

}  // namespace detail

/// y = W·x for a valid int8 dCSR view (see the header comment).
template <class Pipeline = std::tuple<>>
void spmv(const dcsr_view<std::int8_t>& w, const std::int8_t* x, pipeline_output_t<Pipeline>* y,
          const Pipeline& pipeline = {}, std::int32_t input_zero_point = 0) noexcept {
    if (input_zero_point == 0) {
        detail::spmv_impl<false>(w, x, y, pipeline, 0);
    } else {
        detail::spmv_impl<true>(w, x, y, pipeline, input_zero_point);
    }
}

}  // namespace approxnn::sparse::mve

#endif  // APPROXNN_MVE
