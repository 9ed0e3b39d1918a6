// fasthttp (the engine under Go's Fiber) with GOMAXPROCS=1: the plaintext and JSON routes.
//
//	cd benches/peers/fasthttp && GO111MODULE=off GOPATH=/usr/share/gocode go build -o ../target/release/go-fasthttp . && ../target/release/go-fasthttp --addr 127.0.0.1:8088
//	curl -i http://127.0.0.1:8088/json
//
// fasthttp 1.31 from Debian (golang-github-valyala-fasthttp-dev, with its dependencies in
// /usr/share/gocode), built in GOPATH mode: no module proxy is involved. The harness passes
// the package's version in with `-ldflags -X main.fasthttpDebian=VERSION` (fasthttp has no
// version constant of its own). Like the net/http peer, one P runs Go code and
// encoding/json serialises the JSON body per request; fasthttp adds the Date and Server
// headers and reuses its request contexts, so a request allocates little. The server logs
// the settings the runtime took (`settings: go1.19.8, fasthttp 1:1.31.0-4 (Debian),
// GOMAXPROCS=1, GOGC=100`), which the harness's report quotes.
package main

import (
	"encoding/json"
	"flag"
	"log"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"

	"github.com/valyala/fasthttp"
)

// fasthttpDebian is the Debian package's version, set at build time.
var fasthttpDebian = "unknown"

type message struct {
	Message string `json:"message"`
}

var hello = []byte("Hello, World!")

func handle(ctx *fasthttp.RequestCtx) {
	switch string(ctx.Path()) {
	case "/":
		ctx.SetContentType("text/plain")
		ctx.SetBody(hello)
	case "/json":
		body, err := json.Marshal(message{Message: "Hello, World!"})
		if err != nil {
			ctx.Error(err.Error(), fasthttp.StatusInternalServerError)
			return
		}
		ctx.SetContentType("application/json")
		ctx.SetBody(body)
	default:
		ctx.Error("not found", fasthttp.StatusNotFound)
	}
}

// gcPercent is the collector's setting as the runtime holds it (from GOGC at start; an
// unparsable GOGC leaves it at 100), read back by setting it and restoring it.
func gcPercent() string {
	percent := debug.SetGCPercent(100)
	debug.SetGCPercent(percent)
	if percent < 0 {
		return "off"
	}
	return strconv.Itoa(percent)
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on, IP:PORT")
	flag.Parse()
	// Go 1.19 sizes GOMAXPROCS from the affinity mask (1 under `taskset -c 1`); this keeps
	// it at 1 when started without taskset, and leaves an explicit GOMAXPROCS alone.
	if _, set := os.LookupEnv("GOMAXPROCS"); !set {
		runtime.GOMAXPROCS(1)
	}
	log.Printf("go-fasthttp on %s; settings: %s, fasthttp %s (Debian), GOMAXPROCS=%d, GOGC=%s",
		*addr, runtime.Version(), fasthttpDebian, runtime.GOMAXPROCS(0), gcPercent())
	server := &fasthttp.Server{Handler: handle, Name: "fasthttp"}
	log.Fatal(server.ListenAndServe(*addr))
}
