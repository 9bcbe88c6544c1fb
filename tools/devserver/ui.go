package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uiserveroptions "github.com/temporalio/ui-server/v2/server/server_options"
)

// uiReadyTimeout bounds the wait for the Web UI to answer after its start.
const uiReadyTimeout = 10 * time.Second

// webUI is the Temporal Web UI (github.com/temporalio/ui-server/v2, the UI
// the Temporal CLI's `server start-dev` embeds) serving on addr and talking
// to the frontend at frontend.
type webUI struct {
	srv  *uiserver.Server
	addr string
	// errc receives the result of the server's Start, which blocks until Stop.
	errc chan error
}

// startUI starts the Web UI on ip:port for the frontend gRPC address
// frontend and returns once it answers HTTP requests. The UI has no outbound
// calls (no news fetch, no version check) and no write restrictions, like
// the CLI's dev server.
func startUI(opts *options, frontend string) (*webUI, error) {
	ip := opts.uiListenIP()
	// ui-server exits the process (echo's Logger.Fatal) when it cannot
	// listen; check first so a busy port is an error message instead.
	if err := checkPortFree("UI", ip, opts.uiPort); err != nil {
		return nil, err
	}
	u := &webUI{
		addr: net.JoinHostPort(ip, strconv.Itoa(opts.uiPort)),
		errc: make(chan error, 1),
	}
	// ui-server listens on Host:Port, formatted with %s:%d.
	host := ip
	if net.ParseIP(ip).To4() == nil {
		host = "[" + ip + "]"
	}
	u.srv = uiserver.NewServer(uiserveroptions.WithConfigProvider(&uiconfig.Config{
		Host:                host,
		Port:                opts.uiPort,
		TemporalGRPCAddress: frontend,
		EnableUI:            true,
		PublicPath:          opts.uiPublicPath,
		UIAssetPath:         opts.uiAssetPath,
		Codec:               uiconfig.Codec{Endpoint: opts.uiCodecEndpoint},
		CORS:                uiconfig.CORS{CookieInsecure: true},
		HideLogs:            true,
		DisableNewsFetch:    true,
	}))
	go func() { u.errc <- u.srv.Start() }()
	if err := u.waitReady("http://" + net.JoinHostPort(dialIP(ip), strconv.Itoa(opts.uiPort)) + opts.uiPublicPath + "/healthz"); err != nil {
		u.stop()
		return nil, err
	}
	return u, nil
}

// uiListenIP returns the address the Web UI binds to: --ui-ip, else --ip.
func (o *options) uiListenIP() string {
	if o.uiIP != "" {
		return o.uiIP
	}
	return o.ip
}

// waitReady polls the UI's health route at url until it answers.
func (u *webUI) waitReady(url string) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(uiReadyTimeout)
	for {
		resp, err := client.Get(url)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		select {
		case startErr := <-u.errc:
			if startErr == nil {
				startErr = errors.New("stopped")
			}
			return fmt.Errorf("web UI on %s: %w", u.addr, startErr)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("web UI on %s not ready within %v: %w", u.addr, uiReadyTimeout, err)
		}
	}
}

func (u *webUI) stop() {
	u.srv.Stop()
}
