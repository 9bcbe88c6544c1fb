package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"text/tabwriter"

	"go.temporal.io/sdk/client"

	"github.com/tqrouter/tqrouter/internal/ops"
	"github.com/tqrouter/tqrouter/routing"
)

var weightsCommand = command{
	name:     "weights",
	synopsis: "tenants' fairness weights as server-side overrides: apply FILE, show",
	usage: `tqrouter weights apply [connection flags] --prefix P --shards N [--overflow N] [--pin TENANT=LABEL]... [--kind K]... [--key-rate R|none] [--max-overrides N] [--dry-run] [--allow-empty] [--output json] FILE
       tqrouter weights show  [connection flags] --prefix P --shards N ... [--output json]

apply reads FILE ("-" for standard input): one "TENANT WEIGHT" per line,
weights from 0.001 to 1000, blank lines and "#" comments ignored. It writes
each tenant's weight as a fairness weight override (UpdateTaskQueueConfig) on
every queue where that tenant's starts can land (its shard and overflow
queues, or its pinned queue), for workflow and activity tasks, keyed by the
fairness key the router sends (a derived key for IDs over 64 bytes). The file
is the whole truth for the routed queues: overrides of keys not in it are
removed from them. Running it again changes nothing. A FILE that lists no
tenant (empty, comments only) is refused, since it would remove every
override: pass --allow-empty to mean that. If a queue would hold
more overrides than --max-overrides (the server's default limit,
matching.maxFairnessKeyWeightOverrides, is 1000), it stops with an error
before writing anything, saying what helps. Every listed tenant's weight
also goes on its overflow queue (the router decides at run time which
tenants flood), so an overflow queue holds the overrides of every tenant
whose hash picks it: past 1000 tenants, more overflow queues (--overflow,
the same as the router's) help, more shards do not. An override applies to tasks the server queues
after it; the weight a start carries is overridden.

--key-rate R also sets, on the activity tasks of every routed queue, the
server's default rate limit per fairness key: R tasks/s for a key of weight 1,
scaled by each key's weight ("none" removes it; the server refuses one on
workflow tasks).

show prints the overrides and per-key rate limits the server holds on every
routed queue.`,
	run: runWeights,
}

func runWeights(ctx context.Context, c *command, s streams, args []string) error {
	if len(args) > 0 {
		switch args[0] {
		case "apply":
			return runWeightsApply(ctx, c, s, args[1:])
		case "show":
			return runWeightsShow(ctx, c, s, args[1:])
		}
	}
	for _, a := range args {
		if a == "-h" || a == "-help" || a == "--help" {
			return runWeightsApply(ctx, c, s, args) // its flags are show's and more
		}
	}
	return usageError(errors.New(`weights needs "apply FILE" or "show"; see tqrouter weights --help`))
}

// weightsFlags are the flags of both weights subcommands.
type weightsFlags struct {
	rf  routingFlags
	sf  serverFlags
	out outputFlag
}

func (w *weightsFlags) register(c *command, s streams) *flag.FlagSet {
	fs := newFlagSet(c, s)
	w.rf.register(fs, routing.Tenant)
	w.sf.register(fs)
	w.out.register(fs)
	return fs
}

// planAndRead plans where weights go in the layout the flags describe
// (ops.PlanWeights), dials the server and reads the overrides those queues
// have now. The caller closes the client.
func (w *weightsFlags) planAndRead(ctx context.Context, weights []ops.Weight, limit int) ([]ops.QueueWeights, client.Client, []ops.QueueConfig, error) {
	table, kinds, err := w.rf.layout()
	if err != nil {
		return nil, nil, nil, err
	}
	plan, err := ops.PlanWeights(table, kinds, weights, limit)
	if err != nil {
		return nil, nil, nil, usageError(err)
	}
	tc, err := w.sf.dial(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	queues := make([]string, len(plan))
	for i, qw := range plan {
		queues[i] = qw.Queue
	}
	current, err := ops.ReadOverrides(ctx, tc.WorkflowService(), w.sf.namespace, queues)
	if err != nil {
		tc.Close()
		return nil, nil, nil, err
	}
	return plan, tc, current, nil
}

// changeLine is one changed queue type in the output of weights apply.
type changeLine struct {
	Queue   string             `json:"queue"`
	Type    string             `json:"type"`
	Set     map[string]float32 `json:"set"`
	Unset   []string           `json:"unset"`
	KeyRate *string            `json:"key_rate,omitempty"`
}

func runWeightsApply(ctx context.Context, c *command, s streams, args []string) error {
	var (
		w       weightsFlags
		limit   int
		rateArg string
		dryRun  bool
		empty   bool
	)
	fs := w.register(c, s)
	fs.IntVar(&limit, "max-overrides", ops.DefaultMaxOverrides, "most overrides one queue type may hold (the server's matching.maxFairnessKeyWeightOverrides)")
	fs.StringVar(&rateArg, "key-rate", "", `per-fairness-key rate limit of activity tasks in tasks/s at weight 1, or "none" to remove it (default: leave as is)`)
	fs.BoolVar(&dryRun, "dry-run", false, "print the changes without writing them")
	fs.BoolVar(&empty, "allow-empty", false, "apply a FILE that lists no tenant: remove every override from the routed queues")
	if err := parse(fs, s, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError(errors.New("weights apply needs one FILE (\"-\" for standard input)"))
	}
	if limit < 1 {
		return usageError(fmt.Errorf("--max-overrides must be positive, got %d", limit))
	}
	rate, err := parseKeyRate(rateArg)
	if err != nil {
		return usageError(err)
	}
	weights, err := readWeightsFile(fs.Arg(0), s.stdin)
	if err != nil {
		return usageError(err)
	}
	if len(weights) == 0 && !empty {
		return usageError(fmt.Errorf("%s lists no tenant: applying it would remove every fairness weight override from the routed queues; nothing was sent (pass --allow-empty if that is what you want)", fileName(fs.Arg(0))))
	}
	ctx, cancel := withTimeout(ctx, w.sf.timeout)
	defer cancel()
	plan, tc, current, err := w.planAndRead(ctx, weights, limit)
	if err != nil {
		return err
	}
	defer tc.Close()
	changes := ops.Diff(plan, current, rate)
	if !dryRun {
		if err := ops.ApplyWeights(ctx, tc.WorkflowService(), w.sf.namespace, changes, limit); err != nil {
			return err
		}
	}
	return printChanges(s.stdout, w.out.json, changes, len(weights), len(plan), dryRun)
}

func parseKeyRate(arg string) (ops.KeyRate, error) {
	switch arg {
	case "":
		return ops.KeyRate{}, nil
	case "none":
		return ops.KeyRate{Set: true, Remove: true}, nil
	}
	f, err := strconv.ParseFloat(arg, 32)
	if err != nil || !(f > 0) || f > 1e9 {
		return ops.KeyRate{}, fmt.Errorf(`--key-rate wants a positive number of tasks per second or "none", got %q (0 would stop every tenant's activities)`, arg)
	}
	return ops.KeyRate{Set: true, PerSecond: float32(f)}, nil
}

// fileName is how messages name the weights file.
func fileName(arg string) string {
	if arg == "-" {
		return "standard input"
	}
	return arg
}

func readWeightsFile(name string, stdin io.Reader) ([]ops.Weight, error) {
	if name == "-" {
		return ops.ParseWeights(stdin)
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ws, err := ops.ParseWeights(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return ws, nil
}

func printChanges(w io.Writer, asJSON bool, changes []ops.Change, tenants, queues int, dryRun bool) error {
	lines := make([]changeLine, len(changes))
	for i, ch := range changes {
		lines[i] = changeLine{Queue: ch.Queue, Type: ops.TypeName(ch.Type), Set: ch.Set, Unset: ch.Unset}
		if lines[i].Unset == nil {
			lines[i].Unset = []string{}
		}
		if ch.KeyRate != nil {
			r := "none"
			if !ch.KeyRate.Remove {
				r = strconv.FormatFloat(float64(ch.KeyRate.PerSecond), 'g', -1, 32)
			}
			lines[i].KeyRate = &r
		}
	}
	if asJSON {
		return writeJSON(w, lines)
	}
	verb := "written"
	if dryRun {
		verb = "to write (dry run)"
	}
	if len(changes) == 0 {
		fmt.Fprintf(w, "%d tenants on %d queues: the server already holds these weights; nothing written\n", tenants, queues)
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "QUEUE\tTYPE\tSET\tREMOVED\tKEY RATE")
	for _, l := range lines {
		rate := "-"
		if l.KeyRate != nil {
			rate = *l.KeyRate
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\n", l.Queue, l.Type, len(l.Set), len(l.Unset), rate)
	}
	tw.Flush()
	fmt.Fprintf(w, "%d tenants on %d queues: %d queue types changed, %s\n", tenants, queues, len(changes), verb)
	return nil
}

func runWeightsShow(ctx context.Context, c *command, s streams, args []string) error {
	var w weightsFlags
	fs := w.register(c, s)
	if err := parseFlagsOnly(fs, s, args); err != nil {
		return err
	}
	ctx, cancel := withTimeout(ctx, w.sf.timeout)
	defer cancel()
	plan, tc, current, err := w.planAndRead(ctx, nil, 1)
	if err != nil {
		return err
	}
	defer tc.Close()
	type showQueue struct {
		Queue     string             `json:"queue"`
		Type      string             `json:"type"`
		Overrides map[string]float32 `json:"overrides"`
		KeyRate   *float32           `json:"key_rate,omitempty"`
	}
	if w.out.json {
		out := make([]showQueue, len(current))
		for i, qc := range current {
			out[i] = showQueue{Queue: qc.Queue, Type: ops.TypeName(qc.Type), Overrides: qc.Overrides, KeyRate: qc.KeyRate}
		}
		return writeJSON(s.stdout, out)
	}
	tw := tabwriter.NewWriter(s.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "QUEUE\tTYPE\tFAIRNESS KEY\tWEIGHT")
	n := 0
	for _, qc := range current {
		for _, k := range slices.Sorted(maps.Keys(qc.Overrides)) {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%g\n", qc.Queue, ops.TypeName(qc.Type), k, qc.Overrides[k])
			n++
		}
		if qc.KeyRate != nil {
			fmt.Fprintf(tw, "%s\t%s\t(per-key rate)\t%g/s\n", qc.Queue, ops.TypeName(qc.Type), *qc.KeyRate)
		}
	}
	tw.Flush()
	fmt.Fprintf(s.stdout, "%d overrides on %d queues\n", n, len(plan))
	return nil
}
