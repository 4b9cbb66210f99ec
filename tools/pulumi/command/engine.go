package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// engineCheckInterval is how often the engine is checked for life. Upstream
// provider.Main checks every 5 minutes, so a provider whose `pulumi` was
// killed -9 lives on for minutes (with its SSH sessions); the language host
// stand-in checks every 10 s, and so does this.
const engineCheckInterval = 10 * time.Second

// exitGrace is how long running operations get to end after their context is
// cancelled before the process exits anyway.
const exitGrace = 2 * time.Second

// watchEngine calls gone once the engine stops answering its health service
// (Unimplemented counts as alive, as in rpcutil.Healthcheck). It returns when
// ctx is done or after calling gone.
func watchEngine(ctx context.Context, conn grpc.ClientConnInterface, interval time.Duration, gone func(error)) {
	health := healthpb.NewHealthClient(conn)
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			checkCtx, cancel := context.WithTimeout(ctx, interval)
			_, err := health.Check(checkCtx, &healthpb.HealthCheckRequest{})
			cancel()
			if ctx.Err() != nil {
				return
			}
			if err != nil && status.Code(err) != codes.Unimplemented {
				gone(err)
				return
			}
		}
	}
}

// stopWhenEngineGone cancels every running operation (SSH sessions, local
// processes) once the engine is gone, then exits the process.
func (p *commandProvider) stopWhenEngineGone(conn grpc.ClientConnInterface) {
	go watchEngine(context.Background(), conn, engineCheckInterval, func(err error) {
		fmt.Fprintf(os.Stderr, "pulumi-resource-command: the engine is gone (%v): stopping\n", err)
		p.stop()
		time.Sleep(exitGrace) // let cancelled commands report; not a synchronisation
		os.Exit(1)
	})
}
