// Command isolation measures how the quiet tenants' and the cleanup job's
// wait grows with the size of a noisy tenant's flood, without and with the
// router, on a real Temporal server:
//
//	go run ./bench/isolation --json bench/isolation.json --svg bench/isolation.svg
//
// The default budget is 24 worker slots; with --slots 12 the routed run's 3
// slots per queue are too few for the quiet tenants' own load (see
// BENCHMARKS.md).
//
// Each flood size runs the noisy-neighbour scenario twice (baseline, routed)
// with the same worker budget, after a discarded warm-up of both; flood 0 is
// the unloaded reference. Once the quiet tenants and jobs are measured the
// rest of the flood is terminated, so large floods do not take minutes to
// drain. The whole sweep repeats --rounds times (5 by default, rounds
// interleaved so that drift hits every size alike), and each figure reported
// is the median over the rounds: a p95 of 60 samples moves by 2x from one
// run to the next.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"math"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tqrouter/tqrouter/internal/devserver"
	"github.com/tqrouter/tqrouter/internal/scenario"
)

// Point is one flood size's results: per class and statistic, the median
// over the rounds, and each round's own figures.
type Point struct {
	Flood    int             `json:"flood"`
	Baseline scenario.Result `json:"baseline"`
	Routed   scenario.Result `json:"routed"`
	Rounds   []Round         `json:"rounds"`
}

// Round is one run of a flood size, without and with the router.
type Round struct {
	Baseline scenario.Result `json:"baseline"`
	Routed   scenario.Result `json:"routed"`
}

// medianResult is, per class and statistic, the median of results; Count is
// the total.
func medianResult(results []scenario.Result) scenario.Result {
	out := scenario.Result{}
	for class := range results[0] {
		var stats []scenario.Stats
		for _, r := range results {
			stats = append(stats, r[class])
		}
		med := func(f func(scenario.Stats) float64) float64 {
			v := make([]float64, len(stats))
			for i, s := range stats {
				v[i] = f(s)
			}
			slices.Sort(v)
			if len(v)%2 == 1 {
				return v[len(v)/2]
			}
			return (v[len(v)/2-1] + v[len(v)/2]) / 2
		}
		m := scenario.Stats{
			P50:      med(func(s scenario.Stats) float64 { return s.P50 }),
			P95:      med(func(s scenario.Stats) float64 { return s.P95 }),
			P99:      med(func(s scenario.Stats) float64 { return s.P99 }),
			Max:      med(func(s scenario.Stats) float64 { return s.Max }),
			CloseP50: med(func(s scenario.Stats) float64 { return s.CloseP50 }),
			CloseP95: med(func(s scenario.Stats) float64 { return s.CloseP95 }),
		}
		for _, s := range stats {
			m.Count += s.Count
		}
		out[class] = m
	}
	return out
}

func main() {
	log.SetFlags(0)
	address := flag.String("address", "", "Temporal frontend host:port (default: $TEMPORAL_ADDRESS, else an embedded dev server)")
	floods := flag.String("floods", "0,100,300,1000", "flood sizes, comma-separated")
	jsonOut := flag.String("json", "", "write the results as JSON to this file")
	svgOut := flag.String("svg", "", "write a plot of p95 wait against flood size to this file")
	rounds := flag.Int("rounds", 5, "repetitions of the whole sweep; figures are medians over them")
	cfg := scenario.Default()
	cfg.Work = 200 * time.Millisecond
	cfg.Spread = 3 * time.Second
	cfg.AbandonNoisy = true
	cfg.Slots = 24       // 6 per routed queue: enough for the quiet tenants' own peak
	cfg.QuietStarts = 15 // 60 quiet samples, so that p95 is not the second-worst of 20
	cfg.JobStarts = 10
	flag.DurationVar(&cfg.Work, "work", cfg.Work, "work per workflow")
	flag.IntVar(&cfg.QuietStarts, "quiet-starts", cfg.QuietStarts, "onboardings per quiet tenant (4 tenants)")
	flag.IntVar(&cfg.Slots, "slots", cfg.Slots, "worker budget: concurrent activities across all workers (split evenly over the routed queues)")
	flag.IntVar(&cfg.Shards, "shards", cfg.Shards, "tenant shards of the routed runs")
	dynamicConfig := map[string]any{}
	flag.Func("dynamic-config", "K=V: a dynamic config value for the embedded server, over internal/devserver's defaults (repeatable; V is parsed as JSON, else taken as a string)", func(kv string) error {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return fmt.Errorf("want K=V, got %q", kv)
		}
		var val any
		if err := json.Unmarshal([]byte(v), &val); err != nil {
			val = v
		}
		dynamicConfig[k] = val
		return nil
	})
	flag.Parse()
	if *rounds < 1 {
		log.Fatalf("isolation: --rounds %d: need at least 1", *rounds)
	}

	var sizes []int
	for _, f := range strings.Split(*floods, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 {
			log.Fatalf("isolation: bad flood size %q", f)
		}
		sizes = append(sizes, n)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	srv, err := devserver.Start(ctx, devserver.Options{Address: *address, Progress: os.Stderr, DynamicConfig: dynamicConfig})
	if err != nil {
		log.Fatal("isolation: ", err)
	}
	defer srv.Close()

	env := scenario.Env{ClientOptions: srv.ClientOptions(), Progress: os.Stderr}
	var points []Point
	run := time.Now().Unix() % 100000

	// Warm up, and throw the figures away, so that no measured run pays for
	// loading its first queues and the server's first tasks. (On a dev
	// server without history.transferProcessorMaxPollRPS raised, which
	// internal/devserver does, the first second is also several times
	// faster than the rest: the transfer queue's rate limit starts with a
	// full burst.)
	fmt.Fprintln(os.Stderr, "warm-up (not measured)")
	for _, routed := range []bool{false, true} {
		warm := cfg
		warm.NoisyStarts = 0
		prefix := fmt.Sprintf("iso%d-warm-%t", run, routed)
		warm.LegacyQueue = prefix + "-main"
		if _, err := scenario.Run(ctx, env, warm, routed, prefix); err != nil {
			log.Fatal("isolation: ", err)
		}
	}
	for _, n := range sizes {
		points = append(points, Point{Flood: n})
	}
	for round := range *rounds {
		for i, n := range sizes {
			c := cfg
			c.NoisyStarts = n
			var r Round
			for _, routed := range []bool{false, true} {
				prefix := fmt.Sprintf("iso%d-r%d-%d-%d-%t", run, round, i, n, routed)
				c.LegacyQueue = prefix + "-main" // no leftovers from another run
				fmt.Fprintf(os.Stderr, "round %d/%d, flood %d, routed=%t\n", round+1, *rounds, n, routed)
				res, err := scenario.Run(ctx, env, c, routed, prefix)
				if err != nil {
					log.Fatal("isolation: ", err)
				}
				if routed {
					r.Routed = res
				} else {
					r.Baseline = res
				}
			}
			points[i].Rounds = append(points[i].Rounds, r)
		}
	}
	for i := range points {
		var base, routed []scenario.Result
		for _, r := range points[i].Rounds {
			base, routed = append(base, r.Baseline), append(routed, r.Routed)
		}
		points[i].Baseline, points[i].Routed = medianResult(base), medianResult(routed)
	}

	fmt.Printf("Schedule-to-start wait (workflow start to work start), ms, medians of %d rounds; %s work, %d slots, %d shards, server dynamic config over the defaults: %v\n", *rounds, cfg.Work, cfg.Slots, cfg.Shards, dynamicConfig)
	fmt.Printf("%6s | %-30s | %-30s | %-30s | %-30s\n", "flood", "quiet baseline p50/p95/p99", "quiet routed p50/p95/p99", "jobs baseline p50/p95/p99", "jobs routed p50/p95/p99")
	for _, p := range points {
		f := func(s scenario.Stats) string { return fmt.Sprintf("%.0f / %.0f / %.0f", s.P50, s.P95, s.P99) }
		fmt.Printf("%6d | %-30s | %-30s | %-30s | %-30s\n", p.Flood,
			f(p.Baseline[scenario.Quiet]), f(p.Routed[scenario.Quiet]), f(p.Baseline[scenario.Jobs]), f(p.Routed[scenario.Jobs]))
	}
	if *jsonOut != "" {
		raw, err := json.MarshalIndent(map[string]any{
			"work_ms": cfg.Work.Milliseconds(), "slots": cfg.Slots, "shards": cfg.Shards, "rounds": *rounds, "dynamic_config": dynamicConfig, "points": points,
		}, "", "  ")
		if err == nil {
			err = os.WriteFile(*jsonOut, append(raw, '\n'), 0o644)
		}
		if err != nil {
			log.Fatal("isolation: ", err)
		}
	}
	if *svgOut != "" {
		if err := os.WriteFile(*svgOut, []byte(plot(points)), 0o644); err != nil {
			log.Fatal("isolation: ", err)
		}
	}
}

// plot draws p95 wait (log scale) against flood size, one line per class
// and mode, with the 2x-unloaded target of the quiet tenants dashed.
func plot(points []Point) string {
	const w, h, left, right, top, bottom = 720, 420, 70, 170, 40, 50
	maxY := 10.0
	for _, p := range points {
		for _, r := range []scenario.Result{p.Baseline, p.Routed} {
			for _, s := range r {
				maxY = math.Max(maxY, s.P95)
			}
		}
	}
	minY := 10.0
	ly := func(v float64) float64 {
		v = math.Max(v, minY)
		return top + (h-top-bottom)*(1-(math.Log10(v)-math.Log10(minY))/(math.Log10(maxY*1.2)-math.Log10(minY)))
	}
	lx := func(i int) float64 {
		if len(points) == 1 {
			return left
		}
		return left + float64(i)*(w-left-right)/float64(len(points)-1)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", w, h)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/><text x="%d" y="22" font-size="14">p95 wait (ms, log scale) against the noisy tenant's flood size</text>`+"\n", left)
	for d := minY; d <= maxY*1.2; d *= 10 {
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/><text x="%d" y="%.1f" text-anchor="end">%.0f</text>`+"\n", left, w-right, ly(d), ly(d), left-6, ly(d)+4, d)
	}
	for i, p := range points {
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%d</text>`+"\n", lx(i), h-bottom+18, p.Flood)
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">noisy starts (evenly spaced, not to scale)</text>`+"\n", (left+w-right)/2, h-12)
	series := []struct {
		label, color, dash string
		get                func(Point) float64
	}{
		{"quiet, baseline", "#d62728", "", func(p Point) float64 { return p.Baseline[scenario.Quiet].P95 }},
		{"jobs, baseline", "#ff7f0e", "", func(p Point) float64 { return p.Baseline[scenario.Jobs].P95 }},
		{"quiet, routed", "#1f77b4", "", func(p Point) float64 { return p.Routed[scenario.Quiet].P95 }},
		{"jobs, routed", "#2ca02c", "", func(p Point) float64 { return p.Routed[scenario.Jobs].P95 }},
	}
	if len(points) > 0 && points[0].Flood == 0 {
		target := 2 * points[0].Baseline[scenario.Quiet].P95
		series = append(series, struct {
			label, color, dash string
			get                func(Point) float64
		}{"2x unloaded (target)", "#1f77b4", "6,4", func(Point) float64 { return target }})
	}
	for si, s := range series {
		var pts []string
		for i, p := range points {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", lx(i), ly(s.get(p))))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" stroke-dasharray="%s" points="%s"/>`+"\n", s.color, s.dash, strings.Join(pts, " "))
		ly0 := float64(top + 10 + si*20)
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="%s" stroke-width="2" stroke-dasharray="%s"/><text x="%d" y="%.1f">%s</text>`+"\n",
			w-right+10, w-right+35, ly0, ly0, s.color, s.dash, w-right+40, ly0+4, s.label)
	}
	b.WriteString("</svg>\n")
	return b.String()
}
