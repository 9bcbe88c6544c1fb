// Package connect turns the Temporal CLI's connection settings into the
// SDK's [client.Options], so that the tqrouter command and the demo reach
// the same server the "temporal" command does: the flags --address,
// --namespace, --profile, --config-file, --api-key, --tls, --tls-cert-path,
// --tls-key-path, --tls-ca-path and --tls-server-name; the environment
// variables TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY,
// TEMPORAL_TLS* and TEMPORAL_PROFILE; and a profile of the Temporal config
// file (TEMPORAL_CONFIG_FILE, else the user's temporalio/temporal.toml),
// read by go.temporal.io/sdk/contrib/envconfig.
//
// The precedence is the CLI's: a flag given on the command line wins over
// the environment, which wins over the profile, which wins over the
// defaults (127.0.0.1:7233, namespace "default", no TLS). An API key, or
// any TLS setting, turns TLS on unless --tls=false turns it off.
package connect

import (
	"errors"
	"flag"
	"fmt"
	"strconv"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"
)

// Defaults when no flag, environment variable or profile gives a value.
const (
	DefaultAddress   = "127.0.0.1:7233"
	DefaultNamespace = "default"
)

// ErrConfig is returned, wrapped with the reason, by [Flags.ClientOptions]
// when the settings cannot be used: a profile that was named but is not in
// the config file, a config file that cannot be read or parsed, a client
// certificate without its key, a certificate or CA file that cannot be
// loaded.
var ErrConfig = errors.New("tqrouter: invalid Temporal connection settings")

// Flags are the connection settings given on a command line, named as the
// Temporal CLI names them. An empty string, or a nil TLS, means the flag
// was not given: the environment, the profile or the default decide. The
// zero Flags takes everything from them.
type Flags struct {
	// Address is the frontend's host:port (--address).
	Address string
	// Namespace is the Temporal namespace (--namespace).
	Namespace string
	// Profile names the profile of the config file (--profile; else
	// TEMPORAL_PROFILE, else "default"). A profile that is named and
	// missing is an error; the "default" profile may be missing.
	Profile string
	// ConfigFile is the config file's path (--config-file; else
	// TEMPORAL_CONFIG_FILE, else [envconfig.DefaultConfigFilePath]). A
	// file that does not exist is no error: it holds no profile.
	ConfigFile string
	// APIKey authenticates with an API key (--api-key), as Temporal Cloud
	// does; it turns TLS on unless TLS is false.
	APIKey string
	// TLS, if not nil, turns TLS on or off (--tls, --tls=false). Off wins
	// over every other TLS setting and over an API key's TLS.
	TLS *bool
	// TLSCertPath and TLSKeyPath are the client certificate and its key
	// for mTLS (--tls-cert-path, --tls-key-path); one needs the other.
	TLSCertPath, TLSKeyPath string
	// TLSCAPath is the CA certificate that the server's certificate must
	// chain to (--tls-ca-path), instead of the system's roots.
	TLSCAPath string
	// TLSServerName is the name the server's certificate must carry
	// (--tls-server-name), instead of the address's host.
	TLSServerName string
}

// Register adds the connection flags to fs, with the Temporal CLI's names.
func (f *Flags) Register(fs *flag.FlagSet) {
	fs.StringVar(&f.Address, "address", "", "Temporal frontend `host:port` (default: $TEMPORAL_ADDRESS, the profile's, else "+DefaultAddress+")")
	fs.StringVar(&f.Namespace, "namespace", "", "Temporal `namespace` (default: $TEMPORAL_NAMESPACE, the profile's, else \""+DefaultNamespace+"\")")
	fs.StringVar(&f.Profile, "profile", "", "`profile` of the Temporal config file (default: $TEMPORAL_PROFILE, else \"default\")")
	fs.StringVar(&f.ConfigFile, "config-file", "", "Temporal config file (TOML) `path` (default: $TEMPORAL_CONFIG_FILE, else the user's temporalio/temporal.toml)")
	fs.StringVar(&f.APIKey, "api-key", "", "API `key` for the server (turns TLS on; default: $TEMPORAL_API_KEY, the profile's)")
	fs.Var(tlsFlag{&f.TLS}, "tls", "connect with TLS (on by default with an API key or any TLS setting; --tls=false turns it off)")
	fs.StringVar(&f.TLSCertPath, "tls-cert-path", "", "client certificate `path` for mTLS (turns TLS on)")
	fs.StringVar(&f.TLSKeyPath, "tls-key-path", "", "client certificate's private key `path` for mTLS (turns TLS on)")
	fs.StringVar(&f.TLSCAPath, "tls-ca-path", "", "server CA certificate `path` (turns TLS on; default: the system's roots)")
	fs.StringVar(&f.TLSServerName, "tls-server-name", "", "the `name` the server's certificate must have (turns TLS on)")
}

// tlsFlag is a boolean flag that remembers whether it was given.
type tlsFlag struct{ p **bool }

func (t tlsFlag) String() string {
	if t.p == nil || *t.p == nil {
		return ""
	}
	return strconv.FormatBool(**t.p)
}

func (t tlsFlag) Set(v string) error {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return fmt.Errorf("want true or false, got %q", v)
	}
	*t.p = &b
	return nil
}

func (t tlsFlag) IsBoolFlag() bool { return true }

// ClientOptions returns the client options f, the environment and the
// profile give, with the CLI's precedence (see the package documentation);
// env nil means the process's environment, and a variable set to "" counts
// as unset. The options have HostPort and
// Namespace set; TLS, credentials, gRPC metadata and the authority come
// from the settings. Certificate files are read now: an error wraps
// [ErrConfig].
func (f Flags) ClientOptions(env envconfig.EnvLookup) (client.Options, error) {
	opts, _, err := f.options(env)
	return opts, err
}

// ExistingServer is [Flags.ClientOptions] for a program that can start a
// server of its own, as the demo does: named is false when neither a
// flag, the environment nor a profile gives an address, and the caller may
// then start a server instead of dialing [DefaultAddress].
func (f Flags) ExistingServer(env envconfig.EnvLookup) (opts client.Options, named bool, err error) {
	return f.options(env)
}

func (f Flags) options(env envconfig.EnvLookup) (client.Options, bool, error) {
	if env == nil {
		env = envconfig.EnvLookupOS
	}
	env = setOnly{env}
	prof, err := envconfig.LoadClientConfigProfile(envconfig.LoadClientConfigProfileOptions{
		ConfigFilePath:    f.ConfigFile,
		ConfigFileProfile: f.Profile,
		EnvLookup:         env,
	})
	if err != nil {
		return client.Options{}, false, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	f.applyTo(&prof)
	named := prof.Address != ""
	if !named {
		prof.Address = DefaultAddress
	}
	if prof.Namespace == "" {
		prof.Namespace = DefaultNamespace
	}
	opts, err := prof.ToClientOptions(envconfig.ToClientOptionsRequest{})
	if err != nil {
		return client.Options{}, false, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	return opts, named, nil
}

// setOnly hides the environment variables that are set to the empty
// string: envconfig v1.0.2 documents that a variable must be set and
// non-empty to override the profile, but lets TEMPORAL_ADDRESS="" blank
// the profile's address.
type setOnly struct{ envconfig.EnvLookup }

func (e setOnly) LookupEnv(key string) (string, bool) {
	v, ok := e.EnvLookup.LookupEnv(key)
	return v, ok && v != ""
}

// applyTo lays the flags that were given over prof, as the Temporal CLI
// does (temporalcli's dialClient).
func (f Flags) applyTo(prof *envconfig.ClientConfigProfile) {
	if f.Address != "" {
		prof.Address = f.Address
	}
	if f.Namespace != "" {
		prof.Namespace = f.Namespace
	}
	if f.APIKey != "" {
		prof.APIKey = f.APIKey
	}
	tlsOn := f.TLS != nil && *f.TLS
	if tlsOn || f.TLSCertPath != "" || f.TLSKeyPath != "" || f.TLSCAPath != "" || f.TLSServerName != "" {
		if prof.TLS == nil {
			prof.TLS = &envconfig.ClientConfigTLS{}
		}
		// --tls turns TLS on even if the profile or TEMPORAL_TLS=false
		// turned it off.
		prof.TLS.Disabled = false
		// A path given replaces the profile's, given as a path or as data.
		if f.TLSCertPath != "" {
			prof.TLS.ClientCertData, prof.TLS.ClientCertPath = nil, f.TLSCertPath
		}
		if f.TLSKeyPath != "" {
			prof.TLS.ClientKeyData, prof.TLS.ClientKeyPath = nil, f.TLSKeyPath
		}
		if f.TLSCAPath != "" {
			prof.TLS.ServerCACertData = nil
			prof.TLS.ServerCACertPath = f.TLSCAPath
		}
		if f.TLSServerName != "" {
			prof.TLS.ServerName = f.TLSServerName
		}
	}
	if f.TLS != nil && !*f.TLS {
		prof.TLS = &envconfig.ClientConfigTLS{Disabled: true}
	}
}
