#pragma once
// Float GEMM of the training engine: Eigen's kernels, split across the thread pool by blocks of the output.
#include <Eigen/Core>
#include <algorithm>
#include <cstddef>
#include <vector>

#include "approxnn/core/parallel.hpp"

namespace approxnn::nn::detail {

/// A row-major matrix operand: element (i, j) at data[i * ld + j], or at data[j * ld + i] when transposed.
struct float_operand {
    const float* data;
    std::size_t ld;
    bool transposed = false;
};

/// C (m x n, row-major, leading dimension ldc) = op(A) (m x k) * op(B) (k x n) + beta * C, beta 0 or 1.
/// Deterministic: each output element is computed by one thread, whatever the thread count.
inline void float_gemm(std::size_t m, std::size_t n, std::size_t k, float_operand a, float_operand b, float* c,
                       std::size_t ldc, float beta, unsigned threads = 0) {
    using row_matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    using col_matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>;
    using stride = Eigen::OuterStride<>;
    if (m == 0 || n == 0) return;
    const auto ei = [](std::size_t v) { return static_cast<Eigen::Index>(v); };
    // A long reduction into a small output (weight gradients): fixed slices of k, partial products summed in
    // slice order (the same result for any thread count).
    if (k >= 64 * std::max(m, n) && m * n * k >= (std::size_t{1} << 20)) {
        constexpr std::size_t slices = 8;
        const std::size_t per = (k + slices - 1) / slices;
        std::vector<float> partial(slices * m * n, 0.0F);
        parallel_for(slices, threads, [&](std::size_t s) {
            const std::size_t first = s * per;
            if (first >= k) return;
            const std::size_t len = std::min(per, k - first);
            const float_operand as{a.transposed ? a.data + first * a.ld : a.data + first, a.ld, a.transposed};
            const float_operand bs{b.transposed ? b.data + first : b.data + first * b.ld, b.ld, b.transposed};
            float_gemm(m, n, len, as, bs, partial.data() + s * m * n, n, 0.0F, 1);
        });
        for (std::size_t i = 0; i < m; ++i) {
            float* row = c + i * ldc;
            for (std::size_t j = 0; j < n; ++j) {
                float sum = beta == 0.0F ? 0.0F : row[j];
                for (std::size_t s = 0; s < slices; ++s) sum += partial[(s * m + i) * n + j];
                row[j] = sum;
            }
        }
        return;
    }
    // Blocks of rows when m is the larger side, else blocks of columns.
    const bool by_rows = m >= n;
    const std::size_t extent = by_rows ? m : n;
    const std::size_t work = m * n * k;
    std::size_t tasks = work < (std::size_t{1} << 20) ? 1 : std::min<std::size_t>(extent / 16 + 1, 8);
    tasks = std::max<std::size_t>(tasks, 1);
    const std::size_t chunk = (extent + tasks - 1) / tasks;
    parallel_for(tasks, threads, [&](std::size_t task) {
        const std::size_t first = task * chunk;
        if (first >= extent) return;
        const std::size_t count = std::min(chunk, extent - first);
        const std::size_t rows = by_rows ? count : m;
        const std::size_t cols = by_rows ? n : count;
        const std::size_t r0 = by_rows ? first : 0;
        const std::size_t c0 = by_rows ? 0 : first;
        Eigen::Map<row_matrix, 0, stride> out(c + r0 * ldc + c0, ei(rows), ei(cols), stride(ei(ldc)));
        auto product = [&](const auto& lhs) {
            if (!b.transposed) {
                Eigen::Map<const row_matrix, 0, stride> rhs(b.data + c0, ei(k), ei(cols), stride(ei(b.ld)));
                if (beta == 0.0F) out.noalias() = lhs * rhs;
                else out.noalias() += lhs * rhs;
            } else {
                Eigen::Map<const col_matrix, 0, stride> rhs(b.data + c0 * b.ld, ei(k), ei(cols), stride(ei(b.ld)));
                if (beta == 0.0F) out.noalias() = lhs * rhs;
                else out.noalias() += lhs * rhs;
            }
        };
        if (!a.transposed) {
            product(Eigen::Map<const row_matrix, 0, stride>(a.data + r0 * a.ld, ei(rows), ei(k), stride(ei(a.ld))));
        } else {
            product(Eigen::Map<const col_matrix, 0, stride>(a.data + r0, ei(rows), ei(k), stride(ei(a.ld))));
        }
    });
}

}  // namespace approxnn::nn::detail
