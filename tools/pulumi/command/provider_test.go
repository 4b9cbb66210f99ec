package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"io"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"golang.org/x/crypto/ssh"
)

func TestDiffInputs(t *testing.T) {
	conn := map[string]any{"host": "10.0.0.1", "port": float64(22), "user": "root"}
	base := map[string]any{"connection": conn, "create": "run", "stdin": `{"v":"1"}`}
	withOutputs := copyMap(base)
	withOutputs["stdout"], withOutputs["stderr"] = "old out", "old err"

	t.Run("unchanged is a no-op (outputs ignored)", func(t *testing.T) {
		d := diffInputs(withOutputs, copyMap(base))
		if d.Changes != pulumirpc.DiffResponse_DIFF_NONE || len(d.Diffs) != 0 || len(d.DetailedDiff) != 0 {
			t.Fatalf("want no diff, got %v", d)
		}
	})
	t.Run("stdin change updates", func(t *testing.T) {
		news := copyMap(base)
		news["stdin"] = `{"v":"2"}`
		d := diffInputs(base, news)
		if d.Changes != pulumirpc.DiffResponse_DIFF_SOME || len(d.Replaces) != 0 || d.DeleteBeforeReplace {
			t.Fatalf("want update, got %v", d)
		}
		if strings.Join(d.Diffs, ",") != "stdin" || d.DetailedDiff["stdin"].Kind != pulumirpc.PropertyDiff_UPDATE ||
			!d.HasDetailedDiff || len(d.DetailedDiff) != 1 {
			t.Fatalf("want exactly ~stdin, got %v", d)
		}
	})
	t.Run("triggers change replaces, create before delete", func(t *testing.T) {
		olds, news := copyMap(base), copyMap(base)
		olds["triggers"] = []any{"a"}
		news["triggers"] = []any{"b"}
		d := diffInputs(olds, news)
		if strings.Join(d.Replaces, ",") != "triggers" || d.DeleteBeforeReplace ||
			d.DetailedDiff["triggers"].Kind != pulumirpc.PropertyDiff_UPDATE_REPLACE {
			t.Fatalf("want replace on triggers, got %v", d)
		}
	})
	t.Run("added and removed inputs", func(t *testing.T) {
		news := copyMap(base)
		news["update"] = "upd"
		delete(news, "stdin")
		d := diffInputs(base, news)
		if d.DetailedDiff["update"].Kind != pulumirpc.PropertyDiff_ADD ||
			d.DetailedDiff["stdin"].Kind != pulumirpc.PropertyDiff_DELETE || len(d.Replaces) != 0 {
			t.Fatalf("got %v", d)
		}
	})
	t.Run("null equals absent", func(t *testing.T) {
		news := copyMap(base)
		news["update"] = nil
		if d := diffInputs(base, news); d.Changes != pulumirpc.DiffResponse_DIFF_NONE {
			t.Fatalf("got %v", d)
		}
	})
	t.Run("nested connection change", func(t *testing.T) {
		news := copyMap(base)
		c2 := copyMap(conn)
		c2["hostKey"] = "ssh-ed25519 AAAA"
		news["connection"] = c2
		d := diffInputs(base, news)
		if strings.Join(d.Diffs, ",") != "connection" || len(d.Replaces) != 0 {
			t.Fatalf("got %v", d)
		}
	})
}

func TestCheckInputsDefaults(t *testing.T) {
	news := map[string]any{"connection": map[string]any{"host": "h"}, "create": "x"}
	if f := checkInputs(tokRemote, news); len(f) != 0 {
		t.Fatalf("unexpected failures %v", f)
	}
	c := news["connection"].(map[string]any)
	if c["user"] != "root" || c["port"] != float64(22) || c["dialErrorLimit"] != float64(10) || c["perDialTimeout"] != float64(15) {
		t.Fatalf("defaults not applied: %v", c)
	}
	explicit := map[string]any{"connection": map[string]any{"host": "h", "port": float64(2222), "dialErrorLimit": float64(-1)}}
	checkInputs(tokRemote, explicit)
	if c := explicit["connection"].(map[string]any); c["port"] != float64(2222) || c["dialErrorLimit"] != float64(-1) {
		t.Fatalf("explicit values overwritten: %v", c)
	}
	if f := checkInputs(tokRemote, map[string]any{"connection": map[string]any{"host": "h", "proxy": map[string]any{}}}); len(f) != 1 || f[0].property != "connection.proxy" {
		t.Fatalf("want a failure for proxy, got %v", f)
	}
	if f := checkInputs(tokRemote, map[string]any{}); len(f) != 1 || f[0].property != "connection" {
		t.Fatalf("want a failure for a missing connection, got %v", f)
	}
}

func TestCommandErrorText(t *testing.T) {
	err := commandError(&ssh.ExitError{Waitmsg: ssh.Waitmsg{}}, "x", "")
	if !strings.Contains(err.Error(), `: running "x":`) {
		t.Fatalf("got %q", err)
	}
}

// refusedAddr returns a local port with nothing listening.
func refusedAddr(t *testing.T) (string, int) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	return "127.0.0.1", port
}

func TestDialRefusedRetriesThenFails(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", "")
	host, port := refusedAddr(t)
	p := newProvider(nil)
	start := time.Now()
	_, err := p.runLifecycle(context.Background(), tokRemote, "", map[string]any{
		"connection": map[string]any{"host": host, "port": float64(port), "dialErrorLimit": float64(2), "perDialTimeout": float64(5)},
		"create":     "true",
	}, "true", nil)
	elapsed := time.Since(start)
	if err == nil {
		t.Fatal("want an error")
	}
	msg := err.Error()
	for _, want := range []string{"failed to dial 127.0.0.1:" + strconv.Itoa(port), "after 3 failed attempts", "connection refused"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	// 3 attempts, waits of 100 ms and 150 ms between them.
	if elapsed < 200*time.Millisecond || elapsed > 3*time.Second {
		t.Errorf("took %v", elapsed)
	}
}

func TestDialCancelled(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", "")
	host, port := refusedAddr(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := dial(ctx, connection{host: host, port: port, user: "u", dialErrorLimit: -1, perDialTimeout: 1}, nil)
	if err == nil || !strings.Contains(err.Error(), "context deadline exceeded") || time.Since(start) > 2*time.Second {
		t.Fatalf("got %v after %v", err, time.Since(start))
	}
}

// testServer is an in-process SSH server: any client is accepted, "env"
// requests are refused (sshd without AcceptEnv), "exec" runs handle.
type testServer struct {
	addr    string
	port    int
	hostKey ssh.PublicKey
	dials   atomic.Int32
}

type execHandler func(cmd string, stdin io.Reader, stdout, stderr io.Writer) uint32

func startServer(t *testing.T, handle execHandler) *testServer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &ssh.ServerConfig{NoClientAuth: true}
	cfg.AddHostKey(signer)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	s := &testServer{addr: "127.0.0.1", port: l.Addr().(*net.TCPAddr).Port, hostKey: signer.PublicKey()}
	go func() {
		for {
			nc, err := l.Accept()
			if err != nil {
				return
			}
			s.dials.Add(1)
			go serveConn(nc, cfg, handle)
		}
	}()
	return s
}

func serveConn(nc net.Conn, cfg *ssh.ServerConfig, handle execHandler) {
	_, chans, reqs, err := ssh.NewServerConn(nc, cfg)
	if err != nil {
		return
	}
	go ssh.DiscardRequests(reqs)
	for nch := range chans {
		ch, chReqs, err := nch.Accept()
		if err != nil {
			continue
		}
		go func() {
			defer ch.Close()
			for req := range chReqs {
				switch req.Type {
				case "exec":
					_ = req.Reply(true, nil)
					cmd := string(req.Payload[4:])
					status := handle(cmd, ch, ch, ch.Stderr())
					b := make([]byte, 4)
					binary.BigEndian.PutUint32(b, status)
					_, _ = ch.SendRequest("exit-status", false, b)
					return
				default: // env, signal...
					_ = req.Reply(false, nil)
				}
			}
		}()
	}
}

func remoteInputs(s *testServer, hostKey string, extra map[string]any) map[string]any {
	conn := map[string]any{"host": s.addr, "port": float64(s.port), "dialErrorLimit": float64(2), "perDialTimeout": float64(5)}
	if hostKey != "" {
		conn["hostKey"] = hostKey
	}
	in := map[string]any{"connection": conn}
	for k, v := range extra {
		in[k] = v
	}
	return in
}

func authorizedKey(k ssh.PublicKey) string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))
}

func TestRemoteRunStdinAndPinnedHostKey(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", "")
	s := startServer(t, func(cmd string, stdin io.Reader, stdout, _ io.Writer) uint32 {
		in, _ := io.ReadAll(stdin)
		_, _ = io.WriteString(stdout, cmd+":"+string(in)+"\n")
		return 0
	})
	p := newProvider(nil)
	out, err := p.runLifecycle(context.Background(), tokRemote, "", remoteInputs(s, authorizedKey(s.hostKey)+" comment", map[string]any{"stdin": "hello"}), "cat", nil)
	if err != nil {
		t.Fatal(err)
	}
	if out["stdout"] != "cat:hello" || out["stderr"] != "" || out["stdin"] != "hello" {
		t.Fatalf("got %v", out)
	}
}

func TestRemoteHostKeyMismatchIsNotRetried(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", "")
	s := startServer(t, func(string, io.Reader, io.Writer, io.Writer) uint32 { return 0 })
	other, _, _ := ed25519.GenerateKey(rand.Reader)
	otherPub, _ := ssh.NewPublicKey(other)
	p := newProvider(nil)
	_, err := p.runLifecycle(context.Background(), tokRemote, "", remoteInputs(s, authorizedKey(otherPub), nil), "true", nil)
	if err == nil || !strings.Contains(err.Error(), "host key mismatch") || !strings.Contains(err.Error(), ssh.FingerprintSHA256(s.hostKey)) {
		t.Fatalf("got %v", err)
	}
	if s.dials.Load() != 1 {
		t.Fatalf("want 1 dial, got %d", s.dials.Load())
	}
	_, err = p.runLifecycle(context.Background(), tokRemote, "", remoteInputs(s, "ssh-ed25519 nonsense", nil), "true", nil)
	if err == nil || !strings.Contains(err.Error(), "connection.hostKey") {
		t.Fatalf("got %v", err)
	}
}

func TestRemoteExitStatusErrorText(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", "")
	s := startServer(t, func(_ string, _ io.Reader, stdout, stderr io.Writer) uint32 {
		_, _ = io.WriteString(stdout, "step 1\n")
		time.Sleep(20 * time.Millisecond)
		_, _ = io.WriteString(stderr, "boom\n")
		time.Sleep(20 * time.Millisecond)
		_, _ = io.WriteString(stdout, `{"status":"failed","error":"x"}`+"\n")
		return 3
	})
	p := newProvider(nil)
	_, err := p.runLifecycle(context.Background(), tokRemote, "", remoteInputs(s, "", nil), "upgrade\nnow", nil)
	if err == nil {
		t.Fatal("want an error")
	}
	want := "Process exited with status 3: running \"upgrade\\nnow\":\nstep 1\nboom\n{\"status\":\"failed\",\"error\":\"x\"}\n"
	if err.Error() != want {
		t.Fatalf("got  %q\nwant %q", err.Error(), want)
	}
}

func TestRemoteEnvironmentRefused(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", "")
	s := startServer(t, func(string, io.Reader, io.Writer, io.Writer) uint32 { return 0 })
	p := newProvider(nil)
	_, err := p.runLifecycle(context.Background(), tokRemote, "", remoteInputs(s, "", map[string]any{"environment": map[string]any{"A": "1"}}), "true", nil)
	if err == nil || !strings.Contains(err.Error(), `could not set environment variable "A"`) {
		t.Fatalf("got %v", err)
	}
	// Refused previous-output variables only warn.
	out, err := p.runLifecycle(context.Background(), tokRemote, "", remoteInputs(s, "", nil), "true",
		map[string]any{"stdout": "prev"})
	if err != nil || out["stdout"] != "" {
		t.Fatalf("got %v %v", out, err)
	}
}

func TestRemoteCancel(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", "")
	s := startServer(t, func(string, io.Reader, io.Writer, io.Writer) uint32 {
		time.Sleep(10 * time.Second)
		return 0
	})
	p := newProvider(nil)
	go func() { time.Sleep(300 * time.Millisecond); _, _ = p.Cancel(context.Background(), nil) }()
	ctx, done := p.opContext(context.Background())
	defer done()
	start := time.Now()
	_, err := p.runLifecycle(ctx, tokRemote, "", remoteInputs(s, "", nil), "sleep", nil)
	if err == nil || !strings.Contains(err.Error(), "cancel") || time.Since(start) > 7*time.Second {
		t.Fatalf("got %v after %v", err, time.Since(start))
	}
}

func TestLocalRunAndPreview(t *testing.T) {
	p := newProvider(nil)
	out, err := p.runLifecycle(context.Background(), tokLocal, "", map[string]any{"stdin": "x", "environment": map[string]any{"E": "e"}},
		`read v; echo "$v$E$PULUMI_COMMAND_STDOUT"`, map[string]any{"stdout": "p"})
	if err != nil || out["stdout"] != "xep" {
		t.Fatalf("got %v %v", out, err)
	}
	_, err = p.runLifecycle(context.Background(), tokLocal, "", map[string]any{}, "echo out; echo err >&2; exit 4", nil)
	// stdout and stderr are separate pipes: they interleave in whichever order the reads land.
	prefix := "exit status 4: running \"echo out; echo err >&2; exit 4\":\n"
	if err == nil || (err.Error() != prefix+"out\nerr\n" && err.Error() != prefix+"err\nout\n") {
		t.Fatalf("got %q", err)
	}
	pv := previewOutputs(map[string]any{"create": "x"}, true, nil)
	if pv["stdout"] != unknownSentinel {
		t.Fatalf("got %v", pv)
	}
}
