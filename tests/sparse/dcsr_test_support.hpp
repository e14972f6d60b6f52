#pragma once
// Helpers of the dCSR tests: random sparse matrices, and an independent, deliberately naive encoder written
// straight from dcsr-format.md (linear gap search, no shortcuts) as a second opinion on the library's encoder.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

namespace dcsr_test {

/// A rows x cols row-major matrix with about `sparsity` of its entries zero; non-zeros uniform in [-128, 127] \ {0}.
template <class Value = std::int8_t>
std::vector<Value> random_sparse(std::size_t rows, std::size_t cols, double sparsity, std::uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    std::uniform_int_distribution<int> v(-128, 127);
    std::vector<Value> m(rows * cols, Value{});
    for (Value& e : m) {
        if (u(rng) >= sparsity) {
            int x = v(rng);
            if (x == 0) x = 1;
            e = static_cast<Value>(x);
        }
    }
    return m;
}

/// Random int8 activations.
inline std::vector<std::int8_t> random_bytes(std::size_t n, std::uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> v(-128, 127);
    std::vector<std::int8_t> x(n);
    for (std::int8_t& e : x) e = static_cast<std::int8_t>(v(rng));
    return x;
}

/// Which validity rule made the naive encoder pad, counted over everything it encoded.
struct rule_counts {
    std::size_t slope = 0;  // (a) failed
    std::size_t minimum = 0;  // (b) failed while (a) held
    std::size_t single_element = 0;  // the single-element rule applied
    std::size_t last_gap = 0;  // a zero appended into the last gap
};

/// The seven arrays as the naive encoder builds them.
struct naive_arrays {
    std::vector<std::int8_t> values;
    std::vector<std::uint8_t> delta_indices;
    std::vector<std::int8_t> group_minimums;
    std::vector<std::uint8_t> bitmaps;
    std::vector<std::uint16_t> bitmasks;
    std::vector<std::int16_t> row_offsets;
    std::uint32_t nnze = 0;
};

struct naive_group {
    long long m = 0;
    long long d[16] = {};
};

/// Encodes one row per dcsr-format.md §3; returns false when a rule fails (which one goes to `counts`).
inline bool naive_try_row(const std::vector<long long>& c, long long C, std::vector<naive_group>* out,
                          rule_counts* counts) {
    const long long n = static_cast<long long>(c.size());
    if (n == 0) return true;
    const long long s = (C + n / 2) / n;
    long long previous_minimum = 0;
    bool a_ok = true;
    bool b_ok = true;
    std::vector<naive_group> groups;
    for (long long k = 0; k * 16 < n; ++k) {
        long long r[16];
        long long minimum = std::numeric_limits<long long>::max();
        const long long real = std::min<long long>(16, n - 16 * k);
        for (long long j = 0; j < real; ++j) {
            r[j] = c[static_cast<std::size_t>(16 * k + j)] - s * j;
            minimum = std::min(minimum, r[j]);
        }
        for (long long j = real; j < 16; ++j) r[j] = minimum;
        naive_group g;
        for (long long j = 0; j < 16; ++j) {
            g.d[j] = r[j] - minimum;
            if (g.d[j] > 255) a_ok = false;  // (c)
            if (s * j + g.d[j] > 255) a_ok = false;  // (a)
        }
        g.m = k == 0 ? minimum : minimum - previous_minimum - 16 * s;
        if (!(g.m > -128 && g.m < 127)) b_ok = false;  // (b)
        previous_minimum = minimum;
        groups.push_back(g);
    }
    if (!a_ok || !b_ok) {
        if (counts != nullptr) (a_ok ? counts->minimum : counts->slope)++;
        return false;
    }
    if (out != nullptr) *out = groups;
    return true;
}

/// The naive encoder: dense row-major int8 in, the seven arrays out.
inline naive_arrays naive_encode(const std::vector<std::int8_t>& dense, std::size_t R, std::size_t C,
                                 rule_counts* counts = nullptr) {
    naive_arrays a;
    std::vector<long long> sizes;
    std::size_t group_number = 0;
    for (std::size_t row = 0; row < R; ++row) {
        std::vector<long long> c;
        std::vector<std::int8_t> v;
        for (std::size_t col = 0; col < C; ++col) {
            if (dense[row * C + col] != 0) {
                c.push_back(static_cast<long long>(col));
                v.push_back(dense[row * C + col]);
            }
        }
        std::vector<naive_group> groups;
        while (!naive_try_row(c, static_cast<long long>(C), &groups, counts)) {
            if (c.size() == 1) {
                c.insert(c.begin(), c[0] / 2);
                v.insert(v.begin(), 0);
                if (counts != nullptr) counts->single_element++;
                continue;
            }
            // Gaps g_0 = c_0, g_i = c_i - c_{i-1}, g_n = C - c_{n-1}; the first largest.
            std::size_t best = 0;
            long long best_gap = -1;
            for (std::size_t i = 0; i <= c.size(); ++i) {
                const long long gap =
                    i == 0 ? c[0] : (i == c.size() ? static_cast<long long>(C) - c.back() : c[i] - c[i - 1]);
                if (gap > best_gap) {
                    best_gap = gap;
                    best = i;
                }
            }
            const long long end = best == c.size() ? static_cast<long long>(C) : c[best];
            c.insert(c.begin() + static_cast<std::ptrdiff_t>(best), end - (best_gap + 1) / 2);
            v.insert(v.begin() + static_cast<std::ptrdiff_t>(best), 0);
            if (counts != nullptr && best == c.size() - 1) counts->last_gap++;
        }
        sizes.push_back(static_cast<long long>(c.size()));
        a.values.insert(a.values.end(), v.begin(), v.end());
        for (const naive_group& g : groups) {
            a.group_minimums.push_back(static_cast<std::int8_t>(g.m));
            if (group_number % 2 == 0) {
                a.delta_indices.resize(a.delta_indices.size() + 16, 0);
                a.bitmaps.push_back(0);
            }
            std::uint8_t* block = a.delta_indices.data() + (group_number / 2) * 16;
            unsigned bitmap = 0;
            for (int j = 0; j < 16; ++j) {
                const unsigned nibble = static_cast<unsigned>(g.d[j]) & 0xF;
                block[j] = static_cast<std::uint8_t>(block[j] | (group_number % 2 == 0 ? nibble << 4 : nibble));
            }
            for (int b = 4; b < 8; ++b) {
                unsigned mask = 0;
                for (int j = 0; j < 16; ++j) {
                    if ((g.d[j] >> b) & 1) mask |= 1U << j;
                }
                if (mask != 0) {
                    bitmap |= 1U << (b - 4);
                    a.bitmasks.push_back(static_cast<std::uint16_t>(mask));
                }
            }
            a.bitmaps.back() =
                static_cast<std::uint8_t>(a.bitmaps.back() | (group_number % 2 == 0 ? bitmap << 4 : bitmap));
            ++group_number;
        }
    }
    a.nnze = static_cast<std::uint32_t>(a.values.size());
    for (const long long n : sizes)
        a.row_offsets.push_back(static_cast<std::int16_t>(n - static_cast<long long>(a.nnze / R)));
    return a;
}

}  // namespace dcsr_test
