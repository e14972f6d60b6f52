#pragma once
// Error reporting for approxnn.
//
// Contract: every failure caused by data at an API boundary (a malformed file, a corrupt buffer, a shape
// mismatch, a parameter out of range) is reported as an exception derived from approxnn::error whose message
// names the offending value or file. Misuse of types is a compile-time error (concepts, static_assert) instead.
//
// Builds without exceptions (-fno-exceptions, e.g. Cortex-M firmware) use status codes: each exception type
// has a matching approxnn::status, and the functions that can fail there offer status-returning forms.

#include <stdexcept>
#include <string>
#include <string_view>

namespace approxnn {

/// Status codes for builds without exceptions; one per exception type below.
enum class status : int {
    ok = 0,
    invalid_parameter = 1,  ///< a parameter outside its documented range
    format_error = 2,       ///< malformed, truncated or corrupt data (file or buffer)
    io_error = 3,           ///< a file could not be opened, read or written
    shape_error = 4,        ///< operand shapes that do not fit together
    not_found = 5,          ///< a name that is not in a collection
};

/// Human-readable name of a status code.
constexpr std::string_view to_string(status s) noexcept {
    switch (s) {
        case status::ok: return "ok";
        case status::invalid_parameter: return "invalid parameter";
        case status::format_error: return "format error";
        case status::io_error: return "I/O error";
        case status::shape_error: return "shape error";
        case status::not_found: return "not found";
    }
    return "unknown status";
}

/// Base of every exception approxnn throws.
class error : public std::runtime_error {
public:
    error(status code, const std::string& message) : std::runtime_error(message), code_(code) {}
    /// The status code a no-exceptions build would return for the same failure.
    [[nodiscard]] status code() const noexcept { return code_; }

private:
    status code_;
};

/// A parameter outside its documented range (e.g. a truncation of 16 columns of an 8x8 multiplier).
class parameter_error : public error {
public:
    explicit parameter_error(const std::string& message) : error(status::invalid_parameter, message) {}
};

/// Malformed, truncated or corrupt data: a table file of the wrong size, a bad header, a corrupt buffer.
class format_error : public error {
public:
    explicit format_error(const std::string& message) : error(status::format_error, message) {}
};

/// A file that cannot be opened, read or written.
class io_error : public error {
public:
    explicit io_error(const std::string& message) : error(status::io_error, message) {}
};

/// Operands whose shapes do not fit together.
class shape_error : public error {
public:
    explicit shape_error(const std::string& message) : error(status::shape_error, message) {}
};

/// A name looked up in a collection (e.g. a multiplier in a catalogue) that is not there.
class not_found_error : public error {
public:
    explicit not_found_error(const std::string& message) : error(status::not_found, message) {}
};

}  // namespace approxnn
