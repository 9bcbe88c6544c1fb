package interceptor

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	sdkinterceptor "go.temporal.io/sdk/interceptor"

	"github.com/tqrouter/tqrouter/internal/vectors"
	"github.com/tqrouter/tqrouter/routing"
)

// The detector's defects, each proven through the router as a caller sees
// it: where the starts go, and what HotTenants, the metrics and the log say.

var onMain = client.StartWorkflowOptions{TaskQueue: "main-queue"}

// TestSecondFloodOnAHotShardIsIsolated: once a tenant is hot, its
// overflowed starts no longer weigh on its shard, so a shard-mate that
// floods the same shard while the first flood goes on is isolated too.
// Counting the overflowed starts in the shard's total kept the second
// tenant's share at a third, under Share, forever.
func TestSecondFloodOnAHotShardIsIsolated(t *testing.T) {
	clk := newClock()
	h := saas(t, WithHotTenants(HotTenants{}), withClock(clk.Now), WithLogger(&logRecorder{}))
	first := WithTenant(context.Background(), "acme")
	second := WithTenant(context.Background(), shardMate(t, "acme", shards))
	for range DefaultHotEnter {
		_, err := h.execute(first, "UserOnboardingWorkflow", onMain)
		require.NoError(t, err)
		clk.Advance(10 * time.Millisecond)
	}
	require.Equal(t, 1, h.router.HotTenants(), "the first flood is isolated")
	var got *client.StartWorkflowOptions
	for range 40 { // two starts of the first flood for one of the second
		for _, ctx := range []context.Context{first, first, second} {
			var err error
			got, err = h.execute(ctx, "UserOnboardingWorkflow", onMain)
			require.NoError(t, err)
			clk.Advance(10 * time.Millisecond)
		}
	}
	assert.Equal(t, "saas.tenant.overflow-00", got.TaskQueue, "the second flood's last start")
	assert.Equal(t, 2, h.router.HotTenants())
}

// TestFloodSeenPastManyOneStartTenants: 10,000 tenants that each start one
// workflow, and again a little later, fill the table to MaxTenants; a
// flood that starts next is still counted and isolated. Refusing to count
// new tenants while the table was full hid every flood behind them.
func TestFloodSeenPastManyOneStartTenants(t *testing.T) {
	clk := newClock()
	h := saas(t, WithHotTenants(HotTenants{}), withClock(clk.Now), WithLogger(&logRecorder{}))
	ctxs := make([]context.Context, DefaultHotMaxTenants)
	for i := range ctxs {
		ctxs[i] = WithTenant(context.Background(), fmt.Sprintf("one-%d", i))
	}
	for range 2 {
		for _, ctx := range ctxs {
			_, err := h.execute(ctx, "UserOnboardingWorkflow", onMain)
			require.NoError(t, err)
			clk.Advance(time.Millisecond)
		}
	}
	require.Zero(t, h.router.HotTenants(), "one start each, twice: nobody floods")
	noisy := WithTenant(context.Background(), "noisy")
	var got *client.StartWorkflowOptions
	for range 400 {
		var err error
		got, err = h.execute(noisy, "UserOnboardingWorkflow", onMain)
		require.NoError(t, err)
		clk.Advance(time.Millisecond)
	}
	assert.Equal(t, "saas.tenant.overflow-00", got.TaskQueue)
	assert.Equal(t, 1, h.router.HotTenants())
}

// TestSignalWithStartIsNotCounted: a SignalWithStart to a running workflow
// starts nothing, and the interceptor cannot tell it from one that does
// (the SDK's WorkflowRun does not say whether the server started a run),
// so it is never counted: many signals do not make a tenant hot. The same
// holds for a start that may attach to a running workflow
// (WorkflowIDConflictPolicy USE_EXISTING). A tenant that is hot from its
// other starts still has its SignalWithStart sent to its overflow queue.
func TestSignalWithStartIsNotCounted(t *testing.T) {
	clk := newClock()
	h := saas(t, WithHotTenants(HotTenants{}), withClock(clk.Now), WithLogger(&logRecorder{}))
	ctx := WithTenant(context.Background(), "acme")
	signal := func() string {
		t.Helper()
		opts := onMain
		_, err := h.out.SignalWithStartWorkflow(ctx, &sdkinterceptor.ClientSignalWithStartWorkflowInput{
			SignalName: "poke", Options: &opts, WorkflowType: "UserOnboardingWorkflow",
		})
		require.NoError(t, err)
		return h.next.signal.Options.TaskQueue
	}
	for range 5 * DefaultHotEnter {
		assert.Equal(t, vectors.Queue(t, "acme", shards), signal())
		assert.Zero(t, h.next.signal.Options.Priority.PriorityKey, "an uncounted start does not yield")
		clk.Advance(10 * time.Millisecond)
	}
	attach := onMain
	attach.WorkflowIDConflictPolicy = enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING
	for range 5 * DefaultHotEnter {
		got, err := h.execute(ctx, "UserOnboardingWorkflow", attach)
		require.NoError(t, err)
		assert.Equal(t, vectors.Queue(t, "acme", shards), got.TaskQueue)
		assert.Zero(t, got.Priority.PriorityKey, "an uncounted start does not yield")
		clk.Advance(10 * time.Millisecond)
	}
	assert.Zero(t, h.router.HotTenants(), "signals and attaching starts are not starts")

	for range DefaultHotEnter {
		_, err := h.execute(ctx, "UserOnboardingWorkflow", onMain)
		require.NoError(t, err)
	}
	require.Equal(t, 1, h.router.HotTenants())
	assert.Equal(t, "saas.tenant.overflow-00", signal(), "a hot tenant's SignalWithStart overflows")
}

// TestNoOverflowReportsNoIsolation: with routing.NoOverflow a flooding
// tenant stays on its shard, and nothing says otherwise: no hot tenant, no
// isolation counted, no log line, every decision "routed".
func TestNoOverflowReportsNoIsolation(t *testing.T) {
	reader := metric.NewManualReader()
	logs := &logRecorder{}
	h := newHarness(t, routing.Config{Prefix: "saas", Shards: shards, Overflow: routing.NoOverflow},
		WithHotTenants(HotTenants{}), WithLogger(logs),
		WithMeterProvider(metric.NewMeterProvider(metric.WithReader(reader))))
	ctx := WithTenant(context.Background(), "acme")
	for range 10 * DefaultHotEnter {
		got, err := h.execute(ctx, "UserOnboardingWorkflow", onMain)
		require.NoError(t, err)
		require.Equal(t, vectors.Queue(t, "acme", shards), got.TaskQueue)
		assert.Equal(t, "routed", attrs(h.lastSpan(t))[AttrDecision].AsString())
		assert.Empty(t, h.lastSpan(t).Events())
	}
	assert.Zero(t, h.router.HotTenants())
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			assert.NotEqual(t, MetricIsolations, m.Name, "no isolation counted")
			if g, ok := m.Data.(metricdata.Gauge[int64]); ok && m.Name == MetricHotTenants {
				for _, dp := range g.DataPoints {
					assert.Zero(t, dp.Value)
				}
			}
		}
	}
	logs.mu.Lock()
	assert.Empty(t, logs.lines)
	logs.mu.Unlock()
}
