#pragma once
// The fastest kernel plan for a catalogue entry: a catalogue stores every multiplier as a table, which alone gives
// the table and error-plane paths; an entry that is a closed-form design of a registered family gets the plan of
// the design, with its exact-byte-product decomposition when it has one.
#include <algorithm>
#include <memory>
#include <string_view>
#include <vector>

#include "approxnn/core/error.hpp"
#include "approxnn/gemm/plan.hpp"
#include "approxnn/multipliers/catalogue.hpp"
#include "approxnn/multipliers/families.hpp"

namespace approxnn::gemm {

/// A plan computing exactly entry.table(): from the design when the entry's family and parameters name a registered
/// design whose table equals the entry's (so a user table that only borrows a family name still runs as a table).
[[nodiscard]] inline std::shared_ptr<const multiplier_plan> plan_for(const multipliers::catalogue_entry& entry) {
    const auto families = multipliers::design_families();
    const bool known = std::any_of(families.begin(), families.end(),
                                   [&](const multipliers::family_info& f) { return std::string_view(f.name) == entry.family(); });
    if (known) {
        std::vector<int> values;
        for (const multipliers::parameter_value& p : entry.parameters()) values.push_back(p.value);
        try {
            const multipliers::design_instance design(entry.family(), entry.operand_signedness(), values);
            if (design.table() == entry.table()) return std::make_shared<const multiplier_plan>(design);
        } catch (const error&) {
            // Parameters outside the family's range: the entry is a table that only names the family.
        }
    }
    return std::make_shared<const multiplier_plan>(entry.table());
}

}  // namespace approxnn::gemm
