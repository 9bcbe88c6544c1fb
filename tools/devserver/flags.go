package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"
)

// options is the parsed command line.
type options struct {
	ip            string
	port          int
	httpPort      int
	metricsPort   int
	namespaces    []string
	dynamicConfig map[string]any
	// dynamicConfigFile is a dynamic config YAML file (see dynamicConfig).
	dynamicConfigFile string
	logLevel          string
	logFormat         string
	dbFile            string
	pragmas           map[string]string
	searchAttrs       map[string]enumspb.IndexedValueType
	headless          bool
	// The Web UI runs when uiPort > 0 and not headless.
	uiPort          int
	uiIP            string
	uiPublicPath    string
	uiAssetPath     string
	uiCodecEndpoint string
	parentPID       int
	pidFile         string
	help            bool
	// ignored lists the flags that were accepted but have no effect.
	ignored []string
}

type flagKind int

const (
	valueFlag flagKind = iota
	boolFlag
	ignoredValueFlag
	ignoredBoolFlag
)

// knownFlags maps every flag name (without dashes) this program understands to
// its kind. It covers the flags of `temporal server start-dev` and the global
// flags of the Temporal CLI so a command line written for the real CLI (such as
// the one the Go SDK's testsuite.StartDevServer builds) never fails.
func knownFlags() map[string]flagKind {
	return map[string]flagKind{
		"ip":                   valueFlag,
		"port":                 valueFlag,
		"p":                    valueFlag,
		"http-port":            valueFlag,
		"metrics-port":         valueFlag,
		"namespace":            valueFlag,
		"n":                    valueFlag,
		"dynamic-config-value": valueFlag,
		"dynamic-config-file":  valueFlag,
		"log-level":            valueFlag,
		"log-format":           valueFlag,
		"db-filename":          valueFlag,
		"f":                    valueFlag,
		"sqlite-pragma":        valueFlag,
		"search-attribute":     valueFlag,
		"headless":             boolFlag,
		"ui-port":              valueFlag,
		"ui-ip":                valueFlag,
		"ui-public-path":       valueFlag,
		"ui-asset-path":        valueFlag,
		"ui-codec-endpoint":    valueFlag,
		"parent-pid":           valueFlag,
		"pid-file":             valueFlag,
		"help":                 boolFlag,
		"h":                    boolFlag,

		// Accepted for compatibility, no effect. The UI never fetches news.
		"ui-disable-news-fetch":      ignoredBoolFlag,
		"log-config":                 ignoredBoolFlag,
		"env":                        ignoredValueFlag,
		"env-file":                   ignoredValueFlag,
		"config-file":                ignoredValueFlag,
		"profile":                    ignoredValueFlag,
		"disable-config-file":        ignoredBoolFlag,
		"disable-config-env":         ignoredBoolFlag,
		"time-format":                ignoredValueFlag,
		"color":                      ignoredValueFlag,
		"output":                     ignoredValueFlag,
		"o":                          ignoredValueFlag,
		"no-json-shorthand-payloads": ignoredBoolFlag,
		"command-timeout":            ignoredValueFlag,
		"client-connect-timeout":     ignoredValueFlag,
	}
}

// parseArgs parses a `server start-dev [flags]` command line. Leading
// "server" and "start-dev" words are optional. Unknown flags are accepted and
// recorded in options.ignored rather than rejected.
func parseArgs(args []string) (*options, error) {
	o := &options{
		ip:            "127.0.0.1",
		port:          7233,
		logLevel:      "warn",
		logFormat:     "pretty",
		dynamicConfig: map[string]any{},
		pragmas:       map[string]string{},
		searchAttrs:   map[string]enumspb.IndexedValueType{},
	}
	flags := knownFlags()
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			if rest := args[i+1:]; len(rest) > 0 {
				o.ignored = append(o.ignored, strings.Join(rest, " "))
			}
			break
		}
		if !strings.HasPrefix(arg, "-") || arg == "-" {
			if arg == "server" || arg == "start-dev" {
				continue
			}
			o.ignored = append(o.ignored, arg)
			continue
		}
		name := strings.TrimLeft(arg, "-")
		value, hasValue := "", false
		if eq := strings.IndexByte(name, '='); eq >= 0 {
			name, value, hasValue = name[:eq], name[eq+1:], true
		}
		kind, known := flags[name]
		if !known {
			// Unknown flag: swallow a following value if it does not look like a flag.
			if !hasValue && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") &&
				args[i+1] != "server" && args[i+1] != "start-dev" {
				i++
				arg += " " + args[i]
			}
			o.ignored = append(o.ignored, arg)
			continue
		}
		switch kind {
		case boolFlag, ignoredBoolFlag:
			b := true
			if hasValue {
				var err error
				if b, err = strconv.ParseBool(value); err != nil {
					return nil, fmt.Errorf("invalid value %q for --%s: %w", value, name, err)
				}
			}
			if kind == ignoredBoolFlag {
				o.ignored = append(o.ignored, arg)
				continue
			}
			switch name {
			case "headless":
				o.headless = b
			case "help", "h":
				o.help = b
			}
			continue
		}
		if !hasValue {
			if i+1 >= len(args) {
				return nil, fmt.Errorf("flag --%s needs a value", name)
			}
			i++
			value = args[i]
		}
		if kind == ignoredValueFlag {
			o.ignored = append(o.ignored, "--"+name+"="+value)
			continue
		}
		if err := o.set(name, value); err != nil {
			return nil, err
		}
	}
	if len(o.namespaces) == 0 || !contains(o.namespaces, "default") {
		o.namespaces = append([]string{"default"}, o.namespaces...)
	}
	return o, nil
}

func (o *options) set(name, value string) error {
	var err error
	switch name {
	case "ip":
		if value == "localhost" {
			value = "127.0.0.1"
		}
		if net.ParseIP(value) == nil {
			return fmt.Errorf("invalid --ip %q: must be an IP address", value)
		}
		o.ip = value
	case "port", "p":
		o.port, err = parsePort(name, value, false)
	case "http-port":
		o.httpPort, err = parsePort(name, value, true)
	case "metrics-port":
		o.metricsPort, err = parsePort(name, value, true)
	case "ui-port":
		o.uiPort, err = parsePort(name, value, true)
	case "ui-ip":
		if value == "localhost" {
			value = "127.0.0.1"
		}
		if net.ParseIP(value) == nil {
			return fmt.Errorf("invalid --ui-ip %q: must be an IP address", value)
		}
		o.uiIP = value
	case "ui-public-path":
		if value != "" && (!strings.HasPrefix(value, "/") || strings.HasSuffix(value, "/")) {
			return fmt.Errorf("invalid --ui-public-path %q: must start and not end with /", value)
		}
		o.uiPublicPath = value
	case "ui-asset-path":
		o.uiAssetPath = value
	case "ui-codec-endpoint":
		o.uiCodecEndpoint = value
	case "namespace", "n":
		if value == "" {
			return errors.New("--namespace must not be empty")
		}
		if !contains(o.namespaces, value) {
			o.namespaces = append(o.namespaces, value)
		}
	case "dynamic-config-value":
		k, v, err := parseDynamicConfigValue(value)
		if err != nil {
			return err
		}
		o.dynamicConfig[k] = v
	case "dynamic-config-file":
		if value == "" {
			return errors.New("--dynamic-config-file must not be empty")
		}
		o.dynamicConfigFile = value
	case "log-level":
		o.logLevel = strings.ToLower(value)
		switch o.logLevel {
		case "debug", "info", "warn", "error", "never", "none", "off":
		default:
			return fmt.Errorf("invalid --log-level %q: use debug, info, warn, error or never", value)
		}
	case "log-format":
		o.logFormat = strings.ToLower(value)
	case "db-filename", "f":
		o.dbFile = value
	case "sqlite-pragma":
		k, v, ok := strings.Cut(value, "=")
		if !ok || k == "" {
			return fmt.Errorf("invalid --sqlite-pragma %q: want NAME=VALUE", value)
		}
		o.pragmas[k] = v
	case "search-attribute":
		k, v, ok := strings.Cut(value, "=")
		if !ok || k == "" {
			return fmt.Errorf("invalid --search-attribute %q: want NAME=TYPE", value)
		}
		t, err := parseIndexedValueType(v)
		if err != nil {
			return err
		}
		o.searchAttrs[k] = t
	case "parent-pid":
		if o.parentPID, err = strconv.Atoi(value); err != nil || o.parentPID <= 0 {
			return fmt.Errorf("invalid --parent-pid %q", value)
		}
	case "pid-file":
		o.pidFile = value
	}
	return err
}

// pidFileFromArgs finds the --pid-file value without parsing anything else.
func pidFileFromArgs(args []string) string {
	for i, a := range args {
		switch {
		case a == "--pid-file" || a == "-pid-file":
			if i+1 < len(args) {
				return args[i+1]
			}
		case strings.HasPrefix(a, "--pid-file="):
			return strings.TrimPrefix(a, "--pid-file=")
		case strings.HasPrefix(a, "-pid-file="):
			return strings.TrimPrefix(a, "-pid-file=")
		}
	}
	return ""
}

func parsePort(name, value string, zeroOK bool) (int, error) {
	p, err := strconv.Atoi(value)
	if err != nil || p < 0 || p > 65535 || (p == 0 && !zeroOK) {
		return 0, fmt.Errorf("invalid --%s %q: must be a TCP port number", name, value)
	}
	return p, nil
}

// parseDynamicConfigValue parses KEY=JSON. JSON integers become int (the only
// integer type the server's dynamic config converters accept), other numbers
// float64.
func parseDynamicConfigValue(s string) (string, any, error) {
	k, raw, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return "", nil, fmt.Errorf("invalid --dynamic-config-value %q: want KEY=JSON_VALUE", s)
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(raw)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || dec.More() {
		return "", nil, fmt.Errorf("invalid --dynamic-config-value %q: value must be JSON (strings need quotes, e.g. %s='\"text\"')", s, k)
	}
	v, err := normalizeNumbers(v)
	if err != nil {
		return "", nil, fmt.Errorf("invalid --dynamic-config-value %q: %w", s, err)
	}
	return k, v, nil
}

func normalizeNumbers(v any) (any, error) {
	switch t := v.(type) {
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return int(i), nil
		}
		f, err := t.Float64()
		if err != nil {
			return nil, fmt.Errorf("bad number %q", t)
		}
		return f, nil
	case []any:
		for i := range t {
			n, err := normalizeNumbers(t[i])
			if err != nil {
				return nil, err
			}
			t[i] = n
		}
	case map[string]any:
		for k := range t {
			n, err := normalizeNumbers(t[k])
			if err != nil {
				return nil, err
			}
			t[k] = n
		}
	}
	return v, nil
}

func parseIndexedValueType(s string) (enumspb.IndexedValueType, error) {
	for name, v := range enumspb.IndexedValueType_shorthandValue {
		if strings.EqualFold(s, name) {
			return enumspb.IndexedValueType(v), nil
		}
	}
	if v, ok := enumspb.IndexedValueType_value[s]; ok && v != 0 {
		return enumspb.IndexedValueType(v), nil
	}
	return 0, fmt.Errorf("invalid search attribute type %q", s)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

const usage = `Usage: devserver [server start-dev] [flags]

A self-contained Temporal development server (in-memory SQLite, all services
in one process), command-line compatible with "temporal server start-dev".

Flags:
  --ip IP                       address every listener binds to (default 127.0.0.1)
  --port, -p N                  frontend gRPC port (default 7233)
  --http-port N                 frontend HTTP port (default: a free port)
  --metrics-port N              Prometheus metrics port (default: no metrics)
  --namespace, -n NS            namespace to create, repeatable ("default" is always created)
  --dynamic-config-value K=JSON dynamic config value, repeatable (e.g. matching.enableFairness=true)
  --dynamic-config-file FILE    dynamic config YAML in the Temporal server's format, with
                                constraints (taskQueueName, namespace, taskType); its constrained
                                entries apply where they match, --dynamic-config-value and the
                                file's unconstrained entries everywhere else; read once at start
  --log-level LEVEL             debug, info, warn (default), error or never
  --log-format FORMAT           pretty (default) or json
  --db-filename, -f FILE        persist to this SQLite file instead of memory
  --sqlite-pragma K=V           SQLite pragma, repeatable
  --search-attribute NAME=TYPE  custom search attribute, repeatable
  --ui-port N                   serve the Temporal Web UI on this port (default: no UI)
  --ui-ip IP                    address the Web UI binds to (default: --ip)
  --ui-public-path PATH         path prefix of the Web UI, e.g. /temporal (default: none)
  --ui-asset-path DIR           serve the UI's assets from DIR instead of the built-in ones
  --ui-codec-endpoint URL       remote codec endpoint the Web UI decodes payloads with
  --headless                    no Web UI, even with --ui-port
  --parent-pid PID              exit when this process is no longer our parent
  --pid-file FILE               write our PID to FILE while running
Other flags of the Temporal CLI are accepted and ignored.
`
