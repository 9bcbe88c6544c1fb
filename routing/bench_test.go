package routing

import (
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"
)

var benchKeySizes = []int{4, 36, 64, 255}

func benchKey(n int) string { return strings.Repeat("k", n) }

// BenchmarkSHA256 is the baseline the routing benchmarks compare to: one
// SHA-256 of the same key.
func BenchmarkSHA256(b *testing.B) {
	for _, n := range benchKeySizes {
		key := []byte(benchKey(n))
		b.Run(fmt.Sprintf("%dB", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = sha256.Sum256(key)
			}
		})
	}
}

func BenchmarkStableShard(b *testing.B) {
	for _, n := range benchKeySizes {
		key := benchKey(n)
		b.Run(fmt.Sprintf("%dB", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = StableShard(key, 32)
			}
		})
	}
}

// BenchmarkRoute is a tenant route end to end: validation, shard, queue
// name, fairness key and weight.
func BenchmarkRoute(b *testing.B) {
	table, err := NewTable(Config{Prefix: "saas", Shards: 32})
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range benchKeySizes {
		key := benchKey(n)
		b.Run(fmt.Sprintf("%dB", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = table.TenantRoute(Tenant, key, 2)
			}
		})
	}
}
