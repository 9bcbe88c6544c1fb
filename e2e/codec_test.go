package e2e

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"google.golang.org/protobuf/proto"

	"github.com/tqrouter/tqrouter/interceptor"
	"github.com/tqrouter/tqrouter/internal/saasapp"
	"github.com/tqrouter/tqrouter/registry"
	"github.com/tqrouter/tqrouter/routing"
)

// aesCodec encrypts every payload with AES-GCM, as users' encryption codecs
// do: what the server stores cannot be decoded without the key.
type aesCodec struct{ aead cipher.AEAD }

const encryptedEncoding = "binary/encrypted"

func newAESCodec(t *testing.T) *aesCodec {
	key := make([]byte, 32)
	_, err := rand.Read(key)
	require.NoError(t, err)
	block, err := aes.NewCipher(key)
	require.NoError(t, err)
	aead, err := cipher.NewGCM(block)
	require.NoError(t, err)
	return &aesCodec{aead: aead}
}

func (c *aesCodec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		plain, err := proto.Marshal(p)
		if err != nil {
			return nil, err
		}
		nonce := make([]byte, c.aead.NonceSize())
		if _, err := rand.Read(nonce); err != nil {
			return nil, err
		}
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{converter.MetadataEncoding: []byte(encryptedEncoding)},
			Data:     c.aead.Seal(nonce, nonce, plain, nil),
		}
	}
	return out, nil
}

func (c *aesCodec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if string(p.GetMetadata()[converter.MetadataEncoding]) != encryptedEncoding {
			out[i] = p
			continue
		}
		n := c.aead.NonceSize()
		if len(p.GetData()) < n {
			return nil, errors.New("short ciphertext")
		}
		plain, err := c.aead.Open(nil, p.GetData()[:n], p.GetData()[n:], nil)
		if err != nil {
			return nil, err
		}
		out[i] = &commonpb.Payload{}
		if err := proto.Unmarshal(plain, out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// longTenant is an 88-byte tenant ID: longer than a fairness key may be, so
// the router cannot carry it as one.
var longTenant = "org-" + strings.Repeat("7f3a9c2e", 10) + "-euw"

// TestEncryptedTenantTravelsToChild: with an encrypting codec and an 88-byte
// tenant, whose memo the server stores encrypted, a parent started on
// main-queue runs on its tenant's shard and so does its child, named on
// main-queue by workflow code; the child's activity knows the tenant. Before
// the router carried the tenant in its own header, the worker decoded the
// encrypted memo with the default converter, found no tenant, and the child
// silently ran on main-queue. With WithDataConverter the header is encrypted
// too.
func TestEncryptedTenantTravelsToChild(t *testing.T) {
	require.Len(t, longTenant, 88)
	for _, withDC := range []bool{false, true} {
		t.Run(fmt.Sprintf("WithDataConverter=%v", withDC), func(t *testing.T) {
			dc := converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), newAESCodec(t))
			var opts []interceptor.Option
			if withDC {
				opts = append(opts, interceptor.WithDataConverter(dc))
			}
			prefix := fmt.Sprintf("codec%v", withDC)
			router, err := interceptor.New(registry.Default(), routing.Config{Prefix: prefix, Shards: 5}, opts...)
			require.NoError(t, err)
			c := dialWith(t, dc, router)
			pollRoutedQueuesOn(t, c, router, worker.Options{})
			want := routing.TaskQueueName(prefix, routing.Tenant, routing.StableShard(longTenant, 5))

			id, run, out := runParent(t, c, longTenant, "codec", "main-queue")

			got := describe(t, c, id)
			assert.Equal(t, want, got.TaskQueue)
			assert.Equal(t, routing.FairnessKey(longTenant), got.Priority.GetFairnessKey())
			require.NotNil(t, out.Child)
			assert.Equal(t, want, out.Child.WorkflowQueue, "the child followed its parent's tenant")
			assert.Equal(t, longTenant, out.Child.Tenant, "the child's activity knows the tenant")
			assert.Equal(t, longTenant, out.Tenant)

			// What the server stored: the memo is encrypted by the codec;
			// the router's header is encrypted with WithDataConverter, and
			// plain JSON (like the fairness key) without.
			h := history(t, c, id, run.GetRunID())
			started := h.GetEvents()[0].GetWorkflowExecutionStartedEventAttributes()
			assert.Equal(t, encryptedEncoding, string(started.GetMemo().GetFields()["tenant_id"].GetMetadata()[converter.MetadataEncoding]))
			header := started.GetHeader().GetFields()["tqrouter-tenant"]
			require.NotNil(t, header)
			wantEncoding := "json/plain"
			if withDC {
				wantEncoding = encryptedEncoding
			}
			assert.Equal(t, wantEncoding, string(header.GetMetadata()[converter.MetadataEncoding]))
			replayWith(t, dc, router, h)
		})
	}
}

// TestUnreadableTenantFailsChildStart: a workflow runs on a routed queue
// with its 88-byte tenant only in an encrypted memo (started by a service
// that does not use the router's header), and the workers' router cannot
// decode it. Its child, named on main-queue, is refused with a clear error
// instead of silently starting on main-queue: nothing is started at all.
func TestUnreadableTenantFailsChildStart(t *testing.T) {
	dc := converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), newAESCodec(t))
	router, err := interceptor.New(registry.Default(), routing.Config{Prefix: "unreadable", Shards: 3})
	require.NoError(t, err)
	pollRoutedQueuesOn(t, dialWith(t, dc, router), router, worker.Options{})

	plain := dialWith(t, dc) // another service: no router
	queue := routing.TaskQueueName("unreadable", routing.Tenant, routing.StableShard(longTenant, 3))
	ctx := testContext(t)
	id := uniqueID(t, "unreadable")
	run, err := plain.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: id, TaskQueue: queue,
		Memo:     map[string]any{"tenant_id": longTenant},
		Priority: temporal.Priority{FairnessKey: routing.FairnessKey(longTenant)},
	}, saasapp.TenantProvisioningWorkflow, saasapp.Input{Child: "UserOnboardingWorkflow", ChildQueue: "main-queue"})
	require.NoError(t, err)
	err = run.Get(ctx, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "tenant-scoped workflow started without a tenant ID")
	assert.Contains(t, err.Error(), "its tenant cannot be read")
	assert.Contains(t, err.Error(), queue)

	for _, e := range history(t, plain, id, run.GetRunID()).GetEvents() {
		assert.NotEqual(t, enumspb.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED, e.GetEventType(), "no child was started")
	}
	resp, err := plain.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{
		Namespace: server.Namespace(),
		Query:     fmt.Sprintf("ParentWorkflowId = '%s'", id),
	})
	require.NoError(t, err)
	assert.Zero(t, resp.GetCount())
}
