// Command pollers measures what one worker process that polls many routed
// queues costs while the queues are idle: the long polls it holds open on
// the server (per API: Temporal's frontend admits at most
// frontend.namespaceCount, by default 1,200, per namespace, instance and
// API, and answers the rest ResourceExhausted), its goroutines and memory,
// and the server's CPU and memory. It starts its own dev server (as the
// e2e tests do) and, for each shard count, poller behaviour and with or
// without a budget, runs one workers.Group over shards x kinds queues,
// lets it settle, and samples.
//
//	go run ./bench/pollers -shards 32,128,512 | tee bench/pollers.txt
//
// Counts (polls, goroutines, bytes) do not depend on the machine's load;
// CPU is the server process's own CPU time over the window, so other
// processes on the machine affect it little, but it is noisier.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tqrouter/tqrouter/internal/devserver"
	"github.com/tqrouter/tqrouter/routing"
	"github.com/tqrouter/tqrouter/workers"
)

func main() {
	shardsFlag := flag.String("shards", "32,128,512", "shard counts to measure, comma-separated")
	modesFlag := flag.String("pollers", "simple,autoscaling,autoscaling-1", "poller behaviours: simple (the SDK's 2 + 2 pollers), autoscaling (worker.NewPollerBehaviorAutoscaling with its defaults: 5 initial, 1 minimum), autoscaling-1 (1 initial, 1 minimum)")
	budgetsFlag := flag.String("budget", "on,off", "with a shared workers.Budget (on) or worker.Options' limits (off)")
	settle := flag.Duration("settle", 15*time.Second, "wait after the workers start before sampling")
	window := flag.Duration("window", 20*time.Second, "window over which polls are sampled and the server's CPU is measured")
	flag.Parse()
	if err := run(*shardsFlag, *modesFlag, *budgetsFlag, *settle, *window); err != nil {
		fmt.Fprintln(os.Stderr, "pollers:", err)
		os.Exit(1)
	}
}

func run(shardsList, modes, budgets string, settle, window time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	s, err := devserver.Start(ctx, devserver.Options{Progress: os.Stderr})
	cancel()
	if err != nil {
		return err
	}
	defer s.Close()
	pid, err := serverPID(s.Address())
	if err != nil {
		return err
	}

	time.Sleep(settle) // past the server's start-up work
	idle, err := measureServer(pid, window)
	if err != nil {
		return err
	}
	fmt.Printf("Server %s (pid %d), no workers: CPU %.1f%% of a core, RSS %d MiB\n\n", s.Address(), pid, idle.cpu, idle.rss>>20)
	fmt.Println("| shards | queues | pollers | budget | wf polls open | act polls open | refused polls | goroutines | worker RSS Δ MiB | heap Δ MiB | server CPU % of a core | server RSS Δ MiB |")
	fmt.Println("|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, f := range strings.Split(shardsList, ",") {
		shards, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return fmt.Errorf("-shards: %w", err)
		}
		for _, mode := range strings.Split(modes, ",") {
			for _, budget := range strings.Split(budgets, ",") {
				r, err := measure(s, pid, shards, mode, budget == "on", settle, window)
				if err != nil {
					return fmt.Errorf("%d shards, %s pollers, budget %s: %w", shards, mode, budget, err)
				}
				fmt.Printf("| %d | %d | %s | %s | %d–%d | %d–%d | %d | %d | %d | %d | %.1f | %d |\n",
					shards, r.queues, mode, budget, r.wfPolls.min, r.wfPolls.max, r.actPolls.min, r.actPolls.max,
					r.refused, r.goroutines, r.rssDelta>>20, r.heapDelta>>20, r.server.cpu, r.serverRSSDelta>>20)
			}
		}
	}
	return nil
}

// pollCounter is a gRPC client interceptor that counts the long polls in
// flight per API and the polls the server refused as busy.
type pollCounter struct {
	wf, act atomic.Int64
	refused atomic.Int64
}

func (p *pollCounter) intercept(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn,
	invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	var n *atomic.Int64
	switch {
	case strings.HasSuffix(method, "/PollWorkflowTaskQueue"):
		n = &p.wf
	case strings.HasSuffix(method, "/PollActivityTaskQueue"):
		n = &p.act
	default:
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	n.Add(1)
	err := invoker(ctx, method, req, reply, cc, opts...)
	n.Add(-1)
	if status.Code(err) == codes.ResourceExhausted {
		p.refused.Add(1)
	}
	return err
}

type span struct{ min, max int64 }

type result struct {
	queues              int
	wfPolls, actPolls   span
	refused             int64
	goroutines          int
	rssDelta, heapDelta int64
	server              serverUse
	serverRSSDelta      int64 // the server's growth while the group ran
}

// Idle is the one workflow the workers register; nothing starts it.
func Idle(workflow.Context) error { return nil }

func measure(s *devserver.Server, pid, shards int, mode string, budget bool, settle, window time.Duration) (result, error) {
	var r result
	table, err := routing.NewTable(routing.Config{Prefix: fmt.Sprintf("pollers-%d", time.Now().UnixNano()), Shards: shards})
	if err != nil {
		return r, err
	}
	// Two tenant-scoped kinds: each has the shards and one overflow queue.
	var queues []string
	for _, k := range []routing.QueueKind{routing.Tenant, "reports"} {
		qs, err := table.PollQueues(k)
		if err != nil {
			return r, err
		}
		queues = append(queues, qs...)
	}
	r.queues = len(queues)

	counter := &pollCounter{}
	opts := s.ClientOptions()
	opts.Logger = log.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	opts.ConnectionOptions.DialOptions = append(opts.ConnectionOptions.DialOptions, grpc.WithChainUnaryInterceptor(counter.intercept))
	c, err := client.Dial(opts)
	if err != nil {
		return r, err
	}
	defer c.Close()

	wopts := worker.Options{}
	switch mode {
	case "simple":
		wopts.MaxConcurrentWorkflowTaskPollers, wopts.MaxConcurrentActivityTaskPollers = 2, 2
	case "autoscaling":
		wopts.WorkflowTaskPollerBehavior = worker.NewPollerBehaviorAutoscaling(worker.PollerBehaviorAutoscalingOptions{})
		wopts.ActivityTaskPollerBehavior = worker.NewPollerBehaviorAutoscaling(worker.PollerBehaviorAutoscalingOptions{})
	case "autoscaling-1":
		one := worker.PollerBehaviorAutoscalingOptions{InitialNumberOfPollers: 1, MinimumNumberOfPollers: 1}
		wopts.WorkflowTaskPollerBehavior = worker.NewPollerBehaviorAutoscaling(one)
		wopts.ActivityTaskPollerBehavior = worker.NewPollerBehaviorAutoscaling(one)
	default:
		return r, fmt.Errorf("unknown poller behaviour %q", mode)
	}
	var gopts []workers.Option
	if budget {
		b, err := workers.NewBudget(12)
		if err != nil {
			return r, err
		}
		defer b.Close()
		gopts = append(gopts, workers.WithBudget(b))
	}

	goroutines0, rss0, heap0 := selfUse()
	serverRSS0, err := residentBytes(pid)
	if err != nil {
		return r, err
	}
	g, err := workers.New(c, queues, wopts, func(reg worker.Registry) {
		reg.RegisterWorkflowWithOptions(Idle, workflow.RegisterOptions{Name: "Idle"})
	}, gopts...)
	if err != nil {
		return r, err
	}
	if err := g.Start(); err != nil {
		return r, err
	}
	time.Sleep(settle)
	counter.refused.Store(0)

	r.wfPolls, r.actPolls = span{min: 1 << 62}, span{min: 1 << 62}
	sample := func() {
		wf, act := counter.wf.Load(), counter.act.Load()
		r.wfPolls.min, r.wfPolls.max = min(r.wfPolls.min, wf), max(r.wfPolls.max, wf)
		r.actPolls.min, r.actPolls.max = min(r.actPolls.min, act), max(r.actPolls.max, act)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			sample()
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	r.server, err = measureServer(pid, window)
	close(stop)
	<-done
	if err != nil {
		return r, err
	}
	r.refused = counter.refused.Load()
	goroutines1, rss1, heap1 := selfUse()
	r.goroutines, r.rssDelta, r.heapDelta = goroutines1-goroutines0, rss1-rss0, heap1-heap0
	r.serverRSSDelta = r.server.rss - serverRSS0
	g.Stop()
	return r, nil
}

// selfUse returns this process's goroutines, resident memory and Go heap
// in use, after a collection.
func selfUse() (goroutines int, rss, heap int64) {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rss, _ = residentBytes(os.Getpid())
	return runtime.NumGoroutine(), rss, int64(ms.HeapInuse)
}

type serverUse struct {
	cpu float64 // percent of one core over the window
	rss int64
}

// measureServer returns the server process's CPU over window and its
// resident memory at the end.
func measureServer(pid int, window time.Duration) (serverUse, error) {
	t0, err := cpuTicks(pid)
	if err != nil {
		return serverUse{}, err
	}
	start := time.Now()
	time.Sleep(window)
	t1, err := cpuTicks(pid)
	if err != nil {
		return serverUse{}, err
	}
	elapsed := time.Since(start)
	rss, err := residentBytes(pid)
	if err != nil {
		return serverUse{}, err
	}
	const ticksPerSecond = 100 // USER_HZ on Linux
	cpu := float64(t1-t0) / ticksPerSecond / elapsed.Seconds() * 100
	return serverUse{cpu: cpu, rss: rss}, nil
}

// cpuTicks returns a process's user plus system CPU time in clock ticks
// (/proc/PID/stat fields 14 and 15).
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, field 2, is in parentheses and may hold spaces.
	fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %q", pid, b)
	}
	return utime + stime, nil
}

// residentBytes returns a process's VmRSS.
func residentBytes(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no VmRSS", pid)
}

// serverPID finds the dev server listening on address by its command line
// (--ip HOST --port PORT), since the harness does not export it.
func serverPID(address string) (int, error) {
	host, port, ok := strings.Cut(address, ":")
	if !ok {
		return 0, fmt.Errorf("address %q", address)
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		cmd := " " + strings.ReplaceAll(string(b), "\x00", " ")
		if strings.Contains(cmd, " --ip "+host+" ") && strings.Contains(cmd, " --port "+port+" ") {
			return strconv.Atoi(filepath.Base(filepath.Dir(p)))
		}
	}
	return 0, fmt.Errorf("no process serves %s", address)
}
