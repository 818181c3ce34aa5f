// Command testbox is the one test workload image of the local cluster's own
// tests (suites/tests/cluster_local.rs), built FROM scratch:
//
//	testbox serve [-addr :8080]     HTTP server: / answers "testbox <hostname>", /healthz "ok"
//	testbox get URL [-tries N]      GET URL until it answers 200 (1 s apart, a new connection each), print the body
//	testbox lookup NAME [-server IP:PORT] [-tries N]
//	                                resolve NAME (with resolv.conf, or by asking one DNS server), print the addresses
//
// Only the standard library, so it builds in seconds with CGO_ENABLED=0.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	switch os.Args[1] {
	case "serve":
		serve(os.Args[2:])
	case "get":
		get(os.Args[2:])
	case "lookup":
		lookup(os.Args[2:])
	default:
		usage()
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: testbox serve [-addr :8080] | get URL [-tries N] | lookup NAME [-server IP:PORT] [-tries N]")
	os.Exit(2)
}

func serve(args []string) {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	addr := fs.String("addr", ":8080", "listen address")
	_ = fs.Parse(args)
	host, _ := os.Hostname()
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintf(w, "testbox %s\n", host) })
	srv := &http.Server{Addr: *addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-stop
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}()
	fmt.Printf("testbox: serving on %s\n", *addr)
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, "testbox:", err)
		os.Exit(1)
	}
}

func get(args []string) {
	if len(args) < 1 {
		usage()
	}
	url := args[0]
	fs := flag.NewFlagSet("get", flag.ExitOnError)
	tries := fs.Int("tries", 30, "attempts, one second apart")
	_ = fs.Parse(args[1:])
	// A new connection each try: a kept-alive one would stay on whatever
	// answered first (before kube-proxy programmed a new Service, that is
	// not the Service), and the tries would not be tries.
	client := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	var last string
	for i := 0; i < *tries; i++ {
		if i > 0 {
			time.Sleep(time.Second)
		}
		resp, err := client.Get(url)
		if err != nil {
			last = err.Error()
			continue
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			fmt.Print(string(body))
			return
		}
		last = fmt.Sprintf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	fmt.Fprintf(os.Stderr, "testbox: GET %s failed after %d tries: %s\n", url, *tries, last)
	os.Exit(1)
}

func lookup(args []string) {
	if len(args) < 1 {
		usage()
	}
	name := args[0]
	fs := flag.NewFlagSet("lookup", flag.ExitOnError)
	server := fs.String("server", "", "DNS server to ask (IP:PORT); default: resolv.conf")
	tries := fs.Int("tries", 1, "attempts, one second apart")
	_ = fs.Parse(args[1:])
	resolver := net.DefaultResolver
	if *server != "" {
		resolver = &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, *server)
		}}
	}
	var err error
	for i := 0; i < *tries; i++ {
		if i > 0 {
			time.Sleep(time.Second)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		var addrs []string
		addrs, err = resolver.LookupHost(ctx, name)
		cancel()
		if err == nil {
			fmt.Println(strings.Join(addrs, "\n"))
			return
		}
	}
	fmt.Fprintln(os.Stderr, "testbox:", err)
	os.Exit(1)
}
