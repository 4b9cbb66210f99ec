package main

import (
	"fmt"
	"sort"
)

// unknownSentinel is how the engine encodes unknown values in plain structs.
const unknownSentinel = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"

func isUnknown(v any) bool { s, ok := v.(string); return ok && s == unknownSentinel }

// Upstream defaults for connection fields (remote/connection.go Annotate).
const (
	defaultUser           = "root"
	defaultPort           = 22
	defaultDialErrorLimit = 10 // -1: unlimited
	defaultPerDialTimeout = 15 // seconds; 0: no limit
)

// connectionFields are the connection properties this build understands.
var connectionFields = map[string]bool{
	"host": true, "port": true, "user": true, "password": true,
	"privateKey": true, "privateKeyPassword": true, "agentSocketPath": true,
	"dialErrorLimit": true, "perDialTimeout": true, "hostKey": true,
}

type checkFailure struct{ property, reason string }

// checkInputs validates inputs and fills in upstream's defaults (in place),
// so the state records the same inputs as the upstream provider would.
func checkInputs(tok string, news map[string]any) []checkFailure {
	if tok != tokRemote {
		return nil
	}
	raw, present := news["connection"]
	if isUnknown(raw) {
		return nil
	}
	conn, _ := raw.(map[string]any)
	if conn == nil {
		if present && raw != nil {
			return []checkFailure{{"connection", "connection must be an object"}}
		}
		return []checkFailure{{"connection", "missing required property 'connection'"}}
	}
	var failures []checkFailure
	if h, _ := conn["host"].(string); h == "" && !isUnknown(conn["host"]) {
		failures = append(failures, checkFailure{"connection.host", "missing required property 'connection.host'"})
	}
	var unsupported []string
	for k := range conn {
		if !connectionFields[k] {
			unsupported = append(unsupported, k)
		}
	}
	sort.Strings(unsupported)
	for _, k := range unsupported {
		failures = append(failures, checkFailure{"connection." + k,
			fmt.Sprintf("connection.%s is not supported by this pulumi-resource-command build (see tools/README.md)", k)})
	}
	setDefault := func(k string, v any) {
		if conn[k] == nil {
			conn[k] = v
		}
	}
	setDefault("user", defaultUser)
	setDefault("port", float64(defaultPort))
	setDefault("dialErrorLimit", float64(defaultDialErrorLimit))
	setDefault("perDialTimeout", float64(defaultPerDialTimeout))
	return failures
}

// connection is a parsed `connection` input.
type connection struct {
	host, user, password, privateKey, privateKeyPassword, agentSocketPath, hostKey string
	port                                                                           int
	dialErrorLimit                                                                 int // -1: unlimited
	perDialTimeout                                                                 int // seconds; 0: no limit
}

func parseConnection(m map[string]any) (connection, error) {
	if m == nil {
		return connection{}, fmt.Errorf("remote command requires 'connection'")
	}
	c := connection{
		host:               str(m["host"]),
		user:               str(m["user"]),
		password:           str(m["password"]),
		privateKey:         str(m["privateKey"]),
		privateKeyPassword: str(m["privateKeyPassword"]),
		agentSocketPath:    str(m["agentSocketPath"]),
		hostKey:            str(m["hostKey"]),
		port:               intOr(m["port"], defaultPort),
		dialErrorLimit:     intOr(m["dialErrorLimit"], defaultDialErrorLimit),
		perDialTimeout:     intOr(m["perDialTimeout"], defaultPerDialTimeout),
	}
	if c.host == "" {
		return c, fmt.Errorf("connection.host is required")
	}
	if c.user == "" {
		c.user = defaultUser
	}
	return c, nil
}

func intOr(v any, def int) int {
	if f, ok := v.(float64); ok {
		return int(f)
	}
	return def
}
