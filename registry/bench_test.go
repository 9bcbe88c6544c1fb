package registry

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/tqrouter/tqrouter/routing"
)

// BenchmarkLookup measures registry lookups from a growing number of
// goroutines, with a writer registering types now and then.
func BenchmarkLookup(b *testing.B) {
	for _, goroutines := range []int{1, 2, 4, 8, 32, 128} {
		b.Run(fmt.Sprintf("goroutines:%d", goroutines), func(b *testing.B) {
			r := Default()
			for i := range 100 {
				if err := r.RegisterWorkflow(fmt.Sprintf("Type%d", i), routing.Tenant); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			// RunParallel starts parallelism x GOMAXPROCS goroutines.
			b.SetParallelism(max(1, goroutines/maxProcs()))
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, ok := r.Lookup("UserOnboardingWorkflow"); !ok {
						b.Error("lookup failed")
					}
				}
			})
		})
	}
}

func maxProcs() int { return runtime.GOMAXPROCS(0) }

// BenchmarkRegister registers n new workflow types into an empty registry,
// beside its baseline, inserting the same names into a plain map; ns/type
// stays flat as n grows when registering is linear.
func BenchmarkRegister(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 20_000} {
		names := make([]string, n)
		for i := range names {
			names[i] = fmt.Sprintf("Type%d", i)
		}
		b.Run(fmt.Sprintf("map/types:%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				m := map[string]routing.QueueKind{}
				for _, name := range names {
					m[name] = routing.Tenant
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/type")
		})
		b.Run(fmt.Sprintf("registry/types:%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var r Registry
				for _, name := range names {
					if err := r.RegisterWorkflow(name, routing.Tenant); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/type")
		})
	}
}
