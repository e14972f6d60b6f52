#pragma once
// File helpers shared by the readers and writers of approxnn's formats.
//
// write_file_atomically: writes through a callback into <path>.partial, then renames it over <path>, so that a
// failed write (or a writer that throws) never leaves a truncated or .partial file or destroys the previous one.
// Errors are io_error naming <path>.

#include <concepts>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <string>
#include <string_view>
#include <system_error>

#include "approxnn/core/error.hpp"

namespace approxnn {

/// Opens a file for binary reading; throws io_error naming it.
inline std::ifstream open_for_reading(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw io_error("cannot open '" + path.string() + "' for reading");
    return in;
}

/// Writes through write(std::ostream&) into a temporary file next to `path`, then renames it over `path`.
template <class Writer>
    requires std::invocable<Writer&, std::ostream&>
void write_file_atomically(const std::filesystem::path& path, Writer&& write) {
    std::filesystem::path temporary = path;
    temporary += ".partial";
    {
        std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
        if (!out) throw io_error("cannot write '" + path.string() + "' (is its directory missing or read-only?)");
        try {
            write(out);
        } catch (...) {
            out.close();
            std::error_code ignored;
            std::filesystem::remove(temporary, ignored);
            throw;
        }
        out.flush();
        if (!out) {
            out.close();
            std::error_code ignored;
            std::filesystem::remove(temporary, ignored);
            throw io_error("writing '" + path.string() + "' failed");
        }
    }
    std::error_code ec;
    std::filesystem::rename(temporary, path, ec);
    if (ec) {
        std::filesystem::remove(temporary, ec);
        throw io_error("cannot replace '" + path.string() + "'");
    }
}

/// Writes `bytes` to `path` atomically.
inline void write_file_atomically(const std::filesystem::path& path, std::string_view bytes) {
    write_file_atomically(path, [&](std::ostream& out) {
        out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    });
}

}  // namespace approxnn
