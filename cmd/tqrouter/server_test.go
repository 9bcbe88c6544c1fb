package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/tqrouter/tqrouter/internal/devserver"
	"github.com/tqrouter/tqrouter/internal/ops"
	"github.com/tqrouter/tqrouter/internal/saasapp"
	"github.com/tqrouter/tqrouter/routing"
	"github.com/tqrouter/tqrouter/workers"
)

// dial returns a client of s.
func dial(t *testing.T, s *devserver.Server) client.Client {
	t.Helper()
	c, err := client.Dial(s.ClientOptions())
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

// poll runs the demo app's workers (workflows and activities) on queues
// until the test ends.
func poll(t *testing.T, c client.Client, queues ...string) *workers.Group {
	t.Helper()
	g, err := workers.New(c, queues, worker.Options{}, saasapp.Register)
	require.NoError(t, err)
	require.NoError(t, g.Start())
	t.Cleanup(g.Stop)
	return g
}

// routedQueues lists the queues of the tenant and jobs kinds of cfg.
func routedQueues(t *testing.T, cfg routing.Config) []string {
	t.Helper()
	table, err := routing.NewTable(cfg)
	require.NoError(t, err)
	var out []string
	for _, k := range []routing.QueueKind{routing.Tenant, routing.Jobs} {
		q, err := table.PollQueues(k)
		require.NoError(t, err)
		out = append(out, q...)
	}
	return out
}

func findingsOf(out doctorOutput) []string {
	var f []string
	for _, x := range out.Findings {
		f = append(f, fmt.Sprintf("%s %s %s", x.Queue, x.Type, x.Check))
	}
	slices.Sort(f)
	return f
}

// TestDoctorNamesTheQueueWithNoWorker: with workers on every routed queue
// but one, doctor names that one for both task types and exits 1; once it
// is polled too, doctor finds nothing and exits 0.
func TestDoctorNamesTheQueueWithNoWorker(t *testing.T) {
	s := testServer(t)
	c := dial(t, s)
	prefix := uniquePrefix("doctor")
	queues := routedQueues(t, routing.Config{Prefix: prefix, Shards: 3})
	require.Len(t, queues, 5) // 3 shards, 1 overflow, jobs
	missing := prefix + ".tenant.01"
	poll(t, c, slices.DeleteFunc(slices.Clone(queues), func(q string) bool { return q == missing })...)

	args := append([]string{"doctor"}, serverArgs(t)...)
	args = append(args, "--prefix", prefix, "--shards", "3")
	var out doctorOutput
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		out = doctorOutput{}
		r := collectJSON(ct, &out, args...)
		assert.Equal(ct, exitFinding, r.code, r.stderr)
		assert.Equal(ct, []string{missing + " activity no-pollers", missing + " workflow no-pollers"}, findingsOf(out))
	}, 30*time.Second, 200*time.Millisecond)
	require.NotEmpty(t, out.ServerVersion)
	require.Len(t, out.Queues, 2*len(queues), "every queue, both task types")
	for _, q := range out.Queues {
		require.Equal(t, q.Name != missing, q.Pollers > 0, "%s %s", q.Name, q.Type)
	}

	r := tqrouter(t, "", args...)
	require.Equal(t, exitFinding, r.code)
	require.Contains(t, r.stdout, "FINDING "+missing+" workflow no-pollers: no workflow poller seen")
	require.Contains(t, r.stdout, "FINDING "+missing+" activity no-pollers: no activity poller seen")
	require.Contains(t, r.stdout, "\n2 findings\n")

	poll(t, c, missing)
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		out = doctorOutput{}
		r := collectJSON(ct, &out, args...)
		assert.Equal(ct, exitOK, r.code, r.stderr)
		assert.Empty(ct, out.Findings)
	}, 30*time.Second, 200*time.Millisecond)

	// A legacy queue that still receives starts is checked when named.
	legacy := prefix + "-main-queue"
	r = tqrouterJSON(t, &out, "", append(args, "--legacy", legacy)...)
	require.Equal(t, exitFinding, r.code, r.stderr)
	require.Equal(t, []string{legacy + " activity no-pollers", legacy + " workflow no-pollers"}, findingsOf(out))
}

// TestDoctorFindsBacklogAndHalfAppliedOverrides: a queued task older than
// --max-backlog-age, and overrides on workflow tasks but not on activity
// tasks, are findings.
func TestDoctorFindsBacklogAndHalfAppliedOverrides(t *testing.T) {
	s := testServer(t)
	c := dial(t, s)
	prefix := uniquePrefix("backlog")
	cfg := routing.Config{Prefix: prefix, Shards: 1}
	jobs := prefix + ".jobs.00"
	poll(t, c, slices.DeleteFunc(routedQueues(t, cfg), func(q string) bool { return q == jobs })...)
	ctx := context.Background()
	_, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: prefix + "-job", TaskQueue: jobs}, "TokenCleanupWorkflow", saasapp.Input{})
	require.NoError(t, err)
	_, err = c.WorkflowService().UpdateTaskQueueConfig(ctx, &workflowservice.UpdateTaskQueueConfigRequest{
		Namespace: s.Namespace(), TaskQueue: prefix + ".tenant.00", TaskQueueType: enumspb.TASK_QUEUE_TYPE_WORKFLOW,
		SetFairnessWeightOverrides: map[string]float32{"acme": 2},
	})
	require.NoError(t, err)

	args := append([]string{"doctor"}, serverArgs(t)...)
	args = append(args, "--prefix", prefix, "--shards", "1", "--max-backlog-age", "1ms")
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		var out doctorOutput
		r := collectJSON(ct, &out, args...)
		assert.Equal(ct, exitFinding, r.code, r.stderr)
		assert.Equal(ct, []string{
			jobs + " activity no-pollers",
			jobs + " workflow backlog-age",
			jobs + " workflow no-pollers",
			prefix + ".tenant.00  overrides-differ",
		}, findingsOf(out))
		for _, q := range out.Queues {
			if q.Name == jobs && q.Type == "workflow" {
				assert.Equal(ct, int64(1), q.Backlog)
			}
			if q.Name == prefix+".tenant.00" && q.Type == "workflow" {
				assert.Equal(ct, 1, q.Overrides)
			}
		}
	}, 30*time.Second, 500*time.Millisecond)
}

// TestDoctorFindsSeveralPartitions: on a server with Temporal's default of
// 4 partitions per task queue, doctor names every routed queue: the server
// lists 4 write partitions, and polls reach partitions other than 0.
func TestDoctorFindsSeveralPartitions(t *testing.T) {
	if os.Getenv(devserver.AddressEnv) != "" {
		t.Skip("needs a server of its own with 4 partitions per queue")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	s, err := devserver.Start(ctx, devserver.Options{})
	if errors.Is(err, devserver.ErrShort) {
		t.Skip(err)
	}
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	prefix := uniquePrefix("parts")
	poll(t, dial(t, s), routedQueues(t, routing.Config{Prefix: prefix, Shards: 1})...)

	args := []string{"doctor", "--address", s.Address(), "--namespace", s.Namespace(), "--prefix", prefix, "--shards", "1"}
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		var out doctorOutput
		r := collectJSON(ct, &out, args...)
		assert.Equal(ct, exitFinding, r.code, r.stderr)
		assert.NotEmpty(ct, out.Findings)
		for _, f := range out.Findings {
			assert.Equal(ct, ops.CheckPartitions, f.Check, f.Message)
		}
		for _, q := range out.Queues {
			assert.Equal(ct, 4, q.WritePartitions, "%s %s", q.Name, q.Type)
		}
	}, time.Minute, time.Second)

	// Without the probe, the write partitions the server lists are found.
	r := tqrouter(t, "", append(args, "--probe-partitions=false")...)
	require.Equal(t, exitFinding, r.code, r.stdout+r.stderr)
	require.Contains(t, r.stdout, "4 write partitions")
}

// overridesOnServer reads back the fairness weight overrides and the
// per-key rate limit of one type of a queue with DescribeTaskQueue.
func overridesOnServer(t *testing.T, c client.Client, ns, queue string, typ enumspb.TaskQueueType) (map[string]float32, *float32) {
	t.Helper()
	resp, err := c.WorkflowService().DescribeTaskQueue(context.Background(), &workflowservice.DescribeTaskQueueRequest{
		Namespace:     ns,
		TaskQueue:     &taskqueuepb.TaskQueue{Name: queue, Kind: enumspb.TASK_QUEUE_KIND_NORMAL},
		TaskQueueType: typ,
		ReportConfig:  true,
	})
	require.NoError(t, err)
	got := resp.GetConfig().GetFairnessWeightOverrides()
	if got == nil {
		got = map[string]float32{}
	}
	var rate *float32
	if rl := resp.GetConfig().GetFairnessKeysRateLimitDefault().GetRateLimit(); rl != nil {
		r := rl.GetRequestsPerSecond()
		rate = &r
	}
	return got, rate
}

var bothTypes = []enumspb.TaskQueueType{enumspb.TASK_QUEUE_TYPE_WORKFLOW, enumspb.TASK_QUEUE_TYPE_ACTIVITY}

// TestWeightsApplyIsReadBackFromTheServer: every tenant's weight is on
// every queue where its starts can land, both task types, under the key the
// router sends; a second run writes nothing; a changed file changes and
// removes overrides; the per-key rate limit is set on activity tasks only.
func TestWeightsApplyIsReadBackFromTheServer(t *testing.T) {
	s := testServer(t)
	c := dial(t, s)
	prefix := uniquePrefix("weights")
	long := "tenant-with-a-very-long-id-" + strings.Repeat("0123456789", 6)
	require.Greater(t, len(long), routing.MaxFairnessKeyLen)
	cfgArgs := []string{"--prefix", prefix, "--shards", "2", "--pin", "vip=vip"}
	dir := t.TempDir()
	file := dir + "/weights.txt"
	apply := func(contents string, extra ...string) result {
		t.Helper()
		require.NoError(t, os.WriteFile(file, []byte(contents), 0o600))
		return tqrouter(t, "", append(append(append([]string{"weights", "apply"}, serverArgs(t)...), cfgArgs...), append(extra, file)...)...)
	}

	// Where each tenant's starts land, written out independently of the
	// command: shard queue and the one overflow queue, or the pinned queue.
	landing := func(tenant string) []string {
		if tenant == "vip" {
			return []string{prefix + ".tenant.pinned-vip"}
		}
		return []string{routing.TaskQueueName(prefix, routing.Tenant, routing.StableShard(tenant, 2)), prefix + ".tenant.overflow-00"}
	}
	queues := []string{prefix + ".tenant.00", prefix + ".tenant.01", prefix + ".tenant.overflow-00", prefix + ".tenant.pinned-vip"}
	check := func(weights map[string]float32) {
		t.Helper()
		want := map[string]map[string]float32{}
		for _, q := range queues {
			want[q] = map[string]float32{}
		}
		for tenant, w := range weights {
			key := tenant
			if len(tenant) > routing.MaxFairnessKeyLen {
				key = routing.FairnessKey(tenant)
				require.True(t, strings.HasPrefix(key, "sha256:"))
			}
			for _, q := range landing(tenant) {
				want[q][key] = w
			}
		}
		for _, q := range queues {
			for _, typ := range bothTypes {
				got, _ := overridesOnServer(t, c, s.Namespace(), q, typ)
				require.Equal(t, want[q], got, "%s %s", q, typ)
			}
		}
	}

	first := "# weights\nacme 2\nglobex 0.5\n" + long + " 3\nvip 5\n"
	r := apply(first)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "4 tenants on 4 queues: 8 queue types changed, written")
	check(map[string]float32{"acme": 2, "globex": 0.5, long: 3, "vip": 5})

	// Idempotent: nothing to write the second time.
	r = apply(first)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Equal(t, "4 tenants on 4 queues: the server already holds these weights; nothing written\n", r.stdout)

	// A changed weight is changed, a tenant no longer listed is removed.
	r = apply("acme 4\n" + long + " 3\nvip 5\n")
	require.Equal(t, exitOK, r.code, r.stderr)
	check(map[string]float32{"acme": 4, long: 3, "vip": 5})

	// weights show prints what the server holds.
	var shown []struct {
		Queue, Type string
		Overrides   map[string]float32
	}
	r = tqrouterJSON(t, &shown, "", append(append([]string{"weights", "show"}, serverArgs(t)...), cfgArgs...)...)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Len(t, shown, 2*len(queues))
	for _, sq := range shown {
		typ := enumspb.TASK_QUEUE_TYPE_WORKFLOW
		if sq.Type == "activity" {
			typ = enumspb.TASK_QUEUE_TYPE_ACTIVITY
		}
		got, _ := overridesOnServer(t, c, s.Namespace(), sq.Queue, typ)
		require.Equal(t, got, sq.Overrides, "%s %s", sq.Queue, sq.Type)
	}

	// The per-key rate: activity tasks only, then removed.
	r = apply("acme 4\n"+long+" 3\nvip 5\n", "--key-rate", "5")
	require.Equal(t, exitOK, r.code, r.stderr)
	for _, q := range queues {
		_, wf := overridesOnServer(t, c, s.Namespace(), q, enumspb.TASK_QUEUE_TYPE_WORKFLOW)
		_, act := overridesOnServer(t, c, s.Namespace(), q, enumspb.TASK_QUEUE_TYPE_ACTIVITY)
		require.Nil(t, wf, q)
		require.NotNil(t, act, q)
		require.Equal(t, float32(5), *act, q)
	}
	r = apply("acme 4\n"+long+" 3\nvip 5\n", "--key-rate", "none")
	require.Equal(t, exitOK, r.code, r.stderr)
	for _, q := range queues {
		_, act := overridesOnServer(t, c, s.Namespace(), q, enumspb.TASK_QUEUE_TYPE_ACTIVITY)
		require.Nil(t, act, q)
	}

	// An empty file, a file of comments and empty standard input would
	// remove every override: refused, and the overrides are still there.
	for _, empty := range []string{"", "# nobody\n\n"} {
		r = apply(empty)
		require.Equal(t, exitUsage, r.code, r.stderr)
		require.Contains(t, r.stderr, "lists no tenant")
		check(map[string]float32{"acme": 4, long: 3, "vip": 5})
	}
	r = tqrouter(t, "", append(append(append([]string{"weights", "apply"}, serverArgs(t)...), cfgArgs...), "-")...)
	require.Equal(t, exitUsage, r.code, r.stderr)
	check(map[string]float32{"acme": 4, long: 3, "vip": 5})

	// Said explicitly, it removes every override.
	r = apply("# nobody\n", "--allow-empty")
	require.Equal(t, exitOK, r.code, r.stderr)
	check(nil)
}

// TestWeightsOverTheLimitWriteNothing: past --max-overrides the command
// stops before writing; and the server's own limit is 1000 per request.
func TestWeightsOverTheLimitWriteNothing(t *testing.T) {
	s := testServer(t)
	c := dial(t, s)
	prefix := uniquePrefix("limit")
	queue := prefix + ".tenant.00"
	var file strings.Builder
	for i := range 1001 {
		fmt.Fprintf(&file, "tenant-%04d 2\n", i)
	}
	base := append(append([]string{"weights", "apply"}, serverArgs(t)...), "--prefix", prefix, "--shards", "1")

	r := tqrouter(t, file.String(), append(base, "-")...)
	require.Equal(t, exitUsage, r.code)
	require.Contains(t, r.stderr, "too many fairness weight overrides: more than 1000 on "+queue+" (1001), "+prefix+".tenant.overflow-00 (1001); nothing was written")
	for _, typ := range bothTypes {
		got, _ := overridesOnServer(t, c, s.Namespace(), queue, typ)
		require.Empty(t, got)
	}

	// Told the limit is higher, the command sends 1001 keys at once, and
	// the server refuses them: exit status 3, nothing written.
	r = tqrouter(t, file.String(), append(base, "--max-overrides", "2000", "-")...)
	require.Equal(t, exitError, r.code)
	require.Contains(t, r.stderr, "too many fairness weight overrides in request: got 1001, maximum 1000")
	for _, typ := range bothTypes {
		got, _ := overridesOnServer(t, c, s.Namespace(), queue, typ)
		require.Empty(t, got)
	}

	// At the limit, all 1000 are written.
	lines := strings.SplitAfter(file.String(), "\n")
	r = tqrouter(t, strings.Join(lines[:1000], ""), append(base, "-")...)
	require.Equal(t, exitOK, r.code, r.stderr)
	got, _ := overridesOnServer(t, c, s.Namespace(), queue, enumspb.TASK_QUEUE_TYPE_ACTIVITY)
	require.Len(t, got, 1000)
}

// TestStatusUntilDrained: a legacy queue with an open workflow holds work
// (exit 1); once a worker has run it, every retired queue is drained
// (exit 0).
func TestStatusUntilDrained(t *testing.T) {
	s := testServer(t)
	c := dial(t, s)
	prefix := uniquePrefix("status")
	legacy := prefix + "-main-queue"
	_, err := c.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: prefix + "-wf", TaskQueue: legacy}, "UserOnboardingWorkflow", saasapp.Input{})
	require.NoError(t, err)

	args := append([]string{"status"}, serverArgs(t)...)
	args = append(args, "--prefix", prefix, "--shards", "2", "--previous-shards", "4", "--legacy", legacy)
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		var lines []statusLine
		r := collectJSON(ct, &lines, args...)
		assert.Equal(ct, exitFinding, r.code, r.stderr)
		assert.Equal(ct, []statusLine{
			{Queue: legacy, OpenWorkflows: 1, Backlog: 1},
			{Queue: prefix + ".tenant.02", Drained: true},
			{Queue: prefix + ".tenant.03", Drained: true},
		}, lines)
	}, 30*time.Second, 500*time.Millisecond)
	r := tqrouter(t, "", args...)
	require.Contains(t, r.stdout, "holds work and has no poller: its tasks wait")
	require.Contains(t, r.stdout, "1 of 3 retired queues hold work\n")

	poll(t, c, legacy)
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		var lines []statusLine
		r := collectJSON(ct, &lines, args...)
		assert.Equal(ct, exitOK, r.code, r.stderr)
		if assert.Len(ct, lines, 3) {
			assert.True(ct, lines[0].Drained)
		}
	}, 30*time.Second, 500*time.Millisecond)
}

// backlogConfig is the layout of the backlog tests: 4 shards, the overflow
// queue and tenant-00's pinned queue.
func backlogConfig(prefix string) (routing.Config, []string) {
	return routing.Config{Prefix: prefix, Shards: 4, Pins: map[string]string{"tenant-00": "vip"}},
		[]string{"--prefix", prefix, "--shards", "4", "--pin", "tenant-00=vip"}
}

// queueBacklog starts, with nothing polling, tenants workflows of distinct
// tenants on their routed queues (tenant-00 on its pinned queue, one in
// ten as a hot tenant on the overflow queue, the others on their shards)
// and jobs workflows on the jobs queue of cfg, so that the tenant kind
// holds tenants workflow tasks on every role of queue, and jobs holds
// jobs.
func queueBacklog(t *testing.T, c client.Client, cfg routing.Config, tenants, jobs int) {
	t.Helper()
	table, err := routing.NewTable(cfg)
	require.NoError(t, err)
	ctx := context.Background()
	roles := map[routing.Role]int{}
	for i := range tenants {
		r, err := table.TenantRoute(routing.Tenant, fmt.Sprintf("tenant-%02d", i), 0)
		require.NoError(t, err)
		if i%10 == 1 {
			r = r.Hot()
		}
		roles[r.Role]++
		_, err = c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: fmt.Sprintf("%s-tenant-%02d", cfg.Prefix, i), TaskQueue: r.TaskQueue}, "UserOnboardingWorkflow", saasapp.Input{})
		require.NoError(t, err)
	}
	require.Len(t, roles, 3, "shard, overflow and pinned queues: %v", roles)
	r, err := table.JobRoute(routing.Jobs)
	require.NoError(t, err)
	for i := range jobs {
		_, err = c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: fmt.Sprintf("%s-job-%d", cfg.Prefix, i), TaskQueue: r.TaskQueue}, "TokenCleanupWorkflow", saasapp.Input{})
		require.NoError(t, err)
	}
}

// backlogOf returns the backlog of each kind of a report.
func backlogOf(rep ops.BacklogReport) map[routing.QueueKind]int64 {
	out := map[routing.QueueKind]int64{}
	for _, k := range rep.Kinds {
		out[k.Kind] = k.Backlog
	}
	return out
}

// backlogBound is how long the tests wait for the server's backlog counts
// to match: the server caches them for matching.TaskQueueInfoByBuildIdTTL,
// 5 s by default (server v1.32.1, service/matching), so they lag by that
// much; the rest is a slow, shared machine.
const backlogBound = 45 * time.Second

// TestBacklogPerKind: with 30 tenant workflows and 3 jobs queued and
// nothing polling, backlog reports tenant 30 and jobs 3 over the 6 tenant
// queues (shards, overflow, pinned) and the jobs queue: named by flags, and by a profile of a
// TEMPORAL_CONFIG_FILE (--profile, then TEMPORAL_PROFILE) with no
// --address at all.
func TestBacklogPerKind(t *testing.T) {
	s := testServer(t)
	c := dial(t, s)
	cfg, routingArgs := backlogConfig(uniquePrefix("backlog"))
	queueBacklog(t, c, cfg, 30, 3)
	want := map[routing.QueueKind]int64{routing.Tenant: 30, routing.Jobs: 3}

	args := append(append([]string{"backlog"}, serverArgs(t)...), routingArgs...)
	var rep ops.BacklogReport
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		rep = ops.BacklogReport{}
		r := collectJSON(ct, &rep, args...)
		assert.Equal(ct, exitOK, r.code, r.stderr)
		assert.Equal(ct, want, backlogOf(rep))
	}, backlogBound, 500*time.Millisecond)
	require.Equal(t, s.Namespace(), rep.Namespace)
	require.Equal(t, []routing.QueueKind{routing.Tenant, routing.Jobs}, []routing.QueueKind{rep.Kinds[0].Kind, rep.Kinds[1].Kind})
	require.Equal(t, 6, rep.Kinds[0].Queues, "4 shards, the overflow queue and the pinned queue")
	require.Equal(t, 1, rep.Kinds[1].Queues)
	require.Equal(t, int64(30), rep.Kinds[0].WorkflowBacklog)
	require.Positive(t, rep.Kinds[0].BacklogAgeMS)

	// The text output.
	r := tqrouter(t, "", args...)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Regexp(t, `(?m)^tenant\s+6\s+30\s+30\s+0\s`, r.stdout)
	require.Regexp(t, `(?m)^jobs\s+1\s+3\s+3\s+0\s`, r.stdout)

	// One kind only.
	r = tqrouterJSON(t, &rep, "", append(args, "--kind", "jobs")...)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Equal(t, map[routing.QueueKind]int64{routing.Jobs: 3}, backlogOf(rep))

	// The same server through a profile of the config file: no --address.
	file := t.TempDir() + "/temporal.toml"
	require.NoError(t, os.WriteFile(file, []byte(fmt.Sprintf("[profile.default]\naddress = \"127.0.0.1:1\"\n\n[profile.test]\naddress = %q\nnamespace = %q\n", s.Address(), s.Namespace())), 0o600))
	t.Setenv("TEMPORAL_CONFIG_FILE", file)
	t.Setenv("TEMPORAL_ADDRESS", "")
	t.Setenv("TEMPORAL_NAMESPACE", "")
	t.Setenv("TEMPORAL_PROFILE", "")
	byProfile := append([]string{"backlog", "--timeout", "20s"}, routingArgs...)
	r = tqrouterJSON(t, &rep, "", append(byProfile, "--profile", "test")...)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Equal(t, want, backlogOf(rep))
	require.Equal(t, s.Namespace(), rep.Namespace)
	t.Setenv("TEMPORAL_PROFILE", "test")
	r = tqrouterJSON(t, &rep, "", byProfile...)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Equal(t, want, backlogOf(rep))

	// The default profile names a port nobody listens on: the profile is
	// what reached the server above.
	t.Setenv("TEMPORAL_PROFILE", "")
	r = tqrouter(t, "", append(byProfile, "--timeout", "3s")...)
	require.Equal(t, exitError, r.code, r.stderr)
	require.Contains(t, r.stderr, "connecting to 127.0.0.1:1")
}

// freeAddress returns a loopback host:port nobody listens on now.
func freeAddress(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// TestServeBacklog: with 30 tenant workflows and 3 jobs queued and nothing
// polling, serve's /metrics and /backlog report tenant 30 and jobs 3; it
// stops with exit status 0 when its context ends (SIGINT, SIGTERM).
func TestServeBacklog(t *testing.T) {
	s := testServer(t)
	c := dial(t, s)
	cfg, routingArgs := backlogConfig(uniquePrefix("serve"))
	queueBacklog(t, c, cfg, 30, 3)

	addr := freeAddress(t)
	args := append(append([]string{"serve", "--listen", addr, "--interval", "1s"}, serverArgs(t)...), routingArgs...)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan result, 1)
	go func() {
		var stdout, stderr bytes.Buffer
		code := run(ctx, args, strings.NewReader(""), &stdout, &stderr)
		done <- result{code: code, stdout: stdout.String(), stderr: stderr.String()}
	}()
	get := func(ct *assert.CollectT, path string) (int, string) {
		resp, err := http.Get("http://" + addr + path)
		if !assert.NoError(ct, err) {
			return 0, ""
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		assert.NoError(ct, err)
		return resp.StatusCode, string(body)
	}
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		code, body := get(ct, "/backlog")
		assert.Equal(ct, http.StatusOK, code, body)
		var rep ops.BacklogReport
		assert.NoError(ct, json.Unmarshal([]byte(body), &rep), body)
		assert.Equal(ct, map[routing.QueueKind]int64{routing.Tenant: 30, routing.Jobs: 3}, backlogOf(rep))
	}, backlogBound, 500*time.Millisecond)
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		code, body := get(ct, "/metrics")
		assert.Equal(ct, http.StatusOK, code, body)
		assert.Contains(ct, body, "\ntqrouter_kind_backlog{kind=\"tenant\"} 30\n")
		assert.Contains(ct, body, "\ntqrouter_kind_backlog{kind=\"jobs\"} 3\n")
		assert.Regexp(ct, `\ntqrouter_kind_backlog_age_seconds\{kind="tenant"\} [0-9.e+-]+\n`, body)
		assert.Contains(ct, body, "\ntqrouter_backlog_refresh_errors_total 0\n")
	}, backlogBound, 500*time.Millisecond)

	cancel()
	select {
	case r := <-done:
		require.Equal(t, exitOK, r.code, r.stderr)
		require.Contains(t, r.stderr, "tqrouter serve: http://"+addr+"/metrics")
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
	_, err := http.Get("http://" + addr + "/metrics")
	require.Error(t, err, "the listener is closed")
}
