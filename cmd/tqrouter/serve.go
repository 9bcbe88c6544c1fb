package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/tqrouter/tqrouter/internal/ops"
	"github.com/tqrouter/tqrouter/routing"
)

var serveCommand = command{
	name:     "serve",
	synopsis: "serve each kind's backlog to autoscalers: Prometheus /metrics, JSON /backlog",
	usage: `tqrouter serve --listen ADDR [--interval 15s] --prefix P --shards N [--overflow N] [--pin TENANT=LABEL]... [--kind K]... [--concurrency N] [connection flags]

Asks the server for each kind's backlog, as "tqrouter backlog" does, at
start and then every --interval, and serves the last figures over HTTP:
  /metrics  Prometheus text: tqrouter_kind_backlog{kind="..."} (queued
            tasks), tqrouter_kind_backlog_age_seconds{kind="..."} (oldest
            queued task), tqrouter_kind_queues{kind="..."}, and
            tqrouter_backlog_refresh_errors_total,
            tqrouter_backlog_last_refresh_timestamp_seconds
  /backlog  the JSON of "tqrouter backlog --output json", for KEDA's
            metrics-api scaler
Figures older than 3 intervals (the server has not answered since) are not
served: /backlog answers 503 and /metrics leaves out the kind gauges, so
that an autoscaler falls back on its own default rather than acting on
stale numbers. --timeout bounds each refresh. Stops on SIGINT or SIGTERM,
letting requests in progress finish.`,
	run: runServe,
}

func runServe(ctx context.Context, c *command, s streams, args []string) error {
	var (
		b        backlogFlags
		listen   string
		interval = 15 * time.Second
	)
	fs := newFlagSet(c, s)
	b.register(fs)
	fs.StringVar(&listen, "listen", "", "`host:port` to serve HTTP on (required), such as :9464")
	fs.Var((*positiveDuration)(&interval), "interval", "time between two refreshes, a `duration` such as 15s or 1m")
	if err := parseFlagsOnly(fs, s, args); err != nil {
		return err
	}
	if listen == "" {
		return usageError(errors.New("--listen is required"))
	}
	table, kinds, err := b.layout()
	if err != nil {
		return err
	}
	opts, err := b.sf.options()
	if err != nil {
		return err
	}
	// A lazy client: the exporter starts and says 503 until the server
	// answers, rather than exiting while the server is down.
	tc, err := client.NewLazyClient(opts)
	if err != nil {
		return usageError(err)
	}
	defer tc.Close()
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	e := &exporter{interval: interval, now: time.Now}
	refresh := func(loop context.Context) {
		ctx, cancel := withTimeout(loop, b.sf.timeout)
		defer cancel()
		rep, err := b.backlog(ctx, tc.WorkflowService(), table, kinds)
		if loop.Err() != nil {
			return // stopping: not the server's failure
		}
		e.record(rep, err)
		if err != nil {
			fmt.Fprintf(s.stderr, "tqrouter serve: %s: %s\n", time.Now().UTC().Format(time.RFC3339), message(err))
		}
	}
	srv := &http.Server{Handler: e.handler(), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(s.stderr, "tqrouter serve: http://%s/metrics and /backlog, %d kinds of %s in namespace %s at %s, every %v\n",
		ln.Addr(), len(kinds), b.rf.prefix, b.sf.namespace, b.sf.address, interval)

	var wg sync.WaitGroup
	wg.Add(2)
	serveErr := make(chan error, 1)
	go func() {
		defer wg.Done()
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			serveErr <- err
		}
	}()
	loopCtx, stopLoop := context.WithCancel(ctx)
	go func() {
		defer wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			refresh(loopCtx)
			select {
			case <-loopCtx.Done():
				return
			case <-t.C:
			}
		}
	}()
	var result error
	select {
	case <-ctx.Done():
	case result = <-serveErr:
	}
	stopLoop()
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && result == nil {
		result = err
	}
	wg.Wait()
	return result
}

// exporter holds the last figures and serves them. A zero exporter is not
// ready: interval and now must be set.
type exporter struct {
	interval time.Duration
	now      func() time.Time

	mu     sync.Mutex // protects the fields below
	last   ops.BacklogReport
	lastOK time.Time // when last was read; zero before the first success
	errors int64
}

// record keeps rep if err is nil, else counts the error.
func (e *exporter) record(rep ops.BacklogReport, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err != nil {
		e.errors++
		return
	}
	e.last, e.lastOK = rep, e.now()
}

// state returns the last figures, whether they are fresh enough to serve
// (read within 3 intervals), the time they were read and the errors so
// far.
func (e *exporter) state() (rep ops.BacklogReport, fresh bool, at time.Time, errs int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	fresh = !e.lastOK.IsZero() && e.now().Sub(e.lastOK) <= 3*e.interval
	return e.last, fresh, e.lastOK, e.errors
}

func (e *exporter) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		rep, fresh, at, errs := e.state()
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		if !fresh {
			rep.Kinds = nil
		}
		writeMetrics(w, rep, at, errs)
	})
	mux.HandleFunc("GET /backlog", func(w http.ResponseWriter, _ *http.Request) {
		rep, fresh, at, _ := e.state()
		w.Header().Set("Content-Type", "application/json")
		if !fresh {
			w.WriteHeader(http.StatusServiceUnavailable)
			msg := "no answer from the Temporal server yet"
			if !at.IsZero() {
				msg = "no answer from the Temporal server since " + at.UTC().Format(time.RFC3339)
			}
			writeJSON(w, map[string]string{"error": msg})
			return
		}
		writeJSON(w, rep)
	})
	return mux
}

// writeMetrics writes the figures in the Prometheus text exposition format
// (version 0.0.4): a few lines, written here so that no Prometheus library
// enters the module.
func writeMetrics(w io.Writer, rep ops.BacklogReport, at time.Time, errs int64) {
	gauge := func(name, help string, value func(ops.KindBacklog) string) {
		if len(rep.Kinds) == 0 {
			return
		}
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name)
		for _, k := range rep.Kinds {
			fmt.Fprintf(w, "%s{kind=\"%s\"} %s\n", name, labelValue(k.Kind), value(k))
		}
	}
	gauge("tqrouter_kind_backlog", "Approximate number of tasks (workflow and activity) queued on every queue the kind can land on.",
		func(k ops.KindBacklog) string { return strconv.FormatInt(k.Backlog, 10) })
	gauge("tqrouter_kind_backlog_age_seconds", "Approximate age of the oldest task queued on any queue of the kind.",
		func(k ops.KindBacklog) string { return strconv.FormatFloat(k.BacklogAge.Seconds(), 'g', -1, 64) })
	gauge("tqrouter_kind_queues", "Number of task queues the kind can land on (shards, overflow, pinned).",
		func(k ops.KindBacklog) string { return strconv.Itoa(k.Queues) })
	fmt.Fprintf(w, "# HELP tqrouter_backlog_refresh_errors_total Refreshes of the figures that failed.\n# TYPE tqrouter_backlog_refresh_errors_total counter\ntqrouter_backlog_refresh_errors_total %d\n", errs)
	if !at.IsZero() {
		fmt.Fprintf(w, "# HELP tqrouter_backlog_last_refresh_timestamp_seconds When the figures were last read from the server.\n# TYPE tqrouter_backlog_last_refresh_timestamp_seconds gauge\ntqrouter_backlog_last_refresh_timestamp_seconds %s\n",
			strconv.FormatFloat(float64(at.UnixMilli())/1e3, 'f', -1, 64))
	}
}

// labelValue escapes a label value as the text format wants: backslash,
// double quote and line feed. Kinds are validated to need none of it; this
// keeps the output well formed whatever a kind becomes.
func labelValue(k routing.QueueKind) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(string(k))
}
