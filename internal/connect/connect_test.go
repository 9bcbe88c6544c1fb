package connect

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
)

// env is a fake environment.
type env map[string]string

func (e env) Environ() []string {
	var out []string
	for k, v := range e {
		out = append(out, k+"="+v)
	}
	return out
}

func (e env) LookupEnv(k string) (string, bool) { v, ok := e[k]; return v, ok }

// writeConfig writes a Temporal config file and returns its path.
func writeConfig(t *testing.T, toml string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "temporal.toml")
	require.NoError(t, os.WriteFile(p, []byte(toml), 0o600))
	return p
}

const twoProfiles = `
[profile.default]
address = "default.example:7233"
namespace = "default-ns"

[profile.prod]
address = "prod.example:7233"
namespace = "prod-ns"
api_key = "prod-key"
`

// parse registers the flags on a new flag set and parses args.
func parse(t *testing.T, args ...string) Flags {
	t.Helper()
	var f Flags
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	f.Register(fs)
	require.NoError(t, fs.Parse(args))
	return f
}

// TestPrecedence: a flag wins over the environment, which wins over the
// profile, which wins over the defaults; the profile comes from --profile,
// else TEMPORAL_PROFILE, from --config-file, else TEMPORAL_CONFIG_FILE.
func TestPrecedence(t *testing.T) {
	file := writeConfig(t, twoProfiles)
	tests := []struct {
		name          string
		args          []string
		env           env
		address, ns   string
		tls, apiKey   bool
		wantErrSubstr string
	}{
		{name: "defaults", env: env{"TEMPORAL_CONFIG_FILE": "/nonexistent/temporal.toml"}, address: DefaultAddress, ns: DefaultNamespace},
		{name: "default profile of the file", env: env{"TEMPORAL_CONFIG_FILE": file}, address: "default.example:7233", ns: "default-ns"},
		{name: "TEMPORAL_PROFILE", env: env{"TEMPORAL_CONFIG_FILE": file, "TEMPORAL_PROFILE": "prod"}, address: "prod.example:7233", ns: "prod-ns", tls: true, apiKey: true},
		{name: "--profile over TEMPORAL_PROFILE", args: []string{"--profile", "default"}, env: env{"TEMPORAL_CONFIG_FILE": file, "TEMPORAL_PROFILE": "prod"}, address: "default.example:7233", ns: "default-ns"},
		{name: "--config-file over TEMPORAL_CONFIG_FILE", args: []string{"--config-file", file, "--profile", "prod"}, env: env{"TEMPORAL_CONFIG_FILE": "/nonexistent"}, address: "prod.example:7233", ns: "prod-ns", tls: true, apiKey: true},
		{name: "env over profile", env: env{"TEMPORAL_CONFIG_FILE": file, "TEMPORAL_PROFILE": "prod", "TEMPORAL_ADDRESS": "env.example:7233", "TEMPORAL_NAMESPACE": "env-ns"}, address: "env.example:7233", ns: "env-ns", tls: true, apiKey: true},
		{name: "flags over env and profile", args: []string{"--address", "flag.example:7233", "--namespace", "flag-ns", "--profile", "prod"}, env: env{"TEMPORAL_CONFIG_FILE": file, "TEMPORAL_ADDRESS": "env.example:7233", "TEMPORAL_NAMESPACE": "env-ns"}, address: "flag.example:7233", ns: "flag-ns", tls: true, apiKey: true},
		{name: "--tls=false turns the API key's TLS off", args: []string{"--profile", "prod", "--tls=false"}, env: env{"TEMPORAL_CONFIG_FILE": file}, address: "prod.example:7233", ns: "prod-ns", apiKey: true},
		{name: "--api-key turns TLS on", args: []string{"--api-key", "k"}, env: env{"TEMPORAL_CONFIG_FILE": file}, address: "default.example:7233", ns: "default-ns", tls: true, apiKey: true},
		{name: "TEMPORAL_API_KEY", env: env{"TEMPORAL_CONFIG_FILE": file, "TEMPORAL_API_KEY": "k"}, address: "default.example:7233", ns: "default-ns", tls: true, apiKey: true},
		{name: "--tls over TEMPORAL_TLS=false", args: []string{"--tls"}, env: env{"TEMPORAL_CONFIG_FILE": file, "TEMPORAL_TLS": "false"}, address: "default.example:7233", ns: "default-ns", tls: true},
		{name: "an empty variable is unset", env: env{"TEMPORAL_CONFIG_FILE": file, "TEMPORAL_ADDRESS": "", "TEMPORAL_NAMESPACE": ""}, address: "default.example:7233", ns: "default-ns"},
		{name: "a named profile that is missing", args: []string{"--profile", "staging"}, env: env{"TEMPORAL_CONFIG_FILE": file}, wantErrSubstr: "unable to find profile staging"},
		{name: "TEMPORAL_PROFILE missing", env: env{"TEMPORAL_CONFIG_FILE": file, "TEMPORAL_PROFILE": "staging"}, wantErrSubstr: "unable to find profile staging"},
		{name: "an unreadable config file", args: []string{"--config-file", t.TempDir()}, wantErrSubstr: "failed reading file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := parse(t, tt.args...)
			opts, err := f.ClientOptions(tt.env)
			if tt.wantErrSubstr != "" {
				require.ErrorIs(t, err, ErrConfig)
				require.ErrorContains(t, err, tt.wantErrSubstr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.address, opts.HostPort)
			require.Equal(t, tt.ns, opts.Namespace)
			require.Equal(t, tt.tls, opts.ConnectionOptions.TLS != nil, "TLS")
			require.Equal(t, tt.apiKey, opts.Credentials != nil, "credentials")
		})
	}
}

func TestBadConfigFile(t *testing.T) {
	file := writeConfig(t, "[profile.default\naddress = 1\n")
	_, err := Flags{ConfigFile: file}.ClientOptions(env{})
	require.ErrorIs(t, err, ErrConfig)
	require.ErrorContains(t, err, "failed parsing config")
}

// TestTLSFlag: --tls is a boolean flag that remembers whether it was given.
func TestTLSFlag(t *testing.T) {
	require.Nil(t, parse(t).TLS)
	require.True(t, *parse(t, "--tls").TLS)
	require.False(t, *parse(t, "--tls=false").TLS)
	var f Flags
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(&strings.Builder{})
	f.Register(fs)
	require.ErrorContains(t, fs.Parse([]string{"--tls=maybe"}), "want true or false")
}

// certFiles writes a self-signed certificate and its key and returns their
// paths.
func certFiles(t *testing.T, name string) (certPath, keyPath string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	dir := t.TempDir()
	certPath, keyPath = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")
	require.NoError(t, os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600))
	return certPath, keyPath
}

// TestTLSOptions: the TLS flags load the client certificate, the CA and
// the server name into the options, over the profile's; a certificate
// without its key, or a file that cannot be loaded, is refused.
func TestTLSOptions(t *testing.T) {
	cert, key := certFiles(t, "client")
	ca, _ := certFiles(t, "ca")
	noFile := env{"TEMPORAL_CONFIG_FILE": "/nonexistent"}

	opts, err := parse(t, "--tls-cert-path", cert, "--tls-key-path", key, "--tls-ca-path", ca, "--tls-server-name", "frontend.example").ClientOptions(noFile)
	require.NoError(t, err)
	tls := opts.ConnectionOptions.TLS
	require.NotNil(t, tls)
	require.Len(t, tls.Certificates, 1)
	require.NotNil(t, tls.RootCAs)
	require.Equal(t, "frontend.example", tls.ServerName)
	require.False(t, tls.InsecureSkipVerify)
	require.False(t, opts.ConnectionOptions.TLSDisabled)

	// A CA alone turns TLS on, without a client certificate.
	opts, err = parse(t, "--tls-ca-path", ca).ClientOptions(noFile)
	require.NoError(t, err)
	require.NotNil(t, opts.ConnectionOptions.TLS)
	require.Empty(t, opts.ConnectionOptions.TLS.Certificates)

	// --tls=false wins over the TLS flags.
	opts, err = parse(t, "--tls-ca-path", ca, "--tls=false").ClientOptions(noFile)
	require.NoError(t, err)
	require.Nil(t, opts.ConnectionOptions.TLS)
	require.True(t, opts.ConnectionOptions.TLSDisabled)

	// A flag's path replaces the profile's certificate data.
	file := writeConfig(t, `
[profile.default]
address = "x:1"
[profile.default.tls]
client_cert_data = "not a certificate"
client_key_data = "not a key"
`)
	_, err = Flags{ConfigFile: file}.ClientOptions(env{})
	require.ErrorIs(t, err, ErrConfig, "the profile's data alone is invalid")
	opts, err = Flags{ConfigFile: file, TLSCertPath: cert, TLSKeyPath: key}.ClientOptions(env{})
	require.NoError(t, err)
	require.Len(t, opts.ConnectionOptions.TLS.Certificates, 1)

	for name, f := range map[string]Flags{
		"cert without key": {TLSCertPath: cert},
		"key without cert": {TLSKeyPath: key},
		"missing cert":     {TLSCertPath: "/nonexistent/cert.pem", TLSKeyPath: key},
		"missing CA":       {TLSCAPath: "/nonexistent/ca.pem"},
		"CA not a cert":    {TLSCAPath: key},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := f.ClientOptions(noFile)
			require.ErrorIs(t, err, ErrConfig)
		})
	}
}

// TestZeroFlags: the zero Flags with no environment and no file is the
// local default server, without TLS.
func TestZeroFlags(t *testing.T) {
	opts, err := Flags{}.ClientOptions(env{"TEMPORAL_CONFIG_FILE": "/nonexistent"})
	require.NoError(t, err)
	require.Equal(t, client.Options{HostPort: DefaultAddress, Namespace: DefaultNamespace}, opts)
}

// TestExistingServer: an address from a flag, the environment or a
// profile names a server; nothing at all leaves the caller free to start
// one.
func TestExistingServer(t *testing.T) {
	file := writeConfig(t, twoProfiles)
	noFile := env{"TEMPORAL_CONFIG_FILE": "/nonexistent"}
	_, named, err := Flags{}.ExistingServer(noFile)
	require.NoError(t, err)
	require.False(t, named)
	_, named, err = Flags{Namespace: "ns", APIKey: "k"}.ExistingServer(noFile)
	require.NoError(t, err)
	require.False(t, named, "a namespace or a key names no server")
	for name, tc := range map[string]struct {
		f Flags
		e env
	}{
		"flag":    {Flags{Address: "flag.example:7233"}, noFile},
		"env":     {Flags{}, env{"TEMPORAL_CONFIG_FILE": "/nonexistent", "TEMPORAL_ADDRESS": "env.example:7233"}},
		"profile": {Flags{Profile: "prod"}, env{"TEMPORAL_CONFIG_FILE": file}},
	} {
		opts, named, err := tc.f.ExistingServer(tc.e)
		require.NoError(t, err, name)
		require.True(t, named, name)
		require.NotEqual(t, DefaultAddress, opts.HostPort, name)
	}
}

// FuzzConfigFile: whatever the config file holds, ClientOptions returns
// options with an address and a namespace, or an error wrapping ErrConfig;
// never a panic.
func FuzzConfigFile(f *testing.F) {
	f.Add(twoProfiles, "prod")
	f.Add("[profile.default]\naddress = 1\n", "")
	f.Add("[profile.default.tls]\nclient_cert_data = \"x\"\n", "default")
	f.Add("[profile.default]\ngrpc_meta = { a = \"b\" }\n", "")
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, toml, profile string) {
		p := filepath.Join(dir, "temporal.toml")
		if err := os.WriteFile(p, []byte(toml), 0o600); err != nil {
			t.Fatal(err)
		}
		opts, err := Flags{ConfigFile: p, Profile: profile}.ClientOptions(env{})
		if err != nil {
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("error does not wrap ErrConfig: %v", err)
			}
			return
		}
		if opts.HostPort == "" || opts.Namespace == "" {
			t.Fatalf("no address or namespace: %+v", opts)
		}
	})
}
