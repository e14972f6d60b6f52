#pragma once
// 2-D convolution and fully connected layers with an approximate multiplier, lowered onto the GEMM.
//
// Layouts: input and output NHWC (batch, height, width, channels; channels contiguous), filters OHWI
// ([out_channels][kernel_h][kernel_w][in_channels / groups]). Grouped convolution: output channel o of group
// g = o / (out_channels / groups) sees input channels [g * in_per_group, (g + 1) * in_per_group); depthwise is
// groups = in_channels.
//
//   acc(b, y, x, o) = sum over taps (i, j) and channels c of M(activation, weight)  (zero points as in gemm.hpp)
//   activation = input(b, y * stride_h + i * dilation_h - pad_top, x * stride_w + j * dilation_w - pad_left, c),
//                or the activation zero point's code where that position lies in the padding.
//   output(b, y, x, o) = pipeline(acc, channel o)
// Padded positions go through the multiplier like any other activation (as in an im2col matrix padded with the
// zero point), so a convolution equals the GEMM of its im2col matrix bit for bit.
//
// Lowering: per group, output channels x (K = kernel_h * kernel_w * in_per_group) times the im2col matrix
// (pixels x K, built in caller-visible scratch of conv2d_scratch_size() bytes); 1 x 1 convolutions with stride 1 and
// no padding read the input directly (no scratch). Depthwise layers (one input channel per group) run the kernels of
// depthwise.hpp instead (exact multipliers across channels, anything else by table lookups along output rows; the
// decomposed and error-plane paths use the lookups there). Bad shapes and parameters throw approxnn::error subclasses that
// name the values; the kernels below the front end assume valid input.

#include <cstddef>
#include <cstdint>
#include <algorithm>
#include <cstring>
#include <span>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#include "approxnn/core/error.hpp"
#include "approxnn/core/output_stage.hpp"
#include "approxnn/core/parallel.hpp"
#include "approxnn/conv/depthwise.hpp"
#include "approxnn/gemm/gemm.hpp"
#include "approxnn/gemm/matrix.hpp"
#include "approxnn/gemm/plan.hpp"
#include "approxnn/multipliers/multiplier.hpp"
#include "approxnn/multipliers/table.hpp"

namespace approxnn::conv {

/// A contiguous NHWC tensor.
template <class T>
struct nhwc_view {
    T* data = nullptr;
    std::size_t batch = 0, height = 0, width = 0, channels = 0;

    [[nodiscard]] constexpr std::size_t size() const noexcept { return batch * height * width * channels; }
    [[nodiscard]] constexpr T& operator()(std::size_t b, std::size_t y, std::size_t x, std::size_t c) const noexcept {
        return data[((b * height + y) * width + x) * channels + c];
    }
};

/// Contiguous OHWI filters: [out_channels][kernel_h][kernel_w][in_per_group].
template <class T>
struct ohwi_view {
    T* data = nullptr;
    std::size_t out_channels = 0, kernel_h = 0, kernel_w = 0, in_per_group = 0;

    [[nodiscard]] constexpr std::size_t size() const noexcept { return out_channels * kernel_h * kernel_w * in_per_group; }
    [[nodiscard]] constexpr T& operator()(std::size_t o, std::size_t i, std::size_t j, std::size_t c) const noexcept {
        return data[((o * kernel_h + i) * kernel_w + j) * in_per_group + c];
    }
};

struct conv2d_params {
    std::size_t stride_h = 1, stride_w = 1;
    std::size_t pad_top = 0, pad_bottom = 0, pad_left = 0, pad_right = 0;
    std::size_t dilation_h = 1, dilation_w = 1;
    std::size_t groups = 1;

    /// The same padding on every side.
    [[nodiscard]] constexpr conv2d_params with_padding(std::size_t p) const noexcept {
        conv2d_params q = *this;
        q.pad_top = q.pad_bottom = q.pad_left = q.pad_right = p;
        return q;
    }
    /// The same stride in both directions.
    [[nodiscard]] constexpr conv2d_params with_stride(std::size_t s) const noexcept {
        conv2d_params q = *this;
        q.stride_h = q.stride_w = s;
        return q;
    }
};

struct output_size {
    std::size_t height = 0, width = 0;
};

/// The output height and width of a convolution; throws for invalid parameters (naming them).
inline output_size conv2d_output_size(std::size_t in_h, std::size_t in_w, std::size_t in_channels,
                                      std::size_t kernel_h, std::size_t kernel_w, std::size_t in_per_group,
                                      std::size_t out_channels, const conv2d_params& p) {
    const auto fail = [](const std::string& what) { throw parameter_error("conv2d: " + what); };
    if (p.stride_h == 0 || p.stride_w == 0) {
        fail("strides must be positive, got " + std::to_string(p.stride_h) + " x " + std::to_string(p.stride_w));
    }
    if (p.dilation_h == 0 || p.dilation_w == 0) {
        fail("dilations must be positive, got " + std::to_string(p.dilation_h) + " x " + std::to_string(p.dilation_w));
    }
    if (kernel_h == 0 || kernel_w == 0) {
        fail("the kernel must not be empty, got " + std::to_string(kernel_h) + " x " + std::to_string(kernel_w));
    }
    if (p.groups == 0 || in_channels % p.groups != 0 || out_channels % p.groups != 0) {
        fail(std::to_string(p.groups) + " groups do not divide " + std::to_string(in_channels) +
             " input and " + std::to_string(out_channels) + " output channels");
    }
    if (in_per_group != in_channels / p.groups) {
        throw shape_error("conv2d: filters hold " + std::to_string(in_per_group) + " input channels per group, " +
                          std::to_string(in_channels) + " input channels in " + std::to_string(p.groups) +
                          " groups need " + std::to_string(in_channels / p.groups));
    }
    const std::size_t extent_h = p.dilation_h * (kernel_h - 1) + 1;
    const std::size_t extent_w = p.dilation_w * (kernel_w - 1) + 1;
    for (const auto& [pad, extent, name] : {std::tuple{p.pad_top, extent_h, "top"}, {p.pad_bottom, extent_h, "bottom"},
                                            {p.pad_left, extent_w, "left"}, {p.pad_right, extent_w, "right"}}) {
        if (pad >= extent) {
            fail(std::string(name) + " padding " + std::to_string(pad) + " is not smaller than the kernel extent " +
                 std::to_string(extent));
        }
    }
    const std::size_t padded_h = in_h + p.pad_top + p.pad_bottom;
    const std::size_t padded_w = in_w + p.pad_left + p.pad_right;
    if (padded_h < extent_h || padded_w < extent_w) {
        throw shape_error("conv2d: the padded input " + std::to_string(padded_h) + " x " + std::to_string(padded_w) +
                          " is smaller than the kernel extent " + std::to_string(extent_h) + " x " +
                          std::to_string(extent_w));
    }
    return {(padded_h - extent_h) / p.stride_h + 1, (padded_w - extent_w) / p.stride_w + 1};
}

namespace detail {

template <class T, class F, class O>
output_size check_conv(const char* who, const nhwc_view<T>& input, const ohwi_view<F>& filters,
                       const nhwc_view<O>& output, const conv2d_params& p) {
    const output_size s = conv2d_output_size(input.height, input.width, input.channels, filters.kernel_h,
                                             filters.kernel_w, filters.in_per_group, filters.out_channels, p);
    if (output.batch != input.batch || output.height != s.height || output.width != s.width ||
        output.channels != filters.out_channels) {
        throw shape_error(std::string(who) + ": the output is " + std::to_string(output.batch) + "x" +
                          std::to_string(output.height) + "x" + std::to_string(output.width) + "x" +
                          std::to_string(output.channels) + " (NHWC), this convolution produces " +
                          std::to_string(input.batch) + "x" + std::to_string(s.height) + "x" +
                          std::to_string(s.width) + "x" + std::to_string(filters.out_channels));
    }
    const auto null = [&](const char* name, std::size_t size, const void* data) {
        if (size != 0 && data == nullptr) throw parameter_error(std::string(who) + ": the " + name + " data is null");
    };
    null("input", input.size(), input.data);
    null("filter", filters.size(), filters.data);
    null("output", output.size(), output.data);
    return s;
}

[[nodiscard]] constexpr bool is_pointwise(std::size_t kernel_h, std::size_t kernel_w, const conv2d_params& p) noexcept {
    return kernel_h == 1 && kernel_w == 1 && p.stride_h == 1 && p.stride_w == 1 && p.pad_top == 0 &&
           p.pad_bottom == 0 && p.pad_left == 0 && p.pad_right == 0;
}

/// Rows [first, last) of the im2col matrix of group g: one row of K = kernel_h * kernel_w * in_per_group codes per
/// output pixel (pixels numbered batch-major, then row, then column).
template <class T>
void im2col(const nhwc_view<const T>& input, std::size_t kernel_h, std::size_t kernel_w, std::size_t in_per_group,
            std::size_t group, const conv2d_params& p, output_size out, T padding, T* rows, std::size_t first,
            std::size_t last) {
    const std::size_t depth = kernel_h * kernel_w * in_per_group;
    for (std::size_t pixel = first; pixel < last; ++pixel) {
        const std::size_t b = pixel / (out.height * out.width);
        const std::size_t y = pixel / out.width % out.height;
        const std::size_t x = pixel % out.width;
        T* row = rows + pixel * depth;
        for (std::size_t i = 0; i < kernel_h; ++i) {
            const std::ptrdiff_t iy = static_cast<std::ptrdiff_t>(y * p.stride_h + i * p.dilation_h) -
                                      static_cast<std::ptrdiff_t>(p.pad_top);
            for (std::size_t j = 0; j < kernel_w; ++j, row += in_per_group) {
                const std::ptrdiff_t ix = static_cast<std::ptrdiff_t>(x * p.stride_w + j * p.dilation_w) -
                                          static_cast<std::ptrdiff_t>(p.pad_left);
                if (iy < 0 || ix < 0 || iy >= static_cast<std::ptrdiff_t>(input.height) ||
                    ix >= static_cast<std::ptrdiff_t>(input.width)) {
                    std::memset(row, static_cast<unsigned char>(padding), in_per_group);
                } else {
                    std::memcpy(row, &input(b, static_cast<std::size_t>(iy), static_cast<std::size_t>(ix),
                                            group * in_per_group),
                                in_per_group * sizeof(T));
                }
            }
        }
    }
}

inline std::vector<std::byte>& conv_scratch() {
    thread_local std::vector<std::byte> buffer;
    return buffer;
}

}  // namespace detail

/// Scratch bytes conv2d needs (the im2col matrix of one group; 0 for pointwise convolutions).
inline std::size_t conv2d_scratch_size(std::size_t batch, std::size_t in_h, std::size_t in_w, std::size_t in_channels,
                                       std::size_t kernel_h, std::size_t kernel_w, std::size_t out_channels,
                                       const conv2d_params& p) {
    const std::size_t in_per_group = p.groups == 0 ? 0 : in_channels / p.groups;
    const output_size s = conv2d_output_size(in_h, in_w, in_channels, kernel_h, kernel_w, in_per_group, out_channels, p);
    if (detail::is_pointwise(kernel_h, kernel_w, p)) return 0;
    return batch * s.height * s.width * kernel_h * kernel_w * in_per_group;
}

namespace detail {
/// The reference convolution of any product: direct loops over the definition at the top of this header.
template <operand_code T, class Product, class Pipeline>
void reference_conv2d_with(const Product& product, nhwc_view<const T> input, ohwi_view<const T> filters,
                           nhwc_view<pipeline_output_t<Pipeline>> output, const conv2d_params& p,
                           const Pipeline& pipeline, const gemm::gemm_options& options) {
    const output_size s = detail::check_conv("reference_conv2d", input, filters, output, p);
    const std::size_t out_per_group = filters.out_channels / p.groups;
    const std::int64_t za = options.activation_zero_point;
    const std::int64_t zw = options.weight_zero_point;
    const auto depth = static_cast<std::int64_t>(filters.kernel_h * filters.kernel_w * filters.in_per_group);
    const T padding = static_cast<T>(options.activation_zero_point);
    for (std::size_t b = 0; b < input.batch; ++b) {
        for (std::size_t y = 0; y < s.height; ++y) {
            for (std::size_t x = 0; x < s.width; ++x) {
                for (std::size_t o = 0; o < filters.out_channels; ++o) {
                    const std::size_t g = o / out_per_group;
                    std::int64_t sum = 0, activation_sum = 0, weight_sum = 0;
                    for (std::size_t i = 0; i < filters.kernel_h; ++i) {
                        for (std::size_t j = 0; j < filters.kernel_w; ++j) {
                            const std::ptrdiff_t iy = static_cast<std::ptrdiff_t>(y * p.stride_h + i * p.dilation_h) -
                                                      static_cast<std::ptrdiff_t>(p.pad_top);
                            const std::ptrdiff_t ix = static_cast<std::ptrdiff_t>(x * p.stride_w + j * p.dilation_w) -
                                                      static_cast<std::ptrdiff_t>(p.pad_left);
                            const bool inside = iy >= 0 && ix >= 0 && iy < static_cast<std::ptrdiff_t>(input.height) &&
                                                ix < static_cast<std::ptrdiff_t>(input.width);
                            for (std::size_t c = 0; c < filters.in_per_group; ++c) {
                                const T a = inside ? input(b, static_cast<std::size_t>(iy), static_cast<std::size_t>(ix),
                                                           g * filters.in_per_group + c)
                                                   : padding;
                                const T w = filters(o, i, j, c);
                                sum += product(a, w);
                                activation_sum += a;
                                weight_sum += w;
                            }
                        }
                    }
                    const std::int64_t acc = sum - zw * activation_sum - za * weight_sum + depth * za * zw;
                    output(b, y, x, o) = apply_output_stages(static_cast<std::int32_t>(static_cast<std::uint32_t>(acc)),
                                                             o + options.channel_offset, pipeline);
                }
            }
        }
    }
}
}  // namespace detail

/// The reference convolution of policy M.
template <multiplier M, class Pipeline = std::tuple<>>
void reference_conv2d(nhwc_view<const operand_t<M>> input, ohwi_view<const operand_t<M>> filters,
                      nhwc_view<pipeline_output_t<Pipeline>> output, const conv2d_params& p = {},
                      const Pipeline& pipeline = {}, const gemm::gemm_options& options = {}) {
    detail::reference_conv2d_with(
        [](operand_t<M> a, operand_t<M> w) { return std::int64_t{multiply_activation_weight<M>(a, w)}; }, input,
        filters, output, p, pipeline, options);
}

/// The reference convolution of a table multiplier.
template <operand_code T, class Pipeline = std::tuple<>>
void reference_conv2d(const multipliers::table_multiplier& table, nhwc_view<const T> input,
                      ohwi_view<const T> filters, nhwc_view<pipeline_output_t<Pipeline>> output,
                      const conv2d_params& p = {}, const Pipeline& pipeline = {},
                      const gemm::gemm_options& options = {}) {
    if (table.is_signed() != std::is_signed_v<T>) {
        throw parameter_error("reference_conv2d: table '" + table.name() + "' has " +
                              std::string(to_string(table.operand_signedness())) + " operands, the tensors do not");
    }
    detail::reference_conv2d_with([&table](T a, T w) { return std::int64_t{table.multiply_activation_weight(a, w)}; }, input,
                          filters, output, p, pipeline, options);
}

/// Convolution through a prepared multiplier. `scratch` (optional) must hold conv2d_scratch_size() bytes; without
/// it, a per-thread buffer is used.
template <operand_code T, class Pipeline = std::tuple<>>
void conv2d(const gemm::multiplier_plan& plan, nhwc_view<const T> input, ohwi_view<const T> filters,
            nhwc_view<pipeline_output_t<Pipeline>> output, const conv2d_params& p = {}, const Pipeline& pipeline = {},
            const gemm::gemm_options& options = {}, std::span<std::byte> scratch = {}) {
    using Out = pipeline_output_t<Pipeline>;
    const output_size s = detail::check_conv("conv2d", input, filters, output, p);
    const std::size_t pixels = input.batch * s.height * s.width;
    const std::size_t in_per_group = filters.in_per_group;
    const std::size_t out_per_group = filters.out_channels / p.groups;
    const std::size_t depth = filters.kernel_h * filters.kernel_w * in_per_group;
    const bool pointwise = detail::is_pointwise(filters.kernel_h, filters.kernel_w, p);
    const std::size_t needed = pointwise ? 0 : pixels * depth * sizeof(T);
    if (!scratch.empty() && scratch.size() < needed) {
        throw parameter_error("conv2d: the scratch holds " + std::to_string(scratch.size()) + " bytes, " +
                              std::to_string(needed) + " are needed (conv2d_scratch_size)");
    }
    if (scratch.empty() && needed > 0) {
        std::vector<std::byte>& own = detail::conv_scratch();
        if (own.size() < needed) own.resize(needed);
        scratch = std::span<std::byte>(own.data(), needed);
    }
    if (pixels == 0 || filters.out_channels == 0) return;
    if (in_per_group == 1 && p.groups > 1 && options.path != gemm::kernel_path::reference) {
        const gemm::kernel_path path = gemm::chosen_path(plan, options);  // throws for a forced path not available
        const depthwise::geometry geo{input.batch,  input.height,  input.width,  input.channels,
                                      out_per_group, filters.kernel_h, filters.kernel_w, p.stride_h, p.stride_w,
                                      p.dilation_h, p.dilation_w,   p.pad_top,     p.pad_left,  p.pad_bottom,
                                      p.pad_right,  s.height,      s.width};
        if (path == gemm::kernel_path::exact) {
            depthwise::exact(geo, input.data, filters.data, output.data, pipeline, options);
        } else {
            const bool vbmi = options.isa == gemm::instruction_set::automatic && host_cpu().has_vbmi_kernels();
            depthwise::lookup(plan, geo, input.data, filters.data, output.data, pipeline, options, vbmi);
        }
        return;
    }
    T* rows = needed > 0 ? reinterpret_cast<T*>(scratch.data()) : nullptr;
    for (std::size_t g = 0; g < p.groups; ++g) {
        gemm::matrix_view<const T> activations;  // K x N view of the (virtual) im2col matrix
        if (pointwise) {
            activations = gemm::matrix_view<const T>{input.data + g * in_per_group, depth, pixels, 1,
                                                     static_cast<std::ptrdiff_t>(input.channels)};
        } else {
            constexpr std::size_t pixels_per_task = 256;
            const unsigned threads = pixels * depth >= (std::size_t{1} << 18) ? options.threads : 1U;
            // parallel_for's schedule: the threads write the pixel ranges whose GEMM column tiles they compute next.
            parallel_for((pixels + pixels_per_task - 1) / pixels_per_task, threads, [&](std::size_t task) {
                detail::im2col(input, filters.kernel_h, filters.kernel_w, in_per_group, g, p, s,
                               static_cast<T>(options.activation_zero_point), rows, task * pixels_per_task,
                               std::min(pixels, (task + 1) * pixels_per_task));
            });
            activations = gemm::row_major<const T>(rows, pixels, depth).transposed();
        }
        const auto weights = gemm::row_major<const T>(filters.data + g * out_per_group * depth, out_per_group, depth);
        const gemm::matrix_view<Out> out{output.data + g * out_per_group, out_per_group, pixels, 1,
                                         static_cast<std::ptrdiff_t>(output.channels)};
        gemm::gemm_options group_options = options;
        group_options.channel_offset = options.channel_offset + g * out_per_group;
        gemm::gemm<T>(plan, weights, activations, out, pipeline, group_options);
    }
}

/// Convolution with policy M (reference path: M itself; others: its plan).
template <multiplier M, class Pipeline = std::tuple<>>
void conv2d(nhwc_view<const operand_t<M>> input, ohwi_view<const operand_t<M>> filters,
            nhwc_view<pipeline_output_t<Pipeline>> output, const conv2d_params& p = {}, const Pipeline& pipeline = {},
            const gemm::gemm_options& options = {}, std::span<std::byte> scratch = {}) {
    if (options.path == gemm::kernel_path::reference) {
        reference_conv2d<M>(input, filters, output, p, pipeline, options);
        return;
    }
    conv2d<operand_t<M>>(gemm::multiplier_plan::of<M>(), input, filters, output, p, pipeline, options, scratch);
}

namespace detail {
template <class A, class B, class C>
void check_linear(const gemm::matrix_view<A>& x, const gemm::matrix_view<B>& weights, const gemm::matrix_view<C>& out) {
    if (x.cols != weights.cols || out.rows != x.rows || out.cols != weights.rows) {
        throw shape_error("linear: input " + std::to_string(x.rows) + "x" + std::to_string(x.cols) + ", weights " +
                          std::to_string(weights.rows) + "x" + std::to_string(weights.cols) + " and output " +
                          std::to_string(out.rows) + "x" + std::to_string(out.cols) +
                          " do not form (batch x in)(out x in)^T = (batch x out)");
    }
}
}  // namespace detail

/// Fully connected layer: out[b][o] = pipeline(sum_i M(x[b][i], weights[o][i])), x batch x in, weights out x in,
/// out batch x out (all row-major).
template <operand_code T, class Pipeline = std::tuple<>>
void linear(const gemm::multiplier_plan& plan, gemm::matrix_view<const T> x, gemm::matrix_view<const T> weights,
            gemm::matrix_view<pipeline_output_t<Pipeline>> out, const Pipeline& pipeline = {},
            const gemm::gemm_options& options = {}) {
    detail::check_linear(x, weights, out);
    gemm::gemm<T>(plan, weights, x.transposed(), out.transposed(), pipeline, options);
}

/// Fully connected layer with policy M.
template <multiplier M, class Pipeline = std::tuple<>>
void linear(gemm::matrix_view<const operand_t<M>> x, gemm::matrix_view<const operand_t<M>> weights,
            gemm::matrix_view<pipeline_output_t<Pipeline>> out, const Pipeline& pipeline = {},
            const gemm::gemm_options& options = {}) {
    detail::check_linear(x, weights, out);
    gemm::gemm<M>(weights, x.transposed(), out.transposed(), pipeline, options);
}

}  // namespace approxnn::conv
