#pragma once
// The marker of the instruction-count harness: a do-nothing function the counting plugin watches
// (tests/mve/plugin/insn_count.c, marker=<its address>). Every call logs the number of instructions executed so
// far; the difference of two consecutive markers is the cost of the code between them, plus a constant (the
// marker's own instruction and call) that the harness measures with two back-to-back markers and subtracts.

extern "C" void approxnn_insn_marker();
