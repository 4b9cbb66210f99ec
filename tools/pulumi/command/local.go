package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// runLocal runs spec on this machine (upstream local/commandOutputs.go run):
// `interpreter` (default /bin/sh -c) + script, in `dir` (default: the
// provider's working directory), with the provider's environment plus
// `environment` and the previous outputs. Cancelling ctx kills the process.
func runLocal(ctx context.Context, inputs map[string]any, spec runSpec) error {
	args := []string{"/bin/sh", "-c"}
	if l, ok := inputs["interpreter"].([]any); ok && len(l) > 0 {
		args = nil
		for _, s := range l {
			args = append(args, fmt.Sprint(s))
		}
	}
	args = append(args, spec.script)
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Dir = str(inputs["dir"])
	cmd.Env = os.Environ()
	for k, v := range spec.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	if spec.prevStdout != "" {
		cmd.Env = append(cmd.Env, envPrevStdout+"="+spec.prevStdout)
	}
	if spec.prevStderr != "" {
		cmd.Env = append(cmd.Env, envPrevStderr+"="+spec.prevStderr)
	}
	if spec.stdin != "" {
		cmd.Stdin = strings.NewReader(spec.stdin)
	}
	cmd.Stdout, cmd.Stderr = spec.stdout, spec.stderr
	return cmd.Run()
}
