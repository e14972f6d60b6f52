// GEMM throughput per kernel path, in multiply-accumulates per second (items_per_second = M * N * K per call).
// Baselines registered beside the paths: the scalar reference (the oracle), a torch-style naive m-n-k loop over a
// lookup table, and the exact kernel. Single-threaded unless the name ends in /threads:2.
//
//   build/release/benchmarks/bench_gemm --benchmark_filter=1024
//
// Shapes: 256^3, 1024^3, and a convolution lowered by im2col (M = 64, K = 576, N = 3136).

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "approxnn/gemm/gemm.hpp"
#include "approxnn/multipliers/families.hpp"

namespace {

namespace am = approxnn::multipliers;
namespace ag = approxnn::gemm;

struct shape {
    const char* name;
    std::size_t m, n, k;
};
constexpr shape shapes[] = {{"256x256x256", 256, 256, 256}, {"1024x1024x1024", 1024, 1024, 1024},
                            {"conv_64x3136x576", 64, 3136, 576}};

template <class T>
struct operands {
    std::vector<T> weights, activations;
    std::vector<std::int32_t> out;
    explicit operands(const shape& s) : weights(s.m * s.k), activations(s.k * s.n), out(s.m * s.n) {
        std::mt19937 rng(42);
        std::uniform_int_distribution<int> codes(0, 255);
        for (T& v : weights) v = static_cast<T>(codes(rng));
        for (T& v : activations) v = static_cast<T>(codes(rng));
    }
};

void set_macs(benchmark::State& state, const shape& s) {
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * s.m * s.n * s.k));
}

template <class M>
void run_path(benchmark::State& state, shape s, ag::kernel_path path, unsigned threads) {
    using T = approxnn::operand_t<M>;
    operands<T> o(s);
    ag::gemm_options options;
    options.path = path;
    options.threads = threads;
    const auto w = ag::row_major<const T>(o.weights.data(), s.m, s.k);
    const auto x = ag::row_major<const T>(o.activations.data(), s.k, s.n);
    const auto c = ag::row_major(o.out.data(), s.m, s.n);
    for (auto _ : state) {
        ag::gemm<M>(w, x, c, std::tuple<>{}, options);
        benchmark::DoNotOptimize(o.out.data());
    }
    set_macs(state, s);
}

/// What CPU tools do: C[m][n] += T[A[m][k]][B[k][n]] in m, n, k order.
template <class M>
void naive_loop(benchmark::State& state, shape s) {
    using T = approxnn::operand_t<M>;
    operands<T> o(s);
    const am::table_multiplier table = am::table_multiplier::from_policy<M>();
    const auto products = table.products();
    for (auto _ : state) {
        for (std::size_t m = 0; m < s.m; ++m) {
            for (std::size_t n = 0; n < s.n; ++n) {
                std::int32_t acc = 0;
                for (std::size_t k = 0; k < s.k; ++k) {
                    acc += products[std::size_t{static_cast<std::uint8_t>(o.activations[k * s.n + n])} * 256 +
                                    static_cast<std::uint8_t>(o.weights[m * s.k + k])];
                }
                o.out[m * s.n + n] = acc;
            }
        }
        benchmark::DoNotOptimize(o.out.data());
    }
    set_macs(state, s);
}

template <class M>
void register_path(const std::string& multiplier, const char* path_name, ag::kernel_path path) {
    for (const shape& s : shapes) {
        const std::string base = std::string("gemm/") + s.name + "/" + multiplier + "/" + path_name;
        auto* b = benchmark::RegisterBenchmark(base.c_str(), run_path<M>, s, path, 1U);
        if (path == ag::kernel_path::reference) b->Iterations(1);
        if (path != ag::kernel_path::reference) {
            benchmark::RegisterBenchmark((base + "/threads:2").c_str(), run_path<M>, s, path, 2U)->UseRealTime();
        }
    }
}

template <class M>
void register_naive(const std::string& multiplier) {
    for (const shape& s : shapes) {
        const std::string name = std::string("gemm/") + s.name + "/" + multiplier + "/naive_loop";
        benchmark::RegisterBenchmark(name.c_str(), naive_loop<M>, s)->Iterations(1);
    }
}

const bool registered = [] {
    using exact = am::exact<std::int8_t>;
    using drum = am::drum<std::int8_t, 4>;             // any table: table path
    using truncated1 = am::column_truncation<std::int8_t, 1>;
    using truncated2 = am::column_truncation<std::int8_t, 2>;
    using truncated3 = am::column_truncation<std::int8_t, 3>;
    register_path<exact>("exact_s8", "reference", ag::kernel_path::reference);
    register_path<exact>("exact_s8", "exact", ag::kernel_path::exact);
    register_path<drum>("drum_s8_k4", "reference", ag::kernel_path::reference);
    register_naive<drum>("drum_s8_k4");
    register_path<drum>("drum_s8_k4", "table", ag::kernel_path::table);
    register_path<truncated3>("column_truncation_s8_k3", "error_plane", ag::kernel_path::error_plane);
    register_path<truncated3>("column_truncation_s8_k3", "table", ag::kernel_path::table);
    register_path<truncated1>("column_truncation_s8_k1", "decomposed", ag::kernel_path::decomposed);
    register_path<truncated2>("column_truncation_s8_k2", "decomposed", ag::kernel_path::decomposed);
    register_path<truncated3>("column_truncation_s8_k3", "decomposed", ag::kernel_path::decomposed);
    return true;
}();

}  // namespace
