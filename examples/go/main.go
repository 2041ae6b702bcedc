// Resolve a Service name and fetch a URL through it from Go
// (bindings/go): Load, Resolve, and an http.Transport whose DialContext
// is the resolver's.
//
//	cd examples/go && go run . -f ../manifests -n default \
//	    -server 127.0.0.1:5353 -allow 127.0.0.0/8 \
//	    -get http://httpbin-service:8080/get httpbin-service
//
// -allow lifts a range the resolver's policy denies by default (loopback,
// link-local, cloud metadata, ...): needed only where the target really
// lives there, as a local stand-in does.
//
// The library is found through pkg-config (xsvc.pc, or
// xsvc-uninstalled.pc for a build tree; see bindings/go/README.md).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"xsvc.dev/xsvc"
)

func main() {
	manifests := flag.String("f", "manifests", "manifest file or directory")
	namespace := flag.String("n", "default", "the client's namespace")
	server := flag.String("server", "", "upstream DNS server HOST:PORT (default: /etc/resolv.conf's)")
	get := flag.String("get", "", "a URL to fetch through the resolver")
	var allow []string
	flag.Func("allow", "lift a denied address range, e.g. 127.0.0.0/8 (repeatable)", func(s string) error {
		allow = append(allow, s)
		return nil
	})
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: example [-f manifests] [-n namespace] [-server HOST:PORT] [-get URL] NAME")
		os.Exit(2)
	}
	if err := run(*manifests, *namespace, *server, *get, flag.Arg(0), allow); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(manifests, namespace, server, get, name string, allow []string) error {
	reg, err := xsvc.Load(manifests)
	if err != nil {
		return err // a *xsvc.ManifestError: file:line:column: why
	}
	defer reg.Close()
	opts := xsvc.Options{Registry: reg, Namespace: namespace, AllowedRanges: allow}
	if server != "" {
		opts.Servers = []string{server}
	}
	r, err := xsvc.NewResolver(opts)
	if err != nil {
		return err
	}
	defer r.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ans, err := r.Resolve(ctx, name)
	var xe *xsvc.Error
	if errors.Is(err, xsvc.ErrNotFound) && errors.As(err, &xe) && xe.Answer != nil {
		return fmt.Errorf("%s: not found (tried %s)", name, strings.Join(xe.Answer.Candidates, ", "))
	}
	if err != nil {
		return err
	}
	for _, l := range ans.Chain {
		fmt.Printf("%s -> %s (ttl %v, %s)\n", l.Name, l.Target, l.TTL, l.Source)
	}
	for _, a := range ans.Addrs {
		fmt.Printf("%s ttl %v (%s)\n", a.IP, a.TTL, a.Source)
	}
	// Target: for tls.Config.ServerName and Host (never an upstream CNAME's
	// target); FinalName: where the addresses are, for diagnostics.
	fmt.Printf("TLS/Host name %s (addresses at %s)\n", ans.Target, ans.FinalName)

	if get != "" {
		client := &http.Client{Transport: &http.Transport{DialContext: r.DialContext}}
		defer client.CloseIdleConnections()
		resp, err := client.Get(get)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, 200))
		if err != nil {
			return err
		}
		fmt.Printf("GET %s: %s\n%s\n", get, resp.Status, body)
	}
	return nil
}
