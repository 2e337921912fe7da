// Command serve builds and serves cnnlens's static site.
//
//	serve build -out site -wasm bin/cnnlens.wasm [-model models/shapes.onnx]
//	serve [-dir site] [-port 8080]
//
// build assembles the page (web/), the engine (the wasm binary and Go's
// wasm_exec.js), the bundled models (models/*.onnx with their cards) and the
// sample images into one folder of static files with relative URLs, which
// works from any host and under any path (GitHub Pages). serve serves such a
// folder on localhost with the right MIME types and gzip compression.
package main

import (
	"compress/gzip"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"mime"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("serve: ")
	if len(os.Args) > 1 && os.Args[1] == "build" {
		if err := runBuild(os.Args[2:]); err != nil {
			log.Fatal(err)
		}
		return
	}
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	dir := fs.String("dir", "site", "folder to serve (made by `serve build`)")
	port := fs.String("port", envOr("PORT", "8080"), "port on localhost")
	addr := fs.String("addr", "127.0.0.1", "address to listen on")
	fs.Parse(os.Args[1:])
	if _, err := os.Stat(filepath.Join(*dir, "index.html")); err != nil {
		log.Fatalf("%s has no index.html: run `make site` first", *dir)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(*addr, *port))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("cnnlens: serving %s on http://localhost:%s/ (Ctrl-C to stop)\n", *dir, *port)
	srv := &http.Server{Handler: logRequests(Handler(*dir)), ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.Serve(ln))
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func logRequests(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rw := &statusWriter{ResponseWriter: w, status: 200}
		h.ServeHTTP(rw, r)
		log.Printf("%d %s %s (%s)", rw.status, r.Method, r.URL.Path, time.Since(start).Round(time.Millisecond))
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(s int) { w.status = s; w.ResponseWriter.WriteHeader(s) }

func init() {
	for ext, typ := range map[string]string{
		".wasm": "application/wasm",
		".js":   "text/javascript; charset=utf-8",
		".mjs":  "text/javascript; charset=utf-8",
		".json": "application/json",
		".onnx": "application/octet-stream",
		".svg":  "image/svg+xml",
		".webp": "image/webp",
		".f32":  "application/octet-stream",
	} {
		mime.AddExtensionType(ext, typ)
	}
}

// compressible says which files are worth gzipping on the fly.
func compressible(name string) bool {
	switch strings.ToLower(path.Ext(name)) {
	case ".wasm", ".js", ".mjs", ".css", ".html", ".json", ".svg", ".txt", ".onnx", ".f32":
		return true
	}
	return false
}

// Handler serves a built site: static files with their MIME type, the
// precompressed NAME.gz beside NAME when the client accepts gzip (else a
// gzip made once and kept in memory), and no caching (a rebuilt site is seen
// at once).
func Handler(dir string) http.Handler {
	h := &handler{dir: dir, cache: map[string]*gzEntry{}}
	return h
}

type handler struct {
	dir   string
	mu    sync.Mutex
	cache map[string]*gzEntry
}

type gzEntry struct {
	mod  time.Time
	size int64
	data []byte
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name := path.Clean("/" + r.URL.Path)
	if strings.HasSuffix(r.URL.Path, "/") {
		name = path.Join(name, "index.html")
	}
	file := filepath.Join(h.dir, filepath.FromSlash(name))
	st, err := os.Stat(file)
	if err == nil && st.IsDir() {
		http.Redirect(w, r, r.URL.Path+"/", http.StatusMovedPermanently)
		return
	}
	if err != nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	// Public static files, as GitHub Pages serves them: other sites may
	// embed cnnlens.js and fetch the engine and models.
	w.Header().Set("Access-Control-Allow-Origin", "*")
	if typ := mime.TypeByExtension(path.Ext(name)); typ != "" {
		w.Header().Set("Content-Type", typ)
	}
	if !compressible(name) {
		http.ServeFile(w, r, file)
		return
	}
	w.Header().Add("Vary", "Accept-Encoding")
	if !acceptsGzip(r) {
		http.ServeFile(w, r, file)
		return
	}
	etag := fmt.Sprintf(`"%x-%x-gz"`, st.Size(), st.ModTime().UnixNano())
	w.Header().Set("ETag", etag)
	w.Header().Set("Last-Modified", st.ModTime().UTC().Format(http.TimeFormat))
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	data, err := h.gzipped(file, st)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Encoding", "gzip")
	w.Header().Set("Content-Length", fmt.Sprint(len(data)))
	if r.Method == http.MethodHead {
		return
	}
	w.Write(data)
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.TrimSpace(enc) == "gzip" && strings.ReplaceAll(q, " ", "") != "q=0" {
			return true
		}
	}
	return false
}

// gzipped returns the file gzip-compressed: FILE.gz when it is at least as
// new as FILE, else compressed here (quickly) and kept until FILE changes.
func (h *handler) gzipped(file string, st os.FileInfo) ([]byte, error) {
	if gz, err := os.Stat(file + ".gz"); err == nil && !gz.ModTime().Before(st.ModTime()) {
		return os.ReadFile(file + ".gz")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if e, ok := h.cache[file]; ok && e.mod.Equal(st.ModTime()) && e.size == st.Size() {
		return e.data, nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var buf strings.Builder
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if _, err := zw.Write(data); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	out := []byte(buf.String())
	h.cache[file] = &gzEntry{mod: st.ModTime(), size: st.Size(), data: out}
	return out, nil
}

// gzipFile writes src.gz at the best compression.
func gzipFile(src string) (int64, error) {
	in, err := os.Open(src)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	out, err := os.Create(src + ".gz")
	if err != nil {
		return 0, err
	}
	zw, _ := gzip.NewWriterLevel(out, gzip.BestCompression)
	if _, err := io.Copy(zw, in); err != nil {
		out.Close()
		return 0, err
	}
	if err := zw.Close(); err != nil {
		out.Close()
		return 0, err
	}
	if err := out.Close(); err != nil {
		return 0, err
	}
	st, err := os.Stat(src + ".gz")
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

var errUsage = errors.New("usage")
