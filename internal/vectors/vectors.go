// Package vectors loads the reference routing vectors that other services
// share (routing/testdata/route_vectors.json), for the tests of every
// package.
package vectors

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Case is one reference vector: the shard and queue of a tenant for a shard
// count, with prefix "saas" and kind "tenant".
type Case struct {
	TenantID  string `json:"tenant_id"`
	Shards    int    `json:"shards"`
	Shard     int    `json:"shard"`
	TaskQueue string `json:"task_queue"`
}

// Load returns every reference vector.
func Load(tb testing.TB) []Case {
	tb.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		tb.Fatal("vectors: cannot locate the repository")
	}
	raw, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "routing", "testdata", "route_vectors.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var doc struct {
		Cases []Case `json:"cases"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		tb.Fatal(err)
	}
	if len(doc.Cases) == 0 {
		tb.Fatal("vectors: no cases")
	}
	return doc.Cases
}

// Queue returns the reference queue of tenant among shards shards.
func Queue(tb testing.TB, tenant string, shards int) string {
	tb.Helper()
	for _, c := range Load(tb) {
		if c.TenantID == tenant && c.Shards == shards {
			return c.TaskQueue
		}
	}
	tb.Fatalf("vectors: none for %q with %d shards", tenant, shards)
	return ""
}
