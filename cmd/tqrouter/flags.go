package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/tqrouter/tqrouter/internal/ops"
	"github.com/tqrouter/tqrouter/routing"
)

// Environment variables, as the Temporal CLI spells them.
const (
	addressEnv   = "TEMPORAL_ADDRESS"
	namespaceEnv = "TEMPORAL_NAMESPACE"
)

// routingFlags are the flags that describe the routing configuration, the
// same for every subcommand that needs one.
type routingFlags struct {
	prefix      string
	shards      int
	overflow    int
	pins        pinFlag
	kinds       kindFlag
	defaultKind []routing.QueueKind
}

func (r *routingFlags) register(fs *flag.FlagSet, defaultKinds ...routing.QueueKind) {
	fs.StringVar(&r.prefix, "prefix", "", "queue name prefix, as in routing.Config.Prefix (required)")
	fs.IntVar(&r.shards, "shards", 0, "shards per kind, as in routing.Config.Shards (required)")
	fs.IntVar(&r.overflow, "overflow", 0, "overflow queues per tenant-scoped kind: 0 = 1, -1 = none")
	fs.Var(&r.pins, "pin", "pinned tenant as `TENANT=LABEL` (repeatable)")
	names := make([]string, len(defaultKinds))
	for i, k := range defaultKinds {
		names[i] = string(k)
	}
	fs.Var(&r.kinds, "kind", "queue `kind` (repeatable; default "+strings.Join(names, " and ")+")")
	r.defaultKind = defaultKinds
}

// table validates the flags and returns the routing table.
func (r *routingFlags) table() (*routing.Table, error) {
	if r.prefix == "" {
		return nil, errors.New("--prefix is required")
	}
	if r.shards == 0 {
		return nil, errors.New("--shards is required")
	}
	return routing.NewTable(r.config())
}

// queues lists the queues of the layout the flags describe (see ops.Queues).
func (r *routingFlags) queues() ([]ops.Queue, error) {
	table, kinds, err := r.layout()
	if err != nil {
		return nil, err
	}
	queues, err := ops.Queues(table, kinds)
	if err != nil {
		return nil, usageError(err)
	}
	return queues, nil
}

// layout validates the flags and returns the routing table and the kinds
// asked about; what is wrong with them is a usage error.
func (r *routingFlags) layout() (*routing.Table, []routing.QueueKind, error) {
	table, err := r.table()
	if err != nil {
		return nil, nil, usageError(err)
	}
	kinds, err := r.kindList()
	if err != nil {
		return nil, nil, usageError(err)
	}
	return table, kinds, nil
}

func (r *routingFlags) config() routing.Config {
	return routing.Config{Prefix: r.prefix, Shards: r.shards, Overflow: r.overflow, Pins: r.pins.m}
}

func (r *routingFlags) kindList() ([]routing.QueueKind, error) {
	kinds := r.kinds.list
	if len(kinds) == 0 {
		kinds = r.defaultKind
	}
	for _, k := range kinds {
		if err := routing.ValidateKind(k); err != nil {
			return nil, err
		}
	}
	return kinds, nil
}

// pinFlag collects --pin TENANT=LABEL.
type pinFlag struct{ m map[string]string }

func (p *pinFlag) String() string { return "" }

func (p *pinFlag) Set(v string) error {
	// Labels have no '=', tenant IDs may.
	i := strings.LastIndexByte(v, '=')
	if i <= 0 || i == len(v)-1 {
		return fmt.Errorf("want TENANT=LABEL, got %q", v)
	}
	if p.m == nil {
		p.m = map[string]string{}
	}
	p.m[v[:i]] = v[i+1:]
	return nil
}

// kindFlag collects --kind K.
type kindFlag struct{ list []routing.QueueKind }

func (k *kindFlag) String() string { return "" }

func (k *kindFlag) Set(v string) error {
	k.list = append(k.list, routing.QueueKind(v))
	return nil
}

// serverFlags name the Temporal server, as the Temporal CLI does.
type serverFlags struct {
	address   string
	namespace string
	timeout   time.Duration
}

func (s *serverFlags) register(fs *flag.FlagSet) {
	addr := os.Getenv(addressEnv)
	if addr == "" {
		addr = "127.0.0.1:7233"
	}
	ns := os.Getenv(namespaceEnv)
	if ns == "" {
		ns = "default"
	}
	fs.StringVar(&s.address, "address", addr, "Temporal frontend host:port (env "+addressEnv+")")
	fs.StringVar(&s.namespace, "namespace", ns, "Temporal namespace (env "+namespaceEnv+")")
	fs.DurationVar(&s.timeout, "timeout", defaultTimeout, "time limit for the whole command")
}

// dial connects to the server. The SDK's log lines are dropped: the
// command's output is its own.
func (s *serverFlags) dial(ctx context.Context) (client.Client, error) {
	c, err := client.DialContext(ctx, client.Options{
		HostPort:  s.address,
		Namespace: s.namespace,
		Logger:    sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
	})
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", s.address, err)
	}
	return c, nil
}

// outputFlag is --output text|json.
type outputFlag struct{ json bool }

func (o *outputFlag) register(fs *flag.FlagSet) {
	fs.Var(o, "output", "output `format`: text or json")
}

func (o *outputFlag) String() string {
	if o.json {
		return "json"
	}
	return "text"
}

func (o *outputFlag) Set(v string) error {
	switch v {
	case "text":
		o.json = false
	case "json":
		o.json = true
	default:
		return fmt.Errorf("want text or json, got %q", v)
	}
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
