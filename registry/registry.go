// Package registry maps Temporal workflow types (and the activity types of
// standalone activities) to the [routing.QueueKind] whose queues they run
// on.
package registry

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/tqrouter/tqrouter/routing"
)

var (
	// ErrConflict is returned when a workflow (or activity) type is
	// registered again with a different kind.
	ErrConflict = errors.New("tqrouter: type already registered with another kind")
	// ErrInvalidWorkflow is returned for an empty type name or a value that
	// is neither a workflow (or activity) function nor a type name.
	ErrInvalidWorkflow = errors.New("tqrouter: invalid workflow")
)

// Registry maps workflow type names, and the activity type names of
// standalone activities, to queue kinds. Workflow and activity types are
// separate namespaces, as they are in Temporal. A zero Registry is ready to
// use and safe for concurrent use. Lookups never block: they read an
// immutable snapshot, and registrations publish a new one.
type Registry struct {
	mu   sync.Mutex               // serializes writers
	snap atomic.Pointer[snapshot] // copy on write
}

// snapshot is one immutable state of a Registry.
type snapshot struct {
	workflows  map[string]routing.QueueKind
	activities map[string]routing.QueueKind
}

// Default returns a new Registry holding the product's workflow types:
// TenantProvisioningWorkflow, TenantDeletionWorkflow and
// UserOnboardingWorkflow on [routing.Tenant] queues, and
// TokenCleanupWorkflow on [routing.Jobs] queues.
func Default() *Registry {
	r := &Registry{}
	r.snap.Store(&snapshot{workflows: map[string]routing.QueueKind{
		"TenantProvisioningWorkflow": routing.Tenant,
		"TenantDeletionWorkflow":     routing.Tenant,
		"UserOnboardingWorkflow":     routing.Tenant,
		"TokenCleanupWorkflow":       routing.Jobs,
	}})
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
	if name == "" || strings.TrimSpace(name) != name {
		return fmt.Errorf("%w: type name %q", ErrInvalidWorkflow, name)
	}
	if err := routing.ValidateKind(kind); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var next snapshot
	if p := r.snap.Load(); p != nil {
		next = *p
	}
	old := next.workflows
	what := "workflow"
	if activity {
		old, what = next.activities, "activity"
	}
	if have, ok := old[name]; ok {
		if have != kind {
			return fmt.Errorf("%w: %s type %q is %q, not %q", ErrConflict, what, name, have, kind)
		}
		return nil
	}
	types := make(map[string]routing.QueueKind, len(old)+1)
	maps.Copy(types, old)
	types[name] = kind
	if activity {
		next.activities = types
	} else {
		next.workflows = types
	}
	r.snap.Store(&next)
	return nil
}

// Lookup returns the kind of workflowType, and whether it is registered.
func (r *Registry) Lookup(workflowType string) (routing.QueueKind, bool) {
	p := r.snap.Load()
	if p == nil {
		return "", false
	}
	kind, ok := p.workflows[workflowType]
	return kind, ok
}

// LookupActivity returns the kind of the activity type activityType, and
// whether it is registered.
func (r *Registry) LookupActivity(activityType string) (routing.QueueKind, bool) {
	p := r.snap.Load()
	if p == nil {
		return "", false
	}
	kind, ok := p.activities[activityType]
	return kind, ok
}

// Types returns the registered workflow type names of kind, sorted.
func (r *Registry) Types(kind routing.QueueKind) []string {
	var names []string
	if p := r.snap.Load(); p != nil {
		for name, k := range p.workflows {
			if k == kind {
				names = append(names, name)
			}
		}
	}
	slices.Sort(names)
	return names
}

// Kinds returns the kinds that have at least one workflow or activity type
// registered, sorted.
func (r *Registry) Kinds() []routing.QueueKind {
	var kinds []routing.QueueKind
	if p := r.snap.Load(); p != nil {
		for _, k := range p.workflows {
			kinds = append(kinds, k)
		}
		for _, k := range p.activities {
			kinds = append(kinds, k)
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
