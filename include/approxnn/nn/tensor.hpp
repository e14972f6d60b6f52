#pragma once
// nn::tensor: an owning, contiguous, row-major float tensor. Image batches are NHWC (batch, height, width,
// channels); convolution weights OHWI (out, kernel h, kernel w, in per group); linear weights (out, in).
#include <cstddef>
#include <initializer_list>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "approxnn/core/error.hpp"

namespace approxnn::nn {

using shape_t = std::vector<std::size_t>;

/// "[a, b, c]" for messages.
inline std::string to_string(const shape_t& shape) {
    std::string s = "[";
    for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
}

/// The number of elements of a shape (1 for rank 0).
inline std::size_t element_count(const shape_t& shape) noexcept {
    std::size_t n = 1;
    for (std::size_t d : shape) n *= d;
    return n;
}

class tensor {
public:
    tensor() = default;
    explicit tensor(shape_t shape, float fill = 0.0F) : shape_(std::move(shape)), data_(element_count(shape_), fill) {}
    tensor(shape_t shape, std::vector<float> values) : shape_(std::move(shape)), data_(std::move(values)) {
        if (data_.size() != element_count(shape_)) {
            throw shape_error("tensor: " + std::to_string(data_.size()) + " values do not fill shape " +
                              to_string(shape_));
        }
    }

    [[nodiscard]] const shape_t& shape() const noexcept { return shape_; }
    [[nodiscard]] std::size_t rank() const noexcept { return shape_.size(); }
    [[nodiscard]] std::size_t dim(std::size_t i) const noexcept { return shape_[i]; }
    [[nodiscard]] std::size_t size() const noexcept { return data_.size(); }
    [[nodiscard]] bool empty() const noexcept { return data_.empty(); }
    [[nodiscard]] float* data() noexcept { return data_.data(); }
    [[nodiscard]] const float* data() const noexcept { return data_.data(); }
    [[nodiscard]] std::span<float> values() noexcept { return data_; }
    [[nodiscard]] std::span<const float> values() const noexcept { return data_; }
    float& operator[](std::size_t i) noexcept { return data_[i]; }
    float operator[](std::size_t i) const noexcept { return data_[i]; }
    [[nodiscard]] auto begin() noexcept { return data_.begin(); }
    [[nodiscard]] auto end() noexcept { return data_.end(); }
    [[nodiscard]] auto begin() const noexcept { return data_.begin(); }
    [[nodiscard]] auto end() const noexcept { return data_.end(); }

    /// Gives the tensor `shape`; keeps the buffer's capacity (no allocation when it shrinks or stays), values
    /// unspecified when the element count changes.
    void resize(const shape_t& shape) {
        if (shape_ != shape) shape_ = shape;
        data_.resize(element_count(shape_));
    }
    /// Same values, another shape of the same element count.
    void reshape(shape_t shape) {
        if (element_count(shape) != data_.size()) {
            throw shape_error("tensor: cannot reshape " + to_string(shape_) + " to " + to_string(shape));
        }
        shape_ = std::move(shape);
    }
    void fill(float value) noexcept {
        for (float& v : data_) v = value;
    }

private:
    shape_t shape_;
    std::vector<float> data_;
};

/// Throws shape_error naming `who` unless t has `expected` shape.
inline void expect_shape(const char* who, const tensor& t, const shape_t& expected) {
    if (t.shape() != expected) {
        throw shape_error(std::string(who) + ": expected shape " + to_string(expected) + ", got " +
                          to_string(t.shape()));
    }
}

}  // namespace approxnn::nn
