#pragma once
// Model graphs: a sequential chain of named layers, and a residual block (body + shortcut, summed).
#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "approxnn/core/error.hpp"
#include "approxnn/nn/layer.hpp"
#include "approxnn/nn/tensor.hpp"

namespace approxnn::nn {

class sequential final : public layer {
public:
    sequential() = default;

    /// Appends a layer under `name` (unique within this chain; names must not contain '.'). Returns the layer.
    template <class L>
    L& add(std::string name, std::unique_ptr<L> child) {
        if (name.empty() || name.find('.') != std::string::npos) {
            throw parameter_error("sequential: invalid layer name '" + name + "' (non-empty, without '.')");
        }
        for (const auto& entry : children_) {
            if (entry.name == name) throw parameter_error("sequential: a layer named '" + name + "' already exists");
        }
        L& ref = *child;
        children_.push_back({std::move(name), std::move(child)});
        return ref;
    }
    template <class L, class... Args>
    L& emplace(std::string name, Args&&... args) {
        return add(std::move(name), std::make_unique<L>(std::forward<Args>(args)...));
    }

    [[nodiscard]] std::size_t size() const noexcept { return children_.size(); }
    [[nodiscard]] layer& at(std::size_t i) const { return *children_.at(i).child; }
    [[nodiscard]] const std::string& name_of(std::size_t i) const { return children_.at(i).name; }

    [[nodiscard]] std::string kind() const override { return "sequential"; }

    [[nodiscard]] shape_t output_shape(const shape_t& input) const override {
        shape_t s = input;
        for (const auto& entry : children_) s = entry.child->output_shape(s);
        return s;
    }

    void forward(const tensor& input, tensor& output, mode m) override {
        if (children_.empty()) {
            output = input;
            return;
        }
        if (m == mode::training) {
            outputs_.resize(children_.size());
            const tensor* x = &input;
            for (std::size_t i = 0; i + 1 < children_.size(); ++i) {
                children_[i].child->forward(*x, outputs_[i], m);
                x = &outputs_[i];
            }
            children_.back().child->forward(*x, output, m);
            trained_ = true;
            return;
        }
        // Evaluation: two buffers in turn.
        const tensor* x = &input;
        for (std::size_t i = 0; i + 1 < children_.size(); ++i) {
            tensor& out = ping_[i % 2];
            children_[i].child->forward(*x, out, m);
            x = &out;
        }
        children_.back().child->forward(*x, output, m);
    }

    void backward(const tensor& grad_output, tensor& grad_input) override {
        if (children_.empty()) {
            grad_input = grad_output;
            return;
        }
        if (!trained_) throw parameter_error("sequential: backward() without a training forward()");
        const tensor* g = &grad_output;
        for (std::size_t i = children_.size(); i-- > 1;) {
            tensor& gi = ping_[i % 2];
            children_[i].child->backward(*g, gi);
            g = &gi;
        }
        children_.front().child->backward(*g, grad_input);
    }

    void visit_parameters(const std::string& prefix, const parameter_visitor& fn) override {
        for (auto& entry : children_) entry.child->visit_parameters(join_name(prefix, entry.name), fn);
    }
    void visit_buffers(const std::string& prefix, const buffer_visitor& fn) override {
        for (auto& entry : children_) entry.child->visit_buffers(join_name(prefix, entry.name), fn);
    }
    void visit_children(const std::string& prefix, const layer_visitor& fn) override {
        for (auto& entry : children_) {
            const std::string name = join_name(prefix, entry.name);
            fn(name, *entry.child);
            entry.child->visit_children(name, fn);
        }
    }
    void release_cache() override {
        outputs_.clear();
        ping_[0] = tensor();
        ping_[1] = tensor();
        trained_ = false;
        for (auto& entry : children_) entry.child->release_cache();
    }

private:
    struct entry_t {
        std::string name;
        layer_ptr child;
    };
    std::vector<entry_t> children_;
    std::vector<tensor> outputs_;
    tensor ping_[2];
    bool trained_ = false;
};

/// out = body(x) + shortcut(x); the shortcut is the identity when none is given. Its children are named "body"
/// and "shortcut".
class residual final : public layer {
public:
    explicit residual(std::unique_ptr<sequential> body, layer_ptr shortcut = nullptr)
        : body_(std::move(body)), shortcut_(std::move(shortcut)) {
        if (!body_) throw parameter_error("residual: the body is null");
    }

    [[nodiscard]] sequential& body() noexcept { return *body_; }
    [[nodiscard]] layer* shortcut() noexcept { return shortcut_.get(); }
    [[nodiscard]] std::string kind() const override { return "residual"; }

    [[nodiscard]] shape_t output_shape(const shape_t& input) const override {
        const shape_t a = body_->output_shape(input);
        const shape_t b = shortcut_ ? shortcut_->output_shape(input) : input;
        if (a != b) {
            throw shape_error("residual: the body gives " + to_string(a) + " but the shortcut gives " + to_string(b) +
                              " for input " + to_string(input));
        }
        return a;
    }

    void forward(const tensor& input, tensor& output, mode m) override {
        body_->forward(input, output, m);
        const tensor* s = &input;
        if (shortcut_) {
            shortcut_->forward(input, shortcut_out_, m);
            s = &shortcut_out_;
        }
        if (s->shape() != output.shape()) {
            throw shape_error("residual: the body gives " + to_string(output.shape()) + " but the shortcut gives " +
                              to_string(s->shape()));
        }
        float* o = output.data();
        const float* a = s->data();
        for (std::size_t i = 0; i < output.size(); ++i) o[i] += a[i];
    }

    void backward(const tensor& grad_output, tensor& grad_input) override {
        body_->backward(grad_output, grad_input);
        const tensor* g = &grad_output;
        if (shortcut_) {
            shortcut_->backward(grad_output, shortcut_grad_);
            g = &shortcut_grad_;
        }
        float* gi = grad_input.data();
        const float* gs = g->data();
        for (std::size_t i = 0; i < grad_input.size(); ++i) gi[i] += gs[i];
    }

    void visit_parameters(const std::string& prefix, const parameter_visitor& fn) override {
        body_->visit_parameters(join_name(prefix, "body"), fn);
        if (shortcut_) shortcut_->visit_parameters(join_name(prefix, "shortcut"), fn);
    }
    void visit_buffers(const std::string& prefix, const buffer_visitor& fn) override {
        body_->visit_buffers(join_name(prefix, "body"), fn);
        if (shortcut_) shortcut_->visit_buffers(join_name(prefix, "shortcut"), fn);
    }
    void visit_children(const std::string& prefix, const layer_visitor& fn) override {
        const std::string b = join_name(prefix, "body");
        fn(b, *body_);
        body_->visit_children(b, fn);
        if (shortcut_) {
            const std::string s = join_name(prefix, "shortcut");
            fn(s, *shortcut_);
            shortcut_->visit_children(s, fn);
        }
    }
    void release_cache() override {
        shortcut_out_ = tensor();
        shortcut_grad_ = tensor();
        body_->release_cache();
        if (shortcut_) shortcut_->release_cache();
    }

private:
    std::unique_ptr<sequential> body_;
    layer_ptr shortcut_;
    tensor shortcut_out_, shortcut_grad_;
};

}  // namespace approxnn::nn
