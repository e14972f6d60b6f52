#pragma once
// Deterministic random numbers for initialisation and noise: the same sequence with every standard library
// (std::normal_distribution is implementation-defined, so normals come from our own Box-Muller transform).
#include <cmath>
#include <cstdint>
#include <random>

namespace approxnn::nn {

class random_source {
public:
    explicit random_source(std::uint64_t seed) : engine_(seed) {}

    /// Uniform in [0, 1) with 53 random bits.
    double uniform() noexcept { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }
    /// Uniform in [lo, hi).
    double uniform(double lo, double hi) noexcept { return lo + (hi - lo) * uniform(); }
    /// Standard normal (Box-Muller; the second value of each pair is kept for the next call).
    double normal() noexcept {
        if (has_spare_) {
            has_spare_ = false;
            return spare_;
        }
        double u1 = uniform();
        while (u1 <= 0.0) u1 = uniform();
        const double u2 = uniform();
        const double r = std::sqrt(-2.0 * std::log(u1));
        constexpr double two_pi = 6.283185307179586476925286766559;
        spare_ = r * std::sin(two_pi * u2);
        has_spare_ = true;
        return r * std::cos(two_pi * u2);
    }
    /// Uniform integer in [0, n) (n > 0), without modulo bias.
    std::uint64_t below(std::uint64_t n) noexcept {
        const std::uint64_t limit = ~std::uint64_t{0} - (~std::uint64_t{0} % n);
        std::uint64_t v = engine_();
        while (v >= limit) v = engine_();
        return v % n;
    }
    std::mt19937_64& engine() noexcept { return engine_; }

private:
    std::mt19937_64 engine_;
    double spare_ = 0.0;
    bool has_spare_ = false;
};

}  // namespace approxnn::nn
