// Command devserver is a self-contained Temporal development server: the
// Temporal server (go.temporal.io/server) with all services in one process and
// in-memory SQLite persistence, like `temporal server start-dev` of the
// Temporal CLI, with the same Temporal Web UI (github.com/temporalio/ui-server)
// when --ui-port is given.
//
// It accepts the command line that the Go SDK's testsuite.StartDevServer
// passes when DevServerOptions.ExistingPath points at it:
//
//	devserver server start-dev --ip 127.0.0.1 --port 7233 --namespace default \
//	    --dynamic-config-value frontend.enableServerVersionCheck=false --headless
//
// Every listener (frontend gRPC and HTTP, history, matching and worker gRPC,
// optional metrics and Web UI) binds to --ip (the UI to --ui-ip if given),
// so several servers can run side by side on distinct loopback addresses
// (127.x.y.z) with the same ports. The program
// exits non-zero with a message on stderr when it cannot start, and stops
// cleanly on SIGINT or SIGTERM, and when the process named by --parent-pid
// (internal/devserver passes its own) exits, however it was stopped.
package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"go.temporal.io/server/common/authorization"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/membership/static"
	"go.temporal.io/server/common/metrics"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/common/primitives"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

const (
	clusterName = "active"
	// stopTimeout bounds a graceful shutdown; the process exits anyway after it.
	stopTimeout = 20 * time.Second
)

// defaultDynamicConfig mirrors the defaults of `temporal server start-dev`
// (Temporal CLI) plus a disabled version check (no outbound calls). Values
// from --dynamic-config-file and --dynamic-config-value override these (see
// dynamicConfig).
func defaultDynamicConfig() map[string]any {
	return map[string]any{
		dynamicconfig.ForceSearchAttributesCacheRefreshOnRead.Key().String():      true,
		dynamicconfig.ForceNexusEndpointRefreshOnRead.Key().String():              true,
		dynamicconfig.FrontendPersistenceMaxQPS.Key().String():                    10000,
		dynamicconfig.HistoryPersistenceMaxQPS.Key().String():                     45000,
		dynamicconfig.HistoryCacheHostLevelMaxSize.Key().String():                 8096,
		dynamicconfig.FrontendMaxNamespaceVisibilityRPSPerInstance.Key().String(): 100,
		dynamicconfig.EnableServerVersionCheck.Key().String():                     false,
	}
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	// The PID file is written before anything can fail, so a launcher can
	// find (and reap or kill) this process whatever happens. It is removed
	// only after a clean shutdown.
	pidFile := pidFileFromArgs(args)
	if pidFile != "" {
		if err := os.WriteFile(pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			fmt.Fprintf(stderr, "devserver: cannot write pid file: %v\n", err)
			return 1
		}
	}
	opts, err := parseArgs(args)
	if err != nil {
		fmt.Fprintf(stderr, "devserver: %v (see --help)\n", err)
		return 2
	}
	if opts.help {
		fmt.Fprint(stdout, usage)
		return 0
	}
	logger, level := newLogger(opts, stderr)
	if len(opts.ignored) > 0 && opts.logLevel != "never" {
		fmt.Fprintf(stderr, "devserver: ignoring unsupported arguments: %q\n", opts.ignored)
	}
	dc, warnings, err := dynamicConfig(opts)
	if err != nil {
		fmt.Fprintf(stderr, "devserver: %v\n", err)
		return 2
	}
	if opts.logLevel != "never" {
		for _, w := range warnings {
			fmt.Fprintf(stderr, "devserver: warning: --dynamic-config-file %s: %v\n", opts.dynamicConfigFile, w)
		}
	}

	if opts.parentPID > 0 && os.Getppid() != opts.parentPID {
		fmt.Fprintf(stderr, "devserver: --parent-pid %d is not the parent of this process (parent is %d)\n", opts.parentPID, os.Getppid())
		return 2
	}
	gone := parentGone(opts.parentPID)

	// Install signal handling before the (multi-second) start so an early
	// SIGINT/SIGTERM still shuts down cleanly.
	sigCh := make(chan os.Signal, 2)
	signal.Notify(sigCh, syscall.SIGINT, syscall.SIGTERM)

	withUI := opts.uiPort > 0 && !opts.headless
	if withUI {
		// Fail before the (multi-second) server start; startUI checks again.
		if err := checkPortFree("UI", opts.uiListenIP(), opts.uiPort); err != nil {
			fmt.Fprintf(stderr, "devserver: cannot start the Web UI: %v\n", err)
			return 1
		}
	}
	srv, err := start(opts, dc, logger)
	if err != nil {
		fmt.Fprintf(stderr, "devserver: cannot start Temporal dev server on %s: %v\n",
			net.JoinHostPort(opts.ip, strconv.Itoa(opts.port)), err)
		return 1
	}
	// The UI starts after the frontend: its gRPC connection, dialled at
	// once, would otherwise back off for a while after a refused dial.
	var ui *webUI
	if withUI {
		frontend := net.JoinHostPort(dialIP(opts.ip), strconv.Itoa(opts.port))
		if ui, err = startUI(opts, frontend); err != nil {
			fmt.Fprintf(stderr, "devserver: cannot start the Web UI: %v\n", err)
			_ = srv.Stop()
			return 1
		}
	}
	fmt.Fprintf(stdout, "Temporal dev server listening on %s (namespaces: %v)\n",
		net.JoinHostPort(opts.ip, strconv.Itoa(opts.port)), opts.namespaces)
	if ui != nil {
		fmt.Fprintf(stdout, "Temporal Web UI at http://%s%s\n", ui.addr, opts.uiPublicPath)
	}

	select {
	case <-sigCh:
	case <-gone:
		if opts.logLevel != "never" {
			fmt.Fprintf(stderr, "devserver: parent process %d is gone, shutting down\n", opts.parentPID)
		}
	}
	// The server routinely logs warnings and errors while shutting down;
	// keep them only when debug or info logging was asked for.
	if level.Level() >= zapcore.WarnLevel {
		level.SetLevel(zapcore.FatalLevel)
	}
	done := make(chan error, 1)
	go func() {
		if ui != nil {
			ui.stop()
		}
		done <- srv.Stop()
	}()
	select {
	case <-done:
		if pidFile != "" {
			_ = os.Remove(pidFile)
		}
		return 0
	case <-sigCh:
		fmt.Fprintln(stderr, "devserver: second signal, exiting without a clean shutdown")
		return 1
	case <-time.After(stopTimeout):
		fmt.Fprintf(stderr, "devserver: shutdown did not finish within %v, exiting\n", stopTimeout)
		return 1
	}
}

// parentDeathSignal is what the kernel sends on Linux when the parent exits
// (see watchParentDeath); a signal of its own, so that it is never mistaken
// for a request to stop.
const parentDeathSignal = syscall.SIGUSR2

// parentGone returns a channel that is closed once our parent process is no
// longer pid (it died and we were re-parented): the server never outlives
// the process that started it, even one killed without a chance to stop it.
// On Linux the kernel signals the parent's death at once; everywhere the
// parent's PID is also polled every 500 ms. A zero pid disables the check.
func parentGone(pid int) <-chan struct{} {
	ch := make(chan struct{})
	if pid <= 0 {
		return ch
	}
	hint := make(chan os.Signal, 1)
	signal.Notify(hint, parentDeathSignal)
	_ = watchParentDeath(parentDeathSignal) // the poll below still works without it
	go func() {
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		// Checked after the kernel was asked, so a parent that died before
		// is seen here.
		for os.Getppid() == pid {
			select {
			case <-hint:
			case <-tick.C:
			}
		}
		close(ch)
	}()
	return ch
}

func newLogger(opts *options, w io.Writer) (log.Logger, zap.AtomicLevel) {
	level := zap.NewAtomicLevelAt(zapcore.WarnLevel)
	switch opts.logLevel {
	case "debug":
		level.SetLevel(zapcore.DebugLevel)
	case "info":
		level.SetLevel(zapcore.InfoLevel)
	case "error":
		level.SetLevel(zapcore.ErrorLevel)
	case "never", "none", "off":
		// Fatal messages are still printed: the process exits right after them.
		level.SetLevel(zapcore.FatalLevel)
	}
	enc := log.DefaultZapEncoderConfig
	var encoder zapcore.Encoder
	if opts.logFormat == "json" {
		encoder = zapcore.NewJSONEncoder(enc)
	} else {
		enc.EncodeLevel = zapcore.CapitalLevelEncoder
		enc.EncodeTime = zapcore.ISO8601TimeEncoder
		encoder = zapcore.NewConsoleEncoder(enc)
	}
	core := zapcore.NewCore(encoder, zapcore.Lock(zapcore.AddSync(w)), level)
	return log.NewZapLogger(zap.New(core, zap.AddCaller())), level
}

// freePort returns a currently unused TCP port on ip.
func freePort(ip string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		return 0, err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// checkPortFree fails with a clear message when ip:port cannot be bound.
func checkPortFree(what, ip string, port int) error {
	l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("%s port %d on %s is not available: %w", what, port, ip, err)
	}
	return l.Close()
}

// newUUID returns a random (version 4) UUID string.
func newUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// dialIP returns the address to connect to for a listener bound to ip: ip
// itself, or the loopback address for an unspecified ip (0.0.0.0, ::).
func dialIP(ip string) string {
	if parsed := net.ParseIP(ip); parsed.IsUnspecified() {
		if parsed.To4() == nil {
			return "::1"
		}
		return "127.0.0.1"
	}
	return ip
}

func start(opts *options, dc dynamicconfig.Client, logger log.Logger) (temporal.Server, error) {
	ip := opts.ip
	// Address other components use to reach a listener bound to ip.
	hostIP := dialIP(ip)
	hostPort := func(port int) string { return net.JoinHostPort(hostIP, strconv.Itoa(port)) }

	if err := checkPortFree("frontend gRPC", ip, opts.port); err != nil {
		return nil, err
	}
	var err error
	if opts.httpPort == 0 {
		if opts.httpPort, err = freePort(ip); err != nil {
			return nil, fmt.Errorf("cannot bind on %s: %w", ip, err)
		}
	} else if err := checkPortFree("frontend HTTP", ip, opts.httpPort); err != nil {
		return nil, err
	}
	internalPorts := map[primitives.ServiceName]int{primitives.FrontendService: opts.port}
	for _, svc := range []primitives.ServiceName{primitives.HistoryService, primitives.MatchingService, primitives.WorkerService} {
		if internalPorts[svc], err = freePort(ip); err != nil {
			return nil, fmt.Errorf("cannot bind on %s: %w", ip, err)
		}
	}

	var conf config.Config
	conf.Global.Membership.MaxJoinDuration = 30 * time.Second
	conf.Global.Membership.BroadcastAddress = hostIP
	if opts.metricsPort > 0 {
		if err := checkPortFree("metrics", ip, opts.metricsPort); err != nil {
			return nil, err
		}
		conf.Global.Metrics = &metrics.Config{Prometheus: &metrics.PrometheusConfig{
			ListenAddress: net.JoinHostPort(ip, strconv.Itoa(opts.metricsPort)),
			HandlerPath:   "/metrics",
		}}
	}

	sqlConf, err := sqlConfig(opts)
	if err != nil {
		return nil, err
	}
	conf.Persistence.DefaultStore = "sqlite-default"
	conf.Persistence.VisibilityStore = "sqlite-default"
	conf.Persistence.NumHistoryShards = 1
	conf.Persistence.DataStores = map[string]config.DataStore{"sqlite-default": {SQL: sqlConf}}

	conf.ClusterMetadata = &cluster.Config{
		EnableGlobalNamespace:    false,
		FailoverVersionIncrement: 10,
		MasterClusterName:        clusterName,
		CurrentClusterName:       clusterName,
		ClusterInformation: map[string]cluster.ClusterInformation{
			clusterName: {
				Enabled:                true,
				InitialFailoverVersion: 1,
				RPCAddress:             hostPort(opts.port),
				HTTPAddress:            hostPort(opts.httpPort),
				ClusterID:              newUUID(),
			},
		},
	}
	conf.DCRedirectionPolicy.Policy = "noop"
	conf.Services = map[string]config.Service{}
	staticHosts := map[primitives.ServiceName]static.Hosts{}
	for svc, port := range internalPorts {
		var s config.Service
		s.RPC.GRPCPort = port
		s.RPC.BindOnIP = ip
		if svc == primitives.FrontendService {
			s.RPC.HTTPPort = opts.httpPort
		}
		conf.Services[string(svc)] = s
		staticHosts[svc] = static.SingleLocalHost(hostPort(port))
	}
	conf.Archival.History.State = "disabled"
	conf.Archival.Visibility.State = "disabled"
	conf.NamespaceDefaults.Archival.History.State = "disabled"
	conf.NamespaceDefaults.Archival.Visibility.State = "disabled"
	conf.PublicClient.HostPort = hostPort(opts.port)

	authorizer, err := authorization.GetAuthorizerFromConfig(&conf.Global.Authorization)
	if err != nil {
		return nil, fmt.Errorf("creating authorizer: %w", err)
	}
	claimMapper, err := authorization.GetClaimMapperFromConfig(&conf.Global.Authorization, logger)
	if err != nil {
		return nil, fmt.Errorf("creating claim mapper: %w", err)
	}

	srv, err := temporal.NewServer(
		temporal.WithConfig(&conf),
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithStaticHosts(staticHosts),
		temporal.WithLogger(logger),
		temporal.WithAuthorizer(authorizer),
		temporal.WithClaimMapper(func(*config.Config) authorization.ClaimMapper { return claimMapper }),
		temporal.WithDynamicConfigClient(dc),
	)
	if err != nil {
		return nil, fmt.Errorf("creating server: %w", err)
	}
	if err := srv.Start(); err != nil {
		return nil, fmt.Errorf("starting server: %w", err)
	}
	return srv, nil
}

// sqlConfig builds the SQLite configuration, creating the schema (file mode
// only; the plugin does it for in-memory databases) and the namespaces.
func sqlConfig(opts *options) (*config.SQL, error) {
	conf := &config.SQL{PluginName: sqliteplugin.PluginName}
	if opts.dbFile == "" {
		conf.ConnectAttributes = map[string]string{"mode": "memory", "cache": "shared"}
		// Unique per process: shared-cache in-memory databases are per process anyway.
		conf.DatabaseName = "devserver-" + newUUID()
	} else {
		conf.ConnectAttributes = map[string]string{"mode": "rwc"}
		conf.DatabaseName = opts.dbFile
	}
	for k, v := range opts.pragmas {
		conf.ConnectAttributes[k] = v
	}
	if opts.dbFile != "" {
		if _, err := os.Stat(opts.dbFile); errors.Is(err, os.ErrNotExist) {
			if _, err := os.Stat(filepath.Dir(opts.dbFile)); err != nil {
				return nil, fmt.Errorf("database file directory: %w", err)
			}
			if err := sqliteschema.SetupSchema(conf); err != nil {
				return nil, fmt.Errorf("setting up SQLite schema: %w", err)
			}
		}
	}
	namespaces := make([]*sqliteschema.NamespaceConfig, 0, len(opts.namespaces))
	for _, ns := range opts.namespaces {
		nsConf, err := sqliteschema.NewNamespaceConfig(clusterName, ns, false, opts.searchAttrs)
		if err != nil {
			return nil, fmt.Errorf("namespace %q: %w", ns, err)
		}
		namespaces = append(namespaces, nsConf)
	}
	if err := sqliteschema.CreateNamespaces(conf, namespaces...); err != nil {
		return nil, fmt.Errorf("creating namespaces: %w", err)
	}
	return conf, nil
}
