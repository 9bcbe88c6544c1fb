package devserver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// helperEnv makes the test binary, run again as a child process by the tests
// below, play one of the helper roles of TestHelperProcess.
const helperEnv = "TQROUTER_DEVSERVER_TEST_HELPER"

// TestHelperProcess is not a test: it is the child process of the tests
// below (the os/exec tests' pattern), and skips when run as a test.
//   - "server": starts a dev server, prints its PID, and waits to be killed.
//   - "notify": prints its PID, waits for NotifyContext's context, then
//     exits.
//   - "parent-of-notify": starts the "notify" role, passes its PID on, and
//     waits to be killed.
func TestHelperProcess(t *testing.T) {
	switch os.Getenv(helperEnv) {
	case "":
		t.Skip("the child process of TestServerExitsWithItsStarter and TestNotifyContextEndsWithParent")
	case "server":
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		// No log lines after the start: a server that writes to the pipe
		// of a dead starter dies of SIGPIPE, and the test would pass
		// without the parent watch it is there to prove.
		s, err := Start(ctx, Options{LogLevel: "never"})
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		for !strings.Contains(s.Logs(), "listening on") {
			time.Sleep(10 * time.Millisecond)
		}
		fmt.Printf("pid %d\n", s.pid)
	case "notify":
		ctx, stop := NotifyContext(context.Background())
		defer stop()
		fmt.Printf("pid %d\n", os.Getpid())
		<-ctx.Done()
		return
	case "parent-of-notify":
		cmd := helperCommand("notify")
		cmd.Stdout = os.Stdout
		if err := cmd.Start(); err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
	}
	time.Sleep(10 * time.Minute) // until killed
	os.Exit(1)
}

// helperCommand returns a command that runs this test binary as
// TestHelperProcess in the given role.
func helperCommand(role string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+role, AddressEnv+"=")
	return cmd
}

// startHelper starts the helper in role and returns it with the PID that it
// (or its own child) prints.
func startHelper(t *testing.T, role string) (*exec.Cmd, int) {
	t.Helper()
	cmd := helperCommand(role)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err, "the helper's first line")
	pid, err := strconv.Atoi(strings.TrimPrefix(strings.TrimSpace(line), "pid "))
	require.NoError(t, err, "the helper printed %q", line)
	return cmd, pid
}

// running reports whether process pid exists and is not a zombie (an exited
// process that its new parent, here PID 1, has not reaped yet).
func running(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return !os.IsNotExist(err)
	}
	// The state follows the command name in parentheses: "pid (comm) S ...".
	rest := string(stat[strings.LastIndexByte(string(stat), ')')+1:])
	return !strings.HasPrefix(strings.TrimSpace(rest), "Z")
}

// TestServerExitsWithItsStarter: a process that starts a dev server and is
// then killed (SIGKILL: it cannot close the server) does not leave the
// server running.
func TestServerExitsWithItsStarter(t *testing.T) {
	_, err := Binary(context.Background(), os.Stderr)
	skipShort(t, err)
	require.NoError(t, err)
	starter, server := startHelper(t, "server")
	t.Cleanup(func() { _ = syscall.Kill(server, syscall.SIGKILL) })
	require.True(t, running(server), "the server runs while its starter does")

	require.NoError(t, starter.Process.Kill())
	_ = starter.Wait()
	// The server stops cleanly, which takes up to its 20 s stop timeout.
	require.Eventually(t, func() bool { return !running(server) }, time.Minute, 100*time.Millisecond,
		"the server (pid %d) outlived the process that started it", server)
}

// TestNotifyContextEndsWithParent: a program waiting on NotifyContext (the
// demo's --keep) ends when its parent is killed, as `go run` is when
// someone kills it.
func TestNotifyContextEndsWithParent(t *testing.T) {
	parent, child := startHelper(t, "parent-of-notify")
	t.Cleanup(func() { _ = syscall.Kill(child, syscall.SIGKILL) })
	require.True(t, running(child))
	require.NoError(t, parent.Process.Kill())
	_ = parent.Wait()
	require.Eventually(t, func() bool { return !running(child) }, 30*time.Second, 50*time.Millisecond,
		"the child (pid %d) outlived its killed parent", child)
}
