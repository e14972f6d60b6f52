// Convolution throughput per kernel path, in multiply-accumulates per second (items_per_second = MACs per call).
// Baselines beside the paths: the scalar reference convolution, a torch-style naive loop (direct convolution with a
// table lookup per product), and the exact kernel. Single-threaded unless the name ends in /threads:2.
//
//   build/release/benchmarks/bench_conv
//
// Layers: a 3x3 convolution whose im2col GEMM is M = 64, K = 576, N = 3136 (56x56x64 -> 64), a MobileNetV2 depthwise
// 3x3 layer (112x112x32), and a pointwise layer (28x28x32 -> 192).

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "approxnn/conv/conv2d.hpp"
#include "approxnn/multipliers/families.hpp"

namespace {

namespace am = approxnn::multipliers;
namespace ag = approxnn::gemm;
namespace ac = approxnn::conv;

struct layer {
    const char* name;
    std::size_t height, width, in_channels, out_channels, kernel;
    ac::conv2d_params params;
};

ac::conv2d_params padded(std::size_t p, std::size_t groups = 1) {
    ac::conv2d_params q = ac::conv2d_params{}.with_padding(p);
    q.groups = groups;
    return q;
}

const layer layers[] = {
    {"conv3x3_56x56x64_64", 56, 56, 64, 64, 3, padded(1)},
    {"depthwise3x3_112x112x32", 112, 112, 32, 32, 3, padded(1, 32)},
    {"pointwise_28x28x32_192", 28, 28, 32, 192, 1, padded(0)},
};

template <class T>
struct tensors {
    std::vector<T> input, filters;
    std::vector<std::int32_t> output;
    ac::output_size size;
    std::size_t in_per_group;
    explicit tensors(const layer& l) {
        in_per_group = l.in_channels / l.params.groups;
        size = ac::conv2d_output_size(l.height, l.width, l.in_channels, l.kernel, l.kernel, in_per_group,
                                      l.out_channels, l.params);
        std::mt19937 rng(7);
        std::uniform_int_distribution<int> codes(0, 255);
        input.resize(l.height * l.width * l.in_channels);
        filters.resize(l.out_channels * l.kernel * l.kernel * in_per_group);
        output.resize(size.height * size.width * l.out_channels);
        for (T& v : input) v = static_cast<T>(codes(rng));
        for (T& v : filters) v = static_cast<T>(codes(rng));
    }
    [[nodiscard]] std::size_t macs(const layer& l) const {
        return size.height * size.width * l.out_channels * l.kernel * l.kernel * in_per_group;
    }
};

template <class M>
void run_path(benchmark::State& state, layer l, ag::kernel_path path, unsigned threads) {
    using T = approxnn::operand_t<M>;
    tensors<T> t(l);
    ag::gemm_options options;
    options.path = path;
    options.threads = threads;
    const ac::nhwc_view<const T> in{t.input.data(), 1, l.height, l.width, l.in_channels};
    const ac::ohwi_view<const T> f{t.filters.data(), l.out_channels, l.kernel, l.kernel, t.in_per_group};
    const ac::nhwc_view<std::int32_t> out{t.output.data(), 1, t.size.height, t.size.width, l.out_channels};
    for (auto _ : state) {
        ac::conv2d<M>(in, f, out, l.params, std::tuple<>{}, options);
        benchmark::DoNotOptimize(t.output.data());
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * t.macs(l)));
}

/// Direct convolution with one table lookup per product, as CPU simulators of approximate multipliers do.
template <class M>
void naive_loop(benchmark::State& state, layer l) {
    using T = approxnn::operand_t<M>;
    tensors<T> t(l);
    const am::table_multiplier table = am::table_multiplier::from_policy<M>();
    const auto products = table.products();
    const std::size_t out_per_group = l.out_channels / l.params.groups;
    for (auto _ : state) {
        for (std::size_t y = 0; y < t.size.height; ++y) {
            for (std::size_t x = 0; x < t.size.width; ++x) {
                for (std::size_t o = 0; o < l.out_channels; ++o) {
                    const std::size_t g = o / out_per_group;
                    std::int32_t acc = 0;
                    for (std::size_t i = 0; i < l.kernel; ++i) {
                        for (std::size_t j = 0; j < l.kernel; ++j) {
                            const auto iy = static_cast<std::ptrdiff_t>(y + i) - static_cast<std::ptrdiff_t>(l.params.pad_top);
                            const auto ix = static_cast<std::ptrdiff_t>(x + j) - static_cast<std::ptrdiff_t>(l.params.pad_left);
                            if (iy < 0 || ix < 0 || iy >= static_cast<std::ptrdiff_t>(l.height) ||
                                ix >= static_cast<std::ptrdiff_t>(l.width)) {
                                continue;
                            }
                            for (std::size_t c = 0; c < t.in_per_group; ++c) {
                                const T a = t.input[(static_cast<std::size_t>(iy) * l.width + static_cast<std::size_t>(ix)) *
                                                        l.in_channels + g * t.in_per_group + c];
                                const T w = t.filters[((o * l.kernel + i) * l.kernel + j) * t.in_per_group + c];
                                acc += products[std::size_t{static_cast<std::uint8_t>(a)} * 256 + static_cast<std::uint8_t>(w)];
                            }
                        }
                    }
                    t.output[(y * t.size.width + x) * l.out_channels + o] = acc;
                }
            }
        }
        benchmark::DoNotOptimize(t.output.data());
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * t.macs(l)));
}

template <class M>
void register_path(const std::string& multiplier, const char* path_name, ag::kernel_path path) {
    for (const layer& l : layers) {
        const std::string base = std::string("conv/") + l.name + "/" + multiplier + "/" + path_name;
        auto* b = benchmark::RegisterBenchmark(base.c_str(), run_path<M>, l, path, 1U);
        if (path == ag::kernel_path::reference) {
            b->Iterations(1);
        } else {
            benchmark::RegisterBenchmark((base + "/threads:2").c_str(), run_path<M>, l, path, 2U)->UseRealTime();
        }
    }
}

const bool registered = [] {
    using exact = am::exact<std::int8_t>;
    using drum = am::drum<std::int8_t, 4>;
    using truncated2 = am::column_truncation<std::int8_t, 2>;
    using truncated3 = am::column_truncation<std::int8_t, 3>;
    register_path<exact>("exact_s8", "reference", ag::kernel_path::reference);
    register_path<exact>("exact_s8", "exact", ag::kernel_path::exact);
    register_path<drum>("drum_s8_k4", "reference", ag::kernel_path::reference);
    for (const layer& l : layers) {
        const std::string name = std::string("conv/") + l.name + "/drum_s8_k4/naive_loop";
        benchmark::RegisterBenchmark(name.c_str(), naive_loop<drum>, l)->Iterations(1);
    }
    register_path<drum>("drum_s8_k4", "table", ag::kernel_path::table);
    register_path<truncated3>("column_truncation_s8_k3", "error_plane", ag::kernel_path::error_plane);
    register_path<truncated2>("column_truncation_s8_k2", "decomposed", ag::kernel_path::decomposed);
    return true;
}();

}  // namespace
