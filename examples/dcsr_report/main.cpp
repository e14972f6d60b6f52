// dcsr_report: storage of int8 weight matrices as dense, CSR16 and dCSR at several sparsities, in bytes and bytes
// per non-zero, as a table, a CSV and a PNG plot. Random matrices with a fixed seed (uniform sparsity, non-zeros
// uniform in [-127, 127] \ {0}), the dCSR size is the format's exact size (dcsr-format.md §2).
//
//   dcsr_report                                   the default shapes and sparsities, seed 1
//   dcsr_report --shape 1024x1024 --sparsity 90   one shape, one sparsity (repeatable)
//   dcsr_report --check-floor 2.1                 exit 1 unless dCSR stays <= 2.1 bytes/non-zero at 80 % sparsity
//
// Formats (bytes):
//   dense   rows · cols (int8)
//   CSR16   int8 values + uint16 column indices + row pointers (rows + 1 entries of uint16 when nnz < 65536,
//           uint32 otherwise)
//   dCSR    N + 16·ceil(Gt/2) + Gt + ceil(Gt/2) + 2E + 2R + 4 (padding zeros included in N; no row-start index)

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "approxnn/core/error.hpp"
#include "approxnn/sparse/dcsr_matrix.hpp"
#include "gnuplot.hpp"

namespace fs = std::filesystem;
namespace sp = approxnn::sparse;

namespace {

struct shape {
    std::size_t rows = 0;
    std::size_t cols = 0;
    [[nodiscard]] std::string name() const { return std::to_string(rows) + "x" + std::to_string(cols); }
};

shape parse_shape(const std::string& text) {
    const std::size_t x = text.find('x');
    if (x == std::string::npos) throw approxnn::parameter_error("--shape '" + text + "': expected ROWSxCOLS");
    try {
        std::size_t used_rows = 0;
        std::size_t used_cols = 0;
        const shape s{std::stoul(text.substr(0, x), &used_rows), std::stoul(text.substr(x + 1), &used_cols)};
        if (used_rows != x || used_cols != text.size() - x - 1 || s.rows == 0 || s.cols == 0) throw std::exception();
        return s;
    } catch (const std::exception&) {
        throw approxnn::parameter_error("--shape '" + text + "': expected ROWSxCOLS with positive integers");
    }
}

struct row {
    shape s;
    int sparsity = 0;
    std::uint64_t nonzeros = 0;
    std::uint64_t dense = 0;
    std::uint64_t csr16 = 0;
    std::uint64_t dcsr = 0;
    std::uint64_t padding = 0;
    std::uint32_t groups = 0;
    std::size_t bitmasks = 0;
    [[nodiscard]] double per_nz(std::uint64_t bytes) const {
        return nonzeros == 0 ? 0.0 : static_cast<double>(bytes) / static_cast<double>(nonzeros);
    }
};

row measure(const shape& s, int sparsity, std::uint32_t seed) {
    std::mt19937 rng(seed ^
                     static_cast<std::uint32_t>(s.rows * 7919 + s.cols * 31 + static_cast<std::size_t>(sparsity)));
    std::uniform_real_distribution<double> u(0.0, 100.0);
    std::uniform_int_distribution<int> v(-127, 127);
    std::vector<std::int8_t> d(s.rows * s.cols, 0);
    row r;
    r.s = s;
    r.sparsity = sparsity;
    for (std::int8_t& e : d) {
        if (u(rng) >= sparsity) {
            const int value = v(rng);
            e = static_cast<std::int8_t>(value == 0 ? 1 : value);
            ++r.nonzeros;
        }
    }
    const auto m = sp::dcsr_matrix<std::int8_t>::from_dense(d.data(), s.rows, s.cols);
    r.dense = s.rows * s.cols;
    r.csr16 = 3 * r.nonzeros + (s.rows + 1) * (r.nonzeros < 65536 ? 2 : 4);
    r.dcsr = m.size_bytes();
    r.padding = m.padding_zeros();
    r.groups = m.groups();
    r.bitmasks = m.bitmasks().size();
    if (m.nonzeros() != r.nonzeros) throw std::logic_error("dcsr_report: non-zero count mismatch");
    return r;
}

void write_plot(const std::vector<row>& rows, const std::vector<shape>& shapes, const fs::path& dir) {
    // One data block per series for gnuplot's `index`: dense and CSR16 of the first shape, dCSR of every shape.
    const fs::path data = dir / "dcsr_report.dat";
    std::ofstream out(data);
    const auto block = [&](const shape& s, int format) {
        out << "# " << s.name() << " format " << format << "\n";
        for (const row& r : rows) {
            if (r.s.rows != s.rows || r.s.cols != s.cols || r.nonzeros == 0) continue;
            const std::uint64_t bytes = format == 0 ? r.dense : (format == 1 ? r.csr16 : r.dcsr);
            out << r.sparsity << " " << r.per_nz(bytes) << "\n";
        }
        out << "\n\n";
    };
    block(shapes.front(), 0);
    block(shapes.front(), 1);
    for (const shape& s : shapes) block(s, 2);
    out.close();
    const fs::path png = dir / "dcsr_report.png";
    std::ostringstream script;
    script << "set terminal pngcairo size 1000,650 font 'sans,11'\n"
           << "set output " << examples::gnuplot_string(png.string()) << "\n"
           << "set title 'Bytes per non-zero of int8 weight matrices (random, uniform sparsity)'\n"
           << "set xlabel 'sparsity (%)'\nset ylabel 'bytes per non-zero'\nset logscale y\nset grid\n"
           << "set key outside right\n"
           << "plot " << examples::gnuplot_string(data.string()) << " index 0 using 1:2 with linespoints lw 2 title "
           << examples::gnuplot_string("dense " + shapes.front().name())
           << ", '' index 1 using 1:2 with linespoints lw 2 title "
           << examples::gnuplot_string("CSR16 " + shapes.front().name());
    for (std::size_t i = 0; i < shapes.size(); ++i) {
        script << ", '' index " << i + 2 << " using 1:2 with linespoints title "
               << examples::gnuplot_string("dCSR " + shapes[i].name());
    }
    script << "\n";
    examples::run_gnuplot(script.str(), png);
    std::printf("plot: %s\n", png.string().c_str());
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"approxnn dcsr_report: bytes and bytes per non-zero of dense, CSR16 and dCSR int8 matrices"};
    std::string output = "approxnn-output/dcsr";
    std::vector<std::string> shape_texts;
    std::vector<int> sparsities;
    std::uint32_t seed = 1;
    double floor = 0.0;
    bool no_plot = false;
    app.add_option("--output", output, "directory for dcsr_report.csv and dcsr_report.png")->capture_default_str();
    app.add_option("--shape", shape_texts,
                   "ROWSxCOLS (repeatable; default 1024x1024 4096x4096 64x64 172x172 276x276 12x1536 12x16560)");
    app.add_option("--sparsity", sparsities, "percent of zeros (repeatable; default 50 70 80 90 95)")
        ->check(CLI::Range(0, 100));
    app.add_option("--seed", seed, "random seed of the matrices")->capture_default_str();
    app.add_option("--check-floor", floor,
                   "exit with status 1 unless dCSR needs at most this many bytes per non-zero at 80 % sparsity");
    app.add_flag("--no-plot", no_plot, "write the CSV only");
    CLI11_PARSE(app, argc, argv);

    try {
        std::vector<shape> shapes;
        for (const std::string& t : shape_texts) shapes.push_back(parse_shape(t));
        if (shapes.empty()) {
            shapes = {{1024, 1024}, {4096, 4096}, {64, 64}, {172, 172}, {276, 276}, {12, 1536}, {12, 16560}};
        }
        if (sparsities.empty()) sparsities = {50, 70, 80, 90, 95};
        std::vector<row> rows;
        std::printf("%-10s %4s %9s %10s %10s %10s %7s %7s %7s %8s\n", "shape", "sp%", "nonzeros", "dense B", "CSR16 B",
                    "dCSR B", "dense/nz", "CSR16/nz", "dCSR/nz", "padding");
        for (const shape& s : shapes) {
            for (const int sparsity : sparsities) {
                const row r = measure(s, sparsity, seed);
                std::printf("%-10s %4d %9llu %10llu %10llu %10llu %7.3f %8.3f %7.3f %8llu\n", s.name().c_str(),
                            sparsity, static_cast<unsigned long long>(r.nonzeros),
                            static_cast<unsigned long long>(r.dense), static_cast<unsigned long long>(r.csr16),
                            static_cast<unsigned long long>(r.dcsr), r.per_nz(r.dense), r.per_nz(r.csr16),
                            r.per_nz(r.dcsr), static_cast<unsigned long long>(r.padding));
                rows.push_back(r);
            }
        }
        fs::create_directories(output);
        const fs::path csv = fs::path(output) / "dcsr_report.csv";
        std::ofstream out(csv);
        if (!out) throw approxnn::io_error("cannot write " + csv.string());
        out << "shape,rows,cols,sparsity_percent,nonzeros,dense_bytes,csr16_bytes,dcsr_bytes,dense_bytes_per_nz,"
               "csr16_bytes_per_nz,dcsr_bytes_per_nz,dcsr_padding_zeros,dcsr_groups,dcsr_bitmasks,seed\n";
        for (const row& r : rows) {
            out << r.s.name() << ',' << r.s.rows << ',' << r.s.cols << ',' << r.sparsity << ',' << r.nonzeros << ','
                << r.dense << ',' << r.csr16 << ',' << r.dcsr << ',' << r.per_nz(r.dense) << ',' << r.per_nz(r.csr16)
                << ',' << r.per_nz(r.dcsr) << ',' << r.padding << ',' << r.groups << ',' << r.bitmasks << ',' << seed
                << '\n';
        }
        out.close();
        std::printf("\ntable: %s\n", csv.string().c_str());
        if (!no_plot) write_plot(rows, shapes, output);
        if (floor > 0) {
            bool met = true;
            bool measured = false;
            for (const row& r : rows) {
                if (r.sparsity != 80) continue;
                measured = true;
                const double b = r.per_nz(r.dcsr);
                if (b > floor) {
                    met = false;
                    std::printf("floor NOT met: %s at 80 %%: %.3f bytes per non-zero > %.3f\n", r.s.name().c_str(), b,
                                floor);
                }
            }
            if (!measured) throw approxnn::parameter_error("--check-floor needs --sparsity 80 among the sparsities");
            std::printf("floor: dCSR <= %.2f bytes per non-zero at 80 %% sparsity on every shape: %s\n", floor,
                        met ? "MET" : "NOT MET");
            if (!met) return 1;
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "dcsr_report: %s\n", e.what());
        return 2;
    }
    return 0;
}
