package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/tqrouter/tqrouter/routing"
)

var routeCommand = command{
	name:     "route",
	synopsis: "where each tenant's starts go: queue and fairness key",
	usage: `tqrouter route --prefix P --shards N [--kind K]... [--pin TENANT=LABEL]... [--output json] [TENANT...]

Prints one line per tenant (and kind): the task queue its starts go to and the
fairness key they carry, as the router computes them, so that any service, in
any language, can check its own computation. Tenants come from the arguments,
or from standard input, one per line, when there are none. A tenant ID longer
than 64 bytes gets a derived key ("sha256:" + 57 hex digits); a pinned tenant
goes to its pinned queue; a kind that is not tenant-scoped (jobs) has one
queue and no key ("-").`,
	run: runRoute,
}

// routeLine is one line of route's output.
type routeLine struct {
	Tenant      string            `json:"tenant"`
	Kind        routing.QueueKind `json:"kind"`
	Role        string            `json:"role"`
	Shard       int               `json:"shard"`
	TaskQueue   string            `json:"task_queue"`
	FairnessKey string            `json:"fairness_key"`
}

func runRoute(_ context.Context, c *command, s streams, args []string) error {
	var (
		rf  routingFlags
		out outputFlag
	)
	fs := newFlagSet(c, s)
	rf.register(fs, routing.Tenant)
	out.register(fs)
	if err := parse(fs, s, args); err != nil {
		return err
	}
	table, kinds, err := rf.layout()
	if err != nil {
		return err
	}
	tenants := fs.Args()
	if len(tenants) == 0 {
		if tenants, err = readLines(s.stdin); err != nil {
			return err
		}
	}
	var lines []routeLine
	for _, tenant := range tenants {
		for _, k := range kinds {
			r, err := table.TenantRoute(k, tenant, 0)
			if err != nil {
				return usageError(fmt.Errorf("tenant %q: %w", tenant, err))
			}
			lines = append(lines, routeLine{Tenant: tenant, Kind: k, Role: r.Role.String(), Shard: r.Shard, TaskQueue: r.TaskQueue, FairnessKey: r.FairnessKey})
		}
	}
	if out.json {
		return writeJSON(s.stdout, lines)
	}
	tw := tabwriter.NewWriter(s.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TENANT\tQUEUE\tFAIRNESS KEY")
	for _, l := range lines {
		key := l.FairnessKey
		if key == "" {
			key = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", l.Tenant, l.TaskQueue, key)
	}
	return tw.Flush()
}

// readLines reads the non-blank lines of r, without their line endings.
// Tenant IDs are taken as they are: one with surrounding white space is
// refused by the routing, not trimmed into another tenant.
func readLines(r io.Reader) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1024), 64*1024)
	for sc.Scan() {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		out = append(out, line)
	}
	if err := sc.Err(); err != nil {
		return nil, usageError(fmt.Errorf("reading standard input: %w", err))
	}
	return out, nil
}
