package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/tqrouter/tqrouter/internal/ops"
	"github.com/tqrouter/tqrouter/routing"
)

var queuesCommand = command{
	name:     "queues",
	synopsis: "every queue each kind's workers must poll (or the server's dynamic config for them)",
	usage: `tqrouter queues --prefix P --shards N [--overflow N] [--pin TENANT=LABEL]... [--kind K]... [--output json]
       tqrouter queues --prefix P --shards N ... --dynamic-config [--namespace NS]

Prints every task queue the workers of each kind must poll: its shard queues,
its overflow queues and the pinned tenants' queues (a kind that is not
tenant-scoped, jobs, has one queue). A queue nobody polls holds the starts
routed to it until someone does: "tqrouter doctor" checks a live server.

With --dynamic-config it prints instead the server dynamic config (YAML) that
gives each of these queues one read and one write partition, and fairness, in
the namespace: fairness orders tasks only within a partition, and a task queue
has 4 partitions unless the server is told otherwise. Add it to the server's
dynamic config file before the queues get traffic. To shrink the partitions
of a queue that already has a backlog, lower the write partitions first and
the read partitions once the other partitions are drained.`,
	run: runQueues,
}

func runQueues(_ context.Context, c *command, s streams, args []string) error {
	var (
		rf        routingFlags
		out       outputFlag
		dynamic   bool
		namespace string
	)
	fs := newFlagSet(c, s)
	rf.register(fs, routing.Tenant, routing.Jobs)
	out.register(fs)
	fs.BoolVar(&dynamic, "dynamic-config", false, "print the server dynamic config YAML for these queues")
	registerNamespace(fs, &namespace)
	if err := parseFlagsOnly(fs, s, args); err != nil {
		return err
	}
	queues, err := rf.queues()
	if err != nil {
		return err
	}
	if dynamic {
		return writeDynamicConfig(s.stdout, rf, namespace, queues)
	}
	if out.json {
		return writeJSON(s.stdout, queues)
	}
	tw := tabwriter.NewWriter(s.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tROLE\tQUEUE")
	for _, q := range queues {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", q.Kind, q.Role, q.Name)
	}
	return tw.Flush()
}

func registerNamespace(fs *flag.FlagSet, ns *string) {
	def := os.Getenv(namespaceEnv)
	if def == "" {
		def = "default"
	}
	fs.StringVar(ns, "namespace", def, "Temporal namespace (env "+namespaceEnv+")")
}

// writeDynamicConfig writes the dynamic config the routed queues need
// (ops.WriteDynamicConfig, one partition each) under a comment saying what
// it is for.
func writeDynamicConfig(w io.Writer, rf routingFlags, namespace string, queues []ops.Queue) error {
	fmt.Fprintf(w, "# tqrouter queues --prefix %s --shards %d, namespace %q: %d routed queues.\n", rf.prefix, rf.shards, namespace, len(queues))
	fmt.Fprintln(w, "# One partition per queue, because fairness orders tasks only within a partition;")
	fmt.Fprintln(w, "# fairness, because the router's fairness keys and weights are ignored without it.")
	return ops.WriteDynamicConfig(w, namespace, queues, 1)
}
