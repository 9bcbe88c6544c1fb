// Command isolation measures how each class's wait grows with the size of a
// noisy tenant's flood, without and with the router, on a real Temporal
// server:
//
//	go run ./bench/isolation --seeds 1,2,3 --json bench/isolation.json --svg bench/isolation.svg
//
// The classes are those of internal/scenario: the quiet tenants on other
// shards (quiet), the quiet tenants that share the noisy tenant's shard by
// chance (shard_mates), the system job (jobs), and the noisy tenant. The
// tenant IDs are drawn from each seed, so which quiet tenants are shard
// mates is chance, as it is for users. For every flood size it reports each
// class's p95 wait against its unloaded value (flood 0); the aim is within
// 3x. The noisy tenant has no unloaded value: at flood 0 it starts nothing.
//
// It starts the embedded dev server with Temporal's default of 4 partitions
// per task queue (internal/devserver), or uses --address / $TEMPORAL_ADDRESS;
// --dynamic-config K=V changes the embedded server's settings.
//
// Each flood size runs the scenario twice (baseline, routed) with the same
// worker budget, after a discarded warm-up of both; flood 0 is the unloaded
// reference. Once the quiet tenants and jobs are measured the rest of the
// flood is terminated, so large floods do not take minutes to drain. The
// whole sweep repeats --rounds times (5 by default, rounds, seeds and sizes
// interleaved so that drift hits every one alike), and each figure reported
// is, per seed, the median over the rounds: a p95 of 60 samples moves by 2x
// from one run to the next.
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

// Series is one seed's sweep.
type Series struct {
	Seed             uint64   `json:"seed"`
	NoisyTenant      string   `json:"noisy_tenant"`
	ShardMateTenants []string `json:"shard_mate_tenants"`
	Points           []Point  `json:"points"`
}

// Point is one flood size's results: per class and statistic, the median
// over the rounds, each class's p95 against its unloaded value, and each
// round's own figures.
type Point struct {
	Flood    int             `json:"flood"`
	Baseline scenario.Result `json:"baseline"`
	Routed   scenario.Result `json:"routed"`
	// VsUnloaded is, per mode and class, p95 over the p95 at flood 0 of the
	// same mode and class (absent where either has no samples).
	VsUnloaded map[string]map[string]float64 `json:"p95_vs_unloaded"`
	Rounds     []Round                       `json:"rounds"`
}

// Round is one run of a flood size, without and with the router.
type Round struct {
	Baseline scenario.Result `json:"baseline"`
	Routed   scenario.Result `json:"routed"`
}

func median(v []float64) float64 {
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// medianResult is, per class and statistic, the median of results; Count
// is the total, and the run's peak the highest.
func medianResult(results []scenario.Result) scenario.Result {
	out := scenario.Result{Run: results[0].Run}
	for _, r := range results {
		out.Run.PeakRunning = max(out.Run.PeakRunning, r.Run.PeakRunning)
	}
	for _, class := range scenario.Classes() {
		med := func(f func(*scenario.Stats) float64) float64 {
			var v []float64
			for i := range results {
				v = append(v, f(results[i].Class(class)))
			}
			return median(v)
		}
		m := out.Class(class)
		*m = scenario.Stats{
			P50:      med(func(s *scenario.Stats) float64 { return s.P50 }),
			P95:      med(func(s *scenario.Stats) float64 { return s.P95 }),
			P99:      med(func(s *scenario.Stats) float64 { return s.P99 }),
			Max:      med(func(s *scenario.Stats) float64 { return s.Max }),
			CloseP50: med(func(s *scenario.Stats) float64 { return s.CloseP50 }),
			CloseP95: med(func(s *scenario.Stats) float64 { return s.CloseP95 }),

			ActivityP50: med(func(s *scenario.Stats) float64 { return s.ActivityP50 }),
			ActivityP95: med(func(s *scenario.Stats) float64 { return s.ActivityP95 }),
		}
		for i := range results {
			m.Count += results[i].Class(class).Count
		}
	}
	return out
}

// vsUnloaded is p95 of each class over its value in unloaded.
func vsUnloaded(r, unloaded scenario.Result) map[string]float64 {
	out := map[string]float64{}
	for _, class := range scenario.Classes() {
		s, u := r.Class(class), unloaded.Class(class)
		if s.Count > 0 && u.Count > 0 {
			out[class] = s.P95 / max(u.P95, 1)
		}
	}
	return out
}

func parseList[T any](s string, parse func(string) (T, error)) ([]T, error) {
	var out []T
	for _, f := range strings.Split(s, ",") {
		v, err := parse(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("bad value %q in %q", f, s)
		}
		out = append(out, v)
	}
	return out, nil
}

func main() {
	log.SetFlags(0)
	address := flag.String("address", "", "Temporal frontend host:port (default: $TEMPORAL_ADDRESS, else an embedded dev server)")
	floods := flag.String("floods", "0,100,300,1000", "flood sizes, comma-separated")
	jsonOut := flag.String("json", "", "write the results as JSON to this file")
	svgOut := flag.String("svg", "", "write a plot of each class's p95 against its unloaded value to this file")
	rounds := flag.Int("rounds", 5, "repetitions of the whole sweep; figures are medians over them")
	seed := flag.Uint64("seed", 1, "seed the tenant IDs are drawn from")
	seedList := flag.String("seeds", "", "several seeds, comma-separated, each its own sweep (overrides --seed)")
	cfg := scenario.Default()
	cfg.Work = 200 * time.Millisecond
	cfg.Spread = 3 * time.Second
	cfg.AbandonNoisy = true
	cfg.Slots = 24      // 6 per routed queue: enough for the quiet tenants' own peak
	cfg.QuietStarts = 5 // 60 quiet samples (12 tenants), so that p95 is not the second-worst of 20
	cfg.JobStarts = 10
	flag.DurationVar(&cfg.Work, "work", cfg.Work, "work per workflow")
	flag.IntVar(&cfg.QuietTenants, "quiet-tenants", cfg.QuietTenants, "quiet tenants")
	flag.IntVar(&cfg.QuietStarts, "quiet-starts", cfg.QuietStarts, "onboardings per quiet tenant")
	flag.IntVar(&cfg.Slots, "slots", cfg.Slots, "worker budget: activities the run's workers may run at once, in all")
	flag.IntVar(&cfg.Shards, "shards", cfg.Shards, "tenant shards of the routed runs")
	dynamicConfig := map[string]any{}
	flag.Func("dynamic-config", "K=V: a dynamic config value for the embedded server, over internal/devserver's defaults (repeatable; V is parsed as JSON, else taken as a string)", func(kv string) error {
		return scenario.ParseDynamicConfig(kv, dynamicConfig)
	})
	flag.Parse()
	if *rounds < 1 {
		log.Fatalf("isolation: --rounds %d: need at least 1", *rounds)
	}
	sizes, err := parseList(*floods, func(s string) (int, error) {
		n, err := strconv.Atoi(s)
		if err == nil && n < 0 {
			err = fmt.Errorf("negative")
		}
		return n, err
	})
	if err != nil {
		log.Fatalf("isolation: --floods: %v", err)
	}
	seeds := []uint64{*seed}
	if *seedList != "" {
		if seeds, err = parseList(*seedList, func(s string) (uint64, error) { return strconv.ParseUint(s, 10, 64) }); err != nil {
			log.Fatalf("isolation: --seeds: %v", err)
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	srv, err := devserver.Start(ctx, devserver.Options{Address: *address, Progress: os.Stderr, DynamicConfig: dynamicConfig})
	if err != nil {
		log.Fatal("isolation: ", err)
	}
	defer srv.Close()

	env := scenario.Env{ClientOptions: srv.ClientOptions(), Progress: os.Stderr}
	run := time.Now().Unix() % 100000

	// Warm up, and throw the figures away, so that no measured run pays for
	// loading its first queues and the server's first tasks.
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
	series := make([]Series, len(seeds))
	for si, s := range seeds {
		cast := scenario.NewCast(s, cfg.QuietTenants)
		series[si] = Series{Seed: s, NoisyTenant: cast.Noisy, ShardMateTenants: cast.ShardMates(cfg.Shards)}
		for _, n := range sizes {
			series[si].Points = append(series[si].Points, Point{Flood: n})
		}
	}
	for round := range *rounds {
		for si, s := range seeds {
			for i, n := range sizes {
				c := cfg
				c.NoisyStarts, c.Seed = n, s
				var r Round
				for _, routed := range []bool{false, true} {
					prefix := fmt.Sprintf("iso%d-r%d-s%d-%d-%d-%t", run, round, s, i, n, routed)
					c.LegacyQueue = prefix + "-main" // no leftovers from another run
					fmt.Fprintf(os.Stderr, "round %d/%d, seed %d, flood %d, routed=%t\n", round+1, *rounds, s, n, routed)
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
				series[si].Points[i].Rounds = append(series[si].Points[i].Rounds, r)
			}
		}
	}
	for si := range series {
		points := series[si].Points
		for i := range points {
			var base, routed []scenario.Result
			for _, r := range points[i].Rounds {
				base, routed = append(base, r.Baseline), append(routed, r.Routed)
			}
			points[i].Baseline, points[i].Routed = medianResult(base), medianResult(routed)
		}
		if i := slices.IndexFunc(points, func(p Point) bool { return p.Flood == 0 }); i >= 0 {
			for j := range points {
				points[j].VsUnloaded = map[string]map[string]float64{
					"baseline": vsUnloaded(points[j].Baseline, points[i].Baseline),
					"routed":   vsUnloaded(points[j].Routed, points[i].Routed),
				}
			}
		}
	}

	fmt.Printf("p95 wait (workflow start to work start), ms, and x its unloaded (flood 0) value; medians of %d rounds; %s work, budget %d, %d shards; server dynamic config over internal/devserver's defaults: %v\n",
		*rounds, cfg.Work, cfg.Slots, cfg.Shards, dynamicConfig)
	for _, s := range series {
		fmt.Printf("\nseed %d: noisy tenant %s; shard mates (%d of %d): %s\n", s.Seed, s.NoisyTenant, len(s.ShardMateTenants), cfg.QuietTenants, strings.Join(s.ShardMateTenants, ", "))
		fmt.Printf("%6s |", "flood")
		for _, class := range scenario.Classes() {
			fmt.Printf(" %-33s |", class+" baseline / routed")
		}
		fmt.Println()
		for _, p := range s.Points {
			fmt.Printf("%6d |", p.Flood)
			for _, class := range scenario.Classes() {
				fmt.Printf(" %-33s |", cell(p, "baseline", *p.Baseline.Class(class), class)+" / "+cell(p, "routed", *p.Routed.Class(class), class))
			}
			fmt.Println()
		}
	}
	if *jsonOut != "" {
		raw, err := json.MarshalIndent(map[string]any{
			"work_ms": cfg.Work.Milliseconds(), "budget": cfg.Slots, "shards": cfg.Shards, "quiet_tenants": cfg.QuietTenants,
			"rounds": *rounds, "dynamic_config": dynamicConfig, "series": series,
		}, "", "  ")
		if err == nil {
			err = os.WriteFile(*jsonOut, append(raw, '\n'), 0o644)
		}
		if err != nil {
			log.Fatal("isolation: ", err)
		}
	}
	if *svgOut != "" {
		if err := os.WriteFile(*svgOut, []byte(plot(series)), 0o644); err != nil {
			log.Fatal("isolation: ", err)
		}
	}
}

// cell formats one class's p95 and its ratio to the unloaded value.
func cell(p Point, mode string, s scenario.Stats, class string) string {
	if s.Count == 0 {
		return "-"
	}
	if v, ok := p.VsUnloaded[mode][class]; ok {
		return fmt.Sprintf("%.0f (%.1fx)", s.P95, v)
	}
	return fmt.Sprintf("%.0f", s.P95)
}

// plot draws each class's p95 over its unloaded value (log scale) against
// flood size, one line per class and mode, the median over the seeds, with
// the 3x target dashed.
func plot(series []Series) string {
	const w, h, left, right, top, bottom = 760, 440, 70, 210, 40, 50
	var floods []int
	for _, p := range series[0].Points {
		floods = append(floods, p.Flood)
	}
	// ratio is the median over the seeds of the ratio at flood index i.
	ratio := func(mode, class string, i int) (float64, bool) {
		var v []float64
		for _, s := range series {
			if r, ok := s.Points[i].VsUnloaded[mode][class]; ok {
				v = append(v, r)
			}
		}
		if len(v) == 0 {
			return 0, false
		}
		return median(v), true
	}
	const minY = 0.5
	maxY := 10.0
	for i := range floods {
		for _, mode := range []string{"baseline", "routed"} {
			for _, class := range scenario.Classes() {
				if r, ok := ratio(mode, class, i); ok {
					maxY = math.Max(maxY, r)
				}
			}
		}
	}
	ly := func(v float64) float64 {
		v = math.Max(v, minY)
		return top + (h-top-bottom)*(1-(math.Log10(v)-math.Log10(minY))/(math.Log10(maxY*1.2)-math.Log10(minY)))
	}
	lx := func(i int) float64 {
		if len(floods) == 1 {
			return left
		}
		return left + float64(i)*(w-left-right)/float64(len(floods)-1)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", w, h)
	seeds := make([]string, len(series))
	for i, s := range series {
		seeds[i] = strconv.FormatUint(s.Seed, 10)
	}
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/><text x="%d" y="22" font-size="14">p95 wait / unloaded p95 (log scale) against flood size; median of seeds %s</text>`+"\n", left, strings.Join(seeds, ", "))
	for _, d := range []float64{1, 3, 10, 30, 100, 300, 1000, 3000} {
		if d > maxY*1.2 {
			break
		}
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/><text x="%d" y="%.1f" text-anchor="end">%gx</text>`+"\n", left, w-right, ly(d), ly(d), left-6, ly(d)+4, d)
	}
	for i, f := range floods {
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%d</text>`+"\n", lx(i), h-bottom+18, f)
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">noisy starts (evenly spaced, not to scale)</text>`+"\n", (left+w-right)/2, h-12)
	colors := map[string]string{scenario.Quiet: "#1f77b4", scenario.ShardMates: "#9467bd", scenario.Jobs: "#2ca02c"}
	type line struct {
		label, color, dash string
		pts                []string
	}
	var lines []line
	for _, mode := range []string{"routed", "baseline"} {
		dash := ""
		if mode == "baseline" {
			dash = "2,3"
		}
		for _, class := range []string{scenario.Quiet, scenario.ShardMates, scenario.Jobs} {
			l := line{label: class + ", " + mode, color: colors[class], dash: dash}
			for i := range floods {
				if r, ok := ratio(mode, class, i); ok {
					l.pts = append(l.pts, fmt.Sprintf("%.1f,%.1f", lx(i), ly(r)))
				}
			}
			lines = append(lines, l)
		}
	}
	lines = append(lines, line{label: "3x unloaded (target)", color: "#d62728", dash: "6,4",
		pts: []string{fmt.Sprintf("%.1f,%.1f", lx(0), ly(3)), fmt.Sprintf("%.1f,%.1f", lx(len(floods)-1), ly(3))}})
	for li, l := range lines {
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" stroke-dasharray="%s" points="%s"/>`+"\n", l.color, l.dash, strings.Join(l.pts, " "))
		ly0 := float64(top + 10 + li*20)
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="%s" stroke-width="2" stroke-dasharray="%s"/><text x="%d" y="%.1f">%s</text>`+"\n",
			w-right+10, w-right+35, ly0, ly0, l.color, l.dash, w-right+40, ly0+4, l.label)
	}
	b.WriteString("</svg>\n")
	return b.String()
}
