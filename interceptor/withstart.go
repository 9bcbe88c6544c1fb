package interceptor

import (
	"context"
	"reflect"
	"runtime"
	"sync"
	"weak"

	"go.temporal.io/sdk/client"

	"github.com/tqrouter/tqrouter/registry"
)

// NewWithStartWorkflowOperation is c.NewWithStartWorkflowOperation with the
// start routed like ExecuteWorkflow, for the tenant of ctx or of the memo.
// The SDK hides an operation's options from interceptors, so
// UpdateWithStartWorkflow through a client with this interceptor refuses,
// with [ErrUnroutedUpdateWithStart], any operation not made here. A start the
// router refuses is an error and no operation is made.
//
//	op, err := router.NewWithStartWorkflowOperation(ctx, c, client.StartWorkflowOptions{
//		ID: "onboard-42", TaskQueue: "main-queue",
//		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
//	}, "UserOnboardingWorkflow")
//	...
//	handle, err := c.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
//		StartWorkflowOperation: op,
//		UpdateOptions:          client.UpdateWorkflowOptions{UpdateName: "step", WaitForStage: client.WorkflowUpdateStageCompleted},
//	})
func (r *Router) NewWithStartWorkflowOperation(ctx context.Context, c client.Client, opts client.StartWorkflowOptions, workflow any, args ...any) (client.WithStartWorkflowOperation, error) {
	workflowType, err := registry.TypeName(workflow)
	if err != nil {
		return nil, err
	}
	routed, out, err := r.routeOptions(ctx, "UpdateWithStartWorkflow", workflowType, &opts)
	if err != nil {
		return nil, err
	}
	op := c.NewWithStartWorkflowOperation(*routed, workflow, args...)
	r.ops.add(op, out)
	return op, nil
}

// checkOperation lets through an update-with-start operation made by
// NewWithStartWorkflowOperation, once, with the outcome it was routed to
// (routed, traced and counted when it was made), and refuses any other:
// that refusal is decided and recorded like any other start's.
func (r *Router) checkOperation(ctx context.Context, op client.WithStartWorkflowOperation) (outcome, error) {
	if out, ok := r.ops.take(op); ok {
		return out, nil
	}
	return r.route(ctx, start{path: "UpdateWithStartWorkflow", refusal: ErrUnroutedUpdateWithStart})
}

// opSet is a set of update-with-start operations, each with its routing
// outcome (its tenant, and whether the detector counted it), that does not keep them
// alive: an operation that is made but never used is dropped from the set
// when it is garbage collected. Operations are compared by identity (they
// are pointers in the SDK), through weak pointers, so a new operation at
// the address of a collected one is never mistaken for it.
type opSet struct {
	mu *sync.Mutex                    // protects m
	m  map[weak.Pointer[byte]]outcome // pointer to the first byte of each operation → its outcome
}

func newOpSet() opSet {
	return opSet{mu: new(sync.Mutex), m: make(map[weak.Pointer[byte]]outcome)}
}

// identity returns a pointer to the first byte of op's object, or nil if op
// is not a non-nil pointer.
func identity(op client.WithStartWorkflowOperation) *byte {
	v := reflect.ValueOf(op)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return nil
	}
	return (*byte)(v.UnsafePointer())
}

func (s opSet) add(op client.WithStartWorkflowOperation, out outcome) {
	p := identity(op)
	if p == nil {
		return
	}
	key := weak.Make(p)
	s.mu.Lock()
	s.m[key] = out
	s.mu.Unlock()
	runtime.AddCleanup(p, func(key weak.Pointer[byte]) {
		s.mu.Lock()
		delete(s.m, key)
		s.mu.Unlock()
	}, key)
}

func (s opSet) take(op client.WithStartWorkflowOperation) (out outcome, ok bool) {
	p := identity(op)
	if p == nil {
		return outcome{}, false
	}
	key := weak.Make(p)
	s.mu.Lock()
	defer s.mu.Unlock()
	out, ok = s.m[key]
	delete(s.m, key)
	return out, ok
}

func (s opSet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}
