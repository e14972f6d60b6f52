#pragma once
// dCSR SpMM (1×1 convolution / batched fully connected) for Arm MVE (Cortex-M55), on the reference int8 layout:
// variant A of dcsr-format.md §8 — each row's lane offsets are decoded once into a caller-provided buffer, then
// reused for every activation column, four columns at a time (four gathers, four vmladavaq accumulators per group).
//
//   spmm_buffer_size(w)                  bytes of scratch spmm() needs for this view (0 for an all-empty matrix)
//   spmm(w, x, ldx, n, y, ldy, buffer, pipeline = {}, input_zero_point = 0)
//       Y = W·X: for every row r of W (R × C) and column p < n of X,
//       y[p·ldy + r] = pipeline_r( sum_j w_j·x[p·ldx + c_j] − input_zero_point·sum_j w_j )
//   w: a VALID dcsr_view<std::int8_t> (validate_dcsr() it first when it comes from outside); column p of X starts at
//   x + p·ldx (C contiguous int8, ldx >= C: NHWC pixels); column p of Y at y + p·ldy (R contiguous outputs of
//   pipeline_output_t<Pipeline>, ldy >= R); buffer: spmm_buffer_size(w) bytes, 4-byte aligned (CMSIS-NN style: the
//   kernel allocates nothing).
//
// Bit-exact with sparse::spmm_reference (exact products, int32 accumulation modulo 2^32). The decode is the row walk
// of approxnn/sparse/mve/dcsr_decode.hpp (one asm statement per row, as in SpMV); per group the buffer holds B_k
// (int32) followed by the 16 uint8 offsets (20 bytes per group, in order). The last group of a row is predicated
// with vctp8q (inactive lanes read nothing).
//
// spmm_buffer_size() is available everywhere (firmware sizes its buffers on any machine); spmm() only on targets
// with MVE (see approxnn/sparse/mve/config.hpp).

#include <cstddef>
#include <cstdint>

#include "approxnn/sparse/dcsr_layout.hpp"
#include "approxnn/sparse/dcsr_view.hpp"
#include "approxnn/sparse/mve/config.hpp"

namespace approxnn::sparse::mve {

/// Bytes per group of the SpMM decode buffer: B_k (int32) and 16 lane offsets.
inline constexpr std::size_t spmm_bytes_per_group = sizeof(std::int32_t) + dcsr_lanes;

/// Scratch bytes spmm() needs for a valid view: the longest row's groups × spmm_bytes_per_group. O(R).
constexpr std::size_t spmm_buffer_size(const dcsr_view<std::int8_t>& w) noexcept {
    std::uint32_t most = 0;
    for (std::uint32_t r = 0; r < w.rows; ++r) {
        const std::uint32_t groups = dcsr_groups_of(w.row_size(r));
        most = groups > most ? groups : most;
    }
    return std::size_t{most} * spmm_bytes_per_group;
}

}  // namespace approxnn::sparse::mve

#if APPROXNN_MVE

#include <arm_mve.h>

#include <tuple>

#include "approxnn/core/output_stage.hpp"
#include "approxnn/sparse/mve/dcsr_decode.hpp"

namespace approxnn::sparse::mve {

namespace detail {

/// The SpMM decode of one row (the row walk of dcsr_decode.hpp): per group, B_k (relative to x, int32) and the 16
/// offsets are stored at `buffer` (20 bytes per group, post-incremented).
#define APPROXNN_MVE_SPMM_STORE(offsets) \
    "str %[base], [%[buf]], #4\n\tvstrb.8 " offsets ", [%[buf]], #16\n\t"

/// Decodes one non-empty row of `count` elements and slope `slope` into `buffer` (see spmv_row for `phase` and the
/// streams).
APPROXNN_MVE_ALWAYS_INLINE void spmm_decode_row(std::uint32_t count, std::uint32_t slope, std::uint32_t& phase,
                                                const std::uint8_t*& block, const std::uint8_t*& bitmap,
                                                const std::uint16_t*& mask, const std::int8_t*& minimum,
                                                std::uint8_t* buffer) noexcept {
    std::uint32_t b;
    std::uint32_t base = 0;
    __asm__ volatile(APPROXNN_MVE_ROW_WALK(APPROXNN_MVE_SPMM_STORE("q4"), APPROXNN_MVE_SPMM_STORE("q5"),
                                           APPROXNN_MVE_SPMM_STORE("q5"))
                     : [blk] "+r"(block), [bmp] "+r"(bitmap), [m] "+r"(mask), [min] "+r"(minimum), [buf] "+r"(buffer),
                       [base] "+r"(base), [step] "+r"(slope), [n] "+r"(count), [t] "+r"(phase), [b] "=&Te"(b)
                     :
                     : APPROXNN_MVE_ROW_WALK_CLOBBERS);
    phase = count;
}

/// Four columns of X against `full` > 0 full groups of a decoded row: one low-overhead loop, per group one load of
/// B_k, of the offsets and of the weights, then four gathers and four VMLADAVA (GCC 12 keeps a copy of the buffer
/// pointer and adds the stride instead of post-incrementing: two more instructions per group). Advances `decoded`
/// and `v` past the groups.
APPROXNN_MVE_ALWAYS_INLINE void spmm_full_groups4(const std::uint8_t*& decoded, const std::int8_t*& v,
                                                  const std::int8_t* x, std::size_t ldx, std::uint32_t full,
                                                  std::int32_t (&acc)[4]) noexcept {
    std::uint32_t b;
    __asm__ volatile(
        "dls lr, %[n]\n"
        "1:\n\t"
        "ldr %[b], [%[d]], #4\n\t"
        "vldrb.u8 q0, [%[d]], #16\n\t"
        "vldrb.u8 q1, [%[v]], #16\n\t"
        "add %[b], %[b], %[x]\n\t"
        "vldrb.u8 q2, [%[b], q0]\n\t"
        "add %[b], %[b], %[ldx]\n\t"
        "vmladava.s8 %[a0], q1, q2\n\t"
        "vldrb.u8 q2, [%[b], q0]\n\t"
        "add %[b], %[b], %[ldx]\n\t"
        "vmladava.s8 %[a1], q1, q2\n\t"
        "vldrb.u8 q2, [%[b], q0]\n\t"
        "add %[b], %[b], %[ldx]\n\t"
        "vmladava.s8 %[a2], q1, q2\n\t"
        "vldrb.u8 q2, [%[b], q0]\n\t"
        "vmladava.s8 %[a3], q1, q2\n\t"
        "le lr, 1b"
        : [d] "+r"(decoded), [v] "+r"(v), [b] "=&r"(b), [a0] "+Te"(acc[0]), [a1] "+Te"(acc[1]), [a2] "+Te"(acc[2]),
          [a3] "+Te"(acc[3])
        : [x] "r"(x), [ldx] "r"(ldx), [n] "r"(full)
        : "lr", "memory", "q0", "q1", "q2");
}

/// Columns [0, P) of X (P = 1 to 4) against one decoded row of `count` elements (weights v).
template <int P, bool RowSums, class Pipeline>
APPROXNN_MVE_ALWAYS_INLINE void spmm_columns(const std::uint8_t* decoded, std::uint32_t count, const std::int8_t* v,
                                             const std::int8_t* x, std::size_t ldx, pipeline_output_t<Pipeline>* y,
                                             std::size_t ldy, std::uint32_t r, std::int32_t row_sum,
                                             const Pipeline& pipeline, std::int32_t input_zero_point) noexcept {
    std::int32_t acc[P];
#pragma GCC unroll 4
    for (int i = 0; i < P; ++i) acc[i] = 0;
    const auto column = [&](std::int32_t b, int i) __attribute__((always_inline)) {
        return reinterpret_cast<std::uintptr_t>(x) + static_cast<std::uintptr_t>(b) +
               static_cast<std::uintptr_t>(i) * ldx;
    };
    if constexpr (P == 4) {
        const std::uint32_t full = (count - 1) / dcsr_lanes;
        if (full != 0) spmm_full_groups4(decoded, v, x, ldx, full, acc);
    } else {
        for (std::uint32_t g = (count - 1) / dcsr_lanes; g != 0; --g) {  // full groups: 16 active lanes
            std::int32_t b;
            __builtin_memcpy(&b, decoded, sizeof b);
            decoded += sizeof b;
            const uint8x16_t o = vld1q_u8(decoded);
            decoded += dcsr_lanes;
            const int8x16_t ws = vld1q_s8(v);
            v += dcsr_lanes;
#pragma GCC unroll 4
            for (int i = 0; i < P; ++i) acc[i] = vmladavaq_s8(acc[i], ws, gather(column(b, i), o));
        }
    }
    // The row's last group: 1 to 16 active lanes.
    const mve_pred16_t p = vctp8q((count - 1) % dcsr_lanes + 1);
    std::int32_t b;
    __builtin_memcpy(&b, decoded, sizeof b);
    const uint8x16_t o = vld1q_u8(decoded + sizeof b);
    const int8x16_t ws = vldrbq_z_s8(v, p);
#pragma GCC unroll 4
    for (int i = 0; i < P; ++i) {
        acc[i] = vmladavaq_s8(acc[i], ws, gather(column(b, i), o, p));
        if constexpr (RowSums) acc[i] = subtract_zero_point(acc[i], input_zero_point, row_sum);
        y[static_cast<std::size_t>(i) * ldy] = apply_output_stages(acc[i], r, pipeline);
    }
}

template <bool RowSums, class Pipeline>
inline void spmm_impl(const dcsr_view<std::int8_t>& w, const std::int8_t* x, std::size_t ldx, std::size_t n,
                      pipeline_output_t<Pipeline>* y, std::size_t ldy, void* buffer, const Pipeline& pipeline,
                      std::int32_t input_zero_point) noexcept {
    const std::uint8_t* block = w.delta_indices;
    const std::uint8_t* bitmap = w.bitmaps;
    const std::int8_t* minimum = w.group_minimums;
    const std::uint16_t* mask = w.bitmasks;
    std::uint32_t phase = dcsr_lanes;  // the first row starts with the upper half of a block
    const std::int8_t* values = w.values;
    const std::int16_t* row_offsets = w.row_offsets;
    const std::uint32_t rows = w.rows;
    const std::uint32_t cols = w.cols;
    const auto base_count = static_cast<std::int32_t>(w.nnze / rows);
    auto* const decoded = static_cast<std::uint8_t*>(buffer);
    for (std::uint32_t r = 0; r < rows; ++r) {
        const std::int32_t count = base_count + row_offsets[r];
        if (count <= 0) {  // an empty row: every column's output is the pipeline applied to 0
            for (std::size_t p = 0; p < n; ++p) y[p * ldy + r] = apply_output_stages(0, r, pipeline);
            continue;
        }
        // Decode the row once (B_k and the 16 offsets of each group), then run every column of X against it, four
        // at a time.
        const auto c = static_cast<std::uint32_t>(count);
        spmm_decode_row(c, row_slope(cols, c), phase, block, bitmap, mask, minimum, decoded);
        const std::int32_t row_sum = RowSums ? weight_sum(values, c) : 0;
        std::size_t p = 0;
        for (; p + 4 <= n; p += 4) {
            spmm_columns<4, RowSums>(decoded, c, values, x + p * ldx, ldx, y + p * ldy + r, ldy, r, row_sum, pipeline,
                                     input_zero_point);
        }
        switch (n - p) {
            case 3:
                spmm_columns<3, RowSums>(decoded, c, values, x + p * ldx, ldx, y + p * ldy + r, ldy, r, row_sum,
                                         pipeline, input_zero_point);
                break;
            case 2:
                spmm_columns<2, RowSums>(decoded, c, values, x + p * ldx, ldx, y + p * ldy + r, ldy, r, row_sum,
                                         pipeline, input_zero_point);
                break;
            case 1:
                spmm_columns<1, RowSums>(decoded, c, values, x + p * ldx, ldx, y + p * ldy + r, ldy, r, row_sum,
                                         pipeline, input_zero_point);
                break;
            default: break;
        }
        values += count;
    }
}

}  // namespace detail

/// Y = W·X for a valid int8 dCSR view and n activation columns (see the header comment); `buffer` holds
/// spmm_buffer_size(w) bytes, 4-byte aligned.
template <class Pipeline = std::tuple<>>
void spmm(const dcsr_view<std::int8_t>& w, const std::int8_t* x, std::size_t ldx, std::size_t n,
          pipeline_output_t<Pipeline>* y, std::size_t ldy, void* buffer, const Pipeline& pipeline = {},
          std::int32_t input_zero_point = 0) noexcept {
    if (input_zero_point == 0) {
        detail::spmm_impl<false>(w, x, ldx, n, y, ldy, buffer, pipeline, 0);
    } else {
        detail::spmm_impl<true>(w, x, ldx, n, y, ldy, buffer, pipeline, input_zero_point);
    }
}

}  // namespace approxnn::sparse::mve

#endif  // APPROXNN_MVE
