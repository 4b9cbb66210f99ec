package main

import (
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// A stand-in engine: a gRPC server with the health service, as the real engine has.
func fakeEngine(t *testing.T) (addr string, kill func()) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go func() { _ = srv.Serve(lis) }()
	return lis.Addr().String(), srv.Stop
}

func TestWatchEngineNoticesTheEngineGone(t *testing.T) {
	addr, kill := fakeEngine(t)
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	gone := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go watchEngine(ctx, conn, 20*time.Millisecond, func(err error) { gone <- err })

	// Alive: several checks pass without a call.
	select {
	case err := <-gone:
		t.Fatalf("engine reported gone while alive: %v", err)
	case <-time.After(200 * time.Millisecond):
	}

	kill() // the engine is killed -9: its server stops answering
	select {
	case err := <-gone:
		if err == nil {
			t.Fatal("gone without an error")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the provider did not notice its engine was gone")
	}
}

func TestWatchEngineStopsWithItsContext(t *testing.T) {
	addr, kill := fakeEngine(t)
	defer kill()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		watchEngine(ctx, conn, 20*time.Millisecond, func(err error) { t.Errorf("gone called: %v", err) })
		close(done)
	}()
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("watchEngine did not return after its context ended")
	}
}
