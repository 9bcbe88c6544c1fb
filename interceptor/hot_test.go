package interceptor

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/trace/noop"
	"go.temporal.io/sdk/client"
	sdkinterceptor "go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"

	"github.com/tqrouter/tqrouter/internal/clocktest"
	"github.com/tqrouter/tqrouter/internal/vectors"
	"github.com/tqrouter/tqrouter/registry"
	"github.com/tqrouter/tqrouter/routing"
)

// clock is the project's manual clock.
type clock = clocktest.Clock

func newClock() *clock { return clocktest.New(time.Unix(1_700_000_000, 0)) }

func TestDetectorBurstBecomesHotAndCoolsDown(t *testing.T) {
	clk := newClock()
	d := newDetector(HotTenants{Window: 10 * time.Second, Enter: 10}, clk.Now, nil)
	for i := 1; i < 10; i++ {
		hot, ch, _ := see(d, routing.Tenant, 3, "noisy")
		require.False(t, hot, "start %d", i)
		require.Equal(t, unchanged, ch)
	}
	hot, ch, _ := see(d, routing.Tenant, 3, "noisy")
	assert.True(t, hot, "the Enter-th start of a burst makes the tenant hot")
	assert.Equal(t, becameHot, ch)
	assert.Equal(t, 1, d.active())

	// Hysteresis: it stays hot while its count decays from 10 towards
	// Exit (2.5), which takes Window*ln(10/2.5) = 13.9 s.
	clk.Advance(10 * time.Second)
	hot, ch, _ = see(d, routing.Tenant, 3, "noisy")
	assert.True(t, hot, "count 10/e = 3.7 is below Enter but above Exit")
	assert.Equal(t, unchanged, ch)

	clk.Advance(3 * time.Second)
	hot, ch, _ = see(d, routing.Tenant, 3, "noisy")
	assert.True(t, hot, "count 4.7*e^-0.3 = 3.5")
	assert.Equal(t, unchanged, ch)

	// Starts that slow down let the count fall below Exit (2.5): the
	// start that finds it there cools the tenant down.
	clk.Advance(9 * time.Second)
	hot, ch, _ = see(d, routing.Tenant, 3, "noisy")
	assert.False(t, hot, "count before it: 4.5*e^-0.9 = 1.8")
	assert.Equal(t, cooledDown, ch)
	assert.Zero(t, d.active())
}

// TestDetectorBurstOverMilliseconds: the starts of a real burst are some
// milliseconds apart, so the count decays a little between them; the
// Enter-th start still makes the tenant hot.
func TestDetectorBurstOverMilliseconds(t *testing.T) {
	clk := newClock()
	d := newDetector(HotTenants{}, clk.Now, nil) // the defaults: Enter 5 in a 5 s window
	for i := 1; i < DefaultHotEnter; i++ {
		hot, _, _ := see(d, routing.Tenant, 0, "noisy")
		require.False(t, hot, "start %d", i)
		clk.Advance(20 * time.Millisecond)
	}
	hot, ch, _ := see(d, routing.Tenant, 0, "noisy")
	assert.True(t, hot, "the 5th start, 80 ms after the first (count 4.96)")
	assert.Equal(t, becameHot, ch)
}

func TestDetectorSteadyQuietTenantsNeverHot(t *testing.T) {
	clk := newClock()
	d := newDetector(HotTenants{}, clk.Now, nil)
	// 50 tenants, each one start every 2 s, for 5 minutes: each count
	// settles near 5, below Enter.
	for range 150 {
		for i := range 50 {
			hot, _, _ := see(d, routing.Tenant, i%3, fmt.Sprintf("t-%d", i))
			require.False(t, hot)
		}
		clk.Advance(2 * time.Second)
	}
}

func TestDetectorShareOfABusyShard(t *testing.T) {
	clk := newClock()
	d := newDetector(HotTenants{}, clk.Now, nil)
	// Ten tenants of one shard each start 20 workflows, interleaved: each
	// reaches Enter but none is half of its shard: none is a flood.
	for range 20 {
		for i := range 10 {
			hot, _, _ := see(d, routing.Tenant, 0, fmt.Sprintf("busy-%d", i))
			require.False(t, hot)
		}
	}
	// A tenant that floods the same shard past the others is.
	var hot bool
	for range 400 {
		hot, _, _ = see(d, routing.Tenant, 0, "noisy")
	}
	assert.True(t, hot)
}

func TestDetectorKindsAreSeparate(t *testing.T) {
	clk := newClock()
	d := newDetector(HotTenants{}, clk.Now, nil)
	for range DefaultHotEnter {
		see(d, routing.Tenant, 0, "acme")
	}
	hot, _, _ := see(d, "reports", 0, "acme")
	assert.False(t, hot, "a flood of one kind does not move the tenant's other kinds")
}

func TestDetectorSweepForgetsAndCools(t *testing.T) {
	clk := newClock()
	d := newDetector(HotTenants{MaxTenants: 5}, clk.Now, nil)
	for range DefaultHotEnter {
		see(d, routing.Tenant, 0, "noisy")
	}
	for i := range 4 {
		clk.Advance(time.Millisecond)
		see(d, routing.Tenant, 1, fmt.Sprintf("q-%d", i))
	}
	clk.Advance(time.Millisecond)
	hot, _, _ := see(d, routing.Tenant, 1, "one-too-many")
	assert.False(t, hot)
	d.mu.Lock()
	assert.Len(t, d.tenants, 5, "past MaxTenants a new tenant takes the place of the least counted")
	assert.Contains(t, d.tenants, hotKey{routing.Tenant, "one-too-many"})
	assert.NotContains(t, d.tenants, hotKey{routing.Tenant, "q-0"}, "the first of the one-start tenants is the least counted")
	assert.Contains(t, d.tenants, hotKey{routing.Tenant, "noisy"})
	d.mu.Unlock()

	clk.Advance(2 * time.Minute) // every count decays below 0.01, noisy's below Exit
	_, _, swept := see(d, routing.Tenant, 2, "later")
	assert.Equal(t, []cooled{{routing.Tenant, "noisy"}}, swept)
	assert.Zero(t, d.active())
	d.mu.Lock()
	assert.Len(t, d.tenants, 1, "idle tenants are forgotten")
	d.mu.Unlock()
}

func TestHotTenantsValidate(t *testing.T) {
	for _, h := range []HotTenants{{}, {Window: time.Minute, Enter: 100, Exit: 10, Share: 0.2, MaxTenants: 10}, {Share: 1}} {
		assert.NoError(t, h.validate(), "%+v", h)
	}
	for _, h := range []HotTenants{{Window: -1}, {Enter: 0.5}, {Enter: 10, Exit: 10}, {Exit: -1}, {Share: 1.5}, {Share: -0.1}, {MaxTenants: -1}} {
		assert.ErrorIs(t, h.validate(), routing.ErrInvalidConfig, "%+v", h)
		_, err := New(registry.Default(), routing.Config{Prefix: "saas", Shards: 2}, WithHotTenants(h))
		assert.ErrorIs(t, err, routing.ErrInvalidConfig, "%+v", h)
	}
}

// logRecorder is a log.Logger that keeps its messages.
type logRecorder struct {
	mu    sync.Mutex
	lines []string
}

func (l *logRecorder) log(level, msg string, kv ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprint(append([]any{level, " ", msg}, kv...)...))
}
func (l *logRecorder) Debug(msg string, kv ...any) { l.log("DEBUG", msg, kv...) }
func (l *logRecorder) Info(msg string, kv ...any)  { l.log("INFO", msg, kv...) }
func (l *logRecorder) Warn(msg string, kv ...any)  { l.log("WARN", msg, kv...) }
func (l *logRecorder) Error(msg string, kv ...any) { l.log("ERROR", msg, kv...) }

var _ log.Logger = (*logRecorder)(nil)

// TestHotTenantOverflowsAndIsSeen: a flooding tenant's starts go to the
// overflow queue once it is hot, with its fairness key; its shard-mates
// stay on the shard; the decision is traced with its own reason and a span
// event, counted without the tenant in any attribute, and logged with the
// pseudonym.
func TestHotTenantOverflowsAndIsSeen(t *testing.T) {
	clk := newClock()
	reader := metric.NewManualReader()
	logs := &logRecorder{}
	h := newHarness(t, routing.Config{Prefix: "saas", Shards: shards},
		WithHotTenants(HotTenants{}), withClock(clk.Now), WithLogger(logs),
		WithMeterProvider(metric.NewMeterProvider(metric.WithReader(reader))))
	ctx := WithTenant(context.Background(), "acme")
	start := client.StartWorkflowOptions{TaskQueue: "main-queue"}
	for i := 1; i < DefaultHotEnter; i++ {
		got, err := h.execute(ctx, "TenantProvisioningWorkflow", start)
		require.NoError(t, err)
		require.Equal(t, vectors.Queue(t, "acme", shards), got.TaskQueue, "start %d", i)
	}
	got, err := h.execute(ctx, "UserOnboardingWorkflow", start)
	require.NoError(t, err)
	assert.Equal(t, "saas.tenant.overflow-00", got.TaskQueue)
	assert.Equal(t, "acme", got.Priority.FairnessKey)
	span := h.lastSpan(t)
	a := attrs(span)
	assert.Equal(t, "overflow", a[AttrDecision].AsString())
	assert.Equal(t, "hot_tenant", a[AttrReason].AsString())
	assert.Equal(t, "saas.tenant.overflow-00", a[AttrChosenQueue].AsString())
	require.Len(t, span.Events(), 1)
	assert.Equal(t, eventHotTenant, span.Events()[0].Name)
	assert.Equal(t, 1, h.router.HotTenants())

	// A shard-mate of acme is not moved.
	mate := shardMate(t, "acme", shards)
	got, err = h.execute(WithTenant(context.Background(), mate), "UserOnboardingWorkflow", start)
	require.NoError(t, err)
	assert.Equal(t, vectors.Queue(t, "acme", shards), got.TaskQueue)

	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	sums := map[string]int64{}
	var hotNow int64 = -1
	for _, sm := range rm.ScopeMetrics {
		assert.Equal(t, ScopeName, sm.Scope.Name)
		for _, m := range sm.Metrics {
			switch data := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, dp := range data.DataPoints {
					for _, kv := range dp.Attributes.ToSlice() {
						assert.NotContains(t, kv.Value.String(), "acme", "no tenant in metric attributes")
						assert.NotEqual(t, AttrTenantHash, kv.Key)
					}
					d, _ := dp.Attributes.Value(AttrDecision)
					sums[m.Name+"/"+d.AsString()] += dp.Value
				}
			case metricdata.Gauge[int64]:
				hotNow = data.DataPoints[0].Value
			}
		}
	}
	assert.Equal(t, int64(DefaultHotEnter), sums[MetricDecisions+"/routed"], "9 routed to the shard, and the shard-mate")
	assert.Equal(t, int64(1), sums[MetricDecisions+"/overflow"])
	assert.Equal(t, int64(1), sums[MetricIsolations+"/"])
	assert.Equal(t, int64(1), hotNow)

	logs.mu.Lock()
	require.Len(t, logs.lines, 1)
	assert.Contains(t, logs.lines[0], "tenant is hot")
	assert.Contains(t, logs.lines[0], tenantHash("acme", nil))
	assert.NotContains(t, logs.lines[0], "acme ")
	logs.mu.Unlock()

	// It cools down once its starts stop.
	clk.Advance(time.Minute)
	got, err = h.execute(ctx, "UserOnboardingWorkflow", start)
	require.NoError(t, err)
	assert.Equal(t, vectors.Queue(t, "acme", shards), got.TaskQueue)
	assert.Zero(t, h.router.HotTenants())
}

// TestPinnedAndJobsNeverOverflow: a pinned tenant already has its own
// queue, and jobs have no tenant to isolate.
func TestPinnedAndJobsNeverOverflow(t *testing.T) {
	h := newHarness(t, routing.Config{Prefix: "saas", Shards: shards, Pins: map[string]string{"acme": "acme"}}, WithHotTenants(HotTenants{Enter: 1}))
	for range 5 {
		got, err := h.execute(WithTenant(context.Background(), "acme"), "UserOnboardingWorkflow", client.StartWorkflowOptions{TaskQueue: "main-queue"})
		require.NoError(t, err)
		assert.Equal(t, "saas.tenant.pinned-acme", got.TaskQueue)
		got, err = h.execute(context.Background(), "TokenCleanupWorkflow", client.StartWorkflowOptions{TaskQueue: "main-queue"})
		require.NoError(t, err)
		assert.Equal(t, "saas.jobs.00", got.TaskQueue)
	}
	assert.Zero(t, h.router.HotTenants())
}

// shardMate returns a tenant ID on the same shard as tenant.
func shardMate(t *testing.T, tenant string, shards int) string {
	t.Helper()
	for i := range 10000 {
		if mate := fmt.Sprintf("mate-%d", i); routing.StableShard(mate, shards) == routing.StableShard(tenant, shards) {
			return mate
		}
	}
	t.Fatal("no shard-mate found")
	return ""
}

// TestRoutedStartAllocations pins the per-start cost of the router with
// hot-tenant counting and metrics on: the copies of the caller's options
// and of the interceptor input, and the no-op tracer's context; counting a
// tenant already counted, the overflow decision and the metric add
// nothing. (A tenant's first start in a window may grow the count map.)
func TestRoutedStartAllocations(t *testing.T) {
	h := newHarness(t, routing.Config{Prefix: "saas", Shards: shards}, WithHotTenants(HotTenants{}),
		WithTracerProvider(noop.NewTracerProvider()), WithLogger(&logRecorder{}))
	quiet := make([]context.Context, 201) // two starts each: never hot
	for i := range quiet {
		quiet[i] = WithTenant(context.Background(), fmt.Sprintf("quiet-%d", i))
		_, _ = h.execute(quiet[i], "UserOnboardingWorkflow", client.StartWorkflowOptions{TaskQueue: "main-queue"})
	}
	noisy := WithTenant(context.Background(), "noisy") // hot after its 5th start
	for name, ctxOf := range map[string]func(int) context.Context{
		"shard":    func(i int) context.Context { return quiet[i] },
		"overflow": func(int) context.Context { return noisy },
	} {
		// The router never writes the caller's input, so one serves all.
		in := &sdkinterceptor.ClientExecuteWorkflowInput{Options: &client.StartWorkflowOptions{TaskQueue: "main-queue"}, WorkflowType: "UserOnboardingWorkflow"}
		i := 0
		allocs := testing.AllocsPerRun(200, func() {
			_, _ = h.out.ExecuteWorkflow(ctxOf(i), in)
			i++
		})
		assert.LessOrEqual(t, allocs, 3.0, name)
	}
	assert.Equal(t, 1, h.router.HotTenants(), "only the noisy tenant is hot")
}

// see tells d of one counted start of tenant on shard of kind.
func see(d *detector, kind routing.QueueKind, shard int, tenant string) (hot bool, ch change, swept []cooled) {
	j := d.observe(sighting{kind: kind, shard: shard, queue: fmt.Sprintf("saas.%s.%02d", kind, shard), tenant: tenant, counted: true})
	return j.hot, j.change, j.swept
}

// TestSuspectStartsYield: from the second start of a burst that dominates
// its shard's starts here until the tenant is hot, its starts go to the
// shard one priority key below the caller's (reason suspect_tenant), so
// that its shard-mates' tasks are dispatched first; the first start, the
// hot tenant's overflowed starts, a shard-mate's start and a tenant that
// starts at an ordinary pace keep the caller's key. Without a way to ask
// the server, as here, yielding is all a suspect does.
func TestSuspectStartsYield(t *testing.T) {
	for _, tc := range []struct{ caller, yielded int }{{0, 4}, {1, 2}, {4, 5}, {5, 5}} {
		t.Run(fmt.Sprintf("key=%d", tc.caller), func(t *testing.T) {
			clk := newClock()
			h := saas(t, WithHotTenants(HotTenants{}), withClock(clk.Now), WithLogger(&logRecorder{}))
			shard := vectors.Queue(t, "acme", shards)
			opts := client.StartWorkflowOptions{TaskQueue: "main-queue", Priority: temporal.Priority{PriorityKey: tc.caller}}
			start := func(tenant string) (*client.StartWorkflowOptions, string) {
				t.Helper()
				got, err := h.execute(WithTenant(context.Background(), tenant), "UserOnboardingWorkflow", opts)
				require.NoError(t, err)
				reason := attrs(h.lastSpan(t))[AttrReason].AsString()
				clk.Advance(time.Millisecond)
				return got, reason
			}
			got, reason := start("acme")
			assert.Equal(t, tc.caller, got.Priority.PriorityKey, "a first start is no burst")
			assert.Empty(t, reason)
			for i := 2; i < DefaultHotEnter; i++ {
				got, reason = start("acme")
				assert.Equal(t, shard, got.TaskQueue, "start %d stays on its shard", i)
				assert.Equal(t, tc.yielded, got.Priority.PriorityKey, "start %d yields", i)
				assert.Equal(t, "acme", got.Priority.FairnessKey)
				assert.Equal(t, "suspect_tenant", reason)
			}
			got, _ = start(shardMate(t, "acme", shards))
			assert.Equal(t, shard, got.TaskQueue)
			assert.Equal(t, tc.caller, got.Priority.PriorityKey, "a shard-mate's start does not yield")
			got, reason = start("acme")
			assert.Equal(t, "saas.tenant.overflow-00", got.TaskQueue)
			assert.Equal(t, "hot_tenant", reason)
			assert.Equal(t, tc.caller, got.Priority.PriorityKey, "an overflowed start keeps the caller's key")

			// A tenant that starts every 2 s, however long, is never a
			// suspect: its burst count stays near 1 (and its count near 3,
			// below Enter).
			for range 20 {
				got, reason = start("steady")
				assert.Equal(t, tc.caller, got.Priority.PriorityKey)
				assert.Empty(t, reason)
				clk.Advance(2 * time.Second)
			}
		})
	}
}

// TestKeepPriority: with HotTenants.KeepPriority a suspect's starts keep
// the caller's priority key; the tenant is still isolated at Enter.
func TestKeepPriority(t *testing.T) {
	h := saas(t, WithHotTenants(HotTenants{KeepPriority: true}), withClock(newClock().Now), WithLogger(&logRecorder{}))
	ctx := WithTenant(context.Background(), "acme")
	for i := 1; i < DefaultHotEnter; i++ {
		got, err := h.execute(ctx, "UserOnboardingWorkflow", onMain)
		require.NoError(t, err)
		assert.Equal(t, vectors.Queue(t, "acme", shards), got.TaskQueue)
		assert.Zero(t, got.Priority.PriorityKey, "start %d keeps its priority", i)
		assert.Empty(t, attrs(h.lastSpan(t))[AttrReason].AsString())
	}
	got, err := h.execute(ctx, "UserOnboardingWorkflow", onMain)
	require.NoError(t, err)
	assert.Equal(t, "saas.tenant.overflow-00", got.TaskQueue)
}
