#pragma once
// The int8 deployment: a trained quantisation-aware model compiled into an integer-only model that runs with one
// multiplier per conv / linear layer.
//
//   nn::int8_model m = nn::compile_int8(model, calibration_images);   // deploy/compile.hpp
//   m.set_multipliers(plans);                                         // product-layer order, null = exact
//   m.forward(images, logits);                                        // float in, float logits out, integers inside
//
// deploy/requantisation.hpp   batch norm and bias folded into per-channel fixed-point requantisation
// deploy/int8_model.hpp       the integer ops and their arithmetic; run-time multiplier and requantisation switching
// deploy/compile.hpp          graph walk, fusion, calibration
#include "approxnn/nn/deploy/compile.hpp"
#include "approxnn/nn/deploy/int8_model.hpp"
#include "approxnn/nn/deploy/requantisation.hpp"
