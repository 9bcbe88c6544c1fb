// Package registry maps Temporal workflow types (and the activity types of
// standalone activities) to the [routing.QueueKind] whose queues they run
// on.
package registry

import (
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/tqrouter/tqrouter/internal/names"
	"github.com/tqrouter/tqrouter/routing"
)

var (
	// ErrConflict is returned when a workflow (or activity) type is
	// registered again with a different kind.
	ErrConflict = errors.New("tqrouter: type already registered with another kind")
	// ErrInvalidWorkflow is returned for a value that is neither a
	// workflow (or activity) function nor a type name, and for a type name
	// that is empty, longer than [MaxTypeNameLen], not valid UTF-8, or has
	// control characters or surrounding white space: the rule tenant IDs
	// follow.
	ErrInvalidWorkflow = errors.New("tqrouter: invalid workflow")
)

// MaxTypeNameLen is the longest workflow or activity type name accepted, in
// bytes: the Temporal server's default limit (limit.maxIDLength).
const MaxTypeNameLen = 1000

// Registry maps workflow type names, and the activity type names of
// standalone activities, to queue kinds. Workflow and activity types are
// separate namespaces, as they are in Temporal. A zero Registry is ready to
// use and safe for concurrent use. Lookups never block, and registering a
// type costs the same however many are registered.
type Registry struct {
	workflows  sync.Map // type name → routing.QueueKind
	activities sync.Map // type name → routing.QueueKind
}

// Default returns a new Registry holding the product's workflow types:
// TenantProvisioningWorkflow, TenantDeletionWorkflow and
// UserOnboardingWorkflow on [routing.Tenant] queues, and
// TokenCleanupWorkflow on [routing.Jobs] queues.
func Default() *Registry {
	r := &Registry{}
	for name, kind := range map[string]routing.QueueKind{
		"TenantProvisioningWorkflow": routing.Tenant,
		"TenantDeletionWorkflow":     routing.Tenant,
		"UserOnboardingWorkflow":     routing.Tenant,
		"TokenCleanupWorkflow":       routing.Jobs,
	} {
		r.workflows.Store(name, kind)
	}
	return r
}

// RegisterWorkflow maps a workflow to kind. w is a workflow function,
// registered under the type name the SDK's client uses for it (see
// [TypeName]), or a type name: the name a worker registered the function
// under with RegisterWorkflowWithOptions, or the type of a workflow written
// in another language. Registering the same pair again is a no-op;
// registering the type with another kind is an error wrapping
// [ErrConflict]. An invalid kind is an error wrapping
// [routing.ErrInvalidConfig].
func (r *Registry) RegisterWorkflow(w any, kind routing.QueueKind) error {
	name, err := TypeName(w)
	if err != nil {
		return err
	}
	return r.register(name, kind, false)
}

// RegisterActivity maps an activity, given as a function or a type name, to
// kind, under the type name the SDK's client uses for it (see [TypeName]).
// Only standalone activities, started by a client's ExecuteActivity, are
// routed by kind; activities scheduled by workflow code follow their
// workflow. The rules of [Registry.RegisterWorkflow] apply.
func (r *Registry) RegisterActivity(a any, kind routing.QueueKind) error {
	name, err := TypeName(a)
	if err != nil {
		return err
	}
	return r.register(name, kind, true)
}

func (r *Registry) register(name string, kind routing.QueueKind, activity bool) error {
	if err := names.Check(name, MaxTypeNameLen); err != nil {
		return fmt.Errorf("%w: type name %q: %v", ErrInvalidWorkflow, name, err)
	}
	if err := routing.ValidateKind(kind); err != nil {
		return err
	}
	types, what := &r.workflows, "workflow"
	if activity {
		types, what = &r.activities, "activity"
	}
	if have, loaded := types.LoadOrStore(name, kind); loaded && have.(routing.QueueKind) != kind {
		return fmt.Errorf("%w: %s type %q is %q, not %q", ErrConflict, what, name, have, kind)
	}
	return nil
}

// Lookup returns the kind of workflowType, and whether it is registered.
func (r *Registry) Lookup(workflowType string) (routing.QueueKind, bool) {
	return lookup(&r.workflows, workflowType)
}

// LookupActivity returns the kind of the activity type activityType, and
// whether it is registered.
func (r *Registry) LookupActivity(activityType string) (routing.QueueKind, bool) {
	return lookup(&r.activities, activityType)
}

func lookup(types *sync.Map, name string) (routing.QueueKind, bool) {
	kind, ok := types.Load(name)
	if !ok {
		return "", false
	}
	return kind.(routing.QueueKind), true
}

// Types returns the registered workflow type names of kind, sorted.
func (r *Registry) Types(kind routing.QueueKind) []string {
	var out []string
	for name, k := range r.workflows.Range {
		if k.(routing.QueueKind) == kind {
			out = append(out, name.(string))
		}
	}
	slices.Sort(out)
	return out
}

// Kinds returns the kinds that have at least one workflow or activity type
// registered, sorted.
func (r *Registry) Kinds() []routing.QueueKind {
	var kinds []routing.QueueKind
	for _, types := range []*sync.Map{&r.workflows, &r.activities} {
		for _, k := range types.Range {
			kinds = append(kinds, k.(routing.QueueKind))
		}
	}
	slices.Sort(kinds)
	return slices.Compact(kinds)
}

// TypeName returns the workflow (or activity) type name the SDK's client
// uses for w: w itself if it is a non-empty string, else the name of the function w
// without its package path and without the "-fm" suffix of method values,
// exactly as the SDK does. Anything else is an error wrapping
// [ErrInvalidWorkflow].
func TypeName(w any) (string, error) {
	if s, ok := w.(string); ok {
		if s == "" {
			return "", fmt.Errorf("%w: empty type name", ErrInvalidWorkflow)
		}
		return s, nil
	}
	v := reflect.ValueOf(w)
	if v.Kind() != reflect.Func || v.IsNil() {
		return "", fmt.Errorf("%w: %T is neither a workflow function nor a type name", ErrInvalidWorkflow, w)
	}
	fn := runtime.FuncForPC(v.Pointer())
	if fn == nil {
		return "", fmt.Errorf("%w: cannot name function %T", ErrInvalidWorkflow, w)
	}
	full := fn.Name()
	short := full[strings.LastIndexByte(full, '.')+1:]
	return strings.TrimSuffix(short, "-fm"), nil
}
