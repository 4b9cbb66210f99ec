// Command pulumi-language-nodejs is a minimal Node.js language host for the
// Pulumi CLI, written for Runtime Fleet's toolchain (see tools/README.md).
//
// Why it exists: the upstream host (module
// github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3) is not
// served by the Go module proxy reachable from our machines, so it cannot be
// built from modules. This host implements the part of the LanguageRuntime
// gRPC protocol that the CLI needs to run a plain Node.js/TypeScript program:
// it starts `node <@pulumi/pulumi>/cmd/run` (shipped in the npm package) with
// the flags and environment that script expects, and runs Node.js policy packs
// (RunPlugin with kind "analyzer", as `pulumi preview --policy-pack DIR` asks
// for). Everything else (program generation, packing, linking, other
// node-based plugins) answers Unimplemented.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	sdk "github.com/pulumi/pulumi/sdk/v3"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
)

// healthcheckInterval is how often the engine is checked for life.
const healthcheckInterval = 10 * time.Second

// Version is set with -ldflags "-X main.Version=v3.260.0".
var Version = "v0.0.0-dev"

// nodeExitBail is the exit code @pulumi/pulumi's cmd/run uses after it has
// already reported a user-actionable error to the engine.
const nodeExitBail = 32

func main() {
	engineAddr, tracing := parseArgs(os.Args[1:])
	host := &langHost{engineAddr: engineAddr, tracing: tracing}
	// Like upstream: watch the engine and stop when it is gone, so a killed `pulumi` does not
	// leave this host running forever (upstream checks every 5 minutes; 10 s here).
	cancel := make(chan bool)
	if engineAddr != "" {
		ctx, stop := context.WithCancel(context.Background())
		if err := rpcutil.Healthcheck(ctx, engineAddr, healthcheckInterval, stop); err != nil {
			fmt.Fprintf(os.Stderr, "pulumi-language-nodejs: could not start the engine health check: %v\n", err)
			os.Exit(1)
		}
		go func() {
			<-ctx.Done()
			close(cancel)
		}()
	}
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Cancel: cancel,
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, host)
			return nil
		},
		Options: rpcutil.OpenTracingServerInterceptorOptions(nil),
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-language-nodejs: could not start server: %v\n", err)
		os.Exit(1)
	}
	// The engine reads the port from the first line of stdout.
	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-language-nodejs: %v\n", err)
		os.Exit(1)
	}
}

// parseArgs accepts the CLI's plugin arguments: optional flags (--logtostderr,
// -v=N, --logflow, --tracing URL, -root=DIR, ...) followed by the engine
// address as the last positional argument. Unknown flags are ignored.
func parseArgs(args []string) (engineAddr, tracing string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--tracing" || a == "-tracing":
			if i+1 < len(args) {
				tracing = args[i+1]
				i++
			}
		case strings.HasPrefix(a, "--tracing=") || strings.HasPrefix(a, "-tracing="):
			tracing = a[strings.Index(a, "=")+1:]
		case strings.HasPrefix(a, "-"):
			// ignored flag
		default:
			engineAddr = a
		}
	}
	return engineAddr, tracing
}

type langHost struct {
	pulumirpc.UnimplementedLanguageRuntimeServer

	mu         sync.Mutex
	engineAddr string
	tracing    string
}

func (h *langHost) engine() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.engineAddr
}

func (h *langHost) Handshake(_ context.Context, req *pulumirpc.LanguageHandshakeRequest,
) (*pulumirpc.LanguageHandshakeResponse, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if req.GetEngineAddress() != "" {
		h.engineAddr = req.GetEngineAddress()
	}
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *langHost) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: strings.TrimPrefix(Version, "v")}, nil
}

func (h *langHost) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

// ---- program information helpers ----

func programDir(info *pulumirpc.ProgramInfo, fallback string) string {
	if info != nil && info.GetProgramDirectory() != "" {
		return info.GetProgramDirectory()
	}
	if fallback != "" {
		return fallback
	}
	wd, _ := os.Getwd()
	return wd
}

func stringOption(info *pulumirpc.ProgramInfo, key string) (string, bool) {
	if info == nil || info.GetOptions() == nil {
		return "", false
	}
	v, ok := info.GetOptions().GetFields()[key]
	if !ok {
		return "", false
	}
	switch k := v.GetKind().(type) {
	case *structpb.Value_StringValue:
		return k.StringValue, true
	case *structpb.Value_BoolValue:
		return strconv.FormatBool(k.BoolValue), true
	case *structpb.Value_NumberValue:
		return strconv.FormatFloat(k.NumberValue, 'f', -1, 64), true
	}
	return "", false
}

// findUp returns the first existing path dir/rel, walking up from dir.
func findUp(dir, rel string) (string, bool) {
	dir, _ = filepath.Abs(dir)
	for {
		p := filepath.Join(dir, rel)
		if _, err := os.Stat(p); err == nil {
			return p, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

func nodeBinary() (string, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return "", errors.New("could not find `node` on PATH; install Node.js (>= 20)")
	}
	return node, nil
}

// ---- plugins required by the program ----

type pulumiPkgJSON struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Pulumi  *struct {
		Resource bool   `json:"resource"`
		Name     string `json:"name"`
		Version  string `json:"version"`
		Server   string `json:"server"`
	} `json:"pulumi"`
	Dependencies    map[string]string `json:"dependencies"`
	DevDependencies map[string]string `json:"devDependencies"`
}

func readPkg(path string) (*pulumiPkgJSON, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var p pulumiPkgJSON
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// nodeModulePackages lists package.json files of installed packages
// (node_modules/<name> and node_modules/@scope/<name>), nested ones included.
func nodeModulePackages(root string) []string {
	var out []string
	var walk func(nm string, depth int)
	walk = func(nm string, depth int) {
		if depth > 8 {
			return
		}
		entries, err := os.ReadDir(nm)
		if err != nil {
			return
		}
		for _, e := range entries {
			if !e.IsDir() && e.Type()&os.ModeSymlink == 0 {
				continue
			}
			name := e.Name()
			if strings.HasPrefix(name, ".") {
				continue
			}
			dirs := []string{filepath.Join(nm, name)}
			if strings.HasPrefix(name, "@") {
				dirs = nil
				sub, _ := os.ReadDir(filepath.Join(nm, name))
				for _, s := range sub {
					dirs = append(dirs, filepath.Join(nm, name, s.Name()))
				}
			}
			for _, d := range dirs {
				if _, err := os.Stat(filepath.Join(d, "package.json")); err == nil {
					out = append(out, filepath.Join(d, "package.json"))
				}
				walk(filepath.Join(d, "node_modules"), depth+1)
			}
		}
	}
	if nm, ok := findUp(root, "node_modules"); ok {
		walk(nm, 0)
	}
	return out
}

func (h *langHost) requiredPackages(dir string) []*pulumirpc.PackageDependency {
	seen := map[string]bool{}
	var deps []*pulumirpc.PackageDependency
	for _, pj := range nodeModulePackages(dir) {
		p, err := readPkg(pj)
		if err != nil || p.Pulumi == nil || !p.Pulumi.Resource {
			continue
		}
		name := p.Pulumi.Name
		if name == "" {
			name = strings.TrimPrefix(p.Name, "@pulumi/")
		}
		version := p.Pulumi.Version
		if version == "" {
			version = p.Version
		}
		if version != "" && !strings.HasPrefix(version, "v") {
			version = "v" + version
		}
		key := name + "@" + version
		if seen[key] {
			continue
		}
		seen[key] = true
		deps = append(deps, &pulumirpc.PackageDependency{
			Name: name, Kind: "resource", Version: version, Server: p.Pulumi.Server,
		})
	}
	sort.Slice(deps, func(i, j int) bool { return deps[i].Name < deps[j].Name })
	return deps
}

func (h *langHost) GetRequiredPlugins(_ context.Context, req *pulumirpc.GetRequiredPluginsRequest,
) (*pulumirpc.GetRequiredPluginsResponse, error) {
	var plugins []*pulumirpc.PluginDependency
	for _, d := range h.requiredPackages(programDir(req.GetInfo(), req.GetProgram())) {
		plugins = append(plugins, &pulumirpc.PluginDependency{
			Name: d.Name, Kind: d.Kind, Version: d.Version, Server: d.Server,
		})
	}
	return &pulumirpc.GetRequiredPluginsResponse{Plugins: plugins}, nil
}

func (h *langHost) GetRequiredPackages(_ context.Context, req *pulumirpc.GetRequiredPackagesRequest,
) (*pulumirpc.GetRequiredPackagesResponse, error) {
	return &pulumirpc.GetRequiredPackagesResponse{
		Packages: h.requiredPackages(programDir(req.GetInfo(), "")),
	}, nil
}

// ---- running the program ----

func (h *langHost) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	node, err := nodeBinary()
	if err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}
	info := req.GetInfo()
	pdir := programDir(info, req.GetPwd())
	runPath, ok := findUp(pdir, filepath.Join("node_modules", "@pulumi", "pulumi", "cmd", "run"))
	if !ok {
		return &pulumirpc.RunResponse{Error: "It looks like the Pulumi SDK has not been installed. " +
			"Have you run `npm install`? (no node_modules/@pulumi/pulumi found above " + pdir + ")"}, nil
	}

	var args []string
	if nodeargs, ok := stringOption(info, "nodeargs"); ok && nodeargs != "" {
		args = append(args, strings.Fields(nodeargs)...)
	}
	args = append(args, runPath)
	if req.GetOrganization() != "" {
		args = append(args, "--organization", req.GetOrganization())
	}
	args = append(args, "--project", req.GetProject(), "--stack", req.GetStack())
	if info != nil && info.GetRootDirectory() != "" {
		args = append(args, "--root-directory", info.GetRootDirectory())
	}
	if req.GetPwd() != "" {
		args = append(args, "--pwd", req.GetPwd())
	}
	args = append(args, "--monitor", req.GetMonitorAddress())
	if e := h.engine(); e != "" {
		args = append(args, "--engine", e)
	}
	if req.GetParallel() > 0 {
		args = append(args, "--parallel", strconv.Itoa(int(req.GetParallel())))
	}
	if h.tracing != "" {
		args = append(args, "--tracing", h.tracing)
	}
	if req.GetDryRun() {
		args = append(args, "--dry-run")
	}
	program := req.GetProgram()
	if info != nil && info.GetEntryPoint() != "" {
		program = info.GetEntryPoint()
		if !filepath.IsAbs(program) && info.GetProgramDirectory() != "" {
			program = filepath.Join(info.GetProgramDirectory(), program)
		}
	}
	if program == "" {
		program = "."
	}
	args = append(args, program)
	args = append(args, req.GetArgs()...)

	env := os.Environ()
	cfg, err := json.Marshal(req.GetConfig())
	if err != nil {
		return nil, err
	}
	env = append(env, "PULUMI_CONFIG="+string(cfg))
	secretKeys := req.GetConfigSecretKeys()
	if secretKeys == nil {
		secretKeys = []string{}
	}
	sk, _ := json.Marshal(secretKeys)
	env = append(env, "PULUMI_CONFIG_SECRET_KEYS="+string(sk))
	typescript := "true"
	if v, ok := stringOption(info, "typescript"); ok {
		typescript = v
	}
	env = append(env, "PULUMI_NODEJS_TYPESCRIPT="+typescript)
	if v, ok := stringOption(info, "tsconfig"); ok && v != "" {
		env = append(env, "PULUMI_NODEJS_TSCONFIG_PATH="+v)
	}

	cmd := exec.CommandContext(ctx, node, args...)
	if req.GetPwd() != "" {
		cmd.Dir = req.GetPwd()
	}
	cmd.Env = env
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok {
				if ws.Signaled() {
					return &pulumirpc.RunResponse{
						Error: fmt.Sprintf("Program exited due to signal %v", ws.Signal()),
					}, nil
				}
				if ws.ExitStatus() == nodeExitBail {
					return &pulumirpc.RunResponse{Bail: true}, nil
				}
				return &pulumirpc.RunResponse{
					Error: fmt.Sprintf("Program exited with non-zero exit code: %d", ws.ExitStatus()),
				}, nil
			}
		}
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("Problem executing program: %v", err)}, nil
	}
	return &pulumirpc.RunResponse{}, nil
}

// ---- dependencies / about ----

func (h *langHost) InstallDependencies(req *pulumirpc.InstallDependenciesRequest,
	srv grpc.ServerStreamingServer[pulumirpc.InstallDependenciesResponse],
) error {
	dir := req.GetDirectory()
	if dir == "" {
		dir = programDir(req.GetInfo(), "")
	}
	manager := "npm"
	if v, ok := stringOption(req.GetInfo(), "packagemanager"); ok && v != "" {
		manager = v
	}
	if _, err := os.Stat(filepath.Join(dir, "package.json")); err != nil {
		return nil // nothing to install
	}
	cmd := exec.CommandContext(srv.Context(), manager, "install")
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	if sendErr := srv.Send(&pulumirpc.InstallDependenciesResponse{Stdout: out.Bytes()}); sendErr != nil {
		return sendErr
	}
	if err != nil {
		return fmt.Errorf("`%s install` failed in %s: %w", manager, dir, err)
	}
	return nil
}

func (h *langHost) About(ctx context.Context, _ *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	node, err := nodeBinary()
	if err != nil {
		return nil, status.Error(codes.FailedPrecondition, err.Error())
	}
	out, err := exec.CommandContext(ctx, node, "--version").Output()
	if err != nil {
		return nil, fmt.Errorf("running %s --version: %w", node, err)
	}
	return &pulumirpc.AboutResponse{
		Executable: node,
		Version:    strings.TrimPrefix(strings.TrimSpace(string(out)), "v"),
		Metadata:   map[string]string{"languageHost": "runtime-fleet minimal nodejs host " + Version},
	}, nil
}

func (h *langHost) GetProgramDependencies(_ context.Context, req *pulumirpc.GetProgramDependenciesRequest,
) (*pulumirpc.GetProgramDependenciesResponse, error) {
	dir := programDir(req.GetInfo(), req.GetPwd())
	pj, ok := findUp(dir, "package.json")
	if !ok {
		return &pulumirpc.GetProgramDependenciesResponse{}, nil
	}
	p, err := readPkg(pj)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", pj, err)
	}
	names := map[string]string{}
	for n, v := range p.Dependencies {
		names[n] = v
	}
	if req.GetTransitiveDependencies() {
		for n, v := range p.DevDependencies {
			names[n] = v
		}
	}
	var deps []*pulumirpc.DependencyInfo
	for n, want := range names {
		version := want
		if installed, ok := findUp(filepath.Dir(pj), filepath.Join("node_modules", n, "package.json")); ok {
			if ip, err := readPkg(installed); err == nil && ip.Version != "" {
				version = ip.Version
			}
		}
		deps = append(deps, &pulumirpc.DependencyInfo{Name: n, Version: version})
	}
	sort.Slice(deps, func(i, j int) bool { return deps[i].Name < deps[j].Name })
	return &pulumirpc.GetProgramDependenciesResponse{Dependencies: deps}, nil
}

// ---- policy packs (RunPlugin, kind "analyzer") ----

// RunPlugin starts a Node.js policy pack the way upstream's host does for
// `pulumi preview --policy-pack DIR` (CLI >= 3.2xx no longer execs a
// `pulumi-analyzer-policy` script when a nodejs language host exists): it runs
// `node <@pulumi/pulumi>/cmd/run-policy-pack <engine> <packDir>` in the pack
// directory, behind the SDK's PolicyProxy, which answers the engine's
// Handshake/ConfigureStack itself, starts the pack with the stack's config in
// PULUMI_CONFIG (and project/stack/dry-run in PULUMI_NODEJS_*), then forwards
// every Analyzer call to the pack. Only analyzers are supported.
func (h *langHost) RunPlugin(req *pulumirpc.RunPluginRequest, server pulumirpc.LanguageRuntime_RunPluginServer) error {
	if req.GetKind() != "analyzer" {
		return status.Errorf(codes.Unimplemented,
			"this minimal nodejs host runs only policy packs (kind analyzer), not %q plugins", req.GetKind())
	}
	ctx := server.Context()
	closer, stdout, stderr, err := rpcutil.MakeRunPluginStreams(server, false)
	if err != nil {
		return err
	}
	defer closer.Close()

	node, err := nodeBinary()
	if err != nil {
		return err
	}
	info := req.GetInfo()
	packDir := programDir(info, req.GetPwd())
	runPath, ok := findUp(packDir, filepath.Join("node_modules", "@pulumi", "pulumi", "cmd", "run-policy-pack"))
	if !ok {
		// The CLI recognises this text and tells the user to install the pack's dependencies.
		fmt.Fprintf(stderr, "Error: Cannot find module '@pulumi/pulumi/cmd/run-policy-pack' (above %s)\n", packDir)
		return fmt.Errorf("no node_modules/@pulumi/pulumi/cmd/run-policy-pack found above %s: run npm install", packDir)
	}

	env := append([]string{}, req.GetEnv()...)
	typescript := "true"
	if v, ok := stringOption(info, "typescript"); ok {
		typescript = v
	}
	if typescript == "true" {
		env = append(env, "PULUMI_NODEJS_TYPESCRIPT=true")
	}
	if v, ok := stringOption(info, "tsconfig"); ok && v != "" {
		env = append(env, "PULUMI_NODEJS_TSCONFIG_PATH="+v)
	}
	var args []string
	if nodeargs, ok := stringOption(info, "nodeargs"); ok && nodeargs != "" {
		args = append(args, strings.Fields(nodeargs)...)
	}
	args = append(args, runPath)
	// Analyzers take the engine address first and the pack directory last (upstream's order).
	args = append(args, req.GetArgs()...)
	args = append(args, packDir)

	proxy, proxiedStdout, err := sdk.NewPolicyProxy(ctx, stdout)
	if err != nil {
		return fmt.Errorf("could not start policy pack proxy: %w", err)
	}
	config, err := proxy.AwaitConfiguration(ctx)
	if err != nil {
		return fmt.Errorf("could not get stack configuration: %w", err)
	}
	if config != nil {
		add := func(k, v string) {
			if v != "" {
				env = append(env, k+"="+v)
			}
		}
		add("PULUMI_NODEJS_ORGANIZATION", config.GetOrganization())
		add("PULUMI_NODEJS_PROJECT", config.GetProject())
		add("PULUMI_NODEJS_STACK", config.GetStack())
		add("PULUMI_NODEJS_DRY_RUN", strconv.FormatBool(config.GetDryRun()))
		if config.GetConfig() != nil {
			cfg, err := json.Marshal(config.GetConfig())
			if err != nil {
				return fmt.Errorf("could not marshal stack configuration: %w", err)
			}
			add("PULUMI_CONFIG", string(cfg))
		}
	}

	cmd := exec.CommandContext(ctx, node, args...)
	// Node policy packs always ran with the pack directory as their working directory.
	cmd.Dir = packDir
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = proxiedStdout, stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("could not run the policy pack with %s: %w", node, err)
	}
	if err := proxy.Attach(ctx, cmd); err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Exited() {
				return fmt.Errorf("Program exited with non-zero exit code: %d", ws.ExitStatus())
			}
		}
		if ctx.Err() != nil {
			return nil // the engine is done with the analyzer and cancelled the stream
		}
		return err
	}
	return closer.Close()
}
