#!/usr/bin/env python3
"""Summarises call_sites_bench: per kind, the median (min, max) ns/op over its
call sites and the difference to the direct call's median, and, read from the
binary's disassembly, how many sites call the library out of line and what.

usage: call_sites_summary.py RESULTS.json [BINARY]

RESULTS.json: call_sites_bench --benchmark_out=RESULTS.json (with or without
repetitions; with repetitions, each site's median is taken first).
BINARY: the call_sites_bench it came from (objdump -d --no-show-raw-insn -C).
"""
import collections
import json
import re
import statistics
import subprocess
import sys


def site_times(path):
    runs = json.load(open(path))["benchmarks"]
    per_site = collections.defaultdict(list)
    single = collections.defaultdict(list)
    for r in runs:
        if r.get("run_type") == "aggregate" and r.get("aggregate_name") != "median":
            continue
        name = r.get("run_name", r["name"])
        m = re.match(r"(.+)/site:(\d+)(?:/|$)", name)
        if not m:
            if r.get("threads", 1) == 1 and not name.startswith("check/"):
                single[name].append(r["cpu_time"])
            continue
        per_site[(m.group(1), int(m.group(2)))].append(r["cpu_time"])
    kinds = collections.defaultdict(dict)
    for (kind, site), times in per_site.items():
        kinds[kind][site] = statistics.median(times)
    return kinds, {n: statistics.median(t) for n, t in single.items()}


# Out-of-line calls a site makes into the library (the no-op and the
# benchmark library are not counted). ENTRY: the call's own hot path (the
# member the site calls, or the breaker's call() inside the set's) left out
# of line; the other callees are slow paths a fully inlined site calls too,
# and so are partial-inlining clones (".part"): their hot head is inlined;
# run<> (what call() runs fn through) is left out, as a site that inlines
# call() may still call run<> out of line on a cold path.
ENTRY = re.compile(r"circuit::circuit_breaker(?:_set)?<.*>::(?:call|try_call)<|"
                   r"circuit::circuit_breaker<.*>::(?:try_guard|guard)\(")
CALL = re.compile(r"\scall\s+[0-9a-f]+ <(.+)>$")
FUNC = re.compile(r"^[0-9a-f]+ <(.+)>:$")
SITE = re.compile(r"BM_(\w+)<(\d+)ul>\(benchmark::State&\)$")
KIND = {"direct": "direct", "closed_call": "closed/call", "closed_lambda": "closed/lambda",
        "open_try_guard": "open/try_guard", "open_try_call": "open/try_call", "open_call": "open/call",
        "set_call": "set/call"}


def hot(callee):
    return ENTRY.search(callee) is not None and ".part" not in callee


def short(callee):
    callee = re.sub(r"std::chrono::_V2::steady_clock, circuit::sliding_window, circuit::any_exception", "...", callee)
    callee = re.sub(r"\(anonymous namespace\)::BM_closed_lambda<\d+ul>\(benchmark::State&\)::\{lambda\(\)#1\}", "lambda#N", callee)
    m = re.search(r"(circuit::[\w:<>.&, ]*?(?:call|try_call|try_guard|guard|run|admit\w*|settle\w*|announce\w*|"
                  r"claim_lane|add_unowned|find\w*|lookup\w*|walk\w*|get|pin\w*|node_of|rejection\w*|\w+)"
                  r"(?:<[^()]*>)?)\(", callee)
    clone = " ".join(re.findall(r"\[clone ([^\]]+)\]", callee))
    name = m.group(1) if m else callee[:160]
    return name + (f" [{clone}]" if clone else "")


def out_of_line(binary):
    text = subprocess.run(["objdump", "-d", "--no-show-raw-insn", "-C", binary], capture_output=True, text=True,
                          check=True).stdout
    calls = collections.defaultdict(set)
    site = None
    for line in text.splitlines():
        f = FUNC.match(line)
        if f:
            s = SITE.search(f.group(1))
            site = (KIND.get(s.group(1)), int(s.group(2))) if s and "clone" not in f.group(1) else None
            continue
        if site is None or site[0] is None:
            continue
        c = CALL.search(line)
        if c and "circuit::" in c.group(1) and "bench::noop" not in c.group(1):
            calls[site].add(short(c.group(1)))
    return calls


def main():
    kinds, single = site_times(sys.argv[1])
    for name, t in single.items():
        print(f"{name:40} {t:8.2f} (one site)")
    calls = out_of_line(sys.argv[2]) if len(sys.argv) > 2 else None
    direct = statistics.median(kinds["direct"].values()) if "direct" in kinds else None
    print("CPU ns/op per site; out of line: sites whose call (its hot path) is not inlined")
    print(f"{'kind':16} {'sites':>5} {'median':>8} {'min':>8} {'max':>8} {'- direct':>9}  out of line")
    for kind, sites in kinds.items():
        t = list(sites.values())
        med = statistics.median(t)
        diff = f"{med - direct:+9.2f}" if direct is not None else ""
        ool = ""
        if calls is not None:
            entry = {s for s in sites if any(hot(c) for c in calls.get((kind, s), ()))}
            n = len(entry)
            ool = f"{n}/{len(sites)}"
            if n:
                inl = [sites[s] for s in sites if s not in entry]
                outl = [sites[s] for s in entry]
                ool += f" (median {statistics.median(outl):.2f} out of line"
                ool += f", {statistics.median(inl):.2f} inlined)" if inl else ")"
        print(f"{kind:16} {len(t):5} {med:8.2f} {min(t):8.2f} {max(t):8.2f} {diff}  {ool}")
    if calls:
        print("\nwhat the sites call out of line (kind: callee -> sites; * = the hot path itself):")
        seen = collections.defaultdict(lambda: collections.Counter())
        for (kind, _), cs in calls.items():
            for c in cs:
                seen[kind][c] += 1
        for kind, cs in seen.items():
            for c, n in cs.most_common():
                print(f"  {kind}: {'*' if hot(c) else ' '} {c} -> {n}")


if __name__ == "__main__":
    main()
