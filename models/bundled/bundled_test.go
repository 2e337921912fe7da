package bundled

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/cnnlens/cnnlens/engine/card/cardfile"
)

// The bundled cards read and write with the same keys, in the same order,
// as the files in models/; the CLI's and the page's card (engine/card) is
// their first part.
func TestCardsRoundTrip(t *testing.T) {
	if len(Names()) != 3 {
		t.Fatalf("recipes %v", Names())
	}
	for _, name := range Names() {
		path := filepath.Join("..", name+".json")
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		c, err := ReadCard(path)
		if err != nil {
			t.Fatal(err)
		}
		out, err := json.MarshalIndent(c, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if out = append(out, '\n'); !bytes.Equal(out, data) {
			t.Errorf("%s: written again, the card differs", path)
		}
		if c.Name != name || len(c.Labels) == 0 || len(c.InputShape) != 4 || c.DefaultLayer == "" || c.TestTotal == 0 {
			t.Errorf("%s: %+v", path, c)
		}
		core, err := cardfile.Parse(data)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(*core, c.Card) {
			t.Errorf("%s: engine/card reads %+v, the bundled card %+v", path, *core, c.Card)
		}
	}
}
