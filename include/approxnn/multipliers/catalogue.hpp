#pragma once
// The multiplier catalogue: type-erased entries (name, family, parameters, table, statistics, power) — the input
// of the error model and of the QoS search — and the built-in default catalogue of closed-form designs.
//
// Power in a catalogue is always relative to the exact multiplier of the same signedness (exact = 1). Each entry
// says where its figure comes from: synthesised (a table's power in mW divided by the exact multiplier's), a
// design estimate (power_model.hpp; an estimate, not a synthesis result), or set by the user.

#include <algorithm>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "approxnn/core/error.hpp"
#include "approxnn/multipliers/families.hpp"
#include "approxnn/multipliers/multiplier.hpp"
#include "approxnn/multipliers/statistics.hpp"
#include "approxnn/multipliers/table.hpp"

namespace approxnn::multipliers {

/// Where a power figure comes from.
enum class power_origin { synthesised, estimated, user };

constexpr std::string_view to_string(power_origin o) noexcept {
    switch (o) {
        case power_origin::synthesised: return "synthesised";
        case power_origin::estimated: return "estimated";
        case power_origin::user: return "user";
    }
    return "unknown";
}

/// A multiplier's power: relative to the exact multiplier (= 1), optionally in mW, and its provenance.
struct power_figure {
    double relative = 1.0;
    std::optional<double> milliwatts;
    power_origin origin = power_origin::user;
    std::string source;
    friend bool operator==(const power_figure&, const power_figure&) = default;
};

/// A named integer parameter with an owned name (catalogue entries outlive the designs they came from).
struct parameter_value {
    std::string name;
    int value = 0;
    friend bool operator==(const parameter_value&, const parameter_value&) = default;
};

class catalogue_entry {
public:
    /// An entry for any table. family is a free-form label ("table" for tables of unknown design).
    /// Throws parameter_error when a power figure is negative or not finite.
    catalogue_entry(table_multiplier table, power_figure power, std::string family = "table",
                    std::vector<parameter_value> parameters = {})
        : family_(std::move(family)),
          parameters_(std::move(parameters)),
          table_(std::move(table)),
          statistics_(compute_statistics(table_)),
          power_(std::move(power)) {
        check_power(power_);
    }

    /// An entry for a closed-form design, with its power estimate.
    static catalogue_entry from_design(const design_instance& design) {
        std::vector<parameter_value> parameters;
        for (const parameter& p : design.parameters()) parameters.push_back({std::string(p.name), p.value});
        return catalogue_entry(design.table(),
                               power_figure{design.relative_power(), std::nullopt, power_origin::estimated,
                                            "approxnn gate-count estimate (docs/power-estimate.md)"},
                               std::string(design.family().name), std::move(parameters));
    }

    /// An entry for policy M with the given power.
    template <multiplier M>
    static catalogue_entry from_policy(power_figure power) {
        std::vector<parameter_value> parameters;
        for (const parameter& p : parameters_of<M>()) parameters.push_back({std::string(p.name), p.value});
        std::string family = "policy";
        if constexpr (requires { M::family::name; }) family = std::string(M::family::name);
        return catalogue_entry(table_multiplier::from_policy<M>(), std::move(power), std::move(family),
                               std::move(parameters));
    }

    /// An entry for policy M with its own power estimate.
    template <multiplier M>
        requires has_power_estimate<M>
    static catalogue_entry from_policy() {
        return from_policy<M>(power_figure{static_cast<double>(M::relative_power()), std::nullopt,
                                           power_origin::estimated, "estimate declared by the policy type"});
    }

    [[nodiscard]] const std::string& name() const noexcept { return table_.name(); }
    [[nodiscard]] const std::string& family() const noexcept { return family_; }
    [[nodiscard]] const std::vector<parameter_value>& parameters() const noexcept { return parameters_; }
    [[nodiscard]] const table_multiplier& table() const noexcept { return table_; }
    [[nodiscard]] const error_statistics& statistics() const noexcept { return statistics_; }
    [[nodiscard]] const power_figure& power() const noexcept { return power_; }
    [[nodiscard]] signedness operand_signedness() const noexcept { return table_.operand_signedness(); }
    [[nodiscard]] bool is_exact() const noexcept { return statistics_.wce == 0; }

    /// "h=2 v=6"-style text of the parameters (empty when there are none).
    [[nodiscard]] std::string parameter_text() const {
        std::string text;
        for (const parameter_value& p : parameters_) {
            text += (text.empty() ? "" : " ") + p.name + "=" + std::to_string(p.value);
        }
        return text;
    }

    /// Replaces the power figure (e.g. with a synthesis result of the user's own).
    void set_power(power_figure power) {
        check_power(power);
        power_ = std::move(power);
    }

private:
    void check_power(const power_figure& p) const {
        if (!(p.relative >= 0.0) || p.relative > 1e6) {
            throw parameter_error("multiplier '" + name() + "': relative power " + std::to_string(p.relative) +
                                  " is not a finite non-negative number");
        }
        if (p.milliwatts && !(*p.milliwatts >= 0.0 && *p.milliwatts < 1e9)) {
            throw parameter_error("multiplier '" + name() + "': power " + std::to_string(*p.milliwatts) +
                                  " mW is not a finite non-negative number");
        }
    }

    std::string family_;
    std::vector<parameter_value> parameters_;
    table_multiplier table_;
    error_statistics statistics_;
    power_figure power_;
};

/// An ordered collection of uniquely named entries.
class catalogue {
public:
    using const_iterator = std::vector<catalogue_entry>::const_iterator;

    catalogue() = default;
    explicit catalogue(std::vector<catalogue_entry> entries) {
        for (catalogue_entry& e : entries) add(std::move(e));
    }

    /// Appends an entry; throws parameter_error when the name is taken.
    void add(catalogue_entry entry) {
        if (find(entry.name()) != nullptr) {
            throw parameter_error("catalogue already holds a multiplier named '" + entry.name() + "'");
        }
        entries_.push_back(std::move(entry));
    }

    [[nodiscard]] std::size_t size() const noexcept { return entries_.size(); }
    [[nodiscard]] bool empty() const noexcept { return entries_.empty(); }
    [[nodiscard]] const_iterator begin() const noexcept { return entries_.begin(); }
    [[nodiscard]] const_iterator end() const noexcept { return entries_.end(); }
    [[nodiscard]] const catalogue_entry& operator[](std::size_t i) const noexcept { return entries_[i]; }

    /// The entry called name, or nullptr.
    [[nodiscard]] const catalogue_entry* find(std::string_view name) const noexcept {
        for (const catalogue_entry& e : entries_) {
            if (e.name() == name) return &e;
        }
        return nullptr;
    }

    /// The entry called name; throws not_found_error otherwise.
    [[nodiscard]] const catalogue_entry& at(std::string_view name) const {
        if (const catalogue_entry* e = find(name)) return *e;
        throw not_found_error("no multiplier named '" + std::string(name) + "' in the catalogue (" +
                              std::to_string(entries_.size()) + " entries)");
    }

    /// Mutable access by name, e.g. to override a power figure; throws not_found_error.
    [[nodiscard]] catalogue_entry& at(std::string_view name) {
        return const_cast<catalogue_entry&>(std::as_const(*this).at(name));
    }

    /// The entries with the given operand signedness, in catalogue order.
    [[nodiscard]] catalogue subset(signedness s) const {
        catalogue result;
        for (const catalogue_entry& e : entries_) {
            if (e.operand_signedness() == s) result.entries_.push_back(e);
        }
        return result;
    }

    /// The entries ordered by relative power, cheapest first (ties: by name).
    [[nodiscard]] catalogue sorted_by_power() const {
        catalogue result = *this;
        std::stable_sort(result.entries_.begin(), result.entries_.end(),
                         [](const catalogue_entry& a, const catalogue_entry& b) {
                             if (a.power().relative != b.power().relative) {
                                 return a.power().relative < b.power().relative;
                             }
                             return a.name() < b.name();
                         });
        return result;
    }

private:
    std::vector<catalogue_entry> entries_;
};

/// The designs of the default catalogue for one signedness: every family over the parameter ranges where it is
/// useful for 8-bit inference (45 instances).
[[nodiscard]] inline std::vector<design_instance> default_designs(signedness s) {
    std::vector<design_instance> designs;
    const auto add = [&](std::string_view family, std::vector<int> values) {
        designs.emplace_back(family, s, std::move(values));
    };
    add("exact", {});
    for (int k = 1; k <= 9; ++k) add("column_truncation", {k});
    for (int k = 2; k <= 9; ++k) add("column_truncation_corrected", {k});
    for (int t = 1; t <= 4; ++t) add("operand_truncation", {t});
    for (const auto& [h, v] : {std::pair{1, 4}, {2, 4}, {2, 6}, {3, 6}, {2, 8}, {3, 8}, {4, 8}, {4, 10}}) {
        add("broken_array", {h, v});
    }
    for (const auto& [j, m] : {std::pair{0, 1}, {0, 2}, {0, 3}, {1, 1}, {1, 2}, {2, 1}}) add("perforation", {j, m});
    for (int k = 3; k <= 7; ++k) add("drum", {k});
    add("mitchell", {});
    add("mbm", {10});
    add("kulkarni", {});
    add("roba", {});
    return designs;
}

/// The default catalogue: default_designs() for both signednesses, with their power estimates.
[[nodiscard]] inline catalogue default_catalogue() {
    catalogue c;
    for (const signedness s : {signedness::unsigned_operands, signedness::signed_operands}) {
        for (const design_instance& d : default_designs(s)) c.add(catalogue_entry::from_design(d));
    }
    return c;
}

/// The default catalogue restricted to one signedness.
[[nodiscard]] inline catalogue default_catalogue(signedness s) {
    catalogue c;
    for (const design_instance& d : default_designs(s)) c.add(catalogue_entry::from_design(d));
    return c;
}

}  // namespace approxnn::multipliers
