package interceptor

import (
	"errors"
	"fmt"
	"strings"

	"github.com/tqrouter/tqrouter/routing"
)

var (
	// ErrMissingTenant is returned when a tenant-scoped workflow (or
	// standalone activity) is started without a tenant ID in the context, the memo or the [TenantFunc],
	// unless [WithLegacyFallback] is set.
	ErrMissingTenant = errors.New("tqrouter: tenant-scoped workflow started without a tenant ID")
	// ErrTenantMismatch is returned when the tenant sources of one start
	// (context value, memo field, [TenantFunc]) name different tenants, on
	// whatever queue it names, and for a start made by workflow code whose
	// workflow's own sources (the router's header, its memo field, its
	// fairness key) disagree. The message names the sources, never a
	// tenant.
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
	// ErrInvalidTenant is [routing.ErrInvalidTenant]: a tenant source that
	// is present but holds no valid tenant ID: an empty or malformed value
	// (in the context, the memo field or, on workers, the router's header),
	// or a memo field or header that does not decode to a string.
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

// errPrefix starts the text of every error of this package.
const errPrefix = "tqrouter: "

// Error describes the refusal; it never contains the tenant ID, and says
// "tqrouter:" once, however many errors of this package Err wraps.
func (e *RouteError) Error() string {
	return fmt.Sprintf("%s%s (refused %s of %q on %q)", errPrefix, withoutPrefix(e.Err), e.Path, e.WorkflowType, e.TaskQueue)
}

// Unwrap returns e.Err.
func (e *RouteError) Unwrap() error { return e.Err }

// withoutPrefix is err's text without the package's prefix, for a message
// that embeds it.
func withoutPrefix(err error) string {
	if err == nil {
		return ""
	}
	return strings.ReplaceAll(err.Error(), errPrefix, "")
}

// unreadableTenant is why a running workflow has no tenant: its sources
// disagree or one is invalid (cause), or it runs on a routed queue of a
// tenant-scoped kind and has none at all (no cause). It is
// [ErrMissingTenant] and its cause.
type unreadableTenant struct {
	queue string
	cause error
}

func (e *unreadableTenant) Error() string {
	reason := "no tenant header, memo field or fairness key"
	if e.cause != nil {
		reason = withoutPrefix(e.cause)
	}
	return fmt.Sprintf("%v: the workflow on %q: its tenant cannot be read (%s)", ErrMissingTenant, e.queue, reason)
}

func (e *unreadableTenant) Unwrap() []error {
	if e.cause == nil {
		return []error{ErrMissingTenant}
	}
	return []error{ErrMissingTenant, e.cause}
}

// unreadable reports whether err says that tenant sources disagree or one
// of them is invalid: no start may be made on the strength of them.
func unreadable(err error) bool {
	return err != nil && (errors.Is(err, ErrTenantMismatch) || errors.Is(err, ErrInvalidTenant))
}
