package card

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// The JSON keys are a contract: bundled cards and people's cards use them.
func TestJSONKeys(t *testing.T) {
	b, err := json.Marshal(Card{})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"labels":null,"input_shape":null,"mean":null,"std":null,"default_layer":""}`
	if string(b) != want {
		t.Errorf("card JSON %s, want %s", b, want)
	}
	// multilabel is written only when true, so single-label cards keep
	// their bytes.
	b, _ = json.Marshal(Card{Multilabel: true})
	if want := `{"labels":null,"input_shape":null,"mean":null,"std":null,"default_layer":"","multilabel":true}`; string(b) != want {
		t.Errorf("multi-label card JSON %s, want %s", b, want)
	}
}

func TestShape(t *testing.T) {
	for _, c := range []struct {
		in   []int
		want []int
	}{
		{nil, nil},
		{[]int{3, 32, 24}, []int{1, 3, 32, 24}},
		{[]int{8, 1, 28, 28}, []int{1, 1, 28, 28}},
	} {
		got, err := (&Card{InputShape: c.in}).Shape()
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%v: %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	_, err := (&Card{InputShape: []int{5}}).Shape()
	if err == nil || !errors.Is(err, ErrBadCard) || err.Error() != "model card: input_shape must be [C, H, W] or [N, C, H, W], got [5]" {
		t.Errorf("input_shape [5]: %v", err)
	}
}

func TestNorm(t *testing.T) {
	mean, std, err := (&Card{}).Norm(3)
	if err != nil || !reflect.DeepEqual(mean, []float32{0.485, 0.456, 0.406}) || !reflect.DeepEqual(std, []float32{0.229, 0.224, 0.225}) {
		t.Errorf("default for 3 channels: %v %v %v", mean, std, err)
	}
	mean[0] = 9 // a copy: ImageNet's values stay
	if m, _, _ := (&Card{}).Norm(3); m[0] != 0.485 {
		t.Errorf("the default mean was changed through a result")
	}
	mean, std, err = (&Card{Std: []float32{0.3}}).Norm(1)
	if err != nil || !reflect.DeepEqual(mean, []float32{0.5}) || !reflect.DeepEqual(std, []float32{0.3}) {
		t.Errorf("grey with the card's std: %v %v %v", mean, std, err)
	}
	for _, c := range []struct {
		card Card
		ch   int
		want string
	}{
		{Card{Mean: []float32{0.5}}, 3, "mean and std need 3 values each (one per channel), got 1 and 3"},
		{Card{Std: []float32{1, 0, 1}}, 3, "std values must be positive, got [1 0 1]"},
		{Card{Std: []float32{-1}}, 1, "std values must be positive"},
	} {
		_, _, err := c.card.Norm(c.ch)
		if err == nil || !strings.HasPrefix(err.Error(), c.want) || !errors.Is(err, ErrBadCard) {
			t.Errorf("%+v: %v, want %q", c.card, err, c.want)
		}
	}
}
