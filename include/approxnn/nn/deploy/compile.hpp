#pragma once
// compile_int8: a trained quantisation-aware model -> an int8_model (deploy/int8_model.hpp).
//
// The graph is walked in forward order. Supported: sequential, residual (identity or option_a_shortcut shortcut),
// conv2d, linear, batch_norm, relu, relu6, max_pool2d, avg_pool2d, global_avg_pool, flatten. Fusion:
//   conv2d / linear [+ batch_norm] [+ the add of the residual whose body it ends] [+ relu / relu6]
// become one product op; batch_norm must follow a conv2d / linear directly, and a residual body must end with
// one (optionally followed by batch_norm). An activation that cannot be fused (its input is no product op's
// output, or is also a residual's shortcut input) runs on codes.
//
// Quantisations. A tensor read by a product layer has that layer's input quantisation (input_quantiser().params()),
// so that the layer sees the codes the QAT layer computes; weights are quantised by the layer's weight quantiser.
// Every other tensor the int8 graph reads (a residual's shortcut input, the input of average pooling, the output of
// a model that does not end with a product layer) gets a quantisation calibrated on `calibration_images`: the float
// model runs in evaluation mode (fake quantisation and assigned multipliers as they are) and the range of each
// such tensor over all images, widened to contain 0, is quantised as activation_quantiser::params() does.
// max_pool2d, relu, relu6 and flatten pass on the quantisation their output needs (they commute with quantisation).
//
// The compiled model starts with exact multipliers; assign approximate ones with int8_model::set_multipliers. The
// layers' output hooks (noise injection, statistics) are not part of it. Later changes to the float model do not
// reach a compiled model; compile again.
//
// Operating points (nn/operating_points.hpp). compile_int8_operating_points compiles a model with N_OP operating
// points once: weights, weight scales and every activation quantisation are shared by all operating points (the QAT
// input quantisers are not per operating point; the calibrated tensors are calibrated over every operating point,
// each run with its batch norms, biases and multipliers, so one range covers them all). Per operating point it folds
// that operating point's batch norms and biases into each product op's requantisation (int8_model::fold) and
// registers it with its multipliers (int8_model::add_operating_point); int8_model::set_operating_point switches.
// Nothing else the int8 program holds depends on batch norm or biases (the fused residual add, the activations'
// clamp bounds and the pooling ops depend on quantisations only).
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "approxnn/core/error.hpp"
#include "approxnn/nn/deploy/int8_model.hpp"
#include "approxnn/nn/deploy/requantisation.hpp"
#include "approxnn/nn/graph.hpp"
#include "approxnn/nn/layer.hpp"
#include "approxnn/nn/layers/activation.hpp"
#include "approxnn/nn/layers/batch_norm.hpp"
#include "approxnn/nn/layers/conv2d.hpp"
#include "approxnn/nn/layers/linear.hpp"
#include "approxnn/nn/layers/pooling.hpp"
#include "approxnn/nn/layers/product_layer.hpp"
#include "approxnn/nn/layers/reshape.hpp"
#include "approxnn/nn/model.hpp"
#include "approxnn/nn/operating_points.hpp"
#include "approxnn/nn/quantisation.hpp"
#include "approxnn/nn/tensor.hpp"

namespace approxnn::nn {

namespace detail::deploy {

using int8::activation_kind;

/// A tensor of the float graph.
struct ir_value {
    shape_t shape;  // per sample
    std::ptrdiff_t producer = -1;  // op index; -1: the model input
    bool shared = false;           // also read by a residual's shortcut
    float lo = 0.0F, hi = 0.0F;    // calibrated range
    std::size_t last_use = 0;      // the last op reading it
    std::vector<quant_params> needs;  // the quantisations its readers need
    std::vector<std::size_t> buffers;  // one per need
};

enum class ir_kind { product, code_map, average, flatten };

/// One op of the int8 graph with the float layers it stands for.
struct ir_op {
    ir_kind kind = ir_kind::product;
    std::string name;
    std::size_t input = 0, output = 0;
    layer* main = nullptr;  // the product / pooling / activation / flatten layer
    batch_norm* bn = nullptr;
    layer* activation_layer = nullptr;
    activation_kind activation = activation_kind::none;
    bool residual = false;
    std::size_t residual_source = 0;
    option_a_shortcut* shortcut = nullptr;
};

inline bool same(const quant_params& a, const quant_params& b) noexcept {
    return a.scale == b.scale && a.zero_point == b.zero_point;
}

class compiler {
public:
    compiler(sequential& model, const tensor& calibration) : model_(model), calibration_(calibration) {}

    /// Compiles the model as it is.
    int8_model run() {
        return run(1, [](std::size_t) {});
    }

    /// Calibrates over `count` states of the model (select(k) puts the float model into state k, k < count), then
    /// compiles it in state 0.
    int8_model run(std::size_t count, const std::function<void(std::size_t)>& select) {
        check_input();
        check_layers();
        values_.push_back({});
        values_[0].shape = sample_shape_;
        const std::size_t final_value = walk(model_, "", 0);
        const shape_t out = values_[final_value].shape;
        if (out.size() != 1) {
            throw shape_error("compile_int8: the model's output must be (N, classes), got " +
                              to_string(batch_of(out, 1)));
        }
        for (std::size_t k = 0; k < count; ++k) {
            select(k);
            calibrate();
        }
        if (count > 1) select(0);
        plan_quantisations(final_value);
        return int8_model(build(final_value));
    }

    /// The affine map of every product op (nn::product_layers order) from the model's current batch norms and
    /// biases; after run().
    [[nodiscard]] std::vector<channel_affine> affine_maps() const {
        std::vector<channel_affine> out;
        for (const ir_op& op : ops_) {
            if (op.kind != ir_kind::product) continue;
            auto& pl = *static_cast<product_layer*>(op.main);
            const parameter* bias = pl.bias();
            out.push_back(fold_batch_norm(pl.out_channels(), bias ? bias->value.values() : std::span<const float>{},
                                          op.bn));
        }
        return out;
    }

private:
    static shape_t batch_of(const shape_t& sample, std::size_t n) {
        shape_t s{n};
        s.insert(s.end(), sample.begin(), sample.end());
        return s;
    }
    static shape_t without_batch(const shape_t& s) { return shape_t(s.begin() + 1, s.end()); }

    void check_input() {
        const shape_t& s = calibration_.shape();
        if (s.size() != 4 || s[0] == 0) {
            throw shape_error("compile_int8: calibration images must be (N, H, W, C) with N >= 1, got " + to_string(s));
        }
        sample_shape_ = without_batch(s);
        (void)model_.output_shape(batch_of(sample_shape_, 1));  // shape_error naming the layer that does not fit
    }

    void check_layers() {
        const auto layers = product_layers(model_);
        const product_layer* first = nullptr;
        for (const auto& [name, l] : layers) {
            if (!l->quantised()) {
                throw parameter_error("compile_int8: layer '" + name + "' (" + l->kind() +
                                      ") is not quantised; quantise the model (and train it) before compiling");
            }
            const signedness s = l->quantisation_config()->scheme;
            if (first == nullptr) {
                first = l;
                scheme_ = s;
            } else if (s != scheme_) {
                throw parameter_error("compile_int8: layer '" + name + "' uses " + std::string(to_string(s)) +
                                      " quantisation but layer '" + first->name() + "' uses " +
                                      std::string(to_string(scheme_)) + " (one scheme per model)");
            }
        }
        layer_names_.clear();
        for (const auto& entry : layers) layer_names_.push_back(entry.name);
    }

    std::size_t new_value(const shape_t& shape, std::ptrdiff_t producer) {
        values_.push_back({});
        values_.back().shape = shape;
        values_.back().producer = producer;
        return values_.size() - 1;
    }

    shape_t output_of(const layer& l, std::size_t in) const {
        return without_batch(l.output_shape(batch_of(values_[in].shape, 1)));
    }

    std::size_t add_op(ir_op op, const shape_t& out_shape) {
        op.output = new_value(out_shape, static_cast<std::ptrdiff_t>(ops_.size()));
        ops_.push_back(std::move(op));
        return ops_.back().output;
    }

    /// The product op that produced value v, when the next layer may fuse into it.
    ir_op* fusable_producer(std::size_t v) {
        const ir_value& val = values_[v];
        if (val.producer < 0 || val.shared) return nullptr;
        ir_op& op = ops_[static_cast<std::size_t>(val.producer)];
        if (op.kind != ir_kind::product || op.activation != activation_kind::none) return nullptr;
        return &op;
    }

    std::size_t walk(layer& l, const std::string& name, std::size_t in) {
        if (auto* s = dynamic_cast<sequential*>(&l)) {
            std::size_t v = in;
            for (std::size_t i = 0; i < s->size(); ++i) v = walk(s->at(i), join_name(name, s->name_of(i)), v);
            return v;
        }
        if (auto* r = dynamic_cast<residual*>(&l)) return walk_residual(*r, name, in);
        if (auto* p = dynamic_cast<product_layer*>(&l)) {
            ir_op op;
            op.kind = ir_kind::product;
            op.name = name;
            op.main = p;
            op.input = in;
            return add_op(std::move(op), output_of(l, in));
        }
        if (auto* bn = dynamic_cast<batch_norm*>(&l)) {
            (void)output_of(l, in);
            ir_op* p = fusable_producer(in);
            if (p == nullptr || p->bn != nullptr || p->residual) {
                throw parameter_error("compile_int8: batch_norm '" + name +
                                      "' must directly follow a conv2d or linear layer to fold into its requantisation");
            }
            p->bn = bn;
            return in;
        }
        const bool is_relu = dynamic_cast<relu*>(&l) != nullptr;
        const bool is_relu6 = dynamic_cast<relu6*>(&l) != nullptr;
        if (is_relu || is_relu6) {
            const activation_kind a = is_relu ? activation_kind::relu : activation_kind::relu6;
            if (ir_op* p = fusable_producer(in)) {
                p->activation = a;
                p->activation_layer = &l;
                return in;
            }
            ir_op op;
            op.kind = ir_kind::code_map;
            op.name = name;
            op.main = &l;
            op.input = in;
            op.activation = a;
            return add_op(std::move(op), values_[in].shape);
        }
        ir_kind kind{};
        if (dynamic_cast<max_pool2d*>(&l) != nullptr) {
            kind = ir_kind::code_map;
        } else if (dynamic_cast<avg_pool2d*>(&l) != nullptr || dynamic_cast<global_avg_pool*>(&l) != nullptr) {
            kind = ir_kind::average;
        } else if (dynamic_cast<flatten*>(&l) != nullptr) {
            kind = ir_kind::flatten;
        } else {
            throw parameter_error("compile_int8: layer '" + name + "' of kind '" + l.kind() +
                                  "' has no integer implementation (supported: sequential, residual, conv2d, linear, "
                                  "batch_norm, relu, relu6, max_pool2d, avg_pool2d, global_avg_pool, flatten; "
                                  "option_a_shortcut as a residual's shortcut)");
        }
        ir_op op;
        op.kind = kind;
        op.name = name;
        op.main = &l;
        op.input = in;
        return add_op(std::move(op), output_of(l, in));
    }

    std::size_t walk_residual(residual& r, const std::string& name, std::size_t in) {
        option_a_shortcut* shortcut = nullptr;
        if (layer* s = r.shortcut()) {
            shortcut = dynamic_cast<option_a_shortcut*>(s);
            if (shortcut == nullptr) {
                throw parameter_error("compile_int8: the shortcut '" + join_name(name, "shortcut") + "' of kind '" +
                                      s->kind() + "' has no integer implementation (identity or option_a_shortcut)");
            }
        }
        (void)r.output_shape(batch_of(values_[in].shape, 1));
        values_[in].shared = true;
        const std::size_t body = walk(r.body(), join_name(name, "body"), in);
        ir_op* p = body == in ? nullptr : fusable_producer(body);
        if (p == nullptr || p->residual) {
            throw parameter_error("compile_int8: residual '" + name +
                                  "': its body must end with a conv2d or linear layer (optionally followed by "
                                  "batch_norm) for the fused integer add");
        }
        p->residual = true;
        p->residual_source = in;
        p->shortcut = shortcut;
        return body;
    }

    // ---- calibration -------------------------------------------------------------------------------------------

    void observe(std::size_t v, const tensor& t) {
        ir_value& val = values_[v];
        for (const float x : t) {
            val.lo = std::min(val.lo, x);
            val.hi = std::max(val.hi, x);
        }
    }

    void run_float(const ir_op& op, std::vector<tensor>& vals) {
        tensor& y = vals[op.output];
        switch (op.kind) {
            case ir_kind::product:
                op.main->forward(vals[op.input], y, mode::evaluation);
                if (op.bn != nullptr) {
                    op.bn->forward(y, scratch_, mode::evaluation);
                    std::swap(y, scratch_);
                }
                if (op.residual) {
                    const tensor* s = &vals[op.residual_source];
                    if (op.shortcut != nullptr) {
                        op.shortcut->forward(*s, scratch_, mode::evaluation);
                        s = &scratch_;
                    }
                    for (std::size_t i = 0; i < y.size(); ++i) y[i] += (*s)[i];
                }
                if (op.activation_layer != nullptr) {
                    op.activation_layer->forward(y, scratch_, mode::evaluation);
                    std::swap(y, scratch_);
                }
                break;
            default:
                op.main->forward(vals[op.input], y, mode::evaluation);
                break;
        }
    }

    void calibrate() {
        for (std::size_t i = 0; i < ops_.size(); ++i) {
            values_[ops_[i].input].last_use = i;
            if (ops_[i].residual) values_[ops_[i].residual_source].last_use = i;
        }
        constexpr std::size_t chunk = 32;
        const std::size_t n = calibration_.dim(0);
        const std::size_t per = element_count(sample_shape_);
        std::vector<tensor> vals(values_.size());
        for (std::size_t first = 0; first < n; first += chunk) {
            const std::size_t count = std::min(chunk, n - first);
            vals[0] = tensor(batch_of(sample_shape_, count),
                             std::vector<float>(calibration_.data() + first * per,
                                                calibration_.data() + (first + count) * per));
            observe(0, vals[0]);
            for (std::size_t i = 0; i < ops_.size(); ++i) {
                run_float(ops_[i], vals);
                observe(ops_[i].output, vals[ops_[i].output]);
                const auto release = [&](std::size_t v) {
                    if (values_[v].last_use == i) vals[v] = tensor();
                };
                release(ops_[i].input);
                if (ops_[i].residual) release(ops_[i].residual_source);
            }
        }
    }

    [[nodiscard]] quant_params calibrated(std::size_t v) const {
        activation_quantiser q(scheme_);
        q.range()[0] = values_[v].lo;
        q.range()[1] = values_[v].hi;
        return q.params();
    }

    void need(std::size_t v, const quant_params& q) {
        for (const quant_params& e : values_[v].needs) {
            if (same(e, q)) return;
        }
        values_[v].needs.push_back(q);
    }

    [[nodiscard]] bool float_output(std::size_t final_value) const {
        const std::ptrdiff_t p = values_[final_value].producer;
        return p >= 0 && ops_[static_cast<std::size_t>(p)].kind == ir_kind::product;
    }

    void plan_quantisations(std::size_t final_value) {
        if (!float_output(final_value)) need(final_value, calibrated(final_value));
        for (std::size_t i = ops_.size(); i-- > 0;) {
            const ir_op& op = ops_[i];
            switch (op.kind) {
                case ir_kind::product:
                    need(op.input, static_cast<product_layer*>(op.main)->input_quantiser().params());
                    if (op.residual) need(op.residual_source, calibrated(op.residual_source));
                    break;
                case ir_kind::average:
                    need(op.input, calibrated(op.input));
                    break;
                case ir_kind::code_map:
                case ir_kind::flatten: {
                    const std::vector<quant_params> needs = values_[op.output].needs;
                    for (const quant_params& q : needs) need(op.input, q);
                    break;
                }
            }
        }
        for (std::size_t v = 0; v < values_.size(); ++v) {
            ir_value& val = values_[v];
            const bool alias = val.producer >= 0 && ops_[static_cast<std::size_t>(val.producer)].kind == ir_kind::flatten;
            for (const quant_params& q : val.needs) {
                if (alias) {
                    val.buffers.push_back(buffer_of(ops_[static_cast<std::size_t>(val.producer)].input, q));
                } else {
                    val.buffers.push_back(buffer_sizes_.size());
                    buffer_sizes_.push_back(element_count(val.shape));
                }
            }
        }
    }

    [[nodiscard]] std::size_t buffer_of(std::size_t v, const quant_params& q) const {
        const ir_value& val = values_[v];
        for (std::size_t i = 0; i < val.needs.size(); ++i) {
            if (same(val.needs[i], q)) return val.buffers.at(i);
        }
        throw parameter_error("compile_int8: internal error: no tensor of the needed quantisation");  // unreachable
    }

    // ---- the int8 program ----------------------------------------------------------------------------------------

    [[nodiscard]] std::vector<int8::output_tensor> outputs_of(std::size_t v, activation_kind a) const {
        std::vector<int8::output_tensor> out;
        const ir_value& val = values_[v];
        for (std::size_t i = 0; i < val.needs.size(); ++i) {
            int8::output_tensor t;
            t.buffer = val.buffers[i];
            t.q = val.needs[i];
            std::tie(t.lo, t.hi) = int8::clamp_bounds(t.q, scheme_, a);
            out.push_back(t);
        }
        return out;
    }

    int8::product_op build_product(const ir_op& op, bool to_float) const {
        auto& pl = *static_cast<product_layer*>(op.main);
        int8::product_op p;
        p.name = op.name;
        p.kind = pl.kind();
        const shape_t& in = values_[op.input].shape;
        const shape_t& out = values_[op.output].shape;
        if (auto* c = dynamic_cast<conv2d*>(&pl)) {
            p.in_h = in[0];
            p.in_w = in[1];
            p.in_c = in[2];
            p.out_h = out[0];
            p.out_w = out[1];
            p.out_c = out[2];
            p.kernel_h = c->options().kernel_h;
            p.kernel_w = c->options().kernel_w;
            p.params = c->options().params;
            p.multiplications = p.out_h * p.out_w * p.out_c * c->fan_in();
        } else {
            p.linear = true;
            p.in_c = in[0];
            p.out_c = out[0];
            p.multiplications = p.in_c * p.out_c;
        }
        tensor dequantised;
        p.weight_scales = pl.weight_quantisation().quantise(pl.weight().value, dequantised, &p.weights);
        p.weight_zero_point = pl.weight_quantisation().zero_point();
        p.input = pl.input_quantiser().params();
        p.input_buffer = buffer_of(op.input, p.input);
        p.activation = op.activation;
        p.batch_norm = op.bn != nullptr;
        if (op.residual) {
            p.residual = true;
            p.residual_q = calibrated(op.residual_source);
            p.residual_buffer = buffer_of(op.residual_source, p.residual_q);
            if (op.shortcut != nullptr) {
                const shape_t& s = values_[op.residual_source].shape;
                p.shortcut_stride = op.shortcut->stride();
                p.shortcut_h = s[0];
                p.shortcut_w = s[1];
                p.shortcut_c = s[2];
                p.shortcut_before = (op.shortcut->out_channels() - s[2]) / 2;
            }
        }
        p.float_output = to_float;
        if (!to_float) p.outputs = outputs_of(op.output, op.activation);
        const double two_f = std::ldexp(1.0, requantisation_fraction_bits);
        for (auto& t : p.outputs) {
            if (p.residual) {
                t.shortcut = fixed_point_scale(static_cast<double>(p.residual_q.scale) / t.q.scale * two_f,
                                               "layer '" + p.name + "', shortcut");
            }
        }
        const parameter* bias = pl.bias();  // the active operating point's, as op.bn's parameters
        p.affine = fold_batch_norm(p.out_c, bias ? bias->value.values() : std::span<const float>{}, op.bn);
        std::vector<quant_params> qs;
        for (const auto& t : p.outputs) qs.push_back(t.q);
        p.rq = make_requantisation(p.name, p.affine, p.input.scale, p.weight_scales, qs, to_float);
        return p;
    }

    int8::code_map_op build_code_map(const ir_op& op) const {
        int8::code_map_op m;
        m.name = op.name;
        const shape_t& in = values_[op.input].shape;
        const shape_t& out = values_[op.output].shape;
        m.channels = in.back();
        if (in.size() == 3) {
            m.in_h = in[0];
            m.in_w = in[1];
            m.out_h = out[0];
            m.out_w = out[1];
        } else {
            m.in_h = m.out_h = element_count(in) / m.channels;
        }
        if (const auto* pool = dynamic_cast<const max_pool2d*>(op.main)) {
            m.kind = int8::code_map_op::kind_t::max_pool;
            m.kernel = pool->kernel();
            m.stride = pool->stride();
            m.padding = pool->padding();
        }
        const ir_value& o = values_[op.output];
        for (std::size_t i = 0; i < o.needs.size(); ++i) {
            int8::code_map_op::tensor_pair t;
            t.in = buffer_of(op.input, o.needs[i]);
            t.out = o.buffers[i];
            std::tie(t.lo, t.hi) = int8::clamp_bounds(o.needs[i], scheme_, op.activation);
            m.tensors.push_back(t);
        }
        return m;
    }

    int8::average_op build_average(const ir_op& op) const {
        int8::average_op a;
        a.name = op.name;
        const shape_t& in = values_[op.input].shape;
        const shape_t& out = values_[op.output].shape;
        a.in_h = in[0];
        a.in_w = in[1];
        a.channels = in[2];
        std::size_t max_divisor = a.in_h * a.in_w;
        if (const auto* pool = dynamic_cast<const avg_pool2d*>(op.main)) {
            a.out_h = out[0];
            a.out_w = out[1];
            a.kernel = pool->kernel();
            a.stride = pool->stride();
            a.padding = pool->padding();
            a.count_include_pad = pool->count_include_pad();
            max_divisor = a.kernel * a.kernel;
        } else {
            a.global = true;
        }
        a.input = calibrated(op.input);
        a.input_buffer = buffer_of(op.input, a.input);
        for (const auto& t : outputs_of(op.output, activation_kind::none)) {
            int8::average_op::output o;
            o.tensor = t;
            o.exact_division = t.q.scale == a.input.scale;
            if (!o.exact_division) {
                o.by_divisor.resize(max_divisor + 1);
                for (std::size_t d = 1; d <= max_divisor; ++d) {
                    o.by_divisor[d] = fixed_point_scale(
                        static_cast<double>(a.input.scale) / (static_cast<double>(t.q.scale) * static_cast<double>(d)),
                        "layer '" + op.name + "'");
                }
            }
            a.outputs.push_back(std::move(o));
        }
        return a;
    }

    int8::program build(std::size_t final_value) const {
        int8::program prog;
        prog.scheme = scheme_;
        prog.input_shape = sample_shape_;
        prog.classes = values_[final_value].shape[0];
        prog.buffer_sizes = buffer_sizes_;
        int8::quantise_op q;
        q.elements = element_count(sample_shape_);
        q.outputs = outputs_of(0, activation_kind::none);
        prog.ops.emplace_back(std::move(q));
        const bool to_float = float_output(final_value);
        for (const ir_op& op : ops_) {
            switch (op.kind) {
                case ir_kind::product:
                    prog.layers.push_back(prog.ops.size());
                    prog.ops.emplace_back(build_product(op, to_float && op.output == final_value));
                    break;
                case ir_kind::code_map:
                    prog.ops.emplace_back(build_code_map(op));
                    break;
                case ir_kind::average:
                    prog.ops.emplace_back(build_average(op));
                    break;
                case ir_kind::flatten:
                    break;
            }
        }
        if (!to_float) {
            int8::dequantise_op d;
            d.q = calibrated(final_value);
            d.buffer = buffer_of(final_value, d.q);
            d.features = prog.classes;
            prog.ops.emplace_back(d);
        }
        for (std::size_t i = 0; i < prog.layers.size(); ++i) {
            const auto& name = std::get<int8::product_op>(prog.ops[prog.layers[i]]).name;
            if (i >= layer_names_.size() || layer_names_[i] != name) {
                throw parameter_error("compile_int8: internal error: layer " + std::to_string(i) + " is '" + name +
                                      "' in the graph walk but not in nn::product_layers");  // unreachable
            }
        }
        return prog;
    }

    sequential& model_;
    const tensor& calibration_;
    shape_t sample_shape_;
    signedness scheme_ = signedness::unsigned_operands;
    std::vector<std::string> layer_names_;
    std::vector<ir_value> values_;
    std::vector<ir_op> ops_;
    std::vector<std::size_t> buffer_sizes_;
    tensor scratch_;
};

}  // namespace detail::deploy

/// Compiles a quantisation-aware `model` into an integer-only model (see the top of this header), calibrating the
/// quantisation of the tensors no QAT quantiser covers on `calibration_images` (N >= 1, NHWC). Throws
/// parameter_error naming the layer for a layer that is not quantised, a layer kind without an integer
/// implementation, or a graph that cannot be fused; shape_error for images the model does not accept.
inline int8_model compile_int8(sequential& model, const tensor& calibration_images) {
    return detail::deploy::compiler(model, calibration_images).run();
}

/// Compiles a quantisation-aware `model` with N_OP = nn::operating_points(model) operating points into one
/// int8_model holding all of them (see the top of this header): ops[k] is operating point k's multiplier per product
/// layer (nn::product_layers order, null: exact; an empty vector: exact everywhere). The result runs operating point
/// 0 (int8_model::set_operating_point switches). The float model is left as it was found (active operating point
/// and multipliers restored, also when this throws). Throws what compile_int8 throws; shape_error when ops.size()
/// differs from N_OP or ops[k] from the number of product layers; parameter_error naming the layer and the
/// multiplier for a multiplier that does not fit a layer's quantisation.
inline int8_model compile_int8_operating_points(
    sequential& model, const tensor& calibration_images,
    std::span<const std::vector<std::shared_ptr<const gemm::multiplier_plan>>> ops) {
    using plan_list = std::vector<std::shared_ptr<const gemm::multiplier_plan>>;
    const std::size_t n = operating_points(model);
    if (ops.size() != n) {
        throw shape_error("compile_int8_operating_points: " + std::to_string(ops.size()) +
                          " multiplier lists for a model with " + std::to_string(n) + " operating point(s)");
    }
    const auto layers = product_layers(model);
    std::vector<plan_list> plans(n);
    for (std::size_t k = 0; k < n; ++k) {
        if (ops[k].empty()) {
            plans[k].assign(layers.size(), nullptr);
        } else if (ops[k].size() != layers.size()) {
            throw shape_error("compile_int8_operating_points: operating point " + std::to_string(k) + " has " +
                              std::to_string(ops[k].size()) + " multipliers for " + std::to_string(layers.size()) +
                              " conv / linear layers");
        } else {
            plans[k] = ops[k];
        }
    }
    // Restore the float model's operating point and multipliers however this ends.
    struct restore {
        sequential& model;
        std::size_t active;
        plan_list multipliers;
        ~restore() {
            try {
                select_operating_point(model, active);
                assign_multipliers(model, multipliers);
            } catch (...) {  // the saved state was valid; nothing can fail here
            }
        }
    };
    plan_list saved;
    for (const auto& l : layers) saved.push_back(l.layer->shared_multiplier());
    std::size_t active = layers.empty() ? 0 : layers.front().layer->active_operating_point();
    visit_layers(model, [&](const std::string&, layer& l) {
        if (auto* b = dynamic_cast<batch_norm*>(&l)) active = b->active_operating_point();
    });
    const restore guard{model, active, std::move(saved)};
    const auto select = [&](std::size_t k) {
        select_operating_point(model, k);
        assign_multipliers(model, plans[k]);
    };
    detail::deploy::compiler c(model, calibration_images);
    int8_model deployed = c.run(n, select);
    for (std::size_t k = 0; k < n; ++k) {
        select(k);
        const std::vector<channel_affine> maps = c.affine_maps();
        std::vector<requantisation> per_layer;
        per_layer.reserve(maps.size());
        for (std::size_t i = 0; i < maps.size(); ++i) per_layer.push_back(deployed.fold(i, maps[i]));
        deployed.add_operating_point(plans[k], std::move(per_layer));
    }
    deployed.set_operating_point(0);
    return deployed;
}

}  // namespace approxnn::nn
