package interceptor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"

	"github.com/tqrouter/tqrouter/routing"
)

type tenantKey struct{}

// WithTenant returns a copy of ctx that carries tenantID: starts made with it
// are routed for that tenant. The value is checked at every start made with
// ctx: an empty or otherwise invalid tenantID refuses the start with
// [ErrInvalidTenant], as any invalid tenant source does; it never counts as
// "no tenant".
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

// source is what one place says about the tenant of a start, or of a
// running workflow: the context value, the tenant function or the memo field
// of a start; the header or the memo field of a running workflow.
type source struct {
	name    string // the place, for errors; never the value
	tenant  string
	present bool
	err     error // present, but not a tenant ID
	// opaque marks an err that says only that the router cannot decode
	// the value (an encoding its data converter does not know, such as a
	// memo encrypted by a codec it was not given): such a source neither
	// names nor refutes a tenant, and its err is the reason only when no
	// other source names one.
	opaque bool
}

// resolveTenant is the one rule that gives a start, or a running workflow,
// its tenant, on clients and workers alike. Every source that is present
// must hold a valid tenant ID ([routing.ValidateTenant]: an empty value is
// invalid, never "none"), and all must hold the same one; the first that
// fails, in the order given, is the error. A fairnessKey (a running
// workflow's, on a routed queue of a tenant-scoped kind) must be the
// tenant's own ([routing.FairnessKey]); when no other source is present it
// names the tenant itself, unless it is a derived key, which names a tenant
// only through a hash. A source the router cannot decode (opaque) neither
// names nor refutes a tenant; it is the error only when nothing else names
// one. No source at all is "" and no error. Errors wrap
// [ErrInvalidTenant] or [ErrTenantMismatch], and name the sources, never a
// tenant.
func resolveTenant(fairnessKey string, sources ...source) (string, error) {
	tenant, from := "", ""
	var opaqueErr error // of the first opaque source
	for _, s := range sources {
		switch {
		case !s.present:
			continue
		case s.opaque:
			if opaqueErr == nil {
				opaqueErr = s.err
			}
			continue
		case s.err != nil:
			return "", s.err
		}
		if err := validate(s.tenant, s.name); err != nil {
			return "", err
		}
		switch {
		case from == "":
			tenant, from = s.tenant, s.name
		case s.tenant != tenant:
			return "", mismatch(from, s.name)
		}
	}
	switch {
	case from != "" && fairnessKey != "" && routing.FairnessKey(tenant) != fairnessKey:
		return "", mismatch(from, "fairness key")
	case from != "":
		return tenant, nil
	case fairnessKey == "":
		return "", opaqueErr
	}
	if tenant, ok := routing.FairnessKeyTenant(fairnessKey); ok {
		return tenant, nil
	}
	if len(fairnessKey) == routing.MaxFairnessKeyLen {
		return "", opaqueErr // a derived key names no tenant by itself
	}
	return "", validate(fairnessKey, "fairness key")
}

// validate is [routing.ValidateTenant] for the value of the source named
// name, with the value taken out of the message: errors end up in logs.
func validate(value, name string) error {
	err := routing.ValidateTenant(value)
	if err == nil {
		return nil
	}
	reason := strings.TrimPrefix(err.Error(), ErrInvalidTenant.Error()+": ")
	reason = strings.ReplaceAll(reason, strconv.Quote(value), "the value")
	return fmt.Errorf("%w: %s (%s)", ErrInvalidTenant, reason, name)
}

func mismatch(a, b string) error {
	// The IDs stay out of the message: errors end up in logs.
	return fmt.Errorf("%w: %s and %s name different tenants", ErrTenantMismatch, a, b)
}

// contextSource is the tenant set by [WithTenant] on ctx, if any.
func contextSource(ctx context.Context) source {
	s := source{name: "context value"}
	if ctx != nil {
		s.tenant, s.present = ctx.Value(tenantKey{}).(string)
	}
	return s
}

// headerSource is the tenant in the router's header of a start.
func (r *Router) headerSource(header map[string]*commonpb.Payload) source {
	s := source{name: "header " + tenantHeader}
	var p *commonpb.Payload
	if p, s.present = header[tenantHeader]; s.present {
		s.tenant, s.opaque, s.err = r.payloadTenant(p, s.name)
	}
	return s
}

// headerTenant reads the tenant from a header: ok is false when the header
// has none; an error says it has one that is not a valid tenant ID.
func (r *Router) headerTenant(header map[string]*commonpb.Payload) (tenant string, ok bool, err error) {
	s := r.headerSource(header)
	if !s.present {
		return "", false, nil
	}
	tenant, err = resolveTenant("", s)
	return tenant, true, err
}

// payloadTenant decodes a payload that must hold a tenant ID; opaque says
// that the router's data converter does not know its encoding (see
// source).
func (r *Router) payloadTenant(p *commonpb.Payload, where string) (tenant string, opaque bool, err error) {
	if p == nil {
		return "", false, fmt.Errorf("%w: %s is a nil payload", ErrInvalidTenant, where)
	}
	if err := r.converter().FromPayload(p, &tenant); err != nil {
		return "", errors.Is(err, converter.ErrEncodingIsNotSupported),
			fmt.Errorf("%w: %s does not decode to a string (a codec the router does not know? see WithDataConverter): %v", ErrInvalidTenant, where, err)
	}
	return tenant, false, nil
}

// memoSource is the tenant in a start's memo field. The SDK accepts any
// value in a memo; the router accepts a string, or a payload that decodes
// to one with the router's data converter, and refuses anything else
// rather than guess.
func (r *Router) memoSource(memo map[string]any) source {
	key := r.opts.memoKey
	s := source{name: "memo field"}
	var v any
	if v, s.present = memo[key]; !s.present {
		return s
	}
	switch v := v.(type) {
	case string:
		s.tenant = v
	case *commonpb.Payload:
		s.tenant, s.opaque, s.err = r.payloadTenant(v, fmt.Sprintf("memo field %q", key))
	case nil:
		s.err = fmt.Errorf("%w: memo field %q is nil", ErrInvalidTenant, key)
	default:
		s.err = fmt.Errorf("%w: memo field %q is a %T, not a string", ErrInvalidTenant, key, v)
	}
	return s
}

// recordedMemoSource is the tenant in the memo field of a running workflow,
// as the server recorded it.
func (r *Router) recordedMemoSource(memo *commonpb.Memo) source {
	s := source{name: "memo field"}
	var p *commonpb.Payload
	if p, s.present = memo.GetFields()[r.opts.memoKey]; s.present {
		s.tenant, s.opaque, s.err = r.payloadTenant(p, fmt.Sprintf("memo field %q", r.opts.memoKey))
	}
	return s
}

// startTenant returns the tenant of a start from all its sources (see
// resolveTenant): "" if none has one. A start made by workflow code has
// the workflow's tenant as its context value and never calls the tenant
// function; a workflow whose own sources disagree or are invalid starts
// nothing.
func (r *Router) startTenant(ctx context.Context, s start) (string, error) {
	if s.inWorkflow {
		if unreadable(s.tenantErr) {
			return "", s.tenantErr
		}
		return resolveTenant("", contextSource(ctx), r.memoSource(s.memo))
	}
	fn := source{name: "tenant function"}
	if r.opts.tenantFunc != nil {
		// "" is the function's way to say it does not know.
		fn.tenant, fn.err = r.opts.tenantFunc(ctx, s.workflowType)
		fn.present = fn.tenant != "" || fn.err != nil
		if fn.err != nil {
			fn.err = fmt.Errorf("tenant function: %w", fn.err)
		}
	}
	return resolveTenant("", contextSource(ctx), fn, r.memoSource(s.memo))
}
