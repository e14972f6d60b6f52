#pragma once
// Scalar reference kernels on a dCSR view: the oracle every other backend (x86, MVE) is compared with.
// FREESTANDING (no exceptions, no heap): usable on Cortex-M55 as the on-target oracle.
//
//   spmv_reference<M>(w, x, y, pipeline, input_zero_point)
//       y[r] = pipeline_r( sum_j M(x[c_j], w_j) - input_zero_point * sum_j w_j )   for every row r of W (R x C)
//       x: C int8 activations; y: R outputs of pipeline_output_t<Pipeline> (int32 for the empty pipeline).
//   spmm_reference<M>(w, x, ldx, n, y, ldy, pipeline, input_zero_point)
//       the same for n activation columns (1x1 convolution in NHWC / batched fully connected): column p of X
//       starts at x + p*ldx (C contiguous int8, ldx >= C), column p of Y at y + p*ldy (R contiguous, ldy >= R).
//   spmv_reference / spmm_reference on int16 or float views: plain products, int64 (int16) or float accumulation.
//
// M is a multiplier policy on int8 codes (default: the exact product); the activation is M's activation operand,
// the weight its weight operand (multiply_activation_weight). The input zero point is applied exactly, outside
// the multiplier, through the row sum of the weights (padding zeros add nothing). Accumulation wraps modulo 2^32
// like the SIMD kernels (never reached for |sum| < 2^31, e.g. C <= 131072 columns of exact int8 products).
// The view must be valid (validate_dcsr); x must hold C elements (per column), y R elements (per column).

#include <cstddef>
#include <cstdint>
#include <tuple>
#include <type_traits>

#include "approxnn/core/output_stage.hpp"
#include "approxnn/multipliers/families/exact.hpp"
#include "approxnn/multipliers/multiplier.hpp"
#include "approxnn/sparse/dcsr_view.hpp"

namespace approxnn::sparse {

/// The accumulator of a dCSR value type: int32 for int8, int64 for int16, float for float.
template <class Value>
struct dcsr_accumulator;
template <>
struct dcsr_accumulator<std::int8_t> {
    using type = std::int32_t;
};
template <>
struct dcsr_accumulator<std::int16_t> {
    using type = std::int64_t;
};
template <>
struct dcsr_accumulator<float> {
    using type = float;
};
template <class Value>
using dcsr_accumulator_t = typename dcsr_accumulator<Value>::type;

/// The default product of the int8 kernels.
using default_multiplier = multipliers::exact<std::int8_t>;

namespace detail {
/// a + b modulo 2^32 (the SIMD kernels' int32 arithmetic, without signed-overflow UB).
constexpr std::int32_t wrapping_add(std::int32_t a, std::int32_t b) noexcept {
    return static_cast<std::int32_t>(static_cast<std::uint32_t>(a) + static_cast<std::uint32_t>(b));
}
constexpr std::int32_t wrapping_mul(std::int32_t a, std::int32_t b) noexcept {
    return static_cast<std::int32_t>(static_cast<std::uint32_t>(a) * static_cast<std::uint32_t>(b));
}

template <class M>
constexpr void check_int8_multiplier() noexcept {
    static_assert(multiplier<M>, "approxnn: the product policy of a dCSR kernel must satisfy approxnn::multiplier");
    static_assert(
        std::is_same_v<operand_t<M>, std::int8_t>,
        "approxnn: int8 dCSR kernels need a multiplier on int8 operands (e.g. multipliers::exact<std::int8_t>)");
}

/// Rows [first, last) of W times `columns` activation columns (reference semantics, see the header comment).
template <class M, class Pipeline>
constexpr void reference_rows(const dcsr_view<std::int8_t>& w, std::uint32_t first, std::uint32_t last,
                              const std::int8_t* x, std::size_t ldx, std::size_t columns,
                              pipeline_output_t<Pipeline>* y, std::size_t ldy, const Pipeline& pipeline,
                              std::int32_t input_zero_point) noexcept {
    dcsr_row_walker<std::int8_t> walker(w, first);
    for (std::uint32_t r = first; r < last; ++r, walker.next()) {
        const dcsr_row_info row = walker.info();
        for (std::size_t p = 0; p < columns; ++p) {
            const std::int8_t* xp = x + p * ldx;
            std::int32_t acc = 0;
            std::int32_t row_sum = 0;
            dcsr_for_each_in_row(w, row, [&](std::uint32_t column, std::int8_t weight) {
                acc = wrapping_add(acc, static_cast<std::int32_t>(multiply_activation_weight<M>(xp[column], weight)));
                row_sum = wrapping_add(row_sum, weight);
            });
            acc = wrapping_add(acc, wrapping_mul(-input_zero_point, row_sum));
            y[p * ldy + r] = apply_output_stages(acc, r, pipeline);
        }
    }
}

template <class Value>
constexpr void reference_rows_plain(const dcsr_view<Value>& w, std::uint32_t first, std::uint32_t last, const Value* x,
                                    std::size_t ldx, std::size_t columns, dcsr_accumulator_t<Value>* y,
                                    std::size_t ldy) noexcept {
    using acc_t = dcsr_accumulator_t<Value>;
    dcsr_row_walker<Value> walker(w, first);
    for (std::uint32_t r = first; r < last; ++r, walker.next()) {
        const dcsr_row_info row = walker.info();
        for (std::size_t p = 0; p < columns; ++p) {
            const Value* xp = x + p * ldx;
            acc_t acc = 0;
            dcsr_for_each_in_row(w, row, [&](std::uint32_t column, Value weight) {
                acc += static_cast<acc_t>(xp[column]) * static_cast<acc_t>(weight);
            });
            y[p * ldy + r] = acc;
        }
    }
}
}  // namespace detail

/// y = W·x for an int8 view (see the header comment for the semantics).
template <class M = default_multiplier, class Pipeline = std::tuple<>>
constexpr void spmv_reference(const dcsr_view<std::int8_t>& w, const std::int8_t* x, pipeline_output_t<Pipeline>* y,
                              const Pipeline& pipeline = {}, std::int32_t input_zero_point = 0) noexcept {
    detail::check_int8_multiplier<M>();
    detail::reference_rows<M>(w, 0, w.rows, x, w.cols, 1, y, w.rows, pipeline, input_zero_point);
}

/// Y = W·X for an int8 view and n activation columns (see the header comment for the layout).
template <class M = default_multiplier, class Pipeline = std::tuple<>>
constexpr void spmm_reference(const dcsr_view<std::int8_t>& w, const std::int8_t* x, std::size_t ldx, std::size_t n,
                              pipeline_output_t<Pipeline>* y, std::size_t ldy, const Pipeline& pipeline = {},
                              std::int32_t input_zero_point = 0) noexcept {
    detail::check_int8_multiplier<M>();
    detail::reference_rows<M>(w, 0, w.rows, x, ldx, n, y, ldy, pipeline, input_zero_point);
}

/// y = W·x for an int16 or float view (plain products; int64 or float accumulation).
template <class Value>
requires(!std::is_same_v<Value, std::int8_t>) constexpr void spmv_reference(const dcsr_view<Value>& w, const Value* x,
                                                                            dcsr_accumulator_t<Value>* y) noexcept {
    detail::reference_rows_plain(w, 0, w.rows, x, w.cols, 1, y, w.rows);
}

/// Y = W·X for an int16 or float view and n activation columns.
template <class Value>
requires(!std::is_same_v<Value, std::int8_t>) constexpr void spmm_reference(const dcsr_view<Value>& w, const Value* x,
                                                                            std::size_t ldx, std::size_t n,
                                                                            dcsr_accumulator_t<Value>* y,
                                                                            std::size_t ldy) noexcept {
    detail::reference_rows_plain(w, 0, w.rows, x, ldx, n, y, ldy);
}

}  // namespace approxnn::sparse
