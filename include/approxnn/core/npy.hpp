#pragma once
// NumPy .npy files: reading format versions 1.0, 2.0 and 3.0, writing 1.0 (2.0 when the header needs it).
//
//   file    = "\x93NUMPY" major minor header_length header data
//   header  = a Python dict literal {'descr': <str>, 'fortran_order': <bool>, 'shape': <tuple of int>}, padded with
//             spaces and ended by '\n'; header_length is little-endian uint16 (1.0) or uint32 (2.0, 3.0).
//   data    = the elements, in C order for every array read or written here.
//
// Supported element types (npy_type) and their descr: float32 '<f4', float64 '<f8', int8 '|i1' (or '<i1'),
// uint8 '|u1' (or '<u1'), int16 '<i2', int32 '<i4', int64 '<i8'. Big-endian and other types, Fortran order,
// malformed headers, truncated data and data beyond the array are format_error naming the source (the file path)
// and the offending value; a file that cannot be opened is io_error.
//
// read_npy_header() parses the header alone and accepts any descr and either order, for readers of other types
// (multipliers/table_io.hpp reads its product tables with it).
//
// Streams: read_npy / read_npy_as / write_npy. Files: load_npy / load_npy_as / save_npy (atomic replace).
#include <algorithm>
#include <array>
#include <bit>
#include <cctype>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <istream>
#include <limits>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "approxnn/core/error.hpp"
#include "approxnn/core/file_io.hpp"

namespace approxnn {

/// The element types of the .npy arrays approxnn reads and writes.
enum class npy_type { float32, float64, int8, uint8, int16, int32, int64 };

constexpr std::string_view to_string(npy_type t) noexcept {
    switch (t) {
        case npy_type::float32: return "float32";
        case npy_type::float64: return "float64";
        case npy_type::int8: return "int8";
        case npy_type::uint8: return "uint8";
        case npy_type::int16: return "int16";
        case npy_type::int32: return "int32";
        case npy_type::int64: return "int64";
    }
    return "unknown";
}

/// Bytes per element.
constexpr std::size_t item_size(npy_type t) noexcept {
    switch (t) {
        case npy_type::int8:
        case npy_type::uint8: return 1;
        case npy_type::int16: return 2;
        case npy_type::float32:
        case npy_type::int32: return 4;
        case npy_type::float64:
        case npy_type::int64: return 8;
    }
    return 0;
}

/// The descr written for a type: '<f4', '<f8', '|i1', '|u1', '<i2', '<i4', '<i8'.
constexpr std::string_view npy_descr(npy_type t) noexcept {
    switch (t) {
        case npy_type::float32: return "<f4";
        case npy_type::float64: return "<f8";
        case npy_type::int8: return "|i1";
        case npy_type::uint8: return "|u1";
        case npy_type::int16: return "<i2";
        case npy_type::int32: return "<i4";
        case npy_type::int64: return "<i8";
    }
    return "";
}

/// C++ element types with an npy_type.
template <class T>
concept npy_element = std::same_as<T, float> || std::same_as<T, double> || std::same_as<T, std::int8_t> ||
                      std::same_as<T, std::uint8_t> || std::same_as<T, std::int16_t> ||
                      std::same_as<T, std::int32_t> || std::same_as<T, std::int64_t>;

template <npy_element T>
inline constexpr npy_type npy_type_of = std::same_as<T, float>          ? npy_type::float32
                                        : std::same_as<T, double>       ? npy_type::float64
                                        : std::same_as<T, std::int8_t>  ? npy_type::int8
                                        : std::same_as<T, std::uint8_t> ? npy_type::uint8
                                        : std::same_as<T, std::int16_t> ? npy_type::int16
                                        : std::same_as<T, std::int32_t> ? npy_type::int32
                                                                        : npy_type::int64;

using npy_shape = std::vector<std::size_t>;

/// "()", "(5,)", "(2, 3)": a shape as Python writes the tuple.
inline std::string npy_shape_string(const npy_shape& shape) {
    std::string s = "(";
    for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + (shape.size() == 1 ? ",)" : ")");
}

/// The parsed header of an .npy file.
struct npy_header {
    int major_version = 1;
    int minor_version = 0;
    std::string descr;  ///< as written, e.g. "<f4"; not checked by read_npy_header
    bool fortran_order = false;
    npy_shape shape;
};

/// An array read from an .npy file: C order, little-endian elements.
struct npy_array {
    npy_shape shape;
    npy_type dtype = npy_type::float32;
    std::vector<std::byte> bytes;  ///< element_count() * item_size(dtype) bytes

    /// The number of elements (1 for rank 0).
    [[nodiscard]] std::size_t element_count() const noexcept {
        std::size_t n = 1;
        for (const std::size_t d : shape) n *= d;
        return n;
    }
};

/// Typed values of an .npy array, C order.
template <npy_element T>
struct npy_values {
    npy_shape shape;
    std::vector<T> values;
};

namespace detail::npy {

inline constexpr std::string_view magic{"\x93NUMPY", 6};
inline constexpr std::size_t max_header_length = std::size_t{1} << 20;

/// Parser of the header dict: a Python literal with str, bool and tuple-of-int values.
class header_parser {
public:
    header_parser(std::string_view text, const std::string& source) : text_(text), source_(source) {}

    npy_header parse() {
        npy_header h;
        bool has_descr = false;
        bool has_order = false;
        bool has_shape = false;
        skip_blanks();
        if (!consume('{')) fail("the .npy header is not a dict (it starts with " + excerpt() + ")");
        skip_blanks();
        while (!consume('}')) {
            const std::string key = parse_string("a key");
            skip_blanks();
            if (!consume(':')) fail("expected ':' after '" + key + "' in the .npy header, found " + excerpt());
            skip_blanks();
            if (key == "descr") {
                if (has_descr) fail("the .npy header repeats 'descr'");
                has_descr = true;
                if (at_end() || (peek() != '\'' && peek() != '"')) {
                    fail("unsupported .npy dtype " + excerpt() + " (structured dtypes are not supported)");
                }
                h.descr = parse_string("'descr'");
            } else if (key == "fortran_order") {
                if (has_order) fail("the .npy header repeats 'fortran_order'");
                has_order = true;
                h.fortran_order = parse_bool();
            } else if (key == "shape") {
                if (has_shape) fail("the .npy header repeats 'shape'");
                has_shape = true;
                h.shape = parse_shape();
            } else {
                fail("unexpected key '" + key + "' in the .npy header (only 'descr', 'fortran_order', 'shape')");
            }
            skip_blanks();
            if (consume(',')) {
                skip_blanks();
                continue;
            }
            if (at_end() || peek() != '}') fail("expected ',' or '}' in the .npy header, found " + excerpt());
        }
        while (!at_end() && is_blank(peek())) ++pos_;
        if (!at_end()) fail("unexpected characters after the .npy header dict: " + excerpt());
        if (!has_descr) fail("the .npy header has no 'descr'");
        if (!has_order) fail("the .npy header has no 'fortran_order'");
        if (!has_shape) fail("the .npy header has no 'shape'");
        return h;
    }

private:
    static bool is_blank(char c) noexcept { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
    [[nodiscard]] bool at_end() const noexcept { return pos_ >= text_.size(); }
    [[nodiscard]] char peek() const noexcept { return text_[pos_]; }
    void skip_blanks() noexcept {
        while (!at_end() && (peek() == ' ' || peek() == '\t')) ++pos_;
    }
    bool consume(char c) noexcept {
        if (at_end() || peek() != c) return false;
        ++pos_;
        return true;
    }
    /// The text at the current position, quoted, for messages.
    [[nodiscard]] std::string excerpt() const {
        if (at_end()) return "the end of the header";
        std::string s(text_.substr(pos_, 24));
        const std::size_t newline = s.find('\n');
        if (newline != std::string::npos) s.resize(newline);
        return "'" + s + "'";
    }
    [[noreturn]] void fail(const std::string& what) const { throw format_error(source_ + ": " + what); }

    std::string parse_string(const std::string& what) {
        if (at_end() || (peek() != '\'' && peek() != '"')) {
            fail("expected a quoted string as " + what + " in the .npy header, found " + excerpt());
        }
        const char quote = text_[pos_++];
        const std::size_t begin = pos_;
        while (!at_end() && peek() != quote) {
            if (peek() == '\\' || peek() == '\n') fail("unsupported string in the .npy header near " + excerpt());
            ++pos_;
        }
        if (at_end()) fail("unterminated string in the .npy header");
        std::string s(text_.substr(begin, pos_ - begin));
        ++pos_;
        return s;
    }

    bool parse_bool() {
        for (const std::string_view word : {std::string_view("True"), std::string_view("False")}) {
            if (text_.substr(pos_, word.size()) == word) {
                const std::size_t after = pos_ + word.size();
                if (after < text_.size() && (std::isalnum(static_cast<unsigned char>(text_[after])) != 0 ||
                                             text_[after] == '_')) {
                    break;
                }
                pos_ = after;
                return word == "True";
            }
        }
        fail("malformed fortran_order " + excerpt() + " in the .npy header (True or False expected)");
    }

    npy_shape parse_shape() {
        const std::size_t begin = pos_;
        if (!consume('(')) fail("the .npy 'shape' is not a tuple: " + excerpt());
        npy_shape shape;
        bool trailing_comma = false;
        skip_blanks();
        while (!consume(')')) {
            if (at_end() || peek() < '0' || peek() > '9') fail("malformed .npy shape near " + excerpt());
            std::size_t value = 0;
            const std::size_t digits_begin = pos_;
            while (!at_end() && peek() >= '0' && peek() <= '9') {
                const auto digit = static_cast<std::size_t>(peek() - '0');
                if (value > (std::numeric_limits<std::size_t>::max() - digit) / 10) {
                    const std::string_view digits = text_.substr(digits_begin, pos_ - digits_begin + 1);
                    fail("the .npy shape dimension " + std::string(digits) + "... is too large");
                }
                value = value * 10 + digit;
                ++pos_;
            }
            consume('L');  // Python 2 long integers
            shape.push_back(value);
            skip_blanks();
            trailing_comma = consume(',');
            skip_blanks();
            if (!trailing_comma && (at_end() || peek() != ')')) fail("malformed .npy shape near " + excerpt());
        }
        if (shape.size() == 1 && !trailing_comma) {
            fail("the .npy 'shape' " + std::string(text_.substr(begin, pos_ - begin)) +
                 " is an integer, not a tuple (a 1-d shape is written '(n,)')");
        }
        return shape;
    }

    std::string_view text_;
    const std::string& source_;
    std::size_t pos_ = 0;
};

/// Reads exactly n bytes into dst; returns the number read.
inline std::size_t read_bytes(std::istream& in, void* dst, std::size_t n) {
    in.read(static_cast<char*>(dst), static_cast<std::streamsize>(n));
    return static_cast<std::size_t>(in.gcount());
}

/// The npy_type of a descr, or false when approxnn does not read that descr.
inline bool parse_descr(std::string_view descr, npy_type& out) noexcept {
    struct entry {
        std::string_view descr;
        npy_type type;
    };
    static constexpr std::array<entry, 9> table{{{"<f4", npy_type::float32},
                                                 {"<f8", npy_type::float64},
                                                 {"|i1", npy_type::int8},
                                                 {"<i1", npy_type::int8},
                                                 {"|u1", npy_type::uint8},
                                                 {"<u1", npy_type::uint8},
                                                 {"<i2", npy_type::int16},
                                                 {"<i4", npy_type::int32},
                                                 {"<i8", npy_type::int64}}};
    for (const entry& e : table) {
        if (e.descr == descr) {
            out = e.type;
            return true;
        }
    }
    return false;
}

/// The element count and byte count of a shape; throws format_error naming the shape when they overflow.
inline std::size_t checked_byte_count(const npy_shape& shape, std::size_t item, const std::string& source) {
    std::size_t n = item;
    for (const std::size_t d : shape) {
        if (d != 0 && n > std::numeric_limits<std::size_t>::max() / d) {
            throw format_error(source + ": the .npy shape " + npy_shape_string(shape) + " is too large");
        }
        n *= d;
    }
    for (const std::size_t d : shape) {
        if (d == 0) return 0;
    }
    return n;
}

/// A little-endian value of type T at p.
template <class T>
T load_little_endian(const std::byte* p) noexcept {
    std::array<std::byte, sizeof(T)> b;
    std::memcpy(b.data(), p, sizeof(T));
    if constexpr (std::endian::native == std::endian::big) {
        for (std::size_t i = 0; i < sizeof(T) / 2; ++i) std::swap(b[i], b[sizeof(T) - 1 - i]);
    }
    return std::bit_cast<T>(b);
}

template <class T>
void store_little_endian(std::byte* p, T value) noexcept {
    auto b = std::bit_cast<std::array<std::byte, sizeof(T)>>(value);
    if constexpr (std::endian::native == std::endian::big) {
        for (std::size_t i = 0; i < sizeof(T) / 2; ++i) std::swap(b[i], b[sizeof(T) - 1 - i]);
    }
    std::memcpy(p, b.data(), sizeof(T));
}

/// Invokes fn(Source{}) with the C++ type of t.
template <class F>
decltype(auto) with_element_type(npy_type t, F&& fn) {
    switch (t) {
        case npy_type::float32: return fn(float{});
        case npy_type::float64: return fn(double{});
        case npy_type::int8: return fn(std::int8_t{});
        case npy_type::uint8: return fn(std::uint8_t{});
        case npy_type::int16: return fn(std::int16_t{});
        case npy_type::int32: return fn(std::int32_t{});
        case npy_type::int64: break;
    }
    return fn(std::int64_t{});
}

template <class T>
std::string value_string(T v) {
    if constexpr (std::is_floating_point_v<T>) {
        if (std::isnan(v)) return "nan";
        std::array<char, 64> buffer{};
        const int n = std::snprintf(buffer.data(), buffer.size(), "%.9g", static_cast<double>(v));
        return std::string(buffer.data(), static_cast<std::size_t>(n));
    } else {
        return std::to_string(v);
    }
}

/// Converts one element; throws format_error when the target cannot hold it.
template <class To, class From>
To convert_element(From v, std::size_t index, npy_type from_type, const std::string& source) {
    const auto fail = [&](const char* why) {
        throw format_error(source + ": element " + std::to_string(index) + " (" + std::string(to_string(from_type)) +
                           " value " + value_string(v) + ") " + why + " " + std::string(to_string(npy_type_of<To>)));
    };
    if constexpr (std::is_floating_point_v<To>) {
        if constexpr (std::is_floating_point_v<From> && sizeof(From) > sizeof(To)) {
            if (std::isfinite(v) && std::fabs(v) > static_cast<From>(std::numeric_limits<To>::max())) {
                fail("is outside the range of");
            }
        }
        return static_cast<To>(v);
    } else if constexpr (std::is_floating_point_v<From>) {
        if (!std::isfinite(v) || v != std::trunc(v)) fail("is not an integer, cannot convert it to");
        // min is 0 or -2^(bits-1) and max + 1 rounds to 2^bits or 2^(bits-1): both bounds are exact in double.
        const auto d = static_cast<double>(v);
        if (d < static_cast<double>(std::numeric_limits<To>::min()) ||
            d >= static_cast<double>(std::numeric_limits<To>::max()) + 1.0) {
            fail("is outside the range of");
        }
        return static_cast<To>(v);
    } else {
        if (!std::in_range<To>(v)) fail("is outside the range of");
        return static_cast<To>(v);
    }
}

inline std::string header_text(npy_type dtype, const npy_shape& shape) {
    return "{'descr': '" + std::string(npy_descr(dtype)) + "', 'fortran_order': False, 'shape': " +
           npy_shape_string(shape) + ", }";
}

}  // namespace detail::npy

/// Reads the preamble and header of an .npy stream, leaving `in` at the first data byte. Checks the magic string,
/// the version (1.0, 2.0, 3.0) and the header syntax; the caller checks descr, fortran_order and shape. `source`
/// names the stream in messages.
inline npy_header read_npy_header(std::istream& in, const std::string& source) {
    std::array<char, 8> preamble{};
    const std::size_t got = detail::npy::read_bytes(in, preamble.data(), preamble.size());
    if (got < 6 || std::string_view(preamble.data(), 6) != detail::npy::magic) {
        throw format_error(source + ": not a NumPy .npy file (the magic string \\x93NUMPY is missing)");
    }
    if (got < 8) throw format_error(source + ": truncated .npy header (the file ends in the version field)");
    npy_header h;
    h.major_version = static_cast<std::uint8_t>(preamble[6]);
    h.minor_version = static_cast<std::uint8_t>(preamble[7]);
    if (h.major_version < 1 || h.major_version > 3 || h.minor_version != 0) {
        throw format_error(source + ": unsupported .npy format version " + std::to_string(h.major_version) + "." +
                           std::to_string(h.minor_version) + " (1.0, 2.0 and 3.0 are read)");
    }
    const std::size_t length_bytes = h.major_version == 1 ? 2 : 4;
    std::array<unsigned char, 4> length_field{};
    if (detail::npy::read_bytes(in, length_field.data(), length_bytes) != length_bytes) {
        throw format_error(source + ": truncated .npy header (the file ends in the header length)");
    }
    std::size_t header_length = 0;
    for (std::size_t i = 0; i < length_bytes; ++i) header_length |= std::size_t{length_field[i]} << (8 * i);
    if (header_length > detail::npy::max_header_length) {
        throw format_error(source + ": implausible .npy header length " + std::to_string(header_length) +
                           " bytes (at most " + std::to_string(detail::npy::max_header_length) + ")");
    }
    std::string text(header_length, '\0');
    const std::size_t header_got = detail::npy::read_bytes(in, text.data(), header_length);
    if (header_got != header_length) {
        throw format_error(source + ": truncated .npy header (" + std::to_string(header_length) +
                           " bytes announced, " + std::to_string(header_got) + " present)");
    }
    npy_header parsed = detail::npy::header_parser(text, source).parse();
    parsed.major_version = h.major_version;
    parsed.minor_version = h.minor_version;
    return parsed;
}

/// Reads a whole .npy stream (see the top of this header for what is accepted); the stream must end with the
/// array's last byte.
inline npy_array read_npy(std::istream& in, const std::string& source) {
    const npy_header h = read_npy_header(in, source);
    npy_array a;
    if (!detail::npy::parse_descr(h.descr, a.dtype)) {
        throw format_error(source + ": unsupported .npy dtype '" + h.descr +
                           "' (expected little-endian '<f4', '<f8', '|i1', '|u1', '<i2', '<i4' or '<i8')");
    }
    if (h.fortran_order) {
        throw format_error(source + ": the .npy array of shape " + npy_shape_string(h.shape) +
                           " is in Fortran order (fortran_order: True); only C order is read");
    }
    a.shape = h.shape;
    const std::size_t needed = detail::npy::checked_byte_count(a.shape, item_size(a.dtype), source);
    // Grow while reading, so that a header announcing a huge array cannot allocate more than the input holds.
    std::size_t got = 0;
    while (got < needed) {
        const std::size_t want = std::min(needed - got, std::max<std::size_t>(got, std::size_t{1} << 20));
        a.bytes.resize(got + want);
        const std::size_t n = detail::npy::read_bytes(in, a.bytes.data() + got, want);
        got += n;
        if (n < want) break;
    }
    if (got < needed) {
        throw format_error(source + ": the .npy data of shape " + npy_shape_string(a.shape) + " " +
                           std::string(to_string(a.dtype)) + " should be " + std::to_string(needed) +
                           " bytes, the input has " + std::to_string(got));
    }
    if (in.peek() != std::istream::traits_type::eof()) {
        throw format_error(source + ": the .npy data of shape " + npy_shape_string(a.shape) + " " +
                           std::string(to_string(a.dtype)) + " should be " + std::to_string(needed) +
                           " bytes, the input is longer");
    }
    return a;
}

/// Reads an .npy file.
inline npy_array load_npy(const std::filesystem::path& path) {
    std::ifstream in = open_for_reading(path);
    return read_npy(in, path.string());
}

/// The values of `a` converted to T. Integer targets take integer values in their range and integral floating
/// values; float32 takes finite float64 values up to its largest magnitude (infinities and NaN pass); integers
/// convert to floating types with rounding. Anything else is format_error naming `source`, the element and value.
template <npy_element T>
npy_values<T> convert_npy(const npy_array& a, const std::string& source) {
    npy_values<T> out;
    out.shape = a.shape;
    const std::size_t n = a.element_count();
    if (a.bytes.size() != n * item_size(a.dtype)) {
        throw shape_error(source + ": an .npy array of shape " + npy_shape_string(a.shape) + " " +
                          std::string(to_string(a.dtype)) + " needs " + std::to_string(n * item_size(a.dtype)) +
                          " bytes, it has " + std::to_string(a.bytes.size()));
    }
    out.values.resize(n);
    detail::npy::with_element_type(a.dtype, [&](auto tag) {
        using From = decltype(tag);
        const std::byte* p = a.bytes.data();
        if constexpr (std::same_as<From, T> && std::endian::native == std::endian::little) {
            if (n != 0) std::memcpy(out.values.data(), p, n * sizeof(T));
        } else {
            for (std::size_t i = 0; i < n; ++i) {
                const From v = detail::npy::load_little_endian<From>(p + i * sizeof(From));
                out.values[i] = detail::npy::convert_element<T>(v, i, a.dtype, source);
            }
        }
    });
    return out;
}

/// read_npy then convert_npy.
template <npy_element T>
npy_values<T> read_npy_as(std::istream& in, const std::string& source) {
    return convert_npy<T>(read_npy(in, source), source);
}

/// load_npy then convert_npy.
template <npy_element T>
npy_values<T> load_npy_as(const std::filesystem::path& path) {
    return convert_npy<T>(load_npy(path), path.string());
}

/// Writes `count` elements of type `dtype` from little-endian `bytes` as an .npy array of `shape`: version 1.0
/// (2.0 for a header beyond 65535 bytes), C order, the header padded with spaces so that the data starts at a
/// multiple of 64 bytes. Throws shape_error (before writing) when the byte count does not fit the shape.
inline void write_npy(std::ostream& out, npy_type dtype, const npy_shape& shape, std::span<const std::byte> bytes) {
    std::size_t n = item_size(dtype);
    for (const std::size_t d : shape) n *= d;
    if (bytes.size() != n) {
        throw shape_error("write_npy: " + std::to_string(bytes.size()) + " bytes of " + std::string(to_string(dtype)) +
                          " do not fill shape " + npy_shape_string(shape) + " (" + std::to_string(n) + " needed)");
    }
    std::string header = detail::npy::header_text(dtype, shape);
    const bool long_header = 10 + header.size() + 1 > 65535;
    const std::size_t prefix = long_header ? 12 : 10;
    while ((prefix + header.size() + 1) % 64 != 0) header += ' ';
    header += '\n';
    std::string preamble(detail::npy::magic);
    preamble += static_cast<char>(long_header ? 2 : 1);
    preamble += '\0';
    for (std::size_t i = 0; i < prefix - 8; ++i) preamble += static_cast<char>((header.size() >> (8 * i)) & 0xFFU);
    out.write(preamble.data(), static_cast<std::streamsize>(preamble.size()));
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

inline void write_npy(std::ostream& out, const npy_array& a) {
    write_npy(out, a.dtype, a.shape, a.bytes);
}

/// Writes typed values (C order) as an .npy array of `shape`; shape_error when the count does not fit the shape.
template <npy_element T>
void write_npy(std::ostream& out, std::span<const T> values, const npy_shape& shape) {
    if constexpr (std::endian::native == std::endian::little) {
        write_npy(out, npy_type_of<T>, shape, std::as_bytes(values));
    } else {
        std::vector<std::byte> bytes(values.size() * sizeof(T));
        for (std::size_t i = 0; i < values.size(); ++i) {
            detail::npy::store_little_endian(bytes.data() + i * sizeof(T), values[i]);
        }
        write_npy(out, npy_type_of<T>, shape, bytes);
    }
}

/// Saves an .npy file atomically (a failed write leaves any previous file in place).
inline void save_npy(const std::filesystem::path& path, const npy_array& a) {
    std::size_t n = item_size(a.dtype);
    for (const std::size_t d : a.shape) n *= d;
    if (a.bytes.size() != n) {
        throw shape_error("cannot save '" + path.string() + "': " + std::to_string(a.bytes.size()) + " bytes of " +
                          std::string(to_string(a.dtype)) + " do not fill shape " + npy_shape_string(a.shape));
    }
    write_file_atomically(path, [&](std::ostream& out) { write_npy(out, a); });
}

template <npy_element T>
void save_npy(const std::filesystem::path& path, std::span<const T> values, const npy_shape& shape) {
    std::size_t n = 1;
    for (const std::size_t d : shape) n *= d;
    if (values.size() != n) {
        throw shape_error("cannot save '" + path.string() + "': " + std::to_string(values.size()) +
                          " values do not fill shape " + npy_shape_string(shape));
    }
    write_file_atomically(path, [&](std::ostream& out) { write_npy(out, values, shape); });
}

}  // namespace approxnn
