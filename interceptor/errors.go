package interceptor

import (
	"errors"
	"fmt"

	"github.com/tqrouter/tqrouter/routing"
)

var (
	// ErrMissingTenant is returned when a tenant-scoped workflow (or
	// standalone activity) is started without a tenant ID in the context, the memo or the [TenantFunc],
	// unless [WithLegacyFallback] is set.
	ErrMissingTenant = errors.New("tqrouter: tenant-scoped workflow started without a tenant ID")
	// ErrTenantMismatch is returned when the tenant sources of one start
	// (context value, memo field, [TenantFunc]) name different tenants.
	ErrTenantMismatch = errors.New("tqrouter: tenant sources disagree")
	// ErrUnregisteredWorkflow is returned for a start on a legacy queue of a
	// workflow type the registry does not know, with
	// [WithRefuseUnregistered].
	ErrUnregisteredWorkflow = errors.New("tqrouter: workflow type not in the registry")
	// ErrUnregisteredActivity is returned for a standalone activity (a
	// client's ExecuteActivity) on a legacy queue whose activity type the
	// registry does not know, with [WithRefuseUnregistered].
	ErrUnregisteredActivity = errors.New("tqrouter: activity type not in the registry")
	// ErrUnroutedUpdateWithStart is returned by UpdateWithStartWorkflow for
	// a start operation not made by
	// [Router.NewWithStartWorkflowOperation]: the SDK hides the
	// operation's options, so the router cannot see or change its queue.
	ErrUnroutedUpdateWithStart = errors.New("tqrouter: update-with-start operation was not made by Router.NewWithStartWorkflowOperation")
	// ErrInvalidTenant is [routing.ErrInvalidTenant]: a tenant ID that is
	// malformed, or a memo field that does not hold a string.
	ErrInvalidTenant = routing.ErrInvalidTenant
	// ErrInvalidWeight is [routing.ErrInvalidWeight]: a [WeightFunc] or a
	// caller's fairness weight that is NaN or negative.
	ErrInvalidWeight = routing.ErrInvalidWeight
)

// RouteError is the error of a start the router refused. Nothing was sent to
// the server. Err is one of the sentinel errors of this package, possibly
// wrapped with a reason; use [errors.Is] on the RouteError itself.
type RouteError struct {
	// Path is the start path, such as "ExecuteWorkflow" or "CreateSchedule".
	Path string
	// WorkflowType is the workflow type of the start, or the activity type
	// of a standalone activity (Path "ExecuteActivity").
	WorkflowType string
	// TaskQueue is the task queue the caller named.
	TaskQueue string
	// Err is why the start was refused.
	Err error
}

// Error describes the refusal; it never contains the tenant ID.
func (e *RouteError) Error() string {
	return fmt.Sprintf("%v (refused %s of %q on %q)", e.Err, e.Path, e.WorkflowType, e.TaskQueue)
}

// Unwrap returns e.Err.
func (e *RouteError) Unwrap() error { return e.Err }
