package cardfile

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/cnnlens/cnnlens/engine/card"
)

func TestParse(t *testing.T) {
	for _, c := range []struct {
		in   string
		want card.Card
	}{
		{`{"labels": ["a", "b"], "input_shape": [1, 3, 8, 8], "mean": [0.5], "std": [0.25], "default_layer": "/relu", "name": "ignored"}`,
			card.Card{Labels: []string{"a", "b"}, InputShape: []int{1, 3, 8, 8}, Mean: []float32{0.5}, Std: []float32{0.25}, DefaultLayer: "/relu"}},
		{`{"labels": ["cat", "dog"], "multilabel": true}`, card.Card{Labels: []string{"cat", "dog"}, Multilabel: true}},
		{` ["cat", "dog"]`, card.Card{Labels: []string{"cat", "dog"}}},
		{"zero\n one \r\ntwo\n", card.Card{Labels: []string{"zero", "one", "two"}}},
	} {
		got, err := Parse([]byte(c.in))
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if !reflect.DeepEqual(*got, c.want) {
			t.Errorf("%q: %+v, want %+v", c.in, *got, c.want)
		}
	}
	for _, c := range []struct{ in, want string }{
		{`{"labels": "a"}`, "bad model card: json: cannot unmarshal"},
		{`{"input_shape": [3, 32.5, 32]}`, "bad model card: "},
		{`["a", 2]`, "bad label list: "},
	} {
		_, err := Parse([]byte(c.in))
		if err == nil || !strings.HasPrefix(err.Error(), c.want) || !errors.Is(err, card.ErrBadCard) {
			t.Errorf("%q: error %v, want %q marked card.ErrBadCard", c.in, err, c.want)
		}
	}
}
