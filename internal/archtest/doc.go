// Package archtest holds the tests that keep racklift's layout: which packages may link
// what (go list -deps), and that the operator CLI builds without cgo and for macOS. A
// broken rule fails with the import chain that brings the forbidden package in.
package archtest
