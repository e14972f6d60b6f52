#pragma once
// Reading and writing 256 x 256 product tables (docs/table-files.md describes each format).
//
//   TFApprox binary (.bin)  65 536 little-endian uint16, index first * 256 + second by raw operand bytes; unsigned
//                           products stored as is, signed products stored as value + 32768. Carries neither the
//                           signedness nor the operand roles: the caller gives both.
//   NumPy (.npy)            a [256, 256] array of int16, int32 or int64 (also uint16/uint32), either byte order,
//                           C or Fortran order, indexed [first byte][second byte]; written as int32 (or int16).
//                           Signedness and roles are given by the caller.
//   CSV (.csv)              self-describing: a header naming the operand columns, "activation,weight,product" or
//                           "weight,activation,product" (the first column is the first operand), then one row per
//                           operand pair (all 65 536, any order) with operand values (-128..127 signed, 0..255
//                           unsigned) and the product. Lines starting with '#' are comments.
//
// Every reader checks sizes, headers, ranges and completeness and throws format_error naming the source and the
// problem (io_error when a file cannot be opened). Writers check first that the format can hold every product,
// then write to a temporary file that replaces the target only when complete.

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <istream>
#include <limits>
#include <optional>
#include <ostream>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "approxnn/core/csv.hpp"
#include "approxnn/core/error.hpp"
#include "approxnn/core/file_io.hpp"
#include "approxnn/core/npy.hpp"
#include "approxnn/multipliers/multiplier.hpp"
#include "approxnn/multipliers/table.hpp"

namespace approxnn::multipliers {

enum class table_format { tfapprox, npy, csv };

constexpr std::string_view to_string(table_format f) noexcept {
    switch (f) {
        case table_format::tfapprox: return "tfapprox";
        case table_format::npy: return "npy";
        case table_format::csv: return "csv";
    }
    return "unknown";
}

/// The format named "tfapprox", "npy" or "csv"; throws parameter_error otherwise.
inline table_format parse_table_format(std::string_view name) {
    for (const table_format f : {table_format::tfapprox, table_format::npy, table_format::csv}) {
        if (to_string(f) == name) return f;
    }
    throw parameter_error("unknown table format '" + std::string(name) + "' (tfapprox, npy or csv)");
}

/// The usual file extension of a format: ".bin", ".npy" or ".csv".
constexpr std::string_view file_extension(table_format f) noexcept {
    switch (f) {
        case table_format::tfapprox: return ".bin";
        case table_format::npy: return ".npy";
        case table_format::csv: return ".csv";
    }
    return "";
}

/// The format of a table file from its extension; throws parameter_error for an unknown extension.
inline table_format table_format_from_path(const std::filesystem::path& path) {
    const std::string ext = path.extension().string();
    for (const table_format f : {table_format::tfapprox, table_format::npy, table_format::csv}) {
        if (ext == file_extension(f)) return f;
    }
    throw parameter_error("cannot tell the table format of '" + path.string() + "' from its extension '" + ext +
                          "' (expected .bin for TFApprox, .npy or .csv)");
}

namespace detail {
/// Reads at most `limit` bytes of `in`.
inline std::string read_at_most(std::istream& in, std::size_t limit) {
    std::string data(limit, '\0');
    in.read(data.data(), static_cast<std::streamsize>(limit));
    data.resize(static_cast<std::size_t>(in.gcount()));
    return data;
}

inline std::string describe_pair(const table_multiplier& t, int first_byte, int second_byte) {
    return "M(" + std::to_string(operand_value(static_cast<std::uint8_t>(first_byte), t.operand_signedness())) +
           ", " + std::to_string(operand_value(static_cast<std::uint8_t>(second_byte), t.operand_signedness())) +
           ") = " + std::to_string(t.multiply(first_byte, second_byte));
}

/// Throws format_error unless every product lies in [lo, hi].
inline void check_product_range(const table_multiplier& t, long long lo, long long hi, std::string_view format) {
    for (int first = 0; first < 256; ++first) {
        for (int second = 0; second < 256; ++second) {
            const long long p = t.multiply(first, second);
            if (p < lo || p > hi) {
                throw format_error("cannot write table '" + t.name() + "' as " + std::string(format) + ": product " +
                                   describe_pair(t, first, second) + " is outside [" + std::to_string(lo) + ", " +
                                   std::to_string(hi) + "]");
            }
        }
    }
}

/// Throws format_error unless `format` (npy: int32) can hold every product of t.
inline void check_writable(const table_multiplier& t, table_format format) {
    if (format == table_format::tfapprox) {
        const long long offset = t.is_signed() ? 32768 : 0;
        check_product_range(t, -offset, 65535 - offset, "TFApprox");
    }
}
}  // namespace detail

// ---------------------------------------------------------------------------------------------------------------
// TFApprox binary

inline constexpr std::size_t tfapprox_bytes = table_entries * 2;

/// Reads a TFApprox table; `source` names the stream in error messages.
inline table_multiplier read_tfapprox(std::istream& in, signedness s, operand_position weight, std::string name,
                                      const std::string& source) {
    const std::string data = detail::read_at_most(in, tfapprox_bytes + 1);
    if (data.size() != tfapprox_bytes) {
        throw format_error(source + ": a TFApprox table has " + std::to_string(tfapprox_bytes) +
                           " bytes (65536 little-endian uint16), " +
                           (data.size() > tfapprox_bytes ? std::string("this input is longer")
                                                         : "this input has " + std::to_string(data.size())));
    }
    std::vector<std::int32_t> products(table_entries);
    for (std::size_t i = 0; i < table_entries; ++i) {
        const auto lo = static_cast<std::uint8_t>(data[2 * i]);
        const auto hi = static_cast<std::uint8_t>(data[2 * i + 1]);
        const std::int32_t stored = lo | (hi << 8);
        products[i] = s == signedness::signed_operands ? stored - 32768 : stored;
    }
    return table_multiplier(s, weight, products, std::move(name));
}

/// Writes a TFApprox table; throws format_error (before writing anything) when a product does not fit.
inline void write_tfapprox(const table_multiplier& t, std::ostream& out) {
    detail::check_writable(t, table_format::tfapprox);
    const long long offset = t.is_signed() ? 32768 : 0;
    std::string data(tfapprox_bytes, '\0');
    const auto products = t.products();
    for (std::size_t i = 0; i < table_entries; ++i) {
        const auto stored = static_cast<std::uint32_t>(products[i] + offset);
        data[2 * i] = static_cast<char>(stored & 0xFFU);
        data[2 * i + 1] = static_cast<char>(stored >> 8);
    }
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

// ---------------------------------------------------------------------------------------------------------------
// NumPy .npy

enum class npy_dtype { int16, int32 };

/// Reads a [256, 256] integer .npy array; `source` names the stream in error messages.
inline table_multiplier read_npy(std::istream& in, signedness s, operand_position weight, std::string name,
                                 const std::string& source) {
    const npy_header header = read_npy_header(in, source);
    const std::string& descr = header.descr;
    if (descr.size() != 3 || (descr[0] != '<' && descr[0] != '>' && descr[0] != '|') ||
        (descr[1] != 'i' && descr[1] != 'u') || (descr[2] != '2' && descr[2] != '4' && descr[2] != '8')) {
        throw format_error(source + ": unsupported .npy dtype '" + descr +
                           "' (expected an integer type of 2, 4 or 8 bytes, e.g. '<i4')");
    }
    const bool big_endian = descr[0] == '>';
    const bool is_unsigned_type = descr[1] == 'u';
    const std::size_t item = static_cast<std::size_t>(descr[2] - '0');
    const bool fortran = header.fortran_order;
    if (header.shape != npy_shape{256, 256}) {
        throw format_error(source + ": the .npy array has shape " + npy_shape_string(header.shape) +
                           ", a product table needs (256, 256)");
    }

    const std::size_t data_bytes = table_entries * item;
    const std::string data = detail::read_at_most(in, data_bytes + 1);
    if (data.size() != data_bytes) {
        throw format_error(source + ": the .npy data should be " + std::to_string(data_bytes) + " bytes, " +
                           (data.size() > data_bytes ? std::string("the input is longer")
                                                     : "the input has " + std::to_string(data.size())));
    }
    std::vector<std::int32_t> products(table_entries);
    for (std::size_t i = 0; i < table_entries; ++i) {
        std::uint64_t raw = 0;
        for (std::size_t b = 0; b < item; ++b) {
            const std::size_t byte_index = big_endian ? item - 1 - b : b;
            raw |= std::uint64_t{static_cast<std::uint8_t>(data[i * item + byte_index])} << (8 * b);
        }
        long long value = 0;
        if (is_unsigned_type) {
            value = raw > static_cast<std::uint64_t>(std::numeric_limits<std::int32_t>::max())
                        ? std::numeric_limits<long long>::max()
                        : static_cast<long long>(raw);
        } else {
            const unsigned bits = static_cast<unsigned>(item * 8);
            const std::uint64_t sign = std::uint64_t{1} << (bits - 1);
            value = (raw & sign) != 0 && bits < 64 ? static_cast<long long>(raw) - (1LL << (bits - 1)) * 2
                                                   : static_cast<long long>(raw);
        }
        if (value < std::numeric_limits<std::int32_t>::min() || value > std::numeric_limits<std::int32_t>::max()) {
            throw format_error(source + ": element " + std::to_string(i) + " of the .npy table does not fit int32");
        }
        const std::size_t row = i / 256;
        const std::size_t col = i % 256;
        products[fortran ? col * 256 + row : i] = static_cast<std::int32_t>(value);
    }
    return table_multiplier(s, weight, products, std::move(name));
}

/// Writes a [256, 256] .npy array (version 1.0, C order, little-endian int32 or int16); throws format_error
/// (before writing anything) when int16 cannot hold a product.
inline void write_npy(const table_multiplier& t, std::ostream& out, npy_dtype dtype = npy_dtype::int32) {
    if (dtype == npy_dtype::int16) detail::check_product_range(t, -32768, 32767, ".npy int16");
    const auto products = t.products();
    if (dtype == npy_dtype::int32) {
        approxnn::write_npy(out, std::span<const std::int32_t>(products), npy_shape{256, 256});
        return;
    }
    std::vector<std::int16_t> narrow(table_entries);
    for (std::size_t i = 0; i < table_entries; ++i) narrow[i] = static_cast<std::int16_t>(products[i]);
    approxnn::write_npy(out, std::span<const std::int16_t>(narrow), npy_shape{256, 256});
}

// ---------------------------------------------------------------------------------------------------------------
// CSV

/// Reads a CSV table (see the top of this header); the file states signedness and roles.
inline table_multiplier read_table_csv(std::istream& in, std::string name, const std::string& source) {
    csv_reader reader(in, source);
    std::vector<std::string> fields;
    if (!reader.next(fields)) throw format_error(source + ": empty table file (no header line)");
    operand_position weight{};
    if (fields == std::vector<std::string>{"activation", "weight", "product"}) {
        weight = operand_position::second;
    } else if (fields == std::vector<std::string>{"weight", "activation", "product"}) {
        weight = operand_position::first;
    } else {
        std::string got;
        for (const std::string& f : fields) got += (got.empty() ? "" : ",") + f;
        throw format_error(reader.where() +
                           ": the header must be 'activation,weight,product' or 'weight,activation,product', got '" +
                           got + "'");
    }

    struct row {
        int first;
        int second;
        std::int32_t product;
        std::size_t line;
    };
    std::vector<row> rows;
    rows.reserve(table_entries);
    std::optional<std::pair<int, std::size_t>> negative;  // an operand < 0 and its line
    std::optional<std::pair<int, std::size_t>> large;     // an operand > 127 and its line
    while (reader.next(fields)) {
        if (fields.size() != 3) {
            throw format_error(reader.where() + ": expected 3 fields, got " + std::to_string(fields.size()));
        }
        if (rows.size() == table_entries) {
            throw format_error(reader.where() + ": more than 65536 rows (one per operand pair expected)");
        }
        const long long first = parse_integer(fields[0], reader.where());
        const long long second = parse_integer(fields[1], reader.where());
        const long long product = parse_integer(fields[2], reader.where());
        for (const long long operand : {first, second}) {
            if (operand < -128 || operand > 255) {
                throw format_error(reader.where() + ": operand " + std::to_string(operand) +
                                   " is outside [-128, 255]");
            }
            if (operand < 0 && !negative) negative = std::pair{static_cast<int>(operand), reader.line()};
            if (operand > 127 && !large) large = std::pair{static_cast<int>(operand), reader.line()};
        }
        if (product < std::numeric_limits<std::int32_t>::min() || product > std::numeric_limits<std::int32_t>::max()) {
            throw format_error(reader.where() + ": product " + std::to_string(product) + " does not fit int32");
        }
        rows.push_back({static_cast<int>(first), static_cast<int>(second), static_cast<std::int32_t>(product),
                        reader.line()});
    }
    if (negative && large) {
        throw format_error(source + ": mixes negative operands (" + std::to_string(negative->first) + " at line " +
                           std::to_string(negative->second) + ") with operands above 127 (" +
                           std::to_string(large->first) + " at line " + std::to_string(large->second) +
                           "); a table is either signed (-128..127) or unsigned (0..255)");
    }
    const signedness s = negative ? signedness::signed_operands : signedness::unsigned_operands;

    std::vector<std::int32_t> products(table_entries);
    std::vector<std::size_t> seen_at(table_entries, 0);
    for (const row& r : rows) {
        const std::size_t index = std::size_t{static_cast<std::uint8_t>(r.first)} * 256 +
                                  static_cast<std::uint8_t>(r.second);
        if (seen_at[index] != 0) {
            throw format_error(source + ":" + std::to_string(r.line) + ": operand pair (" + std::to_string(r.first) +
                               ", " + std::to_string(r.second) + ") already given at line " +
                               std::to_string(seen_at[index]));
        }
        seen_at[index] = r.line;
        products[index] = r.product;
    }
    if (rows.size() != table_entries) {
        for (std::size_t index = 0; index < table_entries; ++index) {
            if (seen_at[index] == 0) {
                const auto first = static_cast<std::uint8_t>(index / 256);
                const auto second = static_cast<std::uint8_t>(index % 256);
                throw format_error(source + ": " + std::to_string(rows.size()) +
                                   " operand pairs given, 65536 needed; missing e.g. (" +
                                   std::to_string(operand_value(first, s)) + ", " +
                                   std::to_string(operand_value(second, s)) + ")");
            }
        }
    }
    return table_multiplier(s, weight, products, std::move(name));
}

/// Writes a CSV table with a comment line naming it; rows in increasing operand order.
inline void write_table_csv(const table_multiplier& t, std::ostream& out) {
    std::string text = "# approxnn product table '" + t.name() + "', " + std::string(to_string(t.operand_signedness())) +
                       " operands\n";
    text += t.weight_operand() == operand_position::second ? "activation,weight,product\n"
                                                           : "weight,activation,product\n";
    const int lo = t.is_signed() ? -128 : 0;
    for (int first = lo; first < lo + 256; ++first) {
        const std::string prefix = std::to_string(first) + ",";
        for (int second = lo; second < lo + 256; ++second) {
            text += prefix;
            text += std::to_string(second);
            text += ',';
            text += std::to_string(t.multiply(first, second));
            text += '\n';
        }
    }
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
}

// ---------------------------------------------------------------------------------------------------------------
// Files

/// Loads a CSV table file (self-describing); named after the file's stem.
inline table_multiplier load_table_csv(const std::filesystem::path& path) {
    std::ifstream in = open_for_reading(path);
    return read_table_csv(in, path.stem().string(), path.string());
}

/// Loads a table file of any format (from its extension), named after the file's stem. For CSV files, which state
/// their own signedness and roles, a mismatch with the arguments is a format_error.
inline table_multiplier load_table(const std::filesystem::path& path, signedness s,
                                   operand_position weight = operand_position::second) {
    const table_format format = table_format_from_path(path);
    if (format == table_format::csv) {
        table_multiplier t = load_table_csv(path);
        if (t.operand_signedness() != s) {
            throw format_error(path.string() + " holds a table with " + std::string(to_string(t.operand_signedness())) +
                               " operands, " + std::string(to_string(s)) + " operands were expected");
        }
        if (t.weight_operand() != weight) {
            throw format_error(path.string() + " has the weight as " + std::string(to_string(t.weight_operand())) +
                               " operand, " + std::string(to_string(weight)) + " was expected");
        }
        return t;
    }
    std::ifstream in = open_for_reading(path);
    if (format == table_format::tfapprox) return read_tfapprox(in, s, weight, path.stem().string(), path.string());
    return read_npy(in, s, weight, path.stem().string(), path.string());
}

/// Saves a table in the format given by the file's extension (npy as int32). Nothing is written when the format
/// cannot hold the table; an existing file is replaced only by a complete one.
inline void save_table(const table_multiplier& t, const std::filesystem::path& path) {
    const table_format format = table_format_from_path(path);
    // Serialise first, so that a table the format cannot hold leaves the file system untouched.
    std::ostringstream buffer;
    switch (format) {
        case table_format::tfapprox: write_tfapprox(t, buffer); break;
        case table_format::npy: write_npy(t, buffer); break;
        case table_format::csv: write_table_csv(t, buffer); break;
    }
    write_file_atomically(path, std::move(buffer).str());
}

}  // namespace approxnn::multipliers
