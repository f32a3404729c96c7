#!/usr/bin/env python3
"""Summarise a run_all.py results directory as the Markdown tables of jmh/README.md.

Statistics (why: one fork and three iterations per point let two runs of the same work differ by 40%):
- each job is one JVM fork of one system; its value is the mean of its measurement iterations;
- a point (benchmark and parameters) of a system is the mean of its forks with a 95% confidence interval
  (Student t, n - 1 degrees of freedom);
- a ratio of two systems is exp(mean(log a) - mean(log b)) with a 95% Welch interval on the logs;
- a ratio is claimed ("faster"/"slower") only when the two systems' intervals do not overlap; otherwise the row says
  "no difference shown", whatever the point estimate. Latency percentiles spread multiplicatively between runs (one
  stall moves a p99.9 tenfold), so their intervals are taken on the logs.
CPU per event is process CPU time (every thread of the fork) per event, from io.varvedb.jmh.CpuProfiler; "machine"
adds everything else the machine did meanwhile (kernel write-back, helper processes).

Usage: python3 jmh/summarize.py <results dir>
"""
import json
import math
import os
import statistics
import sys

# two-sided 95% Student t quantiles by degrees of freedom
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
       11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120, 17: 2.110, 18: 2.101, 19: 2.093,
       20: 2.086, 25: 2.060, 30: 2.042}
ORDER = ['varve', 'varve-noverify', 'varve-zerofill', 'varve-touchfar', 'varve-before', 'chronicle', 'lmdb', 'sqlite',
         'floor-fresh', 'floor-warm']
# our variants (run_all.py VARIANTS) are compared with varve like peers: the ratio is what the change bought
PEER_OF = {'varve': ['varve-zerofill', 'varve-touchfar', 'varve-before', 'chronicle', 'lmdb', 'sqlite', 'floor-fresh',
                     'floor-warm'],
           'varve-noverify': ['chronicle', 'lmdb']}
LATENCY_PEERS = ['varve-zerofill', 'varve-touchfar', 'varve-before', 'chronicle', 'lmdb', 'sqlite']
PERCENTILES = ['50.0', '90.0', '99.0', '99.9', '99.99']


def t95(df):
    if df < 1:
        return float('nan')
    keys = sorted(k for k in T95 if k <= df)
    return T95[keys[-1]] if df <= 30 else 1.96


def mean_ci(values):
    n = len(values)
    m = statistics.mean(values)
    if n < 2:
        return m, float('nan'), float('nan')
    half = t95(n - 1) * statistics.stdev(values) / math.sqrt(n)
    return m, m - half, m + half


def ratio_ci(a, b):
    """Ratio of means on a log scale with a Welch interval; None if a side has fewer than 2 values."""
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


def overlap(a, b):
    _, alo, ahi = mean_ci(a)
    _, blo, bhi = mean_ci(b)
    if any(math.isnan(x) for x in (alo, ahi, blo, bhi)):
        return True
    return not (ahi < blo or bhi < alo)


def overlap_log(a, b):
    """overlap() on a log scale: for latency percentiles, whose spread between runs is multiplicative."""
    return overlap([math.log(x) for x in a], [math.log(x) for x in b])


def fmt(x):
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return '-'
    ax = abs(x)
    if ax >= 1e6:
        return '%.2f M' % (x / 1e6)
    if ax >= 1e4:
        return '%.1f k' % (x / 1e3)
    if ax >= 100:
        return '%.0f' % x
    if ax >= 10:
        return '%.1f' % x
    return '%.2f' % x


def fmt_ns(ns):
    ns = float(ns)
    if ns >= 1e6:
        return '%.2f ms' % (ns / 1e6)
    if ns >= 1e3:
        return '%.1f us' % (ns / 1e3)
    return '%.0f ns' % ns


def load(directory):
    jobs = []
    with open(os.path.join(directory, 'jobs.jsonl')) as f:
        for line in f:
            if line.strip():
                jobs.append(json.loads(line))
    return jobs


def fork_values(directory, job):
    """The job's per-fork figures: events/s, cores, machine cores, B/op, conflicts/s; None if it failed."""
    path = os.path.join(directory, 'jobs', job['id'] + '.json')
    if job.get('exit') != 0 or not os.path.exists(path):
        return None
    with open(path) as f:
        text = f.read().strip()
    if not text:
        return None
    result = json.loads(text)[0]
    sec = result.get('secondaryMetrics', {})

    def avg(metric):
        raw = [x for fork in metric['rawData'] for x in fork]
        return statistics.mean(raw) if raw else float('nan')

    score = avg(sec['successes']) if 'successes' in sec else avg(result['primaryMetric'])
    bench = job['bench']
    if 'Batch' in bench:
        score *= int(job['params']['batch'])  # batches/s to events/s
    values = {'score': score,
              'cores': avg(sec['cpu.cores']) if 'cpu.cores' in sec else float('nan'),
              'machine': avg(sec['cpu.machine']) if 'cpu.machine' in sec else float('nan'),
              'bop': avg(sec['gc.alloc.rate.norm']) if 'gc.alloc.rate.norm' in sec else float('nan'),
              'conflicts': avg(sec['conflicts']) if 'conflicts' in sec else None}
    if 'Batch' in bench:
        values['bop'] /= int(job['params']['batch'])  # per event
    values['ns_event'] = values['cores'] * 1e9 / score if score > 0 else float('nan')
    values['machine_ns_event'] = values['machine'] * 1e9 / score if score > 0 else float('nan')
    values['dirty'] = job.get('dirty_max_mib', float('nan'))
    values['written'] = job.get('written_mib_s', float('nan'))
    return values


def in_order(systems):
    """System names in the tables' order: ours first, then the peers, then the floors."""
    return sorted(systems, key=lambda s: ORDER.index(s) if s in ORDER else len(ORDER))


def throughput_claim(ours, theirs, ratio):
    """A throughput ratio is called faster or slower only where the two intervals do not overlap."""
    return 'no difference shown' if overlap(ours, theirs) else ('faster' if ratio[0] > 1 else 'slower')


def cpu_ratio(theirs, ours):
    r = ratio_ci(theirs, ours)
    return '-' if r is None or any(math.isnan(x) for x in r) else '%.2fx [%.2f, %.2f]' % r


def point_name(job):
    bench = job['bench'].strip('\\.').replace('Benchmark', '')
    params = ', '.join('%s=%s' % (k, v) for k, v in sorted(job['params'].items()) if k != 'system')
    return '%s (%s)' % (bench, params)


def summarize_jmh(jobs, values_of, out):
    groups = []
    for job in jobs:
        if job['kind'] == 'jmh' and job['group'] not in groups:
            groups.append(job['group'])
    for group in groups:
        points = {}
        failed = []
        sample = None
        for job in jobs:
            if job['group'] != group or job['kind'] != 'jmh':
                continue
            sample = job
            values = values_of[job['id']]
            if values is None:
                failed.append(job['id'])
                continue
            points.setdefault(point_name(job), {}).setdefault(job['params']['system'], []).append(values)
        out.append('### %s (%s, %s, JMH %s)\n' % (group, sample['fs'], 'pinned to one core (taskset -c 0)'
                   if sample['pinned'] else 'unpinned, 2 cores', ' '.join(sample['opts'])))
        out.append('| point | system | forks | events/s, mean [95% CI] | CPU cores (process / machine) | '
                   'CPU ns per event (process / machine) | B/event | Dirty max MiB | written MiB/s |')
        out.append('|---|---|---|---|---|---|---|---|---|')
        for point, systems in points.items():
            for system in in_order(systems):
                forks = systems[system]
                m, lo, hi = mean_ci([f['score'] for f in forks])
                med = lambda key: statistics.median([f[key] for f in forks])
                conflicts = ''
                if forks[0]['conflicts'] is not None:
                    conflicts = ' (+%s conflicts/s)' % fmt(statistics.mean([f['conflicts'] for f in forks]))
                out.append('| %s | %s | %d | %s [%s, %s]%s | %.2f / %.2f | %s / %s | %s | %.0f | %.0f |' % (
                    point, system, len(forks), fmt(m), fmt(lo), fmt(hi), conflicts, med('cores'), med('machine'),
                    fmt(med('ns_event')), fmt(med('machine_ns_event')), fmt(med('bop')), med('dirty'),
                    med('written')))
        out.append('')
        ratios = []
        for point, systems in points.items():
            for ours, peers in PEER_OF.items():
                if ours not in systems:
                    continue
                for peer in peers:
                    if peer not in systems:
                        continue
                    a = [f['score'] for f in systems[ours]]
                    b = [f['score'] for f in systems[peer]]
                    r = ratio_ci(a, b)
                    if r is None:
                        continue
                    claim = throughput_claim(a, b, r)
                    ca = [f['ns_event'] for f in systems[ours]]
                    cpu = cpu_ratio([f['ns_event'] for f in systems[peer]], ca)
                    machine = cpu_ratio([f['machine_ns_event'] for f in systems[peer]],
                                        [f['machine_ns_event'] for f in systems[ours]])
                    ratios.append('| %s | %s / %s | %.2fx [%.2f, %.2f] | %s | %s | %s |' % (
                        point, ours, peer, r[0], r[1], r[2], claim, cpu, machine))
        if ratios:
            out.append('| point | ratio | throughput ratio [95% CI] | claim | CPU per event, theirs / ours: process '
                       '[95% CI] | the same, machine [95% CI] |')
            out.append('|---|---|---|---|---|---|')
            out.extend(ratios)
            out.append('')
        if failed:
            out.append('Failed jobs: ' + ', '.join(failed) + '\n')


HEADLINE_GROUPS = [('steady', 'disk, 2 cores, steady state'), ('steady-pinned', 'disk, pinned to 1 core, steady state'),
                   ('tmpfs', 'tmpfs, 2 cores'), ('tmpfs-pinned', 'tmpfs, pinned to 1 core')]
HEADLINE_POINT = 'Append (expected=exact, payload=64, streams=1)'


def summarize_headline(jobs, values_of, out):
    """The single-thread 64 B exact(n) append under every condition, side by side: per thread and per core."""
    table = {}
    for job in jobs:
        if job['kind'] != 'jmh' or job['group'] not in dict(HEADLINE_GROUPS):
            continue
        system = job['params']['system']
        if point_name(job) != HEADLINE_POINT and not system.startswith('floor'):
            continue
        values = values_of[job['id']]
        if values is not None:
            table.setdefault(job['group'], {}).setdefault(system, []).append(values)
    if not table:
        return
    out.append('### Headline: one thread, 64 B, exact(n), one stream, under each condition\n')
    out.append('| condition | system | forks | events/s, mean [95% CI] | CPU ns per event (process / machine) | '
               'varve / this system [95% CI] | claim |')
    out.append('|---|---|---|---|---|---|---|')
    for group, label in HEADLINE_GROUPS:
        systems = table.get(group, {})
        ours = [f['score'] for f in systems.get('varve', [])]
        for system in in_order(systems):
            forks = systems[system]
            scores = [f['score'] for f in forks]
            m, lo, hi = mean_ci(scores)
            ratio, claim = '-', '-'
            if system != 'varve' and ours:
                r = ratio_ci(ours, scores)
                if r is not None:
                    ratio = '%.2fx [%.2f, %.2f]' % r
                    claim = throughput_claim(ours, scores, r)
            out.append('| %s | %s | %d | %s [%s, %s] | %s / %s | %s | %s |' % (
                label, system, len(forks), fmt(m), fmt(lo), fmt(hi),
                fmt(statistics.median([f['ns_event'] for f in forks])),
                fmt(statistics.median([f['machine_ns_event'] for f in forks])), ratio, claim))
    out.append('')


def service(done, name):
    """Median service time over runs that measured anything."""
    measured = [float(r[name]) for r in done if float(r['service_count']) > 0]
    return fmt_ns(statistics.median(measured)) if measured else '-'


def summarize_latency(jobs, out):
    # one table per latency group: runs of different groups ran at different times and are not pooled
    for group in sorted({j['group'] for j in jobs if j['kind'] == 'latency'}):
        summarize_latency_group([j for j in jobs if j['group'] == group], group, out)


def summarize_latency_group(jobs, group, out):
    runs = {}
    for job in jobs:
        if job['kind'] != 'latency':
            continue
        p = job['params']
        key = (int(p['rate']), int(p['payload']))
        runs.setdefault(key, {}).setdefault(p['system'], []).append(job.get('latency'))
    if not runs:
        return
    sample = next(j for j in jobs if j['kind'] == 'latency')
    out.append('### %s (fixed rate, corrected for coordinated omission; %s s measured after %s s warm-up, '
               'one thread, exact(n), one stream)\n' % (group, sample['params']['seconds'],
                                                         sample['params']['warmup']))
    out.append('| rate | payload | system | runs | kept up | samples/run | p50 | p90 | p99 | p99.9 | p99.99 | max | '
               'service p50 | service p99.9 |')
    out.append('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|')
    ratios = []
    for (rate, payload) in sorted(runs):
        systems = runs[(rate, payload)]
        for system in in_order(systems):
            done = [r for r in systems[system] if r]
            if not done:
                out.append('| %s/s | %d | %s | 0 | - | - |' % (fmt(rate), payload, system))
                continue
            kept = sum(1 for r in done if r['kept_up'] == 'true')
            if kept == 0:
                share = statistics.median(float(r['sent']) / float(r['scheduled']) for r in done)
                out.append('| %s/s | %d | %s | %d | 0/%d | %s | cannot sustain this rate: it sent %.0f%% of the '
                           'schedule before the run gave up; corrected latency grows with the length of the run, so '
                           'none is shown | | | | | | %s | %s |' % (
                               fmt(rate), payload, system, len(done), len(done),
                               fmt(statistics.median(float(r['corrected_count']) for r in done)), 100 * share,
                               service(done, 'service_p50.0'), service(done, 'service_p99.9')))
                continue

            def cell(name):
                values = sorted(float(r[name]) for r in done)
                return '%s (%s-%s)' % (fmt_ns(statistics.median(values)), fmt_ns(values[0]), fmt_ns(values[-1]))
            out.append('| %s/s | %d | %s | %d | %d/%d | %s | %s | %s | %s | %s | %s | %s | %s | %s |' % (
                fmt(rate), payload, system, len(done), kept, len(done),
                fmt(statistics.median(float(r['corrected_count']) for r in done)),
                *[cell('corrected_p' + p) for p in PERCENTILES], cell('corrected_max'), cell('service_p50.0'),
                cell('service_p99.9')))
        ours = [r for r in systems.get('varve', []) if r and r['kept_up'] == 'true']
        for peer in LATENCY_PEERS:
            # only runs that kept up have a latency to compare
            theirs = [r for r in systems.get(peer, []) if r and r['kept_up'] == 'true']
            if not ours or not theirs:
                continue
            for p in ['99.0', '99.9', '99.99']:
                a = [float(r['corrected_p' + p]) for r in ours]
                b = [float(r['corrected_p' + p]) for r in theirs]
                r = ratio_ci(a, b)
                if r is None:
                    continue
                claim = 'no difference shown' if overlap_log(a, b) else ('lower' if r[0] < 1 else 'higher')
                ratios.append('| %s/s | %d | p%s | varve / %s | %.2gx | [%.2g, %.2g] | %s |' % (
                    fmt(rate), payload, p, peer, r[0], r[1], r[2], claim))
    out.append('')
    out.append('Each cell: the median over runs (min-max). Latency ratios (ours / theirs, lower is better; runs that '
               'kept up only):\n')
    out.append('| rate | payload | percentile | ratio | [95% CI] | claim |')
    out.append('|---|---|---|---|---|---|')
    out.extend(ratios)
    out.append('')


def main():
    if len(sys.argv) != 2:
        sys.exit('usage: summarize.py <results dir of run_all.py>')
    directory = sys.argv[1]
    jobs = load(directory)
    out = []
    with open(os.path.join(directory, 'machine.txt')) as f:
        out.append('```\n' + f.read().strip() + '\n```\n')
    settled = [j.get('settle_s', 0) for j in jobs]
    drop = {j.get('drop_caches') for j in jobs}
    out.append('%d jobs; caches dropped between jobs: %s; wait for write-back before a job: median %.1f s, max %.1f s.'
               '\n' % (len(jobs), 'yes' if drop == {True} else 'no (not permitted here: sync and a wait for '
                       'Dirty + Writeback < 128 MiB instead)', statistics.median(settled), max(settled)))
    # each JMH result is parsed once; the headline and the group tables read the same figures
    values_of = {job['id']: fork_values(directory, job) for job in jobs if job['kind'] == 'jmh'}
    summarize_headline(jobs, values_of, out)
    summarize_latency(jobs, out)
    summarize_jmh(jobs, values_of, out)
    print('\n'.join(out))


if __name__ == '__main__':
    main()
