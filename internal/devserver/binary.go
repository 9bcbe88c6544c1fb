package devserver

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

const (
	// BinaryEnv names an environment variable that, when set, is the path of
	// a prebuilt tools/devserver binary to use instead of building one.
	BinaryEnv = "TQROUTER_DEVSERVER_BIN"

	toolDir           = "tools/devserver"
	buildProgressTick = 20 * time.Second
	staleBinaryAge    = 7 * 24 * time.Hour
	keepOtherBinaries = 2
)

// Binary returns the path of the tools/devserver executable, building it on
// first use. The binary is cached as <user cache dir>/tqrouter/devserver-<hash>
// where the hash covers the go.mod, go.sum and non-test .go files of
// tools/devserver (so editing them triggers a rebuild), the Go version and
// the target platform. Concurrent callers, including other processes, wait
// for a single build through a file lock. Progress messages, including a
// periodic "still building" line, are written to progress (os.Stderr if nil).
//
// If the environment variable TQROUTER_DEVSERVER_BIN is set, its value is
// returned without building anything. In a test binary run with -short,
// Binary returns [ErrShort] and builds nothing.
func Binary(ctx context.Context, progress io.Writer) (string, error) {
	if shortTest() {
		return "", ErrShort
	}
	if p := os.Getenv(BinaryEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("devserver: %s=%q: %w", BinaryEnv, p, err)
		}
		return p, nil
	}
	if progress == nil {
		progress = os.Stderr
	}
	srcDir, err := sourceDir()
	if err != nil {
		return "", err
	}
	hash, err := sourceHash(srcDir)
	if err != nil {
		return "", err
	}
	cacheDir, err := cacheDir()
	if err != nil {
		return "", err
	}
	binPath := filepath.Join(cacheDir, "devserver-"+hash)
	if isExecutable(binPath) {
		touch(binPath)
		return binPath, nil
	}

	unlock, err := lockFile(ctx, filepath.Join(cacheDir, "devserver.lock"), progress)
	if err != nil {
		return "", err
	}
	defer unlock()
	// Another process may have built it while we waited for the lock.
	if isExecutable(binPath) {
		touch(binPath)
		return binPath, nil
	}
	if err := build(ctx, srcDir, binPath, progress); err != nil {
		return "", err
	}
	removeStaleBinaries(cacheDir, binPath)
	return binPath, nil
}

// sourceDir locates tools/devserver from this file's own path, falling back
// to searching upwards from the working directory (e.g. under -trimpath).
func sourceDir() (string, error) {
	var candidates []string
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		// file is <root>/internal/devserver/binary.go.
		candidates = append(candidates, filepath.Join(filepath.Dir(file), "..", "..", toolDir))
	}
	if wd, err := os.Getwd(); err == nil {
		for dir := wd; ; dir = filepath.Dir(dir) {
			candidates = append(candidates, filepath.Join(dir, toolDir))
			if filepath.Dir(dir) == dir {
				break
			}
		}
	}
	for _, c := range candidates {
		if _, err := os.Stat(filepath.Join(c, "go.mod")); err == nil {
			return filepath.Clean(c), nil
		}
	}
	return "", fmt.Errorf("devserver: cannot find %s/go.mod (looked in %v); set %s to a prebuilt binary", toolDir, candidates, BinaryEnv)
}

// sourceHash hashes everything that determines the built binary.
func sourceHash(dir string) (string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", fmt.Errorf("devserver: reading %s: %w", dir, err)
	}
	var names []string
	for _, e := range entries {
		n := e.Name()
		if e.Type().IsRegular() && (n == "go.mod" || n == "go.sum" ||
			(strings.HasSuffix(n, ".go") && !strings.HasSuffix(n, "_test.go"))) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	h := sha256.New()
	fmt.Fprintf(h, "%s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			return "", fmt.Errorf("devserver: %w", err)
		}
		fmt.Fprintf(h, "%s %d\n", n, len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

func cacheDir() (string, error) {
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	dir := filepath.Join(base, "tqrouter")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("devserver: creating cache dir: %w", err)
	}
	return dir, nil
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// touch marks a cached binary as recently used (see removeStaleBinaries).
func touch(path string) {
	now := time.Now()
	_ = os.Chtimes(path, now, now)
}

// lockFile takes an exclusive flock on path, polling so ctx can cancel the
// wait. It reports once on progress when it has to wait.
func lockFile(ctx context.Context, path string, progress io.Writer) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("devserver: opening lock file: %w", err)
	}
	waiting := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			_ = f.Close()
			return nil, fmt.Errorf("devserver: locking %s: %w", path, err)
		}
		if !waiting {
			waiting = true
			fmt.Fprintln(progress, "tqrouter: waiting for another process that is building the Temporal dev server...")
		}
		select {
		case <-ctx.Done():
			_ = f.Close()
			return nil, fmt.Errorf("devserver: waiting for build lock: %w", ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		_ = f.Close()
	}, nil
}

func build(ctx context.Context, srcDir, binPath string, progress io.Writer) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("devserver: cannot find the go command to build %s (or set %s): %w", srcDir, BinaryEnv, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(binPath), "devserver-building-*")
	if err != nil {
		return fmt.Errorf("devserver: %w", err)
	}
	tmpPath := tmp.Name()
	_ = tmp.Close()
	defer func() { _ = os.Remove(tmpPath) }()

	fmt.Fprintf(progress, "tqrouter: building the embedded Temporal dev server from %s (first run only: about 5 min on 2 free cores, 2.2 GB of memory; longer on a busy machine)...\n", srcDir)
	start := time.Now()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, goBin, "build", "-ldflags=-s -w", "-o", tmpPath, ".")
	cmd.Dir = srcDir
	cmd.Env = append(os.Environ(), "GOWORK=off")
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("devserver: starting go build: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	ticker := time.NewTicker(buildProgressTick)
	defer ticker.Stop()
	for {
		select {
		case err := <-done:
			elapsed := time.Since(start).Round(time.Second)
			if err != nil {
				if ctx.Err() != nil {
					return fmt.Errorf("devserver: building %s: %w", srcDir, ctx.Err())
				}
				return fmt.Errorf("devserver: go build in %s failed after %v: %w\n%s", srcDir, elapsed, err, out.String())
			}
			if err := os.Chmod(tmpPath, 0o755); err != nil {
				return fmt.Errorf("devserver: %w", err)
			}
			if err := os.Rename(tmpPath, binPath); err != nil {
				return fmt.Errorf("devserver: %w", err)
			}
			fmt.Fprintf(progress, "tqrouter: Temporal dev server built in %v: %s\n", elapsed, binPath)
			return nil
		case <-ticker.C:
			fmt.Fprintf(progress, "tqrouter: still building the Temporal dev server (%v)...\n", time.Since(start).Round(time.Second))
		}
	}
}

// removeStaleBinaries deletes other cached builds beyond the
// keepOtherBinaries most recently used ones or unused for staleBinaryAge
// (other checkouts keep theirs fresh through touch), and temporary files left
// behind by interrupted builds. It runs under the build lock.
func removeStaleBinaries(dir, keep string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	type cached struct {
		path string
		mod  time.Time
	}
	var others []cached
	for _, e := range entries {
		name := e.Name()
		p := filepath.Join(dir, name)
		fi, err := e.Info()
		if p == keep || !strings.HasPrefix(name, "devserver-") || err != nil {
			continue
		}
		switch {
		case strings.HasPrefix(name, "devserver-building-"):
			if time.Since(fi.ModTime()) > time.Hour {
				_ = os.Remove(p)
			}
		case time.Since(fi.ModTime()) > staleBinaryAge:
			_ = os.Remove(p)
		default:
			others = append(others, cached{p, fi.ModTime()})
		}
	}
	slices.SortFunc(others, func(a, b cached) int { return b.mod.Compare(a.mod) })
	for i, c := range others {
		if i >= keepOtherBinaries {
			_ = os.Remove(c.path)
		}
	}
}
