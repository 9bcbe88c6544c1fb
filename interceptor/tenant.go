package interceptor

import (
	"context"
	"encoding/json"
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
// there is a non-empty one. In an activity of a routed workflow (or a
// routed standalone activity) it is the workflow's tenant.
func TenantFromContext(ctx context.Context) (string, bool) {
	if ctx == nil {
		return "", false
	}
	id, _ := ctx.Value(tenantKey{}).(string)
	return id, id != ""
}

// tenantHeader is the header that carries the tenant ID of a routed start to
// the workflow (or standalone activity) it starts, and from a workflow to
// its activities and children. Headers are recorded in history, so replays
// read the same.
const tenantHeader = "tqrouter-tenant"

// converter returns the data converter of the router's header and memo
// payloads.
func (r *Router) converter() converter.DataConverter {
	if r.opts.dataConverter != nil {
		return r.opts.dataConverter
	}
	return converter.GetDefaultDataConverter()
}

// setTenantHeader writes tenant into a start's header.
func (r *Router) setTenantHeader(header map[string]*commonpb.Payload, tenant string) error {
	if tenant == "" || header == nil {
		return nil
	}
	var (
		p   *commonpb.Payload
		err error
	)
	if r.opts.dataConverter == nil {
		p, err = jsonStringPayload(tenant)
	} else {
		p, err = r.opts.dataConverter.ToPayload(tenant)
	}
	if err != nil {
		return fmt.Errorf("tqrouter: encoding the tenant header: %w", err)
	}
	header[tenantHeader] = p
	return nil
}

// jsonStringPayload is the SDK's default data converter's payload of s,
// built without its chain of converters (about half the cost of a routed
// start's header): JSON data, encoding json/plain.
func jsonStringPayload(s string) (*commonpb.Payload, error) {
	data, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	return &commonpb.Payload{
		Metadata: map[string][]byte{converter.MetadataEncoding: []byte(converter.MetadataEncodingJSON)},
		Data:     data,
	}, nil
}

// headerTenant reads the tenant from a header: ok is false when the header
// has none; an error says it has one that does not decode to a valid
// tenant ID.
func (r *Router) headerTenant(header map[string]*commonpb.Payload) (tenant string, ok bool, err error) {
	p, ok := header[tenantHeader]
	if !ok {
		return "", false, nil
	}
	tenant, err = r.payloadTenant(p, "header "+tenantHeader)
	return tenant, true, err
}

// payloadTenant decodes a payload that must hold a tenant ID.
func (r *Router) payloadTenant(p *commonpb.Payload, where string) (string, error) {
	if p == nil {
		return "", fmt.Errorf("%w: %s is a nil payload", ErrInvalidTenant, where)
	}
	var s string
	if err := r.converter().FromPayload(p, &s); err != nil {
		return "", fmt.Errorf("%w: %s does not decode to a string (a codec the router does not know? see WithDataConverter): %v", ErrInvalidTenant, where, err)
	}
	return s, nil
}

// memoTenant reads the tenant ID from a memo field. The SDK accepts any
// value in a memo; the router accepts a string, or a payload that decodes to
// one with the router's data converter, and refuses anything else rather
// than guess.
func (r *Router) memoTenant(memo map[string]any) (string, error) {
	key := r.opts.memoKey
	v, ok := memo[key]
	if !ok {
		return "", nil
	}
	switch v := v.(type) {
	case string:
		return v, nil
	case *commonpb.Payload:
		return r.payloadTenant(v, fmt.Sprintf("memo field %q", key))
	case nil:
		return "", fmt.Errorf("%w: memo field %q is nil", ErrInvalidTenant, key)
	default:
		return "", fmt.Errorf("%w: memo field %q is a %T, not a string", ErrInvalidTenant, key, v)
	}
}

// tenantOf returns the tenant of a start from all its sources; "" if none
// has one. Sources that have one must agree.
func (r *Router) tenantOf(ctx context.Context, workflowType string, memo map[string]any, inWorkflow bool) (string, error) {
	tenant, _ := TenantFromContext(ctx)
	fromMemo, err := r.memoTenant(memo)
	if err != nil {
		return "", err
	}
	if tenant, err = agree(tenant, fromMemo, "context value", "memo field"); err != nil {
		return "", err
	}
	if r.opts.tenantFunc != nil && !inWorkflow {
		fromFunc, err := r.opts.tenantFunc(ctx, workflowType)
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
