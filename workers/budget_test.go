package workers

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

func TestNewBudgetValidates(t *testing.T) {
	for _, tc := range []struct {
		limit int
		opts  []BudgetOption
	}{
		{limit: 0},
		{limit: -1},
		{limit: 1, opts: []BudgetOption{WithWorkflowTaskLimit(0)}},
		{limit: 1, opts: []BudgetOption{WithIdlePollAfter(0)}},
	} {
		_, err := NewBudget(tc.limit, tc.opts...)
		require.ErrorContains(t, err, "tqrouter: ")
	}
	b, err := NewBudget(3, WithMeterProvider(nil))
	require.NoError(t, err)
	require.Equal(t, 3, b.Limit())
	require.Equal(t, 3, b.workflows.limit, "workflow tasks default to the same limit")
}

// TestBudgetGauges reads the budget's gauges through the OpenTelemetry SDK.
func TestBudgetGauges(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	clk := newManualClock()
	b, err := NewBudget(2, WithWorkflowTaskLimit(5), WithMeterProvider(mp), withClock(clk), WithIdlePollAfter(testIdle))
	require.NoError(t, err)

	running := reserveAsync(b.activities, key(1))
	young := reserveAsync(b.activities, key(2))
	waitFor(t, "granted", func() bool { return granted(running) && granted(young) })
	b.activities.markUsed(running.g)
	waiting := reserveAsync(b.activities, key(3))
	waitFor(t, "waiting", func() bool { return b.Waiting() == 1 })
	wf := reserveAsync(b.workflows, pollKey{queue: "q01", kind: "workflow"})
	waitFor(t, "granted", func() bool { return granted(wf) })
	b.workflows.markUsed(wf.g)
	require.Equal(t, 1, b.InUse())

	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	require.Len(t, rm.ScopeMetrics, 1)
	require.Equal(t, ScopeName, rm.ScopeMetrics[0].Scope.Name)
	got := map[string]map[string]int64{}
	for _, m := range rm.ScopeMetrics[0].Metrics {
		require.Equal(t, "{task}", m.Unit, m.Name)
		gauge, ok := m.Data.(metricdata.Gauge[int64])
		require.True(t, ok, m.Name)
		got[m.Name] = map[string]int64{}
		for _, dp := range gauge.DataPoints {
			require.Equal(t, 1, dp.Attributes.Len(), "only the task type: no queue, no tenant")
			typ, ok := dp.Attributes.Value(AttrTaskType)
			require.True(t, ok)
			got[m.Name][typ.AsString()] = dp.Value
		}
	}
	require.Equal(t, map[string]map[string]int64{
		MetricBudgetLimit:   {"activity": 2, "workflow": 5},
		MetricBudgetUsage:   {"activity": 1, "workflow": 1},
		MetricBudgetWaiting: {"activity": 1, "workflow": 0},
	}, got)

	b.activities.release(young.g)
	waitFor(t, "granted", func() bool { return granted(waiting) })
	for _, g := range []*grant{running.g, waiting.g} {
		b.activities.release(g)
	}
	b.workflows.release(wf.g)
	require.Zero(t, b.InUse())
	require.Zero(t, b.Waiting())
}
