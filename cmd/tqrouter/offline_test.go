package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tqrouter/tqrouter/internal/vectors"
	"github.com/tqrouter/tqrouter/routing"
)

// TestRouteAgreesWithReferenceVectors: route prints, for every reference
// vector, the reference queue, and the tenant as its fairness key.
func TestRouteAgreesWithReferenceVectors(t *testing.T) {
	byShards := map[int][]vectors.Case{}
	for _, v := range vectors.Load(t) {
		if v.TenantID == "" {
			continue // the algorithm is defined for "", but the router refuses it
		}
		byShards[v.Shards] = append(byShards[v.Shards], v)
	}
	require.NotEmpty(t, byShards)
	for shards, cases := range byShards {
		args := []string{"route", "--prefix", "saas", "--shards", fmt.Sprint(shards)}
		for _, v := range cases {
			args = append(args, v.TenantID)
		}
		var lines []routeLine
		r := tqrouterJSON(t, &lines, "", args...)
		require.Equal(t, exitOK, r.code, r.stderr)
		require.Len(t, lines, len(cases))
		for i, v := range cases {
			require.Equal(t, v.TenantID, lines[i].Tenant)
			require.Equal(t, v.TaskQueue, lines[i].TaskQueue, "%q with %d shards", v.TenantID, shards)
			require.Equal(t, v.Shard, lines[i].Shard)
			require.Equal(t, routing.FairnessKey(v.TenantID), lines[i].FairnessKey)
		}
	}
}

func TestRouteText(t *testing.T) {
	long := strings.Repeat("x", 70)
	acme := vectors.Queue(t, "acme", 32)
	// Tenants from standard input, one per line; blank lines skipped.
	r := tqrouter(t, "acme\n\n"+long+"\r\nhot\n", "route", "--prefix", "saas", "--shards", "32", "--pin", "hot=hot")
	require.Equal(t, exitOK, r.code, r.stderr)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.Len(t, lines, 4)
	require.Equal(t, []string{"TENANT", "QUEUE", "FAIRNESS", "KEY"}, strings.Fields(lines[0]))
	require.Equal(t, []string{"acme", acme, "acme"}, strings.Fields(lines[1]))
	require.Equal(t, long, strings.Fields(lines[2])[0])
	require.Equal(t, routing.FairnessKey(long), strings.Fields(lines[2])[2])
	require.True(t, strings.HasPrefix(strings.Fields(lines[2])[2], "sha256:"))
	require.Equal(t, []string{"hot", "saas.tenant.pinned-hot", "hot"}, strings.Fields(lines[3]))

	// Each kind: jobs has one queue and no key.
	r = tqrouter(t, "", "route", "--prefix", "saas", "--shards", "32", "--kind", "tenant", "--kind", "jobs", "acme")
	require.Equal(t, exitOK, r.code, r.stderr)
	lines = strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.Equal(t, []string{"acme", acme, "acme"}, strings.Fields(lines[1]))
	require.Equal(t, []string{"acme", "saas.jobs.00", "-"}, strings.Fields(lines[2]))
}

func TestQueues(t *testing.T) {
	var queues []struct{ Queue, Kind, Role string }
	r := tqrouterJSON(t, &queues, "", "queues", "--prefix", "saas", "--shards", "3", "--overflow", "2", "--pin", "acme=vip", "--pin", "key=with=eq=vip")
	require.Equal(t, exitOK, r.code, r.stderr)
	table, err := routing.NewTable(routing.Config{Prefix: "saas", Shards: 3, Overflow: 2, Pins: map[string]string{"acme": "vip"}})
	require.NoError(t, err)
	var want []string
	for _, k := range []routing.QueueKind{routing.Tenant, routing.Jobs} {
		q, err := table.PollQueues(k)
		require.NoError(t, err)
		want = append(want, q...)
	}
	var got, roles []string
	for _, q := range queues {
		got = append(got, q.Queue)
		roles = append(roles, q.Kind+"/"+q.Role)
	}
	require.Equal(t, want, got)
	require.Equal(t, []string{"tenant/shard", "tenant/shard", "tenant/shard", "tenant/overflow", "tenant/overflow", "tenant/pinned", "jobs/shard"}, roles)

	r = tqrouter(t, "", "queues", "--prefix", "saas", "--shards", "1", "--overflow", "-1", "--kind", "jobs")
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Equal(t, "KIND  ROLE   QUEUE\njobs  shard  saas.jobs.00\n", r.stdout)
}

func TestQueuesDynamicConfig(t *testing.T) {
	r := tqrouter(t, "", "queues", "--prefix", "saas", "--shards", "2", "--namespace", "prod", "--dynamic-config")
	require.Equal(t, exitOK, r.code, r.stderr)
	entry := func(value, queue string) string {
		return fmt.Sprintf("  - value: %s\n    constraints:\n      namespace: \"prod\"\n      taskQueueName: %q\n", value, queue)
	}
	queues := []string{"saas.tenant.00", "saas.tenant.01", "saas.tenant.overflow-00", "saas.jobs.00"}
	var want strings.Builder
	for _, k := range []struct{ key, value string }{
		{"matching.numTaskqueueReadPartitions", "1"},
		{"matching.numTaskqueueWritePartitions", "1"},
		{"matching.enableFairness", "true"},
	} {
		want.WriteString(k.key + ":\n")
		for _, q := range queues {
			want.WriteString(entry(k.value, q))
		}
	}
	body := r.stdout[strings.Index(r.stdout, "matching."):]
	require.Equal(t, want.String(), body)
	for _, line := range strings.Split(r.stdout[:len(r.stdout)-len(body)], "\n") {
		require.True(t, line == "" || strings.HasPrefix(line, "# "), "header lines are comments: %q", line)
	}
}

func TestPreview(t *testing.T) {
	var tenants []string
	for i := range 200 {
		tenants = append(tenants, fmt.Sprintf("tenant-%03d", i))
	}
	stdin := strings.Join(tenants, "\n") + "\ntenant-000\n" // a repeat counts once
	var p previewOutput
	r := tqrouterJSON(t, &p, stdin, "preview", "--from", "4", "--to", "8")
	require.Equal(t, exitOK, r.code, r.stderr)
	moved := 0
	perShard := make([]int, 8)
	for _, tn := range tenants {
		to := routing.StableShard(tn, 8)
		perShard[to]++
		if routing.StableShard(tn, 4) != to {
			moved++
		}
	}
	require.Equal(t, previewOutput{From: 4, To: 8, Tenants: 200, Moved: moved, PerShard: perShard}, p)

	r = tqrouter(t, stdin, "preview", "--from", "4", "--to", "8")
	require.Equal(t, exitOK, r.code, r.stderr)
	require.True(t, strings.HasPrefix(r.stdout, fmt.Sprintf("200 tenants, 4 to 8 shards: %d move to another shard (%.1f%%)\n", moved, float64(moved)/2)), r.stdout)

	r = tqrouter(t, "acme\n bad\n", "preview", "--from", "1", "--to", "2")
	require.Equal(t, exitUsage, r.code)
	require.Contains(t, r.stderr, "surrounding white space")
}

// TestFlagsAndArgumentsInAnyOrder: flags may follow tenants, as in the
// Temporal CLI, and "--" lets a tenant ID start with a dash.
func TestFlagsAndArgumentsInAnyOrder(t *testing.T) {
	var lines []routeLine
	r := tqrouter(t, "", "route", "acme", "--prefix", "saas", "globex", "--output", "json", "--shards", "32", "--", "-dash", "--shards")
	require.Equal(t, exitOK, r.code, r.stderr)
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &lines))
	var tenants []string
	for _, l := range lines {
		tenants = append(tenants, l.Tenant)
	}
	require.Equal(t, []string{"acme", "globex", "-dash", "--shards"}, tenants)
	require.Equal(t, vectors.Queue(t, "acme", 32), lines[0].TaskQueue)
}

// TestErrorsNameTheProgramOnce: errors of the library, which start with
// "tqrouter:", are not prefixed twice.
func TestErrorsNameTheProgramOnce(t *testing.T) {
	r := tqrouter(t, "acme 2\nacme 3\n", "weights", "apply", "--prefix", "saas", "--shards", "2", "-")
	require.Equal(t, exitUsage, r.code)
	require.Equal(t, "tqrouter: invalid weights file: line 2: tenant \"acme\" already on line 1\n", r.stderr)

	// A sentinel wrapped in the middle of a message loses its prefix too.
	r = tqrouter(t, "", "route", "--prefix", "saas", "--shards", "2", " acme")
	require.Equal(t, exitUsage, r.code)
	require.Equal(t, "tqrouter: tenant \" acme\": invalid tenant ID: surrounding white space in \" acme\"\n", r.stderr)
	r = tqrouter(t, "acme 2\n globex 1\n", "weights", "apply", "--prefix", "saas", "--shards", "2", "-")
	require.Equal(t, exitUsage, r.code)
	require.Equal(t, 1, strings.Count(r.stderr, "tqrouter:"), r.stderr)
	require.Contains(t, r.stderr, "line 2: invalid tenant ID: surrounding white space")
}

// TestWeightsRefusesTheEmptyPlan: a weights file that lists no tenant
// would remove every override; it is refused before anything is sent
// (the address is one nobody listens on: a dial would be exit status 3).
func TestWeightsRefusesTheEmptyPlan(t *testing.T) {
	dir := t.TempDir()
	for name, contents := range map[string]string{"empty": "", "comments only": "# nobody\n\n  # still nobody\n"} {
		file := dir + "/" + strings.ReplaceAll(name, " ", "-")
		require.NoError(t, os.WriteFile(file, []byte(contents), 0o600))
		for _, args := range [][]string{{file}, {"-"}} {
			stdin := ""
			if args[0] == "-" {
				stdin = contents
			}
			r := tqrouter(t, stdin, append([]string{"weights", "apply", "--address", "127.0.0.1:1", "--timeout", "2s", "--prefix", "saas", "--shards", "2"}, args...)...)
			require.Equal(t, exitUsage, r.code, "%s %v: %s", name, args, r.stderr)
			require.Contains(t, r.stderr, "lists no tenant: applying it would remove every fairness weight override")
			require.Contains(t, r.stderr, "nothing was sent (pass --allow-empty")
			require.Empty(t, r.stdout)
		}
	}
	// With --allow-empty it goes on to the server (here: none, exit 3).
	r := tqrouter(t, "", "weights", "apply", "--address", "127.0.0.1:1", "--timeout", "2s", "--prefix", "saas", "--shards", "2", "--allow-empty", "-")
	require.Equal(t, exitError, r.code, r.stderr)
	require.Contains(t, r.stderr, "connecting to 127.0.0.1:1")
}
