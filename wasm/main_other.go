//go:build !(js && wasm)

package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "wasm: this is the page's engine; build it with GOOS=js GOARCH=wasm (make site)")
	os.Exit(2)
}
