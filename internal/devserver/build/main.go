// Command build builds the embedded Temporal dev server of tools/devserver,
// or finds it in the cache, and prints the binary's path. `make test` runs it
// before the tests, so that a first build shows its progress instead of
// happening, silently, inside a test binary whose output go test holds back
// until the package ends.
//
//	go run ./internal/devserver/build
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"

	"github.com/tqrouter/tqrouter/internal/devserver"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	bin, err := devserver.Binary(ctx, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(bin)
}
