package main

import (
	"context"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/tqrouter/tqrouter/internal/ops"
	"github.com/tqrouter/tqrouter/routing"
)

var doctorCommand = command{
	name:     "doctor",
	synopsis: "check a live server: pollers, backlog and settings of every routed queue",
	usage: `tqrouter doctor [connection flags] --prefix P --shards N [--overflow N] [--pin TENANT=LABEL]... [--kind K]... [--legacy Q]... [--output json]

Asks the server about every queue that can receive starts (those of
"tqrouter queues", and the legacy queues named by --legacy, which still get
the starts the router leaves alone or falls back on), for workflow and
activity tasks: how many pollers it saw recently, its backlog (count and age
of the oldest task), its fairness weight overrides and per-key rate limit.
Prints that table, then one line per finding, and exits 1 if there is any:
  no-pollers        a task type of a queue has no poller: its tasks wait
  backlog-age       the oldest queued task is older than --max-backlog-age
  partitions        the server lists more than one write partition for the
                    queue, or polls reach a partition other than 0 (more
                    than one read partition): fairness orders tasks only
                    within a partition (see "tqrouter queues --dynamic-config")
  overrides-differ  workflow and activity tasks have different weight
                    overrides: a "weights apply" stopped halfway
The server does not show whether fairness is on (matching.enableFairness):
doctor cannot check it. Write partitions come from ListTaskQueuePartitions;
read partitions are inferred from where live pollers land, which makes the
server load partitions 1 to 3 of each queue (--probe-partitions=false skips
that probe).`,
	run: runDoctor,
}

// doctorOutput is doctor's output in JSON.
type doctorOutput struct {
	Namespace string `json:"namespace"`
	ops.Report
	NotChecked []string `json:"not_checked"`
}

// notChecked are the settings the routing relies on that the server does
// not show through its API.
var notChecked = []string{
	"matching.enableFairness (dynamic config; the server shows neither it nor whether a queue dispatches fairly)",
	"matching.numTaskqueueReadPartitions (dynamic config; not shown; inferred from where polls land)",
}

func runDoctor(ctx context.Context, c *command, s streams, args []string) error {
	var (
		rf     routingFlags
		sf     serverFlags
		out    outputFlag
		opts   ops.DoctorOptions
		probe  bool
		legacy stringsFlag
	)
	fs := newFlagSet(c, s)
	rf.register(fs, routing.Tenant, routing.Jobs)
	sf.register(fs)
	out.register(fs)
	fs.DurationVar(&opts.MaxBacklogAge, "max-backlog-age", 5*time.Minute, "a queue whose oldest task is older is a finding (0: no such check)")
	fs.DurationVar(&opts.PollerWindow, "poller-window", 2*time.Minute, "a poller counts if the server saw it poll within this time")
	fs.Var(&legacy, "legacy", "a legacy `queue` that still receives starts, checked too (repeatable)")
	fs.BoolVar(&probe, "probe-partitions", true, "describe partitions 1 to 3 of each queue to see whether polls reach them")
	if err := parseFlagsOnly(fs, s, args); err != nil {
		return err
	}
	opts.ProbePartitions = probe
	queues, err := rf.queues()
	if err != nil {
		return err
	}
	for _, q := range legacy.list {
		if q == "" {
			return usageError(errors.New("--legacy needs a queue name"))
		}
		queues = append(queues, ops.Queue{Name: q, Role: "legacy"})
	}
	ctx, cancel := withTimeout(ctx, sf.timeout)
	defer cancel()
	tc, err := sf.dial(ctx)
	if err != nil {
		return err
	}
	defer tc.Close()
	rep, err := ops.Doctor(ctx, tc.WorkflowService(), sf.namespace, queues, opts)
	if err != nil {
		return err
	}
	if out.json {
		if err := writeJSON(s.stdout, doctorOutput{Namespace: sf.namespace, Report: rep, NotChecked: notChecked}); err != nil {
			return err
		}
	} else {
		printDoctor(s, sf.namespace, rep)
	}
	if len(rep.Findings) > 0 {
		return errFound
	}
	return nil
}

func printDoctor(s streams, namespace string, rep ops.Report) {
	fmt.Fprintf(s.stdout, "server %s, namespace %s, %d queues\n\n", rep.ServerVersion, namespace, len(rep.Queues)/2)
	tw := tabwriter.NewWriter(s.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "QUEUE\tTYPE\tPARTITIONS\tPOLLERS\tBACKLOG\tAGE\tOVERRIDES\tKEY RATE")
	for _, q := range rep.Queues {
		rate := "-"
		if q.KeyRate != nil {
			rate = fmt.Sprintf("%g/s", *q.KeyRate)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%v\t%d\t%s\n", q.Name, q.Type, q.WritePartitions, q.Pollers, q.Backlog, q.BacklogAge.Round(time.Second), q.Overrides, rate)
	}
	tw.Flush()
	fmt.Fprintln(s.stdout)
	for _, f := range rep.Findings {
		typ := f.Type
		if typ == "" {
			typ = "-"
		}
		fmt.Fprintf(s.stdout, "FINDING %s %s %s: %s\n", f.Queue, typ, f.Check, f.Message)
	}
	fmt.Fprintf(s.stdout, "%d findings\n", len(rep.Findings))
	for _, n := range notChecked {
		fmt.Fprintf(s.stdout, "not checked: %s\n", n)
	}
}
