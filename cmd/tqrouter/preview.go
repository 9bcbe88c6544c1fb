package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/tqrouter/tqrouter/migration"
	"github.com/tqrouter/tqrouter/routing"
)

var previewCommand = command{
	name:     "preview",
	synopsis: "how many tenants (from standard input) change shard from N to M shards",
	usage: `tqrouter preview --from N --to M [--output json] < tenants.txt

Reads tenant IDs from standard input, one per line, and prints how many of
them get another shard when the shard count goes from N to M (their new starts
go to another queue than their running workflows), and how many tenants each
new shard gets. Nothing is sent anywhere.`,
	run: runPreview,
}

// previewOutput is preview's output.
type previewOutput struct {
	From     int   `json:"from_shards"`
	To       int   `json:"to_shards"`
	Tenants  int   `json:"tenants"`
	Moved    int   `json:"moved"`
	PerShard []int `json:"tenants_per_shard"`
}

func runPreview(_ context.Context, c *command, s streams, args []string) error {
	var (
		from, to int
		out      outputFlag
	)
	fs := newFlagSet(c, s)
	fs.IntVar(&from, "from", 0, "current shard count (required)")
	fs.IntVar(&to, "to", 0, "new shard count (required)")
	out.register(fs)
	if err := parse(fs, s, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError(fmt.Errorf("unexpected arguments %q: tenants come from standard input", fs.Args()))
	}
	for _, n := range []int{from, to} {
		if n < 1 || n > routing.MaxShards {
			return usageError(fmt.Errorf("--from and --to must be from 1 to %d, got %d", routing.MaxShards, n))
		}
	}
	tenants, err := readLines(s.stdin)
	if err != nil {
		return err
	}
	for _, t := range tenants {
		if err := routing.ValidateTenant(t); err != nil {
			return usageError(err)
		}
	}
	p := migration.PreviewReshard(tenants, from, to)
	res := previewOutput{From: p.FromShards, To: p.ToShards, Tenants: p.Tenants, Moved: p.Moved, PerShard: p.PerShard}
	if out.json {
		return writeJSON(s.stdout, res)
	}
	pct := 0.0
	if p.Tenants > 0 {
		pct = 100 * float64(p.Moved) / float64(p.Tenants)
	}
	fmt.Fprintf(s.stdout, "%d tenants, %d to %d shards: %d move to another shard (%.1f%%)\n\n", p.Tenants, from, to, p.Moved, pct)
	tw := tabwriter.NewWriter(s.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SHARD\tTENANTS")
	for i, n := range p.PerShard {
		fmt.Fprintf(tw, "%02d\t%d\n", i, n)
	}
	return tw.Flush()
}
