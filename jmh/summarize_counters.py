#!/usr/bin/env python3
"""Summarise jmh/run-counters.sh: what the live counters cost an append.

Each round ran varve (counters on), varve-nocounters (off) and varve-latency (on + latency recording) in one JMH
run, one fork each. Per job and store: the median over the rounds of each fork's score, as appends/s and as ns per
append (thread time: 2 threads x wall time for the two-thread job), and the allocation per append. Then, per job,
the time per append of "on" and "latency" over "off", round by round (the three forks of a round ran back to back):
the geometric mean of those paired ratios, its 95% t-interval over the rounds, their min-max, and the difference in
ns. "no difference shown" where the interval spans 1.
Usage: python3 jmh/summarize_counters.py <results dir>
"""
import glob
import json
import math
import os
import re
import statistics
import sys

SYSTEMS = ["varve", "varve-nocounters", "varve-latency"]
LABEL = {"varve": "on (default)", "varve-nocounters": "off", "varve-latency": "on + latency"}
JOBS = ["append", "concurrent", "tmpfs", "sample"]
TITLE = {
    "append": "AppendBenchmark, 1 thread, disk (Throughput)",
    "concurrent": "ConcurrentAppendBenchmark, 2 threads, distinct streams, disk (Throughput, successes)",
    "tmpfs": "AppendBenchmark, 1 thread, tmpfs (Throughput)",
    "sample": "AppendLatencyBenchmark, 1 thread, disk (SampleTime)",
}
# two-sided 95% t quantiles by degrees of freedom
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
       11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 20: 2.086, 30: 2.042}


def t95(df):
    if df in T95:
        return T95[df]
    return T95[max(k for k in T95 if k <= df)] if df > 0 else float("nan")


def load(directory):
    """-> {job: {round: {system: {"ns": thread-ns per append, "ops": appends/s, "alloc": B/op, "p50", "p99"}}}}"""
    data = {}
    for path in sorted(glob.glob(os.path.join(directory, "*-r*.json"))):
        m = re.match(r"(\w+)-r(\d+)\.json$", os.path.basename(path))
        if not m:
            continue
        job, rnd = m.group(1), int(m.group(2))
        with open(path) as f:
            text = f.read().strip()
        if not text:
            continue
        for r in json.loads(text):
            system = r["params"]["system"]
            sec = r.get("secondaryMetrics", {})
            entry = {"alloc": sec.get("gc.alloc.rate.norm", {}).get("score", float("nan"))}
            if r["mode"] == "sample":
                pm = r["primaryMetric"]
                entry["ns"] = pm["score"]                      # mean, ns/op
                entry["p50"] = pm["scorePercentiles"]["50.0"]
                entry["p99"] = pm["scorePercentiles"]["99.0"]
                entry["fast50"] = fastest_mean(pm["rawDataHistogram"], 0.5)
                entry["ops"] = 1e9 / pm["score"]
            else:
                threads = r.get("threads", 1)
                ops = sec["successes"]["score"] if "successes" in sec else r["primaryMetric"]["score"]
                entry["ops"] = ops
                entry["ns"] = threads * 1e9 / ops               # thread time per append
            data.setdefault(job, {}).setdefault(rnd, {})[system] = entry
    return data


def fastest_mean(histograms, share):
    """Mean of the fastest `share` of a SampleTime fork's samples. The clock here ticks in 10 ns, so the p50 moves in
    10 ns steps; the mean of the fastest half averages those steps and resolves a few ns, still ignoring the stalls
    (page faults, preemption) that make the plain mean noisy."""
    counts = {}
    for iteration in histograms:
        for block in iteration:
            for value, count in block if isinstance(block[0], list) else [block]:
                counts[value] = counts.get(value, 0) + count
    limit = share * sum(counts.values())
    taken = total = 0.0
    for value, count in sorted(counts.items()):
        take = min(count, limit - taken)
        if take <= 0:
            break
        total += value * take
        taken += take
    return total / taken


def engine_latency(directory):
    """The engine's own histogram (printed by VarveStore at the end of each varve-latency trial): p50s per job."""
    found = {}
    for path in sorted(glob.glob(os.path.join(directory, "*-r*.log"))):
        job = os.path.basename(path).split("-r")[0]
        last = None
        with open(path) as f:
            for line in f:
                m = re.search(r"varve counters: appends=(\d+), latency count=(\d+) mean=([\d.]+) ns p50=(\d+) "
                              r"p99=(\d+) p99.9=(\d+)", line)
                if m:
                    last = m
        if last:
            found.setdefault(job, []).append(tuple(float(x) for x in last.groups()))
    return found


def paired(rounds, system, base, key):
    ratios = [rounds[r][system][key] / rounds[r][base][key]
              for r in sorted(rounds) if system in rounds[r] and base in rounds[r]]
    if len(ratios) < 2:
        return ratios, float("nan"), float("nan"), float("nan")
    logs = [math.log(x) for x in ratios]
    mean = statistics.mean(logs)
    half = t95(len(logs) - 1) * statistics.stdev(logs) / math.sqrt(len(logs))
    return ratios, math.exp(mean), math.exp(mean - half), math.exp(mean + half)


def fmt_ops(x):
    return f"{x / 1e6:.2f} M" if x >= 1e6 else f"{x / 1e3:.0f} k"


def main():
    directory = sys.argv[1]
    data = load(directory)
    print(f"Results: {directory}\n")
    for job in JOBS:
        rounds = data.get(job)
        if not rounds:
            continue
        n = len(rounds)
        print(f"### {TITLE[job]}: {n} rounds, one fork per store per round\n")
        sample = job == "sample"
        head = "| counters | median appends/s [min-max] | median ns/append | " + \
            ("median p50 ns (mean of fastest 50%) | median p99 ns | " if sample else "") + "median B/append |"
        print(head)
        print("|" + "---|" * (head.count("|") - 1))
        for s in SYSTEMS:
            vals = [rounds[r][s] for r in sorted(rounds) if s in rounds[r]]
            if not vals:
                continue
            ops = [v["ops"] for v in vals]
            row = f"| {LABEL[s]} | {fmt_ops(statistics.median(ops))} [{fmt_ops(min(ops))}-{fmt_ops(max(ops))}] | " \
                  f"{statistics.median(v['ns'] for v in vals):.1f} | "
            if sample:
                row += f"{statistics.median(v['p50'] for v in vals):.0f} " \
                       f"(fastest 50%: {statistics.median(v['fast50'] for v in vals):.1f}) | " \
                       f"{statistics.median(v['p99'] for v in vals):.0f} | "
            row += f"{statistics.median(v['alloc'] for v in vals):.2f} |"
            print(row)
        print()
        keys = [("ns", "time per append (mean)")] + \
            ([("p50", "p50"), ("fast50", "mean of the fastest 50%")] if sample else [])
        print("| ratio (paired by round) | measure | per-round ratios | geo. mean [95% CI] | difference, ns/append |"
              " verdict |")
        print("|---|---|---|---|---|---|")
        base_ns = {key: statistics.median(rounds[r]["varve-nocounters"][key] for r in rounds
                                          if "varve-nocounters" in rounds[r]) for key, _ in keys}
        for s in ["varve", "varve-latency"]:
            for key, what in keys:
                ratios, gm, lo, hi = paired(rounds, s, "varve-nocounters", key)
                if not ratios:
                    continue
                b = base_ns[key]
                if math.isnan(lo):
                    verdict = "one round: no interval"
                else:
                    verdict = "no difference shown" if lo <= 1 <= hi else ("slower" if lo > 1 else "faster")
                print(f"| {LABEL[s]} / off | {what} | {', '.join(f'{x:.2f}' for x in ratios)} | "
                      f"{gm:.3f} [{lo:.3f}, {hi:.3f}] | {(gm - 1) * b:+.1f} [{(lo - 1) * b:+.1f}, {(hi - 1) * b:+.1f}] "
                      f"| {verdict} |")
        print()
    cost = sorted(glob.glob(os.path.join(directory, "cost", "*.json")))
    if cost:
        print("### CountersCostBenchmark: the counters' work alone, outside an append (AverageTime, ns per call)\n")
        print("| file | method | threads | forks | mean ns [JMH 99.9% error] | per-fork means |")
        print("|---|---|---|---|---|---|")
        for path in cost:
            with open(path) as f:
                for r in json.load(f):
                    pm = r["primaryMetric"]
                    forks = [statistics.mean(x) for x in pm["rawData"]]
                    print(f"| {os.path.basename(path)} | {r['benchmark'].rsplit('.', 1)[1]} | {r['threads']} | "
                          f"{r['forks']} | {pm['score']:.1f} [±{pm['scoreError']:.1f}] | "
                          f"{', '.join(f'{x:.1f}' for x in forks)} |")
        print()
    engine = engine_latency(directory)
    if engine:
        print("### The engine's own latency histogram (varve-latency, as last published before the close)\n")
        print("| job | forks | median p50 ns | median p99 ns | median p99.9 ns | median mean ns |")
        print("|---|---|---|---|---|---|")
        for job in JOBS:
            if job in engine:
                rows = engine[job]
                print(f"| {job} | {len(rows)} | {statistics.median(r[3] for r in rows):.0f} | "
                      f"{statistics.median(r[4] for r in rows):.0f} | {statistics.median(r[5] for r in rows):.0f} | "
                      f"{statistics.median(r[2] for r in rows):.0f} |")
        print()


if __name__ == "__main__":
    main()
