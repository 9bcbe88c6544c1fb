package main

import (
	"reflect"
	"testing"
)

func TestParseArgsSDKCommandLine(t *testing.T) {
	// The command line testsuite.StartDevServer (sdk v1.51.0) builds.
	o, err := parseArgs([]string{
		"server", "start-dev",
		"--ip", "127.3.4.5", "--port", "7233",
		"--namespace", "ns1",
		"--dynamic-config-value", "frontend.enableServerVersionCheck=false",
		"--log-level", "never", "--log-format", "json", "--headless",
		"--db-filename", "/tmp/x.db", "--ui-port", "8233",
		"--search-attribute", "Customer=keyword",
		"--dynamic-config-value", `matching.numTaskqueueReadPartitions=1`,
		"--dynamic-config-value", `some.float=1.5`,
		"--dynamic-config-value", `some.string="abc"`,
		"--unknown-flag", "value", "--other=1", "--bool-unknown",
		"--parent-pid", "42", "--pid-file", "/tmp/pid",
	})
	if err != nil {
		t.Fatal(err)
	}
	if o.ip != "127.3.4.5" || o.port != 7233 || !o.headless || o.logLevel != "never" ||
		o.dbFile != "/tmp/x.db" || o.parentPID != 42 || o.pidFile != "/tmp/pid" || o.logFormat != "json" {
		t.Fatalf("unexpected options: %+v", o)
	}
	if want := []string{"default", "ns1"}; !reflect.DeepEqual(o.namespaces, want) {
		t.Fatalf("namespaces = %v, want %v", o.namespaces, want)
	}
	wantDC := map[string]any{
		"frontend.enableServerVersionCheck":   false,
		"matching.numTaskqueueReadPartitions": 1,
		"some.float":                          1.5,
		"some.string":                         "abc",
	}
	if !reflect.DeepEqual(o.dynamicConfig, wantDC) {
		t.Fatalf("dynamic config = %#v, want %#v", o.dynamicConfig, wantDC)
	}
	if len(o.searchAttrs) != 1 {
		t.Fatalf("search attributes = %v", o.searchAttrs)
	}
	if want := []string{"--ui-port=8233", "--unknown-flag value", "--other=1", "--bool-unknown"}; !reflect.DeepEqual(o.ignored, want) {
		t.Fatalf("ignored = %q, want %q", o.ignored, want)
	}
}

func TestParseArgsErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--port", "x"},
		{"--ip", "not-an-ip"},
		{"--dynamic-config-value", "k=unquoted"},
		{"--dynamic-config-value", "novalue"},
		{"--log-level", "loud"},
		{"--port"},
	} {
		if _, err := parseArgs(args); err == nil {
			t.Errorf("parseArgs(%q) succeeded, want error", args)
		}
	}
}

func TestPidFileFromArgs(t *testing.T) {
	if got := pidFileFromArgs([]string{"--bad", "--pid-file", "/a"}); got != "/a" {
		t.Fatalf("got %q", got)
	}
	if got := pidFileFromArgs([]string{"--pid-file=/b"}); got != "/b" {
		t.Fatalf("got %q", got)
	}
}
