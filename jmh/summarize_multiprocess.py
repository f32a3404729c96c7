#!/usr/bin/env python3
"""Summarise a run-multiprocess.sh results directory as the Markdown table of jmh/README.md.

Aggregate appends/s of both writers, median over every measurement iteration of every round:
threads2 = JMH's primary score (both threads); processes2 = the fork's primary score + the helper's appends over
the same iterations (the `helper` secondary score), iteration by iteration. Usage:
python3 jmh/summarize_multiprocess.py <results dir> [<results dir> ...] (several runs are pooled)
"""
import glob
import json
import os
import statistics
import sys


def load(directory):
    rows = []
    for path in sorted(glob.glob(os.path.join(directory, "*.json"))):
        with open(path) as f:
            text = f.read().strip()
        if text:
            for row in json.loads(text):
                row["_file"] = os.path.basename(path)
                rows.append(row)
    return rows


def iterations(metric):
    return [v for fork in metric.get("rawData", []) for v in fork]


def fmt(x):
    return "-" if x is None else ("%.2f M" % (x / 1e6) if x >= 1e6 else "%.0f k" % (x / 1e3))


def main():
    rows = [row for directory in sys.argv[1:] for row in load(directory)]
    # (shape, system, scenario) -> list of (total, fork, helper) per iteration
    data = {}
    for r in rows:
        shape = r["benchmark"].rsplit(".", 1)[1]
        p = r["params"]
        fork = iterations(r["primaryMetric"])
        helper = iterations(r["secondaryMetrics"]["helper"]) if shape == "processes2" else [0.0] * len(fork)
        key = (shape, p["system"], p["scenario"])
        data.setdefault(key, []).extend((f + h, f, h) for f, h in zip(fork, helper))

    def med(key, i=0):
        values = [t[i] for t in data.get(key, [])]
        return statistics.median(values) if values else None

    print("| shape | system | scenario | total appends/s | fork (JMH threads) | helper process | n | min-max total |")
    print("|---|---|---|---|---|---|---|---|")
    for key in sorted(data):
        totals = [t[0] for t in data[key]]
        print("| %s | %s | %s | **%s** | %s | %s | %d | %s-%s |" % (key + (fmt(med(key)), fmt(med(key, 1)),
              fmt(med(key, 2)) if key[0] == "processes2" else "-", len(totals), fmt(min(totals)),
              fmt(max(totals)))))
    print()
    print("| ratio | distinct | hot |")
    print("|---|---|---|")

    def ratio(a, b, scenario):
        x, y = med(a + (scenario,)), med(b + (scenario,))
        return "%.2fx" % (x / y) if x and y else "-"

    pairs = [("varve-mp processes2 / varve-mp threads2", ("processes2", "varve-mp"), ("threads2", "varve-mp")),
             ("varve-mp processes2 / varve threads2", ("processes2", "varve-mp"), ("threads2", "varve")),
             ("varve-mp threads2 / varve threads2", ("threads2", "varve-mp"), ("threads2", "varve")),
             ("varve-mp / chronicle, processes2", ("processes2", "varve-mp"), ("processes2", "chronicle")),
             ("varve-mp / chronicle, threads2", ("threads2", "varve-mp"), ("threads2", "chronicle")),
             ("chronicle processes2 / threads2", ("processes2", "chronicle"), ("threads2", "chronicle"))]
    for label, a, b in pairs:
        print("| %s | %s | %s |" % (label, ratio(a, b, "distinct"), ratio(a, b, "hot")))


if __name__ == "__main__":
    main()
