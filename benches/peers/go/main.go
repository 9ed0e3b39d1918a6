// Go's net/http with GOMAXPROCS=1 (unless the environment sets it): the plaintext and JSON
// routes, the standard library only.
//
//	cd benches/peers/go && go build -o ../target/release/go-nethttp . && ../target/release/go-nethttp --addr 127.0.0.1:8087
//	curl -i http://127.0.0.1:8087/json
//
// One P runs Go code, so `taskset -c 1` gives it one core; the runtime's other threads
// (sysmon, idle Ms) are pinned there too and their CPU time is counted. net/http adds the
// Date header; encoding/json serialises the JSON body per request. The harness sets
// GOMAXPROCS and GOGC in the environment; the server logs the values the runtime took
// (`settings: go1.19.8, GOMAXPROCS=1, GOGC=100`), and the harness's report quotes that
// line, so a run's settings are on record (docs/benchmarks.md, "The Go rows").
package main

import (
	"encoding/json"
	"flag"
	"log"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
)

type message struct {
	Message string `json:"message"`
}

var hello = []byte("Hello, World!")

func plaintext(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Write(hello)
}

func jsonMessage(w http.ResponseWriter, r *http.Request) {
	body, err := json.Marshal(message{Message: "Hello, World!"})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(body)
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on, IP:PORT")
	flag.Parse()
	// Go 1.19 already sizes GOMAXPROCS from the affinity mask (1 under `taskset -c 1`);
	// this keeps it at 1 when started without taskset, and leaves an explicit setting alone.
	if _, set := os.LookupEnv("GOMAXPROCS"); !set {
		runtime.GOMAXPROCS(1)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", plaintext)
	mux.HandleFunc("/json", jsonMessage)
	log.Printf("go-nethttp on %s; settings: %s, GOMAXPROCS=%d, GOGC=%s", *addr, runtime.Version(), runtime.GOMAXPROCS(0), gcPercent())
	log.Fatal(http.ListenAndServe(*addr, mux))
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
