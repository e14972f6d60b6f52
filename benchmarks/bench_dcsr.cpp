// dCSR benchmarks (Google Benchmark): SpMV (y = W·x) and SpMM (Y = W·X, 64 activation columns, i.e. a 1x1
// convolution over an 8x8 feature map) of int8 weights at 50, 70, 80, 90 and 95 % sparsity on 1024x1024,
// 4096x4096 and keyword-spotting shapes (64x64, 172x172, 276x276, 12x1536, 12x16560), against
//   dense_vnni      the dense int8 kernel of dense_baseline.hpp (AVX-512 VNNI vpdpbusd where present)
//   eigen_csr_f32   Eigen::SparseMatrix<float, RowMajor> times a float vector / matrix (the usual CPU choice)
//   eigen_csr_i32   the same with int32 values (exact integer arithmetic like the int8 kernels)
// dcsr is the best backend of this CPU on one thread; dcsr_mt adds the row-start index and every core.
//
// items_per_second counts the MACs of the DENSE product (rows x cols x columns) for every variant, so the rates
// compare directly (dCSR and CSR do fewer real multiplications). Counters: bytes = storage of the weights in that
// representation (dCSR: the format's exact size; dense: rows x cols; CSR: values + int32 column indices + int32 row
// pointers), nnz = non-zeros, bytes_per_nz.
//
// After the run, the floors of the issue are evaluated from the same run and printed (and --benchmark_filter
// keeps the numbers it needs). Usage: bench_dcsr [--benchmark_filter=REGEX] [Google Benchmark flags]

#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#if __has_include(<Eigen/Sparse>)
#include <Eigen/Sparse>
#define APPROXNN_BENCH_EIGEN 1
#else
#define APPROXNN_BENCH_EIGEN 0
#endif

#include "approxnn/sparse/dcsr_kernels.hpp"
#include "approxnn/sparse/dcsr_matrix.hpp"
#include "approxnn/sparse/dense_baseline.hpp"

namespace sp = approxnn::sparse;

namespace {

constexpr std::size_t spmm_columns = 64;

struct fixture {
    std::size_t rows = 0;
    std::size_t cols = 0;
    std::vector<std::int8_t> dense;
    std::uint64_t nonzeros = 0;
    sp::dcsr_matrix<std::int8_t> dcsr;
    sp::dcsr_matrix<std::int8_t> dcsr_indexed;
    std::unique_ptr<sp::dense_int8_matrix> prepared;
    std::vector<std::int8_t> x;  // spmm_columns columns of cols
#if APPROXNN_BENCH_EIGEN
    Eigen::SparseMatrix<float, Eigen::RowMajor, int> csr_f32;
    Eigen::SparseMatrix<std::int32_t, Eigen::RowMajor, int> csr_i32;
    Eigen::MatrixXf x_f32;
    Eigen::Matrix<std::int32_t, Eigen::Dynamic, Eigen::Dynamic> x_i32;
#endif
};

/// The matrix of a shape and sparsity (fixed seed), built once.
const fixture& get(std::size_t rows, std::size_t cols, int sparsity) {
    static std::map<std::tuple<std::size_t, std::size_t, int>, std::unique_ptr<fixture>> cache;
    std::unique_ptr<fixture>& slot = cache[{rows, cols, sparsity}];
    if (slot) return *slot;
    slot = std::make_unique<fixture>();
    fixture& f = *slot;
    f.rows = rows;
    f.cols = cols;
    std::mt19937 rng(static_cast<std::uint32_t>(rows * 7919 + cols * 31 + static_cast<std::size_t>(sparsity)));
    std::uniform_real_distribution<double> u(0.0, 1.0);
    std::uniform_int_distribution<int> v(-127, 127);
    f.dense.assign(rows * cols, 0);
    for (std::int8_t& e : f.dense) {
        if (u(rng) * 100.0 >= sparsity) {
            int value = v(rng);
            e = static_cast<std::int8_t>(value == 0 ? 1 : value);
            ++f.nonzeros;
        }
    }
    f.dcsr = sp::dcsr_matrix<std::int8_t>::from_dense(f.dense.data(), rows, cols);
    f.dcsr_indexed = sp::dcsr_matrix<std::int8_t>::from_dense(f.dense.data(), rows, cols, 0, {.row_index = true});
    f.prepared = std::make_unique<sp::dense_int8_matrix>(f.dense.data(), rows, cols);
    f.x.resize(cols * spmm_columns);
    for (std::int8_t& e : f.x) e = static_cast<std::int8_t>(v(rng));
#if APPROXNN_BENCH_EIGEN
    std::vector<Eigen::Triplet<float>> tf;
    std::vector<Eigen::Triplet<std::int32_t>> ti;
    tf.reserve(f.nonzeros);
    ti.reserve(f.nonzeros);
    for (std::size_t r = 0; r < rows; ++r) {
        for (std::size_t c = 0; c < cols; ++c) {
            const std::int8_t e = f.dense[r * cols + c];
            if (e != 0) {
                tf.emplace_back(static_cast<int>(r), static_cast<int>(c), static_cast<float>(e));
                ti.emplace_back(static_cast<int>(r), static_cast<int>(c), static_cast<std::int32_t>(e));
            }
        }
    }
    f.csr_f32.resize(static_cast<Eigen::Index>(rows), static_cast<Eigen::Index>(cols));
    f.csr_f32.setFromTriplets(tf.begin(), tf.end());
    f.csr_f32.makeCompressed();
    f.csr_i32.resize(static_cast<Eigen::Index>(rows), static_cast<Eigen::Index>(cols));
    f.csr_i32.setFromTriplets(ti.begin(), ti.end());
    f.csr_i32.makeCompressed();
    f.x_f32.resize(static_cast<Eigen::Index>(cols), static_cast<Eigen::Index>(spmm_columns));
    f.x_i32.resize(static_cast<Eigen::Index>(cols), static_cast<Eigen::Index>(spmm_columns));
    for (std::size_t p = 0; p < spmm_columns; ++p) {
        for (std::size_t c = 0; c < cols; ++c) {
            f.x_f32(static_cast<Eigen::Index>(c), static_cast<Eigen::Index>(p)) = f.x[p * cols + c];
            f.x_i32(static_cast<Eigen::Index>(c), static_cast<Eigen::Index>(p)) = f.x[p * cols + c];
        }
    }
#endif
    return f;
}

void set_counters(benchmark::State& state, const fixture& f, std::size_t columns, double bytes) {
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) *
                            static_cast<std::int64_t>(f.rows * f.cols * columns));
    state.counters["bytes"] = bytes;
    state.counters["nnz"] = static_cast<double>(f.nonzeros);
    state.counters["bytes_per_nz"] = f.nonzeros == 0 ? 0.0 : bytes / static_cast<double>(f.nonzeros);
}

double csr_bytes(const fixture& f, std::size_t value_bytes) {
    return static_cast<double>(f.nonzeros * (value_bytes + 4) + (f.rows + 1) * 4);
}

enum class variant { dcsr, dcsr_mt, dense_vnni, eigen_csr_f32, eigen_csr_i32 };

const char* variant_name(variant v) {
    switch (v) {
        case variant::dcsr: return "dcsr";
        case variant::dcsr_mt: return "dcsr_mt";
        case variant::dense_vnni: return "dense_vnni";
        case variant::eigen_csr_f32: return "eigen_csr_f32";
        case variant::eigen_csr_i32: return "eigen_csr_i32";
    }
    return "?";
}

void run(benchmark::State& state, std::size_t rows, std::size_t cols, int sparsity, variant v, std::size_t columns) {
    const fixture& f = get(rows, cols, sparsity);
    std::vector<std::int32_t> y(rows * columns);
    const std::span<const std::int8_t> x(f.x.data(), cols * columns);
    const std::span<std::int32_t> out(y);
    double bytes = 0;
    switch (v) {
        case variant::dcsr:
        case variant::dcsr_mt: {
            const sp::dcsr_matrix<std::int8_t>& m = v == variant::dcsr ? f.dcsr : f.dcsr_indexed;
            const sp::dcsr_kernel_options options{.threads = v == variant::dcsr ? 1U : 0U};
            for (auto _ : state) {
                if (columns == 1) {
                    sp::spmv(m, x, out, std::tuple<>{}, options);
                } else {
                    sp::spmm(m, x, columns, out, std::tuple<>{}, options);
                }
                benchmark::DoNotOptimize(y.data());
                benchmark::ClobberMemory();
            }
            bytes = static_cast<double>(m.size_bytes() + m.row_index_bytes());
            break;
        }
        case variant::dense_vnni:
            for (auto _ : state) {
                sp::dense_gemm(*f.prepared, x.data(), cols, columns, y.data(), rows);
                benchmark::DoNotOptimize(y.data());
                benchmark::ClobberMemory();
            }
            bytes = static_cast<double>(rows * cols);
            break;
#if APPROXNN_BENCH_EIGEN
        case variant::eigen_csr_f32: {
            Eigen::MatrixXf result(static_cast<Eigen::Index>(rows), static_cast<Eigen::Index>(columns));
            Eigen::VectorXf result_v(static_cast<Eigen::Index>(rows));
            const Eigen::VectorXf xv = f.x_f32.col(0);
            for (auto _ : state) {
                if (columns == 1) {
                    result_v.noalias() = f.csr_f32 * xv;
                    benchmark::DoNotOptimize(result_v.data());
                } else {
                    result.noalias() = f.csr_f32 * f.x_f32;
                    benchmark::DoNotOptimize(result.data());
                }
                benchmark::ClobberMemory();
            }
            bytes = csr_bytes(f, 4);
            break;
        }
        case variant::eigen_csr_i32: {
            Eigen::Matrix<std::int32_t, Eigen::Dynamic, Eigen::Dynamic> result(static_cast<Eigen::Index>(rows),
                                                                               static_cast<Eigen::Index>(columns));
            Eigen::Matrix<std::int32_t, Eigen::Dynamic, 1> result_v(static_cast<Eigen::Index>(rows));
            const Eigen::Matrix<std::int32_t, Eigen::Dynamic, 1> xv = f.x_i32.col(0);
            for (auto _ : state) {
                if (columns == 1) {
                    result_v.noalias() = f.csr_i32 * xv;
                    benchmark::DoNotOptimize(result_v.data());
                } else {
                    result.noalias() = f.csr_i32 * f.x_i32;
                    benchmark::DoNotOptimize(result.data());
                }
                benchmark::ClobberMemory();
            }
            bytes = csr_bytes(f, 4);
            break;
        }
#else
        case variant::eigen_csr_f32:
        case variant::eigen_csr_i32: state.SkipWithError("built without Eigen"); return;
#endif
    }
    set_counters(state, f, columns, bytes);
}

std::string benchmark_name(const char* kind, std::size_t rows, std::size_t cols, int sparsity, variant v) {
    return std::string(kind) + "/" + std::to_string(rows) + "x" + std::to_string(cols) + "/s" +
           std::to_string(sparsity) + "/" + variant_name(v);
}

/// Keeps the console output and remembers each run's time per iteration (ns) for the floor summary.
class recording_reporter : public benchmark::ConsoleReporter {
public:
    void ReportRuns(const std::vector<Run>& runs) override {
        for (const Run& r : runs) {
            if (!r.error_occurred) times[r.benchmark_name()] = r.GetAdjustedRealTime() * scale(r.time_unit);
        }
        ConsoleReporter::ReportRuns(runs);
    }
    std::map<std::string, double> times;

private:
    static double scale(benchmark::TimeUnit unit) {
        switch (unit) {
            case benchmark::kNanosecond: return 1.0;
            case benchmark::kMicrosecond: return 1e3;
            case benchmark::kMillisecond: return 1e6;
            case benchmark::kSecond: return 1e9;
        }
        return 1.0;
    }
};

void print_floor(const recording_reporter& rep, const std::string& what, const std::string& slow,
                 const std::string& fast, double floor) {
    const auto a = rep.times.find(slow);
    const auto b = rep.times.find(fast);
    if (a == rep.times.end() || b == rep.times.end()) {
        std::printf("%-72s not measured in this run\n", what.c_str());
        return;
    }
    const double ratio = a->second / b->second;
    if (floor > 0) {
        std::printf("%-72s %6.2fx  (floor %.1fx: %s)\n", what.c_str(), ratio, floor,
                    ratio >= floor ? "MET" : "NOT MET");
    } else {
        std::printf("%-72s %6.2fx  (reported, no floor)\n", what.c_str(), ratio);
    }
}

}  // namespace

int main(int argc, char** argv) {
    struct shape {
        std::size_t rows, cols;
    };
    const shape shapes[] = {{1024, 1024}, {4096, 4096}, {64, 64}, {172, 172}, {276, 276}, {12, 1536}, {12, 16560}};
    const int sparsities[] = {50, 70, 80, 90, 95};
    for (const char* kind : {"spmv", "spmm"}) {
        const std::size_t columns = std::string(kind) == "spmv" ? 1 : spmm_columns;
        for (const shape s : shapes) {
            for (const int sparsity : sparsities) {
                for (const variant v : {variant::dcsr, variant::dcsr_mt, variant::dense_vnni, variant::eigen_csr_f32,
                                        variant::eigen_csr_i32}) {
                    if (v == variant::dcsr_mt && s.rows * s.cols < 1024 * 1024) continue;  // small: one thread
                    benchmark::RegisterBenchmark(
                        benchmark_name(kind, s.rows, s.cols, sparsity, v).c_str(),
                        [=](benchmark::State& st) { run(st, s.rows, s.cols, sparsity, v, columns); })
                        ->Unit(benchmark::kMicrosecond);
                }
            }
        }
    }
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    recording_reporter reporter;
    benchmark::RunSpecifiedBenchmarks(&reporter);
    std::printf("\nFloors (time ratios from this run; dCSR on one thread, backend %s; dense backend %s):\n",
                std::string(sp::backend_name()).c_str(), std::string(sp::dense_backend_name()).c_str());
    print_floor(reporter, "SpMV 1024x1024 s90: Eigen CSR f32 time / dCSR time", "spmv/1024x1024/s90/eigen_csr_f32",
                "spmv/1024x1024/s90/dcsr", 1.5);
    print_floor(reporter, "SpMV 1024x1024 s90: Eigen CSR i32 time / dCSR time", "spmv/1024x1024/s90/eigen_csr_i32",
                "spmv/1024x1024/s90/dcsr", 1.5);
    print_floor(reporter, "SpMV 4096x4096 s90: dense VNNI time / dCSR time", "spmv/4096x4096/s90/dense_vnni",
                "spmv/4096x4096/s90/dcsr", 2.0);
    print_floor(reporter, "SpMV 1024x1024 s90: dense VNNI time / dCSR time (L2-resident)",
                "spmv/1024x1024/s90/dense_vnni", "spmv/1024x1024/s90/dcsr", 0.0);
    benchmark::Shutdown();
    return 0;
}
