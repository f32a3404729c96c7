#!/usr/bin/env python3
"""Summarise OpenBenchmark results (jmh/run-open.sh, or the `open` group of run-all.sh).

Pools the single-shot iterations of every fork per (benchmark, streams, verify) and prints, in ms: the median,
p25/p75, min/max and count; the medians of the forks; the first warm-up iteration of each fork (the first open in a
fresh JVM, interpreted/C1 code), parsed from the logs; then, per store shape, the difference and ratio of the
medians (verify=true against verify=false) and the close (openClose - open).
Usage: python3 jmh/summarize_open.py <results dir> [more dirs]
"""
import glob
import json
import os
import re
import statistics
import sys


def quantile(values, q):
    s = sorted(values)
    if not s:
        return float("nan")
    pos = (len(s) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def load(directories):
    pooled = {}   # (method, streams, verify) -> {"raw": [...], "forks": [[...]]}
    for directory in directories:
        for path in sorted(glob.glob(os.path.join(directory, "*.json"))):
            with open(path) as f:
                text = f.read().strip()
            if not text:
                continue
            for r in json.loads(text):
                if ".OpenBenchmark." not in r["benchmark"]:
                    continue
                key = (r["benchmark"].rsplit(".", 1)[1], int(r["params"]["streams"]), r["params"]["verify"])
                entry = pooled.setdefault(key, {"raw": [], "forks": [], "first": []})
                for fork in r["primaryMetric"]["rawData"]:
                    entry["forks"].append(fork)
                    entry["raw"].extend(fork)
        for path in sorted(glob.glob(os.path.join(directory, "*.log"))):
            key = None
            with open(path) as f:
                for line in f:
                    m = re.match(r"# Benchmark: .*\.OpenBenchmark\.(\w+)", line)
                    if m:
                        method = m.group(1)
                    m = re.match(r"# Parameters: \(streams = (\d+), verify = (\w+)\)", line)
                    if m:
                        key = (method, int(m.group(1)), m.group(2))
                    m = re.match(r"# Warmup Iteration\s+1: ([\d.]+) ms/op", line)
                    if m and key in pooled:
                        pooled[key]["first"].append(float(m.group(1)))
    return pooled


def fmt(x):
    return "%.1f" % x if x >= 10 else "%.2f" % x


def main():
    pooled = load(sys.argv[1:])
    if not pooled:
        sys.exit("no OpenBenchmark results in " + " ".join(sys.argv[1:]))
    print("| operation | streams | verify | median ms | p25-p75 ms | min-max ms | n (forks) | fork medians ms |"
          " first open in a fresh JVM ms |")
    print("|---|---|---|---|---|---|---|---|---|")
    medians = {}
    for key in sorted(pooled, key=lambda k: (k[0], -k[1], k[2] != "true")):
        e = pooled[key]
        raw = e["raw"]
        med = statistics.median(raw)
        medians[key] = med
        forks = ", ".join(fmt(statistics.median(f)) for f in e["forks"])
        first = ", ".join(fmt(x) for x in e["first"]) or "-"
        print("| %s | %s | %s | **%s** | %s-%s | %s-%s | %d (%d) | %s | %s |" % (
            key[0], "{:,}".format(key[1]), key[2], fmt(med), fmt(quantile(raw, 0.25)), fmt(quantile(raw, 0.75)),
            fmt(min(raw)), fmt(max(raw)), len(raw), len(e["forks"]), forks, first))
    print()
    print("| operation | streams | verify=true ms | verify=false ms | difference ms | per stream | ratio |")
    print("|---|---|---|---|---|---|---|")
    for method in sorted({k[0] for k in medians}):
        for streams in sorted({k[1] for k in medians}, reverse=True):
            t = medians.get((method, streams, "true"))
            f = medians.get((method, streams, "false"))
            if t is None or f is None:
                continue
            print("| %s | %s | %s | %s | %s | %.0f ns | %.1fx |" % (method, "{:,}".format(streams), fmt(t), fmt(f),
                  fmt(t - f), (t - f) * 1e6 / streams, t / f))
    print()
    print("| streams | verify | close = openClose - open, ms (medians) |")
    print("|---|---|---|")
    for streams in sorted({k[1] for k in medians}, reverse=True):
        for verify in ("true", "false"):
            oc = medians.get(("openClose", streams, verify))
            o = medians.get(("open", streams, verify))
            if oc is not None and o is not None:
                print("| %s | %s | %s |" % ("{:,}".format(streams), verify, fmt(oc - o)))


if __name__ == "__main__":
    main()
