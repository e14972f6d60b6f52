// Must not compile: a type that is not a multiplier policy (multiply is not static, constexpr or noexcept).
#include <cstdint>
#include <string>

#include "approxnn/multipliers/table.hpp"

struct not_a_policy {
    using operand_type = std::uint8_t;
    using product_type = std::int32_t;
    static constexpr bool is_signed = false;
    static constexpr bool is_exact = true;
    static constexpr approxnn::operand_position weight_operand = approxnn::operand_position::second;
    static std::string name() { return "not_a_policy"; }
    std::int32_t multiply(std::uint8_t a, std::uint8_t b) { return a * b; }
};

int main() {
    auto table = approxnn::multipliers::table_multiplier::from_policy<not_a_policy>();
    return table.multiply(1, 1);
}
