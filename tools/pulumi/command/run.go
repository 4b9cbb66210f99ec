package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/common/diag"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// Environment variables carrying the previous run's outputs (upstream util).
const (
	envPrevStdout = "PULUMI_COMMAND_STDOUT"
	envPrevStderr = "PULUMI_COMMAND_STDERR"
)

// runSpec is one script run, local or remote.
type runSpec struct {
	script string
	stdin  string
	// env is the `environment` input.
	env map[string]string
	// prevStdout/prevStderr are the previous outputs, passed in
	// PULUMI_COMMAND_STDOUT/STDERR when non-empty and addPreviousOutputInEnv
	// is not false (upstream).
	prevStdout, prevStderr string
	// stdout/stderr receive the command's output streams.
	stdout, stderr io.Writer
}

// runOutput collects a run's output: stdout, stderr, both interleaved (for
// error messages, like upstream), and optionally streams lines to the engine.
type runOutput struct {
	stdout, stderr bytes.Buffer
	combined       syncBuffer
	log            *lineLogger // nil: no streaming
}

func (o *runOutput) writers(logStdout, logStderr bool) (stdout, stderr io.Writer) {
	ws := func(own *bytes.Buffer, log bool) io.Writer {
		w := []io.Writer{own, &o.combined}
		if log && o.log != nil {
			w = append(w, o.log)
		}
		return io.MultiWriter(w...)
	}
	return ws(&o.stdout, logStdout), ws(&o.stderr, logStderr)
}

// commandError is upstream's error text for a failed run: the exit status (or
// other failure), the command, then stdout and stderr as they interleaved.
// Runtime Fleet parses the on-host script's JSON result line out of it.
func commandError(err error, script, combined string) error {
	return fmt.Errorf("%w: running %q:\n%s", err, script, combined)
}

// previewOutputs is a preview's answer: the inputs, plus stdout/stderr unknown
// when a script would run (else the previous values).
func previewOutputs(inputs map[string]any, willRun bool, olds map[string]any) map[string]any {
	out := copyMap(inputs)
	switch {
	case willRun:
		out["stdout"], out["stderr"] = unknownSentinel, unknownSentinel
	case olds != nil:
		out["stdout"], out["stderr"] = str(olds["stdout"]), str(olds["stderr"])
	default:
		out["stdout"], out["stderr"] = "", ""
	}
	return out
}

func copyMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m)+2)
	for k, v := range m {
		out[k] = v
	}
	return out
}

// runLifecycle runs one script (create/update/delete) and returns the new
// state: the inputs plus stdout/stderr (trailing newline trimmed, upstream).
// previous is the old state (nil on create): its stdout/stderr are kept when
// there is no script, and offered to the script in the environment.
func (p *commandProvider) runLifecycle(ctx context.Context, tok, urn string, inputs map[string]any,
	script string, previous map[string]any,
) (map[string]any, error) {
	out := copyMap(inputs)
	if script == "" {
		out["stdout"], out["stderr"] = "", ""
		if previous != nil {
			out["stdout"], out["stderr"] = str(previous["stdout"]), str(previous["stderr"])
		}
		return out, nil
	}
	spec := runSpec{script: script, stdin: str(inputs["stdin"]), env: map[string]string{}}
	if m, ok := inputs["environment"].(map[string]any); ok {
		for k, v := range m {
			spec.env[k] = fmt.Sprint(v)
		}
	}
	if addPrev, ok := inputs["addPreviousOutputInEnv"].(bool); previous != nil && (!ok || addPrev) {
		spec.prevStdout, spec.prevStderr = str(previous["stdout"]), str(previous["stderr"])
	}

	// logging: stdout, stderr, stdoutAndStderr (default) or none.
	logging := str(inputs["logging"])
	logStdout := logging == "" || logging == "stdout" || logging == "stdoutAndStderr"
	logStderr := logging == "" || logging == "stderr" || logging == "stdoutAndStderr"
	var o runOutput
	if p.host != nil && urn != "" && (logStdout || logStderr) {
		o.log = &lineLogger{emit: func(line string) {
			_ = p.host.LogStatus(ctx, diag.Info, resource.URN(urn), line)
		}}
	}
	spec.stdout, spec.stderr = o.writers(logStdout, logStderr)

	var err error
	if tok == tokRemote {
		conn, _ := inputs["connection"].(map[string]any)
		err = p.runRemote(ctx, urn, conn, spec)
	} else {
		err = runLocal(ctx, inputs, spec)
	}
	if o.log != nil {
		o.log.flush()
	}
	if err != nil {
		if isSetupError(err) {
			return nil, err // dial/host key/auth/Setenv failures: nothing ran
		}
		return nil, commandError(err, script, o.combined.String())
	}
	out["stdout"] = strings.TrimSuffix(o.stdout.String(), "\n")
	out["stderr"] = strings.TrimSuffix(o.stderr.String(), "\n")
	return out, nil
}

// setupError marks failures before the command started (dial, host key,
// authentication, Setenv): returned as they are, like upstream.
type setupError struct{ err error }

func (e setupError) Error() string { return e.err.Error() }
func (e setupError) Unwrap() error { return e.err }

func isSetupError(err error) bool { _, ok := err.(setupError); return ok }

// syncBuffer is a bytes.Buffer safe for concurrent writers (an SSH session
// copies stdout and stderr from two goroutines).
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string { b.mu.Lock(); defer b.mu.Unlock(); return b.buf.String() }

// lineLogger streams complete lines to emit (the engine's ephemeral status
// messages, as upstream does for `logging`).
type lineLogger struct {
	mu      sync.Mutex
	partial []byte
	emit    func(string)
}

func (l *lineLogger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		l.emit(strings.TrimSuffix(string(l.partial[:i]), "\r"))
		l.partial = l.partial[i+1:]
	}
	return len(p), nil
}

func (l *lineLogger) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.partial) > 0 {
		l.emit(string(l.partial))
		l.partial = nil
	}
}
