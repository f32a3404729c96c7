#!/usr/bin/env python3
"""The full benchmark run behind jmh/README.md: every system in every group, one JMH fork per job, jobs of a group in
a random order, with the page-cache state logged and reset between jobs.

Why it is built this way (each point answers one way a benchmark misleads, see jmh/README.md "Method"):
- one JVM fork per job and at least 5 jobs per point, systems interleaved at random inside a group (the seed is
  logged), so a slow minute of a shared machine lands on every system alike and the spread between forks is measured;
- every JMH job runs with -prof gc (allocation) and -prof io.varvedb.jmh.CpuProfiler (CPU time per event: a system
  with a background thread on a spare core scores per thread, not per core);
- the headline rows run to a steady state on disk: 60 s of warm-up, past the point where dirty pages plateau and
  background write-back starts, then 15 s measured; the same rows run pinned to one core (taskset -c 0: the fork, its
  background threads and JMH share it) and on tmpfs (no write-back: the CPU path alone);
- before each job: sync, then wait until Dirty + Writeback are below 128 MiB (this container may not write
  /proc/sys/vm/drop_caches; when it can, caches are dropped too); during each job Dirty, Writeback and the KiB
  written out (/proc/vmstat pgpgout) are sampled every second;
- latency comes from the fixed-rate, coordinated-omission-corrected harness (FixedRateLatency), the same code for all
  systems at the same rates.

Usage: python3 jmh/run_all.py [--out DIR] [--plan full|quick] [--forks N] [--seed S] [--groups a,b]
The jar must be built (run-all.sh builds it). Results: DIR/jobs.jsonl (one line per job), DIR/jobs/<id>.json (JMH),
DIR/jobs/<id>.mem.csv, DIR/jobs/<id>.log; then python3 jmh/summarize.py DIR.
"""
import argparse
import datetime
import json
import os
import random
import shutil
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
JAR = os.environ.get('VARVE_BENCH_JAR') or os.path.join(HERE, 'target', 'benchmarks.jar')
TMPFS_DIR = '/dev/shm/varve-bench'
QUIET_BYTES = 128 * 1024 * 1024
QUIET_TIMEOUT_S = 120

# JMH iteration settings per kind of group
STEADY = ['-wi', '6', '-w', '10s', '-i', '3', '-r', '5s']     # 60 s warm-up, 15 s measured
SHORT = ['-wi', '2', '-w', '1s', '-i', '3', '-r', '1s']
TMPFS_OPTS = ['-wi', '3', '-w', '1s', '-i', '3', '-r', '1s']  # bounded: a tmpfs store lives in RAM
QUICK = ['-wi', '1', '-w', '1s', '-i', '2', '-r', '1s']

PEERS = ['varve', 'chronicle', 'lmdb']

# Variants of our own system measured beside it in the same run, shuffled with the rest: what the JMH parameter (or
# the latency harness's argument) is, the JVM flags of the fork, and the environment variable naming another jar.
#   varve-zerofill: new log space zero-filled (the fallback) instead of fallocate, all else equal
#   varve-before:   the engine before issue 12 (VARVE_BASELINE_JAR, a benchmarks jar built at that commit)
VARIANTS = {
    'varve-zerofill': ('varve', ['-Dvarve.fileSpace=zero-fill'], None),
    # pages touched a whole second of appends ahead (within the allocated lead) instead of 20 ms
    'varve-touchfar': ('varve', ['-Dvarve.touchAheadMillis=1000'], None),
    'varve-before': ('varve', [], 'VARVE_BASELINE_JAR'),
}


def append_rows(systems, rows):
    """rows: (payload, streams, expected)."""
    return [('jmh', r'\.AppendBenchmark\.', {'system': s, 'payload': p, 'streams': n, 'expected': e})
            for (p, n, e) in rows for s in systems]


def plan(name):
    """Groups: (group, fs, pinned, opts, [(kind, bench, params)])."""
    headline = (64, 1, 'exact')
    floor_fresh = ('jmh', r'\.FloorBenchmark\.', {'pages': 'fresh', 'payload': 64, 'system': 'floor-fresh'})
    floor_warm = ('jmh', r'\.FloorBenchmark\.', {'pages': 'warm', 'payload': 64, 'system': 'floor-warm'})
    lat = lambda s, rate, payload=64: ('latency', 'FixedRateLatency', {'system': s, 'rate': rate, 'payload': payload,
                                                                      'seconds': 10, 'warmup': 2})
    # our own variants beside the headline rows: the zero-fill fallback, and the engine before issue 12 when its jar
    # is given (VARVE_BASELINE_JAR)
    ours = ['varve-zerofill'] + (['varve-before'] if os.environ.get('VARVE_BASELINE_JAR') else [])
    before = ours[1:]
    groups = [
        ('steady', 'disk', False, STEADY, append_rows(PEERS + ours, [headline]) + [floor_fresh]),
        ('steady-pinned', 'disk', True, STEADY, append_rows(PEERS + before, [headline])),
        ('latency', 'disk', False, None,
         [lat(s, rate) for rate in (100000, 1000000) for s in PEERS + ['sqlite'] + before] +
         [lat(s, rate, 256) for rate in (100000, 1000000) for s in ['varve', 'chronicle']]),
        # each step of issue 12 on its own, at the rates users run: fallocate vs the zero-fill, pages touched 20 ms
        # vs 1 s ahead of the tail, with Chronicle Queue as the yardstick
        ('latency-steps', 'disk', False, None,
         [lat(s, rate) for rate in (100000, 1000000)
          for s in ['varve', 'varve-zerofill', 'varve-touchfar', 'chronicle']]),
        ('tmpfs', 'tmpfs', False, TMPFS_OPTS, append_rows(PEERS, [headline]) + [floor_warm]),
        ('tmpfs-pinned', 'tmpfs', True, TMPFS_OPTS, append_rows(PEERS, [headline])),
        ('matrix', 'disk', False, SHORT,
         append_rows(PEERS, [(1024, 1, 'exact'), (64, 100000, 'exact'), (64, 1, 'any')]) +
         append_rows(['sqlite'], [headline])),
        ('concurrent', 'disk', False, SHORT,
         [('jmh', r'\.ConcurrentAppendBenchmark\.', {'system': s, 'scenario': c, 'payload': 64})
          for c in ['distinct', 'hot'] for s in PEERS]),
        ('concurrent-pinned', 'disk', True, SHORT,
         [('jmh', r'\.ConcurrentAppendBenchmark\.', {'system': s, 'scenario': c, 'payload': 64})
          for c in ['distinct', 'hot'] for s in ['varve', 'chronicle']]),
        ('batch', 'disk', False, SHORT,
         [('jmh', r'\.BatchAppendBenchmark\.', {'system': s, 'batch': b, 'payload': 64})
          for b in [10, 100] for s in PEERS]),
        ('reads', 'disk', False, SHORT,
         [('jmh', r'\.ReadAllBenchmark\.', {'system': s, 'payload': p})
          for p in [64, 1024] for s in ['varve', 'varve-noverify', 'chronicle', 'lmdb']] +
         [('jmh', r'\.ReadStreamBenchmark\.', {'system': s, 'payload': 64}) for s in ['varve', 'lmdb', 'sqlite']] +
         [('jmh', r'\.ReadLatestBenchmark\.', {'system': s, 'payload': 64}) for s in ['varve', 'lmdb', 'sqlite']]),
    ]
    if name == 'quick':
        # every kind of job once, tiny: proves the driver and the summary end to end in a few minutes
        quick = []
        for (group, fs, pinned, opts, jobs) in groups:
            kept = [j for j in jobs if j[2]['system'] in ('varve', 'chronicle')][:2]
            quick.append((group, fs, pinned, QUICK if opts else None,
                          [(k, b, dict(p, seconds=1, warmup=1) if k == 'latency' else p) for (k, b, p) in kept]))
        return quick
    return groups


def read_meminfo():
    values = {}
    with open('/proc/meminfo') as f:
        for line in f:
            key, rest = line.split(':', 1)
            if key in ('Dirty', 'Writeback'):
                values[key] = int(rest.split()[0])
    return values.get('Dirty', 0), values.get('Writeback', 0)


def read_pgpgout():
    with open('/proc/vmstat') as f:
        for line in f:
            if line.startswith('pgpgout '):
                return int(line.split()[1])
    return 0


class Sampler(threading.Thread):
    """Dirty, Writeback (KiB) and KiB written out per second, every second, into a CSV."""

    def __init__(self, path):
        super().__init__(daemon=True)
        self.path = path
        self.stop = threading.Event()
        self.rows = []

    def run(self):
        start = time.time()
        last = read_pgpgout()
        while not self.stop.wait(1.0):
            dirty, writeback = read_meminfo()
            now = read_pgpgout()
            self.rows.append((round(time.time() - start, 1), dirty, writeback, now - last))
            last = now
        with open(self.path, 'w') as f:
            f.write('seconds,dirty_kib,writeback_kib,written_kib\n')
            for row in self.rows:
                f.write('%s,%d,%d,%d\n' % row)

    def summary(self):
        if not self.rows:
            return {}
        written = [r[3] for r in self.rows]
        return {'dirty_max_mib': max(r[1] for r in self.rows) / 1024.0,
                'writeback_max_mib': max(r[2] for r in self.rows) / 1024.0,
                'written_mib_s': sum(written) / 1024.0 / len(written)}


DROP_CACHES = {'state': None}


def settle():
    """sync, drop caches where allowed, then wait for write-back to drain; returns what it did."""
    os.sync()
    if DROP_CACHES['state'] is not False:
        try:
            with open('/proc/sys/vm/drop_caches', 'w') as f:
                f.write('3\n')
            DROP_CACHES['state'] = True
        except OSError:
            DROP_CACHES['state'] = False
    start = time.time()
    while time.time() - start < QUIET_TIMEOUT_S:
        dirty, writeback = read_meminfo()
        if (dirty + writeback) * 1024 < QUIET_BYTES:
            break
        time.sleep(0.5)
    dirty, writeback = read_meminfo()
    return {'settle_s': round(time.time() - start, 1), 'dirty_at_start_mib': dirty / 1024.0,
            'drop_caches': DROP_CACHES['state']}


def jvm_flags():
    out = subprocess.run(['java', '-cp', JAR, 'io.varvedb.jmh.Flags'], check=True, capture_output=True, text=True)
    return out.stdout.split()


def bench_dir(fs):
    if fs == 'tmpfs':
        os.makedirs(TMPFS_DIR, exist_ok=True)
        return TMPFS_DIR
    return os.environ.get('VARVE_BENCH_DIR') or None


def run_job(job, out, flags):
    jid = job['id']
    base = os.path.join(out, 'jobs', jid)
    prefix = ['taskset', '-c', '0'] if job['pinned'] else []
    directory = bench_dir(job['fs'])
    system = job['params']['system']
    actual, jvm, jar_variable = VARIANTS.get(system, (system, [], None))
    jar = os.environ[jar_variable] if jar_variable else JAR
    jvm = jvm + (['-Dvarve.bench.dir=' + directory] if directory else [])
    if job['kind'] == 'jmh':
        cmd = prefix + ['java', '-jar', jar, '-f', '1'] + job['opts'] + ['-foe', 'true', '-prof', 'gc', '-prof',
              'io.varvedb.jmh.CpuProfiler', '-rf', 'json', '-rff', base + '.json']
        if jvm:
            # -jvmArgsPrepend: -jvmArgsAppend would replace the flags of the @Fork annotations
            cmd += ['-jvmArgsPrepend', ' '.join(jvm)]
        cmd.append(job['bench'])
        for key, value in job['params'].items():
            if key == 'system':
                if not value.startswith('floor'):
                    cmd += ['-p', 'system=%s' % actual]
            else:
                cmd += ['-p', '%s=%s' % (key, value)]
    else:
        p = job['params']
        cmd = prefix + ['java'] + flags + jvm + [
            '-cp', jar, 'io.varvedb.jmh.FixedRateLatency', actual, str(p['rate']), str(p['seconds']),
            str(p['warmup']), str(p['payload']), base + '.hgrm']
    job['command'] = ' '.join(cmd)
    job.update(settle())
    sampler = Sampler(base + '.mem.csv')
    sampler.start()
    started = time.time()
    with open(base + '.log', 'w') as log:
        result = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT)
    job['seconds'] = round(time.time() - started, 1)
    sampler.stop.set()
    sampler.join()
    job.update(sampler.summary())
    job['exit'] = result.returncode
    if job['kind'] == 'latency' and result.returncode == 0:
        values = {}
        with open(base + '.log') as f:
            for line in f:
                if '=' in line and not line.startswith(' '):
                    key, value = line.strip().split('=', 1)
                    values[key] = value
        job['latency'] = values
    # a fork that died keeps its store: remove it, or the next jobs run on a fuller disk
    parent = directory or os.environ.get('TMPDIR') or '/tmp'
    for name in os.listdir(parent):
        if name.startswith('varve-jmh-'):
            shutil.rmtree(os.path.join(parent, name), ignore_errors=True)
    if directory == TMPFS_DIR:
        shutil.rmtree(TMPFS_DIR, ignore_errors=True)
    return job


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--out', default=os.path.join(HERE, 'results', datetime.datetime.now().strftime('%Y%m%d-%H%M%S')))
    parser.add_argument('--plan', default='full', choices=['full', 'quick'])
    parser.add_argument('--forks', type=int, default=5)
    parser.add_argument('--seed', type=int, default=int(time.time()))
    parser.add_argument('--groups', default='')
    args = parser.parse_args()
    os.makedirs(os.path.join(args.out, 'jobs'), exist_ok=True)
    rng = random.Random(args.seed)
    forks = 1 if args.plan == 'quick' else args.forks
    wanted = set(args.groups.split(',')) if args.groups else None
    flags = jvm_flags()
    jobs = []
    for (group, fs, pinned, opts, entries) in plan(args.plan):
        if wanted and group not in wanted:
            continue
        group_jobs = []
        for (kind, bench, params) in entries:
            for fork in range(forks):
                group_jobs.append({'group': group, 'fs': fs, 'pinned': pinned, 'kind': kind, 'bench': bench,
                                   'params': {k: str(v) for k, v in params.items()}, 'fork': fork,
                                   'opts': opts or []})
        rng.shuffle(group_jobs)  # systems interleaved at random inside the group
        jobs.extend(group_jobs)
    for i, job in enumerate(jobs):
        job['id'] = '%04d-%s-%s' % (i, job['group'], job['params']['system'])
    with open(os.path.join(args.out, 'machine.txt'), 'w') as f:
        f.write('date: %s\nseed: %d\nplan: %s, %d forks per point, %d jobs\n' % (
            datetime.datetime.utcnow().isoformat() + 'Z', args.seed, args.plan, forks, len(jobs)))
        for cmd in (['nproc'], ['uname', '-r'], ['java', '-version']):
            done = subprocess.run(cmd, capture_output=True, text=True)
            f.write(done.stdout + done.stderr)  # java -version writes to stderr
        with open('/proc/cpuinfo') as c:
            f.write(next(line for line in c if line.startswith('model name')))
        f.write(subprocess.run(['df', '-h', '/tmp', '/dev/shm'], capture_output=True, text=True).stdout)
    print('%d jobs, seed %d, results in %s' % (len(jobs), args.seed, args.out), flush=True)
    with open(os.path.join(args.out, 'jobs.jsonl'), 'a') as results:
        for i, job in enumerate(jobs):
            run_job(job, args.out, flags)
            print('[%d/%d] %s exit %d in %.0f s (dirty max %.0f MiB, %.0f MiB/s written)' % (
                i + 1, len(jobs), job['id'], job['exit'], job['seconds'], job.get('dirty_max_mib', 0),
                job.get('written_mib_s', 0)), flush=True)
            results.write(json.dumps(job) + '\n')
            results.flush()
    failed = [j['id'] for j in jobs if j['exit'] != 0]
    if failed:
        print('FAILED jobs: ' + ', '.join(failed))
        sys.exit(1)


if __name__ == '__main__':
    main()
