package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/diag"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/retry"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// runRemote runs spec over SSH (upstream remote/commandOutputs.go run).
// Errors before the command starts are setupErrors; the command's own failure
// (e.g. *ssh.ExitError "Process exited with status N") is returned as is.
func (p *commandProvider) runRemote(ctx context.Context, urn string, connInput map[string]any, spec runSpec) error {
	conn, err := parseConnection(connInput)
	if err != nil {
		return setupError{err}
	}
	client, err := dial(ctx, conn, func(msg string) { p.logStatus(ctx, urn, msg) })
	if err != nil {
		return setupError{err}
	}
	defer client.Close()

	session, err := client.NewSession()
	if err != nil {
		return setupError{fmt.Errorf("opening SSH session: %w", err)}
	}
	defer session.Close()

	// environment: SSH "env" requests, one per variable, sorted for
	// determinism. Like upstream, a refused variable (sshd without a matching
	// AcceptEnv) fails the run; a refused previous-output variable only warns.
	keys := make([]string, 0, len(spec.env))
	for k := range spec.env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := session.Setenv(k, spec.env[k]); err != nil {
			p.log(ctx, urn, diag.Error, setenvAdvice(k))
			return setupError{fmt.Errorf("could not set environment variable %q: %w", k, err)}
		}
	}
	for _, kv := range [][2]string{{envPrevStdout, spec.prevStdout}, {envPrevStderr, spec.prevStderr}} {
		if kv[1] == "" {
			continue
		}
		if err := session.Setenv(kv[0], kv[1]); err != nil {
			p.log(ctx, urn, diag.Warning, setenvAdvice(kv[0]))
		}
	}

	if spec.stdin != "" {
		session.Stdin = strings.NewReader(spec.stdin)
	}
	session.Stdout, session.Stderr = spec.stdout, spec.stderr
	if err := session.Start(spec.script); err != nil {
		return fmt.Errorf("starting remote command: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- session.Wait() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		// Cancelled (engine Cancel or the request went away): ask the remote
		// process to stop, then tear the connection down, which makes sshd
		// hang up on the command.
		_ = session.Signal(ssh.SIGTERM)
		_ = session.Close()
		_ = client.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
		return fmt.Errorf("cancelled: %w", ctx.Err())
	}
}

func setenvAdvice(key string) string {
	return fmt.Sprintf("Unable to set '%s'. This only works if your SSH server is configured to accept "+
		"these variables via AcceptEnv. Alternatively, if a Bash-like shell runs the command on the remote host, "+
		"you could prefix the command itself with the variables in the form 'VAR=value command'", key)
}

func (p *commandProvider) log(ctx context.Context, urn string, sev diag.Severity, msg string) {
	if p.host != nil {
		_ = p.host.Log(ctx, sev, resource.URN(urn), msg)
	}
}

func (p *commandProvider) logStatus(ctx context.Context, urn, msg string) {
	if p.host != nil {
		_ = p.host.LogStatus(ctx, diag.Info, resource.URN(urn), msg)
	}
}

// clientConfig builds the SSH client configuration (upstream SShConfig):
// privateKey, then password (+ keyboard-interactive), then an SSH agent
// (agentSocketPath, else $SSH_AUTH_SOCK). Host keys: see hostKeyCheck.
func (c connection) clientConfig() (*ssh.ClientConfig, error) {
	cfg := &ssh.ClientConfig{User: c.user}
	if err := c.hostKeyCheck(cfg); err != nil {
		return nil, err
	}
	if c.privateKey != "" {
		var signer ssh.Signer
		var err error
		if c.privateKeyPassword != "" {
			signer, err = ssh.ParsePrivateKeyWithPassphrase([]byte(c.privateKey), []byte(c.privateKeyPassword))
		} else {
			signer, err = ssh.ParsePrivateKey([]byte(c.privateKey))
		}
		if err != nil {
			return nil, fmt.Errorf("connection.privateKey: %w", err)
		}
		cfg.Auth = append(cfg.Auth, ssh.PublicKeys(signer))
	}
	if c.password != "" {
		pw := c.password
		cfg.Auth = append(cfg.Auth, ssh.Password(pw),
			ssh.KeyboardInteractive(func(_, _ string, questions []string, _ []bool) ([]string, error) {
				answers := make([]string, len(questions))
				for i := range answers {
					answers[i] = pw
				}
				return answers, nil
			}))
	}
	if sock := c.agentSocket(); sock != "" {
		ac, err := net.Dial("unix", sock)
		if err != nil {
			return nil, fmt.Errorf("SSH agent %s: %w", sock, err)
		}
		cfg.Auth = append(cfg.Auth, ssh.PublicKeysCallback(agent.NewClient(ac).Signers))
	}
	return cfg, nil
}

func (c connection) agentSocket() string {
	if c.agentSocketPath != "" {
		return c.agentSocketPath
	}
	return os.Getenv("SSH_AUTH_SOCK")
}

// hostKeyCheck sets the host key policy. Without connection.hostKey any key is
// accepted (upstream). With it ("ssh-ed25519 AAAA..." as in authorized_keys
// or a .pub file), the server must present exactly that key. The client also
// asks only for that key's algorithm(s): a server with several host keys
// (ECDSA, RSA, Ed25519 on a stock droplet) would otherwise present the first
// one in x/crypto's preference order (ECDSA) and never match an Ed25519 pin.
func (c connection) hostKeyCheck(cfg *ssh.ClientConfig) error {
	if c.hostKey == "" {
		cfg.HostKeyCallback = ssh.InsecureIgnoreHostKey() //nolint:gosec // upstream default without hostKey
		return nil
	}
	want, _, _, _, err := ssh.ParseAuthorizedKey([]byte(c.hostKey))
	if err != nil {
		return fmt.Errorf("connection.hostKey %q is not an OpenSSH public key: %w", c.hostKey, err)
	}
	cfg.HostKeyAlgorithms = hostKeyAlgorithms(want.Type())
	cfg.HostKeyCallback = func(hostname string, _ net.Addr, got ssh.PublicKey) error {
		if bytes.Equal(got.Marshal(), want.Marshal()) {
			return nil
		}
		return &hostKeyMismatchError{host: hostname, got: got, want: want}
	}
	return nil
}

// hostKeyAlgorithms are the signature algorithms for a host key type.
func hostKeyAlgorithms(keyType string) []string {
	if keyType == ssh.KeyAlgoRSA {
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	}
	return []string{keyType}
}

// hostKeyMismatchError: the server is not the host pinned by connection.hostKey.
type hostKeyMismatchError struct {
	host      string
	got, want ssh.PublicKey
}

func (e *hostKeyMismatchError) Error() string {
	return fmt.Sprintf("ssh: host key mismatch for %s: the server presented %s %s, "+
		"but connection.hostKey is %s %s (a different host, or its host key was regenerated)",
		e.host, e.got.Type(), ssh.FingerprintSHA256(e.got), e.want.Type(), ssh.FingerprintSHA256(e.want))
}

// dialer makes one connection attempt; replaced in tests.
type dialer func(ctx context.Context, addr string, cfg *ssh.ClientConfig, timeout time.Duration) (*ssh.Client, error)

// dial connects with retries (upstream Connection.Dial / dialWithRetry):
// attempts are spaced by retry.Until's backoff (100 ms, x1.5, at most 5 s);
// the run fails once more than dialErrorLimit attempts have failed (so
// dialErrorLimit+1 attempts; -1: retry until cancelled). Each attempt
// (TCP connect + SSH handshake) is bounded by perDialTimeout seconds
// (0: unbounded). A host key mismatch or a bad key is not retried.
func dial(ctx context.Context, c connection, status func(string)) (*ssh.Client, error) {
	return dialWith(ctx, c, status, dialOnce)
}

func dialWith(ctx context.Context, c connection, status func(string), once dialer) (*ssh.Client, error) {
	cfg, err := c.clientConfig()
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort(c.host, strconv.Itoa(c.port))
	timeout := time.Duration(c.perDialTimeout) * time.Second
	limit := "inf"
	if c.dialErrorLimit >= 0 {
		limit = strconv.Itoa(c.dialErrorLimit + 1)
	}
	var lastErr error
	attempts := 0
	ok, data, err := retry.Until(ctx, retry.Acceptor{
		Accept: func(int, time.Duration) (bool, any, error) {
			attempts++
			client, err := once(ctx, addr, cfg, timeout)
			if err == nil {
				return true, client, nil
			}
			lastErr = err
			var mismatch *hostKeyMismatchError
			if errors.As(err, &mismatch) {
				return true, nil, fmt.Errorf("failed to dial %s: %w", addr, err)
			}
			if c.dialErrorLimit >= 0 && attempts > c.dialErrorLimit {
				return true, nil, fmt.Errorf("failed to dial %s: after %d failed attempts: %w", addr, attempts, err)
			}
			if status != nil {
				status(fmt.Sprintf("Dial %d/%s failed: retrying", attempts, limit))
			}
			return false, nil, nil
		},
	})
	if err != nil {
		return nil, err
	}
	if !ok { // context done while waiting to retry
		return nil, fmt.Errorf("failed to dial %s: %w (after %d attempts, last: %v)", addr, ctx.Err(), attempts, lastErr)
	}
	return data.(*ssh.Client), nil
}

// dialOnce is one attempt: TCP connect and SSH handshake within timeout,
// abandoned at once if ctx is cancelled.
func dialOnce(ctx context.Context, addr string, cfg *ssh.ClientConfig, timeout time.Duration) (*ssh.Client, error) {
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if timeout > 0 {
		_ = conn.SetDeadline(time.Now().Add(timeout))
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	c, chans, reqs, err := ssh.NewClientConn(conn, addr, cfg)
	stopped := stop()
	if err != nil || !stopped {
		_ = conn.Close()
		if err == nil {
			err = ctx.Err()
		}
		return nil, err
	}
	_ = conn.SetDeadline(time.Time{})
	return ssh.NewClient(c, chans, reqs), nil
}
