#pragma once
// Convenience header including all of approxnn. Every header also stands alone; include only what you use to
// keep compile times down.

#include "approxnn/core/config.hpp"
#include "approxnn/core/csv.hpp"
#include "approxnn/core/error.hpp"
#include "approxnn/core/fixed_point.hpp"
#include "approxnn/core/output_stage.hpp"
#include "approxnn/multipliers/catalogue.hpp"
#include "approxnn/multipliers/catalogue_io.hpp"
#include "approxnn/multipliers/closed_form.hpp"
#include "approxnn/multipliers/families.hpp"
#include "approxnn/multipliers/multiplier.hpp"
#include "approxnn/multipliers/power_model.hpp"
#include "approxnn/multipliers/statistics.hpp"
#include "approxnn/multipliers/table.hpp"
#include "approxnn/multipliers/table_io.hpp"
