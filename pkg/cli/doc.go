// Package cli holds what racklift's three commands (provision, node-agent, racklift-lab)
// share around their cobra trees: running a tree in-process with its exit status, an
// error that carries one, a context that ends on a signal, and the terminal test.
package cli
