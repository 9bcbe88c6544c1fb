package interceptor

import (
	"context"
	"fmt"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
)

type tenantKey struct{}

// WithTenant returns a copy of ctx that carries tenantID: starts made with it
// are routed for that tenant. An empty tenantID is the same as none.
func WithTenant(ctx context.Context, tenantID string) context.Context {
	return context.WithValue(ctx, tenantKey{}, tenantID)
}

// TenantFromContext returns the tenant ID set by [WithTenant], and whether
// there is a non-empty one.
func TenantFromContext(ctx context.Context) (string, bool) {
	if ctx == nil {
		return "", false
	}
	id, _ := ctx.Value(tenantKey{}).(string)
	return id, id != ""
}

// memoTenant reads the tenant ID from a memo field. The SDK accepts any
// value in a memo; the router accepts a string, or a payload that decodes to
// one, and refuses anything else rather than guess.
func memoTenant(memo map[string]any, key string) (string, error) {
	v, ok := memo[key]
	if !ok {
		return "", nil
	}
	switch v := v.(type) {
	case string:
		return v, nil
	case *commonpb.Payload:
		var s string
		if v == nil {
			return "", fmt.Errorf("%w: memo field %q is a nil payload", ErrInvalidTenant, key)
		}
		if err := converter.GetDefaultDataConverter().FromPayload(v, &s); err != nil {
			return "", fmt.Errorf("%w: memo field %q does not decode to a string: %v", ErrInvalidTenant, key, err)
		}
		return s, nil
	case nil:
		return "", fmt.Errorf("%w: memo field %q is nil", ErrInvalidTenant, key)
	default:
		return "", fmt.Errorf("%w: memo field %q is a %T, not a string", ErrInvalidTenant, key, v)
	}
}

// tenantOf returns the tenant of a start from all its sources; "" if none
// has one. Sources that have one must agree.
func (i *Interceptor) tenantOf(ctx context.Context, workflowType string, memo map[string]any, inWorkflow bool) (string, error) {
	tenant, _ := TenantFromContext(ctx)
	fromMemo, err := memoTenant(memo, i.opts.memoKey)
	if err != nil {
		return "", err
	}
	if tenant, err = agree(tenant, fromMemo, "context value", "memo field"); err != nil {
		return "", err
	}
	if i.opts.tenantFunc != nil && !inWorkflow {
		fromFunc, err := i.opts.tenantFunc(ctx, workflowType)
		if err != nil {
			return "", fmt.Errorf("tqrouter: tenant function: %w", err)
		}
		if tenant, err = agree(tenant, fromFunc, "context value or memo field", "tenant function"); err != nil {
			return "", err
		}
	}
	return tenant, nil
}

func agree(a, b, aName, bName string) (string, error) {
	switch {
	case a == "":
		return b, nil
	case b == "" || a == b:
		return a, nil
	}
	// The IDs stay out of the message: errors end up in logs.
	return "", fmt.Errorf("%w: %s and %s name different tenants", ErrTenantMismatch, aName, bName)
}
