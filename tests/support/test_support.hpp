#pragma once
// Helpers shared by approxnn's doctest programs: message checks for exceptions and scratch directories.

#include <doctest/doctest.h>

#include <cstddef>
#include <exception>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <string>
#include <system_error>

namespace test_support {

inline bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

/// The message of the std::exception f throws, or "<no exception>".
template <class F>
std::string message_of(F&& f) {
    try {
        f();
    } catch (const std::exception& e) {
        return e.what();
    }
    return "<no exception>";
}

/// Checks that f throws an E whose message contains every part.
template <class E, class F>
void check_throws_with(F&& f, std::initializer_list<std::string> parts) {
    try {
        f();
    } catch (const E& e) {
        const std::string message = e.what();
        for (const std::string& part : parts) {
            CHECK_MESSAGE(contains(message, part), "the message '" << message << "' does not mention '" << part << "'");
        }
        return;
    } catch (const std::exception& e) {
        FAIL_CHECK("wrong exception type, message: " << e.what());
        return;
    }
    FAIL_CHECK("no exception thrown");
}

inline std::string read_bytes(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

/// Writes bytes to path, creating its directory.
inline void write_bytes(const std::filesystem::path& path, const std::string& bytes) {
    std::filesystem::create_directories(path.parent_path());
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

/// A scratch directory <APPROXNN_TEST_WORK_DIR>/<group>/<name>, emptied on creation and removed at the end.
class scratch_dir {
public:
    scratch_dir(const std::string& group, const std::string& name)
        : path_(std::filesystem::path(APPROXNN_TEST_WORK_DIR) / group / name) {
        std::filesystem::remove_all(path_);
        std::filesystem::create_directories(path_);
    }
    ~scratch_dir() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
        std::filesystem::remove(path_.parent_path(), ignored);  // succeeds once the group's last directory is gone
    }
    scratch_dir(const scratch_dir&) = delete;
    scratch_dir& operator=(const scratch_dir&) = delete;
    [[nodiscard]] const std::filesystem::path& path() const { return path_; }
    [[nodiscard]] std::filesystem::path operator/(const std::string& file) const { return path_ / file; }

private:
    std::filesystem::path path_;
};

/// The bytes of a .npy file of format version `version` (1: 2-byte header length; 2 and 3: 4-byte) with header
/// dict `dict` (padded as NumPy pads it) and `payload`, for tests of malformed and unusual files.
inline std::string npy_file(const std::string& dict, int version, const std::string& payload) {
    const std::size_t prefix = version == 1 ? 10 : 12;
    std::string header = dict;
    while ((prefix + header.size() + 1) % 64 != 0) header += ' ';
    header += '\n';
    std::string out("\x93NUMPY", 6);
    out += static_cast<char>(version);
    out += '\0';
    for (std::size_t b = 0; b < prefix - 8; ++b) out += static_cast<char>((header.size() >> (8 * b)) & 0xFF);
    return out + header + payload;
}

}  // namespace test_support
