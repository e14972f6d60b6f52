#pragma once
// Output stages: what happens to an int32 accumulator of output channel c after the dot product, as a tuple of
// small plain structs (gemmlowp / ruy style), applied in order:
//
//   bias_stage{values}                    acc + values[c] (nothing when values is null)
//   requantize_stage{...}                 multiply_by_quantized_multiplier(acc, per_channel[c] or per_tensor) + zero_point
//   clamp_stage{lo, hi}                   min(max(acc, lo), hi)
//   saturate_to<std::int8_t / uint8_t>    the final narrowing (saturating); fixes the output type
//
// An empty pipeline keeps the int32 accumulator. Stages hold non-owning pointers; the front end that receives a
// pipeline checks that each array covers every output channel. Freestanding: usable without exceptions.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <tuple>
#include <type_traits>

#include "approxnn/core/fixed_point.hpp"

namespace approxnn {

/// acc + values[channel]; values has one entry per output channel (no bias when null).
struct bias_stage {
    const std::int32_t* values = nullptr;
    constexpr std::int32_t operator()(std::int32_t acc, std::size_t channel) const noexcept {
        return values != nullptr ? acc + values[channel] : acc;
    }
};

/// TFLite requantisation: per-channel multipliers when per_channel is set, else the per-tensor one; then + zero_point.
struct requantize_stage {
    const quantized_multiplier* per_channel = nullptr;
    quantized_multiplier per_tensor{};
    std::int32_t zero_point = 0;
    constexpr std::int32_t operator()(std::int32_t acc, std::size_t channel) const noexcept {
        const quantized_multiplier q = per_channel != nullptr ? per_channel[channel] : per_tensor;
        return multiply_by_quantized_multiplier(acc, q) + zero_point;
    }
};

/// min(max(acc, lo), hi).
struct clamp_stage {
    std::int32_t lo = std::numeric_limits<std::int32_t>::min();
    std::int32_t hi = std::numeric_limits<std::int32_t>::max();
    constexpr std::int32_t operator()(std::int32_t acc, std::size_t) const noexcept {
        return std::min(std::max(acc, lo), hi);
    }
};

/// The final saturating narrowing to T (int8, uint8, int16 or int32).
template <class T>
struct saturate_to {
    static_assert(std::is_integral_v<T> && sizeof(T) <= sizeof(std::int32_t),
                  "approxnn: saturate_to<T> narrows an int32 accumulator to an integer type of at most 32 bits");
    using output_type = T;
    constexpr T operator()(std::int32_t acc, std::size_t) const noexcept {
        constexpr auto lo = static_cast<std::int64_t>(std::numeric_limits<T>::min());
        constexpr auto hi = static_cast<std::int64_t>(std::numeric_limits<T>::max());
        return static_cast<T>(std::min(std::max(static_cast<std::int64_t>(acc), lo), hi));
    }
};

namespace detail {
template <class Stage>
struct stage_output {
    using type = std::int32_t;
};
template <class T>
struct stage_output<saturate_to<T>> {
    using type = T;
};
}  // namespace detail

/// The element type a pipeline produces: the type of its last stage (int32 for an empty pipeline).
template <class Pipeline>
struct pipeline_output;
template <>
struct pipeline_output<std::tuple<>> {
    using type = std::int32_t;
};
template <class... Stages>
struct pipeline_output<std::tuple<Stages...>> {
    using type = typename detail::stage_output<std::tuple_element_t<sizeof...(Stages) - 1, std::tuple<Stages...>>>::type;
};
template <class Pipeline>
using pipeline_output_t = typename pipeline_output<std::remove_cvref_t<Pipeline>>::type;

namespace detail {
template <std::size_t I, class Pipeline>
constexpr auto apply_from(std::int32_t acc, std::size_t channel, const Pipeline& pipeline) noexcept {
    if constexpr (I == std::tuple_size_v<Pipeline>) {
        return acc;
    } else if constexpr (I + 1 == std::tuple_size_v<Pipeline>) {
        return std::get<I>(pipeline)(acc, channel);
    } else {
        static_assert(std::is_same_v<decltype(std::get<I>(pipeline)(acc, channel)), std::int32_t>,
                      "approxnn: only the last output stage may narrow the accumulator (saturate_to<T> goes last)");
        return apply_from<I + 1>(std::get<I>(pipeline)(acc, channel), channel, pipeline);
    }
}
}  // namespace detail

/// Runs every stage of the pipeline on the accumulator of output channel `channel`.
template <class Pipeline>
constexpr pipeline_output_t<Pipeline> apply_output_stages(std::int32_t acc, std::size_t channel,
                                                          const Pipeline& pipeline) noexcept {
    return detail::apply_from<0>(acc, channel, pipeline);
}

/// The usual int8/uint8 pipeline: bias, per-channel (or per-tensor) requantisation, clamp, saturating cast.
template <class T>
constexpr std::tuple<bias_stage, requantize_stage, clamp_stage, saturate_to<T>> quantized_output(
    const std::int32_t* bias, requantize_stage requantize, std::int32_t lo = std::numeric_limits<T>::min(),
    std::int32_t hi = std::numeric_limits<T>::max()) noexcept {
    return {bias_stage{bias}, requantize, clamp_stage{lo, hi}, saturate_to<T>{}};
}

}  // namespace approxnn
