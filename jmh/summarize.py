#!/usr/bin/env python3
"""Summarise a run-all.sh results directory as the Markdown tables of jmh/README.md.

Scores are medians of the measurement iterations (runs are noisy on shared machines); allocation is JMH's
gc.alloc.rate.norm (bytes per operation) from -prof gc. Usage: python3 jmh/summarize.py <results dir>
"""
import glob
import json
import os
import statistics
import sys

SYSTEMS = ["varve", "chronicle", "lmdb", "sqlite"]
DURABILITY = [("varve", "OS"), ("varve-group", "GROUP_COMMIT"),
              ("varve-group-await", "GROUP_COMMIT + awaitDurable"), ("varve-sync", "SYNC")]


def load(directory):
    rows = []
    for path in sorted(glob.glob(os.path.join(directory, "*.json"))):
        if os.path.basename(path) == "profile.json":
            continue  # a repeat under the stack profiler: its scores are perturbed, read its log instead
        with open(path) as f:
            text = f.read().strip()
        if text:
            rows.extend(json.loads(text))
    return rows


def median(metric):
    raw = [v for fork in metric.get("rawData", []) for v in fork]
    return statistics.median(raw) if raw else metric["score"]


def alloc(row):
    m = row.get("secondaryMetrics", {}).get("gc.alloc.rate.norm")
    return m["score"] if m else float("nan")


def find(rows, bench, **params):
    for r in rows:
        if not r["benchmark"].endswith("." + bench):
            continue
        p = r.get("params", {})
        if all(p.get(k) == str(v) for k, v in params.items()):
            return r
    return None


def fmt_rate(x):
    if x is None:
        return "-"
    if x >= 1e6:
        return "%.2f M" % (x / 1e6)
    if x >= 1e3:
        return "%.1f k" % (x / 1e3)
    return "%.0f" % x


def ratio(a, b):
    return "%.1fx" % (a / b) if a and b else "-"


def fmt_alloc(x):
    return "-" if x != x else ("%.2f" % x if x < 10 else "%.0f" % x)


def throughput_table(rows, bench, keys, label, scale=1, metric=None, floor=None):
    out = []
    head = "| " + " | ".join(k for k, _ in keys) + " | " + " | ".join(SYSTEMS) + \
        " | varve/chronicle | varve/lmdb | varve/sqlite |" + (" varve/floor |" if floor else "") + \
        " B/op varve | B/op chronicle | B/op lmdb | B/op sqlite |"
    out.append(head)
    out.append("|" + "---|" * (head.count("|") - 1))
    combos = []
    for r in rows:
        if r["benchmark"].endswith("." + bench):
            c = tuple(r["params"].get(k) for _, k in keys)
            if c not in combos:
                combos.append(c)
    for c in combos:
        scores = {}
        allocs = {}
        for s in SYSTEMS:
            r = find(rows, bench, system=s, **{k: v for (_, k), v in zip(keys, c)})
            if r is None:
                continue
            m = r["secondaryMetrics"][metric] if metric else r["primaryMetric"]
            scores[s] = median(m) * scale
            allocs[s] = alloc(r)
        v = scores.get("varve")
        line = "| " + " | ".join(c) + " | " + " | ".join(fmt_rate(scores.get(s)) for s in SYSTEMS)
        line += " | " + " | ".join(ratio(v, scores.get(s)) for s in SYSTEMS[1:])
        if floor:
            f = floor(dict(zip([k for _, k in keys], c)))
            line += " | " + (("%.0f%%" % (100 * v / f)) if v and f else "-")
        line += " | " + " | ".join(fmt_alloc(allocs.get(s, float("nan"))) for s in SYSTEMS) + " |"
        out.append(line)
    print("### " + label + "\n")
    print("\n".join(out) + "\n")


def durability_table(rows):
    present = [r for r in rows if r["benchmark"].endswith(".AppendBenchmark.append")
               and r["params"]["system"] != "varve" and r["params"]["system"].startswith("varve")]
    if not present:
        return
    print("### VarveDB durability modes, one thread, exact(n), one stream\n")
    print("| payload | system | mode | appends/s | vs OS | p50 ns | p99 ns | p99.9 ns | p99.99 ns | max ns | B/op |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for payload in sorted({r["params"]["payload"] for r in present}, key=int):
        base = find(rows, "AppendBenchmark.append", system="varve", streams=1, expected="exact", payload=payload)
        base_score = median(base["primaryMetric"]) if base else None
        for system, mode in DURABILITY:
            t = find(rows, "AppendBenchmark.append", system=system, streams=1, expected="exact", payload=payload)
            lat = find(rows, "AppendLatencyBenchmark.append", system=system, payload=payload)
            score = median(t["primaryMetric"]) if t else None
            pct = ["-"] * 5
            if lat:
                p = lat["primaryMetric"]["scorePercentiles"]
                pct = ["%.0f" % p[k] for k in ("50.0", "99.0", "99.9", "99.99", "100.0")]
            vs = ("%.3fx" % (score / base_score)) if score and base_score else "-"
            print("| %s | %s | %s | %s | %s | %s | %s |" % (payload, system, mode, fmt_rate(score), vs,
                                                        " | ".join(pct), fmt_alloc(alloc(t) if t else float("nan"))))
    print()


def main():
    rows = load(sys.argv[1])

    floors = {r["params"]["payload"]: median(r["primaryMetric"]) for r in rows
              if r["benchmark"].endswith("FloorBenchmark.append")}
    if floors:
        print("### Physical floor (warm mapped pages), appends/s\n")
        print("| payload | floor | B/op |\n|---|---|---|")
        for r in rows:
            if r["benchmark"].endswith("FloorBenchmark.append"):
                print("| %s | %s | %s |" % (r["params"]["payload"], fmt_rate(median(r["primaryMetric"])),
                                            fmt_alloc(alloc(r))))
        print()

    throughput_table(rows, "AppendBenchmark.append",
                     [("streams", "streams"), ("expected", "expected"), ("payload", "payload")],
                     "Append, one thread, appends/s", floor=lambda p: floors.get(p["payload"]))

    # the peers only; the durability variants have a table of their own
    lat = sorted([r for r in rows if r["benchmark"].endswith("AppendLatencyBenchmark.append")
                  and r["params"]["system"] in SYSTEMS],
                 key=lambda r: (int(r["params"]["payload"]), SYSTEMS.index(r["params"]["system"])))
    if lat:
        print("### Append latency, one thread, exact(n), one stream (ns)\n")
        print("| payload | system | p50 | p99 | p99.9 | p99.99 | max | B/op |\n|---|---|---|---|---|---|---|---|")
        for r in lat:
            p = r["primaryMetric"]["scorePercentiles"]
            print("| %s | %s | %.0f | %.0f | %.0f | %.0f | %.0f | %s |" % (
                r["params"]["payload"], r["params"]["system"], p["50.0"], p["99.0"], p["99.9"], p["99.99"],
                p["100.0"], fmt_alloc(alloc(r))))
        print()

    durability_table(rows)

    throughput_table(rows, "ConcurrentAppendBenchmark.append", [("scenario", "scenario"), ("payload", "payload")],
                     "Two threads, successful appends/s (exact(n))", metric="successes")
    throughput_table(rows, "ConcurrentAppendBenchmark.append", [("scenario", "scenario"), ("payload", "payload")],
                     "Two threads, conflicts/s", metric="conflicts")
    throughput_table(rows, "BatchAppendBenchmark.appendBatch", [("batch", "batch"), ("payload", "payload")],
                     "Batch append, batches/s (x batch = events/s)")
    throughput_table(rows, "ReadStreamBenchmark.readStream", [("payload", "payload")],
                     "readStream of a 1,000-event stream, events/s (/1000 = stream loads/s); B/op per event")
    throughput_table(rows, "ReadAllBenchmark.readAll", [("payload", "payload")],
                     "readAll sequential scan of 100,000 events, events/s; B/op per event")
    throughput_table(rows, "ReadLatestBenchmark.readLatest", [("payload", "payload")],
                     "Latest event of a random stream of 100,000, reads/s")


if __name__ == "__main__":
    main()
