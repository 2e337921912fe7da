package cam

import (
	"testing"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

// TestGradCacheBounded: a session keeps at most gradCacheMax bytes of
// gradients, dropping the oldest first and never the newest.
func TestGradCacheBounded(t *testing.T) {
	s := &Session{grads: map[string]*tensor.T{}}
	per := gradCacheMax / 10 / 4 // floats: ten of them fill the cache
	for i := 0; i < 25; i++ {
		s.keepGrad(string(rune('a'+i)), tensor.New(per))
	}
	if s.gradBytes > gradCacheMax || len(s.grads) != 10 || len(s.gradKeys) != 10 {
		t.Fatalf("%d bytes in %d gradients (%d keys), want at most %d bytes in 10", s.gradBytes, len(s.grads), len(s.gradKeys), gradCacheMax)
	}
	for i := 15; i < 25; i++ {
		if _, ok := s.grads[string(rune('a'+i))]; !ok {
			t.Errorf("gradient %d (among the newest) was dropped", i)
		}
	}
	// One gradient larger than the cache is still kept, alone.
	s.keepGrad("big", tensor.New(gradCacheMax/4+1))
	if _, ok := s.grads["big"]; !ok || len(s.grads) != 1 {
		t.Errorf("after a gradient larger than the cache: %d kept, big kept %v", len(s.grads), ok)
	}
	// Kept again under the same key: counted once.
	s.keepGrad("big", tensor.New(8))
	if s.gradBytes != 32 || len(s.gradKeys) != 1 {
		t.Errorf("re-keeping a key: %d bytes under %d keys, want 32 under 1", s.gradBytes, len(s.gradKeys))
	}
	// A value that does not reach the output is remembered as nil, without bytes.
	s.keepGrad("none", nil)
	if g, ok := s.grads["none"]; !ok || g != nil || s.gradBytes != 32 {
		t.Errorf("a nil gradient: kept %v, %d bytes", ok, s.gradBytes)
	}
}
