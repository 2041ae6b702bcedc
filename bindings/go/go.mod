module xsvc.dev/xsvc

go 1.19
