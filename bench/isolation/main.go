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
// the unloaded reference. Once the
// quiet tenants and jobs are measured the rest of the flood is terminated,
// so large floods do not take minutes to drain.
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
	"strconv"
	"strings"
	"time"

	"github.com/tqrouter/tqrouter/internal/devserver"
	"github.com/tqrouter/tqrouter/internal/scenario"
)

// Point is one flood size's results.
type Point struct {
	Flood    int             `json:"flood"`
	Baseline scenario.Result `json:"baseline"`
	Routed   scenario.Result `json:"routed"`
}

func main() {
	log.SetFlags(0)
	address := flag.String("address", "", "Temporal frontend host:port (default: $TEMPORAL_ADDRESS, else an embedded dev server)")
	floods := flag.String("floods", "0,100,300,1000", "flood sizes, comma-separated")
	jsonOut := flag.String("json", "", "write the results as JSON to this file")
	svgOut := flag.String("svg", "", "write a plot of p95 wait against flood size to this file")
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
	flag.Parse()

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
	srv, err := devserver.Start(ctx, devserver.Options{Address: *address, Progress: os.Stderr})
	if err != nil {
		log.Fatal("isolation: ", err)
	}
	defer srv.Close()

	env := scenario.Env{ClientOptions: srv.ClientOptions(), Progress: os.Stderr}
	var points []Point
	run := time.Now().Unix() % 100000

	// Warm up, and throw the figures away: for about its first second, a
	// process's workflow tasks are dispatched several times faster than
	// later (seen with fairness on and off), which would flatter whichever
	// run came first.
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
		c := cfg
		c.NoisyStarts = n
		p := Point{Flood: n}
		for _, routed := range []bool{false, true} {
			prefix := fmt.Sprintf("iso%d-%d-%t", run, n, routed)
			c.LegacyQueue = prefix + "-main" // no leftovers from another run
			fmt.Fprintf(os.Stderr, "flood %d, routed=%t\n", n, routed)
			res, err := scenario.Run(ctx, env, c, routed, prefix)
			if err != nil {
				log.Fatal("isolation: ", err)
			}
			if routed {
				p.Routed = res
			} else {
				p.Baseline = res
			}
		}
		points = append(points, p)
	}

	fmt.Printf("Schedule-to-start wait (workflow start to work start), ms; %s work, %d slots, %d shards\n", cfg.Work, cfg.Slots, cfg.Shards)
	fmt.Printf("%6s | %-30s | %-30s | %-30s | %-30s\n", "flood", "quiet baseline p50/p95/p99", "quiet routed p50/p95/p99", "jobs baseline p50/p95/p99", "jobs routed p50/p95/p99")
	for _, p := range points {
		f := func(s scenario.Stats) string { return fmt.Sprintf("%.0f / %.0f / %.0f", s.P50, s.P95, s.P99) }
		fmt.Printf("%6d | %-30s | %-30s | %-30s | %-30s\n", p.Flood,
			f(p.Baseline[scenario.Quiet]), f(p.Routed[scenario.Quiet]), f(p.Baseline[scenario.Jobs]), f(p.Routed[scenario.Jobs]))
	}
	if *jsonOut != "" {
		raw, err := json.MarshalIndent(map[string]any{
			"work_ms": cfg.Work.Milliseconds(), "slots": cfg.Slots, "shards": cfg.Shards, "points": points,
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
		target := 2 * points[0].Routed[scenario.Quiet].P95
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
