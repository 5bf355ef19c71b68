#!/usr/bin/env python3
"""Prints the median of every criterion benchmark under target/criterion as a Markdown table
(run `cargo bench` first)."""
import json
import pathlib

root = pathlib.Path(__file__).resolve().parent.parent / "target" / "criterion"
rows = []
for est in sorted(root.glob("**/new/estimates.json")):
    name = str(est.parent.parent.relative_to(root))
    median = json.loads(est.read_text())["median"]["point_estimate"]
    rows.append((name, median))
print("| benchmark | median |")
print("|---|---:|")
for name, ns in rows:
    shown = f"{ns / 1000:.2f} µs" if ns >= 1000 else f"{ns:.1f} ns"
    print(f"| `{name}` | {shown} |")
