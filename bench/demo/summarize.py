#!/usr/bin/env python3
# Summarize demo JSON files (--json of examples/noisyneighbor): routed p95 and its
# factor over the baseline per class, the noisy makespan ratio, peak/budget,
# tenant_seen, results that reached the client late (baseline/routed, run.late_results,
# absent in files made before it), and which of the targets (20x, 1.15, 1.5x) each
# run missed.
# Usage: python3 bench/demo/summarize.py bench/demo/fleet/*.json
import json, sys
T = {"quiet": 20, "shard_mates": 20, "jobs": 20}
print(f"{'file':40} {'quiet':>16} {'shard_mates':>16} {'jobs':>16} {'mksp':>5} {'peak/bud':>9} late seen  misses")
for f in sys.argv[1:]:
    try:
        d = json.load(open(f))
    except Exception as e:
        print(f, "unreadable", e); continue
    b, r = d["baseline"], d["routed"]
    row, miss = [], []
    for c in ("quiet", "shard_mates", "jobs"):
        if c not in r or r[c].get("count", 0) == 0:
            row.append(f"{'-':>16}"); continue
        bp, rp = b[c]["p95_ms"], r[c]["p95_ms"]
        fac = bp / max(rp, 1e-9)
        row.append(f"{rp:7.0f}ms {fac:6.1f}x")
        if fac < T[c]: miss.append(f"{c} {fac:.1f}x")
    mk = r["noisy"]["makespan_ms"] / b["noisy"]["makespan_ms"]
    if mk > 1.15: miss.append(f"makespan {mk:.2f}")
    run = r["run"]
    pk = run["peak_running"] / run["budget"]
    if pk > 1.5: miss.append(f"peak {pk:.2f}")
    seen = ",".join(str(r[c].get("tenant_seen", "?")) for c in ("quiet", "shard_mates", "noisy") if c in r)
    late = f"{b['run'].get('late_results', '-')}/{run.get('late_results', '-')}"
    print(f"{f:40} {' '.join(row)} {mk:5.2f} {run['peak_running']:>3}/{run['budget']:<3} {late:>4} {seen} {'; '.join(miss) or 'all held'}")
