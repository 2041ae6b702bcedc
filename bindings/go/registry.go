package xsvc

/*
#include <stdlib.h>
#include <xsvc.h>
*/
import "C"

import (
	"runtime"
	"sync"
	"unsafe"
)

// Registry is a set of Kubernetes Services (with their endpoints and
// namespaces), loaded from manifests or built in code. Safe for concurrent
// use; resolvers see each change atomically from their next lookup.
type Registry struct {
	mu  sync.RWMutex // held for reading around C calls, for writing by Close
	ptr *C.xs_registry
}

// LoadOptions adjust Load.
type LoadOptions struct {
	// DefaultNamespace is used for objects without one ("default" if empty).
	DefaultNamespace string
	// AllowInsecurePermissions loads manifests group or others may write
	// (refused by default: whoever can change a manifest can repoint an
	// alias).
	AllowInsecurePermissions bool
}

func newRegistry(p *C.xs_registry) *Registry {
	r := &Registry{ptr: p}
	runtime.SetFinalizer(r, (*Registry).Close)
	return r
}

// NewRegistry returns an empty registry, for building a cluster in code.
func NewRegistry() (*Registry, error) {
	var p *C.xs_registry
	if st := C.xs_registry_new(&p); st != C.XS_OK {
		return nil, statusError(st)
	}
	return newRegistry(p), nil
}

// Load reads Kubernetes manifests (files, or directories of .yaml, .yml
// and .json files) into a new registry, all or nothing. A failure is a
// *ManifestError saying where (file, line, column) and why.
func Load(paths ...string) (*Registry, error) {
	return LoadWithOptions(LoadOptions{}, paths...)
}

// LoadWithOptions is Load with options.
func LoadWithOptions(opts LoadOptions, paths ...string) (*Registry, error) {
	if len(paths) == 0 {
		return nil, &Error{Status: StatusInvalid, Message: "no manifest paths"}
	}
	cpaths := make([]*C.char, len(paths))
	for i, p := range paths {
		cpaths[i] = C.CString(p)
	}
	// cpaths is Go memory holding C pointers only: it may be passed to C.
	defer func() {
		for _, p := range cpaths {
			C.free(unsafe.Pointer(p))
		}
	}()
	var copts C.xs_load_options
	C.xs_load_options_init(&copts)
	if opts.DefaultNamespace != "" {
		ns := C.CString(opts.DefaultNamespace)
		defer C.free(unsafe.Pointer(ns))
		copts.default_namespace = ns
	}
	if opts.AllowInsecurePermissions {
		copts.allow_insecure_permissions = 1
	}
	var p *C.xs_registry
	var cerr C.xs_error
	st := C.xs_registry_load_paths(&cpaths[0], C.size_t(len(cpaths)), &copts, &p, &cerr)
	if err := errorFrom(st, &cerr); err != nil {
		return nil, err
	}
	return newRegistry(p), nil
}

// Parse loads manifests from memory (YAML or JSON); name stands for the
// file in errors.
func Parse(name string, data []byte, opts LoadOptions) (*Registry, error) {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	cdata := C.CBytes(data)
	defer C.free(cdata)
	var copts C.xs_load_options
	C.xs_load_options_init(&copts)
	if opts.DefaultNamespace != "" {
		ns := C.CString(opts.DefaultNamespace)
		defer C.free(unsafe.Pointer(ns))
		copts.default_namespace = ns
	}
	var p *C.xs_registry
	var cerr C.xs_error
	st := C.xs_registry_load_buffer((*C.char)(cdata), C.size_t(len(data)), cname, &copts, &p, &cerr)
	if err := errorFrom(st, &cerr); err != nil {
		return nil, err
	}
	return newRegistry(p), nil
}

// Close releases the registry. Resolvers built on it keep their own
// reference and go on working. Idempotent; later calls on the registry
// fail with ErrClosed.
func (r *Registry) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ptr != nil {
		C.xs_registry_free(r.ptr)
		r.ptr = nil
		runtime.SetFinalizer(r, nil)
	}
	return nil
}

// cstrings holds the C copies of a call's string arguments.
type cstrings []*C.char

func (cs *cstrings) add(s string) *C.char {
	p := C.CString(s)
	*cs = append(*cs, p)
	return p
}

// opt is add, or NULL for "".
func (cs *cstrings) opt(s string) *C.char {
	if s == "" {
		return nil
	}
	return cs.add(s)
}

func (cs cstrings) free() {
	for _, p := range cs {
		C.free(unsafe.Pointer(p))
	}
}

// edit runs fn on the registry under the read lock (C serialises writers
// itself) and turns its status into an error.
func (r *Registry) edit(fn func(p *C.xs_registry, cs *cstrings, cerr *C.xs_error) C.xs_status) error {
	var cs cstrings
	defer cs.free()
	var cerr C.xs_error
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.ptr == nil {
		return ErrClosed
	}
	return errorFrom(fn(r.ptr, &cs, &cerr), &cerr)
}

// AddNamespace declares a namespace (its names are NODATA, not NXDOMAIN).
func (r *Registry) AddNamespace(ns string) error {
	return r.edit(func(p *C.xs_registry, cs *cstrings, e *C.xs_error) C.xs_status {
		return C.xs_registry_add_namespace(p, cs.add(ns), e)
	})
}

// AddExternal adds the ExternalName Service ns/name -> externalName.
func (r *Registry) AddExternal(ns, name, externalName string) error {
	return r.edit(func(p *C.xs_registry, cs *cstrings, e *C.xs_error) C.xs_status {
		return C.xs_registry_add_external(p, cs.add(ns), cs.add(name), cs.add(externalName), e)
	})
}

// SetExternal repoints the ExternalName Service ns/name.
func (r *Registry) SetExternal(ns, name, externalName string) error {
	return r.edit(func(p *C.xs_registry, cs *cstrings, e *C.xs_error) C.xs_status {
		return C.xs_registry_set_external(p, cs.add(ns), cs.add(name), cs.add(externalName), e)
	})
}

// AddClusterIP adds a ClusterIP Service with one address per family.
func (r *Registry) AddClusterIP(ns, name string, ips ...string) error {
	return r.edit(func(p *C.xs_registry, cs *cstrings, e *C.xs_error) C.xs_status {
		cips := make([]*C.char, len(ips)+1)
		for i, ip := range ips {
			cips[i] = cs.add(ip)
		}
		return C.xs_registry_add_cluster_ip(p, cs.add(ns), cs.add(name), &cips[0], C.size_t(len(ips)), e)
	})
}

// AddHeadless adds a headless Service (clusterIP: None).
func (r *Registry) AddHeadless(ns, name string) error {
	return r.edit(func(p *C.xs_registry, cs *cstrings, e *C.xs_error) C.xs_status {
		return C.xs_registry_add_headless(p, cs.add(ns), cs.add(name), e)
	})
}

// AddPort adds a port to the Service ns/name. portName may be "" (only for
// a Service's single port); protocol "TCP" (or ""), "UDP" or "SCTP".
func (r *Registry) AddPort(ns, name, portName string, port int, protocol string) error {
	return r.edit(func(p *C.xs_registry, cs *cstrings, e *C.xs_error) C.xs_status {
		return C.xs_registry_add_port(p, cs.add(ns), cs.add(name), cs.opt(portName), C.int(port), cs.opt(protocol), e)
	})
}

// AddEndpoint adds an endpoint address (hostname may be "") to the
// non-ExternalName Service ns/name.
func (r *Registry) AddEndpoint(ns, name, ip, hostname string, ready bool) error {
	rd := C.int(0)
	if ready {
		rd = 1
	}
	return r.edit(func(p *C.xs_registry, cs *cstrings, e *C.xs_error) C.xs_status {
		return C.xs_registry_add_endpoint(p, cs.add(ns), cs.add(name), cs.add(ip), cs.opt(hostname), rd, e)
	})
}

// Remove removes the Service ns/name and its endpoints (ErrNotFound if
// there is none).
func (r *Registry) Remove(ns, name string) error {
	return r.edit(func(p *C.xs_registry, cs *cstrings, _ *C.xs_error) C.xs_status {
		return C.xs_registry_remove(p, cs.add(ns), cs.add(name))
	})
}

// Replace makes r hold exactly what from holds now, in one atomic step (a
// reload). from is unchanged and still the caller's.
func (r *Registry) Replace(from *Registry) error {
	if from == r {
		return nil
	}
	from.mu.RLock()
	defer from.mu.RUnlock()
	if from.ptr == nil {
		return ErrClosed
	}
	return r.edit(func(p *C.xs_registry, _ *cstrings, _ *C.xs_error) C.xs_status {
		return C.xs_registry_replace(p, from.ptr)
	})
}

// Len is the number of Services (0 once closed).
func (r *Registry) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.ptr == nil {
		return 0
	}
	return int(C.xs_registry_service_count(r.ptr))
}

// Skipped is the number of objects of other kinds the load skipped.
func (r *Registry) Skipped() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.ptr == nil {
		return 0
	}
	return int(C.xs_registry_skipped_count(r.ptr))
}
