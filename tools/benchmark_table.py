#!/usr/bin/env python3
"""Turns Google Benchmark JSON output of bench_gemm / bench_conv into the tables of docs/performance.md.

Usage:
    build/release/benchmarks/bench_gemm --benchmark_repetitions=3 --benchmark_report_aggregates_only=true \
        --benchmark_format=json > gemm.json
    tools/benchmark_table.py gemm.json [clang.json]

Benchmark names are <kind>/<shape>/<multiplier>/<path>[/threads:2...]. Prints, per shape, GMAC/s (mean over the
repetitions) of every multiplier and path, single- and two-threaded, the ratio of each path to the scalar reference of
the same run, the two-thread speed-up, and, with a second file (another compiler), its figures beside them.
"""
import json
import sys
from collections import defaultdict


def load(path):
    with open(path) as f:
        data = json.load(f)
    rates = {}
    for b in data["benchmarks"]:
        name = b.get("run_name", b["name"])
        if b.get("aggregate_name", "mean") != "mean":
            continue
        rate = b.get("items_per_second")
        if rate is None:
            continue
        rates[name] = rate / 1e9
    return rates


def split(name):
    parts = name.split("/")
    threads = 2 if any(p.startswith("threads:2") for p in parts) else 1
    parts = [p for p in parts if not p.startswith(("threads:", "real_time", "iterations:"))]
    kind, shape, multiplier, path = parts[0], parts[1], parts[2], parts[3]
    return kind, shape, multiplier, path, threads


def main():
    rates = load(sys.argv[1])
    other = load(sys.argv[2]) if len(sys.argv) > 2 else {}
    table = defaultdict(dict)
    other_table = defaultdict(dict)
    for source, target in ((rates, table), (other, other_table)):
        for name, rate in source.items():
            kind, shape, multiplier, path, threads = split(name)
            target[(kind, shape)][(multiplier, path, threads)] = rate
    for key in sorted(table):
        kind, shape = key
        rows = table[key]
        references = {m: r for (m, p, t), r in rows.items() if p == "reference"}
        print(f"\n### {kind} {shape}\n")
        header = "| multiplier | path | GMAC/s, 1 thread | × reference | GMAC/s, 2 threads | 2 threads / 1 |"
        rule = "|---|---|---|---|---|---|"
        if other:
            header += " clang 14, 1 thread |"
            rule += "---|"
        print(header)
        print(rule)
        for (multiplier, path, threads), rate in sorted(rows.items(), key=lambda kv: (kv[0][0], kv[0][1])):
            if threads != 1:
                continue
            reference = references.get(multiplier)
            ratio = f"{rate / reference:.0f}×" if reference and path != "reference" else ""
            two = rows.get((multiplier, path, 2))
            scaling = f"{two / rate:.2f}×" if two else ""
            two_text = f"{two:.1f}" if two else ""
            line = f"| {multiplier} | {path} | {rate:.2f} | {ratio} | {two_text} | {scaling} |"
            if other:
                o = other_table.get(key, {}).get((multiplier, path, 1))
                line += f" {o:.2f} |" if o else " |"
            print(line)


if __name__ == "__main__":
    main()
