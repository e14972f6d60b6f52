#pragma once
// Dense int8 baselines for the dCSR comparisons (host): GEMV y = W·x and GEMM Y = W·X (X as n contiguous columns of
// K int8, Y as n contiguous columns of M outputs, the layout of dCSR's spmm), int32 accumulation, the same input
// zero point and output pipeline semantics as the dCSR kernels.
//
// Backends, the best the CPU has, checked once per call: AVX-512 VNNI (vpdpbusd on u8 = x ^ 0x80 against the s8
// weights, corrected by 128·row sum), AVX2 (sign-extended 16-bit products, vpmaddwd), scalar. The weights are
// copied once into a dense_int8_matrix (rows padded to 64 bytes, row sums precomputed), as an inference engine
// prepares a layer.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "approxnn/core/error.hpp"
#include "approxnn/core/output_stage.hpp"
#include "approxnn/sparse/x86/target.hpp"

namespace approxnn::sparse {

/// A prepared dense int8 weight matrix: rows x cols, each row padded with zeros to a multiple of 64 bytes.
class dense_int8_matrix {
public:
    dense_int8_matrix(const std::int8_t* data, std::size_t rows, std::size_t cols, std::size_t row_stride = 0)
        : rows_(rows), cols_(cols), stride_((cols + 63) / 64 * 64) {
        if (rows == 0 || cols == 0) {
            throw shape_error("dense baseline: a " + std::to_string(rows) + "x" + std::to_string(cols) +
                              " matrix is empty");
        }
        if (row_stride == 0) row_stride = cols;
        data_.assign(rows * stride_ + 64, 0);
        sums_.assign(rows, 0);
        for (std::size_t r = 0; r < rows; ++r) {
            std::memcpy(data_.data() + r * stride_, data + r * row_stride, cols);
            std::int32_t s = 0;
            for (std::size_t c = 0; c < cols; ++c) s += data[r * row_stride + c];
            sums_[r] = s;
        }
    }
    [[nodiscard]] std::size_t rows() const noexcept { return rows_; }
    [[nodiscard]] std::size_t cols() const noexcept { return cols_; }
    /// Row stride in bytes (a multiple of 64).
    [[nodiscard]] std::size_t stride() const noexcept { return stride_; }
    [[nodiscard]] const std::int8_t* data() const noexcept { return data_.data(); }
    [[nodiscard]] std::span<const std::int32_t> row_sums() const noexcept { return sums_; }
    /// The dense size rows · cols in bytes (what a dense int8 layer stores; the padding is not counted).
    [[nodiscard]] std::uint64_t size_bytes() const noexcept { return std::uint64_t{rows_} * cols_; }

private:
    std::size_t rows_;
    std::size_t cols_;
    std::size_t stride_;
    std::vector<std::int8_t> data_;
    std::vector<std::int32_t> sums_;
};

namespace detail {

#if APPROXNN_DCSR_X86
/// The sum of the 16 int32 lanes (no _mm512_reduce_add_epi32: its undefined vector trips g++ 12's warnings).
APPROXNN_DCSR_TARGET_VNNI inline std::int32_t vnni_hsum(__m512i v) noexcept {
    const __m256i s =
        _mm256_add_epi32(_mm512_maskz_extracti64x4_epi64(0xFF, v, 0), _mm512_maskz_extracti64x4_epi64(0xFF, v, 1));
    __m128i t = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0x4E));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0xB1));
    return _mm_cvtsi128_si32(t);
}

/// raw[r][p] = sum_k u8(xu_p[k]) · s8(w_r[k]) for 4 rows and 4 columns, k over `chunks` 64-byte chunks.
APPROXNN_DCSR_TARGET_VNNI inline void vnni_dense_4x4(const std::int8_t* w, std::size_t lw, const std::uint8_t* xu,
                                                     std::size_t lx, std::size_t chunks,
                                                     std::int32_t (&raw)[4][4]) noexcept {
    __m512i c00 = _mm512_setzero_si512(), c01 = _mm512_setzero_si512(), c02 = _mm512_setzero_si512(),
            c03 = _mm512_setzero_si512();
    __m512i c10 = _mm512_setzero_si512(), c11 = _mm512_setzero_si512(), c12 = _mm512_setzero_si512(),
            c13 = _mm512_setzero_si512();
    __m512i c20 = _mm512_setzero_si512(), c21 = _mm512_setzero_si512(), c22 = _mm512_setzero_si512(),
            c23 = _mm512_setzero_si512();
    __m512i c30 = _mm512_setzero_si512(), c31 = _mm512_setzero_si512(), c32 = _mm512_setzero_si512(),
            c33 = _mm512_setzero_si512();
    for (std::size_t q = 0; q < chunks; ++q) {
        const std::size_t k = 64 * q;
        const __m512i x0 = _mm512_loadu_si512(xu + k);
        const __m512i x1 = _mm512_loadu_si512(xu + lx + k);
        const __m512i x2 = _mm512_loadu_si512(xu + 2 * lx + k);
        const __m512i x3 = _mm512_loadu_si512(xu + 3 * lx + k);
        __m512i a = _mm512_loadu_si512(w + k);
        c00 = _mm512_dpbusd_epi32(c00, x0, a);
        c01 = _mm512_dpbusd_epi32(c01, x1, a);
        c02 = _mm512_dpbusd_epi32(c02, x2, a);
        c03 = _mm512_dpbusd_epi32(c03, x3, a);
        a = _mm512_loadu_si512(w + lw + k);
        c10 = _mm512_dpbusd_epi32(c10, x0, a);
        c11 = _mm512_dpbusd_epi32(c11, x1, a);
        c12 = _mm512_dpbusd_epi32(c12, x2, a);
        c13 = _mm512_dpbusd_epi32(c13, x3, a);
        a = _mm512_loadu_si512(w + 2 * lw + k);
        c20 = _mm512_dpbusd_epi32(c20, x0, a);
        c21 = _mm512_dpbusd_epi32(c21, x1, a);
        c22 = _mm512_dpbusd_epi32(c22, x2, a);
        c23 = _mm512_dpbusd_epi32(c23, x3, a);
        a = _mm512_loadu_si512(w + 3 * lw + k);
        c30 = _mm512_dpbusd_epi32(c30, x0, a);
        c31 = _mm512_dpbusd_epi32(c31, x1, a);
        c32 = _mm512_dpbusd_epi32(c32, x2, a);
        c33 = _mm512_dpbusd_epi32(c33, x3, a);
    }
    raw[0][0] = vnni_hsum(c00), raw[0][1] = vnni_hsum(c01);
    raw[0][2] = vnni_hsum(c02), raw[0][3] = vnni_hsum(c03);
    raw[1][0] = vnni_hsum(c10), raw[1][1] = vnni_hsum(c11);
    raw[1][2] = vnni_hsum(c12), raw[1][3] = vnni_hsum(c13);
    raw[2][0] = vnni_hsum(c20), raw[2][1] = vnni_hsum(c21);
    raw[2][2] = vnni_hsum(c22), raw[2][3] = vnni_hsum(c23);
    raw[3][0] = vnni_hsum(c30), raw[3][1] = vnni_hsum(c31);
    raw[3][2] = vnni_hsum(c32), raw[3][3] = vnni_hsum(c33);
}

/// raw[r] = sum_k u8(xu[k]) · s8(w_r[k]) for 4 rows (the GEMV kernel).
APPROXNN_DCSR_TARGET_VNNI inline void vnni_dense_4x1(const std::int8_t* w, std::size_t lw, const std::uint8_t* xu,
                                                     std::size_t chunks, std::int32_t (&raw)[4]) noexcept {
    __m512i c0 = _mm512_setzero_si512(), c1 = _mm512_setzero_si512(), c2 = _mm512_setzero_si512(),
            c3 = _mm512_setzero_si512();
    for (std::size_t q = 0; q < chunks; ++q) {
        const std::size_t k = 64 * q;
        const __m512i x = _mm512_loadu_si512(xu + k);
        c0 = _mm512_dpbusd_epi32(c0, x, _mm512_loadu_si512(w + k));
        c1 = _mm512_dpbusd_epi32(c1, x, _mm512_loadu_si512(w + lw + k));
        c2 = _mm512_dpbusd_epi32(c2, x, _mm512_loadu_si512(w + 2 * lw + k));
        c3 = _mm512_dpbusd_epi32(c3, x, _mm512_loadu_si512(w + 3 * lw + k));
    }
    raw[0] = vnni_hsum(c0);
    raw[1] = vnni_hsum(c1);
    raw[2] = vnni_hsum(c2);
    raw[3] = vnni_hsum(c3);
}

/// sum_k x[k] · w[k] over `chunks` 32-byte chunks with exact 16-bit products (AVX2).
APPROXNN_DCSR_TARGET_AVX2 inline std::int32_t avx2_dense_dot(const std::int8_t* w, const std::int8_t* x,
                                                             std::size_t chunks) noexcept {
    __m256i acc = _mm256_setzero_si256();
    for (std::size_t q = 0; q < chunks; ++q) {
        const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + 32 * q));
        const __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + 32 * q));
        const __m256i x_lo = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(xv));
        const __m256i x_hi = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(xv, 1));
        const __m256i w_lo = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(wv));
        const __m256i w_hi = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(wv, 1));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(x_lo, w_lo));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(x_hi, w_hi));
    }
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
}
#endif

inline bool dense_has_vnni() noexcept {
#if APPROXNN_DCSR_X86
    static const bool ok = [] {
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
    }();
    return ok;
#else
    return false;
#endif
}

inline bool dense_has_avx2() noexcept {
#if APPROXNN_DCSR_X86
    static const bool ok = [] {
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") != 0;
    }();
    return ok;
#else
    return false;
#endif
}

}  // namespace detail

/// The dense kernel this CPU runs: "avx512_vnni", "avx2" or "scalar".
inline std::string_view dense_backend_name() noexcept {
    return detail::dense_has_vnni() ? "avx512_vnni" : (detail::dense_has_avx2() ? "avx2" : "scalar");
}

/// Y = W·X for n columns (column p of X at x + p·ldx, K = W.cols() int8; column p of Y at y + p·ldy, M outputs):
/// y = pipeline(sum w·x − input_zero_point · sum w). n = 1 is the GEMV.
template <class Pipeline = std::tuple<>>
void dense_gemm(const dense_int8_matrix& w, const std::int8_t* x, std::size_t ldx, std::size_t n,
                pipeline_output_t<Pipeline>* y, std::size_t ldy, const Pipeline& pipeline = {},
                std::int32_t input_zero_point = 0) {
    if (ldx < w.cols() || ldy < w.rows()) {
        throw shape_error("dense baseline: column strides " + std::to_string(ldx) + " / " + std::to_string(ldy) +
                          " are smaller than the " + std::to_string(w.rows()) + "x" + std::to_string(w.cols()) +
                          " matrix needs");
    }
    const std::size_t rows = w.rows();
    const std::size_t k = w.cols();
    const std::size_t lw = w.stride();
    const auto finish = [&](std::uint32_t raw, std::size_t r, std::uint32_t bias) {
        return apply_output_stages(static_cast<std::int32_t>(raw - bias * static_cast<std::uint32_t>(w.row_sums()[r])),
                                   r, pipeline);
    };
#if APPROXNN_DCSR_X86
    if (detail::dense_has_vnni()) {
        // Biased, zero-padded activation columns (stride lw): u8 = x ^ 0x80, padding meets zero weights.
        thread_local std::vector<std::uint8_t> buffer;
        buffer.assign(n * lw + 64, 0);
        for (std::size_t p = 0; p < n; ++p) {
            for (std::size_t c = 0; c < k; ++c) {
                buffer[p * lw + c] = static_cast<std::uint8_t>(static_cast<std::uint8_t>(x[p * ldx + c]) ^ 0x80U);
            }
        }
        const std::uint8_t* xu = buffer.data();
        const std::size_t chunks = lw / 64;
        const auto bias = static_cast<std::uint32_t>(128 + input_zero_point);
        // The padding of x (bytes k..lw of each column) is 0 in xu but meets zero weights: no correction needed.
        std::size_t r = 0;
        for (; r + 4 <= rows; r += 4) {
            std::size_t p = 0;
            for (; p + 4 <= n; p += 4) {
                std::int32_t raw[4][4];
                detail::vnni_dense_4x4(w.data() + r * lw, lw, xu + p * lw, lw, chunks, raw);
                for (std::size_t i = 0; i < 4; ++i) {
                    for (std::size_t j = 0; j < 4; ++j) {
                        y[(p + j) * ldy + r + i] = finish(static_cast<std::uint32_t>(raw[i][j]), r + i, bias);
                    }
                }
            }
            for (; p < n; ++p) {
                std::int32_t raw[4];
                detail::vnni_dense_4x1(w.data() + r * lw, lw, xu + p * lw, chunks, raw);
                for (std::size_t i = 0; i < 4; ++i) {
                    y[p * ldy + r + i] = finish(static_cast<std::uint32_t>(raw[i]), r + i, bias);
                }
            }
        }
        for (; r < rows; ++r) {
            for (std::size_t p = 0; p < n; ++p) {
                std::uint32_t raw = 0;
                for (std::size_t c = 0; c < k; ++c) {
                    raw += static_cast<std::uint32_t>(xu[p * lw + c]) *
                           static_cast<std::uint32_t>(static_cast<std::int32_t>(w.data()[r * lw + c]));
                }
                y[p * ldy + r] = finish(raw, r, bias);
            }
        }
        return;
    }
    if (detail::dense_has_avx2()) {
        thread_local std::vector<std::int8_t> buffer;
        buffer.assign(lw + 64, 0);
        for (std::size_t p = 0; p < n; ++p) {
            std::memcpy(buffer.data(), x + p * ldx, k);
            for (std::size_t r = 0; r < rows; ++r) {
                const auto raw =
                    static_cast<std::uint32_t>(detail::avx2_dense_dot(w.data() + r * lw, buffer.data(), lw / 32));
                y[p * ldy + r] = finish(raw, r, static_cast<std::uint32_t>(input_zero_point));
            }
        }
        return;
    }
#endif
    for (std::size_t p = 0; p < n; ++p) {
        for (std::size_t r = 0; r < rows; ++r) {
            std::uint32_t raw = 0;
            for (std::size_t c = 0; c < k; ++c) {
                raw += static_cast<std::uint32_t>(static_cast<std::int32_t>(x[p * ldx + c]) *
                                                  static_cast<std::int32_t>(w.data()[r * lw + c]));
            }
            y[p * ldy + r] = finish(raw, r, static_cast<std::uint32_t>(input_zero_point));
        }
    }
}

/// y = W·x (K int8 in, M outputs).
template <class Pipeline = std::tuple<>>
void dense_gemv(const dense_int8_matrix& w, std::span<const std::int8_t> x, std::span<pipeline_output_t<Pipeline>> y,
                const Pipeline& pipeline = {}, std::int32_t input_zero_point = 0) {
    if (x.size() < w.cols() || y.size() < w.rows()) {
        throw shape_error("dense baseline: x holds " + std::to_string(x.size()) + " and y " + std::to_string(y.size()) +
                          " elements, the " + std::to_string(w.rows()) + "x" + std::to_string(w.cols()) +
                          " matrix needs " + std::to_string(w.cols()) + " and " + std::to_string(w.rows()));
    }
    dense_gemm(w, x.data(), w.cols(), 1, y.data(), w.rows(), pipeline, input_zero_point);
}

}  // namespace approxnn::sparse
