#pragma once
// Plotting for the examples through gnuplot (Debian package gnuplot-nox): the example writes the data and a
// script, gnuplot renders the PNG. Not part of the library.

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

namespace examples {

/// Runs gnuplot on `script` (written next to `png` as <png>.gp for reuse). Throws std::runtime_error when gnuplot
/// is missing or fails.
inline void run_gnuplot(const std::string& script, const std::filesystem::path& png) {
    std::filesystem::path script_path = png;
    script_path.replace_extension(".gp");
    {
        std::ofstream out(script_path);
        if (!out) throw std::runtime_error("cannot write " + script_path.string());
        out << script;
    }
    if (std::system("command -v gnuplot > /dev/null 2>&1") != 0) {
        throw std::runtime_error("gnuplot is not installed (Debian: apt-get install gnuplot-nox); the data and "
                                 "script are in " + script_path.string());
    }
    const std::string command = "gnuplot '" + script_path.string() + "'";
    if (std::system(command.c_str()) != 0) {
        throw std::runtime_error("gnuplot failed on " + script_path.string());
    }
    if (!std::filesystem::exists(png)) throw std::runtime_error("gnuplot did not write " + png.string());
}

/// Quotes text for a gnuplot string literal.
inline std::string gnuplot_string(const std::string& text) {
    std::string out = "\"";
    for (const char c : text) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    return out + "\"";
}

}  // namespace examples
