#!/usr/bin/env python3
"""Prints a markdown table of medians from a hyperfine JSON export, with each
command's ratio to a baseline command measured in the same run.
usage: medians.py RESULTS.json BASELINE_NAME"""
import json
import sys

results = json.load(open(sys.argv[1]))["results"]
baseline = next(r for r in results if r["command"] == sys.argv[2])
print(f"| command | median ms | min ms | max ms | × {sys.argv[2]} |")
print("|---|---:|---:|---:|---:|")
for r in results:
    print(f"| {r['command']} | {r['median'] * 1e3:.1f} | {r['min'] * 1e3:.1f} | "
          f"{r['max'] * 1e3:.1f} | {r['median'] / baseline['median']:.2f} |")
