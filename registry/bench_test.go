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
