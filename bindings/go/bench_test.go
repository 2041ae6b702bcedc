package xsvc_test

import (
	"context"
	"net"
	"testing"
	"time"

	"xsvc.dev/xsvc"
	"xsvc.dev/xsvc/xsvctest"
)

// benchResolver: "my-service" in prod is an ExternalName alias of a name
// served by a fake upstream DNS; the first resolution fills the cache, the
// ones measured are answered from it (and from the result memo).
func benchResolver(b *testing.B) *xsvc.Resolver {
	up, err := xsvc.NewRegistry()
	if err != nil {
		b.Fatal(err)
	}
	defer up.Close()
	if err := up.AddClusterIP("ext", "db", "192.0.2.10"); err != nil {
		b.Fatal(err)
	}
	// TTL 300 s: the cache entry does not expire (nor get prefetched)
	// during a run.
	dns := xsvctest.Start(b, up, xsvctest.Options{ClusterDomain: "example.test", TTL: 300 * time.Second})
	reg, err := xsvc.NewRegistry()
	if err != nil {
		b.Fatal(err)
	}
	defer reg.Close()
	if err := reg.AddExternal("prod", "my-service", "db.ext.svc.example.test"); err != nil {
		b.Fatal(err)
	}
	r, err := xsvc.NewResolver(xsvc.Options{Registry: reg, Namespace: "prod", Servers: []string{dns.Addr}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Close() })
	if _, err := r.Resolve(context.Background(), "my-service"); err != nil {
		b.Fatal(err)
	}
	return r
}

// cancellable is a context that can end (as http.Transport's are), which
// takes the asynchronous, cancellable path.
func cancellable(b *testing.B) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	return ctx
}

func benchResolve(b *testing.B, ctx context.Context) {
	r := benchResolver(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		a, err := r.Resolve(ctx, "my-service")
		if err != nil || len(a.Addrs) != 1 {
			b.Fatal(a, err)
		}
	}
}

func benchLookupHost(b *testing.B, ctx context.Context) {
	r := benchResolver(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h, err := r.LookupHost(ctx, "my-service")
		if err != nil || len(h) != 1 {
			b.Fatal(h, err)
		}
	}
}

func BenchmarkResolveCached(b *testing.B) { benchResolve(b, context.Background()) }

func BenchmarkLookupHostCached(b *testing.B) { benchLookupHost(b, context.Background()) }

func BenchmarkResolveCachedCancellable(b *testing.B) { benchResolve(b, cancellable(b)) }

func BenchmarkLookupHostCachedCancellable(b *testing.B) { benchLookupHost(b, cancellable(b)) }

func BenchmarkResolveCachedParallel(b *testing.B) {
	r := benchResolver(b)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := r.Resolve(context.Background(), "my-service"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// For scale: Go's own resolver answering an /etc/hosts name.
func BenchmarkNetDefaultResolverHosts(b *testing.B) {
	ctx := context.Background()
	if _, err := net.DefaultResolver.LookupHost(ctx, "localhost"); err != nil {
		b.Skip("localhost does not resolve here:", err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := net.DefaultResolver.LookupHost(ctx, "localhost"); err != nil {
			b.Fatal(err)
		}
	}
}
