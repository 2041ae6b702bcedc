// Package xsvctest is a fake cluster DNS for test suites: a DNS server on
// loopback answering from an xsvc.Registry exactly as the cluster's
// CoreDNS would, so code that asks DNS (net.Resolver, other programs) sees
// the cluster's names.
//
//	reg, _ := xsvc.NewRegistry()
//	reg.AddClusterIP("prod", "db", "10.96.0.20")
//	dns := xsvctest.Start(t, reg, xsvctest.Options{})
//	addrs, err := dns.NetResolver().LookupHost(ctx, "db.prod.svc.cluster.local")
//	reg.SetExternal(...) // served from the next query on
package xsvctest

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"xsvc.dev/xsvc"
)

// Options adjust the fake DNS.
type Options struct {
	Listen        string   // "127.0.0.1:0" if empty (a free port)
	Namespace     string   // the namespace short names are resolved in
	ClusterDomain string   // "cluster.local" if empty
	Upstream      []string // servers for names outside the cluster (none: REFUSED)
	// TTL of the answers (default 5s, as CoreDNS; negative: 0).
	TTL time.Duration
	// The address policy over forwarded answers, as xsvc.Options has it:
	// AllowedRanges lifts default denials (e.g. "127.0.0.0/8" for an
	// upstream that answers with loopback addresses), DeniedRanges adds.
	AllowedRanges []string
	DeniedRanges  []string
}

// FakeDNS is a running fake cluster DNS (UDP and TCP on one address).
type FakeDNS struct {
	Addr string // "127.0.0.1:40123"
	Host string // "127.0.0.1"
	Port int

	res *xsvc.Resolver
	srv *xsvc.Server
}

// New starts a fake DNS serving reg (which stays the caller's).
func New(reg *xsvc.Registry, opts Options) (*FakeDNS, error) {
	res, err := xsvc.NewResolver(xsvc.Options{Registry: reg, Namespace: opts.Namespace,
		ClusterDomain: opts.ClusterDomain, Servers: opts.Upstream, TTL: opts.TTL,
		AllowedRanges: opts.AllowedRanges, DeniedRanges: opts.DeniedRanges})
	if err != nil {
		return nil, err
	}
	listen := opts.Listen
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	srv, err := res.Serve(listen)
	if err != nil {
		res.Close()
		return nil, err
	}
	addr := srv.Addr()
	host := strings.Trim(addr[:strings.LastIndexByte(addr, ':')], "[]")
	return &FakeDNS{Addr: addr, Host: host, Port: srv.Port(), res: res, srv: srv}, nil
}

// Start is New for a test: it fails the test on error and stops the server
// when the test ends.
func Start(tb testing.TB, reg *xsvc.Registry, opts Options) *FakeDNS {
	tb.Helper()
	f, err := New(reg, opts)
	if err != nil {
		tb.Fatalf("xsvctest: %v", err)
	}
	tb.Cleanup(func() { f.Close() })
	return f
}

// NetResolver is a Go net.Resolver that asks only this server.
func (f *FakeDNS) NetResolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, f.Addr)
	}}
}

// Queries is the number of DNS messages the server has read.
func (f *FakeDNS) Queries() uint64 { return f.srv.Queries() }

// Close stops the server (queries being answered finish first). Idempotent.
func (f *FakeDNS) Close() error {
	f.srv.Close()
	return f.res.Close()
}
