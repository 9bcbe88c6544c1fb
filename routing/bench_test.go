package routing

import (
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

var benchKeySizes = []int{4, 36, 64, 255}

func benchKey(n int) string { return strings.Repeat("k", n) }

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

// BenchmarkRoute is a tenant route end to end (validation, the kind's
// queues, the pins, shard, overflow pick, fairness key and weight) beside
// its baseline, one SHA-256 of the same key: compare BenchmarkRoute/36B with
// BenchmarkRoute/sha256/36B. BenchmarkRoute/interleaved/36B alternates
// blocks of 64 of both in one loop and reports the ratio of their median
// block times (route/sha256), which a busy machine disturbs less than two
// benchmarks run one after the other, and the two medians per operation
// (route-ns, sha-ns), which show whether a change of ratio between samples
// came from the route or from the hash.
// "pins" routes an unpinned tenant with 1,000 tenants pinned.
func BenchmarkRoute(b *testing.B) {
	table, err := NewTable(Config{Prefix: "saas", Shards: 32})
	if err != nil {
		b.Fatal(err)
	}
	pins := make(map[string]string, 1000)
	for i := range 1000 {
		pins[fmt.Sprintf("pinned-%d", i)] = fmt.Sprintf("p%d", i%10)
	}
	pinned, err := NewTable(Config{Prefix: "saas", Shards: 32, Pins: pins})
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range benchKeySizes {
		key := benchKey(n)
		raw := []byte(key)
		b.Run(fmt.Sprintf("sha256/%dB", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = sha256.Sum256(raw)
			}
		})
		b.Run(fmt.Sprintf("%dB", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = table.TenantRoute(Tenant, key, 2)
			}
		})
	}
	key := benchKey(36)
	b.Run("pins/36B", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = pinned.TenantRoute(Tenant, key, 2)
		}
	})
	b.Run("interleaved/36B", func(b *testing.B) {
		const block = 64
		raw := []byte(key)
		hashed := make([]time.Duration, 0, 1<<16)
		routed := make([]time.Duration, 0, 1<<16)
		b.ReportAllocs()
		for b.Loop() {
			start := time.Now()
			for range block {
				_ = sha256.Sum256(raw)
			}
			mid := time.Now()
			for range block {
				_, _ = table.TenantRoute(Tenant, key, 2)
			}
			if len(routed) < cap(routed) {
				routed = append(routed, time.Since(mid))
				hashed = append(hashed, mid.Sub(start))
			}
		}
		// Medians, not sums: a block the scheduler preempts is an outlier
		// that a median ignores.
		b.ReportMetric(float64(median(routed))/float64(median(hashed)), "route/sha256")
		b.ReportMetric(float64(median(routed))/block, "route-ns")
		b.ReportMetric(float64(median(hashed))/block, "sha-ns")
	})
}

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return d[len(d)/2]
}

// BenchmarkValidateTenant is the one-pass validation beside its baseline,
// a loop that only reads each byte.
func BenchmarkValidateTenant(b *testing.B) {
	for _, n := range benchKeySizes {
		key := benchKey(n)
		b.Run(fmt.Sprintf("read/%dB", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var x byte
				for i := 0; i < len(key); i++ {
					x |= key[i]
				}
				_ = x
			}
		})
		b.Run(fmt.Sprintf("%dB", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = ValidateTenant(key)
			}
		})
	}
}
