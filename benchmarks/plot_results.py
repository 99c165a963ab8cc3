#!/usr/bin/env python3
"""Draws docs/benchmarks.svg from BenchmarkDotNet's *-report.csv files: median ns per case, log scale.

Usage (after `dotnet run -c Release --project benchmarks/Allocator.Benchmarks -- --filter '*'`):
    python3 benchmarks/plot_results.py BenchmarkDotNet.Artifacts/results docs/benchmarks.svg
Standard library only, so it runs on a bare machine.
"""
import csv
import glob
import math
import os
import sys
from xml.sax.saxutils import escape


def median_ns(text):
    value, unit = text.replace(",", "").split()
    scale = {"ns": 1.0, "μs": 1e3, "us": 1e3, "ms": 1e6, "s": 1e9}[unit]
    return float(value) * scale


def read_rows(folder):
    rows = []
    for path in sorted(glob.glob(os.path.join(folder, "*-report.csv"))):
        suite = os.path.basename(path).replace("-report.csv", "").split(".")[-1].replace("Benchmarks", "")
        with open(path, newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                label = row["Method"].strip("'")
                if row.get("Threads"):
                    label += f" [{row['Threads']} thread{'s' if row['Threads'] != '1' else ''}]"
                rows.append((suite, label, median_ns(row["Median"])))
    return rows


def draw(rows, target):
    bar_height, gap, left, width = 18, 6, 430, 420
    height = 40 + len(rows) * (bar_height + gap)
    top = max(v for _, _, v in rows)
    decades = math.ceil(math.log10(top))
    def x_of(value):
        return left + width * math.log10(max(value, 1.0)) / decades
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 90}" height="{height}" font-family="sans-serif" font-size="12">',
             '<text x="10" y="18" font-weight="bold">Median time per operation (ns, log scale); 2-core VM, BenchmarkDotNet</text>']
    for d in range(decades + 1):
        x = left + width * d / decades
        parts.append(f'<line x1="{x:.1f}" y1="26" x2="{x:.1f}" y2="{height - 4}" stroke="#ddd"/>')
        parts.append(f'<text x="{x:.1f}" y="{height - 6}" font-size="10" text-anchor="middle" fill="#777">{10 ** d:g}</text>')
    y = 32
    for suite, label, value in rows:
        colour = {"StackCheckout": "#4878a8", "ContendedStack": "#6a9f58", "Fiber": "#c8803a", "ParallelFiber": "#a05a9c"}.get(suite, "#888")
        parts.append(f'<text x="{left - 8}" y="{y + 13}" text-anchor="end">{escape(label)}</text>')
        parts.append(f'<rect x="{left}" y="{y}" width="{x_of(value) - left:.1f}" height="{bar_height}" fill="{colour}"/>')
        parts.append(f'<text x="{x_of(value) + 4:.1f}" y="{y + 13}">{value:,.1f}</text>')
        y += bar_height + gap
    parts.append("</svg>")
    with open(target, "w", encoding="utf-8") as handle:
        handle.write("\n".join(parts) + "\n")


if __name__ == "__main__":
    results, output = sys.argv[1], sys.argv[2]
    draw(read_rows(results), output)
    print(f"wrote {output}")
