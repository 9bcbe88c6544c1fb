// Command tqrouter is the operator's tool for tqrouter's routing: where a
// tenant's starts go, which queues workers must poll, what a change of shard
// count moves, whether a live server is ready for the routing, what retired
// queues still hold, the tenants' fairness weights on the server, and each
// kind's backlog for autoscalers (once, or served over HTTP).
//
// Connection flags follow the Temporal CLI (--address, --namespace,
// --profile, --api-key, --tls*, TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
// TEMPORAL_PROFILE, TEMPORAL_CONFIG_FILE; see internal/connect); --output
// json prints data for programs. Run
// "tqrouter help" for the subcommands and "tqrouter COMMAND --help" for
// each one's flags.
//
// Exit status: 0 when all is well, 1 when a check found something (doctor's
// findings, a retired queue that still holds work), 2 for bad usage or
// input (flags, tenants, a weights file, too many overrides), 3 when the
// server could not be asked or refused a change.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// Exit statuses.
const (
	exitOK      = 0
	exitFinding = 1
	exitUsage   = 2
	exitError   = 3
)

// defaultTimeout bounds a subcommand that talks to the server.
const defaultTimeout = time.Minute

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// streams are a subcommand's standard input and outputs.
type streams struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

// command is one subcommand.
type command struct {
	name     string
	synopsis string // one line, for "tqrouter help"
	usage    string // the usage line and what it does, for --help
	run      func(ctx context.Context, c *command, s streams, args []string) error
}

func commands() []command {
	return []command{routeCommand, queuesCommand, previewCommand, doctorCommand, statusCommand, weightsCommand, backlogCommand, serveCommand}
}

// codeError carries an exit status; a nil err prints nothing more.
type codeError struct {
	code int
	err  error
}

func (e *codeError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *codeError) Unwrap() error { return e.err }

// usageError is bad usage or input: exit status 2.
func usageError(err error) error { return &codeError{code: exitUsage, err: err} }

// errFound says that findings were printed: exit status 1.
var errFound = &codeError{code: exitFinding}

// run runs the command line args (without the program name) and returns
// the exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	s := streams{stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) == 0 {
		printUsage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 {
			return run(ctx, []string{args[1], "--help"}, stdin, stdout, stderr)
		}
		printUsage(stdout)
		return exitOK
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return exitCode(stderr, c.run(ctx, &c, s, args[1:]))
		}
	}
	fmt.Fprintf(stderr, "tqrouter: unknown command %q\n\n", args[0])
	printUsage(stderr)
	return exitUsage
}

func exitCode(stderr io.Writer, err error) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	code := exitError
	var e *codeError
	if errors.As(err, &e) {
		code, err = e.code, e.err
	}
	if err != nil {
		fmt.Fprintln(stderr, "tqrouter:", message(err))
	}
	return code
}

// message is the text of err without the "tqrouter: " that the library's
// sentinel errors start with, wherever wrapping put it ("line 3: tqrouter:
// invalid tenant ID: ..."): the command names itself once, in front.
func message(err error) string {
	s := strings.TrimPrefix(err.Error(), "tqrouter: ")
	return strings.ReplaceAll(s, ": tqrouter: ", ": ")
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, `tqrouter: operate tqrouter's per-tenant task queue routing.

Usage: tqrouter COMMAND [flags] [arguments]

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.synopsis)
	}
	fmt.Fprint(w, `
Routing flags (route, queues, doctor, status, weights, backlog, serve):
--prefix P --shards N [--overflow N] [--pin TENANT=LABEL]... [--kind K]...

Connection flags (doctor, status, weights, backlog, serve), as the Temporal
CLI's: --address, --namespace, --profile, --config-file, --api-key, --tls,
--tls-cert-path, --tls-key-path, --tls-ca-path, --tls-server-name; they
override TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE and the other TEMPORAL_*
variables, which override the profile (--profile or TEMPORAL_PROFILE) of the
Temporal config file (--config-file or TEMPORAL_CONFIG_FILE); the default is
127.0.0.1:7233, namespace "default". --timeout bounds a command. Data comes
as text, or JSON with --output json.

Exit status: 0 all well; 1 a check found something; 2 bad usage or input;
3 the server could not be asked or refused a change.

Run "tqrouter COMMAND --help" for a command's flags.
`)
}

// newFlagSet makes the flag set of c, whose usage goes to the flag set's
// output: stderr, or stdout for --help (see parse).
func newFlagSet(c *command, s streams) *flag.FlagSet {
	fs := flag.NewFlagSet("tqrouter "+c.name, flag.ContinueOnError)
	fs.SetOutput(s.stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: %s\n\nFlags:\n", strings.TrimSpace(c.usage))
		printFlags(fs)
	}
	return fs
}

// printFlags prints the flags of fs as the Temporal CLI spells them, with
// two dashes, and their defaults.
func printFlags(fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		name, help := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if name != "" {
			line += " " + name
		}
		switch def := f.DefValue; {
		case def == "" || def == "0" || def == "false" || def == "[]":
		case name == "string":
			help += fmt.Sprintf(" (default %q)", def)
		default:
			help += fmt.Sprintf(" (default %s)", def)
		}
		if len(line) > 24 {
			line += "\n" + strings.Repeat(" ", 24)
		}
		fmt.Fprintf(fs.Output(), "%-24s %s\n", line, help)
	})
}

// parseFlagsOnly is parse for a command that takes only flags: an argument
// is a usage error.
func parseFlagsOnly(fs *flag.FlagSet, s streams, args []string) error {
	if err := parse(fs, s, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError(fmt.Errorf("unexpected arguments %q", fs.Args()))
	}
	return nil
}

// parse parses args, flags and arguments in any order. --help prints the usage to stdout and returns
// flag.ErrHelp (exit status 0); any other problem is a usage error, which
// the flag package has printed with the usage to stderr.
func parse(fs *flag.FlagSet, s streams, args []string) error {
	for _, a := range args {
		if a == "--" {
			break
		}
		if a == "-h" || a == "-help" || a == "--help" {
			fs.SetOutput(s.stdout)
			fs.Usage()
			return flag.ErrHelp
		}
	}
	// Flags may follow arguments, as in the Temporal CLI; "--" ends them.
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return &codeError{code: exitUsage}
		}
		rest := fs.Args()
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" || len(rest) == 0 {
			positional = append(positional, rest...)
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
	// Leave the arguments where fs.Args finds them.
	_ = fs.Parse(append([]string{"--"}, positional...))
	return nil
}

// withTimeout bounds a subcommand that talks to the server; d is positive
// (positiveDuration).
func withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, d)
}
