module xsvc.dev/examples

go 1.19

require xsvc.dev/xsvc v0.0.0

replace xsvc.dev/xsvc => ../../bindings/go
