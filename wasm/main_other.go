//go:build !(js && wasm)

package main

import (
	"fmt"
	"os"
)

// Built natively, the page's engine does one job for the site build:
// `opening -site DIR` computes the page's opening view (opening_other.go).
func main() {
	if len(os.Args) > 1 && os.Args[1] == "opening" {
		if err := runOpening(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "wasm opening:", err)
			os.Exit(1)
		}
		return
	}
	fmt.Fprintln(os.Stderr, "wasm: this is the page's engine; build it with GOOS=js GOARCH=wasm (make site); natively it only computes the site's opening view: opening -site DIR")
	os.Exit(2)
}
