#!/usr/bin/env python3
"""Median and spread of benchmark lines, for bench/run.sh.

Reads key=value lines (the output of bench_master, bench_slurm.sh, ...)
from a file, keeps those whose first word is KIND, groups them by the
values of the GROUP keys, and prints one line per group in input order:
the group keys, runs=R, and for every numeric key k (the same in every
run of the group) k=MEDIAN k_min=MIN k_max=MAX. Non-numeric keys keep the
first run's value.

Usage: summarize.py FILE KIND GROUP_KEY[,GROUP_KEY...]
"""

import statistics
import sys


def parse(line):
    kv = {}
    for word in line.split()[1:]:
        if "=" in word:
            k, v = word.split("=", 1)
            kv[k] = v
    return kv


def number(v):
    try:
        return float(v)
    except ValueError:
        return None


def fmt(x):
    if x == int(x) and abs(x) >= 100:
        return "%d" % x
    return "%.3g" % x if abs(x) < 100 else "%.0f" % x


def main():
    path, kind, group = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
    groups = {}
    order = []
    with open(path) as f:
        for line in f:
            if not line.startswith(kind + " "):
                continue
            kv = parse(line)
            key = tuple(kv.get(g, "") for g in group)
            if key not in groups:
                groups[key] = []
                order.append(key)
            groups[key].append(kv)
    for key in order:
        runs = groups[key]
        out = [kind] + ["%s=%s" % (g, v) for g, v in zip(group, key)]
        out.append("runs=%d" % len(runs))
        for k, v in runs[0].items():
            if k in group or k == "run":
                continue
            vals = [number(r.get(k, "")) for r in runs]
            if any(x is None for x in vals):
                out.append("%s=%s" % (k, v))
                continue
            out.append("%s=%s" % (k, fmt(statistics.median(vals))))
            out.append("%s_min=%s" % (k, fmt(min(vals))))
            out.append("%s_max=%s" % (k, fmt(max(vals))))
        print(" ".join(out))


if __name__ == "__main__":
    main()
