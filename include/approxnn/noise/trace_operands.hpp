#pragma once
// The bridge from the engine's operand traces to the error model: a traced product layer as layer_operands.
// The only noise/error_model header that needs nn/.

#include <span>

#include "approxnn/nn/layers/product_layer.hpp"
#include "approxnn/noise/error_model.hpp"

namespace approxnn::noise {

/// A view of the trace's operands (same layout, no copy): valid while `trace` lives and is not changed.
/// The shape is checked by the error model's functions, not here.
inline layer_operands operands_of(const nn::operand_trace& trace) noexcept {
    layer_operands l;
    l.scheme = trace.scheme;
    l.groups = trace.groups;
    l.pixels = trace.pixels;
    l.depth = trace.depth;
    l.out_channels = trace.out_channels;
    l.activation_rows = std::span<const std::uint8_t>(trace.activation_rows);
    l.weights = std::span<const std::uint8_t>(trace.weights);
    return l;
}

}  // namespace approxnn::noise
