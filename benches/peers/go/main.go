// Go's net/http with GOMAXPROCS=1: the plaintext and JSON routes, the standard library only.
//
//	cd benches/peers/go && go build -o ../target/release/go-nethttp . && ../target/release/go-nethttp --addr 127.0.0.1:8087
//	curl -i http://127.0.0.1:8087/json
//
// One P runs Go code, so `taskset -c 1` gives it one core; the runtime's other threads
// (sysmon, idle Ms) are pinned there too and their CPU time is counted. net/http adds the
// Date header; encoding/json serialises the JSON body per request.
package main

import (
	"encoding/json"
	"flag"
	"log"
	"net/http"
	"runtime"
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
	runtime.GOMAXPROCS(1)
	mux := http.NewServeMux()
	mux.HandleFunc("/", plaintext)
	mux.HandleFunc("/json", jsonMessage)
	log.Printf("go-nethttp: %s", *addr)
	log.Fatal(http.ListenAndServe(*addr, mux))
}
