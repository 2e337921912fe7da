// Package cardfile reads a model card file as the CLI takes it: a card (a
// JSON object, engine/card's keys), a JSON list of labels, or one label a
// line. It is a package of its own so that the page's engine, which reads
// cards field by field from JavaScript, does not link encoding/json.
package cardfile

import (
	"encoding/json"
	"strings"

	"github.com/cnnlens/cnnlens/engine/card"
	"github.com/cnnlens/cnnlens/engine/internal/kind"
)

// Parse reads a card, a JSON object; a JSON list is a card with labels
// only, and any other text one label a line.
func Parse(data []byte) (*card.Card, error) {
	var c card.Card
	trimmed := strings.TrimSpace(string(data))
	switch {
	case strings.HasPrefix(trimmed, "{"):
		if err := json.Unmarshal(data, &c); err != nil {
			return nil, kind.Errorf(card.ErrBadCard, "bad model card: %w", err)
		}
	case strings.HasPrefix(trimmed, "["):
		if err := json.Unmarshal(data, &c.Labels); err != nil {
			return nil, kind.Errorf(card.ErrBadCard, "bad label list: %w", err)
		}
	default:
		for _, line := range strings.Split(trimmed, "\n") {
			c.Labels = append(c.Labels, strings.TrimSpace(line))
		}
	}
	return &c, nil
}
