package xsvc

/*
#cgo pkg-config: xsvc
#cgo CFLAGS: -std=gnu99 -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter
#include <stdlib.h>
#include "helper.h"
*/
import "C"

import (
	"context"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// Family selects the address families a resolution asks for.
type Family int

// Address families (xs_family).
const (
	FamilyAny  Family = 0 // A and AAAA
	FamilyIPv4 Family = 4
	FamilyIPv6 Family = 6
)

// Options configure a Resolver. The zero value is a pod in namespace
// "default" of cluster.local, asking the servers of /etc/resolv.conf.
type Options struct {
	// Registry holds the cluster's Services (nil: none; every cluster name
	// is NXDOMAIN). The resolver keeps its own reference: closing the
	// Registry later does not affect it, changes to it are seen at once.
	Registry *Registry
	// Namespace is the client's namespace ("default" if empty).
	Namespace string
	// ClusterDomain is the cluster's DNS zone ("cluster.local" if empty).
	ClusterDomain string
	// Search domains appended after the cluster's suffixes.
	Search []string
	// Servers are upstream DNS servers, "HOST[:PORT]" or "[v6]:port". Empty:
	// /etc/resolv.conf's.
	Servers []string
	// Timeout per upstream attempt (default 2s) and Attempts per server
	// (default 2).
	Timeout  time.Duration
	Attempts int
	// TTL of the records synthesized from the registry (default 5s, as
	// CoreDNS; negative: 0, records not to be cached).
	TTL time.Duration
	// Strict answers as RFC 6604 (the chain kept, the final rcode) instead
	// of as CoreDNS does.
	Strict bool
	// AllowedTargets: once set, every name an alias chain points at (its
	// ExternalName targets, in-cluster ones too, and upstream CNAMEs) must
	// be one of these names or below one.
	AllowedTargets []string
	// DeniedRanges ("10.0.0.0/8", "192.0.2.1") are left out of answers, in
	// addition to the default denied ranges (loopback, unspecified,
	// link-local, cloud metadata, multicast, broadcast; IPv4 carried in
	// IPv6 judged as IPv4) unless NoDefaultDeniedRanges. AllowedRanges
	// ("127.0.0.0/8", "::1") lift denials: the most specific range decides.
	DeniedRanges          []string
	AllowedRanges         []string
	NoDefaultDeniedRanges bool
	// ConnectAttemptDelay is DialContext's Happy Eyeballs delay between
	// connection attempts (default 250ms); PreferIPv4 tries IPv4 first.
	ConnectAttemptDelay time.Duration
	PreferIPv4          bool
	// DialTimeout bounds DialContext when its context has no deadline
	// (default 30s).
	DialTimeout time.Duration
}

// Resolver resolves names as a pod in its namespace would: the cluster's
// names from the registry, everything else (and ExternalName targets)
// through upstream DNS, with a cache. Safe for concurrent use by many
// goroutines. Close it when done (a finalizer does it otherwise).
type Resolver struct {
	mu          sync.RWMutex // read: around C calls; write: Close
	ptr         *C.xs_resolver
	servers     map[*Server]struct{}
	dialTimeout time.Duration
}

func configError(option string, st C.xs_status) error {
	return &Error{Status: Status(st), Message: "option " + option}
}

// NewResolver starts a resolver (and its engine thread) with opts.
func NewResolver(opts Options) (*Resolver, error) {
	var cfg *C.xs_config
	if st := C.xs_config_new(&cfg); st != C.XS_OK {
		return nil, statusError(st)
	}
	defer C.xs_config_free(cfg)
	var cs cstrings
	defer cs.free()
	set := func(option string, st C.xs_status) error {
		if st != C.XS_OK {
			return configError(option, st)
		}
		return nil
	}
	var errs []error
	if opts.Namespace != "" {
		errs = append(errs, set("Namespace", C.xs_config_set_namespace(cfg, cs.add(opts.Namespace))))
	}
	if opts.ClusterDomain != "" {
		errs = append(errs, set("ClusterDomain", C.xs_config_set_cluster_domain(cfg, cs.add(opts.ClusterDomain))))
	}
	for _, s := range opts.Search {
		errs = append(errs, set("Search", C.xs_config_add_search(cfg, cs.add(s))))
	}
	for _, s := range opts.Servers {
		errs = append(errs, set("Servers", C.xs_config_add_server(cfg, cs.add(s))))
	}
	if opts.Timeout != 0 {
		errs = append(errs, set("Timeout", C.xs_config_set_timeout_ms(cfg, C.int(opts.Timeout.Milliseconds()))))
	}
	if opts.Attempts != 0 {
		errs = append(errs, set("Attempts", C.xs_config_set_attempts(cfg, C.int(opts.Attempts))))
	}
	if opts.TTL != 0 {
		ttl := int(opts.TTL / time.Second)
		if opts.TTL < 0 {
			ttl = 0
		}
		errs = append(errs, set("TTL", C.xs_config_set_ttl(cfg, C.int(ttl))))
	}
	if opts.Strict {
		errs = append(errs, set("Strict", C.xs_config_set_mode(cfg, C.XS_MODE_STRICT)))
	}
	for _, s := range opts.AllowedTargets {
		errs = append(errs, set("AllowedTargets", C.xs_config_add_allowed_target(cfg, cs.add(s))))
	}
	if opts.NoDefaultDeniedRanges {
		errs = append(errs, set("NoDefaultDeniedRanges", C.xs_config_clear_denied_ranges(cfg)))
	}
	for _, s := range opts.DeniedRanges {
		errs = append(errs, set("DeniedRanges", C.xs_config_add_denied_range(cfg, cs.add(s))))
	}
	for _, s := range opts.AllowedRanges {
		errs = append(errs, set("AllowedRanges", C.xs_config_allow_range(cfg, cs.add(s))))
	}
	if opts.ConnectAttemptDelay != 0 {
		errs = append(errs, set("ConnectAttemptDelay",
			C.xs_config_set_connect_attempt_delay(cfg, C.int(opts.ConnectAttemptDelay.Milliseconds()))))
	}
	if opts.PreferIPv4 {
		errs = append(errs, set("PreferIPv4", C.xs_config_set_connect_prefer(cfg, 4)))
	}
	// DialContext hands the socket to Go's poller.
	errs = append(errs, set("nonblock", C.xs_config_set_connect_nonblock(cfg, 1)))
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	var reg *C.xs_registry
	if opts.Registry != nil {
		opts.Registry.mu.RLock()
		defer opts.Registry.mu.RUnlock()
		if opts.Registry.ptr == nil {
			return nil, ErrClosed
		}
		reg = opts.Registry.ptr
	}
	var p *C.xs_resolver
	var cerr C.xs_error
	if err := errorFrom(C.xs_resolver_new(cfg, reg, &p, &cerr), &cerr); err != nil {
		return nil, err
	}
	r := &Resolver{ptr: p, dialTimeout: opts.DialTimeout}
	if r.dialTimeout <= 0 {
		r.dialTimeout = 30 * time.Second
	}
	runtime.SetFinalizer(r, (*Resolver).Close)
	return r, nil
}

// Close stops the resolver's servers, then the resolver: resolutions in
// flight with a cancellable context end with StatusCancelled; blocking
// ones (context.Background) and connection attempts under way are waited
// for. Idempotent; later calls fail with ErrClosed.
func (r *Resolver) Close() error {
	r.mu.Lock()
	servers := r.servers
	r.servers = nil
	r.mu.Unlock()
	for s := range servers {
		s.Close()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ptr != nil {
		C.xs_resolver_free(r.ptr)
		r.ptr = nil
		runtime.SetFinalizer(r, nil)
	}
	return nil
}

const (
	headSize = int(unsafe.Sizeof(C.xsgo_head{}))
	bufSize  = 1024 // most answers fit; larger ones take a second call
	// Longer names are not valid DNS names (at most 254 octets as text);
	// they stay within helper.c's XSGO_NAME_MAX.
	maxName = bufSize - headSize
)

var bufPool = sync.Pool{New: func() any {
	b := make([]byte, bufSize)
	return &b
}}

// outcome is one resolution copied out of C: data is in buf (from bufPool;
// give it back with release) or in a buffer of its own.
type outcome struct {
	status Status
	data   []byte
	buf    *[]byte
}

func (o *outcome) release() {
	if o.buf != nil {
		bufPool.Put(o.buf)
		o.buf = nil
	}
}

// resolve is every lookup's path into C: one cgo call when the answer is
// there at once. With a context that can end, the resolution is
// asynchronous, so that the context's end cancels it in the library; with
// one that cannot (context.Background), the blocking xs_resolve is used,
// which answers repeated questions from the library's result memo.
func (r *Resolver) resolve(ctx context.Context, name string, family Family, mode C.int) (outcome, *Error) {
	if len(name) > maxName || strings.IndexByte(name, 0) >= 0 {
		return outcome{status: StatusBadName}, nil
	}
	done := ctx.Done()
	if done != nil {
		select {
		case <-done:
			return outcome{}, contextError(ctx, name)
		default:
		}
	}
	async := C.int(0)
	if done != nil {
		async = 1
	}
	bp := bufPool.Get().(*[]byte)
	buf := *bp
	copy(buf[headSize:], name)
	// A plain pointer variable: cgo's pointer check of an index expression
	// (&buf[0] as the argument) boxes the slice, one allocation per call.
	bufp := unsafe.Pointer(&buf[0])
	head := (*C.xsgo_head)(bufp)
	r.mu.RLock()
	if r.ptr == nil {
		r.mu.RUnlock()
		bufPool.Put(bp)
		return outcome{}, ErrClosed
	}
	rc := C.xsgo_resolve(unsafe.Pointer(r.ptr), C.int(family), mode, async, bufp, C.size_t(len(buf)), C.size_t(len(name)))
	r.mu.RUnlock()
	switch rc {
	case C.XSGO_DONE:
		return outcome{status: Status(head.status), data: buf[headSize : headSize+int(head.len)], buf: bp}, nil
	case C.XSGO_REFUSED:
		bufPool.Put(bp)
		return outcome{status: Status(head.status)}, nil
	case C.XSGO_PENDING:
		call := head.call
		if err := r.wait(ctx, call); err != nil {
			C.xsgo_finish(call, mode, nil, 0)
			bufPool.Put(bp)
			return outcome{}, contextError(ctx, name)
		}
		rc = C.xsgo_finish(call, mode, bufp, C.size_t(len(buf)))
		if rc == C.XSGO_DONE {
			return outcome{status: Status(head.status), data: buf[headSize : headSize+int(head.len)], buf: bp}, nil
		}
	}
	// XSGO_SHORT: a larger buffer for this one.
	call := head.call
	big := make([]byte, headSize+int(head.len))
	bufPool.Put(bp)
	bigp := unsafe.Pointer(&big[0])
	head = (*C.xsgo_head)(bigp)
	C.xsgo_finish(call, mode, bigp, C.size_t(len(big)))
	return outcome{status: Status(head.status), data: big[headSize : headSize+int(head.len)]}, nil
}

// wait blocks until call completes. If ctx ends first the request is
// cancelled in the library and its callback still waited for (it runs
// exactly once, and only after it may the call be freed); the context's
// error is returned then.
func (r *Resolver) wait(ctx context.Context, call *C.xsgo_call) error {
	ch := waitFor(call)
	if ch == nil {
		return nil
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
	}
	r.mu.RLock()
	if r.ptr != nil {
		C.xs_resolve_cancel(r.ptr, call.request)
	}
	r.mu.RUnlock()
	<-ch
	return ctx.Err()
}

// Resolve resolves name (A and AAAA) as a pod in the namespace would: the
// search list and ndots, cluster names from the registry, CNAME chains
// followed, ExternalName targets through upstream DNS. A failure is an
// *Error carrying the failed Answer (candidates tried, chain); errors.Is
// with ErrNotFound, ErrTimeout, ErrPolicy, ... tells the kind. When ctx
// ends first the request is cancelled and the error matches ctx.Err().
func (r *Resolver) Resolve(ctx context.Context, name string) (*Answer, error) {
	return r.ResolveFamily(ctx, name, FamilyAny)
}

// ResolveFamily is Resolve for one family (FamilyIPv4, FamilyIPv6) or both.
func (r *Resolver) ResolveFamily(ctx context.Context, name string, family Family) (*Answer, error) {
	a, e := r.answer(ctx, name, family)
	if e != nil {
		return nil, e
	}
	return a, nil
}

func (r *Resolver) answer(ctx context.Context, name string, family Family) (*Answer, *Error) {
	o, e := r.resolve(ctx, name, family, C.XSGO_ANSWER)
	if e != nil {
		return nil, e
	}
	a := parseAnswer(o.status, o.data)
	o.release()
	if o.status != StatusOK {
		e := &Error{Status: o.status, Name: name, Message: a.Policy}
		if len(o.data) > 0 {
			e.Answer = a
		}
		return nil, e
	}
	return a, nil
}

// LookupHost is net.Resolver.LookupHost through xsvc: the addresses as
// text (an IP address given as host is returned as it is). A failure is a *net.DNSError (IsNotFound for NXDOMAIN and NODATA,
// IsTimeout for timeouts and an expired deadline), as from net.
func (r *Resolver) LookupHost(ctx context.Context, host string) ([]string, error) {
	if ip, ok := ipLiteral(host); ok {
		return []string{ip.String()}, nil
	}
	o, e := r.resolve(ctx, host, FamilyAny, C.XSGO_HOSTS)
	if e != nil {
		return nil, dnsError(e, host)
	}
	policy, hosts := parseHosts(o.data)
	o.release()
	if o.status != StatusOK {
		return nil, dnsError(&Error{Status: o.status, Name: host, Message: policy}, host)
	}
	return hosts, nil
}

// LookupNetIP is net.Resolver.LookupNetIP through xsvc: network is "ip",
// "ip4" or "ip6".
func (r *Resolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	family := FamilyAny
	switch network {
	case "ip":
	case "ip4":
		family = FamilyIPv4
	case "ip6":
		family = FamilyIPv6
	default:
		return nil, &Error{Status: StatusInvalid, Name: host, Message: "network " + network}
	}
	if ip, ok := ipLiteral(host); ok {
		if (family == FamilyIPv4 && !ip.Is4()) || (family == FamilyIPv6 && ip.Is4()) {
			return nil, &net.DNSError{Err: "no suitable address", Name: host, IsNotFound: true}
		}
		return []netip.Addr{ip}, nil
	}
	a, e := r.answer(ctx, host, family)
	if e != nil {
		return nil, dnsError(e, host)
	}
	return a.IPs(), nil
}

// ipLiteral: as net.Resolver does, an address given as the host is the
// answer. Only hosts that could be one (a ':', or a digit last) are parsed.
func ipLiteral(host string) (netip.Addr, bool) {
	if host == "" || (strings.IndexByte(host, ':') < 0 && (host[len(host)-1] < '0' || host[len(host)-1] > '9')) {
		return netip.Addr{}, false
	}
	ip, err := netip.ParseAddr(host)
	return ip, err == nil
}
