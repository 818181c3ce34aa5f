// Command etcd is upstream etcd's server, built from the Go module proxy:
// go.etcd.io/etcd/server/v3 has no main package of its own, so this wrapper
// calls the same entry point upstream's etcd binary does.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
