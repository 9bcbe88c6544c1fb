// Command fairtrace reads the histories of a demo run kept on its server
// (go run ./examples/noisyneighbor --keep) and shows, for every shard mate
// of the noisy tenant, where its wait went: how long its first workflow
// task and its activity waited, and which of the flood's tasks started
// meanwhile (from the shard queue, from the worker's sticky queue, or as
// eager activities that never passed through a queue).
//
//	go run ./internal/fairtrace --address HOST:PORT --prefix demoNNNNN
//
// The address and prefix are the ones the demo prints with --keep. The
// histories of the last run under the prefix are read (the routed run).
// All times are server timestamps, in seconds from the run's first start.
// See docs/fairness.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"slices"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
)

// execution is what one workflow's history says about its wait.
type execution struct {
	id, class string
	// start is the workflow's start; wtSched and wtStart its first
	// workflow task's schedule and start, wtDone its completion; wt2Start
	// the start of its second workflow task (after the activity, on the
	// worker's sticky queue).
	start, wtSched, wtStart, wtDone, wt2Start time.Time
	actSched, actStart                        time.Time
	wtQueue                                   string
	// eager: the activity started with the workflow task's completion,
	// without passing through its task queue.
	eager bool
}

func main() {
	address := flag.String("address", os.Getenv("TEMPORAL_ADDRESS"), "Temporal frontend host:port")
	namespace := flag.String("namespace", "default", "namespace")
	prefix := flag.String("prefix", "", "the demo run's prefix (demoNNNNN)")
	all := flag.Bool("all", false, "list every workflow, not one in ten of the flood's")
	flag.Parse()
	if *prefix == "" || *address == "" {
		log.Fatal("fairtrace: --address and --prefix are required")
	}
	c, err := client.Dial(client.Options{HostPort: *address, Namespace: *namespace})
	if err != nil {
		log.Fatal("fairtrace: ", err)
	}
	defer c.Close()
	execs, err := read(context.Background(), c, *namespace, *prefix)
	if err != nil {
		log.Fatal("fairtrace: ", err)
	}
	report(os.Stdout, execs, *all)
}

// read returns the executions of the run under prefix, by start time.
func read(ctx context.Context, c client.Client, namespace, prefix string) ([]*execution, error) {
	seen := map[string]bool{}
	var ids []string
	var token []byte
	for {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: namespace, PageSize: 1000, NextPageToken: token})
		if err != nil {
			return nil, err
		}
		for _, e := range resp.Executions {
			id := e.Execution.WorkflowId
			if strings.HasPrefix(id, prefix+"-") && !strings.Contains(id, "-warm-") && !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
		if token = resp.NextPageToken; len(token) == 0 {
			break
		}
	}
	var execs []*execution
	for _, id := range ids {
		class, _, _ := strings.Cut(strings.TrimPrefix(id, prefix+"-"), "-")
		e := &execution{id: id, class: class}
		it := c.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				return nil, fmt.Errorf("history of %s: %w", id, err)
			}
			t := ev.EventTime.AsTime()
			switch ev.EventType {
			case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
				e.start = t
			case enumspb.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
				if e.wtSched.IsZero() {
					e.wtSched = t
					e.wtQueue = ev.GetWorkflowTaskScheduledEventAttributes().GetTaskQueue().GetName()
				}
			case enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED:
				if e.wtStart.IsZero() {
					e.wtStart = t
				} else if e.wt2Start.IsZero() {
					e.wt2Start = t
				}
			case enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
				if e.wtDone.IsZero() {
					e.wtDone = t
				}
			case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
				e.actSched = t
			case enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED:
				e.actStart = t
			}
		}
		// An eager activity is started in the same request that completes
		// the workflow task that schedules it.
		e.eager = !e.actStart.IsZero() && e.actStart.Sub(e.actSched) < 5*time.Millisecond &&
			e.actStart.Sub(e.wtDone).Abs() < 5*time.Millisecond
		execs = append(execs, e)
	}
	slices.SortFunc(execs, func(a, b *execution) int { return a.start.Compare(b.start) })
	return execs, nil
}

func report(w io.Writer, execs []*execution, all bool) {
	if len(execs) == 0 {
		fmt.Fprintln(w, "no workflows")
		return
	}
	t0 := execs[0].start
	rel := func(t time.Time) float64 { return t.Sub(t0).Seconds() }
	fmt.Fprintf(w, "t0 %s\n", t0.Local().Format("15:04:05.000"))
	fmt.Fprintf(w, "%-40s %7s %7s %7s %7s %7s %7s  %s\n", "id", "start", "wtSched", "wtStart", "wtDone", "actSch", "actSt", "eager")
	eager := map[string]int{}
	for i, e := range execs {
		if e.eager {
			eager[e.class]++
		}
		if e.class == "noisy" && !all && i%10 != 0 {
			continue
		}
		fmt.Fprintf(w, "%-40s %7.3f %7.3f %7.3f %7.3f %7.3f %7.3f  %v wtq=%s\n", e.id, rel(e.start), rel(e.wtSched), rel(e.wtStart), rel(e.wtDone), rel(e.actSched), rel(e.actStart), e.eager, e.wtQueue)
	}
	fmt.Fprintln(w, "eager activities per class:", eager)
	for _, m := range execs {
		if m.class != "shard_mates" {
			continue
		}
		var wtQueued, wtSticky, actQueued, actEager int
		for _, f := range execs {
			if f.class != "noisy" {
				continue
			}
			if within(f.wtStart, m.wtSched, m.wtStart) {
				wtQueued++
			}
			if within(f.wt2Start, m.wtSched, m.wtStart) {
				wtSticky++
			}
			if within(f.actStart, m.actSched, m.actStart) {
				if f.eager {
					actEager++
				} else {
					actQueued++
				}
			}
		}
		fmt.Fprintf(w, "%s: wt wait %4dms (flood WTs started meanwhile: %d, flood sticky WTs: %d); act wait %4dms (flood activities started meanwhile: %d, of them eager %d)\n",
			m.id, m.wtStart.Sub(m.wtSched).Milliseconds(), wtQueued, wtSticky, m.actStart.Sub(m.actSched).Milliseconds(), actQueued+actEager, actEager)
	}
}

// within reports whether t is strictly between from and to.
func within(t, from, to time.Time) bool { return t.After(from) && t.Before(to) }
