package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/cnnlens/cnnlens/engine/cam"
)

var updateDocs = flag.Bool("update", false, "rewrite the generated table in docs/methods.md")

// methodEntry is one row of web/methods.json: the one table of method
// descriptions that the page shows under its method list and that
// docs/methods.md's overview is generated from.
type methodEntry struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Group   string `json:"group"`
	Line    string `json:"line"`
	Formula string `json:"formula"`
	Paper   struct {
		Title string `json:"title"`
		URL   string `json:"url"`
	} `json:"paper"`
}

const (
	tableStart = "<!-- methods table: generated from web/methods.json by `go test ./cmd/serve -run TestMethodsTable -update` -->"
	tableEnd   = "<!-- end of methods table -->"
)

// methodsTable is the Markdown overview of the methods, then of the
// page's views.
func methodsTable(ms []methodEntry) string {
	var b strings.Builder
	esc := func(s string) string { return strings.ReplaceAll(s, "|", "\\|") }
	for _, views := range []bool{false, true} {
		if views {
			b.WriteString("\nThe page's views, described the same way:\n\n| view | what it shows | formula | paper |\n|---|---|---|---|\n")
		} else {
			b.WriteString("| method | what it computes | formula | paper |\n|---|---|---|---|\n")
		}
		for _, m := range ms {
			if (m.Group == "view") != views {
				continue
			}
			id := "`" + m.ID + "`"
			if views {
				id = ""
			}
			fmt.Fprintf(&b, "| %s %s | %s | `%s` | [%s](%s) |\n", esc(m.Name), id, esc(m.Line), strings.ReplaceAll(m.Formula, "|", "\\|"), esc(m.Paper.Title), m.Paper.URL)
		}
	}
	return b.String()
}

// pageViews are the views the page describes: the tabs inside the network
// (web/index.html's data-view) and the main view's concepts (DFF).
func pageViews(t *testing.T) []string {
	b, err := os.ReadFile("../../web/index.html")
	if err != nil {
		t.Fatal(err)
	}
	views := []string{"view:dff"}
	for _, m := range regexp.MustCompile(`role="tab" data-view="([a-z]+)"`).FindAllSubmatch(b, -1) {
		views = append(views, "view:"+string(m[1]))
	}
	return views
}

// TestMethodsTable: every method the engine offers has a description in
// web/methods.json (and nothing else does), each with all its parts, and
// docs/methods.md carries the table generated from it.
func TestMethodsTable(t *testing.T) {
	b, err := os.ReadFile("../../web/methods.json")
	if err != nil {
		t.Fatal(err)
	}
	var ms []methodEntry
	if err := json.Unmarshal(b, &ms); err != nil {
		t.Fatalf("web/methods.json: %v", err)
	}
	engine := cam.Methods()
	views := pageViews(t)
	if len(views) < 7 {
		t.Errorf("web/index.html: %d views found (%v)", len(views), views)
	}
	var ids []string
	for _, m := range ms {
		ids = append(ids, m.ID)
		if m.Name == "" || m.Line == "" || m.Formula == "" || m.Paper.Title == "" || !strings.HasPrefix(m.Paper.URL, "https://") {
			t.Errorf("web/methods.json: %q lacks a name, line, formula or paper", m.ID)
		}
		if !slices.Contains([]string{"layer", "input", "captum", "view"}, m.Group) {
			t.Errorf("web/methods.json: %q has group %q, want layer, input, captum or view", m.ID, m.Group)
		}
		if m.Group == "view" {
			if !slices.Contains(views, m.ID) {
				t.Errorf("web/methods.json describes the view %q, which the page does not have", m.ID)
			}
		} else if !slices.Contains(engine, m.ID) {
			t.Errorf("web/methods.json describes %q, which the engine does not have", m.ID)
		}
		if len(m.Line) > 240 {
			t.Errorf("web/methods.json: %q's line is %d characters: one sentence, please", m.ID, len(m.Line))
		}
	}
	for _, m := range engine {
		if !slices.Contains(ids, m) {
			t.Errorf("web/methods.json has no description of the engine's method %q", m)
		}
	}
	for _, v := range views {
		if !slices.Contains(ids, v) {
			t.Errorf("web/methods.json has no description of the page's view %q", v)
		}
	}
	doc, err := os.ReadFile("../../docs/methods.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	i, j := strings.Index(text, tableStart), strings.Index(text, tableEnd)
	if i < 0 || j < i {
		t.Fatalf("docs/methods.md lacks the generated table's markers %q … %q", tableStart, tableEnd)
	}
	want := text[:i] + tableStart + "\n" + methodsTable(ms) + text[j:]
	if want == text {
		return
	}
	if *updateDocs {
		if err := os.WriteFile("../../docs/methods.md", []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("docs/methods.md's table differs from web/methods.json: run go test ./cmd/serve -run TestMethodsTable -update")
}
