package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/tqrouter/tqrouter/interceptor"
	"github.com/tqrouter/tqrouter/internal/devserver"
	"github.com/tqrouter/tqrouter/internal/saasapp"
	"github.com/tqrouter/tqrouter/registry"
	"github.com/tqrouter/tqrouter/routing"
	"github.com/tqrouter/tqrouter/workers"
)

// chromium is Debian's Chromium (apt-get install chromium). A variable so
// that the skip can be tried: go test -ldflags=-X=...e2e.chromium=/absent.
var chromium = "/usr/bin/chromium"

// keepUIEnv names the environment variable that keeps the screenshot of
// TestWebUIShowsRoutedWorkflow when the test passes (`make ui-check` sets it);
// a failed test always keeps it, with the page's DOM.
const keepUIEnv = "TQROUTER_UI_KEEP"

// TestWebUIShowsRoutedWorkflow opens a routed workflow in the Temporal Web UI
// of a dev server with a headless Chromium, and checks that the page a user
// sees names the shard queue the router chose and the tenant's fairness
// key. It saves a screenshot of the page in a new temporary directory and
// logs its path; if the test fails, the page's DOM (workflow.html) too. The
// directory is removed when the test passes, unless $TQROUTER_UI_KEEP is set.
func TestWebUIShowsRoutedWorkflow(t *testing.T) {
	if _, err := os.Stat(chromium); err != nil {
		t.Skipf("needs Chromium at %s (apt-get install chromium): %v", chromium, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	// A server of our own: the shared one has no UI, and an existing
	// cluster ($TEMPORAL_ADDRESS) has none we know of.
	t.Setenv(devserver.AddressEnv, "")
	srv, err := devserver.Start(ctx, devserver.Options{UI: true, Progress: os.Stderr})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, srv.Close()) })
	require.NotEmpty(t, srv.UIAddress())

	cfg := routing.Config{Prefix: "saas", Shards: 4}
	router, err := interceptor.New(registry.Default(), cfg)
	require.NoError(t, err)
	opts := srv.ClientOptions()
	opts.Interceptors = append(opts.Interceptors, router)
	c, err := client.DialContext(ctx, opts)
	require.NoError(t, err)
	t.Cleanup(c.Close)
	queues, err := router.Table().PollQueues(routing.Tenant)
	require.NoError(t, err)
	g, err := workers.New(c, queues, worker.Options{}, saasapp.Register)
	require.NoError(t, err)
	require.NoError(t, g.Start())
	t.Cleanup(g.Stop)

	run, err := c.ExecuteWorkflow(interceptor.WithTenant(ctx, "acme"),
		client.StartWorkflowOptions{ID: uniqueID(t, "ui"), TaskQueue: "main-queue"},
		saasapp.UserOnboardingWorkflow, saasapp.Input{})
	require.NoError(t, err)
	var out saasapp.Output
	require.NoError(t, run.Get(ctx, &out))
	want := routing.TaskQueueName(cfg.Prefix, routing.Tenant, routing.StableShard("acme", cfg.Shards))
	require.Equal(t, want, out.WorkflowQueue)

	page := "http://" + srv.UIAddress() + "/namespaces/" + srv.Namespace() +
		"/workflows/" + run.GetID() + "/" + run.GetRunID() + "/history"
	dir, err := os.MkdirTemp("", "tqrouter-ui-")
	require.NoError(t, err)
	var dom string
	t.Cleanup(func() {
		switch {
		case t.Failed():
			_ = os.WriteFile(filepath.Join(dir, "workflow.html"), []byte(dom), 0o644)
			t.Logf("the page's DOM and screenshot (if taken) are kept in %s", dir)
		case os.Getenv(keepUIEnv) == "":
			_ = os.RemoveAll(dir)
		}
	})
	dom = browse(ctx, t, "--dump-dom", page)
	require.Contains(t, dom, run.GetID(), "the page shows the workflow")
	require.Equal(t, out.WorkflowQueue, field(dom, "Task Queue"), "the page shows the routed task queue")
	require.Equal(t, "acme", field(dom, "Fairness"), "the page shows the tenant's fairness key")

	shot := filepath.Join(dir, "workflow.png")
	browse(ctx, t, "--screenshot="+shot, "--window-size=1400,1000", page)
	fi, err := os.Stat(shot)
	require.NoError(t, err)
	require.NotZero(t, fi.Size())
	if os.Getenv(keepUIEnv) != "" {
		t.Logf("%s (queue %s): screenshot %s", page, out.WorkflowQueue, shot)
	}
}

// browse runs headless Chromium on page with args and returns its stdout.
// Virtual time lets the page's scripts and API calls finish before the DOM
// is dumped or the screenshot taken.
func browse(ctx context.Context, t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	args = append([]string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir(), "--virtual-time-budget=15000",
	}, args...)
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, chromium, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "chromium %q:\n%s", args, stderr.String())
	return stdout.String()
}

var (
	// Icons in a field carry a tooltip <title>, not part of its value.
	titles = regexp.MustCompile(`<title>[^<]*</title>`)
	tags   = regexp.MustCompile(`<[^>]*>`)
)

// field returns the text of the <dd> after the <dt> whose text is label, the
// UI's markup for the fields of the workflow's summary ("" if absent).
func field(dom, label string) string {
	dt := regexp.MustCompile(`<dt[^>]*>(?:\s|<!---->)*` + regexp.QuoteMeta(label) + `(?:\s|<!---->)*</dt>`)
	loc := dt.FindStringIndex(dom)
	if loc == nil {
		return ""
	}
	rest := dom[loc[1]:]
	start := strings.Index(rest, "<dd")
	end := strings.Index(rest, "</dd>")
	if start < 0 || end < start {
		return ""
	}
	return strings.TrimSpace(tags.ReplaceAllString(titles.ReplaceAllString(rest[start:end], ""), ""))
}
