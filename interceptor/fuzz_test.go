package interceptor

import (
	"context"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	sdkinterceptor "go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/protobuf/proto"

	"github.com/tqrouter/tqrouter/registry"
	"github.com/tqrouter/tqrouter/routing"
)

// FuzzExecuteWorkflow feeds arbitrary tenant IDs, memo values and weights
// through the interceptor: it must never panic, a refused start must never
// reach the next interceptor, and a routed one must land on the reference
// shard with a fairness key Temporal accepts.
func FuzzExecuteWorkflow(f *testing.F) {
	f.Add("acme", "", float32(1), false, "UserOnboardingWorkflow", "main-queue")
	f.Add("", "acme", float32(0), true, "TenantProvisioningWorkflow", "main-queue")
	f.Add("acme", "globex", float32(2), false, "TokenCleanupWorkflow", "main-queue")
	f.Add(" \t", "", float32(-1), false, "UserOnboardingWorkflow", "main-queue")
	f.Add("\xff\xfe", "", float32(3e38), false, "UserOnboardingWorkflow", "saas.tenant.01")
	f.Add("tenant-ü-☃", "tenant-ü-☃", float32(0.0000001), true, "Unknown", "other")
	f.Fuzz(func(t *testing.T, ctxTenant, memoTenant string, weight float32, memoAsInt bool, workflowType, queue string) {
		router, err := New(registry.Default(), routing.Config{Prefix: "saas", Shards: 7}, WithoutHotTenants(),
			WithWeightFunc(func(context.Context, string) float32 { return weight }))
		if err != nil {
			t.Fatal(err)
		}
		next := &fakeNext{}
		out := router.InterceptClient(next)
		var memo map[string]any
		if memoTenant != "" {
			memo = map[string]any{DefaultMemoKey: memoTenant}
			if memoAsInt {
				memo[DefaultMemoKey] = len(memoTenant)
			}
		}
		opts := &client.StartWorkflowOptions{TaskQueue: queue, Memo: memo}
		_, err = out.ExecuteWorkflow(WithTenant(context.Background(), ctxTenant), &sdkinterceptor.ClientExecuteWorkflowInput{Options: opts, WorkflowType: workflowType})
		if err != nil {
			var re *RouteError
			if !errors.As(err, &re) {
				t.Fatalf("refusal is not a *RouteError: %v", err)
			}
			if next.calls != 0 {
				t.Fatal("refused start reached the next interceptor")
			}
			return
		}
		if next.calls != 1 {
			t.Fatalf("accepted start reached next %d times", next.calls)
		}
		got := next.execute.Options
		if got.TaskQueue == queue {
			return // passthrough
		}
		kind, _ := router.reg.Lookup(workflowType)
		if kind == routing.Jobs {
			if got.TaskQueue != "saas.jobs.00" {
				t.Fatalf("job on %q", got.TaskQueue)
			}
			return
		}
		tenant := ctxTenant
		if tenant == "" {
			tenant = memoTenant
		}
		if want := routing.TaskQueueName("saas", kind, routing.StableShard(tenant, 7)); got.TaskQueue != want {
			t.Fatalf("tenant %q routed to %q, want %q", tenant, got.TaskQueue, want)
		}
		key := got.Priority.FairnessKey
		if key == "" || len(key) > routing.MaxFairnessKeyLen || !utf8.ValidString(key) {
			t.Fatalf("fairness key %q for tenant %q", key, tenant)
		}
		if w := got.Priority.FairnessWeight; w < 0 || w > routing.MaxWeight || w != w {
			t.Fatalf("weight %v", w)
		}
	})
}

// FuzzMemoPayload feeds arbitrary encoded memo payloads: the router must
// refuse what does not decode to a valid tenant ID, and never panic.
func FuzzMemoPayload(f *testing.F) {
	f.Add([]byte(`"acme"`), "json/plain")
	f.Add([]byte(`42`), "json/plain")
	f.Add([]byte(`"ac`), "json/plain")
	f.Add([]byte("acme"), "binary/plain")
	f.Add([]byte{}, "binary/null")
	f.Add([]byte(`"\u0000"`), "json/plain")
	// A tenant longer than a fairness key: it gets a derived key, which is
	// not itself a valid tenant ID (the oracle once read the key as the ID).
	f.Add([]byte(`"`+strings.Repeat("t", routing.MaxFairnessKeyLen+1)+`"`), "json/plain")
	// An ID spelled like a derived key is refused.
	f.Add([]byte(`"sha256:`+strings.Repeat("a", 57)+`"`), "json/plain")
	f.Fuzz(func(t *testing.T, data []byte, encoding string) {
		router, err := New(registry.Default(), routing.Config{Prefix: "saas", Shards: 7}, WithoutHotTenants())
		if err != nil {
			t.Fatal(err)
		}
		next := &fakeNext{}
		payload := &commonpb.Payload{Metadata: map[string][]byte{"encoding": []byte(encoding)}, Data: data}
		opts := &client.StartWorkflowOptions{TaskQueue: "main-queue", Memo: map[string]any{DefaultMemoKey: payload}}
		_, err = router.InterceptClient(next).ExecuteWorkflow(context.Background(), &sdkinterceptor.ClientExecuteWorkflowInput{Options: opts, WorkflowType: "UserOnboardingWorkflow"})
		if err != nil {
			if next.calls != 0 {
				t.Fatal("refused start reached next")
			}
			if !errors.Is(err, ErrInvalidTenant) && !errors.Is(err, ErrMissingTenant) {
				t.Fatalf("unexpected error type: %v", err)
			}
			return
		}
		// Accepted: the memo decodes to a valid tenant, and the start carries
		// that tenant's queue and fairness key (a derived key when the ID is
		// longer than a key may be).
		var tenant string
		if err := converter.GetDefaultDataConverter().FromPayload(payload, &tenant); err != nil {
			t.Fatalf("routed a memo that does not decode: %v", err)
		}
		if err := routing.ValidateTenant(tenant); err != nil {
			t.Fatalf("routed an invalid tenant: %v", err)
		}
		got := next.execute.Options
		if want := routing.FairnessKey(tenant); got.Priority.FairnessKey != want {
			t.Fatalf("tenant %q got fairness key %q, want %q", tenant, got.Priority.FairnessKey, want)
		}
		if want := routing.TaskQueueName("saas", routing.Tenant, routing.StableShard(tenant, 7)); got.TaskQueue != want {
			t.Fatalf("tenant %q routed to %q, want %q", tenant, got.TaskQueue, want)
		}
	})
}

// FuzzWorkflowTenant feeds a workflow's start as a worker sees it (header
// payload, memo payload, queue, fairness key), all outside input: the router
// must never panic, must never leave a workflow on a routed tenant queue
// without either a tenant or an error, and a tenant it finds is valid and
// agrees with every source present.
func FuzzWorkflowTenant(f *testing.F) {
	f.Add([]byte(`"acme"`), "json/plain", []byte(`"acme"`), "json/plain", "saas.tenant.03", "acme")
	f.Add([]byte(`x`), "binary/encrypted", []byte(`y`), "binary/encrypted", "saas.tenant.03", "sha256:0123")
	f.Add([]byte{}, "", []byte(`42`), "json/plain", "main-queue", "")
	f.Add([]byte{}, "", []byte{}, "", "saas.jobs.00", "")
	f.Add([]byte{}, "", []byte{}, "", "saas.tenant.overflow-00", "sha256:"+strings.Repeat("a", 57))
	f.Add([]byte(`""`), "json/plain", []byte(`"acme"`), "json/plain", "saas.tenant.03", "acme")       // an empty header
	f.Add([]byte(`"victim"`), "json/plain", []byte(`"acme"`), "json/plain", "saas.tenant.03", "acme") // a header that disagrees
	f.Add([]byte(`" acme "`), "json/plain", []byte{}, "", "main-queue", "")
	f.Fuzz(func(t *testing.T, header []byte, headerEnc string, memo []byte, memoEnc, queue, key string) {
		router, err := New(registry.Default(), routing.Config{Prefix: "saas", Shards: 7}, WithoutHotTenants())
		if err != nil {
			t.Fatal(err)
		}
		h := map[string]*commonpb.Payload{}
		if headerEnc != "" {
			h[tenantHeader] = &commonpb.Payload{Metadata: map[string][]byte{"encoding": []byte(headerEnc)}, Data: header}
		}
		info := &workflow.Info{TaskQueueName: queue, Priority: temporal.Priority{FairnessKey: key}}
		if memoEnc != "" {
			info.Memo = &commonpb.Memo{Fields: map[string]*commonpb.Payload{DefaultMemoKey: {Metadata: map[string][]byte{"encoding": []byte(memoEnc)}, Data: memo}}}
		}
		tenant, err := router.workflowTenant(h, info)
		if err != nil {
			if tenant != "" || !errors.Is(err, ErrMissingTenant) || strings.Count(err.Error(), "tqrouter:") != 1 {
				t.Fatalf("tenant %q with error %v", tenant, err)
			}
			return
		}
		if tenant != "" && routing.ValidateTenant(tenant) != nil {
			t.Fatalf("invalid tenant %q", tenant)
		}
		if s := router.headerSource(h); s.present && !s.opaque && (s.err != nil || s.tenant != tenant) {
			t.Fatalf("header says %q (%v), got %q", s.tenant, s.err, tenant)
		}
		if s := router.recordedMemoSource(info.Memo); s.present && !s.opaque && (s.err != nil || s.tenant != tenant) {
			t.Fatalf("memo says %q (%v), got %q", s.tenant, s.err, tenant)
		}
		if d, routed := routing.ParseTaskQueue("saas", queue); routed && d.Kind.TenantScoped() && key != "" && tenant != "" && routing.FairnessKey(tenant) != key {
			t.Fatalf("fairness key %q is not tenant %q's", key, tenant)
		}
		if d, routed := routing.ParseTaskQueue("saas", queue); routed && d.Kind.TenantScoped() && tenant == "" {
			t.Fatalf("a workflow on routed queue %q has neither tenant nor error", queue)
		}
	})
}

// FuzzTenantPayload: the tenant header the router writes without a data
// converter is byte for byte the payload the SDK's default converter
// makes, so any worker (or another SDK) reads it as before.
func FuzzTenantPayload(f *testing.F) {
	for _, s := range []string{"acme", "38d69f70-d254-41a7-9ebf-aeab054c8c61", "<a&b>", "tenant-ü-☃", "\xff\xfe", `"quoted"\`, "\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tenant string) {
		got, err := jsonStringPayload(tenant)
		if err != nil {
			t.Fatal(err)
		}
		want, err := converter.GetDefaultDataConverter().ToPayload(tenant)
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(got, want) {
			t.Fatalf("payload of %q: %v, the SDK's: %v", tenant, got, want)
		}
	})
}
