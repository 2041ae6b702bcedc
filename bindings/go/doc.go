// Package xsvc is the Go binding of libxsvc: Kubernetes Service names
// (ExternalName aliases, ClusterIP, headless) resolved in-process as a
// pod in a namespace would, through cgo and the library's public header.
//
//	reg, err := xsvc.Load("manifests/")          // *ManifestError: file:line:col
//	r, err := xsvc.NewResolver(xsvc.Options{Registry: reg, Namespace: "prod"})
//	defer r.Close()
//	ans, err := r.Resolve(ctx, "my-service")     // ans.Chain, ans.Addrs, ans.Target, ans.TTL
//	hosts, err := r.LookupHost(ctx, "my-service") // as net.Resolver
//	client := &http.Client{Transport: &http.Transport{DialContext: r.DialContext}}
//
// # The name for TLS
//
// Answer.Target and Conn.Target are the names for tls.Config.ServerName, the
// certificate check and the HTTP Host header: an ExternalName's target as
// the registry holds it (after in-cluster aliases), the name asked when it
// is outside the cluster, a ClusterIP or headless Service's in-cluster
// name. They never come from an upstream CNAME: DNS without DNSSEC names no
// reference identity (RFC 6125, RFC 7525 section 6.1), and services behind
// a CNAME (load balancers, managed databases) present certificates for the
// name asked. Answer.FinalName is the chain's last name, for diagnostics.
//
// # Errors
//
// Resolve and the Registry's methods return *Error (errors.Is against
// ErrNotFound, ErrNoData, ErrTimeout, ErrPolicy, ... compares the Status;
// a failed resolution's Answer says which candidates were tried), Load a
// *ManifestError. LookupHost and LookupNetIP return *net.DNSError as net
// does (IsNotFound for NXDOMAIN and NODATA, IsTimeout for timeouts);
// DialContext a *net.OpError around a *net.DNSError, or around an *Error
// (ErrConnect unwrapping to the errno, ErrTimeout, ErrPolicy). From Go 1.23
// on the *net.DNSError also unwraps to the *Error. A call whose context
// ended returns an error matching ctx.Err() (and ErrTimeout or
// ErrCancelled).
//
// # Contexts and cancellation
//
// With a context that can end (ctx.Done() != nil) a resolution runs
// asynchronously in the library (xs_resolve_async): when the context ends
// first the request is cancelled there (xs_resolve_cancel) and the call
// returns at once. With one that cannot (context.Background()) the blocking
// xs_resolve is used: nothing could cancel it, and it answers a repeated
// question from the library's result memo, which the asynchronous path
// does not have (see bench/RESULTS.md for the difference). Either way a
// resolution that waits for upstream DNS is bounded by Options.Timeout x
// Attempts per server.
//
// DialContext ("tcp") resolves on the cancellable path first, then connects
// with xs_connect (RFC 8305 Happy Eyeballs, the policy, failover memory,
// named ports "name:portname"), which cannot be cancelled: its attempts
// are bounded by the context's deadline or Options.DialTimeout, and a
// context that ends while they run returns at once, the socket that may
// still come being closed in the background.
//
// # Memory at the FFI boundary
//
//   - Every C object (xs_registry, xs_resolver, xs_server) belongs to one Go
//     object (Registry, Resolver, Server) and is freed exactly once, by
//     Close. Close is idempotent and removes the finalizer; Registry and
//     Resolver also have a finalizer that calls Close when they become
//     unreachable without it. A running Server has none (it keeps serving,
//     and keeps its Resolver alive, until Close or the Resolver's Close).
//   - Calls into C hold the object's read lock, Close its write lock: a
//     Close never frees an object a C call is using; calls after Close fail
//     with ErrClosed.
//   - Results (xs_result) never reach Go code: a C helper in this package
//     copies what Go needs into a Go-owned buffer (Go memory without Go
//     pointers, as cgo requires, valid for the call only) and frees the
//     result in the same call. Answers are plain Go values; their strings
//     share one Go allocation.
//   - A resolution waiting for upstream DNS has a small C record (malloc)
//     that the library's callback fills; the callback, on the library's
//     engine thread, only wakes the waiting goroutine (an exported Go
//     function), which copies the result out and frees result and record.
//     The callback runs exactly once, also on cancellation and on Close, so
//     the record is freed exactly once, and only after it ran.
//   - Strings passed to C are copied (C.CString) and freed after the call;
//     the library copies what it keeps.
//   - A connection's socket from xs_connect is handed to Go's poller with
//     os.NewFile and net.FileConn, which duplicates it; the original
//     descriptor is closed at once, so the returned net.Conn owns the only
//     one.
//
// # Concurrency
//
// Registry, Resolver and Server are safe for concurrent use by many
// goroutines. Package xsvctest has a fake cluster DNS for test suites.
//
// # License
//
// MIT, as libxsvc: see LICENSE at the root of the xsvc repository.
package xsvc
