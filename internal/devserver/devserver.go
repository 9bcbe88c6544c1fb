// Package devserver gives tests and examples a real Temporal server without
// network access: it builds the dev server in tools/devserver (a separate Go
// module embedding go.temporal.io/server) once, caches the binary, and starts
// it through the SDK's testsuite.StartDevServer on a loopback address of its
// own, so parallel test processes never collide on ports.
//
// Set TEMPORAL_ADDRESS (and optionally TEMPORAL_NAMESPACE) to use an existing
// cluster instead.
package devserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"
)

const (
	// AddressEnv names the environment variable that, when set, makes Start
	// use the Temporal frontend at that host:port instead of starting a server.
	AddressEnv = "TEMPORAL_ADDRESS"
	// NamespaceEnv names the environment variable giving the namespace to use
	// when Options.Namespace is empty.
	NamespaceEnv = "TEMPORAL_NAMESPACE"
	// DefaultNamespace is the namespace used when none is configured.
	DefaultNamespace = "default"

	defaultStartTimeout = 30 * time.Second
	startAttempts       = 3
	stopTimeout         = 30 * time.Second
	logTailSize         = 64 << 10
)

// DefaultDynamicConfig returns the dynamic config values Start passes to the
// servers it starts; Options.DynamicConfig entries override them.
//
//   - matching.enableFairness: fairness keys and weights are ignored by the
//     server unless this is on (it is off by default).
//   - history.transferProcessorMaxPollRPS = 10000: the transfer queue, which
//     hands every new workflow and activity task from history to matching,
//     reads at most 20 times a second per history shard by default
//     (server v1.32.1, common/dynamicconfig/constants.go). A cluster has
//     hundreds of shards; the dev server has one, so under steady load each
//     task waited up to 50 ms for a read: a ~40 ms floor on every workflow
//     task's schedule-to-start that no real cluster has (measured: median
//     40 ms before, 2 ms after; idle CPU unchanged at 0.1-0.2% of a core).
//   - frontend.enableCancelWorkerPollsOnShutdown: a worker that stops sends
//     ShutdownWorker, and with this on the server completes its outstanding
//     polls (and the SDK drains them) instead of handing a task to a poll
//     the worker has abandoned; such a task otherwise waits for its timeout
//     (10 s for a workflow task, start-to-close for an activity). Off by
//     default in v1.32.1. Resharding stops workers while traffic flows, so
//     the tests need it, and so does a production cluster.
//
// Task queue partitions are left at Temporal's default (4 read and write
// partitions per task queue), as users' servers have them, so that the
// examples and benchmarks measure what users will see. A test that asserts
// priority or fairness order within one queue needs one partition (with
// several, each partition orders its own tasks and pollers take from any)
// and sets matching.numTaskqueueReadPartitions and WritePartitions to 1 in
// its own Options.DynamicConfig; see [SinglePartition].
func DefaultDynamicConfig() map[string]any {
	return map[string]any{
		"history.transferProcessorMaxPollRPS":        10000,
		"frontend.enableCancelWorkerPollsOnShutdown": true,
		"matching.enableFairness":                    true,
	}
}

// SinglePartition returns the dynamic config values that give every task
// queue one partition, for Options.DynamicConfig of a test that asserts
// dispatch order within a queue. Temporal's default is 4 partitions.
func SinglePartition() map[string]any {
	return map[string]any{
		"matching.numTaskqueueReadPartitions":  1,
		"matching.numTaskqueueWritePartitions": 1,
	}
}

// constError is an error type that can be declared as a constant.
type constError string

func (e constError) Error() string { return string(e) }

// errBadArguments marks a start failure that retrying cannot fix: the server
// rejected its command line (exit status 2).
const errBadArguments constError = "invalid arguments (exit status 2)"

// Options configures Start.
type Options struct {
	// Address is the host:port of an existing Temporal frontend to use
	// instead of starting a server. If empty, $TEMPORAL_ADDRESS is used; if
	// that is empty too, a dev server is started.
	Address string
	// Namespace is the namespace clients should use. If empty,
	// $TEMPORAL_NAMESPACE or "default" is used. A started server creates it.
	Namespace string
	// Namespaces lists additional namespaces a started server creates.
	Namespaces []string
	// DynamicConfig adds to or overrides DefaultDynamicConfig for a started
	// server. Values must be JSON-encodable (bool, int, float64, string, ...).
	DynamicConfig map[string]any
	// DynamicConfigFile is the path of a dynamic config YAML file in the
	// Temporal server's format, passed to a started server as
	// --dynamic-config-file. Its entries with constraints (taskQueueName,
	// namespace, taskType) apply where they match; elsewhere the values of
	// DefaultDynamicConfig and DynamicConfig apply. DefaultDynamicConfig
	// leaves partitions at Temporal's default of 4, so a file that gives
	// named queues one partition changes those queues only, as an operator's
	// file does on a real cluster.
	DynamicConfigFile string
	// LogLevel is the started server's log level: debug, info, warn, error
	// (the default) or never. Output is kept in memory for error messages
	// (see Server.Logs) and copied to Output if set.
	LogLevel string
	// Output, if non-nil, receives the started server's stdout and stderr.
	Output io.Writer
	// Progress receives messages while the server binary is being built
	// (first run only). Defaults to os.Stderr.
	Progress io.Writer
	// UI makes a started server also serve the Temporal Web UI, on a free
	// port of the server's loopback address; see Server.UIAddress.
	UI bool
	// StartTimeout bounds each start attempt (default 30s). Start makes up
	// to three attempts, each on a new address.
	StartTimeout time.Duration
}

// Server is a Temporal server obtained from Start.
type Server struct {
	address   string
	namespace string
	uiAddress string

	// Set only for a server started by Start.
	ds     *testsuite.DevServer
	pid    int
	tmpDir string
	logs   *tailBuffer

	closeOnce sync.Once
	closeErr  error
}

// Address returns the host:port of the server's gRPC frontend.
func (s *Server) Address() string { return s.address }

// UIAddress returns the host:port of the Temporal Web UI (open
// "http://" + UIAddress() in a browser), or "" when Options.UI was not set or
// for an existing cluster.
func (s *Server) UIAddress() string { return s.uiAddress }

// Namespace returns the namespace clients should use.
func (s *Server) Namespace() string { return s.namespace }

// ClientOptions returns client options for the server: HostPort and Namespace.
func (s *Server) ClientOptions() client.Options {
	return client.Options{HostPort: s.address, Namespace: s.namespace}
}

// Logs returns the tail of the started server's output (empty for an
// existing cluster).
func (s *Server) Logs() string {
	if s.logs == nil {
		return ""
	}
	return s.logs.String()
}

// Close stops a server started by Start and waits for it to exit. It is a
// no-op for an existing cluster and safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		if s.ds == nil {
			return
		}
		defer func() { _ = os.RemoveAll(s.tmpDir) }()
		done := make(chan error, 1)
		go func() { done <- s.ds.Stop() }()
		select {
		case err := <-done:
			if err != nil {
				s.closeErr = fmt.Errorf("devserver: server at %s did not stop cleanly: %w%s", s.address, err, s.logs.suffix())
			}
		case <-time.After(stopTimeout):
			_ = syscall.Kill(s.pid, syscall.SIGKILL)
			<-done
			s.closeErr = fmt.Errorf("devserver: server at %s did not stop within %v and was killed%s", s.address, stopTimeout, s.logs.suffix())
		}
	})
	return s.closeErr
}

// Start returns a Temporal server for tests and examples. With
// Options.Address or $TEMPORAL_ADDRESS set it just describes that cluster.
// Otherwise it builds (first run only, see Binary) and starts the embedded
// dev server on a random loopback address and waits until its frontend
// answers. Close the returned Server when done.
//
// In a test binary run with -short it returns [ErrShort] and does nothing.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if shortTest() {
		return nil, ErrShort
	}
	ns := opts.Namespace
	if ns == "" {
		ns = os.Getenv(NamespaceEnv)
	}
	if ns == "" {
		ns = DefaultNamespace
	}
	addr := opts.Address
	if addr == "" {
		addr = os.Getenv(AddressEnv)
	}
	if addr != "" {
		return &Server{address: addr, namespace: ns}, nil
	}

	bin, err := Binary(ctx, opts.Progress)
	if err != nil {
		return nil, err
	}
	timeout := opts.StartTimeout
	if timeout <= 0 {
		timeout = defaultStartTimeout
	}
	var errs []error
	for range startAttempts {
		s, err := startOnce(ctx, bin, ns, opts, timeout)
		if err == nil {
			return s, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil || errors.Is(err, errBadArguments) {
			break
		}
	}
	return nil, fmt.Errorf("devserver: could not start the Temporal dev server (%s): %w", bin, errors.Join(errs...))
}

// serverArgs returns the arguments Start adds to testsuite.StartDevServer's.
func serverArgs(opts Options, pidFile string) []string {
	dc := DefaultDynamicConfig()
	maps.Copy(dc, opts.DynamicConfig)
	args := []string{"--parent-pid", strconv.Itoa(os.Getpid()), "--pid-file", pidFile}
	for _, k := range slices.Sorted(maps.Keys(dc)) {
		v, err := json.Marshal(dc[k])
		if err != nil {
			v = []byte(strconv.Quote(fmt.Sprint(dc[k])))
		}
		args = append(args, "--dynamic-config-value", k+"="+string(v))
	}
	if opts.DynamicConfigFile != "" {
		args = append(args, "--dynamic-config-file", opts.DynamicConfigFile)
	}
	for _, ns := range opts.Namespaces {
		args = append(args, "--namespace", ns)
	}
	return args
}

// pickAddress returns a frontend address. On Linux all of 127.0.0.0/8 is
// loopback, so every server gets its own random IP and the default port;
// elsewhere only 127.0.0.1 is usually configured, so pick a free port.
func pickAddress() (string, error) {
	if runtime.GOOS == "linux" {
		ip := fmt.Sprintf("127.%d.%d.%d", 1+rand.IntN(254), rand.IntN(256), 1+rand.IntN(254))
		return net.JoinHostPort(ip, "7233"), nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String(), nil
}

// freeAddress returns a currently unused host:port on the host of hostPort.
func freeAddress(hostPort string) (string, error) {
	host, _, err := net.SplitHostPort(hostPort)
	if err != nil {
		return "", err
	}
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String(), nil
}

func portOf(hostPort string) string {
	_, port, _ := net.SplitHostPort(hostPort)
	return port
}

func startOnce(ctx context.Context, bin, ns string, opts Options, timeout time.Duration) (*Server, error) {
	hostPort, err := pickAddress()
	if err != nil {
		return nil, fmt.Errorf("picking an address: %w", err)
	}
	tmpDir, err := os.MkdirTemp("", "tqrouter-devserver-")
	if err != nil {
		return nil, err
	}
	pidFile := filepath.Join(tmpDir, "pid")
	logs := &tailBuffer{max: logTailSize}
	var out io.Writer = logs
	if opts.Output != nil {
		out = io.MultiWriter(logs, opts.Output)
	}
	logLevel := opts.LogLevel
	if logLevel == "" {
		logLevel = "error"
	}

	var uiAddress string
	if opts.UI {
		if uiAddress, err = freeAddress(hostPort); err != nil {
			_ = os.RemoveAll(tmpDir)
			return nil, fmt.Errorf("picking a UI port: %w", err)
		}
	}

	attemptCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	w := watchExit(pidFile, cancel)
	ds, err := testsuite.StartDevServer(attemptCtx, testsuite.DevServerOptions{
		ExistingPath: bin,
		ClientOptions: &client.Options{
			HostPort:  hostPort,
			Namespace: ns,
			Logger:    sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler)),
		},
		LogLevel:  logLevel,
		EnableUI:  opts.UI,
		UIPort:    portOf(uiAddress),
		ExtraArgs: serverArgs(opts, pidFile),
		Stdout:    out,
		Stderr:    out,
	})
	pid, exitStatus, exited := w.stop(pidFile)
	if err == nil && exited {
		// Answered once, then died: treat as a failed start.
		ds.Client().Close()
		err = errors.New("server exited right after becoming ready")
	}
	if err != nil {
		if !exited && pid > 0 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			var ws syscall.WaitStatus
			_, _ = syscall.Wait4(pid, &ws, 0, nil)
		}
		_ = os.RemoveAll(tmpDir)
		switch {
		case exited && exitStatus.Exited() && exitStatus.ExitStatus() == 2:
			err = fmt.Errorf("server on %s exited during startup: %w", hostPort, errBadArguments)
		case exited:
			err = fmt.Errorf("server on %s exited during startup (%s)", hostPort, describeExit(exitStatus))
		case ctx.Err() != nil:
			err = fmt.Errorf("starting server on %s: %w", hostPort, ctx.Err())
		case attemptCtx.Err() != nil:
			err = fmt.Errorf("server on %s not ready within %v", hostPort, timeout)
		default:
			err = fmt.Errorf("starting server on %s: %w", hostPort, err)
		}
		return nil, fmt.Errorf("%w%s", err, logs.suffix())
	}
	// We dial our own clients; the one StartDevServer made is not needed.
	ds.Client().Close()
	if uiAddress != "" {
		// The server starts its UI right after its frontend answers.
		if err := waitHTTP(attemptCtx, "http://"+uiAddress+"/healthz"); err != nil {
			_ = ds.Stop()
			_ = os.RemoveAll(tmpDir)
			return nil, fmt.Errorf("web UI of the server on %s: %w%s", hostPort, err, logs.suffix())
		}
	}
	return &Server{
		address:   hostPort,
		namespace: ns,
		uiAddress: uiAddress,
		ds:        ds,
		pid:       pid,
		tmpDir:    tmpDir,
		logs:      logs,
	}, nil
}

// waitHTTP polls url until it answers 200 OK or ctx ends.
func waitHTTP(ctx context.Context, url string) error {
	client := &http.Client{Timeout: time.Second}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready: %w (last: %w)", ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func describeExit(ws syscall.WaitStatus) string {
	switch {
	case ws.Exited():
		return "exit status " + strconv.Itoa(ws.ExitStatus())
	case ws.Signaled():
		return "killed by " + ws.Signal().String()
	default:
		return fmt.Sprintf("wait status %#x", uint32(ws))
	}
}

// exitWatcher notices when the server process exits during startup (bad
// flags, port in use, crash) so Start fails fast instead of dialling a dead
// address until the timeout. It learns the PID from the server's --pid-file.
type exitWatcher struct {
	quit chan struct{}
	done chan struct{}

	pid    int
	status syscall.WaitStatus
	exited bool
}

func watchExit(pidFile string, onExit func()) *exitWatcher {
	w := &exitWatcher{quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-w.quit:
				return
			case <-tick.C:
			}
			if w.pid == 0 {
				b, err := os.ReadFile(pidFile)
				if err != nil {
					continue
				}
				if w.pid, err = strconv.Atoi(strings.TrimSpace(string(b))); err != nil {
					w.pid = 0
					continue
				}
			}
			var ws syscall.WaitStatus
			if wpid, err := syscall.Wait4(w.pid, &ws, syscall.WNOHANG, nil); err == nil && wpid == w.pid {
				w.status, w.exited = ws, true
				onExit()
				return
			}
		}
	}()
	return w
}

// stop ends the watch and reports what it saw. After stop returns the watcher
// no longer reaps the process.
func (w *exitWatcher) stop(pidFile string) (pid int, status syscall.WaitStatus, exited bool) {
	close(w.quit)
	<-w.done
	if w.pid == 0 {
		// The PID file may have been written after the last poll.
		if b, err := os.ReadFile(pidFile); err == nil {
			w.pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		}
	}
	return w.pid, w.status, w.exited
}

// tailBuffer is an io.Writer keeping the last max bytes written.
type tailBuffer struct {
	mu    sync.Mutex
	max   int
	buf   []byte
	trunc bool
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
		t.trunc = true
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.trunc {
		return "...\n" + string(t.buf)
	}
	return string(t.buf)
}

// suffix formats the captured output for appending to an error message.
func (t *tailBuffer) suffix() string {
	s := strings.TrimSpace(t.String())
	if s == "" {
		return " (no server output)"
	}
	const maxErr = 4 << 10
	if len(s) > maxErr {
		s = "..." + s[len(s)-maxErr:]
	}
	return "\nserver output:\n" + s
}
