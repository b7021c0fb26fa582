package agent

import (
	"context"
	"strings"
	"testing"

	"github.com/racklift/racklift/pkg/check"
	"github.com/racklift/racklift/pkg/expect"
)

func TestRunSurvivesAPanickingChecker(t *testing.T) {
	t.Parallel()
	rs := Run(context.Background(), &expect.Expectations{}, []Checker{
		func(context.Context, *expect.Expectations) []check.Result { panic("boom") },
		func(context.Context, *expect.Expectations) []check.Result {
			return []check.Result{{Name: "after", Status: check.Pass}}
		},
	})
	if len(rs) != 2 || rs[0].Status != check.Fail || !strings.Contains(rs[0].Message, "boom") || rs[1].Name != "after" {
		t.Fatalf("%+v", rs)
	}
}

func TestCheckersSkipWhatIsNotExpected(t *testing.T) {
	t.Parallel()
	called := false
	o := Options{Net: func(context.Context, []expect.Network) []check.Result { called = true; return nil }}
	rs := Run(context.Background(), &expect.Expectations{Node: "n"}, Checkers(o))
	if len(rs) != 0 || called {
		t.Fatalf("empty expectations ran checks: %+v (net called %v)", rs, called)
	}
}
