#!/usr/bin/env python3
# Analyze a per-pool trace of the demo's worker budgets (written by a demo built
# with pool-trace.patch applied, run with TQR_PEAKTRACE=FILE): the fleet's peak of
# running activities, each process's running tasks at that moment against its
# limit + headroom, how many came from uncounted (aged) polls, where every task
# came from, and (traces with hold events) how long held tasks waited.
# Usage: python3 analyze.py FILE.trace
import sys, collections
lines = [l.split() for l in open(sys.argv[1])]
t0 = int(lines[0][0])
procs, state, best = [], {}, None
starts, holds, heldms = collections.Counter(), collections.Counter(), collections.defaultdict(list)
over = collections.Counter()
for l in lines:
    t, p, ev, q = int(l[0]), l[1], l[2], l[3].split('.', 1)[1]
    kv = dict(x.split('=', 1) for x in l[5:])
    if p not in procs:
        procs.append(p)
    pi = procs.index(p)
    cap = int(kv['limit']) + int(kv['head'])
    state[pi] = (int(kv['used']), int(kv['fromAged']), cap)
    over[pi] = max(over[pi], int(kv['used']) - cap)
    if ev == 'start':
        src = 'counted poll' if kv['g.aged'] == 'false' else (
            'uncounted: busy queue poll that aged' if kv['hotBefore'] == 'true' else 'uncounted: idle queue poll')
        starts[src] += 1
        if int(kv.get('heldms', -1)) >= 0:
            heldms[q].append(int(kv['heldms']))
    if ev == 'hold':
        holds[q] += 1
    total = sum(u for u, _, _ in state.values())
    if best is None or total > best[0]:
        best = (total, t, dict(state))
print("fleet peak %d running at +%.2f s" % (best[0], (best[1] - t0) / 1e9))
for pi, (u, a, cap) in sorted(best[2].items()):
    print("  process %d: %d running, %d from uncounted polls; limit + headroom %d" % (pi, u, a, cap))
print("most past limit + headroom, per process, over the run:", [over[i] for i in range(len(procs))])
print("activities started, by the poll that brought them:")
for k, v in sorted(starts.items()):
    print("  %-40s %d" % (k, v))
for q, v in sorted(heldms.items()):
    v.sort()
    print("held at %s: %d, waited %s ms" % (q, len(v), v))
