// The C export: the generated header compiles with the host compiler as C++ (with the view initialiser, validated
// and multiplied by the freestanding reference kernel) and as C99, and reproduces the matrix exactly.

#include <doctest/doctest.h>

#include <sys/wait.h>

#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "approxnn/core/error.hpp"
#include "approxnn/sparse/dcsr_c_export.hpp"
#include "approxnn/sparse/dcsr_reference.hpp"
#include "dcsr_test_support.hpp"
#include "test_support.hpp"

namespace sp = approxnn::sparse;
namespace fs = std::filesystem;
using i8 = std::int8_t;

namespace {

/// Runs a shell command, returns its exit status and output.
std::pair<int, std::string> run(const std::string& command, const fs::path& output) {
    const int status = std::system((command + " > '" + output.string() + "' 2>&1").c_str());
    return {status, test_support::read_bytes(output)};
}

template <class Value>
void check_export(const sp::dcsr_matrix<Value>& m, const std::string& name, const test_support::scratch_dir& dir) {
    const fs::path header = dir / (name + ".h");
    sp::save_dcsr_c_header(header, m, name);
    CHECK_FALSE(fs::exists(dir / (name + ".h.partial")));
    std::string upper = name;
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    const char* type =
        std::is_same_v<Value, i8> ? "std::int8_t" : (std::is_same_v<Value, float> ? "float" : "std::int16_t");
    const char* c_struct = std::is_same_v<Value, i8>
                               ? "approxnn_dcsr_view_s8"
                               : (std::is_same_v<Value, float> ? "approxnn_dcsr_view_f32" : "approxnn_dcsr_view_s16");

    // C++: the view initialiser, validation with status codes, then every stored element printed.
    {
        std::ofstream cpp(dir / (name + "_consumer.cpp"));
        cpp << "#include <cstdio>\n#include \"approxnn/sparse/dcsr_view.hpp\"\n#include \"" << name << ".h\"\n"
            << "int main() {\n"
            << "    const approxnn::sparse::dcsr_view<" << type << "> w = " << upper << "_VIEW_INITIALIZER;\n"
            << "    const approxnn::sparse::dcsr_validation v = approxnn::sparse::validate_dcsr(w);\n"
            << "    if (!v.ok()) { std::printf(\"invalid %d\\n\", static_cast<int>(v.defect)); return 1; }\n"
            << "    static_assert(" << upper << "_BYTES > 0);\n"
            << "    approxnn::sparse::dcsr_for_each(w, [](std::uint32_t r, std::uint32_t c, " << type << " x) {\n"
            << "        std::printf(\"%u %u %.9g\\n\", r, c, static_cast<double>(x)); });\n"
            << "    return w.has_row_index() ? 2 : 0;\n}\n";
    }
    const fs::path exe = dir / (name + "_consumer");
    const std::string compile = std::string(APPROXNN_CXX_COMPILER) +
                                " -std=c++20 -Wall -Wextra -Wpedantic -Werror -I '" + APPROXNN_INCLUDE_DIR + "' -I '" +
                                dir.path().string() + "' '" + (dir / (name + "_consumer.cpp")).string() + "' -o '" +
                                exe.string() + "'";
    const std::pair<int, std::string> compiled = run(compile, dir / (name + "_compile.log"));
    REQUIRE_MESSAGE(compiled.first == 0, compiled.second);
    const std::pair<int, std::string> ran = run("'" + exe.string() + "'", dir / (name + "_run.log"));
    CHECK(WEXITSTATUS(ran.first) == (m.has_row_index() ? 2 : 0));
    const std::string& out = ran.second;
    std::ostringstream expected;
    m.for_each([&](std::uint32_t r, std::uint32_t c, Value x) {
        char line[64];
        std::snprintf(line, sizeof line, "%u %u %.9g\n", r, c, static_cast<double>(x));
        expected << line;
    });
    CHECK(out == expected.str());

    // C99: the header alone, the C view struct from the same initialiser.
    {
        std::ofstream c(dir / (name + "_consumer.c"));
        c << "#include <stdio.h>\n#include \"" << name << ".h\"\n"
          << "int main(void) {\n"
          << "    struct " << c_struct << " w = " << upper << "_VIEW_INITIALIZER;\n"
          << "    double sum = 0;\n    unsigned i;\n"
          << "    for (i = 0; i < w.values_size; ++i) sum += (double)w.values[i];\n"
          << "    printf(\"%u %u %u %u %.9g\\n\", w.rows, w.cols, w.nnze, (unsigned)w.bitmasks_size, sum);\n"
          << "    return 0;\n}\n";
    }
    const fs::path c_exe = dir / (name + "_consumer_c");
    const std::string compile_c = std::string(APPROXNN_CXX_COMPILER) +
                                  " -x c -std=c99 -Wall -Wextra -pedantic -Werror -I '" + dir.path().string() + "' '" +
                                  (dir / (name + "_consumer.c")).string() + "' -o '" + c_exe.string() + "'";
    const std::pair<int, std::string> c_compiled = run(compile_c, dir / (name + "_compile_c.log"));
    REQUIRE_MESSAGE(c_compiled.first == 0, c_compiled.second);
    const std::pair<int, std::string> c_ran = run("'" + c_exe.string() + "'", dir / (name + "_run_c.log"));
    CHECK(c_ran.first == 0);
    const std::string& c_out = c_ran.second;
    double sum = 0;
    for (const Value x : m.values()) sum += static_cast<double>(x);
    char line[128];
    std::snprintf(line, sizeof line, "%u %u %u %u %.9g\n", m.rows(), m.cols(), m.nnze(),
                  static_cast<unsigned>(m.bitmasks().size()), sum);
    CHECK(c_out == line);
}

}  // namespace

TEST_CASE("dcsr C export: the generated header compiles as C++ and C and reproduces the matrix") {
    test_support::scratch_dir dir("sparse", "c_export");
    SUBCASE("the worked example (no bitmasks: an empty array)") {
        std::vector<i8> d(4 * 16, 0);
        d[1] = 5;
        d[4] = -3;
        d[6] = 7;
        d[11] = 2;
        d[16] = 1;
        d[63] = -128;
        const auto m = sp::dcsr_matrix<i8>::from_dense(d.data(), 4, 16);
        REQUIRE(m.bitmasks().empty());
        check_export(m, "worked", dir);
        const std::string text = sp::export_dcsr_c_header(m, "worked");
        CHECK(test_support::contains(text, "#define WORKED_BYTES " + std::to_string(m.size_bytes()) + "u"));
        CHECK(test_support::contains(text, "0, 0u"));  // the empty bitmasks
    }
    SUBCASE("a random matrix with bitmasks, padding and the row-start index") {
        const std::vector<i8> d = dcsr_test::random_sparse(20, 700, 0.95, 3);
        const auto m = sp::dcsr_matrix<i8>::from_dense(d.data(), 20, 700, 0, {.row_index = true});
        REQUIRE_FALSE(m.bitmasks().empty());
        REQUIRE(m.padding_zeros() > 0);
        check_export(m, "fc1_weights", dir);
    }
    SUBCASE("float and int16 values") {
        const std::vector<i8> d = dcsr_test::random_sparse(6, 40, 0.7, 4);
        std::vector<float> df(d.size());
        std::vector<std::int16_t> d16(d.size());
        for (std::size_t i = 0; i < d.size(); ++i) {
            df[i] = static_cast<float>(d[i]) / 7.0f;
            d16[i] = static_cast<std::int16_t>(d[i] == -128 ? -32768 : d[i] * 255);
        }
        check_export(sp::dcsr_matrix<float>::from_dense(df.data(), 6, 40), "float_layer", dir);
        check_export(sp::dcsr_matrix<std::int16_t>::from_dense(d16.data(), 6, 40), "wide_layer", dir);
    }
}

TEST_CASE("dcsr C export: a name that is not a C identifier is refused") {
    const std::vector<i8> d(4, 1);
    const auto m = sp::dcsr_matrix<i8>::from_dense(d.data(), 2, 2);
    test_support::check_throws_with<approxnn::parameter_error>([&] { (void)sp::export_dcsr_c_header(m, "1fc"); },
                                                               {"'1fc' is not a C identifier"});
    test_support::check_throws_with<approxnn::parameter_error>([&] { (void)sp::export_dcsr_c_header(m, "fc-1"); },
                                                               {"'fc-1'"});
}
