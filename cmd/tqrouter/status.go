package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/tqrouter/tqrouter/migration"
	"github.com/tqrouter/tqrouter/routing"
)

var statusCommand = command{
	name:     "status",
	synopsis: "what retired queues (legacy, earlier shard counts) still hold",
	usage: `tqrouter status [connection flags] --prefix P --shards N [--legacy Q]... [--previous-shards N]... [--kind K]... [--output json]

Lists the queues that get no new starts under the current configuration but
may still hold work: the legacy queues (--legacy, default main-queue) and the
queues of earlier shard counts (--previous-shards, same prefix, overflow and
pins) that the current one does not have. For each it prints the open
workflows (from visibility, a few seconds behind), the queued tasks and the
pollers. Their workers must keep polling until a queue is drained. Exits 1
while any retired queue still holds work, 0 when all are drained.`,
	run: runStatus,
}

// statusLine is one retired queue in status's output.
type statusLine struct {
	Queue         string `json:"queue"`
	OpenWorkflows int64  `json:"open_workflows"`
	Backlog       int64  `json:"backlog"`
	Pollers       int    `json:"pollers"`
	Drained       bool   `json:"drained"`
}

// stringsFlag collects a repeatable string flag.
type stringsFlag struct{ list []string }

func (f *stringsFlag) String() string     { return "" }
func (f *stringsFlag) Set(v string) error { f.list = append(f.list, v); return nil }

// intsFlag collects a repeatable int flag.
type intsFlag struct{ list []int }

func (f *intsFlag) String() string { return "" }
func (f *intsFlag) Set(v string) error {
	var n int
	if _, err := fmt.Sscan(v, &n); err != nil {
		return fmt.Errorf("want a number, got %q", v)
	}
	f.list = append(f.list, n)
	return nil
}

func runStatus(ctx context.Context, c *command, s streams, args []string) error {
	var (
		rf       routingFlags
		sf       serverFlags
		out      outputFlag
		legacy   stringsFlag
		previous intsFlag
	)
	fs := newFlagSet(c, s)
	rf.register(fs, routing.Tenant, routing.Jobs)
	sf.register(fs)
	out.register(fs)
	fs.Var(&legacy, "legacy", "legacy queue that starts were routed from (repeatable; default main-queue)")
	fs.Var(&previous, "previous-shards", "an earlier shard count (repeatable)")
	if err := parseFlagsOnly(fs, s, args); err != nil {
		return err
	}
	table, kinds, err := rf.layout()
	if err != nil {
		return err
	}
	if len(legacy.list) == 0 {
		legacy.list = []string{"main-queue"}
	}
	var prev []routing.Config
	for _, n := range previous.list {
		cfg := rf.config()
		cfg.Shards = n
		prev = append(prev, cfg)
	}
	retired, err := migration.Retired(table, kinds, legacy.list, prev...)
	if err != nil {
		return usageError(err)
	}
	ctx, cancel := withTimeout(ctx, sf.timeout)
	defer cancel()
	tc, err := sf.dial(ctx)
	if err != nil {
		return err
	}
	defer tc.Close()
	st, err := migration.Status(ctx, tc, sf.namespace, retired)
	if err != nil {
		return err
	}
	lines := make([]statusLine, len(st))
	holding := 0
	for i, q := range st {
		lines[i] = statusLine{Queue: q.Queue, OpenWorkflows: q.OpenWorkflows, Backlog: q.Backlog, Pollers: q.Pollers, Drained: q.Drained()}
		if !q.Drained() {
			holding++
		}
	}
	if out.json {
		if err := writeJSON(s.stdout, lines); err != nil {
			return err
		}
	} else {
		tw := tabwriter.NewWriter(s.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "RETIRED QUEUE\tOPEN WORKFLOWS\tBACKLOG\tPOLLERS\tSTATE")
		for _, l := range lines {
			state := "drained: its workers can stop"
			switch {
			case !l.Drained && l.Pollers == 0:
				state = "holds work and has no poller: its tasks wait"
			case !l.Drained:
				state = "holds work: keep its workers"
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\n", l.Queue, l.OpenWorkflows, l.Backlog, l.Pollers, state)
		}
		tw.Flush()
		fmt.Fprintf(s.stdout, "%d of %d retired queues hold work\n", holding, len(lines))
	}
	if holding > 0 {
		return errFound
	}
	return nil
}
