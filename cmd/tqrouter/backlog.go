package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"go.temporal.io/api/workflowservice/v1"

	"github.com/tqrouter/tqrouter/internal/ops"
	"github.com/tqrouter/tqrouter/routing"
)

var backlogCommand = command{
	name:     "backlog",
	synopsis: "queued tasks per kind, over every queue the kind can land on (for autoscaling)",
	usage: `tqrouter backlog --prefix P --shards N [--overflow N] [--pin TENANT=LABEL]... [--kind K]... [--concurrency N] [connection flags] [--output json]

For each kind (default tenant and jobs), asks the server about every queue
the kind's starts can land on (its shards, overflow and pinned queues: those
of "tqrouter queues") and prints the sum of their approximate backlog counts
over workflow and activity tasks, the age of the oldest queued task and the
number of queues: one number per kind, where an autoscaler would otherwise
need one per queue. The server's counts are approximate and may lag the
queues by a few seconds (it caches them for matching.TaskQueueInfoByBuildIdTTL,
5 s by default). --output json prints
{"namespace":"...","kinds":[{"kind":"tenant","queues":5,"backlog":30,"backlog_age_ms":1200,...}]},
what "tqrouter serve" serves at /backlog.`,
	run: runBacklog,
}

// backlogFlags are the flags of backlog and serve.
type backlogFlags struct {
	rf          routingFlags
	sf          serverFlags
	concurrency int
}

func (b *backlogFlags) register(fs *flag.FlagSet) {
	b.rf.register(fs, routing.Tenant, routing.Jobs)
	b.sf.register(fs)
	fs.IntVar(&b.concurrency, "concurrency", ops.DefaultBacklogConcurrency, "most DescribeTaskQueue requests in flight at once")
}

// layout validates the flags and returns the routing table and kinds.
func (b *backlogFlags) layout() (*routing.Table, []routing.QueueKind, error) {
	if b.concurrency < 1 {
		return nil, nil, usageError(fmt.Errorf("--concurrency must be positive, got %d", b.concurrency))
	}
	return b.rf.layout()
}

// backlog asks the server for the backlog of each kind.
func (b *backlogFlags) backlog(ctx context.Context, svc workflowservice.WorkflowServiceClient, table *routing.Table, kinds []routing.QueueKind) (ops.BacklogReport, error) {
	return ops.Backlog(ctx, svc, b.sf.namespace, table, kinds, ops.BacklogOptions{Concurrency: b.concurrency})
}

func runBacklog(ctx context.Context, c *command, s streams, args []string) error {
	var (
		b   backlogFlags
		out outputFlag
	)
	fs := newFlagSet(c, s)
	b.register(fs)
	out.register(fs)
	if err := parseFlagsOnly(fs, s, args); err != nil {
		return err
	}
	table, kinds, err := b.layout()
	if err != nil {
		return err
	}
	ctx, cancel := withTimeout(ctx, b.sf.timeout)
	defer cancel()
	tc, err := b.sf.dial(ctx)
	if err != nil {
		return err
	}
	defer tc.Close()
	rep, err := b.backlog(ctx, tc.WorkflowService(), table, kinds)
	if err != nil {
		return err
	}
	if out.json {
		return writeJSON(s.stdout, rep)
	}
	return printBacklog(s.stdout, rep)
}

func printBacklog(w io.Writer, rep ops.BacklogReport) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tQUEUES\tBACKLOG\tWORKFLOW\tACTIVITY\tOLDEST")
	for _, k := range rep.Kinds {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%v\n", k.Kind, k.Queues, k.Backlog, k.WorkflowBacklog, k.ActivityBacklog, k.BacklogAge.Round(time.Millisecond))
	}
	return tw.Flush()
}
