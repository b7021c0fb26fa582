package inventory

import (
	"maps"
	"reflect"
	"sync"
	"testing"
)

// TestStructFieldsConcurrent: inventories are loaded concurrently (serve's reload, API
// requests), so structFields' cache must be safe for a type no load has met yet.
// Regression (make flake, issue 20): a plain map filled in init raced on the profile's
// image type, missing from init's list; -race reports it here (make flake runs -race).
func TestStructFieldsConcurrent(t *testing.T) {
	t.Parallel()
	type fresh struct {
		A int    `yaml:"a"`
		B string `yaml:"b,omitempty"`
		C int    `yaml:"-"`
		E int
	}
	want := map[string]int{"a": 0, "b": 1}
	var wg sync.WaitGroup
	got := make([]map[string]int, 8)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i] = structFields(reflect.TypeOf(fresh{}))
		}()
	}
	wg.Wait()
	for i, m := range got {
		if !maps.Equal(m, want) {
			t.Errorf("goroutine %d: fields %v, want %v", i, m, want)
		}
	}
}
