package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdkinterceptor "go.temporal.io/sdk/interceptor"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tqrouter/tqrouter/interceptor"
	"github.com/tqrouter/tqrouter/internal/devserver"
	"github.com/tqrouter/tqrouter/internal/saasapp"
	"github.com/tqrouter/tqrouter/registry"
	"github.com/tqrouter/tqrouter/routing"
)

// isTimeoutOrUnavailable reports whether err is the transport's or the
// server's deadline or unavailability, in any of the forms the SDK returns.
func isTimeoutOrUnavailable(err error) bool {
	var deadline *serviceerror.DeadlineExceeded
	var unavailable *serviceerror.Unavailable
	code := status.Code(err)
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &deadline) || errors.As(err, &unavailable) ||
		code == codes.DeadlineExceeded || code == codes.Unavailable
}

func assertNotRouteError(t *testing.T, err error) {
	t.Helper()
	var re *interceptor.RouteError
	assert.False(t, errors.As(err, &re), "a server fault must not look like a refusal: %v", err)
}

func countWorkflows(t *testing.T, c client.Client, workflowID string) int64 {
	t.Helper()
	var n int64
	require.Eventually(t, func() bool {
		resp, err := c.CountWorkflow(context.Background(), &workflowservice.CountWorkflowExecutionsRequest{
			Namespace: server.Namespace(), Query: fmt.Sprintf("WorkflowId = '%s'", workflowID),
		})
		if err != nil {
			return false
		}
		n = resp.GetCount()
		return n > 0
	}, 10*time.Second, 100*time.Millisecond)
	return n
}

func TestDeadlineExceededPassesThrough(t *testing.T) {
	_, c := newRouter(t, routing.Config{Prefix: "fault", Shards: 4})
	ctx, cancel := context.WithTimeout(interceptor.WithTenant(context.Background(), "acme"), time.Nanosecond)
	defer cancel()
	time.Sleep(time.Millisecond)
	id := uniqueID(t, "deadline")
	_, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: "main-queue"}, saasapp.UserOnboardingWorkflow, saasapp.Input{})
	require.Error(t, err)
	assert.True(t, isTimeoutOrUnavailable(err), "got %T %v", err, err)
	assertNotRouteError(t, err)
	_, err = c.DescribeWorkflowExecution(context.Background(), id, "")
	var notFound *serviceerror.NotFound
	assert.ErrorAs(t, err, &notFound)
}

func TestAlreadyStartedPassesThroughWithoutDuplicate(t *testing.T) {
	_, c := newRouter(t, routing.Config{Prefix: "fault", Shards: 4})
	ctx := interceptor.WithTenant(testContext(t), "acme")
	id := uniqueID(t, "twice")
	opts := client.StartWorkflowOptions{ID: id, TaskQueue: "main-queue", WorkflowExecutionErrorWhenAlreadyStarted: true}
	first, err := c.ExecuteWorkflow(ctx, opts, saasapp.UserOnboardingWorkflow, saasapp.Input{})
	require.NoError(t, err)
	_, err = c.ExecuteWorkflow(ctx, opts, saasapp.UserOnboardingWorkflow, saasapp.Input{})
	var already *serviceerror.WorkflowExecutionAlreadyStarted
	require.ErrorAs(t, err, &already, "the server's error passes through unchanged")
	assert.Equal(t, first.GetRunID(), already.RunId)
	assertNotRouteError(t, err)

	assert.Equal(t, int64(1), countWorkflows(t, c, id))
	assert.Equal(t, routing.TaskQueueName("fault", routing.Tenant, routing.StableShard("acme", 4)), describe(t, c, id).TaskQueue)
}

// flaky fails the first StartWorkflowExecution with Unavailable, as a
// frontend restart would, and records every start request it sees.
type flaky struct {
	mu     sync.Mutex // protects starts
	starts []*workflowservice.StartWorkflowExecutionRequest
}

func (f *flaky) intercept(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	if start, ok := req.(*workflowservice.StartWorkflowExecutionRequest); ok {
		f.mu.Lock()
		f.starts = append(f.starts, start)
		first := len(f.starts) == 1
		f.mu.Unlock()
		if first {
			return status.Error(codes.Unavailable, "injected: frontend restarting")
		}
	}
	return invoker(ctx, method, req, reply, cc, opts...)
}

// TestSDKRetryGoesToTheSameQueue: the SDK retries a start that failed with
// Unavailable below the interceptor; the retry carries the same routed
// queue and request ID, and the server has exactly one workflow.
func TestSDKRetryGoesToTheSameQueue(t *testing.T) {
	router, err := interceptor.New(registry.Default(), routing.Config{Prefix: "fault", Shards: 4})
	require.NoError(t, err)
	f := &flaky{}
	opts := server.ClientOptions()
	opts.Interceptors = []sdkinterceptor.ClientInterceptor{router}
	// Chained after the SDK's own interceptors, so below its retry loop,
	// where a frontend fault happens.
	opts.ConnectionOptions.DialOptions = []grpc.DialOption{grpc.WithChainUnaryInterceptor(f.intercept)}
	c, err := client.Dial(opts)
	require.NoError(t, err)
	defer c.Close()

	ctx := interceptor.WithTenant(testContext(t), "acme")
	id := uniqueID(t, "retried")
	_, err = c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: "main-queue"}, saasapp.UserOnboardingWorkflow, saasapp.Input{})
	require.NoError(t, err)

	f.mu.Lock()
	starts := f.starts
	f.mu.Unlock()
	require.Len(t, starts, 2, "one failed attempt, one retry")
	want := routing.TaskQueueName("fault", routing.Tenant, routing.StableShard("acme", 4))
	for _, s := range starts {
		assert.Equal(t, want, s.GetTaskQueue().GetName())
		assert.Equal(t, "acme", s.GetPriority().GetFairnessKey())
	}
	assert.Equal(t, starts[0].GetRequestId(), starts[1].GetRequestId(), "the retry is the same request")
	assert.Equal(t, int64(1), countWorkflows(t, c, id))
	assert.Equal(t, want, describe(t, c, id).TaskQueue)
}

// TestServerUnavailablePassesThrough: with the server gone, a start fails
// with the transport's error, not a router error.
func TestServerUnavailablePassesThrough(t *testing.T) {
	if os.Getenv(devserver.AddressEnv) != "" {
		t.Skip("needs a server of its own to stop; TEMPORAL_ADDRESS points at a shared one")
	}
	doomed, err := devserver.Start(testContext(t), devserver.Options{})
	require.NoError(t, err)
	router, err := interceptor.New(registry.Default(), routing.Config{Prefix: "fault", Shards: 4})
	require.NoError(t, err)
	opts := doomed.ClientOptions()
	opts.Interceptors = []sdkinterceptor.ClientInterceptor{router}
	c, err := client.Dial(opts)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, doomed.Close())

	ctx, cancel := context.WithTimeout(interceptor.WithTenant(context.Background(), "acme"), 3*time.Second)
	defer cancel()
	_, err = c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: "main-queue"}, saasapp.UserOnboardingWorkflow, saasapp.Input{})
	require.Error(t, err)
	assertNotRouteError(t, err)
	assert.True(t, isTimeoutOrUnavailable(err), "got %T %v", err, err)
}
