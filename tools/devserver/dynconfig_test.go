package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/log"
	"go.uber.org/zap/zapcore"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

const (
	workflowTasks = enumspb.TASK_QUEUE_TYPE_WORKFLOW
	activityTasks = enumspb.TASK_QUEUE_TYPE_ACTIVITY
)

// perQueueFile is what an operator writes to give the routed queues one
// partition each and leave every other queue at the server's default.
const perQueueFile = `
matching.numTaskqueueReadPartitions:
  - value: 1
    constraints: {taskQueueName: saas.tenant.00}
  - value: 1
    constraints: {taskQueueName: saas.tenant.01}
matching.numTaskqueueWritePartitions:
  - value: 1
    constraints: {taskQueueName: saas.tenant.00}
  - value: 1
    constraints: {taskQueueName: saas.tenant.01}
  - value: 2
    constraints: {namespace: second, taskQueueName: saas.jobs.00, taskType: Activity}
frontend.persistenceMaxQPS:
  - value: 500
`

func writeFile(t *testing.T, contents string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "dynamicconfig.yaml")
	require.NoError(t, os.WriteFile(path, []byte(contents), 0o644))
	return path
}

// collection resolves dynamic config the way the server does.
func collection(t *testing.T, args ...string) *dynamicconfig.Collection {
	t.Helper()
	opts, err := parseArgs(args)
	require.NoError(t, err)
	dc, warnings, err := dynamicConfig(opts)
	require.NoError(t, err)
	require.Empty(t, warnings)
	return dynamicconfig.NewCollection(dc, log.NewNoopLogger())
}

func TestDynamicConfigFilePerQueue(t *testing.T) {
	c := collection(t, "--dynamic-config-file", writeFile(t, perQueueFile))
	read := dynamicconfig.MatchingNumTaskqueueReadPartitions.Get(c)
	write := dynamicconfig.MatchingNumTaskqueueWritePartitions.Get(c)

	for _, tt := range []struct {
		ns, queue   string
		kind        enumspb.TaskQueueType
		read, write int
	}{
		{"default", "saas.tenant.00", workflowTasks, 1, 1},
		{"default", "saas.tenant.00", activityTasks, 1, 1},
		{"second", "saas.tenant.01", workflowTasks, 1, 1},
		// Not named in the file: the server's default of 4.
		{"default", "main-queue", workflowTasks, 4, 4},
		{"default", "saas.tenant.02", activityTasks, 4, 4},
		// namespace+taskQueueName+taskType matches that combination only.
		{"second", "saas.jobs.00", activityTasks, 4, 2},
		{"second", "saas.jobs.00", workflowTasks, 4, 4},
		{"default", "saas.jobs.00", activityTasks, 4, 4},
	} {
		require.Equal(t, tt.read, read(tt.ns, tt.queue, tt.kind), "read partitions of %s/%s/%v", tt.ns, tt.queue, tt.kind)
		require.Equal(t, tt.write, write(tt.ns, tt.queue, tt.kind), "write partitions of %s/%s/%v", tt.ns, tt.queue, tt.kind)
	}
	// An unconstrained file entry replaces the devserver default.
	require.Equal(t, 500, dynamicconfig.FrontendPersistenceMaxQPS.Get(c)())
	// Devserver defaults the file does not mention still apply.
	require.False(t, dynamicconfig.EnableServerVersionCheck.Get(c)())
}

// TestDynamicConfigFileWithGlobalValues checks that a global
// --dynamic-config-value applies wherever no file constraint matches, and
// does not hide the file's per-queue entries (as internal/devserver passes
// one partition for every queue as a flag).
func TestDynamicConfigFileWithGlobalValues(t *testing.T) {
	c := collection(t,
		"--dynamic-config-value", "matching.numTaskqueueReadPartitions=3",
		"--dynamic-config-file", writeFile(t, perQueueFile),
		"--dynamic-config-value", "frontend.persistenceMaxQPS=700",
	)
	read := dynamicconfig.MatchingNumTaskqueueReadPartitions.Get(c)
	require.Equal(t, 1, read("default", "saas.tenant.00", workflowTasks))
	require.Equal(t, 3, read("default", "main-queue", workflowTasks))
	write := dynamicconfig.MatchingNumTaskqueueWritePartitions.Get(c)
	require.Equal(t, 1, write("default", "saas.tenant.00", workflowTasks))
	require.Equal(t, 4, write("default", "main-queue", workflowTasks))
	// The flag beats the file's unconstrained value, whatever the order.
	require.Equal(t, 700, dynamicconfig.FrontendPersistenceMaxQPS.Get(c)())
}

func TestDynamicConfigWithoutFile(t *testing.T) {
	c := collection(t, "--dynamic-config-value", "matching.numTaskqueueWritePartitions=1")
	require.Equal(t, 1, dynamicconfig.MatchingNumTaskqueueWritePartitions.Get(c)("default", "any", workflowTasks))
	require.Equal(t, 4, dynamicconfig.MatchingNumTaskqueueReadPartitions.Get(c)("default", "any", workflowTasks))
	require.Equal(t, 10000, dynamicconfig.FrontendPersistenceMaxQPS.Get(c)())
}

func TestDynamicConfigFileWarnings(t *testing.T) {
	opts, err := parseArgs([]string{"--dynamic-config-file", writeFile(t, `
matching.numTaskqueueReadPartitoins:
  - value: 1
matching.numTaskqueueWritePartitions:
  - value: 1
    constraints: {taskQueueName: q, taskType: Workflow}
`)})
	require.NoError(t, err)
	_, warnings, err := dynamicConfig(opts)
	require.NoError(t, err)
	require.Len(t, warnings, 2)
	require.ErrorContains(t, warnings[0], "matching.numtaskqueuereadpartitoins")
	require.ErrorContains(t, warnings[1], "taskType")
}

func TestDynamicConfigFileErrors(t *testing.T) {
	for name, path := range map[string]string{
		"missing file":       filepath.Join(t.TempDir(), "absent.yaml"),
		"not YAML":           writeFile(t, "matching.numTaskqueueReadPartitions: [value: 1"),
		"not a list":         writeFile(t, "matching.numTaskqueueReadPartitions: 1"),
		"unknown constraint": writeFile(t, "matching.numTaskqueueReadPartitions:\n  - value: 1\n    constraints: {queue: q}\n"),
		"bad taskType":       writeFile(t, "matching.numTaskqueueReadPartitions:\n  - value: 1\n    constraints: {namespace: n, taskQueueName: q, taskType: Nexus2}\n"),
	} {
		t.Run(name, func(t *testing.T) {
			opts, err := parseArgs([]string{"--dynamic-config-file", path})
			require.NoError(t, err)
			_, _, err = dynamicConfig(opts)
			require.ErrorContains(t, err, "--dynamic-config-file")
		})
	}
}

// TestDynamicConfigFileOnServer starts the server in this process with a
// file that gives one queue a single partition, and asks the frontend how
// many partitions that queue and another one have
// (ListTaskQueuePartitions lists the write partitions matching resolves).
func TestDynamicConfigFileOnServer(t *testing.T) {
	opts := startTestServer(t, "--dynamic-config-file", writeFile(t, perQueueFile))
	conn, err := grpc.NewClient(net.JoinHostPort(opts.ip, strconv.Itoa(opts.port)),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	ws := workflowservice.NewWorkflowServiceClient(conn)
	partitions := func(queue string) (workflow, activity int) {
		var resp *workflowservice.ListTaskQueuePartitionsResponse
		// The namespace registry may need a moment after start.
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			var err error
			resp, err = ws.ListTaskQueuePartitions(ctx, &workflowservice.ListTaskQueuePartitionsRequest{
				Namespace: "default",
				TaskQueue: &taskqueuepb.TaskQueue{Name: queue, Kind: enumspb.TASK_QUEUE_KIND_NORMAL},
			})
			assert.NoError(c, err)
		}, 30*time.Second, 200*time.Millisecond)
		return len(resp.GetWorkflowTaskQueuePartitions()), len(resp.GetActivityTaskQueuePartitions())
	}
	wf, act := partitions("saas.tenant.00")
	require.Equal(t, [2]int{1, 1}, [2]int{wf, act}, "partitions of saas.tenant.00 (named in the file)")
	wf, act = partitions("main-queue")
	require.Equal(t, [2]int{4, 4}, [2]int{wf, act}, "partitions of main-queue (server default)")
}

// startTestServer starts the server in this process on a loopback address
// of its own, with the given flags, and stops it when the test ends.
func startTestServer(t *testing.T, args ...string) *options {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a Temporal server")
	}
	args = append([]string{
		"--ip", fmt.Sprintf("127.%d.%d.%d", 1+rand.IntN(254), rand.IntN(256), 1+rand.IntN(254)),
		"--log-level", "error",
	}, args...)
	opts, err := parseArgs(args)
	require.NoError(t, err)
	opts.port, err = freePort(opts.ip)
	require.NoError(t, err)
	dc, _, err := dynamicConfig(opts)
	require.NoError(t, err)
	logger, level := newLogger(opts, t.Output())
	srv, err := start(opts, dc, logger)
	require.NoError(t, err)
	t.Cleanup(func() {
		// The server logs errors while it shuts down (cancelled polls).
		level.SetLevel(zapcore.FatalLevel)
		require.NoError(t, srv.Stop())
	})
	return opts
}

// FuzzDynamicConfigFile feeds any file to dynamicConfig: it must not panic,
// and when it accepts the file a key has at most one unconstrained value,
// the --dynamic-config-value one for a key given as a flag.
func FuzzDynamicConfigFile(f *testing.F) {
	f.Add(perQueueFile)
	f.Add("matching.numTaskqueueReadPartitions:\n  - value: 3\n  - value: 1\n    constraints: {taskQueueName: q}\n")
	f.Add("limit.x:\n  - value: {a: [1, {b: c}]}\n    constraints: {shardID: 3}\n")
	f.Add("k: [{value: 1, constraints: {taskType: 2}}]")
	f.Fuzz(func(t *testing.T, contents string) {
		path := filepath.Join(t.TempDir(), "dc.yaml")
		require.NoError(t, os.WriteFile(path, []byte(contents), 0o644))
		opts, err := parseArgs([]string{"--dynamic-config-file", path,
			"--dynamic-config-value", "matching.numTaskqueueReadPartitions=2"})
		require.NoError(t, err)
		dc, _, err := dynamicConfig(opts)
		if err != nil {
			return
		}
		for key, v := range dc {
			global := 0
			for _, cv := range v.([]dynamicconfig.ConstrainedValue) {
				if cv.Constraints == (dynamicconfig.Constraints{}) {
					global++
					if key == dynamicconfig.MakeKey("matching.numTaskqueueReadPartitions") {
						require.Equal(t, 2, cv.Value)
					}
				}
			}
			require.LessOrEqual(t, global, 1, "unconstrained values of %s", key)
		}
	})
}
