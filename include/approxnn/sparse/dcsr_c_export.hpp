#pragma once
// Export of a dCSR matrix as a C header for firmware (valid C99 and C++): the seven arrays as const arrays, the
// optional row-start index, size macros, and a ready-to-use initialiser of the view.
//
//   export_dcsr_c_header(m, "fc1")           the header text
//   save_dcsr_c_header(path, m, "fc1")       written atomically (<path>.partial, then renamed)
//
// For a matrix exported as `fc1` the header defines
//   FC1_ROWS, FC1_COLS, FC1_NNZE, FC1_GROUPS, FC1_BITMASKS, FC1_BYTES (the format's exact size)
//   static const int8_t fc1_values[], uint8_t fc1_delta_indices[], int8_t fc1_group_minimums[],
//   uint8_t fc1_bitmaps[], uint16_t fc1_bitmasks[], int16_t fc1_row_offsets[] (and fc1_row_starts[] with the index)
//   FC1_VIEW_INITIALIZER  an aggregate initialiser in dcsr_view's member order:
//       C++:  const approxnn::sparse::dcsr_view<std::int8_t> w = FC1_VIEW_INITIALIZER;
//             then approxnn::sparse::validate_dcsr(w) before the first use (status codes, no exceptions)
//       C:    struct approxnn_dcsr_view_s8 w = FC1_VIEW_INITIALIZER;   (the struct is defined by the header)
// Empty arrays (e.g. no bitmasks) are not emitted; their pointer is 0 and their length 0. Define
// APPROXNN_DCSR_ARRAY_ATTRIBUTES before including the header to place the arrays (e.g. a section, an alignment).
// Values other than int8 export as int16_t or float arrays (the C view struct is then ..._s16 / ..._f32).

#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>

#include "approxnn/core/error.hpp"
#include "approxnn/core/file_io.hpp"
#include "approxnn/sparse/dcsr_matrix.hpp"

namespace approxnn::sparse {

namespace detail {

inline bool is_c_identifier(std::string_view name) {
    if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0])) != 0) return false;
    for (const char c : name) {
        if (std::isalnum(static_cast<unsigned char>(c)) == 0 && c != '_') return false;
    }
    return true;
}

template <class T>
void c_array(std::ostringstream& out, const char* type, const std::string& name, std::span<const T> data,
             int per_line) {
    if (data.empty()) return;
    out << "static const " << type << " " << name << "[" << data.size() << "] APPROXNN_DCSR_ARRAY_ATTRIBUTES = {";
    for (std::size_t i = 0; i < data.size(); ++i) {
        if (i % static_cast<std::size_t>(per_line) == 0) out << "\n    ";
        if constexpr (std::is_same_v<T, float>) {
            if (!std::isfinite(data[i])) {
                throw format_error("dCSR C export: " + name + "[" + std::to_string(i) +
                                   "] = " + std::to_string(data[i]) + " is not finite (no C literal)");
            }
            char buffer[32];
            std::snprintf(buffer, sizeof buffer, "%.9gf", static_cast<double>(data[i]));
            std::string text = buffer;
            if (text.find_first_of(".eEn") == std::string::npos) text.insert(text.size() - 1, ".0");
            out << text;
        } else if constexpr (std::is_same_v<T, std::uint16_t> || std::is_same_v<T, std::uint8_t>) {
            char buffer[16];
            std::snprintf(buffer, sizeof buffer, sizeof(T) == 1 ? "0x%02X" : "0x%04X", static_cast<unsigned>(data[i]));
            out << buffer;
        } else if constexpr (std::is_same_v<T, std::int16_t>) {
            // -32768 is not a literal in C: write it as an expression.
            if (data[i] == -32768) {
                out << "(-32767 - 1)";
            } else {
                out << static_cast<int>(data[i]);
            }
        } else {
            out << static_cast<int>(data[i]);
        }
        if (i + 1 < data.size()) out << ",";
        if (i + 1 < data.size() && (i + 1) % static_cast<std::size_t>(per_line) != 0) out << " ";
    }
    out << "\n};\n";
}

}  // namespace detail

/// The C header text of m under the C identifier `name` (parameter_error for a name that is not one).
template <class Value>
std::string export_dcsr_c_header(const dcsr_matrix<Value>& m, std::string_view name) {
    if (!detail::is_c_identifier(name)) {
        throw parameter_error("dCSR C export: the name '" + std::string(name) + "' is not a C identifier");
    }
    const std::string n(name);
    std::string upper = n;
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    const char* value_type =
        std::is_same_v<Value, std::int8_t> ? "int8_t" : (std::is_same_v<Value, std::int16_t> ? "int16_t" : "float");
    const char* view_struct =
        std::is_same_v<Value, std::int8_t>
            ? "approxnn_dcsr_view_s8"
            : (std::is_same_v<Value, std::int16_t> ? "approxnn_dcsr_view_s16" : "approxnn_dcsr_view_f32");
    std::ostringstream out;
    out << "/* " << n << ": a " << m.rows() << " x " << m.cols() << " dCSR matrix of " << value_type
        << " values, written by approxnn (docs/dcsr.md). Do not edit.\n"
        << "   nnze " << m.nnze() << " (" << m.padding_zeros() << " padding zeros), " << m.groups() << " groups, "
        << m.bitmasks().size() << " bitmasks, " << m.size_bytes() << " bytes"
        << (m.has_row_index() ? " + a row-start index of " + std::to_string(m.row_index_bytes()) + " bytes"
                              : std::string())
        << ".\n   Validate the view once (approxnn::sparse::validate_dcsr) before using it. */\n"
        << "#ifndef " << upper << "_DCSR_H\n#define " << upper << "_DCSR_H\n\n#include <stdint.h>\n\n"
        << "#ifndef APPROXNN_DCSR_ARRAY_ATTRIBUTES\n#define APPROXNN_DCSR_ARRAY_ATTRIBUTES\n#endif\n\n"
        << "#ifndef __cplusplus\n"
        << "#ifndef APPROXNN_DCSR_ROW_START_DEFINED\n#define APPROXNN_DCSR_ROW_START_DEFINED\n"
        << "struct approxnn_dcsr_row_start { uint32_t value, group, bitmask; };\n#endif\n"
        << "#ifndef "
        << "APPROXNN_DCSR_VIEW_"
        << (std::is_same_v<Value, std::int8_t> ? "S8" : (std::is_same_v<Value, std::int16_t> ? "S16" : "F32"))
        << "_DEFINED\n#define APPROXNN_DCSR_VIEW_"
        << (std::is_same_v<Value, std::int8_t> ? "S8" : (std::is_same_v<Value, std::int16_t> ? "S16" : "F32"))
        << "_DEFINED\n"
        << "/* The member order of approxnn::sparse::dcsr_view. */\n"
        << "struct " << view_struct << " {\n"
        << "    uint32_t rows, cols, nnze;\n"
        << "    const " << value_type << "* values; uint32_t values_size;\n"
        << "    const uint8_t* delta_indices; uint32_t delta_indices_size;\n"
        << "    const int8_t* group_minimums; uint32_t group_minimums_size;\n"
        << "    const uint8_t* bitmaps; uint32_t bitmaps_size;\n"
        << "    const uint16_t* bitmasks; uint32_t bitmasks_size;\n"
        << "    const int16_t* row_offsets; uint32_t row_offsets_size;\n"
        << "    const struct approxnn_dcsr_row_start* row_starts; uint32_t row_starts_size;\n"
        << "};\n#endif\n#endif\n\n";
    out << "#define " << upper << "_ROWS " << m.rows() << "u\n"
        << "#define " << upper << "_COLS " << m.cols() << "u\n"
        << "#define " << upper << "_NNZE " << m.nnze() << "u\n"
        << "#define " << upper << "_GROUPS " << m.groups() << "u\n"
        << "#define " << upper << "_BITMASKS " << m.bitmasks().size() << "u\n"
        << "#define " << upper << "_BYTES " << m.size_bytes() << "u\n\n";
    detail::c_array(out, value_type, n + "_values", m.values(), 16);
    detail::c_array(out, "uint8_t", n + "_delta_indices", m.delta_indices(), 16);
    detail::c_array(out, "int8_t", n + "_group_minimums", m.group_minimums(), 16);
    detail::c_array(out, "uint8_t", n + "_bitmaps", m.bitmaps(), 16);
    detail::c_array(out, "uint16_t", n + "_bitmasks", m.bitmasks(), 12);
    detail::c_array(out, "int16_t", n + "_row_offsets", m.row_offsets(), 16);
    if (m.has_row_index()) {
        out << "#ifdef __cplusplus\nstatic const approxnn::sparse::dcsr_row_start " << n << "_row_starts["
            << m.row_starts().size() << "] APPROXNN_DCSR_ARRAY_ATTRIBUTES = {";
        std::ostringstream body;
        for (std::size_t i = 0; i < m.row_starts().size(); ++i) {
            const dcsr_row_start& e = m.row_starts()[i];
            body << (i % 4 == 0 ? "\n    " : " ") << "{" << e.value << "u, " << e.group << "u, " << e.bitmask << "u}"
                 << (i + 1 < m.row_starts().size() ? "," : "");
        }
        out << body.str() << "\n};\n#else\nstatic const struct approxnn_dcsr_row_start " << n << "_row_starts["
            << m.row_starts().size() << "] APPROXNN_DCSR_ARRAY_ATTRIBUTES = {" << body.str() << "\n};\n#endif\n";
    }
    const auto pointer = [&](const char* array, std::size_t size) {
        return size == 0 ? std::string("0, 0u") : n + "_" + array + ", " + std::to_string(size) + "u";
    };
    out << "\n/* Aggregate initialiser of approxnn::sparse::dcsr_view<"
        << (std::is_same_v<Value, float> ? "float"
                                         : (std::is_same_v<Value, std::int8_t> ? "std::int8_t" : "std::int16_t"))
        << "> (C++) or struct " << view_struct << " (C). */\n"
        << "#define " << upper << "_VIEW_INITIALIZER { " << upper << "_ROWS, " << upper << "_COLS, " << upper
        << "_NNZE, \\\n    " << pointer("values", m.values().size()) << ", "
        << pointer("delta_indices", m.delta_indices().size()) << ", \\\n    "
        << pointer("group_minimums", m.group_minimums().size()) << ", " << pointer("bitmaps", m.bitmaps().size())
        << ", \\\n    " << pointer("bitmasks", m.bitmasks().size()) << ", "
        << pointer("row_offsets", m.row_offsets().size()) << ", \\\n    "
        << pointer("row_starts", m.row_starts().size()) << " }\n\n#endif /* " << upper << "_DCSR_H */\n";
    return out.str();
}

/// Writes the C header of m to `path` (atomically replaced).
template <class Value>
void save_dcsr_c_header(const std::filesystem::path& path, const dcsr_matrix<Value>& m, std::string_view name) {
    write_file_atomically(path, export_dcsr_c_header(m, name));
}

}  // namespace approxnn::sparse
