// Package gogoproto stands in for github.com/gogo/protobuf/gogoproto in
// cnnlens's builds (see third_party/README.md). gorgonia.org/tensor imports
// it only for its side effect, registering gogo's descriptor extensions,
// which cnnlens never reads; the real package links 1 MB of gogo's runtime
// into the wasm engine.
package gogoproto
