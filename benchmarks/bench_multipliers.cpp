// Scalar throughput of multipliers in a dot product (MACs per second), and the cost of exhaustive statistics.
// Baseline: the exact product, registered beside each variant. The fast GEMM paths belong to benchmarks/bench_gemm.

#include <cstdint>
#include <random>
#include <vector>

#include <benchmark/benchmark.h>

#include "approxnn/multipliers/catalogue.hpp"
#include "approxnn/multipliers/families.hpp"
#include "approxnn/multipliers/statistics.hpp"
#include "approxnn/multipliers/table.hpp"

namespace {

namespace amul = approxnn::multipliers;

constexpr std::size_t length = 4096;

template <class Operand>
std::vector<Operand> random_codes(unsigned seed) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> dist(0, 255);
    std::vector<Operand> v(length);
    for (Operand& x : v) x = static_cast<Operand>(dist(rng));
    return v;
}

template <class M>
void policy_dot(benchmark::State& state) {
    using operand = typename M::operand_type;
    const auto a = random_codes<operand>(1);
    const auto w = random_codes<operand>(2);
    for (auto _ : state) {
        std::int32_t acc = 0;
        for (std::size_t i = 0; i < length; ++i) acc += approxnn::multiply_activation_weight<M>(a[i], w[i]);
        benchmark::DoNotOptimize(acc);
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * length));
}

template <class M>
void table_dot(benchmark::State& state) {
    using operand = typename M::operand_type;
    const auto a = random_codes<operand>(1);
    const auto w = random_codes<operand>(2);
    const amul::table_multiplier table = amul::table_multiplier::from_policy<M>();
    for (auto _ : state) {
        std::int32_t acc = 0;
        for (std::size_t i = 0; i < length; ++i) acc += table.multiply_activation_weight(a[i], w[i]);
        benchmark::DoNotOptimize(acc);
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * length));
}

void statistics_of_a_table(benchmark::State& state) {
    const amul::table_multiplier table = amul::table_multiplier::from_policy<amul::drum<std::uint8_t, 4>>();
    for (auto _ : state) benchmark::DoNotOptimize(amul::compute_statistics(table));
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * amul::table_entries));
}

void default_catalogue(benchmark::State& state) {
    for (auto _ : state) benchmark::DoNotOptimize(amul::default_catalogue());
}

}  // namespace

BENCHMARK(policy_dot<amul::exact<std::uint8_t>>)->Name("dot/u8/exact/policy");
BENCHMARK(policy_dot<amul::column_truncation<std::uint8_t, 4>>)->Name("dot/u8/column_truncation_k4/policy");
BENCHMARK(policy_dot<amul::drum<std::uint8_t, 4>>)->Name("dot/u8/drum_k4/policy");
BENCHMARK(policy_dot<amul::mitchell<std::uint8_t>>)->Name("dot/u8/mitchell/policy");
BENCHMARK(table_dot<amul::drum<std::uint8_t, 4>>)->Name("dot/u8/drum_k4/table");
BENCHMARK(policy_dot<amul::exact<std::int8_t>>)->Name("dot/s8/exact/policy");
BENCHMARK(policy_dot<amul::drum<std::int8_t, 4>>)->Name("dot/s8/drum_k4/policy");
BENCHMARK(table_dot<amul::drum<std::int8_t, 4>>)->Name("dot/s8/drum_k4/table");
BENCHMARK(statistics_of_a_table)->Name("statistics/one_table")->Unit(benchmark::kMillisecond);
BENCHMARK(default_catalogue)->Name("catalogue/default_90_entries")->Unit(benchmark::kMillisecond);
