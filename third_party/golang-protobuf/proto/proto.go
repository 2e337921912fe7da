// Package proto stands in for github.com/golang/protobuf/proto in cnnlens's
// builds (go.mod replaces the module with this directory; see
// third_party/README.md). It has just what gorgonia.org/tensor's protobuf
// serialisation package refers to. Registration is a no-op: cnnlens never
// looks messages up by name, and registering them with the real runtime
// links the protobuf reflection runtime into every binary, which, through
// gorgonia's tensor.Dtype (it embeds reflect.Type), turns off the Go
// linker's dead-code elimination of methods: the wasm engine is 27 MB with
// it and 10 MB without.
package proto

import "fmt"

// Message is a protocol buffer message as the generated code of protoc-gen-gogo sees it.
type Message interface {
	Reset()
	String() string
	ProtoMessage()
}

// ProtoPackageIsVersion2 is referred to by generated code to assert the API level.
const ProtoPackageIsVersion2 = true

// Marshal encodes a message that has its own generated Marshal method
// (all of gorgonia's have).
func Marshal(m Message) ([]byte, error) {
	if mm, ok := m.(interface{ Marshal() ([]byte, error) }); ok {
		return mm.Marshal()
	}
	return nil, fmt.Errorf("proto: %T has no generated Marshal method", m)
}

// CompactTextString formats a message for String methods (fmt's %+v, not
// the protobuf text format).
func CompactTextString(m Message) string { return fmt.Sprintf("%+v", m) }

// RegisterType does nothing (see the package comment).
func RegisterType(m Message, name string) {}

// RegisterEnum does nothing (see the package comment).
func RegisterEnum(name string, names map[int32]string, values map[string]int32) {}

// RegisterFile does nothing (see the package comment).
func RegisterFile(name string, descriptor []byte) {}
