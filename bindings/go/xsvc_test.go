package xsvc_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"xsvc.dev/xsvc"
	"xsvc.dev/xsvc/xsvctest"
)

// The fixture, as the Python binding's tests have it: an HTTP server on
// 127.0.0.1 reached as Service "web" of namespace prod (a manifest on
// disk), and "alias", an ExternalName pointing at a name another fake
// cluster DNS serves, which the resolver asks as its upstream. All traffic
// stays on loopback.
type fixture struct {
	web      *httptest.Server
	port     string
	dir      string
	upstream *xsvctest.FakeDNS
}

const service = `apiVersion: v1
kind: Service
metadata: {name: web, namespace: prod}
spec:
  clusterIP: 127.0.0.1
  ports: [{name: http, port: %s}]
`

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{}
	f.web = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s", r.Host)
	}))
	t.Cleanup(f.web.Close)
	u, _ := url.Parse(f.web.URL)
	f.port = u.Port()
	f.dir = t.TempDir()
	writeFile(t, filepath.Join(f.dir, "web.yaml"), fmt.Sprintf(service, f.port))
	up, err := xsvc.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { up.Close() })
	if err := up.AddClusterIP("ext", "target", "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	f.upstream = xsvctest.Start(t, up, xsvctest.Options{ClusterDomain: "example.test"})
	return f
}

// writeFile writes a manifest the loader accepts (not group/other-writable
// whatever the umask).
func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) registry(t *testing.T) *xsvc.Registry {
	t.Helper()
	reg, err := xsvc.Load(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	if err := reg.AddExternal("prod", "alias", "target.ext.svc.example.test."); err != nil {
		t.Fatal(err)
	}
	return reg
}

// Timeouts in these tests are a minute where they are not what is tested:
// the upstream answers, or a wrong implementation would have to sit this
// out (it is also the longest the library allows); a loaded machine never
// makes a working call that slow. Durations get lower bounds only, or are
// compared with this.
const answerTimeout = 60 * time.Second

func (f *fixture) resolver(t *testing.T, opts xsvc.Options) *xsvc.Resolver {
	t.Helper()
	if opts.Registry == nil {
		opts.Registry = f.registry(t)
	}
	opts.Namespace = "prod"
	if opts.AllowedRanges == nil {
		opts.AllowedRanges = loopback // the fixtures live there
	}
	if opts.Servers == nil {
		opts.Servers = []string{f.upstream.Addr}
	}
	if opts.Timeout == 0 {
		opts.Timeout = answerTimeout
		opts.Attempts = 1
	}
	r, err := xsvc.NewResolver(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// silentServer is an upstream DNS that reads queries and never answers.
func silentServer(t *testing.T) (addr string, queries func() int) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	var mu sync.Mutex
	n := 0
	go func() {
		buf := make([]byte, 4096)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
			mu.Lock()
			n++
			mu.Unlock()
		}
	}()
	return pc.LocalAddr().String(), func() int {
		mu.Lock()
		defer mu.Unlock()
		return n
	}
}

func TestLoadCountsServicesAndClosesTwice(t *testing.T) {
	f := newFixture(t)
	reg := f.registry(t)
	if reg.Len() != 2 {
		t.Fatalf("Len = %d, want 2", reg.Len())
	}
	reg.Close()
	reg.Close()
	if reg.Len() != 0 {
		t.Fatal("a closed registry still counts")
	}
	if err := reg.AddExternal("prod", "x", "x.example.com"); !errors.Is(err, xsvc.ErrClosed) {
		t.Fatalf("after Close: %v, want ErrClosed", err)
	}
}

func TestLoadManifestErrorHasPosition(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.yaml")
	writeFile(t, path, "apiVersion: v1\nkind: Service\nmetadata: {name: Bad_Name}\n")
	_, err := xsvc.Load(path)
	var me *xsvc.ManifestError
	if !errors.As(err, &me) {
		t.Fatalf("err = %#v, want *ManifestError", err)
	}
	if me.File != path || me.Line != 3 || me.Column == 0 || me.Status != xsvc.StatusManifest {
		t.Fatalf("got %+v", me)
	}
	if !strings.Contains(me.Message, `metadata.name: Invalid value: "Bad_Name"`) {
		t.Fatalf("message %q", me.Message)
	}
	if !strings.HasPrefix(err.Error(), fmt.Sprintf("xsvc: %s:3:%d: ", path, me.Column)) {
		t.Fatalf("Error() = %q", err.Error())
	}
	if !errors.Is(err, xsvc.ErrManifest) || errors.Is(err, xsvc.ErrIO) {
		t.Fatal("errors.Is does not tell a manifest error")
	}
}

func TestLoadMissingFileIsIO(t *testing.T) {
	_, err := xsvc.Load("/nonexistent/xsvc.yaml")
	var me *xsvc.ManifestError
	if !errors.As(err, &me) || me.File != "/nonexistent/xsvc.yaml" || !errors.Is(err, xsvc.ErrIO) {
		t.Fatalf("err = %#v", err)
	}
}

func TestLoadWritableDirectoryIsRefusedUnlessAllowed(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "web.yaml"), fmt.Sprintf(service, "80"))
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if _, err := xsvc.Load(dir); !errors.Is(err, xsvc.ErrPolicy) {
		t.Fatalf("err = %v, want ErrPolicy", err)
	}
	reg, err := xsvc.LoadWithOptions(xsvc.LoadOptions{AllowInsecurePermissions: true}, dir)
	if err != nil {
		t.Fatal(err)
	}
	reg.Close()
}

func TestParseErrorNamesTheBuffer(t *testing.T) {
	_, err := xsvc.Parse("inline.yaml", []byte("kind: Service\napiVersion: v1\nmetadata: {name: a}\nspec: {type: Bogus}\n"), xsvc.LoadOptions{})
	var me *xsvc.ManifestError
	if !errors.As(err, &me) || me.File != "inline.yaml" || me.Line != 4 {
		t.Fatalf("err = %#v", err)
	}
	reg, err := xsvc.Parse("ok.yaml", []byte(fmt.Sprintf(service, "80")), xsvc.LoadOptions{})
	if err != nil || reg.Len() != 1 {
		t.Fatal(reg, err)
	}
	reg.Close()
}

func TestRegistryInCodeValidates(t *testing.T) {
	reg, err := xsvc.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	err = reg.AddExternal("prod", "Bad", "x.example.com")
	var e *xsvc.Error
	if !errors.As(err, &e) || !strings.Contains(e.Message, `Invalid value: "Bad"`) {
		t.Fatalf("err = %v", err)
	}
	if err := reg.Remove("prod", "nope"); !errors.Is(err, xsvc.ErrNotFound) {
		t.Fatalf("Remove: %v", err)
	}
	if err := reg.AddClusterIP("prod", "db", "10.96.0.20"); err != nil {
		t.Fatal(err)
	}
	if err := reg.AddPort("prod", "db", "pg", 5432, ""); err != nil {
		t.Fatal(err)
	}
	if err := reg.AddClusterIP("prod", "db", "10.96.0.21"); !errors.Is(err, xsvc.ErrExist) {
		t.Fatalf("duplicate: %v", err)
	}
	if err := reg.AddHeadless("prod", "pods"); err != nil {
		t.Fatal(err)
	}
	if err := reg.AddEndpoint("prod", "pods", "10.1.0.5", "pod-0", true); err != nil {
		t.Fatal(err)
	}
	if err := reg.AddNamespace("empty"); err != nil {
		t.Fatal(err)
	}
	if reg.Len() != 2 {
		t.Fatalf("Len = %d", reg.Len())
	}
}

func TestResolveClusterIPFromRegistry(t *testing.T) {
	f := newFixture(t)
	r := f.resolver(t, xsvc.Options{})
	a, err := r.ResolveFamily(context.Background(), "web", xsvc.FamilyIPv4)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Addrs) != 1 || a.Addrs[0].IP.String() != "127.0.0.1" || a.Addrs[0].Source != xsvc.SourceRegistry {
		t.Fatalf("addrs %+v", a.Addrs)
	}
	if a.Name != "web.prod.svc.cluster.local." || a.Query != "web" || a.Status != xsvc.StatusOK {
		t.Fatalf("answer %+v", a)
	}
}

func TestResolveAliasChainThroughUpstream(t *testing.T) {
	f := newFixture(t)
	r := f.resolver(t, xsvc.Options{})
	ctx := context.Background()
	before := f.upstream.Queries()
	a, err := r.ResolveFamily(ctx, "alias", xsvc.FamilyIPv4)
	if err != nil {
		t.Fatal(err)
	}
	if f.upstream.Queries() == before {
		t.Fatal("the upstream fake DNS was not asked")
	}
	if len(a.Chain) != 1 || a.Chain[0].Name != "alias.prod.svc.cluster.local." ||
		a.Chain[0].Target != "target.ext.svc.example.test." || a.Chain[0].Source != xsvc.SourceRegistry {
		t.Fatalf("chain %+v", a.Chain)
	}
	if a.TTL != 5*time.Second || a.Chain[0].TTL != 5*time.Second {
		t.Fatalf("TTLs %v %v", a.TTL, a.Chain[0].TTL)
	}
	if a.Target != "target.ext.svc.example.test." || len(a.Addrs) != 1 ||
		a.Addrs[0].IP.String() != "127.0.0.1" || a.Addrs[0].Source != xsvc.SourceUpstream {
		t.Fatalf("answer %+v", a)
	}
	// again, with a cancellable context: from the cache, no upstream query
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	n := f.upstream.Queries()
	a, err = r.ResolveFamily(cctx, "alias", xsvc.FamilyIPv4)
	if err != nil || a.Addrs[0].Source != xsvc.SourceCache || f.upstream.Queries() != n {
		t.Fatalf("second: %+v %v", a, err)
	}
	hosts, err := r.LookupHost(cctx, "alias")
	if err != nil || strings.Join(hosts, ",") != "127.0.0.1" {
		t.Fatalf("LookupHost: %v %v", hosts, err)
	}
	ips, err := r.LookupNetIP(ctx, "ip4", "alias")
	if err != nil || len(ips) != 1 || ips[0].String() != "127.0.0.1" {
		t.Fatalf("LookupNetIP: %v %v", ips, err)
	}
	// address literals are answers, as net.Resolver has them
	if hosts, err := r.LookupHost(ctx, "::1"); err != nil || hosts[0] != "::1" {
		t.Fatalf("LookupHost(::1): %v %v", hosts, err)
	}
	if _, err := r.LookupNetIP(ctx, "ip6", "192.0.2.1"); err == nil {
		t.Fatal("LookupNetIP(ip6, an IPv4 literal) answered")
	}
}

// An upstream that answers lb.ext.svc.example.test with a CNAME, as a load
// balancer's DNS does (-> target.ext.svc.example.test, 127.0.0.1), and a
// resolver whose registry has db -> lb.ext.svc.example.test and the
// in-cluster alias a -> db.prod.svc.cluster.local.
func cnameResolver(t *testing.T, f *fixture) *xsvc.Resolver {
	t.Helper()
	up, err := xsvc.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { up.Close() })
	if err := up.AddClusterIP("ext", "target", "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	if err := up.AddExternal("ext", "lb", "target.ext.svc.example.test."); err != nil {
		t.Fatal(err)
	}
	dns := xsvctest.Start(t, up, xsvctest.Options{ClusterDomain: "example.test"})
	reg := f.registry(t)
	if err := reg.AddExternal("prod", "db", "lb.ext.svc.example.test."); err != nil {
		t.Fatal(err)
	}
	if err := reg.AddExternal("prod", "a", "db.prod.svc.cluster.local."); err != nil {
		t.Fatal(err)
	}
	return f.resolver(t, xsvc.Options{Registry: reg, Servers: []string{dns.Addr}})
}

func TestTargetIsNotTheUpstreamCNAMETarget(t *testing.T) {
	f := newFixture(t)
	r := cnameResolver(t, f)
	for _, c := range []struct{ name, target, final string }{
		{"db", "lb.ext.svc.example.test.", "target.ext.svc.example.test."},
		{"a", "lb.ext.svc.example.test.", "target.ext.svc.example.test."},
		{"lb.ext.svc.example.test.", "lb.ext.svc.example.test.", "target.ext.svc.example.test."},
		{"web", "web.prod.svc.cluster.local.", "web.prod.svc.cluster.local."},
	} {
		a, err := r.ResolveFamily(context.Background(), c.name, xsvc.FamilyIPv4)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if a.Target != c.target || a.FinalName != c.final {
			t.Fatalf("%s: Target %q FinalName %q, want %q %q", c.name, a.Target, a.FinalName, c.target, c.final)
		}
	}
}

func TestConnTargetIsTheExternalName(t *testing.T) {
	f := newFixture(t)
	r := cnameResolver(t, f)
	for _, ctx := range []context.Context{context.Background(), cancellableCtx(t)} {
		for _, host := range []string{"db", "a", "lb.ext.svc.example.test."} {
			c, err := r.Connect(ctx, net.JoinHostPort(host, f.port))
			if err != nil {
				t.Fatalf("%s: %v", host, err)
			}
			c.Close()
			if c.Target != "lb.ext.svc.example.test" {
				t.Fatalf("%s: Target %q", host, c.Target)
			}
		}
	}
}

func TestResolveNotFoundKeepsTheAnswer(t *testing.T) {
	f := newFixture(t)
	r := f.resolver(t, xsvc.Options{})
	for _, ctx := range []context.Context{context.Background(), cancellableCtx(t)} {
		_, err := r.Resolve(ctx, "nosuch.prod.svc.cluster.local.")
		var e *xsvc.Error
		if !errors.As(err, &e) || !errors.Is(err, xsvc.ErrNotFound) || e.Status != xsvc.StatusNotFound {
			t.Fatalf("err = %#v", err)
		}
		if e.Answer == nil || strings.Join(e.Answer.Candidates, ",") != "nosuch.prod.svc.cluster.local." {
			t.Fatalf("answer %+v", e.Answer)
		}
		if _, err := r.Resolve(ctx, "bad..name"); !errors.Is(err, xsvc.ErrBadName) {
			t.Fatalf("bad name: %v", err)
		}
		_, err = r.LookupHost(ctx, "nosuch.prod.svc.cluster.local.")
		var d *net.DNSError
		if !errors.As(err, &d) || !d.IsNotFound || d.IsTimeout || d.Name != "nosuch.prod.svc.cluster.local." {
			t.Fatalf("LookupHost: %#v", err)
		}
	}
	// a namespace without the Service: NODATA, which ErrNotFound also takes
	if _, err := r.Resolve(context.Background(), "prod.svc.cluster.local."); !errors.Is(err, xsvc.ErrNoData) ||
		!errors.Is(err, xsvc.ErrNotFound) {
		t.Fatalf("NODATA: %v", err)
	}
}

func cancellableCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return ctx
}

var loopback = []string{"127.0.0.0/8", "::1"}

// Loopback is denied unless lifted; a lifted range can be denied again,
// more specifically.
func TestLoopbackDeniedByDefault(t *testing.T) {
	f := newFixture(t)
	r := f.resolver(t, xsvc.Options{AllowedRanges: []string{}})
	_, err := r.Resolve(context.Background(), "web")
	if !errors.Is(err, xsvc.ErrPolicy) || !strings.Contains(err.Error(), "127.0.0.0/8 (loopback)") {
		t.Fatalf("default: %v", err)
	}
	r = f.resolver(t, xsvc.Options{})
	if _, err := r.Resolve(context.Background(), "web"); err != nil {
		t.Fatalf("lifted: %v", err)
	}
	if _, err := xsvc.NewResolver(xsvc.Options{AllowedRanges: []string{"bad"}}); err == nil ||
		!strings.Contains(err.Error(), "AllowedRanges") {
		t.Fatalf("bad range: %v", err)
	}
}

func TestPolicyRefusalIsErrPolicy(t *testing.T) {
	f := newFixture(t)
	r := f.resolver(t, xsvc.Options{DeniedRanges: []string{"127.0.0.1"}})
	_, err := r.Resolve(context.Background(), "web")
	var e *xsvc.Error
	if !errors.As(err, &e) || !errors.Is(err, xsvc.ErrPolicy) || !strings.Contains(e.Message, "127.0.0.1/32") {
		t.Fatalf("err = %v", err)
	}
	_, err = r.LookupHost(context.Background(), "web")
	var d *net.DNSError
	if !errors.As(err, &d) || d.IsNotFound || !strings.Contains(d.Err, "127.0.0.1/32") {
		t.Fatalf("LookupHost: %#v", err)
	}
	_, err = r.DialContext(context.Background(), "tcp", "web:"+f.port)
	if !errors.Is(err, xsvc.ErrPolicy) {
		t.Fatalf("DialContext: %v", err)
	}
}

// The upstream never answers: the context's deadline ends the call (not
// before it, and long before the library's own timeout of a minute), the
// request is cancelled in the library, and the resolver goes on working.
func TestDeadlineCancelsTheRequest(t *testing.T) {
	f := newFixture(t)
	silent, queries := silentServer(t)
	r := f.resolver(t, xsvc.Options{Servers: []string{silent}, Timeout: answerTimeout, Attempts: 1})
	const deadline = 200 * time.Millisecond

	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	start := time.Now()
	_, err := r.Resolve(ctx, "www.example.com.")
	took := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, xsvc.ErrTimeout) {
		t.Fatalf("err = %v", err)
	}
	if took < deadline || took >= answerTimeout {
		t.Fatalf("returned after %v, deadline %v", took, deadline)
	}
	if queries() == 0 {
		t.Fatal("the silent upstream was never asked")
	}

	ctx, cancel = context.WithTimeout(context.Background(), deadline)
	defer cancel()
	_, err = r.LookupHost(ctx, "www.example.org.")
	var d *net.DNSError
	if !errors.As(err, &d) || !d.IsTimeout || d.IsNotFound {
		t.Fatalf("LookupHost: %#v", err)
	}

	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start = time.Now()
	_, err = r.Resolve(ctx, "www.example.net.")
	if !errors.Is(err, context.Canceled) || !errors.Is(err, xsvc.ErrCancelled) || time.Since(start) >= answerTimeout {
		t.Fatalf("cancel: %v after %v", err, time.Since(start))
	}

	if _, err := r.Resolve(context.Background(), "web"); err != nil {
		t.Fatalf("after cancellations: %v", err)
	}
}

func TestManyGoroutinesResolveAtOnce(t *testing.T) {
	f := newFixture(t)
	r := f.resolver(t, xsvc.Options{})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			ctx := context.Background()
			if g%2 == 1 {
				c, cancel := context.WithTimeout(ctx, answerTimeout)
				defer cancel()
				ctx = c
			}
			for i := 0; i < 300; i++ {
				var err error
				switch i % 3 {
				case 0:
					var a *xsvc.Answer
					if a, err = r.ResolveFamily(ctx, "web", xsvc.FamilyIPv4); err == nil && a.Addrs[0].IP.String() != "127.0.0.1" {
						err = fmt.Errorf("web: %+v", a)
					}
				case 1:
					var a *xsvc.Answer
					if a, err = r.ResolveFamily(ctx, "alias", xsvc.FamilyIPv4); err == nil && a.Target != "target.ext.svc.example.test." {
						err = fmt.Errorf("alias: %+v", a)
					}
				case 2:
					_, err = r.LookupHost(ctx, fmt.Sprintf("nosuch-%d.prod.svc.cluster.local.", i))
					var d *net.DNSError
					if errors.As(err, &d) && d.IsNotFound {
						err = nil
					}
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// Close while goroutines resolve: each call either answers or fails with
// ErrClosed; nothing is freed twice or used after.
func TestCloseWhileResolving(t *testing.T) {
	f := newFixture(t)
	silent, _ := silentServer(t)
	r := f.resolver(t, xsvc.Options{Servers: []string{silent}, Timeout: answerTimeout})
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), answerTimeout)
			defer cancel()
			for i := 0; ; i++ {
				name := "web"
				if g%2 == 0 {
					name = fmt.Sprintf("pending-%d-%d.example.com.", g, i) // waits on upstream
				}
				_, err := r.Resolve(ctx, name)
				if errors.Is(err, xsvc.ErrClosed) {
					return
				}
				if err != nil && !errors.Is(err, xsvc.ErrCancelled) {
					t.Errorf("%s: %v", name, err)
					return
				}
			}
		}(g)
	}
	time.Sleep(100 * time.Millisecond)
	r.Close()
	wg.Wait()
	r.Close()
}

// Resolvers and registries left to the garbage collector are freed by
// their finalizers, once.
func TestFinalizersFree(t *testing.T) {
	for i := 0; i < 20; i++ {
		reg, err := xsvc.NewRegistry()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := xsvc.NewResolver(xsvc.Options{Registry: reg, Servers: []string{"127.0.0.1:9"}}); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			reg.Close() // closed by hand: the finalizer must not free it again
		}
	}
	for i := 0; i < 3; i++ {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
}

func TestHTTPTransportReachesClusterNames(t *testing.T) {
	f := newFixture(t)
	r := f.resolver(t, xsvc.Options{})
	client := &http.Client{Transport: &http.Transport{DialContext: r.DialContext}, Timeout: answerTimeout}
	defer client.CloseIdleConnections()
	for _, host := range []string{"web", "alias", "web.prod.svc.cluster.local"} {
		resp, err := client.Get("http://" + host + ":" + f.port + "/")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := "hello " + host + ":" + f.port; string(body) != want {
			t.Fatalf("got %q, want %q", body, want)
		}
	}
}

func TestConnectNamedPort(t *testing.T) {
	f := newFixture(t)
	r := f.resolver(t, xsvc.Options{})
	c, err := r.Connect(cancellableCtx(t), "web:http")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Target != "web.prod.svc.cluster.local" || c.RemoteAddr().String() != "127.0.0.1:"+f.port || c.Attempts < 1 {
		t.Fatalf("conn %+v to %v", c, c.RemoteAddr())
	}
	fmt.Fprintf(c, "GET / HTTP/1.0\r\nHost: web\r\n\r\n")
	got, _ := io.ReadAll(c)
	if !strings.Contains(string(got), "hello web") {
		t.Fatalf("reply %q", got)
	}
	lit, err := r.Connect(context.Background(), "127.0.0.1:"+f.port)
	if err != nil || lit.Target != "127.0.0.1" {
		t.Fatalf("Connect to a literal: %v %v", lit, err)
	}
	lit.Close()
	// tcp4 and IP literals go through net.Dialer
	for _, addr := range []string{"web:" + f.port, "127.0.0.1:" + f.port} {
		conn, err := r.DialContext(context.Background(), "tcp4", addr)
		if err != nil {
			t.Fatal(err)
		}
		conn.Close()
	}
}

func TestDialErrors(t *testing.T) {
	f := newFixture(t)
	r := f.resolver(t, xsvc.Options{})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().(*net.TCPAddr).Port
	l.Close()
	_, err = r.DialContext(context.Background(), "tcp", fmt.Sprintf("web:%d", closed))
	var op *net.OpError
	if !errors.As(err, &op) || !errors.Is(err, xsvc.ErrConnect) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("refused: %#v", err)
	}
	_, err = r.DialContext(context.Background(), "tcp", "nosuch.prod.svc.cluster.local.:80")
	var d *net.DNSError
	if !errors.As(err, &op) || !errors.As(err, &d) || !d.IsNotFound {
		t.Fatalf("not found: %#v", err)
	}
	if _, err = r.DialContext(context.Background(), "tcp", "web:nope"); !errors.As(err, &d) || !d.IsNotFound {
		t.Fatalf("unknown port name: %v", err)
	}
	for _, addr := range []string{"web", "web:0", "web:99999", "web:"} {
		var ae *net.AddrError
		if _, err = r.DialContext(context.Background(), "tcp", addr); !errors.As(err, &op) ||
			(addr != "web" && !errors.As(err, &ae)) {
			t.Fatalf("%q: %v", addr, err)
		}
	}
	if _, err = r.DialContext(context.Background(), "unix", "web:80"); !errors.As(err, &op) {
		t.Fatalf("unix: %v", err)
	}
}

func TestDialDeadlineWithSilentUpstream(t *testing.T) {
	f := newFixture(t)
	silent, _ := silentServer(t)
	r := f.resolver(t, xsvc.Options{Servers: []string{silent}, Timeout: answerTimeout, Attempts: 1})
	const deadline = 300 * time.Millisecond
	for _, withDeadline := range []bool{true, false} {
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		if !withDeadline { // cancelled, without a deadline
			cancel()
			ctx, cancel = context.WithCancel(context.Background())
			time.AfterFunc(deadline, cancel)
		}
		start := time.Now()
		_, err := r.DialContext(ctx, "tcp", "www.example.com.:80")
		took := time.Since(start)
		cancel()
		var ne net.Error
		if withDeadline && (!errors.As(err, &ne) || !ne.Timeout()) {
			t.Fatalf("deadline: %#v", err)
		}
		if !withDeadline && !errors.Is(err, context.Canceled) {
			t.Fatalf("cancel: %#v", err)
		}
		if took < deadline-50*time.Millisecond || took >= answerTimeout {
			t.Fatalf("returned after %v (deadline %v)", took, deadline)
		}
	}
}

func TestFakeDNSAnswersNetResolver(t *testing.T) {
	reg, err := xsvc.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	if err := reg.AddClusterIP("prod", "db", "10.96.0.20"); err != nil {
		t.Fatal(err)
	}
	dns := xsvctest.Start(t, reg, xsvctest.Options{})
	if dns.Host != "127.0.0.1" || dns.Port == 0 {
		t.Fatalf("fake DNS at %q", dns.Addr)
	}
	nr := dns.NetResolver()
	ctx, cancel := context.WithTimeout(context.Background(), answerTimeout)
	defer cancel()
	addrs, err := nr.LookupHost(ctx, "db.prod.svc.cluster.local")
	if err != nil || strings.Join(addrs, ",") != "10.96.0.20" {
		t.Fatalf("LookupHost: %v %v", addrs, err)
	}
	if err := reg.Remove("prod", "db"); err != nil {
		t.Fatal(err)
	}
	_, err = nr.LookupHost(ctx, "db.prod.svc.cluster.local")
	var d *net.DNSError
	if !errors.As(err, &d) || !d.IsNotFound {
		t.Fatalf("after Remove: %v", err)
	}
	if err := dns.Close(); err != nil {
		t.Fatal(err)
	}
	dns.Close()
}

// Answers larger than the pooled buffer (100 endpoints) and chains longer
// than the inline room come out whole, on both paths.
func TestLargeAnswersAndLongChains(t *testing.T) {
	reg, err := xsvc.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	if err := reg.AddHeadless("prod", "pods"); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for i := 0; i < 100; i++ {
		ip := fmt.Sprintf("10.1.%d.%d", i/50, 100+i%50)
		want[ip] = true
		if err := reg.AddEndpoint("prod", "pods", ip, "", true); err != nil {
			t.Fatal(err)
		}
	}
	for i, target := range []string{"a2", "a3", "a4", "pods"} {
		if err := reg.AddExternal("prod", fmt.Sprintf("a%d", i+1), target+".prod.svc.cluster.local"); err != nil {
			t.Fatal(err)
		}
	}
	r, err := xsvc.NewResolver(xsvc.Options{Registry: reg, Namespace: "prod", Servers: []string{"127.0.0.1:9"}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, ctx := range []context.Context{context.Background(), cancellableCtx(t)} {
		for i := 0; i < 2; i++ { // the second time from the memo
			a, err := r.ResolveFamily(ctx, "a1", xsvc.FamilyIPv4)
			if err != nil {
				t.Fatal(err)
			}
			if len(a.Chain) != 4 || a.Chain[3].Target != "pods.prod.svc.cluster.local." || len(a.Addrs) != 100 {
				t.Fatalf("chain %+v, %d addresses", a.Chain, len(a.Addrs))
			}
			for _, ad := range a.Addrs {
				if !want[ad.IP.String()] {
					t.Fatalf("unexpected %v", ad.IP)
				}
			}
			hosts, err := r.LookupHost(ctx, "a1")
			if err != nil || len(hosts) != 100 || !want[hosts[99]] {
				t.Fatalf("LookupHost: %d %v", len(hosts), err)
			}
		}
	}
}

func TestRegistryChangesAreSeenAtOnce(t *testing.T) {
	f := newFixture(t)
	reg := f.registry(t)
	r := f.resolver(t, xsvc.Options{Registry: reg, TTL: 30 * time.Second})
	ctx := context.Background()
	if a, err := r.Resolve(ctx, "web"); err != nil || a.TTL != 30*time.Second {
		t.Fatalf("TTL option: %+v %v", a, err)
	}
	if err := reg.SetExternal("prod", "alias", "web.prod.svc.cluster.local"); err != nil {
		t.Fatal(err)
	}
	a, err := r.ResolveFamily(ctx, "alias", xsvc.FamilyIPv4)
	if err != nil || a.Target != "web.prod.svc.cluster.local." || a.Addrs[0].Source != xsvc.SourceRegistry {
		t.Fatalf("after SetExternal: %+v %v", a, err)
	}
	other, err := xsvc.Parse("other.yaml", []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"), xsvc.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if other.Skipped() != 1 || other.Len() != 0 {
		t.Fatalf("skipped %d, len %d", other.Skipped(), other.Len())
	}
	if err := reg.Replace(other); err != nil {
		t.Fatal(err)
	}
	if reg.Len() != 0 {
		t.Fatalf("after Replace: %d services", reg.Len())
	}
	_, err = r.Resolve(ctx, "web.prod.svc.cluster.local.")
	if !errors.Is(err, xsvc.ErrNotFound) || err.Error() != "xsvc: web.prod.svc.cluster.local.: "+xsvc.StatusNotFound.Text() {
		t.Fatalf("after Replace: %v", err)
	}
}

func TestInvalidOptionsAreErrInvalid(t *testing.T) {
	_, err := xsvc.NewResolver(xsvc.Options{Namespace: "Bad_NS"})
	if !errors.Is(err, xsvc.ErrInvalid) || !strings.Contains(err.Error(), "option Namespace") {
		t.Fatalf("err = %v", err)
	}
	if _, err := xsvc.NewResolver(xsvc.Options{Servers: []string{"127.0.0.1:9"}, Timeout: time.Hour}); !errors.Is(err, xsvc.ErrInvalid) {
		t.Fatalf("timeout: %v", err)
	}
	if xsvc.StatusPolicy.String() != "EPOLICY" || xsvc.Status(99).String() != "Status(99)" || xsvc.SourceStale.String() != "stale" {
		t.Fatal("names")
	}
	var ne net.Error = xsvc.ErrTimeout
	if !ne.Timeout() || !ne.Temporary() || errors.Is(xsvc.ErrTimeout, xsvc.ErrNotFound) {
		t.Fatal("net.Error")
	}
}
