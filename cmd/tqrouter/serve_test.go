package main

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tqrouter/tqrouter/internal/ops"
	"github.com/tqrouter/tqrouter/routing"
)

var sampleBacklog = ops.BacklogReport{Namespace: "ns", Kinds: []ops.KindBacklog{
	{Kind: routing.Tenant, Queues: 5, Backlog: 30, WorkflowBacklog: 28, ActivityBacklog: 2, BacklogAge: 1200 * time.Millisecond, BacklogAgeMS: 1200},
	{Kind: routing.Jobs, Queues: 1, Backlog: 3, WorkflowBacklog: 3},
}}

// TestWriteMetrics pins the Prometheus text that autoscalers read.
func TestWriteMetrics(t *testing.T) {
	var b strings.Builder
	writeMetrics(&b, sampleBacklog, time.UnixMilli(1764763200500), 2)
	require.Equal(t, `# HELP tqrouter_kind_backlog Approximate number of tasks (workflow and activity) queued on every queue the kind can land on.
# TYPE tqrouter_kind_backlog gauge
tqrouter_kind_backlog{kind="tenant"} 30
tqrouter_kind_backlog{kind="jobs"} 3
# HELP tqrouter_kind_backlog_age_seconds Approximate age of the oldest task queued on any queue of the kind.
# TYPE tqrouter_kind_backlog_age_seconds gauge
tqrouter_kind_backlog_age_seconds{kind="tenant"} 1.2
tqrouter_kind_backlog_age_seconds{kind="jobs"} 0
# HELP tqrouter_kind_queues Number of task queues the kind can land on (shards, overflow, pinned).
# TYPE tqrouter_kind_queues gauge
tqrouter_kind_queues{kind="tenant"} 5
tqrouter_kind_queues{kind="jobs"} 1
# HELP tqrouter_backlog_refresh_errors_total Refreshes of the figures that failed.
# TYPE tqrouter_backlog_refresh_errors_total counter
tqrouter_backlog_refresh_errors_total 2
# HELP tqrouter_backlog_last_refresh_timestamp_seconds When the figures were last read from the server.
# TYPE tqrouter_backlog_last_refresh_timestamp_seconds gauge
tqrouter_backlog_last_refresh_timestamp_seconds 1764763200.5
`, b.String())
}

// TestExporterServesOnlyFreshFigures: before the first answer and once the
// figures are older than 3 intervals, /backlog is 503 and /metrics has no
// kind gauges; in between both serve the last figures, the same JSON as
// the command.
func TestExporterServesOnlyFreshFigures(t *testing.T) {
	now := time.Unix(1764763200, 0)
	e := &exporter{interval: 15 * time.Second, now: func() time.Time { return now }}
	srv := httptest.NewServer(e.handler())
	defer srv.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(body)
	}

	code, body := get("/backlog")
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Contains(t, body, "no answer from the Temporal server yet")
	code, body = get("/metrics")
	require.Equal(t, http.StatusOK, code)
	require.NotContains(t, body, "tqrouter_kind_backlog")
	require.Contains(t, body, "tqrouter_backlog_refresh_errors_total 0\n")

	e.record(sampleBacklog, nil)
	e.record(ops.BacklogReport{}, errors.New("unavailable"))
	now = now.Add(45 * time.Second) // 3 intervals: still served
	code, body = get("/backlog")
	require.Equal(t, http.StatusOK, code, body)
	var got ops.BacklogReport
	require.NoError(t, json.Unmarshal([]byte(body), &got))
	want := sampleBacklog
	want.Kinds = append([]ops.KindBacklog(nil), want.Kinds...)
	want.Kinds[0].BacklogAge = 0 // not in the JSON: backlog_age_ms is
	require.Equal(t, want, got)
	require.Contains(t, body, `"backlog_age_ms": 1200`)
	_, body = get("/metrics")
	require.Contains(t, body, "tqrouter_kind_backlog{kind=\"tenant\"} 30\n")
	require.Contains(t, body, "tqrouter_backlog_refresh_errors_total 1\n")

	now = now.Add(time.Second) // stale
	code, body = get("/backlog")
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Contains(t, body, "no answer from the Temporal server since 2025-12-03T12:00:00Z")
	_, body = get("/metrics")
	require.NotContains(t, body, "tqrouter_kind_backlog")
	require.Contains(t, body, "tqrouter_backlog_last_refresh_timestamp_seconds 1764763200\n")

	code, _ = get("/other")
	require.Equal(t, http.StatusNotFound, code)
}

// FuzzLabelValue: whatever a kind holds, a gauge line stays one line with
// one quoted label value.
func FuzzLabelValue(f *testing.F) {
	for _, s := range []string{"tenant", `a"b`, "a\nb", `a\`, "\\\"\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, kind string) {
		var b strings.Builder
		writeMetrics(&b, ops.BacklogReport{Kinds: []ops.KindBacklog{{Kind: routing.QueueKind(kind)}}}, time.Time{}, 0)
		for _, line := range strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n") {
			if strings.HasPrefix(line, "#") || !strings.Contains(line, "{") {
				continue
			}
			v := line[strings.Index(line, `{kind="`)+len(`{kind="`) : strings.LastIndex(line, `"}`)]
			for i := 0; i < len(v); i++ {
				switch v[i] {
				case '\\':
					i++ // an escape and what it escapes
				case '"':
					t.Fatalf("unescaped quote in %q", line)
				}
			}
		}
	})
}

// FuzzPinFlag: --pin takes TENANT=LABEL with the label after the last '=';
// a tenant pinned twice is refused; it never panics.
func FuzzPinFlag(f *testing.F) {
	for _, s := range []string{"acme=a", "a=b=c", "=x", "x=", "", "acme=a\x00acme=b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var p pinFlag
		first, second, _ := strings.Cut(in, "\x00")
		err1 := p.Set(first)
		if err1 == nil {
			i := strings.LastIndexByte(first, '=')
			require.Equal(t, first[i+1:], p.m[first[:i]])
			require.NotContains(t, first[i+1:], "=")
			require.NotEmpty(t, first[:i])
		}
		err2 := p.Set(second)
		if err1 == nil && err2 == nil {
			i, j := strings.LastIndexByte(first, '='), strings.LastIndexByte(second, '=')
			require.NotEqual(t, first[:i], second[:j], "pinned twice")
		}
	})
}
