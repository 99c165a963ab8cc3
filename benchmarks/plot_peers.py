#!/usr/bin/env python3
"""Draws docs/benchmarks-peers.svg from the CSV the peer benchmark writes: per comparison, the ratio peer time / our
time (above 1: we are faster), median over runs with the range as a whisker, the target as a tick, log scale.

Usage:
    dotnet run -c Release --project benchmarks/Allocator.PeerBenchmarks -- --csv peers.csv
    python3 benchmarks/plot_peers.py peers.csv docs/benchmarks-peers.svg JIT
    python3 benchmarks/plot_peers.py peers-aot.csv docs/benchmarks-peers-aot.svg "native AOT"
Standard library only, so it runs on a bare machine.
"""
import csv
import math
import re
import sys
from xml.sax.saxutils import escape


def target_ratio(text):
    """The ratio a target asks for: '>= 2x' gives 2.0; None when there is no ratio target."""
    match = re.search(r">=\s*([0-9.]+)x", text or "")
    return float(match.group(1)) if match else None


def read_rows(path):
    rows = []
    with open(path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            label = f"{row['case']} — {row['peer']}"
            if row["skipped"]:
                rows.append((label, None, None, None, target_ratio(row["target"]), row["skipped"]))
            else:
                rows.append((label, float(row["ratio_median"]), float(row["ratio_min"]), float(row["ratio_max"]),
                             target_ratio(row["target"]), None))
    return rows


def draw(rows, target, compiled=""):
    bar_height, gap, width = 18, 8, 460
    left = 20 + int(6.4 * max(len(label) for label, *_ in rows))  # room for the longest label at 12 px
    height = 74 + len(rows) * (bar_height + gap)
    values = [v for _, m, lo, hi, t, _ in rows for v in (m, lo, hi, t) if v]
    low = math.floor(math.log10(min(values + [0.5])))
    high = math.ceil(math.log10(max(values + [2.0])))
    def x_of(value):
        return left + width * (math.log10(value) - low) / (high - low)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 80}" height="{height}" font-family="sans-serif" font-size="12">',
             f'<text x="10" y="18" font-weight="bold">Peer time / our time, one process, cases interleaved (above 1: we are faster; log scale){escape(compiled)}</text>',
             '<text x="10" y="36" font-size="11" fill="#555">bar: median over runs; whisker: range over runs; black tick: target; green: target met, red: not met, grey: no target</text>']
    for d in range(low, high + 1):
        x = x_of(10 ** d)
        parts.append(f'<line x1="{x:.1f}" y1="46" x2="{x:.1f}" y2="{height - 16}" stroke="#ddd"/>')
        parts.append(f'<text x="{x:.1f}" y="{height - 4}" font-size="10" text-anchor="middle" fill="#777">{10 ** d:g}x</text>')
    one = x_of(1.0)
    parts.append(f'<line x1="{one:.1f}" y1="46" x2="{one:.1f}" y2="{height - 16}" stroke="#333" stroke-dasharray="4,3"/>')
    y = 52
    for label, median, low_ratio, high_ratio, goal, skipped in rows:
        parts.append(f'<text x="{left - 8}" y="{y + 13}" text-anchor="end">{escape(label)}</text>')
        if skipped:
            parts.append(f'<text x="{left + 4}" y="{y + 13}" fill="#777">{escape(skipped)}</text>')
        else:
            colour = "#999" if goal is None else ("#4a9a4a" if median >= goal else "#c0504d")
            start, end = sorted((one, x_of(median)))
            parts.append(f'<rect x="{start:.1f}" y="{y}" width="{max(end - start, 1):.1f}" height="{bar_height}" fill="{colour}"/>')
            mid = y + bar_height / 2
            parts.append(f'<line x1="{x_of(low_ratio):.1f}" y1="{mid:.1f}" x2="{x_of(high_ratio):.1f}" y2="{mid:.1f}" stroke="#222"/>')
            parts.append(f'<text x="{max(end, x_of(high_ratio)) + 4:.1f}" y="{y + 13}">{median:.2f}x</text>')
        if goal is not None:
            x = x_of(goal)
            parts.append(f'<line x1="{x:.1f}" y1="{y - 2}" x2="{x:.1f}" y2="{y + bar_height + 2}" stroke="#000" stroke-width="2"/>')
        y += bar_height + gap
    parts.append("</svg>")
    with open(target, "w", encoding="utf-8") as handle:
        handle.write("\n".join(parts) + "\n")


if __name__ == "__main__":
    source, output = sys.argv[1], sys.argv[2]
    compiled = f", {sys.argv[3]}" if len(sys.argv) > 3 else ""  # how the benchmark was compiled: JIT, native AOT
    draw(read_rows(source), output, compiled)
    print(f"wrote {output}")
