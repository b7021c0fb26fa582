package inventory

import "testing"

// TestLoginForPrecedence: a node's login is its effective profile's (overrides applied),
// else its named profile's, else the site's, else none. Mutants (make mutate, login.go
// LoginFor): each step's nil checks negated.
func TestLoginForPrecedence(t *testing.T) {
	t.Parallel()
	inv := &Inventory{
		profileByName: map[string]*Profile{"train": {Login: &Login{User: "train"}}, "bare": {}},
		site:          &siteFile{Login: &Login{User: "ops"}},
	}
	for _, tc := range []struct {
		name string
		node *Node
		want string // "" for none
	}{
		{name: "effective profile", node: &Node{Profile: "train", Spec: &Profile{Login: &Login{User: "override"}}}, want: "override"},
		{name: "named profile", node: &Node{Profile: "train", Spec: &Profile{}}, want: "train"},
		{name: "named profile, no spec yet", node: &Node{Profile: "train"}, want: "train"},
		{name: "site", node: &Node{Profile: "bare", Spec: &Profile{}}, want: "ops"},
		{name: "unknown profile: site", node: &Node{Profile: "nope"}, want: "ops"},
	} {
		if l := inv.LoginFor(tc.node); l == nil || l.User != tc.want {
			t.Errorf("%s: %+v, want user %q", tc.name, l, tc.want)
		}
	}
	if l := (&Inventory{profileByName: inv.profileByName}).LoginFor(&Node{Profile: "bare"}); l != nil {
		t.Errorf("no login anywhere: %+v, want none", l)
	}
}
