#pragma once
// The scalar reference GEMM: the oracle every kernel path is tested against.
//
//   out(m, n) = pipeline(acc(m, n), channel m),
//   acc(m, n) = sum_k M(activation = x(k, n), weight = w(m, k))
//               - zw * sum_k x(k, n) - za * sum_k w(m, k) + K * za * zw
// with za, zw the activation and weight zero points (gemm_options) applied exactly, outside the multiplier, on the
// operand values. Accumulation is in 64 bits and wraps to int32 at the end, as the int32 kernels do.

#include <cstddef>
#include <cstdint>
#include <string>
#include <tuple>
#include <type_traits>

#include "approxnn/core/error.hpp"
#include "approxnn/core/output_stage.hpp"
#include "approxnn/gemm/matrix.hpp"
#include "approxnn/multipliers/multiplier.hpp"
#include "approxnn/multipliers/table.hpp"

namespace approxnn::gemm {

namespace detail {
template <class T, class Product, class Pipeline, class Out>
void reference_gemm_with(const Product& product, matrix_view<const T> weights, matrix_view<const T> activations,
                         matrix_view<Out> out, const Pipeline& pipeline, const gemm_options& options) {
    const std::int64_t za = options.activation_zero_point;
    const std::int64_t zw = options.weight_zero_point;
    const auto depth = static_cast<std::int64_t>(weights.cols);
    for (std::size_t m = 0; m < weights.rows; ++m) {
        for (std::size_t n = 0; n < activations.cols; ++n) {
            std::int64_t sum = 0;
            std::int64_t activation_sum = 0;
            std::int64_t weight_sum = 0;
            for (std::size_t k = 0; k < weights.cols; ++k) {
                const T a = activations(k, n);
                const T w = weights(m, k);
                sum += product(a, w);
                activation_sum += a;
                weight_sum += w;
            }
            const std::int64_t acc = sum - zw * activation_sum - za * weight_sum + depth * za * zw;
            out(m, n) = apply_output_stages(static_cast<std::int32_t>(static_cast<std::uint32_t>(acc)),
                                            m + options.channel_offset, pipeline);
        }
    }
}
}  // namespace detail

/// The reference GEMM of policy M: weights M x K, activations K x N, out M x N.
template <multiplier M, class Pipeline = std::tuple<>>
void reference_gemm(matrix_view<const operand_t<M>> weights, matrix_view<const operand_t<M>> activations,
                    matrix_view<pipeline_output_t<Pipeline>> out, const Pipeline& pipeline = {},
                    const gemm_options& options = {}) {
    detail::reference_gemm_with(
        [](operand_t<M> a, operand_t<M> w) { return std::int64_t{multiply_activation_weight<M>(a, w)}; }, weights,
        activations, out, pipeline, options);
}

/// The reference GEMM of a table multiplier (operand type T must match the table's signedness).
template <operand_code T, class Pipeline = std::tuple<>>
void reference_gemm(const multipliers::table_multiplier& table, matrix_view<const T> weights,
                    matrix_view<const T> activations, matrix_view<pipeline_output_t<Pipeline>> out,
                    const Pipeline& pipeline = {}, const gemm_options& options = {}) {
    if (table.is_signed() != std::is_signed_v<T>) {
        throw parameter_error("reference_gemm: table '" + table.name() + "' has " +
                              std::string(to_string(table.operand_signedness())) + " operands, the matrices are not");
    }
    detail::reference_gemm_with(
        [&table](T a, T w) { return std::int64_t{table.multiply_activation_weight(a, w)}; }, weights, activations,
        out, pipeline, options);
}

}  // namespace approxnn::gemm
