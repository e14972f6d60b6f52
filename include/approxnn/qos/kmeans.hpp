#pragma once
// Generic k-means over row-major double points (n x d): k-means++ seeding, Lloyd iterations, restarts keeping the
// lowest inertia. Deterministic: a fixed seed gives the same result with every standard library (the generator
// and the sampling are our own, no std::*_distribution).
//
// Contract
// - points: n x d, row-major, finite; n >= 1, d >= 1, k >= 1 (otherwise parameter_error naming the value).
// - Distances are squared Euclidean. A point goes to the nearest centroid, ties to the lowest cluster index.
// - Seeding (k-means++): the first centroid is a uniformly drawn point; each next one is drawn with probability
//   proportional to D(x)^2, the squared distance to the nearest centroid chosen so far. When every D(x)^2 is 0 (k
//   larger than the number of distinct points) the next centroid is drawn uniformly, i.e. it duplicates a point.
// - Lloyd: centroids become the means of their clusters; an empty cluster is re-seeded at the point farthest from
//   its own centroid (ties: lowest point index; each point re-seeds at most one cluster per iteration). When that
//   distance is 0 (every point sits on a centroid, e.g. k > distinct points) the cluster stays empty and keeps
//   its centroid. Iterations stop when no label changes or after max_iterations updates.
// - Restarts: run r (0-based) is seeded with run_seed(seed, r); the run with the lowest inertia is kept (ties:
//   the earliest run), so restarts = R is never worse than restarts = 1 with the same seed.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "approxnn/core/error.hpp"

namespace approxnn::qos {

/// xoshiro256** seeded through splitmix64: small, fast, identical output everywhere.
class random_generator {
public:
    explicit random_generator(std::uint64_t seed) noexcept {
        std::uint64_t x = seed;
        for (std::uint64_t& s : state_) s = splitmix64(x);
    }

    std::uint64_t next() noexcept {
        const std::uint64_t result = rotl(state_[1] * 5, 7) * 9;
        const std::uint64_t t = state_[1] << 17;
        state_[2] ^= state_[0];
        state_[3] ^= state_[1];
        state_[1] ^= state_[2];
        state_[0] ^= state_[3];
        state_[2] ^= t;
        state_[3] = rotl(state_[3], 45);
        return result;
    }
    /// Uniform in [0, 1) with 53 random bits.
    double uniform() noexcept { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
    /// Uniform integer in [0, n), n > 0, without modulo bias.
    std::uint64_t below(std::uint64_t n) noexcept {
        const std::uint64_t limit = ~std::uint64_t{0} - (~std::uint64_t{0} % n);
        std::uint64_t v = next();
        while (v >= limit) v = next();
        return v % n;
    }

    static std::uint64_t splitmix64(std::uint64_t& x) noexcept {
        std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }

private:
    static std::uint64_t rotl(std::uint64_t x, int k) noexcept { return (x << k) | (x >> (64 - k)); }
    std::uint64_t state_[4]{};
};

struct kmeans_options {
    std::size_t clusters = 1;          ///< k >= 1
    std::size_t restarts = 1;          ///< independent seeded runs, >= 1; the lowest inertia is kept
    std::size_t max_iterations = 300;  ///< Lloyd updates per run (0: seeding and one assignment only)
    std::uint64_t seed = 1;
};

struct kmeans_result {
    std::size_t clusters = 0;
    std::size_t dimensions = 0;
    std::vector<double> centroids;    ///< clusters x dimensions, row-major
    std::vector<std::size_t> labels;  ///< per point: its cluster
    std::vector<std::size_t> sizes;   ///< per cluster: its number of points (0 for an empty cluster)
    double inertia = 0;               ///< sum of squared distances of the points to their centroids
    std::size_t iterations = 0;       ///< Lloyd updates of the kept run
    bool converged = false;           ///< the kept run stopped because no label changed
    std::size_t kept_run = 0;         ///< which restart was kept
    std::vector<double> run_inertia;  ///< inertia of every restart, in run order

    [[nodiscard]] std::span<const double> centroid(std::size_t j) const {
        return std::span<const double>(centroids).subspan(j * dimensions, dimensions);
    }
};

/// The seed of restart `run`: runs are independent and run 0 uses `seed` itself.
[[nodiscard]] inline std::uint64_t run_seed(std::uint64_t seed, std::size_t run) noexcept {
    return seed + 0xd1b54a32d192ed03ULL * static_cast<std::uint64_t>(run);
}

namespace detail {

inline double squared_distance(const double* a, const double* b, std::size_t d) noexcept {
    double sum = 0;
    for (std::size_t i = 0; i < d; ++i) {
        const double diff = a[i] - b[i];
        sum += diff * diff;
    }
    return sum;
}

inline std::size_t check_points(std::span<const double> points, std::size_t dimensions, std::size_t clusters) {
    if (dimensions == 0) throw parameter_error("k-means: dimensions = 0 (each point needs at least one coordinate)");
    if (clusters == 0) throw parameter_error("k-means: k = 0 clusters (k must be at least 1)");
    if (points.size() % dimensions != 0) {
        throw parameter_error("k-means: " + std::to_string(points.size()) + " coordinates are not a whole number of " +
                              std::to_string(dimensions) + "-dimensional points");
    }
    const std::size_t n = points.size() / dimensions;
    if (n == 0) throw parameter_error("k-means: n = 0 points (at least one is needed)");
    for (std::size_t i = 0; i < points.size(); ++i) {
        if (!std::isfinite(points[i])) {
            throw parameter_error("k-means: point " + std::to_string(i / dimensions) + ", coordinate " +
                                  std::to_string(i % dimensions) + " is not finite (" + std::to_string(points[i]) +
                                  ")");
        }
    }
    return n;
}

/// Assigns every point to its nearest centroid (ties: lowest index); returns whether any label changed.
inline bool assign(std::span<const double> points, std::size_t n, std::size_t d, const std::vector<double>& centroids,
                   std::size_t k, std::vector<std::size_t>& labels, std::vector<double>& distance) {
    bool changed = false;
    for (std::size_t p = 0; p < n; ++p) {
        std::size_t best = 0;
        double best_d = std::numeric_limits<double>::infinity();
        for (std::size_t j = 0; j < k; ++j) {
            const double dist = squared_distance(&points[p * d], &centroids[j * d], d);
            if (dist < best_d) {
                best_d = dist;
                best = j;
            }
        }
        if (labels[p] != best) changed = true;
        labels[p] = best;
        distance[p] = best_d;
    }
    return changed;
}

}  // namespace detail

/// k-means++ seeding: k centroids (k x d, row-major) drawn from the points with `generator`.
[[nodiscard]] inline std::vector<double> kmeans_plus_plus(std::span<const double> points, std::size_t dimensions,
                                                          std::size_t k, random_generator& generator) {
    const std::size_t n = detail::check_points(points, dimensions, k);
    const std::size_t d = dimensions;
    std::vector<double> centroids(k * d);
    std::vector<double> nearest(n, std::numeric_limits<double>::infinity());
    std::size_t pick = static_cast<std::size_t>(generator.below(n));
    for (std::size_t j = 0; j < k; ++j) {
        if (j > 0) {
            double total = 0;
            for (const double v : nearest) total += v;
            if (total > 0) {
                const double target = generator.uniform() * total;
                double cumulative = 0;
                pick = n;
                for (std::size_t p = 0; p < n; ++p) {
                    if (nearest[p] <= 0) continue;
                    cumulative += nearest[p];
                    pick = p;
                    if (target < cumulative) break;
                }
            } else {
                pick = static_cast<std::size_t>(generator.below(n));
            }
        }
        for (std::size_t i = 0; i < d; ++i) centroids[j * d + i] = points[pick * d + i];
        for (std::size_t p = 0; p < n; ++p) {
            const double dist = detail::squared_distance(&points[p * d], &centroids[j * d], d);
            if (dist < nearest[p]) nearest[p] = dist;
        }
    }
    return centroids;
}

/// Clusters n x d row-major points into options.clusters groups (see the contract at the top of this header).
[[nodiscard]] inline kmeans_result kmeans(std::span<const double> points, std::size_t dimensions,
                                          const kmeans_options& options) {
    const std::size_t k = options.clusters;
    const std::size_t n = detail::check_points(points, dimensions, k);
    if (options.restarts == 0) throw parameter_error("k-means: restarts = 0 (at least one run is needed)");
    const std::size_t d = dimensions;

    kmeans_result best;
    for (std::size_t run = 0; run < options.restarts; ++run) {
        random_generator generator(run_seed(options.seed, run));
        std::vector<double> centroids = kmeans_plus_plus(points, d, k, generator);
        std::vector<std::size_t> labels(n, k);  // k: "no label yet", so the first assignment counts as a change
        std::vector<double> distance(n, 0.0);
        detail::assign(points, n, d, centroids, k, labels, distance);
        std::size_t iterations = 0;
        bool converged = false;
        std::vector<std::size_t> sizes(k, 0);
        while (iterations < options.max_iterations) {
            ++iterations;
            // Update: means of the clusters.
            std::vector<double> sums(k * d, 0.0);
            std::fill(sizes.begin(), sizes.end(), std::size_t{0});
            for (std::size_t p = 0; p < n; ++p) {
                ++sizes[labels[p]];
                for (std::size_t i = 0; i < d; ++i) sums[labels[p] * d + i] += points[p * d + i];
            }
            for (std::size_t j = 0; j < k; ++j) {
                if (sizes[j] == 0) continue;
                for (std::size_t i = 0; i < d; ++i) {
                    centroids[j * d + i] = sums[j * d + i] / static_cast<double>(sizes[j]);
                }
            }
            // Empty clusters: re-seed at the point farthest from its (updated) centroid.
            std::vector<bool> taken(n, false);
            for (std::size_t j = 0; j < k; ++j) {
                if (sizes[j] != 0) continue;
                std::size_t far = n;
                double far_d = 0;
                for (std::size_t p = 0; p < n; ++p) {
                    if (taken[p]) continue;
                    const double dist = detail::squared_distance(&points[p * d], &centroids[labels[p] * d], d);
                    if (dist > far_d) {
                        far_d = dist;
                        far = p;
                    }
                }
                if (far == n) continue;  // every point sits on a centroid: the cluster stays empty
                taken[far] = true;
                for (std::size_t i = 0; i < d; ++i) centroids[j * d + i] = points[far * d + i];
            }
            if (!detail::assign(points, n, d, centroids, k, labels, distance)) {
                converged = true;
                break;
            }
        }
        std::fill(sizes.begin(), sizes.end(), std::size_t{0});
        double inertia = 0;
        for (std::size_t p = 0; p < n; ++p) {
            ++sizes[labels[p]];
            inertia += distance[p];
        }
        best.run_inertia.push_back(inertia);
        if (run == 0 || inertia < best.inertia) {
            best.clusters = k;
            best.dimensions = d;
            best.centroids = std::move(centroids);
            best.labels = std::move(labels);
            best.sizes = std::move(sizes);
            best.inertia = inertia;
            best.iterations = iterations;
            best.converged = converged;
            best.kept_run = run;
        }
    }
    return best;
}

}  // namespace approxnn::qos
