package devserver

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// parentPoll is how often NotifyContext checks the parent process.
const parentPoll = 500 * time.Millisecond

// NotifyContext returns a copy of ctx that is done on Ctrl-C (SIGINT), on
// SIGTERM, or once this process's parent has exited. A program that starts
// a server and waits (the demo's --keep) then ends, and closes the server,
// however its parent went: `go run` passes no SIGTERM on to the program it
// runs, so without the parent check a killed `go run` leaves the program,
// and with it the server, running. Call stop to release its resources.
func NotifyContext(ctx context.Context) (_ context.Context, stop context.CancelFunc) {
	ctx, stopSignals := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithCancel(ctx)
	parent := os.Getppid()
	go func() {
		tick := time.NewTicker(parentPoll)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if os.Getppid() != parent {
					cancel()
					return
				}
			}
		}
	}()
	return ctx, func() {
		cancel()
		stopSignals()
	}
}
