package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseArgsSDKCommandLine(t *testing.T) {
	// The command line testsuite.StartDevServer (sdk v1.51.0) builds.
	o, err := parseArgs([]string{
		"server", "start-dev",
		"--ip", "127.3.4.5", "--port", "7233",
		"--namespace", "ns1",
		"--dynamic-config-value", "frontend.enableServerVersionCheck=false",
		"--log-level", "never", "--log-format", "json", "--headless",
		"--db-filename", "/tmp/x.db", "--ui-disable-news-fetch",
		"--search-attribute", "Customer=keyword",
		"--dynamic-config-value", `matching.numTaskqueueReadPartitions=1`,
		"--dynamic-config-value", `some.float=1.5`,
		"--dynamic-config-value", `some.string="abc"`,
		"--dynamic-config-file", "/etc/dc.yaml",
		"--unknown-flag", "value", "--other=1", "--bool-unknown",
		"--parent-pid", "42", "--pid-file", "/tmp/pid",
	})
	require.NoError(t, err)
	require.Equal(t, "127.3.4.5", o.ip)
	require.Equal(t, 7233, o.port)
	require.True(t, o.headless)
	require.Equal(t, "never", o.logLevel)
	require.Equal(t, "json", o.logFormat)
	require.Equal(t, "/tmp/x.db", o.dbFile)
	require.Equal(t, 42, o.parentPID)
	require.Equal(t, "/tmp/pid", o.pidFile)
	require.Equal(t, "/etc/dc.yaml", o.dynamicConfigFile)
	require.Equal(t, []string{"default", "ns1"}, o.namespaces)
	require.Equal(t, map[string]any{
		"frontend.enableServerVersionCheck":   false,
		"matching.numTaskqueueReadPartitions": 1,
		"some.float":                          1.5,
		"some.string":                         "abc",
	}, o.dynamicConfig)
	require.Len(t, o.searchAttrs, 1)
	require.Equal(t, []string{"--ui-disable-news-fetch", "--unknown-flag value", "--other=1", "--bool-unknown"}, o.ignored)
}

func TestParseArgsErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--port", "x"},
		{"--ip", "not-an-ip"},
		{"--dynamic-config-value", "k=unquoted"},
		{"--dynamic-config-value", "novalue"},
		{"--dynamic-config-file", ""},
		{"--dynamic-config-file"},
		{"--log-level", "loud"},
		{"--port"},
	} {
		_, err := parseArgs(args)
		require.Error(t, err, "parseArgs(%q)", args)
	}
}

func TestPidFileFromArgs(t *testing.T) {
	require.Equal(t, "/a", pidFileFromArgs([]string{"--bad", "--pid-file", "/a"}))
	require.Equal(t, "/b", pidFileFromArgs([]string{"--pid-file=/b"}))
}

func TestParseArgsUI(t *testing.T) {
	o, err := parseArgs([]string{"--ip", "127.0.0.2", "--ui-port", "8233", "--ui-ip", "localhost",
		"--ui-public-path", "/temporal", "--ui-codec-endpoint", "http://codec", "--ui-disable-news-fetch"})
	require.NoError(t, err)
	require.Equal(t, 8233, o.uiPort)
	require.Equal(t, "127.0.0.1", o.uiIP)
	require.Equal(t, "/temporal", o.uiPublicPath)
	require.Equal(t, "http://codec", o.uiCodecEndpoint)
	require.False(t, o.headless)

	// The SDK's testsuite.StartDevServer passes --headless unless EnableUI.
	o, err = parseArgs([]string{"--headless", "--ui-port", "8233"})
	require.NoError(t, err)
	require.True(t, o.headless)

	for _, args := range [][]string{
		{"--ui-port", "x"},
		{"--ui-ip", "host"},
		{"--ui-public-path", "temporal"},
		{"--ui-public-path", "/temporal/"},
	} {
		_, err := parseArgs(args)
		require.Error(t, err, "parseArgs(%q)", args)
	}
}
