#pragma once
// dCSR kernels on the host: SpMV (fully connected, y = W·x) and SpMM (W·X for n activation columns: 1x1
// convolution in NHWC, batched fully connected), with backend dispatch and optional row-parallelism.
//
//   spmv<M>(w, x, y[, pipeline[, options]])              x: C int8, y: R outputs
//   spmm<M>(w, x, n, y[, pipeline[, options]])           x: n contiguous columns of C int8 (column p at x[p*C]),
//                                                         y: n contiguous columns of R outputs (column p at y[p*R])
//   spmm<M>(w, x, ldx, n, y, ldy[, pipeline[, options]])  the same with column strides ldx >= C, ldy >= R
//   spmv / spmm on int16 or float matrices: plain products (int64 / float accumulators), no pipeline
//   spmv(backends::avx2{}, ...)                          an explicit backend (tests, benchmarks)
//
// Semantics (int8): y[r] = pipeline_r( sum_j M(x[c_j], w_j) − input_zero_point · sum_j w_j ), int32 accumulation
// modulo 2^32; the empty pipeline keeps the int32 accumulator (see core/output_stage.hpp for bias, requantisation,
// clamp and saturating narrowing stages). Every backend computes exactly what spmv_reference / spmm_reference
// (dcsr_reference.hpp, the oracle) compute.
//
// Backends are tag types, each deriving from the weaker one: backends::scalar (the reference, any product policy
// M), backends::avx2, backends::avx512 (AVX-512 F/BW/VL/DQ/VNNI/VBMI + GFNI, Ice Lake and later) = best. The
// SIMD backends serve the exact product; another M runs the scalar backend. The CPU is checked once per call, at
// the entry point; a backend the CPU lacks falls back to the next weaker one (backend_name<B>() says which runs).
// Nothing requires -march: the kernels carry function target attributes.
//
// Threads: with the row-start index (dcsr_build_options::row_index) rows are split over threads (core/parallel.hpp,
// a persistent std::thread pool), balanced by stored elements; options.threads = 0 uses every hardware thread when
// the work is large enough (>= 2^20 stored elements times columns; below, waking threads costs more than it saves),
// 1 forces one thread. Without the index (the reference layout alone) rows can only be walked in order: one thread.
//
// The view must be valid (a dcsr_matrix's view, or foreign arrays that passed check_dcsr / validate_dcsr); the
// front ends check the operand sizes (shape_error naming them).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <vector>

#include "approxnn/core/error.hpp"
#include "approxnn/core/output_stage.hpp"
#include "approxnn/core/parallel.hpp"
#include "approxnn/multipliers/multiplier.hpp"
#include "approxnn/sparse/dcsr_matrix.hpp"
#include "approxnn/sparse/dcsr_reference.hpp"
#include "approxnn/sparse/dcsr_view.hpp"
#include "approxnn/sparse/x86/dcsr_avx2.hpp"
#include "approxnn/sparse/x86/dcsr_avx512.hpp"

namespace approxnn::sparse {

namespace backends {

/// The scalar reference kernels (any product policy, any value type, any CPU).
struct scalar {
    static constexpr std::string_view name = "scalar";
    static bool available() noexcept { return true; }
};

/// AVX2 (+BMI2) x86 kernels, exact int8 product.
struct avx2 : scalar {
    static constexpr std::string_view name = "avx2";
    static bool available() noexcept {
#if APPROXNN_DCSR_X86
        static const bool ok = [] {
            __builtin_cpu_init();
            return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi2");
        }();
        return ok;
#else
        return false;
#endif
    }
};

/// AVX-512 (F, BW, VL, DQ, VNNI, VBMI) + GFNI x86 kernels, exact int8 product.
struct avx512 : avx2 {
    static constexpr std::string_view name = "avx512";
    static bool available() noexcept {
#if APPROXNN_DCSR_X86
        static const bool ok = [] {
            __builtin_cpu_init();
            return avx2::available() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                   __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
                   __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vbmi") &&
                   __builtin_cpu_supports("gfni");
        }();
        return ok;
#else
        return false;
#endif
    }
};

/// The strongest backend (falls back at run time to what the CPU has).
using best = avx512;

}  // namespace backends

/// Options of the kernels.
struct dcsr_kernel_options {
    /// TFLite input zero point: the kernels compute sum M(x, w) − input_zero_point · sum w (exact, outside M).
    std::int32_t input_zero_point = 0;
    /// 0: every hardware thread when the view has a row-start index and the work is large; 1: one thread; n: at most n.
    unsigned threads = 0;
};

namespace detail {

enum class dcsr_path { scalar, avx2, avx512 };

template <class Backend>
dcsr_path resolve_backend() noexcept {
    if constexpr (std::is_base_of_v<backends::avx512, Backend>) {
        if (backends::avx512::available()) return dcsr_path::avx512;
    }
    if constexpr (std::is_base_of_v<backends::avx2, Backend>) {
        if (backends::avx2::available()) return dcsr_path::avx2;
    }
    return dcsr_path::scalar;
}

/// Work below which one thread does it all (stored elements times columns).
inline constexpr std::uint64_t dcsr_parallel_threshold = std::uint64_t{1} << 20;

/// Row ranges of about equal stored elements, one per task, with where each starts.
struct dcsr_row_chunk {
    std::uint32_t first = 0;
    std::uint32_t last = 0;
    dcsr_row_start at{};
};

template <class Value>
std::vector<dcsr_row_chunk> dcsr_chunks(const dcsr_view<Value>& w, unsigned threads, std::uint64_t columns) {
    std::vector<dcsr_row_chunk> chunks;
    unsigned wanted = threads == 0 ? hardware_threads() : threads;
    const std::uint64_t work = std::uint64_t{w.nnze} * std::max<std::uint64_t>(columns, 1);
    if (!w.has_row_index() || wanted <= 1 || work < dcsr_parallel_threshold || w.rows < 2) {
        chunks.push_back({0, w.rows, dcsr_row_start{}});
        return chunks;
    }
    const std::uint32_t tasks = std::min<std::uint32_t>(w.rows, 4 * wanted);  // a few per thread, for balance
    std::uint32_t first = 0;
    for (std::uint32_t t = 1; t <= tasks && first < w.rows; ++t) {
        std::uint32_t last = w.rows;
        if (t < tasks) {
            const std::uint64_t target = std::uint64_t{w.nnze} * t / tasks;
            const dcsr_row_start* begin = w.row_starts + first + 1;
            const dcsr_row_start* end = w.row_starts + w.rows;
            const dcsr_row_start* it = std::lower_bound(
                begin, end, target, [](const dcsr_row_start& e, std::uint64_t v) { return e.value < v; });
            last = static_cast<std::uint32_t>(it - w.row_starts);
        }
        if (last > first) {
            chunks.push_back({first, last, w.row_starts[first]});
            first = last;
        }
    }
    return chunks;
}

/// The most groups a row of the view has (the SpMM scratch size).
template <class Value>
std::uint32_t dcsr_max_row_groups(const dcsr_view<Value>& w) noexcept {
    std::uint32_t most = 0;
    for (std::uint32_t r = 0; r < w.rows; ++r) most = std::max(most, dcsr_groups_of(w.row_size(r)));
    return most;
}

inline void check_operand(std::size_t have, std::size_t need, const char* what, const char* call) {
    if (have < need) {
        throw shape_error(std::string("dCSR ") + call + ": " + what + " holds " + std::to_string(have) +
                          " elements, the matrix needs " + std::to_string(need));
    }
}

/// The biased activations x ^ 0x80 (uint8 x + 128) with `padding` bytes on each side, in a per-thread buffer
/// reused across calls; returns the address of the first activation.
inline const std::uint8_t* biased_activations(const std::int8_t* x, std::size_t n, std::size_t padding) {
    thread_local std::vector<std::uint8_t> buffer;
    if (buffer.size() < n + 2 * padding) buffer.resize(n + 2 * padding);
    std::uint8_t* out = buffer.data() + padding;
    for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<std::uint8_t>(static_cast<std::uint8_t>(x[i]) ^ 0x80U);
    return out;
}

template <class Backend, class M, class Pipeline>
void spmm_int8(const dcsr_view<std::int8_t>& w, const std::int8_t* x, std::size_t ldx, std::size_t columns,
               pipeline_output_t<Pipeline>* y, std::size_t ldy, const Pipeline& pipeline,
               const dcsr_kernel_options& options, bool single_column) {
    check_int8_multiplier<M>();
    const dcsr_path path = M::is_exact ? resolve_backend<Backend>() : dcsr_path::scalar;
    const std::vector<dcsr_row_chunk> chunks = dcsr_chunks(w, options.threads, columns);
    const std::int32_t zp = options.input_zero_point;
    const std::uint8_t* xu = nullptr;
#if APPROXNN_DCSR_X86
    if (path == dcsr_path::avx512 && single_column) xu = biased_activations(x, w.cols, x86::avx512_window_padding);
#endif
    const std::uint32_t scratch_size =
        path == dcsr_path::scalar || single_column ? 0 : 17 * dcsr_max_row_groups(w) + 16;
    parallel_for(chunks.size(), options.threads, [&](std::size_t t) {
        const dcsr_row_chunk& c = chunks[t];
        std::vector<std::int32_t> scratch(scratch_size);
        switch (path) {
#if APPROXNN_DCSR_X86
            case dcsr_path::avx512:
                if (single_column) {
                    x86::spmv_rows_avx512(w, c.first, c.last, c.at, xu, y, pipeline, zp);
                } else {
                    x86::spmm_rows_avx512(w, c.first, c.last, c.at, x, ldx, columns, y, ldy, pipeline, zp,
                                          scratch.data());
                }
                return;
            case dcsr_path::avx2:
                if (single_column) {
                    x86::spmv_rows_avx2(w, c.first, c.last, c.at, x, y, pipeline, zp);
                } else {
                    x86::spmm_rows_avx2(w, c.first, c.last, c.at, x, ldx, columns, y, ldy, pipeline, zp,
                                        scratch.data());
                }
                return;
#endif
            default: reference_rows<M>(w, c.first, c.last, x, ldx, columns, y, ldy, pipeline, zp); return;
        }
    });
}

template <class Value>
void spmm_plain(const dcsr_view<Value>& w, const Value* x, std::size_t ldx, std::size_t columns,
                dcsr_accumulator_t<Value>* y, std::size_t ldy, const dcsr_kernel_options& options) {
    const std::vector<dcsr_row_chunk> chunks = dcsr_chunks(w, options.threads, columns);
    parallel_for(chunks.size(), options.threads, [&](std::size_t t) {
        reference_rows_plain(w, chunks[t].first, chunks[t].last, x, ldx, columns, y, ldy);
    });
}

}  // namespace detail

/// The name of the backend a call with Backend runs on this CPU (after fallback).
template <class Backend = backends::best>
std::string_view backend_name() noexcept {
    switch (detail::resolve_backend<Backend>()) {
        case detail::dcsr_path::avx512: return backends::avx512::name;
        case detail::dcsr_path::avx2: return backends::avx2::name;
        case detail::dcsr_path::scalar: break;
    }
    return backends::scalar::name;
}

// ---- int8 ------------------------------------------------------------------------------------------------------

/// y = W·x through Backend (see the header comment).
template <class M = default_multiplier, class Backend, class Pipeline = std::tuple<>>
requires std::is_base_of_v<backends::scalar, Backend>
void spmv(Backend, const dcsr_view<std::int8_t>& w, std::span<const std::int8_t> x,
          std::span<pipeline_output_t<Pipeline>> y, const Pipeline& pipeline = {},
          const dcsr_kernel_options& options = {}) {
    detail::check_operand(x.size(), w.cols, "x", "spmv");
    detail::check_operand(y.size(), w.rows, "y", "spmv");
    detail::spmm_int8<Backend, M>(w, x.data(), w.cols, 1, y.data(), w.rows, pipeline, options, true);
}

/// y = W·x on the best backend of this CPU.
template <class M = default_multiplier, class Pipeline = std::tuple<>>
void spmv(const dcsr_view<std::int8_t>& w, std::span<const std::int8_t> x, std::span<pipeline_output_t<Pipeline>> y,
          const Pipeline& pipeline = {}, const dcsr_kernel_options& options = {}) {
    spmv<M>(backends::best{}, w, x, y, pipeline, options);
}

/// y = W·x for an owning matrix.
template <class M = default_multiplier, class Pipeline = std::tuple<>>
void spmv(const dcsr_matrix<std::int8_t>& w, std::span<const std::int8_t> x, std::span<pipeline_output_t<Pipeline>> y,
          const Pipeline& pipeline = {}, const dcsr_kernel_options& options = {}) {
    spmv<M>(backends::best{}, w.view(), x, y, pipeline, options);
}

/// Y = W·X, column p of X at x + p·ldx (ldx >= C), column p of Y at y + p·ldy (ldy >= R), through Backend.
template <class M = default_multiplier, class Backend, class Pipeline = std::tuple<>>
requires std::is_base_of_v<backends::scalar, Backend>
void spmm(Backend, const dcsr_view<std::int8_t>& w, const std::int8_t* x, std::size_t ldx, std::size_t n,
          pipeline_output_t<Pipeline>* y, std::size_t ldy, const Pipeline& pipeline = {},
          const dcsr_kernel_options& options = {}) {
    if (ldx < w.cols) detail::check_operand(ldx, w.cols, "the column stride of X", "spmm");
    if (ldy < w.rows) detail::check_operand(ldy, w.rows, "the column stride of Y", "spmm");
    if (n == 0) return;
    detail::spmm_int8<Backend, M>(w, x, ldx, n, y, ldy, pipeline, options, false);
}

/// Y = W·X for n contiguous columns (x: n·C, y: n·R), through Backend.
template <class M = default_multiplier, class Backend, class Pipeline = std::tuple<>>
requires std::is_base_of_v<backends::scalar, Backend>
void spmm(Backend backend, const dcsr_view<std::int8_t>& w, std::span<const std::int8_t> x, std::size_t n,
          std::span<pipeline_output_t<Pipeline>> y, const Pipeline& pipeline = {},
          const dcsr_kernel_options& options = {}) {
    detail::check_operand(x.size(), std::size_t{w.cols} * n, "X", "spmm");
    detail::check_operand(y.size(), std::size_t{w.rows} * n, "Y", "spmm");
    spmm<M>(backend, w, x.data(), w.cols, n, y.data(), w.rows, pipeline, options);
}

/// Y = W·X for n contiguous columns on the best backend of this CPU.
template <class M = default_multiplier, class Pipeline = std::tuple<>>
void spmm(const dcsr_view<std::int8_t>& w, std::span<const std::int8_t> x, std::size_t n,
          std::span<pipeline_output_t<Pipeline>> y, const Pipeline& pipeline = {},
          const dcsr_kernel_options& options = {}) {
    spmm<M>(backends::best{}, w, x, n, y, pipeline, options);
}

/// Y = W·X for an owning matrix.
template <class M = default_multiplier, class Pipeline = std::tuple<>>
void spmm(const dcsr_matrix<std::int8_t>& w, std::span<const std::int8_t> x, std::size_t n,
          std::span<pipeline_output_t<Pipeline>> y, const Pipeline& pipeline = {},
          const dcsr_kernel_options& options = {}) {
    spmm<M>(backends::best{}, w.view(), x, n, y, pipeline, options);
}

// ---- int16 and float (option (2)): the scalar kernels, row-parallel with the index -------------------------------

/// y = W·x for int16 (int64 accumulators) or float values.
template <class Value>
requires(!std::is_same_v<Value, std::int8_t>) void spmv(const dcsr_view<Value>& w,
                                                        std::span<const std::type_identity_t<Value>> x,
                                                        std::span<dcsr_accumulator_t<Value>> y,
                                                        const dcsr_kernel_options& options = {}) {
    detail::check_operand(x.size(), w.cols, "x", "spmv");
    detail::check_operand(y.size(), w.rows, "y", "spmv");
    detail::spmm_plain(w, x.data(), w.cols, 1, y.data(), w.rows, options);
}

template <class Value>
requires(!std::is_same_v<Value, std::int8_t>) void spmv(const dcsr_matrix<Value>& w,
                                                        std::span<const std::type_identity_t<Value>> x,
                                                        std::span<dcsr_accumulator_t<Value>> y,
                                                        const dcsr_kernel_options& options = {}) {
    spmv(w.view(), x, y, options);
}

/// Y = W·X for int16 or float values, n contiguous columns.
template <class Value>
requires(!std::is_same_v<Value, std::int8_t>) void spmm(const dcsr_view<Value>& w,
                                                        std::span<const std::type_identity_t<Value>> x, std::size_t n,
                                                        std::span<dcsr_accumulator_t<Value>> y,
                                                        const dcsr_kernel_options& options = {}) {
    detail::check_operand(x.size(), std::size_t{w.cols} * n, "X", "spmm");
    detail::check_operand(y.size(), std::size_t{w.rows} * n, "Y", "spmm");
    detail::spmm_plain(w, x.data(), w.cols, n, y.data(), w.rows, options);
}

template <class Value>
requires(!std::is_same_v<Value, std::int8_t>) void spmm(const dcsr_matrix<Value>& w,
                                                        std::span<const std::type_identity_t<Value>> x, std::size_t n,
                                                        std::span<dcsr_accumulator_t<Value>> y,
                                                        const dcsr_kernel_options& options = {}) {
    spmm(w.view(), x, n, y, options);
}

}  // namespace approxnn::sparse
