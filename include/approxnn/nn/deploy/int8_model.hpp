#pragma once
// nn::int8_model: integer-only inference of a quantisation-aware model, with one multiplier per product layer.
// compile_int8 (deploy/compile.hpp) builds it; this header holds the ops and their arithmetic.
//
// Tensors. Every tensor between two ops holds 8-bit codes of one scale s and zero point z (value = s * (code - z)):
// int8 codes in [-127, 127] (z = 0) for the signed scheme, uint8 codes in [0, 255] for the unsigned one, stored as
// raw bytes. q(v) = clamp(round(v / s) + z, code_min, code_max) is the quantisation of a real v. A value that several
// consumers read in different quantisations is written once per quantisation by its producer.
//
// Ops, with F = requantisation_fraction_bits and the fixed-point helpers of requantisation.hpp:
//   quantise     float images -> codes, exactly as the first layer's activation quantiser:
//                code = clamp(round_half_even(x * (1 / s)) + z, code_min, code_max)   (NaN -> z).
//   product      conv2d or linear [+ batch_norm] [+ residual add] [+ relu / relu6], one op:
//                acc_o = sum_k M(a_k, w_k) - z_w * sum_k a_k - z_x * sum_k w_k + K * z_x * z_w (int32, conv/conv2d.hpp;
//                M the layer's multiplier, exact when none; a = input codes, w = weight codes), then for each
//                output tensor (s, z) and channel o, with the layer's requantisation (Q_o, B_o, negate_o):
//                  u = sat_add(saturating_multiply(negate_o ? -acc_o : acc_o, Q_o), B_o)
//                  residual: u = sat_add(u, saturating_multiply(c_r - z_r, R)), c_r the code of the shortcut tensor
//                            (s_r, z_r) at the same position (option A: at (y * stride, x * stride) and channel
//                            o - before; channels outside [before, before + C) add nothing), R = s_r / s * 2^F
//                  code = clamp(rounding_divide_by_pot(u, F) + z, lo, hi)
//                with lo = code_min, hi = code_max; relu: lo = max(lo, z); relu6: also hi = min(hi, q(6)). The clamp
//                is the activation: quantisation is monotone, so clamping the code equals quantising the clamped
//                value. The layer that produces the logits writes floats instead:
//                  logit = real_scale[o] * acc_o + real_shift[o] (+ s_r * (c_r - z_r)), then the activation.
//   max_pool2d   the largest code of each window (padding never chosen); input and output share (s, z). Exact.
//   relu, relu6  (when not fused) code = clamp(code, lo, hi) with the bounds above; (s, z) kept. Exact.
//   avg_pool2d, global_avg_pool
//                sum = sum over the window of (c - z_in) in int32 (avg_pool2d padding counts as the zero point, i.e.
//                adds 0, when count_include_pad); d = the divisor of the float layer; for each output tensor (s, z):
//                  s = s_in:  code = clamp(z + rounding_divide(sum, d))            rounding integer division
//                  else:      code = clamp(z + saturating_multiply(sum, P_d))      P_d = quantised s_in / (s * d)
//   dequantise   when the model does not end with a product layer: logit = s * (code - z).
//   flatten      moves nothing: NHWC codes already lie in the flattened order.
//
// Buffers are kept between calls: after the first forward() with a batch size, later calls with that or a smaller
// batch size allocate nothing in this class (the GEMM kernels still prepare their weight panels on each call).
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "approxnn/conv/conv2d.hpp"
#include "approxnn/core/error.hpp"
#include "approxnn/core/fixed_point.hpp"
#include "approxnn/core/parallel.hpp"
#include "approxnn/gemm/matrix.hpp"
#include "approxnn/gemm/plan.hpp"
#include "approxnn/multipliers/families/exact.hpp"
#include "approxnn/multipliers/multiplier.hpp"
#include "approxnn/nn/deploy/requantisation.hpp"
#include "approxnn/nn/model.hpp"
#include "approxnn/nn/quantisation.hpp"
#include "approxnn/nn/tensor.hpp"
#include "approxnn/nn/threading.hpp"

namespace approxnn::nn {

namespace detail::int8 {

enum class activation_kind { none, relu, relu6 };

constexpr std::int32_t code_min(signedness s) noexcept { return s == signedness::signed_operands ? -127 : 0; }
constexpr std::int32_t code_max(signedness s) noexcept { return s == signedness::signed_operands ? 127 : 255; }

/// q(v) for a real v, as activation_quantiser::quantise computes it.
inline std::int32_t quantise_value(float v, const quant_params& q, signedness s) noexcept {
    return std::clamp(nn::detail::round_to_code(v * (1.0F / q.scale)) + q.zero_point, code_min(s), code_max(s));
}

/// The clamp bounds of a tensor (s, z) after an activation.
inline std::pair<std::int32_t, std::int32_t> clamp_bounds(const quant_params& q, signedness s, activation_kind a) noexcept {
    std::int32_t lo = code_min(s);
    std::int32_t hi = code_max(s);
    if (a != activation_kind::none) lo = std::max(lo, q.zero_point);
    if (a == activation_kind::relu6) hi = std::min(hi, quantise_value(6.0F, q, s));
    return {lo, hi};
}

/// A tensor an op writes: its buffer, quantisation and clamp bounds; `shortcut` is R of a residual product op.
struct output_tensor {
    std::size_t buffer = 0;
    quant_params q;
    std::int32_t lo = 0, hi = 0;
    quantized_multiplier shortcut;
};

struct quantise_op {
    std::size_t elements = 0;  // per sample
    std::vector<output_tensor> outputs;
};

struct product_op {
    std::string name, kind;
    bool linear = false;
    std::size_t in_h = 1, in_w = 1, in_c = 0, out_h = 1, out_w = 1, out_c = 0, kernel_h = 1, kernel_w = 1;
    conv::conv2d_params params;
    std::size_t multiplications = 0;  // per sample
    std::vector<std::uint8_t> weights;
    std::vector<float> weight_scales;
    std::int32_t weight_zero_point = 0;
    std::size_t input_buffer = 0;
    quant_params input;
    std::shared_ptr<const gemm::multiplier_plan> plan;
    activation_kind activation = activation_kind::none;
    bool batch_norm = false;
    bool residual = false;
    std::size_t residual_buffer = 0;
    quant_params residual_q;
    std::size_t shortcut_stride = 0;  // 0: identity; else option A
    std::size_t shortcut_h = 0, shortcut_w = 0, shortcut_c = 0, shortcut_before = 0;
    std::vector<output_tensor> outputs;
    bool float_output = false;
    channel_affine affine;
    requantisation rq;

    [[nodiscard]] std::size_t in_per_group() const noexcept { return in_c / params.groups; }
    [[nodiscard]] bool pointwise() const noexcept { return conv::detail::is_pointwise(kernel_h, kernel_w, params); }
    [[nodiscard]] std::size_t pixels_per_sample() const noexcept { return out_h * out_w; }
    /// im2col bytes per sample the kernels want (conv2d asks for them for every non-pointwise convolution).
    [[nodiscard]] std::size_t scratch_per_sample() const noexcept {
        return linear || pointwise() ? 0 : out_h * out_w * kernel_h * kernel_w * in_per_group();
    }
};

/// max_pool2d, relu or relu6 on codes, once per quantisation of the value.
struct code_map_op {
    enum class kind_t { max_pool, clamp } kind = kind_t::clamp;
    std::string name;
    std::size_t in_h = 1, in_w = 1, channels = 0, out_h = 1, out_w = 1, kernel = 1, stride = 1, padding = 0;
    struct tensor_pair {
        std::size_t in = 0, out = 0;
        std::int32_t lo = 0, hi = 0;
    };
    std::vector<tensor_pair> tensors;
};

/// avg_pool2d or global_avg_pool.
struct average_op {
    std::string name;
    bool global = false;
    std::size_t in_h = 1, in_w = 1, channels = 0, out_h = 1, out_w = 1, kernel = 1, stride = 1, padding = 0;
    bool count_include_pad = true;
    std::size_t input_buffer = 0;
    quant_params input;
    struct output {
        output_tensor tensor;
        bool exact_division = false;
        std::vector<quantized_multiplier> by_divisor;  // P_d at index d
    };
    std::vector<output> outputs;
};

struct dequantise_op {
    std::size_t buffer = 0;
    quant_params q;
    std::size_t features = 0;
};

using op = std::variant<quantise_op, product_op, code_map_op, average_op, dequantise_op>;

/// Everything compile_int8 hands to int8_model.
struct program {
    signedness scheme = signedness::unsigned_operands;
    shape_t input_shape;  // (H, W, C)
    std::size_t classes = 0;
    std::vector<std::size_t> buffer_sizes;  // codes per sample
    std::vector<op> ops;
    std::vector<std::size_t> layers;  // op index of each product layer, in nn::product_layers order
};

}  // namespace detail::int8

/// An integer-only model: float images in, float logits out, 8-bit codes and int32 accumulators in between.
class int8_model {
public:
    explicit int8_model(detail::int8::program p) : p_(std::move(p)) {
        buffers_.resize(p_.buffer_sizes.size());
        for (std::size_t i : p_.layers) {
            const auto& op = std::get<detail::int8::product_op>(p_.ops[i]);
            acc_per_sample_ = std::max(acc_per_sample_, op.pixels_per_sample() * op.out_c);
            scratch_per_sample_ = std::max(scratch_per_sample_, op.scratch_per_sample());
        }
    }

    /// images (N, H, W, C) with (H, W, C) = input_shape(), any N; logits (N, classes) are resized in place.
    /// Throws shape_error naming both shapes when the images do not fit.
    void forward(const tensor& images, tensor& logits) {
        const shape_t& in = images.shape();
        if (in.size() != 4 || in[1] != p_.input_shape[0] || in[2] != p_.input_shape[1] || in[3] != p_.input_shape[2]) {
            throw shape_error("int8_model::forward: expected images of shape [N, " + std::to_string(p_.input_shape[0]) +
                              ", " + std::to_string(p_.input_shape[1]) + ", " + std::to_string(p_.input_shape[2]) +
                              "], got " + to_string(in));
        }
        const std::size_t n = in[0];
        if (n != batch_ || logits_shape_.empty()) reserve(n);
        logits.resize(logits_shape_);
        if (n == 0) return;
        if (p_.scheme == signedness::signed_operands) {
            run<std::int8_t>(images.data(), logits.data(), n);
        } else {
            run<std::uint8_t>(images.data(), logits.data(), n);
        }
    }

    [[nodiscard]] signedness scheme() const noexcept { return p_.scheme; }
    /// (H, W, C) of one image.
    [[nodiscard]] const shape_t& input_shape() const noexcept { return p_.input_shape; }
    [[nodiscard]] std::size_t classes() const noexcept { return p_.classes; }

    /// The product layers (conv2d / linear), in nn::product_layers order.
    [[nodiscard]] std::size_t layer_count() const noexcept { return p_.layers.size(); }
    [[nodiscard]] const std::string& layer_name(std::size_t i) const { return layer(i).name; }
    /// "conv2d" or "linear".
    [[nodiscard]] const std::string& layer_kind(std::size_t i) const { return layer(i).kind; }
    /// Multiplications per sample of layer i.
    [[nodiscard]] std::size_t multiplications(std::size_t i) const { return layer(i).multiplications; }
    /// Multiplications per sample of the whole model.
    [[nodiscard]] std::size_t multiplications() const {
        std::size_t total = 0;
        for (std::size_t i = 0; i < layer_count(); ++i) total += multiplications(i);
        return total;
    }
    /// Per layer: name, kind, multiplications per sample and the output shape for a batch of one (as
    /// nn::operation_counts reports them for the float model).
    [[nodiscard]] std::vector<layer_operations> operation_counts() const {
        std::vector<layer_operations> out;
        for (std::size_t i = 0; i < layer_count(); ++i) {
            const auto& op = layer(i);
            out.push_back({op.name, op.kind, op.multiplications,
                           op.linear ? shape_t{1, op.out_c} : shape_t{1, op.out_h, op.out_w, op.out_c}});
        }
        return out;
    }
    /// The input quantisation of layer i (its QAT input quantiser's).
    [[nodiscard]] quant_params layer_input(std::size_t i) const { return layer(i).input; }
    /// The quantisations layer i writes its output in (empty for the layer producing the logits).
    [[nodiscard]] std::vector<quant_params> layer_outputs(std::size_t i) const {
        std::vector<quant_params> out;
        for (const auto& t : layer(i).outputs) out.push_back(t.q);
        return out;
    }

    /// One multiplier per product layer in layer order (null: exact). Throws shape_error when the count differs
    /// from layer_count(), parameter_error naming the layer and the multiplier when a multiplier's operand
    /// signedness differs from the model's scheme; the model is unchanged then.
    void set_multipliers(const std::vector<std::shared_ptr<const gemm::multiplier_plan>>& plans) {
        if (plans.size() != layer_count()) {
            throw shape_error("int8_model::set_multipliers: " + std::to_string(plans.size()) + " multipliers for " +
                              std::to_string(layer_count()) + " conv / linear layers");
        }
        for (std::size_t i = 0; i < plans.size(); ++i) check_multiplier(i, plans[i].get());
        for (std::size_t i = 0; i < plans.size(); ++i) layer(i).plan = plans[i];
    }
    /// The multiplier of layer i (null: exact); same checks as set_multipliers.
    void set_multiplier(std::size_t i, std::shared_ptr<const gemm::multiplier_plan> plan) {
        check_multiplier(i, plan.get());
        layer(i).plan = std::move(plan);
    }
    [[nodiscard]] const std::shared_ptr<const gemm::multiplier_plan>& multiplier(std::size_t i) const {
        return layer(i).plan;
    }

    /// The affine map of layer i compiled from the model (its bias and batch norm folded).
    [[nodiscard]] const channel_affine& layer_affine(std::size_t i) const { return layer(i).affine; }
    /// The requantisation layer i runs with.
    [[nodiscard]] const requantisation& layer_requantisation(std::size_t i) const { return layer(i).rq; }
    /// The requantisation of layer i for another affine map (e.g. an operating point's batch norm and bias, see
    /// fold_batch_norm), onto the same output quantisations. Throws as make_requantisation.
    [[nodiscard]] requantisation fold(std::size_t i, const channel_affine& affine) const {
        const auto& op = layer(i);
        std::vector<quant_params> outputs;
        for (const auto& t : op.outputs) outputs.push_back(t.q);
        return make_requantisation(op.name, affine, op.input.scale, op.weight_scales, outputs, op.float_output);
    }
    /// Replaces layer i's requantisation with r (from fold()), copying into the storage in place: switching among
    /// prepared requantisations allocates nothing. Throws shape_error naming the layer when r's sizes differ.
    void set_layer_requantisation(std::size_t i, const requantisation& r) {
        check_requantisation("int8_model::set_layer_requantisation", i, r);
        requantisation& cur = layer(i).rq;
        std::copy(r.integer.begin(), r.integer.end(), cur.integer.begin());
        std::copy(r.real_scale.begin(), r.real_scale.end(), cur.real_scale.begin());
        std::copy(r.real_shift.begin(), r.real_shift.end(), cur.real_shift.begin());
    }

    /// Registers an operating point: one multiplier (null: exact) and one requantisation (from fold(), e.g. of the
    /// OP's batch norm and biases) per product layer, in layer order. Throws shape_error when a count differs from
    /// layer_count() or a requantisation's sizes differ from the layer's (naming the layer), parameter_error naming
    /// the layer and the multiplier for a multiplier of the wrong signedness; nothing is registered then. Does not
    /// change what the model runs: set_operating_point does. Returns the new operating point's index.
    std::size_t add_operating_point(std::vector<std::shared_ptr<const gemm::multiplier_plan>> multipliers,
                                    std::vector<requantisation> per_layer) {
        if (multipliers.size() != layer_count()) {
            throw shape_error("int8_model::add_operating_point: " + std::to_string(multipliers.size()) +
                              " multipliers for " + std::to_string(layer_count()) + " conv / linear layers");
        }
        if (per_layer.size() != layer_count()) {
            throw shape_error("int8_model::add_operating_point: " + std::to_string(per_layer.size()) +
                              " requantisations for " + std::to_string(layer_count()) + " conv / linear layers");
        }
        for (std::size_t i = 0; i < layer_count(); ++i) {
            check_multiplier(i, multipliers[i].get());
            check_requantisation("int8_model::add_operating_point", i, per_layer[i]);
        }
        operating_points_.push_back({std::move(multipliers), std::move(per_layer)});
        return operating_points_.size() - 1;
    }
    /// The number of registered operating points (0 for a model from compile_int8; compile_int8_operating_points
    /// registers one per operating point).
    [[nodiscard]] std::size_t operating_points() const noexcept { return operating_points_.size(); }
    /// Runs operating point i from now on: swaps in its multipliers and copies its requantisations into the
    /// layers' storage. O(layers), allocates nothing. parameter_error naming i and the number of operating points
    /// when i is not below it. set_multipliers / set_layer_requantisation later change the running state (not the
    /// registered operating point) until the next set_operating_point. layer_affine() keeps the compiled map.
    void set_operating_point(std::size_t i) {
        if (i >= operating_points_.size()) {
            throw parameter_error("int8_model::set_operating_point: operating point " + std::to_string(i) +
                                  " is not below the " + std::to_string(operating_points_.size()) +
                                  " registered operating point(s)");
        }
        const auto& op = operating_points_[i];
        for (std::size_t l = 0; l < layer_count(); ++l) {
            auto& p = layer(l);
            p.plan = op.multipliers[l];
            const requantisation& r = op.requantisations[l];
            std::copy(r.integer.begin(), r.integer.end(), p.rq.integer.begin());
            std::copy(r.real_scale.begin(), r.real_scale.end(), p.rq.real_scale.begin());
            std::copy(r.real_shift.begin(), r.real_shift.end(), p.rq.real_shift.begin());
        }
        active_operating_point_ = i;
    }
    /// The operating point last set with set_operating_point (0 before any).
    [[nodiscard]] std::size_t active_operating_point() const noexcept { return active_operating_point_; }

    /// At most this many threads for the kernels and the integer ops (0: every hardware thread).
    void set_threads(unsigned threads) noexcept { threads_ = threads; }
    [[nodiscard]] unsigned threads() const noexcept { return threads_; }

    /// Bytes of the buffers kept between calls (codes, accumulators, im2col scratch).
    [[nodiscard]] std::size_t workspace_bytes() const noexcept {
        std::size_t bytes = acc_.capacity() * sizeof(std::int32_t) + scratch_.capacity();
        for (const auto& b : buffers_) bytes += b.capacity();
        return bytes;
    }

    /// One line per op: what it computes and the quantisations it writes.
    [[nodiscard]] std::string summary() const {
        std::string s;
        const auto q = [&s](const quant_params& p) {
            s += " (s ";
            s += std::to_string(p.scale);
            s += ", z ";
            s += std::to_string(p.zero_point);
            s += ")";
        };
        for (const auto& o : p_.ops) {
            std::visit(
                [&](const auto& op) {
                    using T = std::decay_t<decltype(op)>;
                    if constexpr (std::is_same_v<T, detail::int8::quantise_op>) {
                        s += "quantise images ->";
                        for (const auto& t : op.outputs) q(t.q);
                    } else if constexpr (std::is_same_v<T, detail::int8::product_op>) {
                        s += op.kind;
                        s += ' ';
                        s += op.name;
                        q(op.input);
                        if (op.batch_norm) s += " + batch_norm";
                        if (op.residual) {
                            s += op.shortcut_stride != 0 ? " + residual option A" : " + residual identity";
                            q(op.residual_q);
                        }
                        if (op.activation == detail::int8::activation_kind::relu) s += " + relu";
                        if (op.activation == detail::int8::activation_kind::relu6) s += " + relu6";
                        s += " ->";
                        if (op.float_output) s += " float logits";
                        for (const auto& t : op.outputs) q(t.q);
                    } else if constexpr (std::is_same_v<T, detail::int8::code_map_op>) {
                        s += op.kind == detail::int8::code_map_op::kind_t::max_pool ? "max_pool2d " : "clamp ";
                        s += op.name;
                        s += " on ";
                        s += std::to_string(op.tensors.size());
                        s += " tensor(s)";
                    } else if constexpr (std::is_same_v<T, detail::int8::average_op>) {
                        s += op.global ? "global_avg_pool " : "avg_pool2d ";
                        s += op.name;
                        q(op.input);
                        s += " ->";
                        for (const auto& t : op.outputs) q(t.tensor.q);
                    } else {
                        s += "dequantise";
                        q(op.q);
                        s += " -> float logits";
                    }
                    s += '\n';
                },
                o);
        }
        return s;
    }

private:
    using product_op = detail::int8::product_op;
    using code_map_op = detail::int8::code_map_op;
    using average_op = detail::int8::average_op;
    using quantise_op = detail::int8::quantise_op;
    using dequantise_op = detail::int8::dequantise_op;

    [[nodiscard]] const product_op& layer(std::size_t i) const {
        if (i >= p_.layers.size()) {
            throw parameter_error("int8_model: layer index " + std::to_string(i) + " is not below the layer count " +
                                  std::to_string(p_.layers.size()));
        }
        return std::get<product_op>(p_.ops[p_.layers[i]]);
    }
    [[nodiscard]] product_op& layer(std::size_t i) {
        return const_cast<product_op&>(static_cast<const int8_model&>(*this).layer(i));
    }

    void check_multiplier(std::size_t i, const gemm::multiplier_plan* plan) const {
        const auto& op = layer(i);
        if (plan != nullptr && plan->operand_signedness() != p_.scheme) {
            throw parameter_error("layer '" + op.name + "': multiplier " + plan->name() + " has " +
                                  std::string(to_string(plan->operand_signedness())) + " operands but the layer uses " +
                                  std::string(to_string(p_.scheme)) + " quantisation");
        }
    }

    void check_requantisation(const char* who, std::size_t i, const requantisation& r) const {
        const auto& op = layer(i);
        const requantisation& cur = op.rq;
        if (r.channels != cur.channels || r.integer.size() != cur.integer.size() ||
            r.real_scale.size() != cur.real_scale.size() || r.real_shift.size() != cur.real_shift.size()) {
            throw shape_error(std::string(who) + ": layer '" + op.name + "' has " + std::to_string(cur.channels) +
                              " channels, " + std::to_string(cur.integer.size()) + " integer and " +
                              std::to_string(cur.real_scale.size()) + " float entries; the requantisation given has " +
                              std::to_string(r.channels) + ", " + std::to_string(r.integer.size()) + " and " +
                              std::to_string(r.real_scale.size()));
        }
    }

    /// Sizes every buffer for n samples (growing only).
    void reserve(std::size_t n) {
        batch_ = n;
        for (std::size_t b = 0; b < buffers_.size(); ++b) buffers_[b].resize(p_.buffer_sizes[b] * n);
        acc_.resize(acc_per_sample_ * n);
        scratch_.resize(scratch_per_sample_ * n);  // one byte per code
        logits_shape_ = {n, p_.classes};
    }

    template <class T>
    T* codes(std::size_t buffer) noexcept {
        return reinterpret_cast<T*>(buffers_[buffer].data());
    }

    template <class T>
    void run(const float* images, float* logits, std::size_t n) {
        for (auto& o : p_.ops) {
            std::visit([&](auto& op) { run_op<T>(op, images, logits, n); }, o);
        }
    }

    template <class T>
    void run_op(const quantise_op& op, const float* images, float*, std::size_t n) {
        const std::size_t count = op.elements * n;
        for (const auto& t : op.outputs) {
            T* out = codes<T>(t.buffer);
            const float inv = 1.0F / t.q.scale;
            parallel_blocks(count, 4096, 4, threads_, [&](std::size_t begin, std::size_t end) {
                for (std::size_t i = begin; i < end; ++i) {
                    // Bounded before the conversion to int32; NaN becomes the zero point.
                    const float v = std::clamp(images[i] * inv, -65536.0F, 65536.0F);
                    const std::int32_t c = nn::detail::round_to_code(std::isnan(v) ? 0.0F : v) + t.q.zero_point;
                    out[i] = static_cast<T>(std::clamp(c, t.lo, t.hi));
                }
            });
        }
    }

    template <class T>
    void run_op(product_op& op, const float*, float* logits, std::size_t n) {
        const gemm::multiplier_plan& plan = op.plan ? *op.plan : gemm::multiplier_plan::of<multipliers::exact<T>>();
        gemm::gemm_options options;
        options.activation_zero_point = op.input.zero_point;
        options.weight_zero_point = op.weight_zero_point;
        options.threads = threads_;
        const T* x = codes<T>(op.input_buffer);
        const T* w = reinterpret_cast<const T*>(op.weights.data());
        std::int32_t* acc = acc_.data();
        if (op.linear) {
            conv::linear<T>(plan, gemm::row_major<const T>(x, n, op.in_c), gemm::row_major<const T>(w, op.out_c, op.in_c),
                            gemm::row_major<std::int32_t>(acc, n, op.out_c), std::tuple<>{}, options);
        } else {
            conv::conv2d<T>(plan, conv::nhwc_view<const T>{x, n, op.in_h, op.in_w, op.in_c},
                            conv::ohwi_view<const T>{w, op.out_c, op.kernel_h, op.kernel_w, op.in_per_group()},
                            conv::nhwc_view<std::int32_t>{acc, n, op.out_h, op.out_w, op.out_c}, op.params,
                            std::tuple<>{}, options, std::span<std::byte>(scratch_.data(), scratch_.size()));
        }
        requantise<T>(op, n, logits);
    }

    /// The epilogue of a product op (see the top of this header).
    template <class T>
    void requantise(const product_op& op, std::size_t n, float* logits) {
        const std::size_t per_image = op.pixels_per_sample();
        const std::size_t pixels = n * per_image;
        const std::size_t oc = op.out_c;
        const std::int32_t* acc = acc_.data();
        const T* shortcut = op.residual ? codes<T>(op.residual_buffer) : nullptr;
        const std::int32_t zr = op.residual_q.zero_point;
        const std::size_t tensors = std::max<std::size_t>(op.outputs.size(), 1);
        parallel_blocks(pixels, 64, oc * tensors * 8, threads_, [&](std::size_t begin, std::size_t end) {
            for (std::size_t p = begin; p < end; ++p) {
                const std::int32_t* a = acc + p * oc;
                // The shortcut row aligned so that channel o reads r[o - before], for o in [before, before + rc).
                const T* r = nullptr;
                std::size_t before = 0, rc = oc;
                if (shortcut != nullptr) {
                    if (op.shortcut_stride == 0) {
                        r = shortcut + p * oc;
                    } else {
                        const std::size_t b = p / per_image, y = p % per_image / op.out_w, x = p % op.out_w;
                        r = shortcut + ((b * op.shortcut_h + y * op.shortcut_stride) * op.shortcut_w +
                                        x * op.shortcut_stride) * op.shortcut_c;
                        before = op.shortcut_before;
                        rc = op.shortcut_c;
                    }
                }
                if (op.float_output) {
                    float* out = logits + p * oc;
                    for (std::size_t o = 0; o < oc; ++o) {
                        float v = op.rq.real_scale[o] * static_cast<float>(a[o]) + op.rq.real_shift[o];
                        if (r != nullptr && o >= before && o - before < rc) {
                            v += op.residual_q.scale * static_cast<float>(static_cast<std::int32_t>(r[o - before]) - zr);
                        }
                        if (op.activation != detail::int8::activation_kind::none) v = std::max(v, 0.0F);
                        if (op.activation == detail::int8::activation_kind::relu6) v = std::min(v, 6.0F);
                        out[o] = v;
                    }
                    continue;
                }
                for (std::size_t t = 0; t < op.outputs.size(); ++t) {
                    const detail::int8::output_tensor& ot = op.outputs[t];
                    const channel_requantisation* cr = op.rq.integer.data() + t * oc;
                    T* out = codes<T>(ot.buffer) + p * oc;
                    for (std::size_t o = 0; o < oc; ++o) {
                        const std::int32_t v = cr[o].negate ? saturating_negate(a[o]) : a[o];
                        std::int32_t u = saturating_add(saturating_multiply(v, cr[o].multiplier), cr[o].offset);
                        if (r != nullptr && o >= before && o - before < rc) {
                            const std::int32_t d = static_cast<std::int32_t>(r[o - before]) - zr;
                            u = saturating_add(u, saturating_multiply(d, ot.shortcut));
                        }
                        const std::int32_t code =
                            rounding_divide_by_pot(u, requantisation_fraction_bits) + ot.q.zero_point;
                        out[o] = static_cast<T>(std::clamp(code, ot.lo, ot.hi));
                    }
                }
            }
        });
    }

    template <class T>
    void run_op(const code_map_op& op, const float*, float*, std::size_t n) {
        const std::size_t c_count = op.channels;
        for (const auto& t : op.tensors) {
            const T* x = codes<T>(t.in);
            T* y = codes<T>(t.out);
            if (op.kind == code_map_op::kind_t::clamp) {
                const std::size_t count = n * op.in_h * op.in_w * c_count;
                const auto lo = static_cast<T>(t.lo);
                const auto hi = static_cast<T>(t.hi);
                parallel_blocks(count, 4096, 2, threads_, [&](std::size_t begin, std::size_t end) {
                    for (std::size_t i = begin; i < end; ++i) y[i] = std::clamp(x[i], lo, hi);
                });
                continue;
            }
            parallel_blocks(n * op.out_h, 1, op.out_w * c_count * op.kernel * op.kernel, threads_,
                            [&](std::size_t row, std::size_t) {
                                const std::size_t b = row / op.out_h, oy = row % op.out_h;
                                const auto wy = window(oy, op.stride, op.padding, op.kernel, op.in_h);
                                for (std::size_t ox = 0; ox < op.out_w; ++ox) {
                                    const auto wx = window(ox, op.stride, op.padding, op.kernel, op.in_w);
                                    T* out = y + ((b * op.out_h + oy) * op.out_w + ox) * c_count;
                                    const T* first = x + ((b * op.in_h + wy.first) * op.in_w + wx.first) * c_count;
                                    std::copy(first, first + c_count, out);
                                    for (std::size_t iy = wy.first; iy < wy.second; ++iy) {
                                        for (std::size_t ix = wx.first; ix < wx.second; ++ix) {
                                            const T* in = x + ((b * op.in_h + iy) * op.in_w + ix) * c_count;
                                            for (std::size_t c = 0; c < c_count; ++c) out[c] = std::max(out[c], in[c]);
                                        }
                                    }
                                }
                            });
        }
    }

    template <class T>
    void run_op(const average_op& op, const float*, float*, std::size_t n) {
        const T* x = codes<T>(op.input_buffer);
        const std::int32_t z_in = op.input.zero_point;
        const std::size_t c_count = op.channels;
        const auto emit = [&](std::int32_t sum, std::size_t divisor, std::size_t at) {
            for (const auto& o : op.outputs) {
                const std::int32_t v = o.exact_division
                                           ? rounding_divide(sum, static_cast<std::int32_t>(divisor))
                                           : saturating_multiply(sum, o.by_divisor[divisor]);
                const std::int32_t code = saturating_add(v, o.tensor.q.zero_point);
                codes<T>(o.tensor.buffer)[at] = static_cast<T>(std::clamp(code, o.tensor.lo, o.tensor.hi));
            }
        };
        if (op.global) {
            const std::size_t pixels = op.in_h * op.in_w;
            parallel_blocks(n, 1, pixels * c_count, threads_, [&](std::size_t b, std::size_t) {
                const T* image = x + b * pixels * c_count;
                for (std::size_t c = 0; c < c_count; ++c) {
                    std::int32_t sum = 0;
                    for (std::size_t p = 0; p < pixels; ++p) sum += static_cast<std::int32_t>(image[p * c_count + c]) - z_in;
                    emit(sum, pixels, b * c_count + c);
                }
            });
            return;
        }
        parallel_blocks(n * op.out_h, 1, op.out_w * c_count * op.kernel * op.kernel, threads_,
                        [&](std::size_t row, std::size_t) {
                            const std::size_t b = row / op.out_h, oy = row % op.out_h;
                            const auto wy = window(oy, op.stride, op.padding, op.kernel, op.in_h);
                            for (std::size_t ox = 0; ox < op.out_w; ++ox) {
                                const auto wx = window(ox, op.stride, op.padding, op.kernel, op.in_w);
                                const std::size_t divisor = op.count_include_pad ? op.kernel * op.kernel
                                                                                 : (wy.second - wy.first) * (wx.second - wx.first);
                                const std::size_t at = ((b * op.out_h + oy) * op.out_w + ox) * c_count;
                                for (std::size_t c = 0; c < c_count; ++c) {
                                    std::int32_t sum = 0;
                                    for (std::size_t iy = wy.first; iy < wy.second; ++iy) {
                                        for (std::size_t ix = wx.first; ix < wx.second; ++ix) {
                                            sum += static_cast<std::int32_t>(x[((b * op.in_h + iy) * op.in_w + ix) * c_count + c]) - z_in;
                                        }
                                    }
                                    emit(sum, divisor, at + c);
                                }
                            }
                        });
    }

    template <class T>
    void run_op(const dequantise_op& op, const float*, float* logits, std::size_t n) {
        const T* x = codes<T>(op.buffer);
        for (std::size_t i = 0; i < n * op.features; ++i) {
            logits[i] = op.q.scale * static_cast<float>(static_cast<std::int32_t>(x[i]) - op.q.zero_point);
        }
    }

    /// The input rows [first, second) of the window starting at o * stride - padding.
    static std::pair<std::size_t, std::size_t> window(std::size_t o, std::size_t stride, std::size_t padding,
                                                      std::size_t kernel, std::size_t size) noexcept {
        const std::ptrdiff_t origin = static_cast<std::ptrdiff_t>(o * stride) - static_cast<std::ptrdiff_t>(padding);
        const std::ptrdiff_t last = origin + static_cast<std::ptrdiff_t>(kernel);
        return {static_cast<std::size_t>(std::max<std::ptrdiff_t>(origin, 0)),
                static_cast<std::size_t>(std::min<std::ptrdiff_t>(last, static_cast<std::ptrdiff_t>(size)))};
    }

    struct operating_point {
        std::vector<std::shared_ptr<const gemm::multiplier_plan>> multipliers;
        std::vector<requantisation> requantisations;
    };

    detail::int8::program p_;
    std::vector<operating_point> operating_points_;
    std::size_t active_operating_point_ = 0;
    unsigned threads_ = 0;
    std::size_t batch_ = 0;
    std::size_t acc_per_sample_ = 0, scratch_per_sample_ = 0;
    shape_t logits_shape_;
    std::vector<std::vector<std::uint8_t>> buffers_;
    std::vector<std::int32_t> acc_;
    std::vector<std::byte> scratch_;
};

}  // namespace approxnn::nn
