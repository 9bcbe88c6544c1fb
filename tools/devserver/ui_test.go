package main

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestWebUI serves the Web UI for an in-process server and reads, through
// the UI's own HTTP API, the namespaces the frontend has: the UI reaches the
// frontend it was given.
func TestWebUI(t *testing.T) {
	opts := startTestServer(t, "--ui-public-path", "/temporal")
	var err error
	opts.uiPort, err = freePort(opts.ip)
	require.NoError(t, err)
	ui, err := startUI(opts, net.JoinHostPort(opts.ip, strconv.Itoa(opts.port)))
	require.NoError(t, err)
	t.Cleanup(ui.stop)
	require.Equal(t, net.JoinHostPort(opts.ip, strconv.Itoa(opts.uiPort)), ui.addr)

	base := "http://" + ui.addr + "/temporal"
	client := &http.Client{Timeout: 10 * time.Second}
	get := func(path string) (int, string) {
		resp, err := client.Get(base + path)
		require.NoError(t, err)
		defer func() { _ = resp.Body.Close() }()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(body)
	}

	status, page := get("/namespaces/default/workflows")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, page, "<html")

	status, body := get("/api/v1/namespaces/default")
	require.Equal(t, http.StatusOK, status, body)
	var ns struct {
		NamespaceInfo struct{ Name string } `json:"namespaceInfo"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &ns), body)
	require.Equal(t, "default", ns.NamespaceInfo.Name)

	status, body = get("/api/v1/settings")
	require.Equal(t, http.StatusOK, status, body)
	require.Contains(t, body, `"DisableNewsFetch":true`)
}

func TestWebUIBusyPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer func() { _ = l.Close() }()
	opts, err := parseArgs([]string{"--ip", "127.0.0.1", "--ui-port", strconv.Itoa(l.Addr().(*net.TCPAddr).Port)})
	require.NoError(t, err)
	_, err = startUI(opts, "127.0.0.1:7233")
	require.ErrorContains(t, err, "UI port")
}
