package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/tqrouter/tqrouter/internal/connect"
	"github.com/tqrouter/tqrouter/internal/ops"
	"github.com/tqrouter/tqrouter/routing"
)

// namespaceEnv is the environment variable that names the namespace, as
// the Temporal CLI spells it.
const namespaceEnv = "TEMPORAL_NAMESPACE"

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
	tenant, label := v[:i], v[i+1:]
	if old, dup := p.m[tenant]; dup {
		return fmt.Errorf("tenant %q is pinned twice (to %q and %q): pin it once", tenant, old, label)
	}
	if p.m == nil {
		p.m = map[string]string{}
	}
	p.m[tenant] = label
	return nil
}

// kindFlag collects --kind K.
type kindFlag struct{ list []routing.QueueKind }

func (k *kindFlag) String() string { return "" }

func (k *kindFlag) Set(v string) error {
	k.list = append(k.list, routing.QueueKind(v))
	return nil
}

// serverFlags name the Temporal server and how to reach it, as the
// Temporal CLI does (internal/connect): the same flags for every
// subcommand that talks to a server.
type serverFlags struct {
	conn    connect.Flags
	timeout time.Duration
	// address and namespace are the ones dial resolved.
	address, namespace string
}

func (s *serverFlags) register(fs *flag.FlagSet) {
	s.conn.Register(fs)
	s.timeout = defaultTimeout
	fs.Var((*positiveDuration)(&s.timeout), "timeout", "time limit for the whole command (serve: for each refresh), a `duration` such as 30s or 2m")
}

// options resolves the connection settings (flags over environment over
// profile); what is wrong with them is a usage error.
func (s *serverFlags) options() (client.Options, error) {
	opts, err := s.conn.ClientOptions(nil)
	if err != nil {
		return client.Options{}, usageError(err)
	}
	s.address, s.namespace = opts.HostPort, opts.Namespace
	// The SDK's log lines are dropped: the command's output is its own.
	opts.Logger = sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	return opts, nil
}

// dial connects to the server and sets s.address and s.namespace.
func (s *serverFlags) dial(ctx context.Context) (client.Client, error) {
	opts, err := s.options()
	if err != nil {
		return nil, err
	}
	c, err := client.DialContext(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", s.address, err)
	}
	return c, nil
}

// positiveDuration is a duration flag that refuses zero and negative
// values, which would otherwise mean "no time at all" or something else
// than what was typed.
type positiveDuration time.Duration

func (d *positiveDuration) String() string { return time.Duration(*d).String() }

func (d *positiveDuration) Set(v string) error {
	x, err := time.ParseDuration(v)
	if err != nil {
		return fmt.Errorf("want a duration such as 30s or 2m, got %q", v)
	}
	if x <= 0 {
		return fmt.Errorf("want a positive duration, got %s", v)
	}
	*d = positiveDuration(x)
	return nil
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
