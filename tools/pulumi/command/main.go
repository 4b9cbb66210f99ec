// Command pulumi-resource-command is a minimal, protocol-compatible stand-in
// for the Pulumi "command" provider (npm @pulumi/command), written for
// Runtime Fleet's toolchain (see tools/README.md).
//
// Why it exists: the upstream provider module
// (github.com/pulumi/pulumi-command/provider) is not served by the Go module
// proxy reachable from our machines. This implementation covers:
//
//   - command:local:Command  (create/update/delete, dir, environment,
//     interpreter, stdin, triggers, addPreviousOutputInEnv, logging;
//     outputs stdout/stderr)
//   - command:remote:Command (same, over SSH: connection.host/port/user/
//     password/privateKey/privateKeyPassword/agentSocketPath/hostKey/
//     perDialTimeout/dialErrorLimit)
//   - command:local:run      (invoke)
//
// Behaviour follows upstream pulumi-command v1.2.1 where Runtime Fleet depends
// on it (diff/replace rules, dial retries, exit-status error text, Setenv);
// the differences are listed in tools/README.md.
//
// Not implemented: remote:CopyToRemote, remote:CopyFile, connection.proxy,
// asset/archive paths.
//
// Files: main.go (gRPC surface), inputs.go (Check, defaults), diff.go (Diff),
// run.go (lifecycle, outputs, error text), remote.go (SSH), local.go.
package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/provider"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
)

// Version is set with -ldflags "-X main.Version=v1.2.1".
var Version = "v0.0.0-dev"

const (
	tokLocal  = "command:local:Command"
	tokRemote = "command:remote:Command"
	tokRun    = "command:local:run"
)

func main() {
	err := provider.Main("command", func(host *provider.HostClient) (pulumirpc.ResourceProviderServer, error) {
		p := newProvider(host)
		if host != nil {
			p.stopWhenEngineGone(host.EngineConn())
		}
		return p, nil
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-resource-command: %v\n", err)
		os.Exit(1)
	}
}

type commandProvider struct {
	pulumirpc.UnimplementedResourceProviderServer

	// host is the engine's logging endpoint (nil in unit tests).
	host *provider.HostClient
	// stopped is cancelled by the engine's Cancel call; every running
	// operation watches it (besides its own gRPC context).
	stopped context.Context
	stop    context.CancelFunc
}

func newProvider(host *provider.HostClient) *commandProvider {
	ctx, cancel := context.WithCancel(context.Background())
	return &commandProvider{host: host, stopped: ctx, stop: cancel}
}

// opContext derives an operation's context: done when the request is
// cancelled or when the engine cancels the whole provider.
func (p *commandProvider) opContext(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	unwatch := context.AfterFunc(p.stopped, cancel)
	return ctx, func() { unwatch(); cancel() }
}

func (p *commandProvider) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: strings.TrimPrefix(Version, "v")}, nil
}

func (p *commandProvider) GetSchema(context.Context, *pulumirpc.GetSchemaRequest) (*pulumirpc.GetSchemaResponse, error) {
	return &pulumirpc.GetSchemaResponse{
		Schema: fmt.Sprintf(`{"name":"command","version":%q}`, strings.TrimPrefix(Version, "v")),
	}, nil
}

func (p *commandProvider) Attach(context.Context, *pulumirpc.PluginAttach) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

// Cancel is sent by the engine when an update is interrupted: stop every
// running command (remote sessions are signalled and closed, local processes
// killed) so the engine is not left waiting.
func (p *commandProvider) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	p.stop()
	return &emptypb.Empty{}, nil
}

func (p *commandProvider) CheckConfig(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	return &pulumirpc.CheckResponse{Inputs: req.GetNews()}, nil
}

func (p *commandProvider) DiffConfig(context.Context, *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE}, nil
}

func (p *commandProvider) Configure(context.Context, *pulumirpc.ConfigureRequest) (*pulumirpc.ConfigureResponse, error) {
	return &pulumirpc.ConfigureResponse{
		// Secrets: with AcceptSecrets=false the engine sends plain values and
		// re-applies the inputs' secretness to our outputs (annotateSecrets in
		// the engine's provider plugin), and the SDK's additionalSecretOutputs
		// keeps `connection` secret as a whole. So the state never holds a
		// plaintext connection, and this provider never sees secret wrappers.
		AcceptSecrets: false,
		// Preview: we answer Create/Update previews ourselves so stdout/stderr
		// show as unknown ("output will be known after apply"), like upstream.
		SupportsPreview: true,
	}, nil
}

// resourceType returns the resource type token of a URN
// (urn:pulumi:stack::project::[parent$]type::name).
func resourceType(urn string) (string, error) {
	parts := strings.Split(urn, "::")
	if len(parts) < 4 {
		return "", fmt.Errorf("malformed URN %q", urn)
	}
	t := parts[2]
	if i := strings.LastIndex(t, "$"); i >= 0 {
		t = t[i+1:]
	}
	switch t {
	case tokLocal, tokRemote:
		return t, nil
	}
	return "", fmt.Errorf("resource type %q is not supported by this pulumi-resource-command build "+
		"(supported: %s, %s)", t, tokLocal, tokRemote)
}

func resourceName(urn string) string { return urn[strings.LastIndex(urn, "::")+2:] }

func (p *commandProvider) Check(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	tok, err := resourceType(req.GetUrn())
	if err != nil {
		return nil, err
	}
	news := req.GetNews().AsMap()
	failures := checkInputs(tok, news)
	inputs, err := structpb.NewStruct(news)
	if err != nil {
		return nil, err
	}
	var fs []*pulumirpc.CheckFailure
	for _, f := range failures {
		fs = append(fs, &pulumirpc.CheckFailure{Property: f.property, Reason: f.reason})
	}
	return &pulumirpc.CheckResponse{Inputs: inputs, Failures: fs}, nil
}

func (p *commandProvider) Diff(_ context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	olds := req.GetOldInputs().AsMap()
	if len(olds) == 0 {
		// States written before the engine recorded inputs: use the outputs
		// (which hold every input plus stdout/stderr, ignored by the diff).
		olds = req.GetOlds().AsMap()
	}
	return diffInputs(olds, req.GetNews().AsMap()), nil
}

func (p *commandProvider) Create(ctx context.Context, req *pulumirpc.CreateRequest) (*pulumirpc.CreateResponse, error) {
	tok, err := resourceType(req.GetUrn())
	if err != nil {
		return nil, err
	}
	id, err := resource.NewUniqueHex(resourceName(req.GetUrn()), 8, 0)
	if err != nil {
		return nil, err
	}
	inputs := req.GetProperties().AsMap()
	var out map[string]any
	if req.GetPreview() {
		out = previewOutputs(inputs, str(inputs["create"]) != "", nil)
	} else {
		ctx, done := p.opContext(ctx)
		defer done()
		// A failed create returns only the error: the engine records nothing.
		out, err = p.runLifecycle(ctx, tok, req.GetUrn(), inputs, str(inputs["create"]), nil)
		if err != nil {
			return nil, err
		}
	}
	props, err := structpb.NewStruct(out)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CreateResponse{Id: id, Properties: props}, nil
}

func (p *commandProvider) Update(ctx context.Context, req *pulumirpc.UpdateRequest) (*pulumirpc.UpdateResponse, error) {
	tok, err := resourceType(req.GetUrn())
	if err != nil {
		return nil, err
	}
	news, olds := req.GetNews().AsMap(), req.GetOlds().AsMap()
	// Like upstream: run `update`, else `create`, else nothing.
	script := str(news["update"])
	if script == "" {
		script = str(news["create"])
	}
	var out map[string]any
	if req.GetPreview() {
		out = previewOutputs(news, script != "", olds)
	} else {
		ctx, done := p.opContext(ctx)
		defer done()
		// A failed update returns only the error: the engine keeps the old state.
		out, err = p.runLifecycle(ctx, tok, req.GetUrn(), news, script, olds)
		if err != nil {
			return nil, err
		}
	}
	props, err := structpb.NewStruct(out)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.UpdateResponse{Properties: props}, nil
}

func (p *commandProvider) Delete(ctx context.Context, req *pulumirpc.DeleteRequest) (*emptypb.Empty, error) {
	tok, err := resourceType(req.GetUrn())
	if err != nil {
		return nil, err
	}
	state := req.GetProperties().AsMap()
	if script := str(state["delete"]); script != "" {
		ctx, done := p.opContext(ctx)
		defer done()
		if _, err := p.runLifecycle(ctx, tok, req.GetUrn(), state, script, state); err != nil {
			return nil, err
		}
	}
	return &emptypb.Empty{}, nil
}

func (p *commandProvider) Read(_ context.Context, req *pulumirpc.ReadRequest) (*pulumirpc.ReadResponse, error) {
	return &pulumirpc.ReadResponse{Id: req.GetId(), Properties: req.GetProperties(), Inputs: req.GetInputs()}, nil
}

func (p *commandProvider) Invoke(ctx context.Context, req *pulumirpc.InvokeRequest) (*pulumirpc.InvokeResponse, error) {
	if req.GetTok() != tokRun {
		return nil, fmt.Errorf("function %q is not supported by this pulumi-resource-command build", req.GetTok())
	}
	ctx, done := p.opContext(ctx)
	defer done()
	args := req.GetArgs().AsMap()
	out, err := p.runLifecycle(ctx, tokLocal, "", args, str(args["command"]), nil)
	if err != nil {
		return nil, err
	}
	ret, err := structpb.NewStruct(out)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.InvokeResponse{Return: ret}, nil
}

func str(v any) string { s, _ := v.(string); return s }
