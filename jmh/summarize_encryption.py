#!/usr/bin/env python3
"""Summarise a JMH run of EncryptionBenchmark and EncryptionKeyCacheBenchmark (AverageTime, ns per event), clear and
encrypted side by side.

Table 1, per benchmark, point and mode: JMH's score and its 99.9% error, the median of all measured iterations with
their min-max, the process CPU time per event (-prof io.varvedb.jmh.CpuProfiler: every thread of the fork, GC and
JIT included) and the allocation per event (gc.alloc.rate.norm, -prof gc).
Table 2, encrypted over clear: the ratio of the fork means' geometric means with a 95% Welch interval on their logs
(as summarize.py does), for the time and for the CPU time, and the differences in ns.
Usage: python3 jmh/summarize_encryption.py <encryption.json>
"""
import json
import math
import statistics
import sys

T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
       12: 2.179, 15: 2.131, 20: 2.086, 30: 2.042}
MODES = ("clear", "encrypted")


def t95(df):
    keys = sorted(k for k in T95 if k <= df)
    return T95[keys[-1]] if df <= 30 else 1.96


def ratio_ci(a, b):
    """exp(mean log a - mean log b) with a 95% Welch interval; None with fewer than 2 values a side."""
    if len(a) < 2 or len(b) < 2 or min(a + b) <= 0:
        return None
    la, lb = [math.log(x) for x in a], [math.log(x) for x in b]
    va, vb = statistics.variance(la) / len(la), statistics.variance(lb) / len(lb)
    d = statistics.mean(la) - statistics.mean(lb)
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / ((va ** 2 / (len(la) - 1) if va else 0) + (vb ** 2 / (len(lb) - 1) if vb else 0)) \
        if va + vb > 0 else len(a) + len(b) - 2
    t = t95(max(1, int(df)))
    return math.exp(d), math.exp(d - t * se), math.exp(d + t * se)


def ns(x):
    if not isinstance(x, (int, float)) or math.isnan(x):
        return "n/a"
    return f"{x:,.0f}" if x >= 100 else f"{x:.1f}"


def fork_means(metric):
    return [statistics.mean(fork) for fork in metric.get("rawData", []) if fork]


def ratio_cell(a, b):
    rc = ratio_ci(a, b)
    if not rc:
        return "-"
    shown = "" if rc[1] > 1 or rc[2] < 1 else ": no difference shown"
    return f"{rc[0]:.2f} [{rc[1]:.2f}, {rc[2]:.2f}]{shown}"


def main():
    with open(sys.argv[1]) as f:
        results = json.load(f)
    points = {}
    for r in results:
        bench = r["benchmark"].replace("io.varvedb.jmh.", "")
        params = r["params"]
        where = "payloadSize=" + params["payloadSize"] if "payloadSize" in params else "streams=" + params["streams"]
        sec = r.get("secondaryMetrics", {})
        pm = r["primaryMetric"]
        cpu = sec.get("cpu.ns/op", {})
        points.setdefault((bench, where), {})[params["mode"]] = {
            "score": pm["score"],
            "error": pm["scoreError"],
            "iterations": [x for fork in pm["rawData"] for x in fork],
            "forks": fork_means(pm),
            "cpu": cpu.get("score", float("nan")),
            "cpu_forks": fork_means(cpu),
            "alloc": sec.get("gc.alloc.rate.norm", {}).get("score", float("nan")),
        }
    order = sorted(points.items(), key=lambda kv: (kv[0][0], int(kv[0][1].split("=")[1])))
    print("| benchmark | point | mode | ns/event: score ± error | median [min-max] | CPU ns/event | B/event |")
    print("|---|---|---|---|---|---|---|")
    for (bench, where), modes in order:
        for mode in MODES:
            m = modes.get(mode)
            if m is None:
                continue
            it = m["iterations"]
            alloc = f"{m['alloc']:.2f}" if m["alloc"] < 10 else f"{m['alloc']:,.0f}"
            print(f"| `{bench}` | {where} | {mode} | {ns(m['score'])} ± {ns(m['error'])} | "
                  f"{ns(statistics.median(it))} [{ns(min(it))}-{ns(max(it))}] | {ns(m['cpu'])} | {alloc} |")
    print()
    print("| benchmark | point | encrypted / clear, time [95%] | difference | encrypted / clear, CPU [95%] | "
          "difference |")
    print("|---|---|---|---|---|---|")
    for (bench, where), modes in order:
        if not all(mode in modes for mode in MODES):
            continue
        c, e = modes["clear"], modes["encrypted"]
        print(f"| `{bench}` | {where} | {ratio_cell(e['forks'], c['forks'])} | +{ns(e['score'] - c['score'])} ns | "
              f"{ratio_cell(e['cpu_forks'], c['cpu_forks'])} | +{ns(e['cpu'] - c['cpu'])} ns |")


if __name__ == "__main__":
    main()
