package registry

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/grpc"

	"github.com/tqrouter/tqrouter/internal/names"
	"github.com/tqrouter/tqrouter/routing"
)

func TenantProvisioningWorkflow(workflow.Context) error { return nil }

type workflows struct{}

func (*workflows) UserOnboardingWorkflow(workflow.Context) error { return nil }

func SendWelcomeEmail(context.Context) error { return nil }

type activities struct{}

func (*activities) RotateTokens(context.Context) error { return nil }

func TestDefault(t *testing.T) {
	r := Default()
	for name, want := range map[string]routing.QueueKind{
		"TenantProvisioningWorkflow": routing.Tenant,
		"TenantDeletionWorkflow":     routing.Tenant,
		"UserOnboardingWorkflow":     routing.Tenant,
		"TokenCleanupWorkflow":       routing.Jobs,
	} {
		kind, ok := r.Lookup(name)
		assert.True(t, ok, name)
		assert.Equal(t, want, kind, name)
	}
	_, ok := r.Lookup("SomethingElse")
	assert.False(t, ok)
	assert.Equal(t, []routing.QueueKind{routing.Jobs, routing.Tenant}, r.Kinds())
	assert.Equal(t, []string{"TokenCleanupWorkflow"}, r.Types(routing.Jobs))
	// Each call returns a registry of its own: no shared default to mutate.
	require.NoError(t, r.RegisterWorkflow("Extra", routing.Jobs))
	_, ok = Default().Lookup("Extra")
	assert.False(t, ok)
}

func TestZeroRegistry(t *testing.T) {
	var r Registry
	_, ok := r.Lookup("X")
	assert.False(t, ok)
	assert.Empty(t, r.Kinds())
	assert.Empty(t, r.Types(routing.Tenant))
	require.NoError(t, r.RegisterWorkflow("X", "reports"))
	kind, ok := r.Lookup("X")
	assert.True(t, ok)
	assert.Equal(t, routing.QueueKind("reports"), kind)
}

func TestRegisterConflictsAndValidation(t *testing.T) {
	var r Registry
	require.NoError(t, r.RegisterWorkflow("A", routing.Tenant))
	require.NoError(t, r.RegisterWorkflow("A", routing.Tenant), "same pair twice is fine")
	assert.ErrorIs(t, r.RegisterWorkflow("A", routing.Jobs), ErrConflict)
	kind, _ := r.Lookup("A")
	assert.Equal(t, routing.Tenant, kind, "a refused registration changes nothing")

	assert.ErrorIs(t, r.RegisterWorkflow("", routing.Tenant), ErrInvalidWorkflow)
	assert.ErrorIs(t, r.RegisterWorkflow(" A", routing.Tenant), ErrInvalidWorkflow)
	assert.ErrorIs(t, r.RegisterWorkflow("B", "bad.kind"), routing.ErrInvalidConfig)
	assert.ErrorIs(t, r.RegisterWorkflow("B", ""), routing.ErrInvalidConfig)
	assert.ErrorIs(t, r.RegisterWorkflow(42, routing.Tenant), ErrInvalidWorkflow)
	var nilFn func(workflow.Context) error
	assert.ErrorIs(t, r.RegisterWorkflow(nilFn, routing.Tenant), ErrInvalidWorkflow)
}

func TestRegisterActivity(t *testing.T) {
	r := Default()
	require.NoError(t, r.RegisterActivity(SendWelcomeEmail, routing.Tenant))
	require.NoError(t, r.RegisterActivity((&activities{}).RotateTokens, "maintenance"))
	require.NoError(t, r.RegisterActivity("TokenCleanupWorkflow", routing.Tenant),
		"activity and workflow types are separate namespaces")

	kind, ok := r.LookupActivity("SendWelcomeEmail")
	assert.True(t, ok)
	assert.Equal(t, routing.Tenant, kind)
	kind, ok = r.LookupActivity("RotateTokens")
	assert.True(t, ok)
	assert.Equal(t, routing.QueueKind("maintenance"), kind)
	kind, _ = r.Lookup("TokenCleanupWorkflow")
	assert.Equal(t, routing.Jobs, kind, "the workflow type keeps its kind")
	_, ok = r.Lookup("SendWelcomeEmail")
	assert.False(t, ok, "an activity is not a workflow type")
	_, ok = r.LookupActivity("UserOnboardingWorkflow")
	assert.False(t, ok, "a workflow is not an activity type")

	assert.ErrorIs(t, r.RegisterActivity(SendWelcomeEmail, routing.Jobs), ErrConflict)
	assert.ErrorIs(t, r.RegisterActivity("", routing.Jobs), ErrInvalidWorkflow)
	assert.ErrorIs(t, r.RegisterActivity(3.5, routing.Jobs), ErrInvalidWorkflow)
	assert.ErrorIs(t, r.RegisterActivity("X", "no/slash"), routing.ErrInvalidConfig)
	assert.Equal(t, []routing.QueueKind{routing.Jobs, "maintenance", routing.Tenant}, r.Kinds())
	assert.NotContains(t, r.Types(routing.Tenant), "SendWelcomeEmail", "Types lists workflow types")

	var zero Registry
	_, ok = zero.LookupActivity("SendWelcomeEmail")
	assert.False(t, ok)
}

func TestRegisterWorkflowFunctions(t *testing.T) {
	var r Registry
	require.NoError(t, r.RegisterWorkflow(TenantProvisioningWorkflow, routing.Tenant))
	require.NoError(t, r.RegisterWorkflow((*workflows)(nil).UserOnboardingWorkflow, routing.Tenant))
	// A worker's RegisterWorkflowWithOptions alias is registered by name.
	require.NoError(t, r.RegisterWorkflow("provision-v2", routing.Tenant))
	assert.Equal(t, []string{"TenantProvisioningWorkflow", "UserOnboardingWorkflow", "provision-v2"}, r.Types(routing.Tenant))
	assert.ErrorIs(t, r.RegisterWorkflow("y", "a b"), routing.ErrInvalidConfig)
}

// nameRecorder is a client outbound interceptor that records the workflow
// or activity type name the SDK computed and stops the call before any network use.
type nameRecorder struct {
	interceptor.ClientOutboundInterceptorBase
	got string
}

var errStop = fmt.Errorf("stopped by test")

func (n *nameRecorder) ExecuteActivity(_ context.Context, in *interceptor.ClientExecuteActivityInput) (client.ActivityHandle, error) {
	n.got = in.ActivityType
	return nil, errStop
}

func (n *nameRecorder) ExecuteWorkflow(_ context.Context, in *interceptor.ClientExecuteWorkflowInput) (client.WorkflowRun, error) {
	n.got = in.WorkflowType
	return nil, errStop
}

type recorderInterceptor struct {
	interceptor.ClientInterceptorBase
	rec *nameRecorder
}

func (r *recorderInterceptor) InterceptClient(next interceptor.ClientOutboundInterceptor) interceptor.ClientOutboundInterceptor {
	r.rec.Next = next
	return r.rec
}

// TestTypeNameMatchesSDK checks TypeName against the name the SDK's own
// client computes for the same values.
func TestTypeNameMatchesSDK(t *testing.T) {
	rec := &nameRecorder{}
	// The client asks the server for its capabilities before it runs the
	// interceptors; answer that one call here so the test needs no server.
	systemInfo := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if method == "/temporal.api.workflowservice.v1.WorkflowService/GetSystemInfo" {
			return nil
		}
		return fmt.Errorf("unexpected call %s", method)
	}
	c, err := client.NewLazyClient(client.Options{
		HostPort:          "127.0.0.1:1", // never dialled
		Interceptors:      []interceptor.ClientInterceptor{&recorderInterceptor{rec: rec}},
		ConnectionOptions: client.ConnectionOptions{DialOptions: []grpc.DialOption{grpc.WithUnaryInterceptor(systemInfo)}},
	})
	require.NoError(t, err)
	defer c.Close()

	closure := func(workflow.Context) error { return nil }
	for _, w := range []any{TenantProvisioningWorkflow, (*workflows)(nil).UserOnboardingWorkflow, (&workflows{}).UserOnboardingWorkflow, closure, "ByName"} {
		_, err := c.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{TaskQueue: "q"}, w)
		require.ErrorIs(t, err, errStop)
		name, err := TypeName(w)
		require.NoError(t, err)
		assert.Equal(t, rec.got, name, "%T", w)
	}
	for _, a := range []any{SendWelcomeEmail, (&activities{}).RotateTokens, "ByName"} {
		_, err := c.ExecuteActivity(context.Background(), client.StartActivityOptions{ID: "a", TaskQueue: "q", StartToCloseTimeout: time.Second}, a)
		require.ErrorIs(t, err, errStop)
		name, err := TypeName(a)
		require.NoError(t, err)
		assert.Equal(t, rec.got, name, "%T", a)
	}
}

func TestConcurrentRegisterAndLookup(t *testing.T) {
	r := Default()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				name := fmt.Sprintf("W%d_%d", g, i)
				assert.NoError(t, r.RegisterWorkflow(name, routing.Tenant))
				kind, ok := r.Lookup("TokenCleanupWorkflow")
				assert.True(t, ok)
				assert.Equal(t, routing.Jobs, kind)
				_, ok = r.Lookup(name)
				assert.True(t, ok)
			}
		})
	}
	wg.Wait()
	assert.Len(t, r.Types(routing.Tenant), 3+8*200)
}

func FuzzRegister(f *testing.F) {
	f.Add("UserOnboardingWorkflow", "tenant")
	f.Add("", "jobs")
	f.Add("x", "a.b")
	f.Add("\x00", "jobs")
	f.Add(" Padded", "tenant")
	f.Fuzz(func(t *testing.T, name, kind string) {
		var r Registry
		err := r.RegisterWorkflow(name, routing.QueueKind(kind))
		got, ok := r.Lookup(name)
		valid := names.Check(name, MaxTypeNameLen) == nil && routing.ValidateKind(routing.QueueKind(kind)) == nil
		if (err == nil) != valid {
			t.Fatalf("RegisterWorkflow(%q, %q) = %v, but the name and kind rules say valid=%v", name, kind, err, valid)
		}
		if err != nil {
			if ok {
				t.Fatalf("refused registration of %q/%q is visible", name, kind)
			}
			return
		}
		if !ok || got != routing.QueueKind(kind) {
			t.Fatalf("Lookup(%q) = %q, %v after registering %q", name, got, ok, kind)
		}
		if err := r.RegisterWorkflow(name, routing.QueueKind(kind)+"x"); err == nil {
			t.Fatalf("conflicting registration of %q accepted", name)
		}
	})
}
