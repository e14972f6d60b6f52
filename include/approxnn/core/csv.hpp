#pragma once
// Minimal CSV (RFC 4180) reading and writing for approxnn's table and metadata files.
//
// Reading: fields separated by commas; a field may be double-quoted, with "" for a literal quote and commas or line
// breaks inside the quotes, and only blanks between the closing quote and the next comma; CRLF and LF line ends;
// blank lines and lines whose first non-blank character is '#' are skipped; blanks around unquoted fields are trimmed. Errors are format_error naming the source and the line.

#include <charconv>
#include <cmath>
#include <cstddef>
#include <istream>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "approxnn/core/error.hpp"

namespace approxnn {

class csv_reader {
public:
    /// Reads records from `in`; `source` names it in error messages (usually the file path).
    csv_reader(std::istream& in, std::string source) : in_(in), source_(std::move(source)) {}

    /// Reads the next record into fields; false at the end of the input.
    bool next(std::vector<std::string>& fields) {
        fields.clear();
        std::string line;
        while (true) {
            if (!std::getline(in_, line)) return false;
            ++line_number_;
            record_line_ = line_number_;
            strip_cr(line);
            const std::size_t first = line.find_first_not_of(" \t");
            if (first == std::string::npos || line[first] == '#') continue;
            break;
        }
        std::string field;
        bool quoted = false;      // inside quotes
        bool was_quoted = false;  // the current field started with a quote
        std::size_t i = 0;
        while (true) {
            if (i == line.size()) {
                if (!quoted) break;
                std::string continuation;  // a line break inside quotes belongs to the field
                if (!std::getline(in_, continuation)) {
                    throw format_error(source_ + ":" + std::to_string(record_line_) +
                                       ": a quoted field is not closed before the end of the file");
                }
                ++line_number_;
                strip_cr(continuation);
                field += '\n';
                line = std::move(continuation);
                i = 0;
                continue;
            }
            const char c = line[i++];
            if (quoted) {
                if (c == '"') {
                    if (i < line.size() && line[i] == '"') {
                        field += '"';
                        ++i;
                    } else {
                        quoted = false;
                    }
                } else {
                    field += c;
                }
            } else if (c == ',') {
                fields.push_back(finish(field, was_quoted));
                field.clear();
                was_quoted = false;
            } else if (was_quoted) {
                if (c != ' ' && c != '\t') {
                    throw format_error(where() + ": text after the closing quote of a field ('" + std::string(1, c) +
                                       "')");
                }
            } else if (c == '"' && trim(field).empty()) {
                quoted = true;
                was_quoted = true;
                field.clear();
            } else {
                field += c;
            }
        }
        fields.push_back(finish(field, was_quoted));
        return true;
    }

    /// Line number (1-based) where the last record read started.
    [[nodiscard]] std::size_t line() const noexcept { return record_line_; }
    [[nodiscard]] const std::string& source() const noexcept { return source_; }

    /// "source:line" for error messages about the last record.
    [[nodiscard]] std::string where() const { return source_ + ":" + std::to_string(record_line_); }

private:
    static void strip_cr(std::string& s) {
        if (!s.empty() && s.back() == '\r') s.pop_back();
    }
    static std::string_view trim(std::string_view s) {
        const std::size_t b = s.find_first_not_of(" \t");
        if (b == std::string_view::npos) return {};
        const std::size_t e = s.find_last_not_of(" \t");
        return s.substr(b, e - b + 1);
    }
    static std::string finish(const std::string& field, bool was_quoted) {
        return was_quoted ? field : std::string(trim(field));
    }

    std::istream& in_;
    std::string source_;
    std::size_t line_number_ = 0;
    std::size_t record_line_ = 0;
};

/// The field quoted for CSV when it holds a comma, a quote or a line break, has surrounding spaces or tabs, or starts
/// with '#' (so that csv_reader reads it back unchanged).
inline std::string csv_field(std::string_view text) {
    const bool needs_quotes = text.find_first_of(",\"\n\r") != std::string_view::npos ||
                              (!text.empty() && (text.front() == ' ' || text.front() == '\t' || text.back() == ' ' ||
                                                 text.back() == '\t' || text.front() == '#'));
    if (!needs_quotes) return std::string(text);
    std::string out = "\"";
    for (const char c : text) {
        if (c == '"') out += '"';
        out += c;
    }
    out += '"';
    return out;
}

/// Parses a whole field as a decimal integer; throws format_error naming `where` and the text otherwise.
inline long long parse_integer(std::string_view text, const std::string& where) {
    long long value = 0;
    const char* begin = text.data();
    const char* end = text.data() + text.size();
    if (begin != end && *begin == '+') ++begin;
    const auto [ptr, ec] = std::from_chars(begin, end, value);
    if (ec != std::errc() || ptr != end || begin == end || (begin != text.data() && *begin == '-')) {
        throw format_error(where + ": '" + std::string(text) + "' is not an integer");
    }
    return value;
}

/// Parses a whole field as a finite decimal number; throws format_error naming `where` and the text otherwise.
inline double parse_number(std::string_view text, const std::string& where) {
    double value = 0;
    const char* begin = text.data();
    const char* end = text.data() + text.size();
    if (begin != end && *begin == '+') ++begin;
    const auto [ptr, ec] = std::from_chars(begin, end, value);
    if (ec != std::errc() || ptr != end || begin == end || (begin != text.data() && *begin == '-') ||
        !std::isfinite(value)) {
        throw format_error(where + ": '" + std::string(text) + "' is not a finite number");
    }
    return value;
}

}  // namespace approxnn
