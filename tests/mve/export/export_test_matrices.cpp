// Host side of the firmware round trip: encodes random int8 matrices with the library's encoder
// (sparse::dcsr_matrix) and exports them as C arrays (sparse::export_dcsr_c_header), with the dense matrix, an
// input vector and the expected output, into one header that the Cortex-M55 test program compiles in
// (tests/mve/target/test_exported.cpp). There the MVE kernels must reproduce the expected outputs and the target's
// test encoder must produce the same seven arrays: both encoders and both sides agree bit for bit.
//
//   export_test_matrices <output header>
#include <approxnn/sparse/dcsr_c_export.hpp>
#include <approxnn/sparse/dcsr_matrix.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

struct spec {
    std::uint32_t rows;
    std::uint32_t cols;
    double sparsity;
    bool row_index;
};

std::uint32_t next(std::uint32_t& state) {
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    return state;
}

template <class T>
void c_array(std::ostringstream& out, const char* type, const std::string& name, const std::vector<T>& data) {
    out << "static const " << type << " " << name << "[" << (data.empty() ? 1 : data.size()) << "] = {";
    for (std::size_t i = 0; i < data.size(); ++i) out << (i % 24 == 0 ? "\n    " : " ") << +data[i] << ",";
    if (data.empty()) out << "0";
    out << "\n};\n";
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: export_test_matrices <output header>\n");
        return 2;
    }
    try {
        const spec specs[] = {{4, 16, 0.5, false},  {7, 33, 0.0, false},   {16, 64, 0.9, false}, {9, 300, 0.95, true},
                              {12, 1536, 0.9, false}, {3, 4000, 0.99, false}, {20, 100, 1.0, false}};
        std::ostringstream out;
        out << "/* Written by tests/mve/export/export_test_matrices.cpp. Do not edit. */\n#pragma once\n\n";
        std::ostringstream table;
        std::uint32_t state = 20240611;
        int index = 0;
        for (const spec& s : specs) {
            std::vector<std::int8_t> dense(std::size_t{s.rows} * s.cols, 0);
            for (auto& v : dense) {
                const double u = static_cast<double>(next(state) >> 8) / 16777216.0;
                if (u >= s.sparsity) {
                    do {
                        v = static_cast<std::int8_t>(static_cast<std::uint8_t>(next(state) >> 24));
                    } while (v == 0);
                }
            }
            std::vector<std::int8_t> x(s.cols);
            for (auto& v : x) v = static_cast<std::int8_t>(static_cast<std::uint8_t>(next(state) >> 24));
            std::vector<std::int32_t> y(s.rows, 0);
            for (std::uint32_t r = 0; r < s.rows; ++r) {
                for (std::uint32_t c = 0; c < s.cols; ++c) y[r] += std::int32_t{dense[r * s.cols + c]} * x[c];
            }
            const auto m = approxnn::sparse::dcsr_matrix<std::int8_t>::from_dense(
                dense.data(), s.rows, s.cols, 0, approxnn::sparse::dcsr_build_options{s.row_index});
            const std::string name = "exported_" + std::to_string(index);
            std::string upper = name;
            for (char& c : upper) c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
            out << approxnn::sparse::export_dcsr_c_header(m, name) << "\n";
            c_array(out, "int8_t", name + "_dense", dense);
            c_array(out, "int8_t", name + "_x", x);
            c_array(out, "int32_t", name + "_y", y);
            out << "\n";
            table << "    {" << upper << "_VIEW_INITIALIZER, " << name << "_dense, " << name << "_x, " << name
                  << "_y, " << m.padding_zeros() << "u},\n";
            ++index;
        }
        out << "struct exported_case {\n    approxnn::sparse::dcsr_view<std::int8_t> w;\n"
            << "    const std::int8_t* dense;\n    const std::int8_t* x;\n    const std::int32_t* y;\n"
            << "    std::uint32_t padding;\n};\n\n"
            << "static const exported_case exported_cases[] = {\n" << table.str() << "};\n";
        std::ofstream file(argv[1], std::ios::binary | std::ios::trunc);
        file << out.str();
        if (!file.flush()) {
            std::fprintf(stderr, "export_test_matrices: cannot write %s\n", argv[1]);
            return 1;
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "export_test_matrices: %s\n", e.what());
        return 1;
    }
    return 0;
}
